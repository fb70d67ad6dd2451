//! Dataset loaders on small files generated in temporary folders: shapes, counts,
//! labels, pixel order, and clear errors on bad input. Never reads /work/shared.

use std::io::Write;
use std::path::{Path, PathBuf};

mod common;

use supcon::data::{
    Cifar100Labels, DataError, DatasetSpec, FolderOptions, IdxOptions, ImageDataset, class_counts,
    limit, load_cifar10, load_cifar100, load_folder, load_idx, shots, validate,
};

// ---------------------------------------------------------------- generators

/// A deterministic pixel value for record `r`, channel `c`, row `y`, column `x`.
fn px(r: usize, c: usize, y: usize, x: usize) -> u8 {
    ((r * 7 + c * 50 + y * 3 + x) % 256) as u8
}

/// One CIFAR record: `labels` then 32x32x3 planar pixels.
fn cifar_record(r: usize, labels: &[u8]) -> Vec<u8> {
    let mut v = labels.to_vec();
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                v.push(px(r, c, y, x));
            }
        }
    }
    v
}

/// Writes a CIFAR-10 batch of `n` records starting at record id `first`
/// (label = id % 10).
fn write_cifar10_batch(path: &Path, first: usize, n: usize) {
    let mut bytes = Vec::new();
    for r in first..first + n {
        bytes.extend(cifar_record(r, &[(r % 10) as u8]));
    }
    std::fs::write(path, bytes).unwrap();
}

/// Writes a CIFAR-100 file of `n` records (coarse = id % 20, fine = id % 100).
fn write_cifar100(path: &Path, first: usize, n: usize) {
    let mut bytes = Vec::new();
    for r in first..first + n {
        bytes.extend(cifar_record(r, &[(r % 20) as u8, (r % 100) as u8]));
    }
    std::fs::write(path, bytes).unwrap();
}

fn idx_images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..n {
        for y in 0..rows {
            for x in 0..cols {
                v.push(px(i, 0, y, x));
            }
        }
    }
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes the four IDX files (train: 20 images, test: 10, 5x4 pixels, labels i % 10).
fn write_idx_dir(dir: &Path, gz: bool) {
    let suffix = if gz { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
    for (prefix, n) in [("train", 20), ("t10k", 10)] {
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte{suffix}")),
            enc(idx_images(n, 5, 4)),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte{suffix}")),
            enc(idx_labels(&labels(n))),
        )
        .unwrap();
    }
}

/// An RGB image whose pixel (x, y) is (10x + y, 20 + y, 200 - x) plus `seed` (mod 256).
fn rgb_image(w: u32, h: u32, seed: u8) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((10 * x + y) as u8).wrapping_add(seed),
            ((20 + y) as u8).wrapping_add(seed),
            ((200 - x) as u8).wrapping_add(seed),
        ])
    })
}

