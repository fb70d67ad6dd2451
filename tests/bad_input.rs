//! Bad input to the real binary: every case exits non-zero with a message naming the
//! offending file, flag or value, and never panics or prints a backtrace. Datasets are
//! tiny and written by the tests; training runs use the MLP encoder for one epoch.

use std::fs;
use std::io::Write;
use std::path::Path;

mod common;

use common::{fails_naming, s, succeeds};

// ---------------------------------------------------------------- tiny datasets

fn idx_images(n: usize, side: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, side, side] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend((0..n * side * side).map(|i| ((i * 37) % 251) as u8));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// A raw IDX folder with these train and test labels (8x8 images).
fn idx_dir(dir: &Path, train: &[u8], test: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    for (prefix, labels) in [("train", train), ("t10k", test)] {
        fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx_images(labels.len(), 8),
        )
        .unwrap();
        fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx_labels(labels),
        )
        .unwrap();
    }
}

/// Labels `i % classes` for `n` samples.
fn cyclic(n: usize, classes: usize) -> Vec<u8> {
    (0..n).map(|i| (i % classes) as u8).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// `n` CIFAR-10 records, labels `i % 10`.
fn cifar10(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push((i % 10) as u8);
        v.extend((0..3072).map(|j| ((i + j) % 256) as u8));
    }
    v
}

fn png(path: &Path, seed: u8) {
    image::RgbImage::from_fn(6, 6, |x, y| {
        image::Rgb([(x * 40) as u8 ^ seed, (y * 40) as u8, seed])
    })
    .save(path)
    .unwrap();
}

/// `root/<class>/<i>.png`, `n` images per class.
fn folder(root: &Path, classes: &[&str], n: usize) {
    for (c, name) in classes.iter().enumerate() {
        let d = root.join(name);
        fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            png(&d.join(format!("{i}.png")), (c * 16 + i) as u8);
        }
    }
}

/// One-epoch MLP pre-training on `spec` into `out` at batch size 8, plus `extra` flags
/// (which may replace the epochs and the batch size).
fn pretrain<'a>(spec: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "pretrain", "--data", spec, "--model", "mlp", "--out", out, "-q",
    ];
    for (flag, value) in [("--epochs", "1"), ("--batch-size", "8")] {
        if !extra.iter().any(|e| e.starts_with(flag)) {
            v.extend([flag, value]);
        }
    }
    v.extend_from_slice(extra);
    v
}

/// The tiny 4-class IDX dataset (16 train, 8 test) in `dir/idx`: its spec.
fn small_idx(dir: &Path) -> String {
    let d = dir.join("idx");
    idx_dir(&d, &cyclic(16, 4), &cyclic(8, 4));
    format!("idx:{}", s(&d))
}

/// [`small_idx`] and a finished one-epoch pre-training run on it in `dir/pre`.
fn small_pretrained(dir: &Path) -> (String, std::path::PathBuf) {
    let spec = small_idx(dir);
    let pre = dir.join("pre");
    succeeds(&pretrain(&spec, s(&pre), &[]));
    (spec, pre)
}

/// A finished one-epoch cross-entropy run (MLP) on `spec` in `dir/ce`.
fn small_ce(dir: &Path, spec: &str) -> std::path::PathBuf {
    let ce = dir.join("ce");
    succeeds(&[
        "train-ce",
        "--data",
        spec,
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--out",
        s(&ce),
        "-q",
    ]);
    ce
}

// ---------------------------------------------------------------- the cases

#[test]
fn missing_or_empty_data_directories_are_named() {
    let t = tempfile::tempdir().unwrap();
    let empty = t.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let gone = t.path().join("gone");
    let e = s(&empty);
    for (spec, needle) in [
        (format!("idx:{e}"), "train-images-idx3-ubyte"),
        (format!("cifar10:{e}"), "data_batch_1.bin"),
        (format!("cifar100:{e}"), "train.bin"),
        (format!("folder:{e}"), "no class subfolders"),
        (format!("idx:{}", s(&gone)), "not found"),
        (format!("folder:{}", s(&gone)), "not found"),
    ] {
        let dir = spec.split_once(':').unwrap().1;
        fails_naming(&["data", "--data", &spec], &[dir, needle]);
    }
    let out = t.path().join("run");
    fails_naming(
        &pretrain(&format!("idx:{e}"), s(&out), &[]),
        &[e, "not found"],
    );
}

