//! Fixtures shared by the integration tests: a tiny generated IDX dataset, a tiny
//! multi-view batch, running the real binary and reading a run's `metrics.jsonl`.
//! Each test crate uses some of them.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use supcon::augment::{Augment, AugmentConfig};
use supcon::data::ImageDataset;
use supcon::data::batcher::{Batch, MultiViewBatcher};

pub const BIN: &str = env!("CARGO_BIN_EXE_supcon");

/// Writes a 4-class, 12x12 grayscale IDX dataset (`n_train` train, `n_test` test images):
/// class `c` is a bright band at rows `3c..3c+3` over seeded noise.
pub fn banded_idx(dir: &Path, n_train: usize, n_test: usize) {
    fs::create_dir_all(dir).unwrap();
    let (side, classes) = (12usize, 4usize);
    let mut seed = 7u64;
    let mut noise = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 59) as u8 * 6 // 0..=186
    };
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let mut images = vec![0, 0, 8, 3];
        images.extend((n as u32).to_be_bytes());
        images.extend((side as u32).to_be_bytes());
        images.extend((side as u32).to_be_bytes());
        let mut labels = vec![0, 0, 8, 1];
        labels.extend((n as u32).to_be_bytes());
        for i in 0..n {
            let c = i % classes;
            labels.push(c as u8);
            for y in 0..side {
                for _ in 0..side {
                    let v = noise();
                    images.push(if y / 3 == c { 200 + v / 4 } else { v });
                }
            }
        }
        fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

/// `n` samples of 1x8x8 with 3 classes (`i % 3`), two SimAugment views each, as the
/// training loader builds them.
pub fn tiny_batch(n: usize) -> Batch {
    let mut pixels = Vec::with_capacity(n * 64);
    for i in 0..n {
        for p in 0..64u32 {
            pixels.push(((i as u32 * 37 + p * 11) % 251) as u8);
        }
    }
    let ds = ImageDataset {
        channels: 1,
        height: 8,
        width: 8,
        pixels,
        labels: (0..n).map(|i| i % 3).collect(),
        class_names: vec!["a".into(), "b".into(), "c".into()],
        stream: None,
    };
    let t = AugmentConfig::new(Augment::Sim).build().unwrap();
    let b = MultiViewBatcher::new(t, 2, &[0.5], &[0.25], 1, 1).unwrap();
    b.batch(&Arc::new(ds), &(0..n).collect::<Vec<_>>(), 0)
        .unwrap()
}

/// A textured RGB image: most of its JPEG encoding is entropy-coded data (a photo's
/// proportions), so a file cut in half still decodes without an error.
pub fn textured(side: u32) -> image::RgbImage {
    image::RgbImage::from_fn(side, side, |x, y| {
        let v = (x * 7919 + y * 104_729) ^ (x * y);
        image::Rgb([(v % 251) as u8, (x + y) as u8, ((v >> 3) % 241) as u8])
    })
}

/// Runs the binary in `dir` (or here), without the backtrace variables (so that a panic
/// shows as its "run with RUST_BACKTRACE=1" note).
pub fn supcon_in<S: AsRef<std::ffi::OsStr>>(dir: Option<&Path>, args: &[S]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output().expect("supcon runs")
}

/// Runs the binary.
pub fn supcon<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    supcon_in(None, args)
}

/// Asserts that stderr shows no panic.
pub fn no_panic<S: std::fmt::Debug>(args: &[S], err: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!err.contains(bad), "supcon {args:?} panicked:\n{err}");
    }
}

/// Runs `args`, expects a non-zero exit without a panic, and `needles` in stderr;
/// returns stderr.
pub fn fails_naming(args: &[&str], needles: &[&str]) -> String {
    let out = supcon(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "supcon {args:?} should fail; stderr:\n{err}"
    );
    no_panic(args, &err);
    for n in needles {
        assert!(
            err.contains(n),
            "supcon {args:?}: {n:?} not in stderr:\n{err}"
        );
    }
    err
}

