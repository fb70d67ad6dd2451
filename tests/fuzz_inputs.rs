//! Bounded fuzzing with proptest (cargo-fuzz needs nightly; `fuzz/` holds the libFuzzer
//! targets): random bytes and mutated valid files for the CIFAR reader, the IDX reader
//! (raw and gzip), the image-folder loader and the `--config` parser. Every input must
//! give `Ok` or an error naming the file, never a panic, and no single allocation may be
//! absurd (a counting allocator records the largest one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use supcon::data::idx::{idx_split, parse_idx_images, parse_idx_labels};
use supcon::data::{
    Cifar100Labels, DataError, DatasetSpec, FolderOptions, decode_image_bytes, load_cifar10,
    load_cifar100, load_folder, load_idx, parse_cifar10, parse_cifar100, validate,
};
use supcon::train::{PretrainConfig, SupervisedConfig};

// ---------------------------------------------------------------- allocation watch

/// The system allocator, recording the largest single request (process-wide, and per
/// thread for the single-threaded readers).
struct Watch;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// No single allocation of any input here may exceed this (the image decoder's own
/// limit is 512 MiB; these inputs are a few KiB).
const MAX_ALLOC: usize = 600 << 20;

fn record(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    let _ = THREAD_LARGEST.try_with(|c| c.set(c.get().max(size)));
}

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// Fails when any allocation so far (any thread) exceeded [`MAX_ALLOC`].
fn assert_no_huge_allocation() -> Result<(), TestCaseError> {
    let largest = LARGEST.load(Ordering::Relaxed);
    prop_assert!(
        largest <= MAX_ALLOC,
        "an allocation of {} bytes happened",
        largest
    );
    Ok(())
}

/// Runs `f` and returns the largest allocation it made on this thread.
fn largest_allocation_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    THREAD_LARGEST.with(|c| c.set(0));
    let out = f();
    (out, THREAD_LARGEST.with(Cell::get))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `Ok`, or an error whose message names `names` (one of them).
fn ok_or_names<T>(r: &Result<T, DataError>, names: &[&str]) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let msg = e.to_string();
        prop_assert!(
            names.iter().any(|n| msg.contains(n)),
            "error does not name {names:?}: {msg}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- mutations

/// One edit of a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Keep only this fraction (per mille) of the bytes.
    Truncate(u16),
    /// XOR the byte at this position (per mille of the length) with a non-zero value.
    Flip(u16, u8),
    /// Overwrite the 4 bytes at this offset (clamped) with a big-endian `u32`.
    SetU32(usize, u32),
    /// Append bytes.
    Append(Vec<u8>),
    /// Remove a range (per mille start, length).
    Cut(u16, u16),
    /// Gzip the bytes so far.
    Gzip,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(1 << 31),
        Just(1 << 16),
        any::<u32>(),
        0u32..64,
    ];
    prop_oneof![
        (0u16..=1000).prop_map(Mutation::Truncate),
        (0u16..=1000, 1u8..=255).prop_map(|(p, x)| Mutation::Flip(p, x)),
        (0usize..20, word).prop_map(|(o, w)| Mutation::SetU32(o, w)),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        (0u16..=1000, 1u16..200).prop_map(|(p, n)| Mutation::Cut(p, n)),
        Just(Mutation::Gzip),
    ]
}

fn at(len: usize, per_mille: u16) -> usize {
    (len * usize::from(per_mille) / 1000).min(len.saturating_sub(1))
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        match m {
            Mutation::Truncate(p) => bytes.truncate(bytes.len() * usize::from(*p) / 1000),
            Mutation::Flip(p, x) => {
                let i = at(bytes.len(), *p);
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= x;
                }
            }
            Mutation::SetU32(o, w) => {
                let o = (*o).min(bytes.len().saturating_sub(4));
                if let Some(s) = bytes.get_mut(o..o + 4) {
                    s.copy_from_slice(&w.to_be_bytes());
                }
            }
            Mutation::Append(extra) => bytes.extend_from_slice(extra),
            Mutation::Cut(p, n) => {
                let i = at(bytes.len(), *p);
                let end = (i + usize::from(*n)).min(bytes.len());
                if i < end {
                    bytes.drain(i..end);
                }
            }
            Mutation::Gzip => bytes = gzip(&bytes),
        }
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------- CIFAR

/// `n` CIFAR records with `label_bytes` label bytes each (labels `i % 10`).
fn cifar_bytes(n: usize, label_bytes: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.extend(std::iter::repeat_n((i % 10) as u8, label_bytes));
        v.extend((0..3072).map(|j| ((i * 31 + j) % 256) as u8));
    }
    v
}

