//! Proof that restructuring the training code changes no number: a fixed-seed run of every
//! training stage (pre-training plain, chunked, over two CPU devices, with a memory bank and
//! a momentum encoder, joint; cross-entropy; fine-tuning; the linear probe cached and
//! augmented) must log the same records (every loss, LR and test metric, timings left out)
//! and write the same weight files, bit for bit, as `tests/fixtures/golden_stages.json`.
//!
//! The fixture was recorded with
//! `SUPCON_RECORD_GOLDEN=1 cargo test --release --test golden_stages` at commit 5613609
//! (before the single trainer), on a machine with AVX-512. The matrix kernels pick their
//! SIMD width at run time, so on a machine with another width the floats round
//! differently: there the records are compared to 1e-3 relative and the weight hashes are
//! not compared, and the test says so.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

const FIXTURE: &str = "tests/fixtures/golden_stages.json";

/// The SIMD width the matrix kernels use on this machine.
fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "other"
}

/// FNV-1a over a safetensors file's tensors in name order (names and raw bytes; the
/// header's order is not part of it), as hex.
fn hash_file(path: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, bytes) in common::safetensors(path) {
        for byte in name.bytes().chain(bytes) {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// What a finished run leaves that must not change: its metrics records without the
/// timing fields and the warning records, and the hash of each weight file.
fn summarise(run: &Path) -> Value {
    // Warnings (a loss near chance, issue 22) are words about the numbers, not numbers.
    let records: Vec<Value> = common::records(run)
        .into_iter()
        .filter(|r| r.get("warning").is_none())
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.remove("seconds");
                o.remove("images_per_second");
            }
            r
        })
        .collect();
    let mut weights = Map::new();
    let mut names: Vec<_> = fs::read_dir(run)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    names.sort();
    for name in names {
        weights.insert(name.clone(), Value::String(hash_file(&run.join(&name))));
    }
    serde_json::json!({"records": records, "weights": weights})
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Every stage, in an order where each one's inputs exist.
fn run_all(root: &Path) -> BTreeMap<String, Value> {
    let data = [
        "--data",
        "builtin",
        "--limit",
        "48",
        "--test-limit",
        "40",
        "--seed",
        "3",
        "--quiet",
    ];
    let pretrain = |name: &str, extra: &[&str]| -> (String, Vec<String>) {
        let out = root.join(name);
        let mut args = strings(&["pretrain", "--epochs", "2", "--batch-size", "12"]);
        args.extend(strings(&data));
        args.extend(strings(extra));
        args.push("--out".into());
        args.push(out.display().to_string());
        (name.to_string(), args)
    };
    let p = |n: &str| root.join(n).display().to_string();
    let mut runs = vec![
        pretrain("pretrain", &[]),
        pretrain("pretrain-chunk", &["--chunk", "8"]),
        pretrain("pretrain-devices", &["--devices", "cpu,cpu"]),
        pretrain(
            "pretrain-bank",
            &["--memory-bank", "30", "--momentum-encoder", "0.9"],
        ),
        pretrain("pretrain-joint", &["--joint"]),
    ];
    let mut ce = strings(&["train-ce", "--epochs", "2", "--batch-size", "12"]);
    ce.extend(strings(&data));
    ce.extend(["--out".into(), p("ce")]);
    runs.push(("ce".into(), ce));
    let mut finetune = strings(&[
        "finetune",
        "--epochs",
        "1",
        "--batch-size",
        "12",
        "--seed",
        "3",
        "--quiet",
    ]);
    finetune.extend([
        "--encoder".into(),
        p("pretrain"),
        "--out".into(),
        p("finetune"),
    ]);
    runs.push(("finetune".into(), finetune));
    for (name, extra) in [
        ("linear", &[][..]),
        ("linear-augmented", &["--augment", "sim"][..]),
    ] {
        let mut args = strings(&[
            "linear",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--seed",
            "3",
            "--quiet",
        ]);
        args.extend(strings(extra));
        args.extend(["--encoder".into(), p("pretrain"), "--out".into(), p(name)]);
        runs.push((name.into(), args));
    }
    let mut out = BTreeMap::new();
    for (name, args) in runs {
        common::ok(&args);
        out.insert(name.clone(), summarise(&root.join(&name)));
    }
    out
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-3 * x.abs().max(y.abs()).max(1e-3)
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| close(v, w))
        }
        _ => a == b,
    }
}

#[test]
fn every_stage_gives_the_recorded_losses_and_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let got = run_all(tmp.path());
    if std::env::var_os("SUPCON_RECORD_GOLDEN").is_some() {
        let mut all: Map<String, Value> = fs::read_to_string(FIXTURE)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        all.insert(simd().into(), serde_json::to_value(&got).unwrap());
        fs::write(FIXTURE, serde_json::to_string_pretty(&all).unwrap() + "\n").unwrap();
        return;
    }
    let all: Map<String, Value> =
        serde_json::from_str(&fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let exact = all.get(simd());
    let recorded = exact.unwrap_or_else(|| {
        eprintln!(
            "note: no golden records for SIMD width {}; comparing records to 1e-3 relative \
             against another width's, weights unchecked",
            simd()
        );
        all.values().next().unwrap()
    });
    for (name, summary) in &got {
        let want = &recorded[name];
        if exact.is_some() {
            assert_eq!(
                summary["records"], want["records"],
                "{name}: metrics records differ from the golden run"
            );
            assert_eq!(
                summary["weights"], want["weights"],
                "{name}: weight files differ from the golden run"
            );
        } else {
            assert!(
                close(&summary["records"], &want["records"]),
                "{name}: metrics records differ from the golden run beyond 1e-3:\n{}\n{}",
                summary["records"],
                want["records"]
            );
        }
    }
    assert_eq!(got.len(), recorded.as_object().unwrap().len());
}