#[test]
fn truncated_or_corrupt_dataset_files_are_named() {
    let t = tempfile::tempdir().unwrap();
    let spec = small_idx(t.path());
    let d = t.path().join("idx");
    let img = d.join("train-images-idx3-ubyte");
    let good = fs::read(&img).unwrap();
    let cases: Vec<(Vec<u8>, &[&str])> = vec![
        // Truncated raw file.
        (
            good[..good.len() - 5].to_vec(),
            &["truncated", "1019 data bytes"],
        ),
        // Wrong magic.
        (
            [&[0, 0, 8, 1][..], &good[4..]].concat(),
            &["wrong magic number 0x00000801"],
        ),
        // Truncated gzip stream.
        (
            gzip(&good)[..40].to_vec(),
            &["corrupt or truncated gzip stream"],
        ),
        // A header claiming 2^32 - 1 images in a 1 KiB file.
        (
            [&[0, 0, 8, 3, 255, 255, 255, 255][..], &good[8..]].concat(),
            &["truncated", "4294967295"],
        ),
    ];
    for (bytes, needles) in cases {
        fs::write(&img, bytes).unwrap();
        let mut n = vec![s(&img)];
        n.extend_from_slice(needles);
        fails_naming(&["data", "--data", &spec], &n);
    }
    // A gzip bomb: the header declares 16 images of 8x8, the stream holds 32 MiB more.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&good).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        enc.write_all(&zeros).unwrap();
    }
    fs::write(&img, enc.finish().unwrap()).unwrap();
    fails_naming(
        &["data", "--data", &spec],
        &[
            s(&img),
            "gzip stream decompresses to more than",
            "not read further",
        ],
    );
    // The training commands report the same.
    let out = t.path().join("run");
    fails_naming(
        &pretrain(&spec, s(&out), &[]),
        &[s(&img), "not read further"],
    );
    // The absolute cap: a 2.2 MB gzip whose header declares 2,100 images of 1024x1024
    // (2.2 GB: within the 1032:1 deflate ratio of the stream's 2.2 MB, so the
    // header-relative checks would let it decompress) is refused before anything past
    // the header is decompressed.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    enc.write_all(&[0, 0, 8, 3]).unwrap();
    for dim in [2100u32, 1024, 1024] {
        enc.write_all(&dim.to_be_bytes()).unwrap();
    }
    enc.write_all(&vec![7u8; 2_200_000]).unwrap();
    fs::write(&img, enc.finish().unwrap()).unwrap();
    fails_naming(
        &["data", "--data", &spec],
        &[
            s(&img),
            "2202009600 data bytes",
            "at most 2147483648 bytes (2 GiB)",
        ],
    );

    // CIFAR-10: a truncated training batch, an empty test batch.
    let c = t.path().join("cifar");
    fs::create_dir_all(&c).unwrap();
    let batch = c.join("data_batch_1.bin");
    let test = c.join("test_batch.bin");
    fs::write(&batch, &cifar10(3)[..3 * 3073 - 100]).unwrap();
    fs::write(&test, cifar10(2)).unwrap();
    let spec = format!("cifar10:{}", s(&c));
    fails_naming(
        &["data", "--data", &spec],
        &[s(&batch), "not a multiple of the 3073-byte CIFAR record"],
    );
    fs::write(&batch, cifar10(3)).unwrap();
    fs::write(&test, b"").unwrap();
    fails_naming(&["data", "--data", &spec], &[s(&test), "file is empty"]);
    // CIFAR-100: gzip bytes where raw records belong.
    let c100 = t.path().join("c100");
    fs::create_dir_all(&c100).unwrap();
    fs::write(c100.join("train.bin"), gzip(&cifar10(3))).unwrap();
    fs::write(c100.join("test.bin"), gzip(&cifar10(3))).unwrap();
    fails_naming(
        &["data", "--data", &format!("cifar100:{}", s(&c100))],
        &[s(&c100.join("train.bin")), "3074-byte CIFAR record"],
    );
}

#[test]
fn undecodable_images_fail_or_are_skipped_by_flag() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("imgs");
    folder(&root, &["cat", "dog"], 4);
    let junk = root.join("dog").join("junk.png");
    fs::write(&junk, b"not a png at all").unwrap();
    let empty = root.join("cat").join("empty.jpg");
    fs::write(&empty, b"").unwrap();
    let spec = format!("folder:{}?size=6&split=0.25", s(&root));
    let err = fails_naming(
        &["data", "--data", &spec],
        &["cannot decode image", "skip_bad=true"],
    );
    assert!(err.contains(s(&junk)) || err.contains(s(&empty)), "{err}");
    // With skip_bad=true: a warning per file, a count, and the count in the summary.
    let spec = format!("{spec}&skip_bad=true");
    let (stdout, stderr) = succeeds(&["data", "--data", &spec]);
    assert!(
        stderr.contains(&format!("warning: skipping undecodable image {}", s(&junk)))
            && stderr.contains(&format!(
                "warning: skipping undecodable image {}",
                s(&empty)
            ))
            && stderr.contains("empty file (0 bytes)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped 2 undecodable image(s)"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["skipped"], 2, "{stdout}");
    let kept = summary["train_count"].as_u64().unwrap() + summary["test_count"].as_u64().unwrap();
    assert_eq!(kept, 8, "{stdout}");
}

#[test]
fn labels_out_of_range_are_named() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("idx");
    let mut train = cyclic(16, 10);
    train[5] = 12;
    idx_dir(&d, &train, &cyclic(8, 10));
    let labels = d.join("train-labels-idx1-ubyte");
    fails_naming(
        &["data", "--data", &format!("idx:{}", s(&d))],
        &[
            s(&labels),
            "label 12 at index 5 is out of range",
            "classes=N",
        ],
    );
    let c = t.path().join("cifar");
    fs::create_dir_all(&c).unwrap();
    let mut batch = cifar10(3);
    batch[2 * 3073] = 200;
    fs::write(c.join("data_batch_1.bin"), batch).unwrap();
    fs::write(c.join("test_batch.bin"), cifar10(2)).unwrap();
    fails_naming(
        &["data", "--data", &format!("cifar10:{}", s(&c))],
        &[
            s(&c.join("data_batch_1.bin")),
            "record 2: label byte 0 is 200",
        ],
    );
}

