//! Run manifests: every output directory says what it is in `manifest.json`, and
//! directories written before manifests existed still open.
//!
//! `tests/fixtures/legacy_runs/` holds a pre-training run and its linear probe as this
//! version writes them, less `manifest.json`, the lock file and `checkpoints/` (made with
//! `supcon pretrain --data builtin --limit 40 --test-limit 20 --epochs 1 --batch-size 10
//! --proj-dim 8 --out pretrain` and `supcon linear --encoder pretrain --epochs 1
//! --batch-size 10 --out linear`, then those files removed).

mod common;

use std::path::Path;

use supcon::infer::{ModelDir, ModelKind};
use supcon::train::{MANIFEST, RunKind, read_manifest};

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A copy of the checked-in legacy runs (commands write into the runs they read).
fn legacy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(Path::new("tests/fixtures/legacy_runs"), tmp.path());
    tmp
}

#[test]
fn runs_without_a_manifest_open_for_every_reader() {
    let tmp = legacy();
    let (pre, probe) = (tmp.path().join("pretrain"), tmp.path().join("linear"));
    assert!(!pre.join(MANIFEST).exists() && !probe.join(MANIFEST).exists());
    let m = read_manifest(&pre).unwrap();
    assert_eq!((m.kind, m.format_version), (RunKind::Pretrain, 0));
    assert_eq!(read_manifest(&probe).unwrap().kind, RunKind::Linear);
    assert_eq!(ModelDir::open(&probe).unwrap().kind(), ModelKind::Linear);
    assert_eq!(ModelDir::open(&pre).unwrap().kind(), ModelKind::Pretrain);
    // `eval` reproduces the probe's own test top-1.
    let out = tmp.path().join("eval.json");
    common::ok(&["eval", "--model", &s(&probe), "--out", &s(&out), "--quiet"]);
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(probe.join("report.json")).unwrap()).unwrap();
    assert_eq!(eval["clean"]["top1"], report["test"]["top1"], "{eval}");
    // A new probe on the legacy encoder carries a manifest naming what it was made from.
    let fresh = tmp.path().join("probe2");
    common::ok(&[
        "linear",
        "--encoder",
        &s(&pre),
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
        "--out",
        &s(&fresh),
    ]);
    let m = read_manifest(&fresh).unwrap();
    assert_eq!(m.kind, RunKind::Linear);
    assert_eq!(m.format_version, supcon::train::manifest::MANIFEST_VERSION);
    assert_eq!(m.made_from.runs, std::slice::from_ref(&pre));
    assert_eq!(m.made_from.data.as_deref(), Some("builtin"));
}

#[test]
fn every_command_that_makes_an_output_writes_its_kind() {
    let tmp = legacy();
    let pre = tmp.path().join("pretrain");
    let common_args = [
        "--data",
        "builtin",
        "--limit",
        "20",
        "--test-limit",
        "10",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
    ];
    let run = |args: &[&str], out: &Path| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--out".to_string(), s(out)]);
        common::ok(&all);
        read_manifest(out).unwrap().kind
    };
    let p = tmp.path().join("p");
    let mut args = vec!["pretrain", "--proj-dim", "8"];
    args.extend(common_args);
    assert_eq!(run(&args, &p), RunKind::Pretrain);
    let mut args = vec!["train-ce"];
    args.extend(common_args);
    assert_eq!(run(&args, &tmp.path().join("c")), RunKind::Ce);
    let pre_s = s(&pre);
    let args = [
        "finetune",
        "--encoder",
        &pre_s,
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
    ];
    let f = tmp.path().join("f");
    assert_eq!(run(&args, &f), RunKind::Finetune);
    assert_eq!(
        read_manifest(&f).unwrap().made_from.runs,
        std::slice::from_ref(&pre)
    );
    let f_s = s(&f);
    let args = ["export", "--model", &f_s];
    assert_eq!(run(&args, &tmp.path().join("e")), RunKind::Export);
    // A `supcon run` and a sweep say what they are too.
    let data = [
        "--data",
        "builtin",
        "--limit",
        "40",
        "--test-limit",
        "20",
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--linear-epochs",
        "1",
        "--quiet",
    ];
    let mut args = vec!["run"];
    args.extend(data);
    assert_eq!(run(&args, &tmp.path().join("r")), RunKind::Run);
    let mut args = vec!["sweep", "--grid", "lr=0.05", "--methods", "supcon"];
    args.extend(data);
    assert_eq!(run(&args, &tmp.path().join("s")), RunKind::Sweep);
}