fn check_cifar(bytes: &[u8]) -> Result<(), TestCaseError> {
    let p = Path::new("fuzz_batch.bin");
    let r10 = parse_cifar10(bytes, p);
    ok_or_names(&r10, &["fuzz_batch.bin"])?;
    if let Ok(ds) = &r10 {
        prop_assert!(validate(ds).is_ok());
        prop_assert_eq!(ds.len() * 3073, bytes.len());
    }
    for labels in [Cifar100Labels::Fine, Cifar100Labels::Coarse] {
        let r = parse_cifar100(bytes, p, labels);
        ok_or_names(&r, &["fuzz_batch.bin"])?;
        if let Ok(ds) = &r {
            prop_assert!(validate(ds).is_ok());
        }
    }
    assert_no_huge_allocation()
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn cifar_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..8000)) {
        check_cifar(&bytes)?;
    }

    #[test]
    fn cifar_mutated_files(
        n in 1usize..4,
        label_bytes in 1usize..=2,
        muts in prop::collection::vec(mutation(), 0..4),
    ) {
        let bytes = apply(cifar_bytes(n, label_bytes), &muts);
        check_cifar(&bytes)?;
    }
}

proptest! {
    #![proptest_config(config(80))]

    /// The same through the folder loaders (file names, the test batch, subfolders).
    #[test]
    fn cifar_mutated_folders(
        muts in prop::collection::vec(mutation(), 0..3),
        which in 0usize..2,
    ) {
        let t = tmp();
        let d = t.path();
        let good = cifar_bytes(2, 1);
        let bad = apply(good.clone(), &muts);
        let (train, test) = if which == 0 { (&bad, &good) } else { (&good, &bad) };
        std::fs::write(d.join("data_batch_1.bin"), train).unwrap();
        std::fs::write(d.join("test_batch.bin"), test).unwrap();
        let r = load_cifar10(d);
        ok_or_names(&r, &["data_batch_1.bin", "test_batch.bin"])?;
        let good100 = cifar_bytes(2, 2);
        let bad100 = apply(good100.clone(), &muts);
        std::fs::write(d.join("train.bin"), &bad100).unwrap();
        std::fs::write(d.join("test.bin"), &good100).unwrap();
        let r = load_cifar100(d, Cifar100Labels::Fine);
        ok_or_names(&r, &["train.bin"])?;
    }
}

// ---------------------------------------------------------------- IDX

fn idx3(n: u32, r: u32, c: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, r, c] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..n * r * c).map(|i| (i % 251) as u8));
    v
}

fn idx1(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&n.to_be_bytes());
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

fn names(k: usize) -> Vec<String> {
    (0..k).map(|i| i.to_string()).collect()
}

fn check_idx(img: Vec<u8>, lbl: Vec<u8>) -> Result<(), TestCaseError> {
    let (ip, lp) = (Path::new("fuzz-images-idx3"), Path::new("fuzz-labels-idx1"));
    let r = idx_split((img, ip), (lbl, lp), &names(10));
    ok_or_names(&r, &["fuzz-images-idx3", "fuzz-labels-idx1"])?;
    if let Ok(ds) = &r {
        prop_assert!(validate(ds).is_ok(), "{:?}", validate(ds));
    }
    assert_no_huge_allocation()
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn idx_random_bytes(
        img in prop::collection::vec(any::<u8>(), 0..600),
        lbl in prop::collection::vec(any::<u8>(), 0..64),
        gz_magic in any::<bool>(),
    ) {
        let p = Path::new("r");
        let _ = parse_idx_images(&img, p);
        let _ = parse_idx_labels(&lbl, p);
        // Random bytes behind a gzip magic reach the decompressor.
        let mut img = img;
        if gz_magic {
            img.splice(0..0, [0x1f, 0x8b, 8, 0]);
        }
        check_idx(img, lbl)?;
    }

    #[test]
    fn idx_mutated_files(
        n in 1u32..6,
        side in 1u32..6,
        img_muts in prop::collection::vec(mutation(), 0..4),
        lbl_muts in prop::collection::vec(mutation(), 0..3),
        gz_img in any::<bool>(),
        gz_lbl in any::<bool>(),
    ) {
        let mut img = idx3(n, side, side);
        let mut lbl = idx1(n);
        if gz_img {
            img = gzip(&img);
        }
        if gz_lbl {
            lbl = gzip(&lbl);
        }
        check_idx(apply(img, &img_muts), apply(lbl, &lbl_muts))?;
    }
}