/// Creates `root/<class>/<i>.png` for each class, `n` images of `side x side`.
fn write_class_folders(root: &Path, classes: &[&str], n: usize, side: u32) {
    for (ci, c) in classes.iter().enumerate() {
        let d = root.join(c);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            rgb_image(side, side, (ci * 10 + i) as u8)
                .save(d.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

fn err_string<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
    r.expect_err("expected an error").to_string()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------- CIFAR

#[test]
fn cifar10_loads_shape_labels_and_pixel_order() {
    let t = tmp();
    let d = t.path();
    write_cifar10_batch(&d.join("data_batch_1.bin"), 0, 12);
    write_cifar10_batch(&d.join("data_batch_2.bin"), 12, 8);
    write_cifar10_batch(&d.join("test_batch.bin"), 100, 5);
    let (train, test) = load_cifar10(d).unwrap();
    assert_eq!((train.len(), test.len()), (20, 5));
    assert_eq!((train.channels, train.height, train.width), (3, 32, 32));
    assert_eq!(train.labels[13], 3, "batch 2 follows batch 1");
    assert_eq!(test.labels[0], 0);
    assert_eq!(train.class_names[0], "airplane");
    assert_eq!(train.class_names[9], "truck");
    // Channel 2 (blue), row 5, column 7 of record 13.
    assert_eq!(train.pixels_of(13)[2 * 1024 + 5 * 32 + 7], px(13, 2, 5, 7));
    let img = train.image(13);
    assert_eq!(img.to_u8_chw()[(32 + 5) * 32 + 7], px(13, 1, 5, 7));
    assert!((img.get(0, 31, 30) - f32::from(px(13, 0, 31, 30)) / 255.0).abs() < 1e-6);
    validate(&train).unwrap();
}

#[test]
fn cifar10_partial_set_in_subfolder_with_meta_names() {
    let t = tmp();
    let d = t.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&d).unwrap();
    write_cifar10_batch(&d.join("data_batch_3.bin"), 0, 4);
    write_cifar10_batch(&d.join("test_batch.bin"), 0, 2);
    let names: String = (0..10).map(|i| format!("class{i}\n")).collect();
    std::fs::write(d.join("batches.meta.txt"), format!("{names}\n\n")).unwrap();
    let spec: DatasetSpec = format!("cifar10:{}", t.path().display()).parse().unwrap();
    let loaded = spec.load().unwrap();
    assert_eq!((loaded.train.len(), loaded.test.len()), (4, 2));
    assert_eq!(loaded.train.class_names[7], "class7");
    assert_eq!(loaded.mean.len(), 3);
    assert!((loaded.mean[0] - 0.4914).abs() < 1e-6, "CIFAR-10 constants");
}

#[test]
fn cifar10_meta_with_a_duplicate_class_name_is_named() {
    let t = tmp();
    let d = t.path();
    write_cifar10_batch(&d.join("data_batch_1.bin"), 0, 4);
    write_cifar10_batch(&d.join("test_batch.bin"), 0, 2);
    // Ten names (the count is right), "cat" on lines 4 and 7 (line 2 is blank).
    let names = "plane\n\ncar\ncat\ndeer\ndog\ncat\nhorse\nship\ntruck\nfrog\n";
    let meta = d.join("batches.meta.txt");
    std::fs::write(&meta, names).unwrap();
    let e = err_string(load_cifar10(d));
    assert!(
        e.contains(meta.to_str().unwrap())
            && e.contains("'cat' appears twice (lines 4 and 7)")
            && e.contains("10 distinct class names"),
        "{e}"
    );
    // The same names made distinct load, in file order.
    std::fs::write(&meta, names.replacen("cat\nhorse", "bird\nhorse", 1)).unwrap();
    let (train, _) = load_cifar10(d).unwrap();
    assert_eq!(train.class_names[2], "cat");
    assert_eq!(train.class_names[5], "bird");
}

#[test]
fn cifar10_errors_name_the_file() {
    let t = tmp();
    let d = t.path();
    // Empty folder: no batch at all.
    let e = err_string(load_cifar10(d));
    assert!(
        e.contains(&d.display().to_string()) && e.contains("data_batch_1.bin"),
        "{e}"
    );
    // Test batch only.
    write_cifar10_batch(&d.join("test_batch.bin"), 0, 2);
    let e = err_string(load_cifar10(d));
    assert!(
        e.contains("data_batch_1.bin") && e.contains("not found"),
        "{e}"
    );
    // Training batch only.
    std::fs::remove_file(d.join("test_batch.bin")).unwrap();
    write_cifar10_batch(&d.join("data_batch_1.bin"), 0, 2);
    let e = err_string(load_cifar10(d));
    assert!(e.contains("test_batch.bin"), "{e}");
    // Truncated training batch.
    write_cifar10_batch(&d.join("test_batch.bin"), 0, 2);
    let mut bytes = std::fs::read(d.join("data_batch_1.bin")).unwrap();
    bytes.truncate(3073 + 100);
    std::fs::write(d.join("data_batch_1.bin"), &bytes).unwrap();
    let e = err_string(load_cifar10(d));
    assert!(
        e.contains("data_batch_1.bin") && e.contains("not a multiple"),
        "{e}"
    );
    // Label out of range in record 1 of the test batch.
    write_cifar10_batch(&d.join("data_batch_1.bin"), 0, 2);
    let mut bytes = std::fs::read(d.join("test_batch.bin")).unwrap();
    bytes[3073] = 10;
    std::fs::write(d.join("test_batch.bin"), &bytes).unwrap();
    let e = err_string(load_cifar10(d));
    assert!(
        e.contains("test_batch.bin") && e.contains("record 1") && e.contains("10"),
        "{e}"
    );
    // Bad class-name file.
    write_cifar10_batch(&d.join("test_batch.bin"), 0, 2);
    std::fs::write(d.join("batches.meta.txt"), "a\nb\n").unwrap();
    let e = err_string(load_cifar10(d));
    assert!(
        e.contains("batches.meta.txt") && e.contains("expected 10"),
        "{e}"
    );
    // Missing folder.
    let gone = d.join("nope");
    let e = err_string(load_cifar10(&gone));
    assert!(
        e.contains(&gone.display().to_string()) && e.contains("not found"),
        "{e}"
    );
}

#[test]
fn cifar100_fine_and_coarse() {
    let t = tmp();
    let d = t.path().join("cifar-100-binary");
    std::fs::create_dir(&d).unwrap();
    write_cifar100(&d.join("train.bin"), 0, 30);
    write_cifar100(&d.join("test.bin"), 50, 3);
    let (train, test) = load_cifar100(t.path(), Cifar100Labels::Fine).unwrap();
    assert_eq!((train.len(), test.len(), train.num_classes()), (30, 3, 100));
    assert_eq!(train.labels[25], 25);
    assert_eq!(test.labels[2], 52);
    assert_eq!(train.class_names[0], "apple");
    assert_eq!(train.pixels_of(25)[1024 + 31 * 32], px(25, 1, 31, 0));
    let (train, _) = load_cifar100(&d, Cifar100Labels::Coarse).unwrap();
    assert_eq!((train.labels[25], train.num_classes()), (5, 20));
    assert_eq!(train.class_names[19], "vehicles_2");
    let spec: DatasetSpec = format!("cifar100:{}?labels=coarse", d.display())
        .parse()
        .unwrap();
    let l = spec.load().unwrap();
    assert_eq!(l.num_classes(), 20);
    assert!(l.name.ends_with("?labels=coarse"));
    // A fine label out of range fails whichever label is kept.
    let mut bytes = std::fs::read(d.join("test.bin")).unwrap();
    bytes[1] = 100;
    std::fs::write(d.join("test.bin"), &bytes).unwrap();
    let e = err_string(load_cifar100(&d, Cifar100Labels::Coarse));
    assert!(
        e.contains("test.bin") && e.contains("record 0") && e.contains("0..=99"),
        "{e}"
    );
    std::fs::remove_file(d.join("test.bin")).unwrap();
    let e = err_string(load_cifar100(&d, Cifar100Labels::Fine));
    assert!(e.contains("test.bin") && e.contains("not found"), "{e}");
}

// ---------------------------------------------------------------- IDX

#[test]
fn idx_raw_and_gzip_load_identically() {
    let raw = tmp();
    let gz = tmp();
    write_idx_dir(raw.path(), false);
    write_idx_dir(gz.path(), true);
    let opts = IdxOptions::default();
    let (train, test) = load_idx(raw.path(), &opts).unwrap();
    assert_eq!((train.len(), test.len()), (20, 10));
    assert_eq!((train.channels, train.height, train.width), (1, 5, 4));
    assert_eq!(train.labels[17], 7);
    assert_eq!(
        train.pixels_of(17)[3 * 4 + 2],
        px(17, 0, 3, 2),
        "row 3, col 2"
    );
    assert_eq!(train.class_names[3], "3");
    assert_eq!(load_idx(gz.path(), &opts).unwrap(), (train, test));
}

#[test]
fn idx_gzip_detected_by_magic_not_name_and_raw_subfolder() {
    let t = tmp();
    let raw = t.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    write_idx_dir(&raw, false);
    // Overwrite one file with gzip content under its raw name.
    let p = raw.join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, gzip(&bytes)).unwrap();
    let (train, test) = load_idx(t.path(), &IdxOptions::default()).unwrap();
    assert_eq!((train.len(), test.len()), (20, 10));
}

#[test]
fn idx_fashion_names_by_path_or_option() {
    let t = tmp();
    let d = t.path().join("Fashion-MNIST");
    std::fs::create_dir(&d).unwrap();
    write_idx_dir(&d, true);
    let l: DatasetSpec = format!("idx:{}", d.display()).parse().unwrap();
    let l = l.load().unwrap();
    assert_eq!(l.train.class_names[0], "T-shirt/top");
    assert_eq!(l.mean, vec![0.2860], "Fashion-MNIST constants");
    let other = tmp();
    write_idx_dir(other.path(), false);
    let spec: DatasetSpec = format!("idx:{}?names=fashion", other.path().display())
        .parse()
        .unwrap();
    assert_eq!(spec.load().unwrap().train.class_names[9], "Ankle boot");
    let plain: DatasetSpec = format!("idx:{}", other.path().display()).parse().unwrap();
    let plain = plain.load().unwrap();
    assert_eq!(plain.train.class_names[9], "9");
    assert_ne!(plain.mean, vec![0.2860], "computed from the train split");
}

#[test]
fn idx_errors_name_the_file() {
    let t = tmp();
    let d = t.path();
    write_idx_dir(d, false);
    let opts = IdxOptions::default();
    // Wrong magic.
    let p = d.join("train-images-idx3-ubyte");
    let good = std::fs::read(&p).unwrap();
    let mut bad = good.clone();
    bad[3] = 2;
    std::fs::write(&p, &bad).unwrap();
    let e = err_string(load_idx(d, &opts));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("magic"),
        "{e}"
    );
    // Truncated.
    std::fs::write(&p, &good[..good.len() - 3]).unwrap();
    let e = err_string(load_idx(d, &opts));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
    // Truncated gzip stream.
    let gz = gzip(&good);
    std::fs::write(&p, &gz[..gz.len() / 2]).unwrap();
    let e = err_string(load_idx(d, &opts));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("gzip"),
        "{e}"
    );
    std::fs::write(&p, &good).unwrap();
    // Count mismatch.
    let lp = d.join("t10k-labels-idx1-ubyte");
    std::fs::write(&lp, idx_labels(&[1, 2, 3])).unwrap();
    let e = err_string(load_idx(d, &opts));
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("3 labels"),
        "{e}"
    );
    assert!(e.contains("10 images"), "{e}");
    // Label out of range.
    let mut labels = vec![0u8; 10];
    labels[4] = 12;
    std::fs::write(&lp, idx_labels(&labels)).unwrap();
    let e = err_string(load_idx(d, &opts));
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("label 12 at index 4"),
        "{e}"
    );
    // ... which classes=N admits.
    let more = IdxOptions {
        classes: 13,
        ..opts
    };
    assert_eq!(load_idx(d, &more).unwrap().1.labels[4], 12);
    // Missing file.
    std::fs::remove_file(&lp).unwrap();
    let e = err_string(load_idx(d, &opts));
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("not found"),
        "{e}"
    );
    // Missing folder.
    let e = err_string(load_idx(&d.join("missing"), &opts));
    assert!(e.contains("missing") && e.contains("IDX"), "{e}");
}