#[test]
fn a_class_with_one_sample() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("idx");
    let mut train = cyclic(15, 3);
    train.push(3); // class 3 has one training image
    idx_dir(&d, &train, &cyclic(8, 4));
    let spec = format!("idx:{}", s(&d));
    // A few-shot subset cannot draw two of it: an error naming the class.
    fails_naming(
        &["data", "--data", &spec, "--shots", "2"],
        &["class '3' (label 3) has 1 image(s); expected at least 2"],
    );
    // SupCon trains: the image's other view is its positive.
    let out = t.path().join("run");
    succeeds(&pretrain(&spec, s(&out), &[]));
}

#[test]
fn a_batch_larger_than_the_dataset_is_named() {
    let t = tempfile::tempdir().unwrap();
    let spec = small_idx(t.path());
    let out = t.path().join("run");
    fails_naming(
        &pretrain(&spec, s(&out), &["--batch-size", "32"]),
        &["batch size 32 is larger than the training set (16 samples"],
    );
    fails_naming(
        &pretrain(&spec, s(&out), &["--limit", "4"]),
        &["batch size 8 is larger than the training set (4 samples"],
    );
    fails_naming(
        &[
            "train-ce",
            "--data",
            &spec,
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--batch-size",
            "17",
            "--out",
            s(&out),
            "-q",
        ],
        &["batch size 17", "16 samples"],
    );
}

#[test]
fn an_image_folder_with_one_class_is_named() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("one");
    folder(&root, &["only"], 3);
    fails_naming(
        &["data", "--data", &format!("folder:{}", s(&root))],
        &[
            s(&root),
            "only one class subfolder ('only'); expected at least two",
        ],
    );
    let tv = t.path().join("tv");
    folder(&tv.join("train"), &["solo"], 3);
    folder(&tv.join("val"), &["solo"], 1);
    fails_naming(
        &["data", "--data", &format!("folder:{}", s(&tv))],
        &[s(&tv.join("train")), "only one class subfolder ('solo')"],
    );
}

#[test]
fn unknown_names_are_named_with_the_choices() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run");
    let o = s(&out);
    for (flag, value, choices) in [
        ("--method", "supervised", "supcon or simclr"),
        ("--device", "tpu", "'cpu' or 'gpu[:N]'"),
        ("--model", "resnet7", "resnet18"),
        ("--optimizer", "adagrad", "sgd, lars"),
        ("--augment", "autoaugment", "randaugment"),
        ("--schedule", "linear", "cosine"),
        ("--stem", "huge", "cifar"),
        ("--head", "deep", "mlp"),
        ("--contrast-mode", "some", "all"),
        ("--variant", "mid", "out"),
        ("--loss-impl", "fast", "plain or tiled"),
    ] {
        fails_naming(
            &["pretrain", flag, value, "--out", o, "-q"],
            &[flag, value, choices],
        );
    }
    fails_naming(
        &["data", "--data", "mnist:/x"],
        &["mnist:/x", "unknown dataset scheme 'mnist'"],
    );
    fails_naming(
        &["data", "--data", "folder:/x?colour=rgb"],
        &["unknown option 'colour'"],
    );
    fails_naming(&["frobnicate"], &["frobnicate"]);
}

#[test]
fn zero_and_negative_numbers_are_named() {
    let t = tempfile::tempdir().unwrap();
    let spec = small_idx(t.path());
    for (i, (extra, needles)) in [
        (&["--epochs", "0"][..], &["epochs = 0"][..]),
        (&["--batch-size", "0"], &["batch_size = 0"]),
        (&["--views", "0"], &["views = 0"]),
        (&["--checkpoint-every", "0"], &["checkpoint_every = 0"]),
        (&["--chunk", "0"], &["chunk = 0"]),
        (&["--proj-dim", "0"], &["output_dim must be at least 1"]),
        (&["--lr", "0"], &["lr = 0"]),
        (&["--lr=-0.5"], &["lr = -0.5"]),
        (&["--temperature", "0"], &["temperature = 0"]),
        (&["--temperature=-1"], &["temperature = -1"]),
        (&["--momentum=-1"], &["momentum = -1"]),
        (&["--momentum", "1.5"], &["momentum = 1.5"]),
        (&["--weight-decay=-1"], &["weight_decay = -1"]),
        (&["--warmup=-2"], &["warmup_epochs = -2"]),
        (&["--shots", "0"], &["shots = 0: expected at least 1"]),
        (
            &["--memory-bank", "64", "--momentum-encoder", "1.5"],
            &["momentum_encoder = 1.5"],
        ),
        (&["--epochs=-1"], &["'-1'", "--epochs"]),
        (&["--batch-size=-8"], &["'-8'", "--batch-size"]),
    ]
    .into_iter()
    .enumerate()
    {
        let out = t.path().join(format!("run{i}"));
        fails_naming(&pretrain(&spec, s(&out), extra), needles);
    }
    let out = t.path().join("run-width");
    fails_naming(
        &[
            "pretrain",
            "--model",
            "resnet18",
            "--width",
            "0",
            "--out",
            s(&out),
            "-q",
        ],
        &["width_multiplier 0"],
    );
    for (spec_opt, needle) in [
        ("size=0", "size=0, expected 1..=4096"),
        ("split=1.5", "split=1.5"),
        ("split=0", "split=0"),
        ("size=-3", "size=-3 is invalid"),
    ] {
        let spec = format!("folder:/x?{spec_opt}");
        fails_naming(&["data", "--data", &spec], &[&spec, needle]);
    }
    fails_naming(
        &["data", "--data", "idx:/x?classes=0"],
        &["classes=0", "1..=256"],
    );
}