proptest! {
    #![proptest_config(config(80))]

    /// The same through `load_idx` (files on disk, gzip or not, by magic bytes).
    #[test]
    fn idx_mutated_folders(
        muts in prop::collection::vec(mutation(), 0..3),
        which in 0usize..4,
        gz in any::<bool>(),
    ) {
        let t = tmp();
        let files = [
            ("train-images-idx3-ubyte", idx3(6, 3, 3)),
            ("train-labels-idx1-ubyte", idx1(6)),
            ("t10k-images-idx3-ubyte", idx3(2, 3, 3)),
            ("t10k-labels-idx1-ubyte", idx1(2)),
        ];
        for (i, (name, bytes)) in files.iter().enumerate() {
            let bytes = if gz { gzip(bytes) } else { bytes.clone() };
            let bytes = if i == which { apply(bytes, &muts) } else { bytes };
            std::fs::write(t.path().join(name), bytes).unwrap();
        }
        let r = load_idx(t.path(), &Default::default());
        ok_or_names(&r, &[files[which].0])?;
    }
}

/// `header` then `n` bytes of `fill`, gzipped without holding the plain bytes.
fn gzip_stream(header: &[u8], fill: u8, n: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(header).unwrap();
    let chunk = vec![fill; 1 << 20];
    for _ in 0..n / chunk.len() {
        enc.write_all(&chunk).unwrap();
    }
    enc.finish().unwrap()
}

/// A gzip IDX file whose stream holds far more than its header declares is an error
/// naming the file, and decompression stops at the declared size.
#[test]
fn idx_gzip_bomb_is_capped() {
    let header = &idx3(1, 28, 28)[..16];
    let mut plain = header.to_vec();
    plain.extend(std::iter::repeat_n(0, 28 * 28));
    let bomb = gzip_stream(&plain, 0, 256 << 20); // 256 MiB more zeros: about 256 KiB
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let p = Path::new("bomb-images-idx3-ubyte.gz");
    let (r, largest) = largest_allocation_of(|| {
        idx_split((bomb.clone(), p), (idx1(1), Path::new("l")), &names(10))
    });
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("bomb-images-idx3-ubyte.gz") && e.contains("not read further"),
        "{e}"
    );
    assert!(largest < 4 << 20, "decompression allocated {largest} bytes");

    // A label header claiming 2^32 - 1 labels is rejected against the image count before
    // any label is decompressed.
    let mut lbl_header = vec![0, 0, 8, 1];
    lbl_header.extend_from_slice(&u32::MAX.to_be_bytes());
    let lbl = gzip_stream(&lbl_header, 1, 64 << 20);
    let lp = Path::new("huge-labels-idx1-ubyte.gz");
    let (r, largest) = largest_allocation_of(|| {
        idx_split(
            (idx3(1, 2, 2), Path::new("i")),
            (lbl.clone(), lp),
            &names(10),
        )
    });
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("huge-labels-idx1-ubyte.gz") && e.contains("4294967295 labels"),
        "{e}"
    );
    assert!(largest < 4 << 20, "decompression allocated {largest} bytes");

    // An image header claiming more than the stream can hold is rejected at once.
    let mut img = vec![0, 0, 8, 3];
    for d in [u32::MAX, 28, 28] {
        img.extend_from_slice(&d.to_be_bytes());
    }
    img.resize(1000, 0);
    let ip = Path::new("huge-images-idx3-ubyte.gz");
    let e = idx_split((gzip(&img), ip), (idx1(1), Path::new("l")), &names(10))
        .unwrap_err()
        .to_string();
    assert!(
        // The absolute cap (2 GiB of data) or the header-relative one, whichever is lower.
        e.contains("huge-images-idx3-ubyte.gz")
            && (e.contains("more than a gzip stream") || e.contains("may hold at most")),
        "{e}"
    );
    // A raw header claiming 2^32 - 1 images is checked against the real size.
    let ip = Path::new("huge-images-idx3-ubyte");
    let e = idx_split((img, ip), (idx1(1), Path::new("l")), &names(10))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("huge-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
}

// ---------------------------------------------------------------- image folders

fn png_bytes(side: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x * 20) as u8 ^ seed, (y * 20) as u8, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg_bytes(side: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 20) as u8 ^ seed, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// How one file of a class folder is written.
#[derive(Clone, Debug)]
enum FileKind {
    Png(Vec<Mutation>),
    Jpeg(Vec<Mutation>),
    Random(Vec<u8>),
    Empty,
}