#[test]
fn idx_test_size_must_match_train() {
    let t = tmp();
    write_idx_dir(t.path(), false);
    std::fs::write(
        t.path().join("t10k-images-idx3-ubyte"),
        idx_images(10, 4, 5),
    )
    .unwrap();
    let e = err_string(load_idx(t.path(), &IdxOptions::default()));
    assert!(
        e.contains("t10k-images-idx3-ubyte") && e.contains("4x5"),
        "{e}"
    );
}

// ---------------------------------------------------------------- image folder

#[test]
fn folder_single_layout_split_and_pixel_order() {
    let t = tmp();
    write_class_folders(t.path(), &["b_dog", "a_cat", "c_eel"], 10, 8);
    std::fs::write(t.path().join("a_cat").join("notes.txt"), "ignored").unwrap();
    let opts = FolderOptions {
        size: 8,
        ..FolderOptions::default()
    };
    let data = load_folder(t.path(), &opts).unwrap();
    assert_eq!(data.train.class_names, vec!["a_cat", "b_dog", "c_eel"]);
    assert_eq!((data.train.len(), data.test.len()), (24, 6));
    assert_eq!(class_counts(&data.test), vec![2, 2, 2]);
    assert_eq!((data.train.channels, data.train.height), (3, 8));
    assert!(data.skipped.is_empty());
    // PNG is lossless and 8x8 needs no resize: check channel/row/col exactly.
    let first = data.train.pixels_of(0);
    let seed = first[0]; // red at (0, 0) is the seed: 10..20 for class a_cat
    assert!((10..20).contains(&seed), "{seed}");
    let (x, y) = (5usize, 3usize);
    let expect = rgb_image(8, 8, seed).get_pixel(x as u32, y as u32).0;
    for c in 0..3 {
        assert_eq!(first[c * 64 + y * 8 + x], expect[c], "channel {c}");
    }
    // Seeded: same seed, same split; another seed, another split.
    assert_eq!(load_folder(t.path(), &opts).unwrap(), data);
    let other = FolderOptions { seed: 9, ..opts };
    assert_ne!(load_folder(t.path(), &other).unwrap().test, data.test);
}