/// Runs `args` and expects success without a panic; returns (stdout, stderr).
pub fn succeeds(args: &[&str]) -> (String, String) {
    let out = supcon(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "supcon {args:?} failed:\n{err}");
    no_panic(args, &err);
    (String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A temporary folder holding a [`banded_idx`] dataset in `data/`, and its spec.
pub struct IdxFixture {
    pub _tmp: tempfile::TempDir,
    pub root: std::path::PathBuf,
    pub spec: String,
}

/// [`IdxFixture`] with `n_train` training and 24 test images.
pub fn idx_fixture(n_train: usize) -> IdxFixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    banded_idx(&root.join("data"), n_train, 24);
    let spec = format!("idx:{}", root.join("data").display());
    IdxFixture {
        _tmp: tmp,
        root,
        spec,
    }
}

/// Runs the binary, asserts success, returns stdout.
pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let out = supcon(args);
    assert!(
        out.status.success(),
        "supcon {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every record of a run's `metrics.jsonl`.
pub fn records(run: &Path) -> Vec<Value> {
    fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per-step (step, loss) pairs, in log order.
pub fn step_losses(run: &Path) -> Vec<(u64, f64)> {
    records(run)
        .iter()
        .filter_map(|r| Some((r.get("step")?.as_u64()?, r.get("loss")?.as_f64()?)))
        .collect()
}

/// The tensors of a safetensors file, name -> raw bytes (the header's metadata order is
/// not part of the comparison).
pub fn safetensors(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: std::collections::BTreeMap<String, Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .map(|(k, v)| {
            let o = &v["data_offsets"];
            let (a, b) = (
                o[0].as_u64().unwrap() as usize,
                o[1].as_u64().unwrap() as usize,
            );
            (k, data[a..b].to_vec())
        })
        .collect()
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Parses an NPY 1.0 file: (descr, shape, data bytes).
pub fn parse_npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic of {}", path.display());
    assert_eq!(&bytes[6..8], &[1, 0], "version 1.0");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + len) % 64, 0, "header padded to 64 bytes");
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.ends_with('\n'));
    let dict = header.trim_end();
    assert!(dict.starts_with('{') && dict.ends_with('}'), "{dict}");
    assert!(dict.contains("'fortran_order': False"), "{dict}");
    let descr = dict
        .split("'descr': '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let shape = dict
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().unwrap())
        .collect();
    (descr.to_string(), shape, bytes[10 + len..].to_vec())
}

pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// k-NN by brute force, as the paper's protocol defines it: cosine similarity to every
/// training feature, the `k` most similar vote with weight `exp(sim / t)`, ties to the
/// lower class. Returns the predicted class of each test row.
/// Reference k-NN written plainly: full sort of similarities, no blocking.
pub fn naive_knn(
    train: &[f32],
    labels: &[usize],
    test: &[f32],
    dim: usize,
    c: usize,
    k: usize,
    t: f32,
) -> Vec<usize> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    test.chunks(dim)
        .map(|x| {
            let mut sims: Vec<(f32, usize)> = train
                .chunks(dim)
                .enumerate()
                .map(|(i, y)| {
                    let d: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
                    (d / norm(x) / norm(y), i)
                })
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut votes = vec![0f64; c];
            for &(s, i) in sims.iter().take(k) {
                votes[labels[i]] += (f64::from(s) / f64::from(t)).exp();
            }
            (0..c).fold(0, |b, j| if votes[j] > votes[b] { j } else { b })
        })
        .collect()
}

/// Every float parameter of a module (BatchNorm running statistics included), in visiting
/// order, as one vector.
pub fn params<M: supcon::burn::module::Module>(m: &M) -> Vec<f32> {
    use supcon::burn::module::{ModuleVisitor, Param};
    use supcon::burn::tensor::Tensor;
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(p.val().try_into_vec_as::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}