fn file_kind() -> impl Strategy<Value = FileKind> {
    let muts = || prop::collection::vec(mutation(), 0..3);
    prop_oneof![
        3 => muts().prop_map(FileKind::Png),
        3 => muts().prop_map(FileKind::Jpeg),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(FileKind::Random),
        1 => Just(FileKind::Empty),
    ]
}

fn file_bytes(kind: &FileKind, seed: u8) -> (Vec<u8>, &'static str) {
    match kind {
        FileKind::Png(m) => (apply(png_bytes(6, seed), m), "png"),
        FileKind::Jpeg(m) => (apply(jpeg_bytes(6, seed), m), "jpg"),
        FileKind::Random(b) => (b.clone(), "png"),
        FileKind::Empty => (Vec::new(), "jpeg"),
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Decoding bytes as the folder loader decodes a file.
    #[test]
    fn image_bytes_decode_or_fail(kind in file_kind(), size in 1usize..12, gray in any::<bool>()) {
        let (bytes, ext) = file_bytes(&kind, 7);
        let hint = image::ImageFormat::from_extension(ext);
        if let Ok(px) = decode_image_bytes(&bytes, hint, size, gray) {
            prop_assert_eq!(px.len(), size * size * if gray { 1 } else { 3 });
        }
        assert_no_huge_allocation()?;
    }
}

proptest! {
    #![proptest_config(config(150))]

    #[test]
    fn folder_with_bad_files(
        files in prop::collection::vec(file_kind(), 2..7),
        skip_bad in any::<bool>(),
    ) {
        let t = tmp();
        let mut written: Vec<PathBuf> = Vec::new();
        for (i, kind) in files.iter().enumerate() {
            let class = t.path().join(if i % 2 == 0 { "a" } else { "b" });
            std::fs::create_dir_all(&class).unwrap();
            let (bytes, ext) = file_bytes(kind, i as u8);
            let path = class.join(format!("{i}.{ext}"));
            std::fs::write(&path, bytes).unwrap();
            written.push(path);
        }
        let opts = FolderOptions { size: 4, split: 0.5, skip_bad, ..FolderOptions::default() };
        let r = load_folder(t.path(), &opts);
        let file_names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let refs: Vec<&str> = file_names.iter().map(String::as_str).collect();
        ok_or_names(&r, &refs)?;
        if let Ok(data) = &r {
            prop_assert_eq!(data.train.pixels.len(), data.train.len() * 48);
            prop_assert_eq!(data.test.pixels.len(), data.test.len() * 48);
            prop_assert_eq!(
                data.train.len() + data.test.len() + data.skipped.len(),
                files.len()
            );
            if !skip_bad {
                prop_assert!(data.skipped.is_empty());
            }
        }
        // Through a spec: an empty split after skipping is an error naming the spec.
        let spec: DatasetSpec = format!(
            "folder:{}?size=4&split=0.5&skip_bad={skip_bad}",
            t.path().display()
        )
        .parse()
        .unwrap();
        let mut expected = refs.clone();
        let spec_name = spec.to_string();
        expected.push(&spec_name);
        ok_or_names(&spec.load(), &expected)?;
        assert_no_huge_allocation()?;
    }
}

// ---------------------------------------------------------------- config files

/// Parses `text` as the CLI's `--config` does (`.toml` or `.json` into the stage's
/// configuration, unknown fields rejected) and validates what parses.
fn check_config(text: &str, json: bool) -> Result<(), TestCaseError> {
    if json {
        if let Ok(c) = serde_json::from_str::<PretrainConfig>(text) {
            let _ = c.validate();
            let _ = c.data.spec.parse::<DatasetSpec>();
        }
        if let Ok(c) = serde_json::from_str::<SupervisedConfig>(text) {
            validate_supervised(&c);
        }
    } else {
        if let Ok(c) = toml::from_str::<PretrainConfig>(text) {
            let _ = c.validate();
            let _ = c.data.spec.parse::<DatasetSpec>();
        }
        if let Ok(c) = toml::from_str::<SupervisedConfig>(text) {
            validate_supervised(&c);
        }
    }
    assert_no_huge_allocation()
}

/// What `train_supervised` checks before it touches data.
fn validate_supervised(c: &SupervisedConfig) {
    let _ = c.optimizer.validate();
    let _ = c.schedule.validate(c.epochs);
    let _ = c.augment.validate();
    let _ = c.encoder.validate();
    let _ = c.data.spec.parse::<DatasetSpec>();
}

/// A JSON value to plant in a config: odd numbers, wrong types, nesting.
fn odd_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(-1.5)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(usize::MAX as f64)),
        Just(json!(0.0)),
        Just(json!(1)),
        Just(json!(1_000_000_000u64)),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!("")),
        Just(json!("resnet7")),
        Just(json!("gpu:99")),
        Just(json!("folder:/x?size=0")),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"unknown_field": 1})),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        "[a-z:/?=&0-9.]{0,12}".prop_map(|s| json!(s)),
    ]
}