#[test]
fn folder_train_val_layout_resizes_jpeg_and_gray() {
    let t = tmp();
    write_class_folders(&t.path().join("train"), &["x", "y"], 3, 8);
    let val = t.path().join("val");
    std::fs::create_dir_all(val.join("y")).unwrap();
    std::fs::create_dir_all(val.join("x")).unwrap();
    rgb_image(40, 20, 0)
        .save(val.join("y").join("wide.jpg"))
        .unwrap();
    let spec: DatasetSpec = format!("folder:{}?size=16", t.path().display())
        .parse()
        .unwrap();
    let l = spec.load().unwrap();
    assert_eq!((l.train.len(), l.test.len()), (6, 1));
    assert_eq!(l.test.labels, vec![1]);
    assert_eq!(l.shape(), [3, 16, 16]);
    assert_eq!(l.skipped, 0);
    let gray: DatasetSpec = format!("folder:{}?size=4&gray=true", t.path().display())
        .parse()
        .unwrap();
    let g = gray.load().unwrap();
    assert_eq!(g.shape(), [1, 4, 4]);
    assert_eq!((g.mean.len(), g.std.len()), (1, 1));
    // A val class unknown to train is an error naming it.
    std::fs::create_dir_all(val.join("zebra")).unwrap();
    let e = err_string(spec.load());
    assert!(e.contains("zebra") && e.contains("no counterpart"), "{e}");
}