/// Negative values written after a space (`--lr -0.5`) reach the flag (numeric flags allow
/// negative numbers), so the message names the flag and the value, not `-0`.
#[test]
fn negative_numbers_after_a_space_are_named() {
    let out = tempfile::tempdir().unwrap();
    let o = s(out.path());
    fails_naming(&["pretrain", "--lr", "-0.5", "--out", o], &["lr = -0.5"]);
    fails_naming(
        &["pretrain", "--epochs", "-1", "--out", o],
        &["--epochs", "-1"],
    );
}

/// `--limit 0` and `--test-limit 0` would empty a split: rejected by name.
#[test]
fn zero_subset_sizes_are_named() {
    let t = tempfile::tempdir().unwrap();
    let spec = small_idx(t.path());
    fails_naming(&["data", "--data", &spec, "--limit", "0"], &["limit", "0"]);
    fails_naming(
        &["data", "--data", &spec, "--test-limit", "0"],
        &["test_limit", "0"],
    );
}

#[test]
fn config_files_with_unknown_missing_or_bad_fields_are_named() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("idx");
    idx_dir(&d, &cyclic(16, 4), &cyclic(8, 4));
    let out = |name: &str| t.path().join(format!("run-{name}"));
    let write = |name: &str, text: &str| {
        let p = t.path().join(name);
        fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        (
            write("unknown.toml", "epochs = 1\nbatchsize = 8\n"),
            "unknown field `batchsize`",
        ),
        (
            write("nested.json", r#"{"model": {"encoder": {"nme": "mlp"}}}"#),
            "unknown field `nme`",
        ),
        (
            write(
                "missing.toml",
                "[schedule.decay]\nkind = \"step\"\ngamma = 0.1\n",
            ),
            "missing field `milestones`",
        ),
        (write("type.toml", "epochs = \"two\"\n"), "epochs"),
        (write("bad.json", "{\"epochs\": 1,"), "EOF"),
        (
            write("kind.toml", "[schedule.decay]\nkind = \"linear\"\n"),
            "linear",
        ),
        (
            write("config.yaml", "epochs: 1\n"),
            "expected a .toml or .json file",
        ),
    ];
    for (path, needle) in &cases {
        let o = out(path.file_name().unwrap().to_str().unwrap());
        fails_naming(
            &["pretrain", "--config", s(path), "--out", s(&o), "-q"],
            &[s(path), needle],
        );
    }
    let gone = t.path().join("gone.toml");
    fails_naming(
        &[
            "train-ce",
            "--config",
            s(&gone),
            "--out",
            s(&out("gone")),
            "-q",
        ],
        &[s(&gone)],
    );
    // Values that parse but are invalid are named too.
    let zero = write("zero.toml", "views = 0\n");
    fails_naming(
        &[
            "pretrain",
            "--config",
            s(&zero),
            "--out",
            s(&out("zero")),
            "-q",
        ],
        &["views = 0"],
    );
    // Missing fields otherwise take their defaults: a partial config trains.
    let partial = write(
        "partial.toml",
        &format!(
            "epochs = 1\nbatch_size = 8\n[data]\nspec = \"idx:{}\"\n[model.encoder]\nname = \"mlp\"\n",
            s(&d)
        ),
    );
    let o = out("partial");
    succeeds(&["pretrain", "--config", s(&partial), "--out", s(&o), "-q"]);
}