/// Every leaf path of a JSON object.
fn leaf_paths(v: &serde_json::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                prefix.push(k.clone());
                leaf_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn set_path(v: &mut serde_json::Value, path: &[String], new: serde_json::Value) {
    let mut cur = v;
    for k in path {
        cur = &mut cur[k.as_str()];
    }
    *cur = new;
}

fn default_json() -> serde_json::Value {
    serde_json::to_value(PretrainConfig::default()).unwrap()
}

/// A JSON value as TOML text, when TOML can express it (nulls, which TOML lacks, are
/// dropped: an absent optional field).
fn to_toml(v: &serde_json::Value) -> Option<String> {
    fn strip(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip(x)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => other.clone(),
        }
    }
    toml::to_string(&strip(v)).ok()
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn config_random_text(text in "[ -~\n]{0,200}", json in any::<bool>()) {
        check_config(&text, json)?;
    }

    #[test]
    fn config_random_toml_like(
        lines in prop::collection::vec(
            (
                "[a-z_.]{1,24}",
                prop_oneof![
                    "-?[0-9]{1,25}".boxed(),
                    "-?[0-9]{1,5}\\.[0-9]{0,5}(e-?[0-9]{1,3})?".boxed(),
                    "\"[a-z0-9:/?=&.-]{0,16}\"".boxed(),
                    Just("true".to_string()).boxed(),
                    Just("nan".to_string()).boxed(),
                    Just("-inf".to_string()).boxed(),
                    Just("[]".to_string()).boxed(),
                    Just("{}".to_string()).boxed(),
                ],
            ),
            0..8,
        ),
        section in prop::option::of("\\[(data|model|model\\.encoder|model\\.head|loss|augment|optimizer|schedule|device)\\]"),
    ) {
        let mut text = String::new();
        if let Some(s) = section {
            text.push_str(&s);
            text.push('\n');
        }
        for (k, v) in &lines {
            text.push_str(&format!("{k} = {v}\n"));
        }
        check_config(&text, false)?;
    }

    /// A valid config with one leaf replaced by an odd value, as JSON and as TOML.
    #[test]
    fn config_mutated_leaf(pick in any::<prop::sample::Index>(), value in odd_value()) {
        let mut v = default_json();
        let mut paths = Vec::new();
        leaf_paths(&v, &mut Vec::new(), &mut paths);
        let path = pick.get(&paths).clone();
        set_path(&mut v, &path, value);
        check_config(&v.to_string(), true)?;
        if let Some(t) = to_toml(&v) {
            check_config(&t, false)?;
        }
    }

    /// A valid config file's text with a byte-level edit.
    #[test]
    fn config_mutated_text(muts in prop::collection::vec(mutation(), 1..3), json in any::<bool>()) {
        let v = default_json();
        let text = if json { v.to_string() } else { to_toml(&v).unwrap() };
        let bytes = apply(text.into_bytes(), &muts);
        check_config(&String::from_utf8_lossy(&bytes), json)?;
    }

    /// Dataset specs (what a config's `data.spec` holds) parse or fail, never panic.
    #[test]
    fn spec_random_text(s in "(builtin|cifar10|cifar100|idx|folder|x)?:?[a-z/]{0,6}(\\?[a-z_]{0,8}=?[0-9a-z.e+-]{0,8}(&[a-z_]{0,8}=?[0-9a-z.e+-]{0,8}){0,3})?") {
        if let Err(e) = s.parse::<DatasetSpec>() {
            prop_assert!(e.to_string().contains(&s), "{e}");
        }
    }
}

/// Unknown fields are rejected naming the field, as the README promises; missing fields
/// take their defaults.
#[test]
fn config_unknown_and_missing_fields() {
    let e = toml::from_str::<PretrainConfig>("epochs = 2\nbatchsize = 8\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("batchsize"), "{e}");
    let e = serde_json::from_str::<PretrainConfig>(r#"{"model": {"encoder": {"nme": "mlp"}}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nme"), "{e}");
    let c: PretrainConfig = toml::from_str("epochs = 2\n").unwrap();
    assert_eq!(c.batch_size, PretrainConfig::default().batch_size);
}