#[test]
fn folder_bad_images_fail_or_are_skipped() {
    let t = tmp();
    write_class_folders(t.path(), &["a", "b"], 5, 8);
    let bad = t.path().join("b").join("broken.png");
    std::fs::write(&bad, b"definitely not a png").unwrap();
    let opts = FolderOptions {
        size: 8,
        split: 0.4,
        ..FolderOptions::default()
    };
    let e = err_string(load_folder(t.path(), &opts));
    assert!(
        e.contains("broken.png") && e.contains("skip_bad=true"),
        "{e}"
    );
    let skip = FolderOptions {
        skip_bad: true,
        ..opts
    };
    let data = load_folder(t.path(), &skip).unwrap();
    assert_eq!(data.skipped, vec![bad]);
    assert_eq!(data.train.len() + data.test.len(), 10);
    let spec: DatasetSpec = format!(
        "folder:{}?size=8&split=0.4&skip_bad=true",
        t.path().display()
    )
    .parse()
    .unwrap();
    let l = spec.load().unwrap();
    assert_eq!(l.skipped, 1);
    assert!(l.summary().to_json().contains("\"skipped\":1"));
}

#[test]
fn folder_skip_bad_refuses_a_class_left_without_training_images() {
    for layout in ["single", "train/val"] {
        let t = tmp();
        let root = if layout == "single" {
            t.path().to_path_buf()
        } else {
            write_class_folders(&t.path().join("val"), &["cat", "dog"], 1, 8);
            t.path().join("train")
        };
        write_class_folders(&root, &["cat", "dog"], 4, 8);
        let bad = root.join("bad");
        std::fs::create_dir_all(&bad).unwrap();
        for i in 0..5 {
            std::fs::write(bad.join(format!("{i}.png")), b"x\n").unwrap();
        }
        let opts = FolderOptions {
            size: 8,
            skip_bad: true,
            ..FolderOptions::default()
        };
        let e = err_string(load_folder(t.path(), &opts));
        // Single layout: 5 files, 1 of them (20%) goes to the test split.
        let train_files = if layout == "single" { 4 } else { 5 };
        assert!(
            e.contains(bad.to_str().unwrap())
                && e.contains("class folder 'bad' has no training image left")
                && e.contains(&format!("all {train_files} of its training image file(s)"))
                && e.contains("undecodable"),
            "{layout}: {e}"
        );
        // Decodable images in the class (two: at most one goes to the test split).
        for name in ["ok1.png", "ok2.png"] {
            rgb_image(8, 8, 7).save(bad.join(name)).unwrap();
        }
        let data = load_folder(t.path(), &opts).unwrap();
        assert_eq!(data.train.class_names, ["bad", "cat", "dog"], "{layout}");
        let (train, test) = (class_counts(&data.train)[0], class_counts(&data.test)[0]);
        assert!(
            train >= 1 && train + test == 2,
            "{layout}: {train} + {test}"
        );
        assert_eq!(data.skipped.len(), 5, "{layout}");
    }
}