#[test]
fn resume_from_an_incompatible_run_is_named() {
    let t = tempfile::tempdir().unwrap();
    let (spec, pre) = small_pretrained(t.path());
    let ce = small_ce(t.path(), &spec);
    // A run of the other stage.
    fails_naming(
        &["pretrain", "--resume", s(&ce), "-q"],
        &[s(&ce.join("config.json")), "unknown field `encoder`"],
    );
    fails_naming(
        &["train-ce", "--resume", s(&pre), "-q"],
        &[s(&pre.join("config.json")), "unknown field `method`"],
    );
    // A config whose model no longer fits the checkpoint (one more epoch to run; the
    // report removed as if the run had been killed before the end).
    fs::remove_file(pre.join("report.json")).unwrap();
    let cfg = pre.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&cfg).unwrap()).unwrap();
    c["epochs"] = 2.into();
    c["model"]["head"]["output_dim"] = 16.into();
    fs::write(&cfg, c.to_string()).unwrap();
    fails_naming(
        &["pretrain", "--resume", s(&pre), "-q"],
        &["model.bpk", "shape mismatch"],
    );
    // The same config pointed at other data of the same shape: named, not silently used.
    let other = t.path().join("other");
    idx_dir(&other, &cyclic(24, 4), &cyclic(8, 4));
    c["model"]["head"]["output_dim"] = 128.into();
    c["data"]["spec"] = format!("idx:{}", s(&other)).into();
    fs::write(&cfg, c.to_string()).unwrap();
    fails_naming(
        &["pretrain", "--resume", s(&pre), "-q"],
        &[
            s(&pre.join("data.json")),
            "16 train",
            "24 train",
            "original data",
        ],
    );
    // A corrupt config, and a folder that is not a run.
    fs::write(&cfg, "{\"epochs\": ").unwrap();
    fails_naming(&["pretrain", "--resume", s(&pre), "-q"], &[s(&cfg), "EOF"]);
    fails_naming(
        &["pretrain", "--resume", s(&t.path().join("idx")), "-q"],
        &[s(&t.path().join("idx/config.json")), "not a run directory"],
    );
}

/// Sizes that would exhaust memory are refused by name before anything is allocated.
#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let t = tempfile::tempdir().unwrap();
    let o = t.path().join("run");
    fails_naming(
        &["pretrain", "--proj-dim", "10000000000", "--out", s(&o)],
        &["output_dim = 10000000000", "at most 65536"],
    );
    fails_naming(
        &[
            "pretrain",
            "--memory-bank",
            "10000000000000",
            "--out",
            s(&o),
        ],
        &["memory_bank = 10000000000000", "at most 16 GiB"],
    );
    fails_naming(
        &["pretrain", "--views", "100000000", "--out", s(&o)],
        &["views = 100000000", "at most 64"],
    );
}

/// A probe resumed after its encoder run was retrained would continue on other features:
/// refused, naming the probe's `encoder.json`.
#[test]
fn resuming_a_probe_on_a_changed_encoder_is_named() {
    let t = tempfile::tempdir().unwrap();
    let (spec, pre) = small_pretrained(t.path());
    let other = t.path().join("other");
    succeeds(&pretrain(&spec, s(&other), &["--seed", "5"]));
    let lin = t.path().join("lin");
    succeeds(&[
        "linear",
        "--encoder",
        s(&pre),
        "--epochs",
        "2",
        "--out",
        s(&lin),
        "-q",
    ]);
    assert!(lin.join("encoder.json").is_file());
    // A probe killed before its report: with an unchanged encoder it may be resumed (it
    // has no mid-epoch checkpoint, so it runs again).
    fs::remove_file(lin.join("report.json")).unwrap();
    succeeds(&["linear", "--resume", s(&lin), "-q"]);
    fs::remove_file(lin.join("report.json")).unwrap();
    // The encoder run now holds other weights.
    fs::copy(
        other.join("model.safetensors"),
        pre.join("model.safetensors"),
    )
    .unwrap();
    fails_naming(
        &["linear", "--resume", s(&lin), "-q"],
        &[s(&lin.join("encoder.json")), "start a new linear probe"],
    );
}

/// Flags that would be silently ignored or leave a schedule meaningless are named:
/// configuration flags on `--resume`, augmentation and checkpoints on the linear probe,
/// a warm-up as long as the run, a step milestone the run never reaches.
#[test]
fn ignored_flags_and_unreachable_schedules_are_named() {
    let t = tempfile::tempdir().unwrap();
    let (spec, pre) = small_pretrained(t.path());
    for (cmd, flags) in [
        ("pretrain", &["--epochs", "3"][..]),
        ("pretrain", &["--temperature", "0.5", "--chunk", "4"][..]),
        ("train-ce", &["--lr", "0.1"][..]),
        ("linear", &["--data", "builtin"][..]),
        ("finetune", &["--seed", "3"][..]),
    ] {
        let mut args = vec![cmd, "--resume", s(&pre), "-q"];
        args.extend_from_slice(flags);
        let named: Vec<&str> = flags
            .iter()
            .copied()
            .filter(|f| f.starts_with("--"))
            .collect();
        let mut needles = vec!["cannot be changed on resume"];
        needles.extend(named);
        fails_naming(&args, &needles);
    }
    // A finished run has nothing to resume (the probe would otherwise train again).
    fails_naming(
        &["pretrain", "--resume", s(&pre), "-q"],
        &[s(&pre.join("report.json")), "already finished"],
    );
    let done = t.path().join("done");
    succeeds(&[
        "linear",
        "--encoder",
        s(&pre),
        "--epochs",
        "1",
        "--out",
        s(&done),
        "-q",
    ]);
    fails_naming(
        &["linear", "--resume", s(&done), "-q"],
        &[s(&done.join("report.json")), "already finished"],
    );
    let lin = t.path().join("lin");
    for (flags, named) in [
        (
            &["--checkpoint-every", "0"][..],
            &["checkpoint_every = 0"][..],
        ),
        (
            &["--augment", "crop", "--batch-size", "100000"],
            &["batch size 100000", "larger than the training set"],
        ),
        (&["--augment", "crop2"], &["crop2", "crop, autoaugment"]),
    ] {
        let mut args = vec!["linear", "--encoder", s(&pre), "--out", s(&lin)];
        args.extend(flags);
        fails_naming(&args, named);
    }
    assert!(!lin.exists(), "a refused probe wrote {}", lin.display());
    let o = t.path().join("run");
    fails_naming(
        &pretrain(&spec, s(&o), &["--epochs", "2", "--warmup", "2"]),
        &["warmup_epochs = 2", "2 epochs"],
    );
    fails_naming(
        &pretrain(
            &spec,
            s(&o),
            &["--epochs", "2", "--schedule", "step", "--milestones", "1,2"],
        ),
        &["milestone 2", "0 to 1"],
    );
    // Without --milestones, a step schedule drops at 70/80/90% of the run.
    let ce = t.path().join("ce");
    succeeds(&[
        "train-ce",
        "--data",
        &spec,
        "--model",
        "mlp",
        "--epochs",
        "10",
        "--batch-size",
        "8",
        "--schedule",
        "step",
        "--out",
        s(&ce),
        "-q",
    ]);
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(ce.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["schedule"]["decay"]["milestones"],
        serde_json::json!([7, 8, 9])
    );
}

