//! End-to-end tests of the training commands with the real binary on a tiny generated
//! IDX dataset: every stage runs, resume equals an uninterrupted run, the linear probe
//! leaves the encoder unchanged, bad flags fail clearly, every command has `--help`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{copy_dir, ok, records, step_losses, supcon};

fn fail(args: &[&str]) -> String {
    let out = supcon(args);
    assert!(!out.status.success(), "supcon {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    err
}

fn pretrain_args<'a>(spec: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "pretrain",
        "--data",
        spec,
        "--epochs",
        epochs,
        "--batch-size",
        "16",
        "--lr",
        "0.05",
        "--seed",
        "3",
        "--out",
        out,
        "--quiet",
    ]
}

#[test]
fn every_stage_runs_two_epochs_and_writes_its_run_directory() {
    let f = common::idx_fixture(48);
    let pre = f.root.join("pre");
    let pre_s = pre.to_str().unwrap();
    let report: Value =
        serde_json::from_str(ok(&pretrain_args(&f.spec, pre_s, "2")).trim()).unwrap();
    assert_eq!(report["epochs"], 2);
    assert!(report["final_loss"].as_f64().unwrap() > 0.0);
    for file in [
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "report.json",
    ] {
        assert!(pre.join(file).is_file(), "{file}");
    }
    assert!(pre.join("checkpoints/epoch-0002/state.json").is_file());
    // 48 samples, batch 16, drop_last: 3 steps per epoch.
    let steps = step_losses(&pre);
    assert_eq!(
        steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let config: Value =
        serde_json::from_str(&fs::read_to_string(pre.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["encoder"]["in_channels"], 1);
    assert_eq!(config["loss"]["temperature"], 0.1);
    // --lr is the LR itself (the default, 0.125 per 256 samples, scales with the batch).
    assert_eq!(config["schedule"]["base_lr"], 0.05);
    assert_eq!(config["schedule"]["scale_by_batch"], false);

    let lin = f.root.join("lin");
    let out: Value = serde_json::from_str(
        ok(&[
            "linear",
            "--encoder",
            pre_s,
            "--epochs",
            "2",
            "--out",
            lin.to_str().unwrap(),
            "-q",
        ])
        .trim(),
    )
    .unwrap();
    // The runs are deterministic (fixed seed, bit-identical across thread counts); on
    // 4 classes (chance 0.25) with 24 test images, seed 3 gave SupCon epoch losses
    // 3.60 -> 3.36, a probe top-1 of 0.54 and a CE top-1 of 0.96. The bounds leave room
    // for numerical changes but not for training that does nothing.
    let epoch_losses: Vec<f64> = records(&pre)
        .iter()
        .filter_map(|r| r["epoch_loss"].as_f64())
        .collect();
    assert_eq!(epoch_losses.len(), 2, "{epoch_losses:?}");
    assert!(
        epoch_losses[1] < epoch_losses[0] - 0.1,
        "SupCon loss did not go down: {epoch_losses:?}"
    );
    let top1 = out["top1"].as_f64().unwrap();
    assert!(top1 > 0.4, "probe top-1 {top1} is near chance (0.25)");
    assert!(out["top5"].as_f64().unwrap() >= top1);
    assert!(lin.join("classifier.safetensors").is_file());

    let ce = f.root.join("ce");
    let out: Value = serde_json::from_str(
        ok(&[
            "train-ce",
            "--data",
            &f.spec,
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--out",
            ce.to_str().unwrap(),
            "-q",
        ])
        .trim(),
    )
    .unwrap();
    let top1 = out["top1"].as_f64().unwrap();
    assert!(
        top1 > 0.7,
        "cross-entropy top-1 {top1} is near chance (0.25)"
    );
    assert!(ce.join("checkpoints/epoch-0002/state.json").is_file());
}

#[test]
fn joint_training_logs_a_classifier_loss_and_simclr_runs_without_labels() {
    let f = common::idx_fixture(48);
    let joint = f.root.join("joint");
    let mut args = pretrain_args(&f.spec, joint.to_str().unwrap(), "1");
    args.push("--joint");
    ok(&args);
    assert!(joint.join("classifier.safetensors").is_file());
    assert!(
        records(&joint)
            .iter()
            .any(|r| r["ce_loss"].as_f64().is_some_and(|v| v > 0.0))
    );

    let sim = f.root.join("sim");
    let mut args = pretrain_args(&f.spec, sim.to_str().unwrap(), "1");
    args.extend(["--method", "simclr"]);
    ok(&args);
    let cfg: Value =
        serde_json::from_str(&fs::read_to_string(sim.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["method"], "simclr");
    // SimCLR's own default temperature (SupCon's is 0.1).
    assert_eq!(cfg["loss"]["temperature"], 0.5);

    let bad = f.root.join("bad");
    let mut args = pretrain_args(&f.spec, bad.to_str().unwrap(), "1");
    args.extend(["--method", "simclr", "--joint"]);
    assert!(fail(&args).contains("--joint needs labels"));
}

#[test]
fn resume_after_a_crash_reproduces_the_uninterrupted_loss_curve() {
    let f = common::idx_fixture(48);
    let full = f.root.join("full");
    ok(&pretrain_args(&f.spec, full.to_str().unwrap(), "3"));

    // What a crash during epoch 3 leaves: checkpoints of epochs 1-2, the metrics of
    // epoch 3's first steps, no final weights.
    let crashed = f.root.join("crashed");
    copy_dir(&full, &crashed);
    fs::remove_dir_all(crashed.join("checkpoints/epoch-0003")).unwrap();
    fs::remove_file(crashed.join("model.safetensors")).unwrap();
    fs::remove_file(crashed.join("report.json")).unwrap();
    ok(&["pretrain", "--resume", crashed.to_str().unwrap(), "--quiet"]);

    let a = step_losses(&full);
    let b = step_losses(&crashed);
    assert_eq!(a.len(), 9);
    assert_eq!(a, b, "resumed loss curve differs");
    assert!(crashed.join("checkpoints/epoch-0003/state.json").is_file());
    // Only the newest checkpoints are kept.
    assert!(!full.join("checkpoints/epoch-0001").exists());
}

#[test]
fn linear_probe_leaves_the_encoder_unchanged() {
    use supcon::train::linear::{fingerprint, load_encoder};
    let f = common::idx_fixture(48);
    let pre = f.root.join("pre");
    ok(&pretrain_args(&f.spec, pre.to_str().unwrap(), "1"));
    let weights_before = fs::read(pre.join("model.safetensors")).unwrap();
    let (encoder, source) = load_encoder(&pre, &burn::tensor::Device::flex()).unwrap();
    let supcon::train::linear::EncoderSource::Pretrain(config) = source else {
        panic!("{} is a pre-training run", pre.display());
    };
    let before = fingerprint(&encoder);
    // An evaluation-mode forward pass (what the probe does) must not touch BatchNorm
    // statistics or weights.
    let data = config.data.load(0).unwrap();
    let feats = supcon::train::features::map_split(
        &data,
        &data.train,
        16,
        &burn::tensor::Device::flex(),
        |x| encoder.forward(x),
    )
    .unwrap();
    assert_eq!(feats.rows, 48);
    assert_eq!(fingerprint(&encoder), before);
    ok(&[
        "linear",
        "--encoder",
        pre.to_str().unwrap(),
        "--epochs",
        "1",
        "--out",
        f.root.join("lin").to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        fs::read(pre.join("model.safetensors")).unwrap(),
        weights_before
    );
}

/// `linear --augment crop`: the probe trains on augmented images encoded batch by batch
/// (the SupContrast reference's linear stage) and still learns; `--augment none` is the
/// cached default; `--checkpoint-every` writes epoch checkpoints.
#[test]
fn augmented_linear_probe_trains_on_augmented_images() {
    let f = common::idx_fixture(48);
    let pre = f.root.join("pre");
    ok(&pretrain_args(&f.spec, pre.to_str().unwrap(), "2"));
    let weights_before = fs::read(pre.join("model.safetensors")).unwrap();
    let probe = |name: &str, extra: &[&str]| -> (PathBuf, Value) {
        let out = f.root.join(name);
        let mut args = vec![
            "linear",
            "--encoder",
            pre.to_str().unwrap(),
            "--epochs",
            "6",
            "--batch-size",
            "16",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ];
        args.extend(extra);
        let report = serde_json::from_str(ok(&args).trim()).unwrap();
        (out, report)
    };
    let epoch_losses = |run: &Path| -> Vec<f64> {
        records(run)
            .iter()
            .filter_map(|r| r["epoch_loss"].as_f64())
            .collect()
    };
    let (cached, cached_report) = probe("cached", &[]);
    let (none, _) = probe("none", &["--augment", "none"]);
    let (aug, aug_report) = probe("aug", &["--augment", "crop", "--checkpoint-every", "2"]);

    // `none` is the cached probe, bit for bit.
    assert_eq!(epoch_losses(&cached), epoch_losses(&none));
    let config: Value =
        serde_json::from_str(&fs::read_to_string(none.join("config.json")).unwrap()).unwrap();
    assert!(config["augment"].is_null(), "{config}");

    // The augmented probe saw other inputs (48 samples, batch 16: 3 steps per epoch
    // either way), so its losses differ in every epoch, and it still learns: seed 3 gave
    // test top-1 1.0 for both probes on 4 classes (chance 0.25), training top-1 0.98
    // (augmented) and 1.0 (cached).
    let (a, c) = (epoch_losses(&aug), epoch_losses(&cached));
    assert_eq!(a.len(), 6);
    assert!(a.iter().zip(&c).all(|(x, y)| x != y), "{a:?} vs {c:?}");
    let top1 = aug_report["top1"].as_f64().unwrap();
    assert!(top1 > 0.4, "augmented probe top-1 {top1} is near chance");
    assert!(cached_report["top1"].as_f64().unwrap() > 0.4);
    // The training accuracy is measured on the un-augmented images.
    assert!(aug_report["train_top1"].as_f64().unwrap() > 0.4);
    let config: Value =
        serde_json::from_str(&fs::read_to_string(aug.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["augment"]["policy"], "crop");
    assert_eq!(config["checkpoint_every"], 2);
    assert!(aug.join("checkpoints/epoch-0006/state.json").is_file());
    assert!(aug.join("checkpoints/epoch-0004/state.json").is_file());
    let cached_checkpoints = fs::read_dir(cached.join("checkpoints"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        cached_checkpoints, 0,
        "only an interruption checkpoints by default"
    );
    assert_eq!(
        fs::read(pre.join("model.safetensors")).unwrap(),
        weights_before
    );
}

#[test]
fn bad_flags_fail_with_a_message_naming_them() {
    let f = common::idx_fixture(48);
    let out = f.root.join("x");
    let o = out.to_str().unwrap();
    let mut args = pretrain_args(&f.spec, o, "1");
    args[6] = "0"; // --batch-size 0
    assert!(fail(&args).contains("batch_size = 0"));
    assert!(fail(&["pretrain", "--model", "resnet7", "--out", o]).contains("resnet7"));
    assert!(fail(&["pretrain", "--optimizer", "adagrad", "--out", o]).contains("adagrad"));
    let err = fail(&[
        "pretrain",
        "--data",
        "idx:/nonexistent/dir",
        "--epochs",
        "1",
        "--out",
        o,
        "-q",
    ]);
    assert!(err.contains("/nonexistent/dir"), "{err}");
    let mut args = pretrain_args(&f.spec, o, "1");
    args[6] = "100";
    assert!(fail(&args).contains("larger than the training set"));
    assert!(fail(&["linear", "--encoder", "/nonexistent/run", "-q"]).contains("/nonexistent/run"));
    assert!(fail(&["pretrain", "--resume", "/nonexistent/run"]).contains("/nonexistent/run"));
    let mut args = pretrain_args(&f.spec, o, "1");
    args[8] = "1e30"; // --lr: the loss diverges
    let err = fail(&args);
    assert!(
        err.contains("training stopped") && err.contains("step"),
        "{err}"
    );
}

#[test]
fn every_command_has_help() {
    let out = ok(&["--help"]);
    let commands: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 6, "{commands:?}");
    for cmd in commands {
        let text = ok(&[cmd, "--help"]);
        assert!(text.contains("Usage: supcon"), "{cmd}: {text}");
    }
    for sub in ["loss", "step", "augment"] {
        assert!(ok(&["bench", sub, "--help"]).contains("Usage"));
    }
}

#[test]
fn the_mlp_encoder_takes_its_input_size_from_the_data() {
    let f = common::idx_fixture(48);
    let pre = f.root.join("mlp");
    let mut args = pretrain_args(&f.spec, pre.to_str().unwrap(), "1");
    args.extend(["--model", "mlp"]);
    ok(&args);
    let config: Value =
        serde_json::from_str(&fs::read_to_string(pre.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["encoder"]["input_dim"], 144);
    let ce = f.root.join("mlp-ce");
    ok(&[
        "train-ce",
        "--data",
        &f.spec,
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--out",
        ce.to_str().unwrap(),
        "-q",
    ]);
}

#[test]
fn chunked_and_tiled_pretraining_run_from_the_command_line() {
    let f = common::idx_fixture(48);
    for (name, extra) in [
        ("chunk", ["--chunk", "8"]),
        ("tiled", ["--loss-impl", "tiled"]),
    ] {
        let out = f.root.join(name);
        let mut args = pretrain_args(&f.spec, out.to_str().unwrap(), "1");
        args.extend(extra);
        ok(&args);
        let losses = step_losses(&out);
        assert_eq!(losses.len(), 3, "{name}");
        assert!(
            losses.iter().all(|(_, l)| l.is_finite() && *l > 0.0),
            "{name}: {losses:?}"
        );
    }
}