#[test]
fn folder_layout_errors() {
    let t = tmp();
    let e = err_string(load_folder(t.path(), &FolderOptions::default()));
    assert!(e.contains("no class subfolders"), "{e}");
    write_class_folders(t.path(), &["only"], 2, 8);
    let e = err_string(load_folder(t.path(), &FolderOptions::default()));
    assert!(e.contains("only one class") && e.contains("'only'"), "{e}");
    std::fs::create_dir(t.path().join("empty")).unwrap();
    let e = err_string(load_folder(t.path(), &FolderOptions::default()));
    assert!(e.contains("'empty'") && e.contains("no image"), "{e}");
    let tv = tmp();
    write_class_folders(&tv.path().join("train"), &["a", "b"], 2, 8);
    let e = err_string(load_folder(tv.path(), &FolderOptions::default()));
    assert!(e.contains("val") && e.contains("train/"), "{e}");
    let e = err_string(load_folder(
        &t.path().join("gone"),
        &FolderOptions::default(),
    ));
    assert!(e.contains("gone") && e.contains("not found"), "{e}");
}

/// `folder:DIR?size=8` with `options` (`&key=value` pairs) appended.
fn folder_spec(dir: &Path, options: &str) -> DatasetSpec {
    format!("folder:{}?size=8{options}", dir.display())
        .parse()
        .unwrap()
}

#[test]
fn folder_truncated_jpeg_and_png_are_refused_or_skipped_naming_the_file() {
    for (ext, format) in [("jpg", "JPEG"), ("png", "PNG")] {
        let t = tmp();
        write_class_folders(t.path(), &["a", "b"], 4, 8);
        let whole = t.path().join("a").join(format!("whole.{ext}"));
        common::textured(128).save(&whole).unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        let half = &bytes[..bytes.len() / 2];
        let cut = t.path().join("b").join(format!("cut.{ext}"));
        std::fs::write(&cut, half).unwrap();
        if ext == "jpg" {
            // The decoder alone fills in the missing half without a word.
            assert!(image::load_from_memory(half).is_ok());
        }
        let e = err_string(folder_spec(t.path(), "&split=0.4").load());
        for needle in [
            cut.display().to_string(),
            format!(
                "truncated {format} file: its data stops after {} bytes",
                half.len()
            ),
            "skip_bad=true".to_string(),
        ] {
            assert!(e.contains(&needle), "{needle:?} not in {e}");
        }
        // The documented policy for bad files: skip_bad=true skips and counts it.
        let data = folder_spec(t.path(), "&split=0.4&skip_bad=true")
            .load()
            .unwrap();
        assert_eq!((data.skipped, data.train.len() + data.test.len()), (1, 9));
    }
}