/// Sizes and counts that would exhaust memory or threads, in config files and flags:
/// refused before anything is allocated or written.
#[test]
fn absurd_sizes_in_config_files_and_thread_counts_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let spec = small_idx(t.path());
    let o = t.path().join("run");
    let write = |name: &str, text: &str| {
        let p = t.path().join(name);
        fs::write(&p, text).unwrap();
        p
    };
    let aug = write("aug.toml", "[augment]\npolicy = \"sim\"\nsize = 100000\n");
    fails_naming(
        &pretrain(&spec, s(&o), &["--config", s(&aug)]),
        &["size", "100000", "at most 4096"],
    );
    let mlp = write(
        "mlp.toml",
        "[model.encoder]\nname = \"mlp\"\nmlp_hidden_dims = [1000000000]\n",
    );
    fails_naming(
        &pretrain(&spec, s(&o), &["--config", s(&mlp)]),
        &["hidden width 1000000000", "at most 65536"],
    );
    // Within each width's bound, but 60000 x 60000 x 4 bytes x 2 layers = 26.8 GiB.
    let wide = write(
        "wide.toml",
        "[model.encoder]\nname = \"mlp\"\nmlp_hidden_dims = [60000, 60000, 60000]\n",
    );
    fails_naming(
        &pretrain(&spec, s(&o), &["--config", s(&wide)]),
        &["GiB", "at most 16 GiB"],
    );
    fails_naming(
        &pretrain(&spec, s(&o), &["--threads", "100000"]),
        &["threads = 100000", "1024"],
    );
    assert!(!o.exists(), "a refused run wrote {}", o.display());
}