#[test]
fn folder_images_in_class_subfolders_are_refused_read_or_left_out_as_the_spec_says() {
    let t = tmp();
    write_class_folders(t.path(), &["cat", "dog"], 5, 8);
    let indoor = t.path().join("cat").join("indoor");
    write_class_folders(&indoor, &["deeper"], 1, 8);
    for i in 0..3 {
        rgb_image(8, 8, 40 + i)
            .save(indoor.join(format!("{i}.png")))
            .unwrap();
    }
    let spec = |options: &str| folder_spec(t.path(), options);
    let e = err_string(spec("").load());
    assert!(
        e.contains(t.path().join("cat").to_str().unwrap())
            && e.contains("class folder 'cat' has 4 image file(s) in subfolders")
            && e.contains("indoor/0.png")
            && e.contains("recursive=true")
            && e.contains("recursive=false"),
        "{e}"
    );
    // Read as images of their top-level class, at any depth, as torchvision does.
    let all = spec("&recursive=true").load().unwrap();
    let per_class = |d: &supcon::data::LoadedDataset| -> Vec<usize> {
        let (train, test) = (class_counts(&d.train), class_counts(&d.test));
        train.iter().zip(&test).map(|(a, b)| a + b).collect()
    };
    assert_eq!(all.train.class_names, ["cat", "dog"]);
    assert_eq!(per_class(&all), [9, 5]);
    // Or left out, knowingly.
    let direct = spec("&recursive=false").load().unwrap();
    assert_eq!(per_class(&direct), [5, 5]);
    assert_eq!(
        spec("&recursive=true").to_string(),
        format!("folder:{}?size=8&recursive=true", t.path().display())
    );

    // A class whose images are all in subfolders says so.
    let n = tmp();
    write_class_folders(n.path(), &["a"], 3, 8);
    write_class_folders(&n.path().join("b"), &["sub"], 3, 8);
    let spec = |options: &str| folder_spec(n.path(), options);
    let e = err_string(spec("").load());
    assert!(
        e.contains("class folder 'b' has 3 image file(s) in subfolders (sub/000.png"),
        "{e}"
    );
    let e = err_string(spec("&recursive=false").load());
    assert!(
        e.contains("class folder 'b' holds no image") && e.contains("recursive=false"),
        "{e}"
    );
    assert_eq!(per_class(&spec("&recursive=true").load().unwrap()), [3, 3]);
    // The train/val layout follows the same rule.
    let tv = tmp();
    write_class_folders(&tv.path().join("train"), &["a", "b"], 3, 8);
    write_class_folders(&tv.path().join("val"), &["a", "b"], 1, 8);
    write_class_folders(&tv.path().join("val").join("b"), &["more"], 2, 8);
    let tv_spec = |options: &str| folder_spec(tv.path(), options);
    let e = err_string(tv_spec("").load());
    assert!(e.contains("'b' has 2 image file(s) in subfolders"), "{e}");
    assert_eq!(tv_spec("&recursive=true").load().unwrap().test.len(), 4);
}

// ---------------------------------------------------------------- specs

#[test]
fn spec_round_trip_and_errors() {
    for s in [
        "builtin",
        "cifar10:/a/b",
        "cifar100:/a?labels=coarse",
        "idx:x?names=numbers&classes=26",
        "folder:/i?size=224&split=0.05&seed=7&gray=true&skip_bad=true",
    ] {
        let spec: DatasetSpec = s.parse().unwrap();
        assert_eq!(spec.to_string(), s);
        assert_eq!(spec.to_string().parse::<DatasetSpec>().unwrap(), spec);
    }
    let e = err_string("imagenet:/x".parse::<DatasetSpec>());
    assert!(
        e.contains("imagenet:/x") && e.contains("unknown dataset scheme"),
        "{e}"
    );
    let e = err_string("folder:/x?colour=1".parse::<DatasetSpec>());
    assert!(
        e.contains("folder:/x?colour=1") && e.contains("unknown option 'colour'"),
        "{e}"
    );
    let t = tmp();
    let gone = t.path().join("no-such-dir");
    let spec: DatasetSpec = format!("cifar10:{}", gone.display()).parse().unwrap();
    let e = err_string(spec.load());
    assert!(
        e.contains("no-such-dir") && e.contains("data_batch_1.bin"),
        "{e}"
    );
    let spec: DatasetSpec = format!("idx:{}", t.path().display()).parse().unwrap();
    let e = err_string(spec.load());
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
}

#[test]
fn summary_is_one_json_line() {
    let t = tmp();
    write_idx_dir(t.path(), false);
    let spec: DatasetSpec = format!("idx:{}", t.path().display()).parse().unwrap();
    let line = spec.load().unwrap().summary().to_json();
    assert!(!line.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["train_count"], 20);
    assert_eq!(v["test_count"], 10);
    assert_eq!(v["num_classes"], 10);
    assert_eq!(v["shape"], serde_json::json!([1, 5, 4]));
    assert_eq!(v["class_names"][2], "2");
    assert_eq!(v["mean"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["name"], spec.to_string());
}

// ---------------------------------------------------------------- builtin and subsets

#[test]
fn builtin_is_balanced_fashion_mnist() {
    let l: DatasetSpec = "builtin".parse().unwrap();
    let l = l.load().unwrap();
    assert_eq!((l.train.len(), l.test.len()), (5000, 1000));
    assert_eq!(l.shape(), [1, 28, 28]);
    assert_eq!(class_counts(&l.train), vec![500; 10]);
    assert_eq!(class_counts(&l.test), vec![100; 10]);
    assert_eq!(l.train.class_names[9], "Ankle boot");
    assert!((l.mean[0] - 0.286).abs() < 0.02, "mean {:?}", l.mean);
    assert!((l.std[0] - 0.353).abs() < 0.02, "std {:?}", l.std);
    assert_eq!(l.name, "builtin");
}

#[test]
fn shots_and_limit_counts() {
    let (train, _) = supcon::data::load_builtin().unwrap();
    let s = shots(&train, 5, 1).unwrap();
    assert_eq!(s.len(), 50);
    assert_eq!(class_counts(&s), vec![5; 10]);
    assert_eq!(shots(&train, 5, 1).unwrap(), s, "seeded");
    assert_ne!(shots(&train, 5, 2).unwrap(), s);
    let e = err_string(shots(&train, 501, 0));
    assert!(e.contains("class 'T-shirt/top' (label 0) has 500"), "{e}");
    let l = limit(&train, 123, 0);
    assert_eq!(l.len(), 123);
    let counts = class_counts(&l);
    assert!(counts.iter().all(|&c| c == 12 || c == 13), "{counts:?}");
    assert_eq!(limit(&train, 10_000, 0).len(), 5000);
}

#[test]
fn validate_catches_inconsistent_splits() {
    let ds = ImageDataset {
        channels: 1,
        height: 2,
        width: 2,
        pixels: vec![0; 8],
        labels: vec![0, 2],
        class_names: vec!["a".into(), "b".into()],
        stream: None,
    };
    let e = err_string(validate(&ds));
    assert!(e.contains("label 2 of image 1"), "{e}");
}

// ---------------------------------------------------------------- real data (optional)

#[test]
fn real_fashion_mnist_if_installed() {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if !dir.join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!(
            "skipped: {} not found (apt-get install -y dataset-fashion-mnist)",
            dir.display()
        );
        return;
    }
    let spec: DatasetSpec = format!("idx:{}", dir.display()).parse().unwrap();
    let l = spec.load().unwrap();
    assert_eq!((l.train.len(), l.test.len()), (60_000, 10_000));
    assert_eq!(l.shape(), [1, 28, 28]);
    assert_eq!(class_counts(&l.train), vec![6000; 10]);
    assert_eq!(l.train.class_names[0], "T-shirt/top");
    let (m, s) = supcon::data::channel_mean_std(&l.train);
    assert!(
        (m[0] - 0.2860).abs() < 5e-4 && (s[0] - 0.3530).abs() < 5e-4,
        "{m:?} {s:?}"
    );
}