/// Settings that would be silently ignored or train nothing are errors.
#[test]
fn settings_that_would_do_nothing_are_named() {
    let t = tempfile::tempdir().unwrap();
    let spec = small_idx(t.path());
    let o = t.path().join("run");
    // ResNet-only flags on the MLP encoder (the helper's runs use --model mlp).
    fails_naming(
        &pretrain(&spec, s(&o), &["--stem", "imagenet"]),
        &["stem = imagenet", "not mlp"],
    );
    fails_naming(
        &pretrain(&spec, s(&o), &["--width", "4"]),
        &["width = 4", "not mlp"],
    );
    fails_naming(
        &[
            "train-ce",
            "--data",
            &spec,
            "--model",
            "mlp",
            "--width",
            "2",
            "--out",
            s(&o),
        ],
        &["width = 2", "not mlp"],
    );
    // SimCLR with one view has no positive at all: its loss is 0 and nothing trains.
    fails_naming(
        &pretrain(&spec, s(&o), &["--method", "simclr", "--views", "1"]),
        &["views = 1", "SimCLR needs at least 2 views"],
    );
    // A warm-up starting from a negative LR would ascend the gradient.
    let cfg = t.path().join("warm.toml");
    fs::write(
        &cfg,
        "[schedule]\nwarmup_epochs = 0.5\nwarmup_start = -5.0\n",
    )
    .unwrap();
    fails_naming(
        &pretrain(&spec, s(&o), &["--config", s(&cfg), "--epochs", "2"]),
        &["warmup_start = -5", "[0, 1]"],
    );
    // A config file must be a table; a new run's device must exist in this binary.
    let array = t.path().join("array.json");
    fs::write(&array, r#"["simclr"]"#).unwrap();
    fails_naming(
        &pretrain(&spec, s(&o), &["--config", s(&array)]),
        &[s(&array), "not an array"],
    );
    if !cfg!(feature = "gpu") {
        let gpu = t.path().join("gpu.toml");
        fs::write(&gpu, "device = \"gpu:0\"\n").unwrap();
        let err = fails_naming(
            &pretrain(&spec, s(&o), &["--config", s(&gpu)]),
            &[s(&gpu), "gpu:0", "without GPU support"],
        );
        assert!(!err.contains("warning"), "{err}");
    }
    assert!(!o.exists(), "a refused run wrote {}", o.display());
    // `supcon run` checks the probe's epochs before the pre-training.
    let r = t.path().join("r");
    fails_naming(
        &[
            "run",
            "--data",
            &spec,
            "--model",
            "mlp",
            "--linear-epochs",
            "0",
            "--out",
            s(&r),
            "-q",
        ],
        &["--linear-epochs 0", "at least 1"],
    );
    assert!(!r.join("supcon").exists(), "stage 1 ran before the check");
    // A directory holding other runs is not trained over; one holding a `run` that
    // stopped part-way names `supcon run --resume`.
    fs::create_dir_all(r.join("supcon")).unwrap();
    fs::write(r.join("supcon/config.json"), "{}").unwrap();
    let run_again = [
        "run",
        "--data",
        &spec,
        "--model",
        "mlp",
        "--out",
        s(&r),
        "-q",
    ];
    fails_naming(
        &run_again,
        &["already holds runs (supcon)", "pick another --out"],
    );
    fs::write(r.join("run.json"), "{}").unwrap();
    fails_naming(
        &run_again,
        &[
            "unfinished `supcon run`",
            &format!("supcon run --resume {}", s(&r)),
        ],
    );
    fails_naming(
        &["run", "--resume", s(&r), "-q"],
        &[s(&r.join("run.json")), "not a valid run.json"],
    );
    fails_naming(
        &["run", "--resume", s(&t.path().join("nothing")), "-q"],
        &["not a `supcon run` directory (no run.json)"],
    );
}

/// A saved `config.json` reused on other data: the MLP's input size and the channels come
/// from the new data, whatever the file recorded.
#[test]
fn a_saved_config_reused_on_other_data_fits_the_new_images() {
    let t = tempfile::tempdir().unwrap();
    let (spec, pre) = small_pretrained(t.path()); // MLP on 1 x 8 x 8 IDX images
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pre.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["encoder"]["input_dim"], 64);
    let ce = small_ce(t.path(), &spec);
    let colour = t.path().join("cifar");
    fs::create_dir_all(&colour).unwrap();
    for (name, n) in [("data_batch_1.bin", 16), ("test_batch.bin", 8)] {
        fs::write(colour.join(name), cifar10(n)).unwrap();
    }
    let spec = format!("cifar10:{}", s(&colour));
    for (command, from, out) in [("pretrain", &pre, "p2"), ("train-ce", &ce, "c2")] {
        let out = t.path().join(out);
        succeeds(&[
            command,
            "--config",
            s(&from.join("config.json")),
            "--data",
            &spec,
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--out",
            s(&out),
            "-q",
        ]);
        let saved: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
        let encoder = if command == "pretrain" {
            &saved["model"]["encoder"]
        } else {
            &saved["encoder"]
        };
        assert_eq!(encoder["input_dim"], 3 * 32 * 32, "{command}");
        assert_eq!(encoder["in_channels"], 3, "{command}");
    }
}

/// `linear --encoder` takes a `supcon run` output (its `supcon/` stage) and names a
/// cross-entropy run for what it is.
#[test]
fn linear_takes_a_run_output_and_names_a_cross_entropy_run() {
    let t = tempfile::tempdir().unwrap();
    let (spec, pre) = small_pretrained(t.path());
    let run = t.path().join("suite");
    fs::create_dir_all(&run).unwrap();
    fs::rename(&pre, run.join("supcon")).unwrap();
    let lin = t.path().join("lin");
    succeeds(&[
        "linear",
        "--encoder",
        s(&run),
        "--epochs",
        "1",
        "--out",
        s(&lin),
        "-q",
    ]);
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(lin.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["encoder_run"], s(&run.join("supcon")));
    let ce = small_ce(t.path(), &spec);
    fails_naming(
        &[
            "linear",
            "--encoder",
            s(&ce),
            "--out",
            s(&t.path().join("l2")),
            "-q",
        ],
        &[
            s(&ce),
            "cross-entropy or fine-tuning run",
            "supcon eval --model",
        ],
    );
}

/// `supcon bench KIND` with `defaults` as flag/value pairs, each replaced by the value
/// `overrides` gives for the same flag (or added).
fn bench_args(kind: &str, defaults: &[(&str, &str)], overrides: &[(&str, &str)]) -> Vec<String> {
    let mut args = vec!["bench".to_string(), kind.to_string()];
    let mut pairs: Vec<(&str, &str)> = defaults.to_vec();
    for &(flag, value) in overrides {
        match pairs.iter_mut().find(|(f, _)| *f == flag) {
            Some(pair) => pair.1 = value,
            None => pairs.push((flag, value)),
        }
    }
    for (flag, value) in pairs {
        args.push(flag.to_string());
        args.push(value.to_string());
    }
    args
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `bench` and `report` sizes: zero is refused by flag name (no panic, no silent clamp),
/// and sizes that would exhaust memory are refused before anything is allocated.
#[test]
fn bench_and_report_sizes_are_named() {
    let step = |overrides: &[(&str, &str)]| {
        let defaults = [
            ("--model", "resnet-tiny"),
            ("--batch", "4"),
            ("--size", "8"),
            ("--channels", "1"),
            ("--steps", "1"),
        ];
        bench_args("step", &defaults, overrides)
    };
    let loss = |overrides: &[(&str, &str)]| {
        let defaults = [("--batch", "8"), ("--dim", "4"), ("--reps", "1")];
        bench_args("loss", &defaults, overrides)
    };
    for (overrides, needles) in [
        (
            &[("--size", "0")][..],
            &["--size 0: expected at least 1"][..],
        ),
        (
            &[("--channels", "0")],
            &["--channels 0: expected at least 1"],
        ),
        (
            &[("--size", "100000")],
            &["--size 100000: expected at most 4096"],
        ),
        (
            &[("--views", "100000")],
            &["--views 100000: expected at most 64"],
        ),
        (
            &[("--batch", "100000000000")],
            &["--batch 100000000000", "GiB; expected at most 16 GiB"],
        ),
    ] {
        fails_naming(&refs(&step(overrides)), needles);
    }
    for (overrides, needles) in [
        (
            &[("--classes", "0")][..],
            &["--classes 0: expected at least 1"][..],
        ),
        (&[("--block", "0")], &["--block 0: expected at least 1"]),
        (
            &[("--dim", "100000000000")],
            &[
                "--dim 100000000000",
                "tiled loss",
                "expected at most 16 GiB",
            ],
        ),
        (
            &[("--batch", "100000000000")],
            &["--batch 100000000000", "expected at most 16 GiB"],
        ),
        // The plain loss holds m x m matrices: 200,000 rows need hundreds of GiB.
        (
            &[("--impl", "plain"), ("--batch", "100000")],
            &["--batch 100000", "plain loss", "expected at most 16 GiB"],
        ),
    ] {
        fails_naming(&refs(&loss(overrides)), needles);
    }
    // In-range values run and are reported as given.
    let (out, _) = succeeds(&refs(&loss(&[("--classes", "1"), ("--block", "3")])));
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["block"], 3);
    assert_eq!(line["batch"], 8);
    let (out, _) = succeeds(&refs(&step(&[("--views", "1")])));
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (line["size"].as_u64(), line["views"].as_u64()),
        (Some(8), Some(1))
    );

    let t = tempfile::tempdir().unwrap();
    let html = t.path().join("r.html");
    fails_naming(
        &[
            "report",
            s(t.path()),
            "--pca-points",
            "0",
            "--out",
            s(&html),
        ],
        &["--pca-points 0: expected at least 1"],
    );
    assert!(!html.exists());
}

/// `data --shots K --limit N` shows what training uses (`--limit` after `--shots`, as in
/// `DataConfig::load`) and says so on stderr, since classes then no longer have K each.
#[test]
fn data_with_shots_and_limit_says_limit_applies_after_shots() {
    let summary = |stdout: &str| -> serde_json::Value { serde_json::from_str(stdout).unwrap() };
    let (out, err) = succeeds(&["data", "--shots", "3", "--limit", "10"]);
    assert_eq!(summary(&out)["train_count"], 10);
    assert!(
        err.contains("--limit 10 applies after --shots 3, as in training: 10 of the 30")
            && err.contains("no longer have exactly 3"),
        "{err}"
    );
    // Training loads the same 10 images.
    let trained = supcon::train::DataConfig {
        shots: Some(3),
        limit: Some(10),
        ..Default::default()
    }
    .load(0)
    .unwrap();
    assert_eq!(trained.train.len(), 10);
    let (out, err) = succeeds(&["data", "--shots", "3", "--limit", "40"]);
    assert_eq!(summary(&out)["train_count"], 30);
    assert!(
        err.contains("keeps all 30") && err.contains("no effect"),
        "{err}"
    );
    // Either flag alone: no note.
    let (out, err) = succeeds(&["data", "--shots", "3"]);
    assert_eq!(summary(&out)["train_count"], 30);
    assert!(!err.contains("note"), "{err}");
}

#[test]
fn distributed_training_is_refused_by_the_commands_that_train_in_one_process() {
    // Only `pretrain` trains over MPI ranks; the others say so rather than train alone
    // on every rank of an `mpirun` job.
    for args in [
        &["train-ce", "--distributed", "mpi", "--data", "builtin"][..],
        &["linear", "--distributed", "mpi", "--encoder", "nowhere"][..],
        &["finetune", "--distributed", "mpi", "--encoder", "nowhere"][..],
    ] {
        let err = fails_naming(
            args,
            &[
                "--distributed mpi is not offered",
                &format!("`supcon {}`", args[0]),
                "supcon pretrain --distributed mpi",
            ],
        );
        assert!(
            !err.contains("nowhere"),
            "refused before any input is read: {err}"
        );
    }
}
