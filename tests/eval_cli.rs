//! `supcon eval` and `supcon sweep` end to end with the real binary on a small subset of
//! the built-in dataset (1-2 epochs): the eval JSON has every field with values in range,
//! clean metrics equal the training run's own report (same preprocessing), corruption
//! results are deterministic, mCE and relative mCE are computed against the baseline's
//! errors, bad flags fail naming the flag and value, and a sweep reports mean / spread /
//! worst / best per method.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

mod common;
use common::{ok, supcon};

/// Runs a command that must fail; returns its stderr.
fn fail(args: &[&str]) -> String {
    let out = supcon(args);
    assert!(!out.status.success(), "supcon {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A `supcon run` output (supcon/, linear/, ce/) on 300 training and 100 test images of
/// the built-in dataset, trained once for the whole file.
fn suite() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let out = root.join("suite");
        ok(&[
            "run",
            "--data",
            "builtin",
            "--limit",
            "300",
            "--test-limit",
            "100",
            "--epochs",
            "2",
            "--batch-size",
            "50",
            "--linear-epochs",
            "10",
            "--out",
            s(&out),
            "-q",
        ]);
        out
    })
}

/// Writes a 10-class IDX dataset of `side` x `side` grayscale images (20 train, 10 test).
fn write_idx(dir: &Path, side: usize) {
    fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", 20usize), ("t10k", 10)] {
        let mut images = vec![0u8, 0, 8, 3];
        let mut labels = vec![0u8, 0, 8, 1];
        for v in [n, side, side] {
            images.extend((v as u32).to_be_bytes());
        }
        labels.extend((n as u32).to_be_bytes());
        for i in 0..n {
            labels.push((i % 10) as u8);
            images.extend((0..side * side).map(|p| ((p * 7 + i * 29) % 256) as u8));
        }
        fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

fn in_unit(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!((0.0..=1.0).contains(&x), "{what} = {x} is outside [0, 1]");
    x
}

const CORRUPTIONS: &str = "gaussian_noise,contrast";
const SEVERITIES: &str = "1,5";

#[test]
fn eval_reports_every_metric_and_normalises_mce_by_the_baseline() {
    let suite = suite();
    let tmp = tempfile::tempdir().unwrap();
    let (lin, ce) = (suite.join("linear"), suite.join("ce"));
    let lin_json = tmp.path().join("linear.json");
    let ce_json = tmp.path().join("ce.json");
    let stdout = ok(&[
        "eval",
        "--model",
        s(&lin),
        "--corruptions",
        CORRUPTIONS,
        "--severities",
        SEVERITIES,
        "--baseline",
        s(&ce),
        "--knn",
        "--few-shot",
        "1,2",
        "--few-shot-seeds",
        "2",
        "--few-shot-epochs",
        "20",
        "--out",
        s(&lin_json),
        "-q",
    ]);
    assert!(
        stdout.contains("top-1") && stdout.contains("mCE"),
        "{stdout}"
    );
    let r = read(&lin_json);
    assert_eq!(r["kind"], "linear");
    assert_eq!(r["num_classes"], 10);
    assert_eq!(r["class_names"].as_array().unwrap().len(), 10);

    // Clean metrics: ranges, and equal to the probe's own report (same test subset, same
    // preprocessing as training).
    let clean = &r["clean"];
    assert_eq!(clean["samples"], 100);
    let top1 = in_unit(&clean["top1"], "top1");
    let top5 = in_unit(&clean["top5"], "top5");
    assert!(top5 >= top1);
    let report = read(&lin.join("report.json"));
    assert_eq!(clean["top1"], report["test"]["top1"]);
    assert_eq!(
        clean["calibration"]["ece"],
        report["test"]["calibration"]["ece"]
    );
    let cal = &clean["calibration"];
    let ece = in_unit(&cal["ece"], "ece");
    let mce = in_unit(&cal["mce"], "mce");
    assert!(mce >= ece - 1e-12);
    assert!(cal["nll"].as_f64().unwrap() > 0.0);
    let bins = cal["bins"].as_array().unwrap();
    assert_eq!(bins.len(), 15);
    let counted: u64 = bins.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 100);

    // Per-class accuracy and the confusion matrix agree with top-1.
    let per_class = r["per_class_accuracy"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    let counts = r["confusion_matrix"]["counts"].as_array().unwrap();
    assert_eq!(counts.len(), 10);
    let (mut total, mut diag) = (0u64, 0u64);
    for (t, row) in counts.iter().enumerate() {
        let row: Vec<u64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        total += row.iter().sum::<u64>();
        diag += row[t];
        if let Some(a) = per_class[t].as_f64() {
            assert!((a - row[t] as f64 / row.iter().sum::<u64>() as f64).abs() < 1e-12);
        }
    }
    assert_eq!(total, 100);
    assert!((diag as f64 / 100.0 - top1).abs() < 1e-12);

    // k-NN and few-shot.
    assert_eq!(r["knn"]["k"], 200);
    assert_eq!(r["knn"]["train_samples"], 300);
    let knn = in_unit(&r["knn"]["top1"], "knn top1");
    // The same k-NN recomputed by brute force from `supcon embed`'s encoder features of
    // the run's training and test images: eval votes with the right features and sets.
    let features = |split: &str| {
        let out = tmp.path().join(format!("{split}.npy"));
        ok(&[
            "embed",
            "--model",
            s(&lin),
            "--split",
            split,
            "--out",
            s(&out),
        ]);
        let (_, shape, data) = common::parse_npy(&out);
        let (_, _, labels) = common::parse_npy(&tmp.path().join(format!("{split}.labels.npy")));
        let labels: Vec<usize> = common::i64s(&labels).iter().map(|&l| l as usize).collect();
        (common::f32s(&data), shape[1], labels)
    };
    let (train, dim, train_labels) = features("train");
    let (test, _, test_labels) = features("test");
    assert_eq!((train_labels.len(), test_labels.len()), (300, 100));
    let predicted = common::naive_knn(&train, &train_labels, &test, dim, 10, 200, 0.07);
    let right = predicted
        .iter()
        .zip(&test_labels)
        .filter(|(p, t)| p == t)
        .count();
    assert!(
        (right as f64 / 100.0 - knn).abs() <= 0.01 + 1e-12,
        "eval k-NN top-1 {knn}, brute force on embed's features {right}/100"
    );
    let few = r["few_shot"].as_array().unwrap();
    assert_eq!(few.len(), 2);
    for (f, shots) in few.iter().zip([1, 2]) {
        assert_eq!(f["shots"], shots);
        let accs = f["top1"].as_array().unwrap();
        assert_eq!(accs.len(), 2);
        let mean = accs
            .iter()
            .map(|a| in_unit(a, "few-shot top1"))
            .sum::<f64>()
            / 2.0;
        assert!((f["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    }

    // Corruptions: 2 x 2 cells in range, error = 1 - top1.
    let c = &r["corruptions"];
    let cells = c["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    for cell in cells {
        let t = in_unit(&cell["top1"], "corrupted top1");
        assert!((cell["error"].as_f64().unwrap() - (1.0 - t)).abs() < 1e-12);
        in_unit(&cell["ece"], "corrupted ece");
        let sev = cell["severity"].as_u64().unwrap();
        assert!(sev == 1 || sev == 5);
    }
    let errors = &c["errors"];
    assert!((errors["clean"].as_f64().unwrap() - (1.0 - top1)).abs() < 1e-12);

    // The baseline's errors are those of the CE run evaluated on its own (deterministic
    // corruptions), whose mCE against itself is 1.
    ok(&[
        "eval",
        "--model",
        s(&ce),
        "--corruptions",
        CORRUPTIONS,
        "--severities",
        SEVERITIES,
        "--baseline",
        s(&ce),
        "--out",
        s(&ce_json),
        "-q",
    ]);
    let ce_r = read(&ce_json);
    let base = &c["baseline"];
    assert!(base["source"].as_str().unwrap().ends_with("ce"), "{base}");
    assert_eq!(base["errors"], ce_r["corruptions"]["errors"]);
    assert!((ce_r["corruptions"]["robustness"]["mce"].as_f64().unwrap() - 1.0).abs() < 1e-12);

    // The baseline may also be given as that eval file: same scores.
    let via_file = tmp.path().join("via_file.json");
    ok(&[
        "eval",
        "--model",
        s(&lin),
        "--corruptions",
        CORRUPTIONS,
        "--severities",
        SEVERITIES,
        "--baseline",
        s(&ce_json),
        "--out",
        s(&via_file),
        "-q",
    ]);
    let via_file = read(&via_file);
    assert_eq!(via_file["corruptions"]["robustness"], c["robustness"]);
    assert_eq!(
        via_file["corruptions"]["baseline"]["errors"],
        base["errors"]
    );

    // mCE and relative mCE recomputed from the two tables (Hendrycks & Dietterich 2019).
    let (model_clean, base_clean) = (
        errors["clean"].as_f64().unwrap(),
        base["errors"]["clean"].as_f64().unwrap(),
    );
    let mut ces = Vec::new();
    let mut rels = Vec::new();
    for name in CORRUPTIONS.split(',') {
        let (mut num, mut den, mut rnum, mut rden) = (0.0, 0.0, 0.0, 0.0);
        for sev in ["1", "5"] {
            let e = errors["corruptions"][name][sev].as_f64().unwrap();
            let b = base["errors"]["corruptions"][name][sev].as_f64().unwrap();
            num += e;
            den += b;
            rnum += e - model_clean;
            rden += b - base_clean;
        }
        let ce_c = num / den;
        let got = c["robustness"]["corruptions"][name]["ce"].as_f64().unwrap();
        assert!((got - ce_c).abs() < 1e-9, "{name}: CE {got} vs {ce_c}");
        ces.push(ce_c);
        // Relative CE is undefined unless the baseline degrades under the corruption.
        rels.push((rden > 1e-12).then(|| rnum / rden));
    }
    let mce = c["robustness"]["mce"].as_f64().unwrap();
    assert!((mce - ces.iter().sum::<f64>() / ces.len() as f64).abs() < 1e-9);
    if rels.iter().all(Option::is_some) {
        let want = rels.iter().flatten().sum::<f64>() / rels.len() as f64;
        let got = c["robustness"]["relative_mce"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "relative mCE {got} vs {want}");
    } else {
        // An undefined relative CE is reported, not fatal.
        assert!(c["robustness"]["relative_mce"].is_null());
        assert!(!c["notes"].as_array().unwrap().is_empty());
    }
}

#[test]
fn eval_of_a_run_directory_evaluates_both_classifiers_and_writes_eval_json() {
    let suite = suite();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("both.json");
    let stdout = ok(&["eval", "--model", s(suite), "--out", s(&out), "-q"]);
    assert!(
        stdout.contains("linear probe") && stdout.contains("cross-entropy"),
        "{stdout}"
    );
    let r = read(&out);
    let runs = r["runs"].as_array().unwrap();
    let kinds: Vec<&str> = runs.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["linear", "ce"]);
    for run in runs {
        assert!(run["corruptions"].is_null() && run["knn"].is_null());
        in_unit(&run["clean"]["top1"], "top1");
    }
    // Another dataset of the same image shape and classes (normalised with the training
    // data's statistics).
    let idx = tmp.path().join("idx28");
    write_idx(&idx, 28);
    let spec = format!("idx:{}?names=fashion", idx.display());
    let other = tmp.path().join("other.json");
    ok(&[
        "eval",
        "--model",
        s(&suite.join("linear")),
        "--data",
        &spec,
        "--knn",
        "--out",
        s(&other),
        "-q",
    ]);
    let r = read(&other);
    assert_eq!(r["data"]["spec"], spec.as_str());
    assert_eq!(r["clean"]["samples"], 10);
    assert_eq!(r["knn"]["train_samples"], 20);

    // Without --out, the JSON goes into the run directory.
    let ce = suite.join("ce");
    ok(&["eval", "--model", s(&ce), "--test-limit", "40", "-q"]);
    let r = read(&ce.join("eval.json"));
    assert_eq!(r["clean"]["samples"], 40);
    assert_eq!(r["data"]["test_limit"], 40);
}

#[test]
fn eval_rejects_bad_runs_and_flags_naming_them() {
    let suite = suite();
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let e = fail(&["eval", "--model", s(&missing)]);
    assert!(
        e.contains(s(&missing)) && e.contains("no such run directory"),
        "{e}"
    );

    let e = fail(&["eval", "--model", s(tmp.path())]);
    assert!(e.contains("not a run directory"), "{e}");

    // A pre-training run has no classifier.
    let pre = suite.join("supcon");
    let e = fail(&["eval", "--model", s(&pre)]);
    assert!(
        e.contains(s(&pre)) && e.contains("pre-training run without a classifier"),
        "{e}"
    );

    let lin = suite.join("linear");
    let e = fail(&[
        "eval",
        "--model",
        s(&lin),
        "--corruptions",
        "fog,gausian_noise",
    ]);
    assert!(
        e.contains("--corruptions") && e.contains("gausian_noise"),
        "{e}"
    );
    assert!(e.contains("gaussian_noise"), "lists the valid names: {e}");

    for bad in ["0", "1-6", "2,x"] {
        let e = fail(&[
            "eval",
            "--model",
            s(&lin),
            "--corruptions",
            "fog",
            "--severities",
            bad,
        ]);
        assert!(e.contains("--severities") && e.contains(bad), "{bad}: {e}");
    }

    let e = fail(&[
        "eval",
        "--model",
        s(&lin),
        "--baseline",
        s(&suite.join("ce")),
    ]);
    assert!(
        e.contains("--baseline") && e.contains("--corruptions"),
        "{e}"
    );

    let e = fail(&[
        "eval",
        "--model",
        s(&lin),
        "--corruptions",
        "fog",
        "--severities",
        "1",
        "--baseline",
        s(&missing),
    ]);
    assert!(e.contains("--baseline") && e.contains(s(&missing)), "{e}");

    // Another dataset must have the training images' shape.
    let idx = tmp.path().join("idx");
    write_idx(&idx, 12);
    let spec = format!("idx:{}", idx.display());
    let e = fail(&["eval", "--model", s(&lin), "--data", &spec]);
    assert!(
        e.contains(&format!("--data {spec}")) && e.contains("[1, 12, 12]"),
        "{e}"
    );
    let e = fail(&["eval", "--model", s(&lin), "--data", "cifar10:/no/such/dir"]);
    assert!(e.contains("--data cifar10:/no/such/dir"), "{e}");

    let e = fail(&["eval", "--model", s(&lin), "--few-shot", "1,x"]);
    assert!(e.contains("--few-shot") && e.contains('x'), "{e}");

    let e = fail(&["eval", "--model", s(&lin), "--few-shot", "1000", "-q"]);
    assert!(
        e.contains("--few-shot 1000") && e.contains("training image"),
        "{e}"
    );
}

#[test]
fn sweep_reports_mean_spread_worst_and_best_per_method() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = [
        "sweep",
        "--data",
        "builtin",
        "--limit",
        "100",
        "--test-limit",
        "50",
        "--grid",
        "lr=0.05,0.2",
        "--grid",
        "temperature=0.1,0.5",
        "--methods",
        "supcon,ce",
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--linear-epochs",
        "3",
        "--out",
        s(&out),
        "-q",
    ];
    let stdout = ok(&args);
    assert!(
        stdout.contains("mean") && stdout.contains("worst"),
        "{stdout}"
    );
    let r = read(&out.join("sweep.json"));
    assert_eq!(r["complete"], true);
    let points = r["points"].as_array().unwrap();
    // SupCon: 2 x 2 points; CE ignores the temperature axis: 2 points.
    let of = |m: &str| {
        points
            .iter()
            .filter(|p| p["method"] == m)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("supcon").len(), 4);
    assert_eq!(of("ce").len(), 2);
    assert!(
        of("ce")
            .iter()
            .all(|p| p["params"].get("temperature").is_none())
    );
    for p in points {
        assert!(p["error"].is_null(), "{p}");
        in_unit(&p["top1"], "sweep top1");
        let run = PathBuf::from(p["run"].as_str().unwrap());
        assert!(run.join("report.json").is_file(), "{}", run.display());
        assert!(run.starts_with(&out));
    }
    for summary in r["summary"].as_array().unwrap() {
        let m = summary["method"].as_str().unwrap();
        let accs: Vec<f64> = of(m).iter().map(|p| p["top1"].as_f64().unwrap()).collect();
        let n = accs.len() as f64;
        let mean = accs.iter().sum::<f64>() / n;
        let std = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let min = accs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = accs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(summary["points"].as_u64().unwrap() as usize, accs.len());
        assert_eq!(summary["failed"], 0);
        assert!((summary["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
        assert!((summary["std"].as_f64().unwrap() - std).abs() < 1e-12);
        assert_eq!(summary["min"].as_f64().unwrap(), min);
        assert_eq!(summary["max"].as_f64().unwrap(), max);
    }
    // Running it again reuses every finished point (same results, no training time).
    ok(&args);
    let again = read(&out.join("sweep.json"));
    let without_time = |ps: &Value| -> Vec<Value> {
        let mut ps = ps.as_array().unwrap().clone();
        for p in &mut ps {
            assert!(p["seconds"].as_f64().unwrap() >= 0.0);
            p["seconds"] = Value::Null;
        }
        ps
    };
    assert_eq!(without_time(&again["points"]), without_time(&r["points"]));
    assert!(
        again["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["seconds"] == 0.0)
    );

    // Other settings into the same directory are refused; bad grids name the key/value.
    let mut other = args.to_vec();
    other[8] = "lr=0.05,0.3";
    let e = fail(&other);
    assert!(e.contains("other settings"), "{e}");
    let e = fail(&[
        "sweep",
        "--grid",
        "lrate=0.1",
        "--out",
        s(&tmp.path().join("x")),
    ]);
    assert!(e.contains("--grid") && e.contains("lrate"), "{e}");
    let e = fail(&[
        "sweep",
        "--grid",
        "optimizer=sgd,adam",
        "--out",
        s(&tmp.path().join("x")),
    ]);
    assert!(e.contains("--grid") && e.contains("adam"), "{e}");
    let e = fail(&[
        "sweep",
        "--grid",
        "lr=0.1",
        "--grid",
        "lr=0.2",
        "--out",
        s(&tmp.path().join("x")),
    ]);
    assert!(e.contains("--grid") && e.contains("more than once"), "{e}");
}

/// Settings of an evaluation that was not asked for are refused, naming the flag and the
/// flag it needs (as `--baseline` without `--corruptions` is), before anything loads.
#[test]
fn eval_settings_without_their_evaluation_are_named() {
    let lin = suite().join("linear");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.json");
    for (extra, flag, needs) in [
        (
            &["--severities", "1,3"][..],
            "--severities",
            "--corruptions",
        ),
        (&["--seed", "3"], "--seed", "--corruptions"),
        (
            &["--corruptions", "none", "--severities", "1"],
            "--severities",
            "--corruptions",
        ),
        (&["--knn-k", "5"], "--knn-k", "--knn"),
        (&["--knn-temperature", "0.1"], "--knn-temperature", "--knn"),
        (&["--few-shot-seeds", "3"], "--few-shot-seeds", "--few-shot"),
        (
            &["--few-shot-epochs", "5"],
            "--few-shot-epochs",
            "--few-shot",
        ),
    ] {
        let mut args = vec!["eval", "--model", s(&lin), "--out", s(&out), "-q"];
        args.extend_from_slice(extra);
        let e = fail(&args);
        assert!(
            e.contains(&format!("{flag} is a")) && e.contains(&format!("it needs {needs}")),
            "{extra:?}: {e}"
        );
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
    // With their evaluation they are used.
    ok(&[
        "eval",
        "--model",
        s(&lin),
        "--knn",
        "--knn-k",
        "3",
        "--knn-temperature",
        "0.2",
        "--out",
        s(&out),
        "-q",
    ]);
    let r = read(&out);
    assert_eq!(r["knn"]["k"], 3);
    assert!((r["knn"]["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
}

/// `eval --data` must have the run's classes (count, names and order): other classes are
/// refused naming `--data`, not scored as if the labels matched nor blamed on the weight
/// file; data with the same classes (here an IDX copy with the Fashion-MNIST names of
/// the built-in set) is evaluated.
#[test]
fn eval_on_data_with_other_classes_is_refused_naming_data() {
    let lin = suite().join("linear");
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    write_idx(&idx, 28);

    let numbers = format!("idx:{}?names=numbers", idx.display());
    let e = fail(&["eval", "--model", s(&lin), "--data", &numbers, "-q"]);
    assert!(
        e.contains(&format!("--data {numbers}: class 0 is '0'"))
            && e.contains("trained on builtin whose class 0 is 'T-shirt/top'"),
        "{e}"
    );
    assert!(!e.contains("weights do not fit"), "{e}");

    let twenty = format!("idx:{}?names=numbers&classes=20", idx.display());
    let e = fail(&["eval", "--model", s(&lin), "--data", &twenty, "-q"]);
    assert!(
        e.contains(&format!("--data {twenty}: 20 classes"))
            && e.contains("trained on builtin with 10"),
        "{e}"
    );
    assert!(!e.contains("weights do not fit"), "{e}");

    let fashion = format!("idx:{}?names=fashion", idx.display());
    let out = tmp.path().join("fashion.json");
    ok(&[
        "eval",
        "--model",
        s(&lin),
        "--data",
        &fashion,
        "--out",
        s(&out),
        "-q",
    ]);
    let r = read(&out);
    assert_eq!(r["num_classes"], 10);
    assert_eq!(r["class_names"][0], "T-shirt/top");
    assert_eq!(r["clean"]["samples"], 10);
    // The CE run of the suite (a data.json of its own) is checked the same way.
    let e = fail(&[
        "eval",
        "--model",
        s(&suite().join("ce")),
        "--data",
        &numbers,
        "-q",
    ]);
    assert!(
        e.contains(&format!("--data {numbers}: class 0 is '0'")),
        "{e}"
    );
}

/// `sweep`: a momentum outside [0, 1) and `--linear-epochs 0` are refused before any
/// training; a sweep in which every point failed exits non-zero, saying so.
#[test]
fn sweep_refuses_bad_settings_up_front_and_fails_when_no_point_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let base = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "sweep",
            "--data",
            "builtin",
            "--limit",
            "64",
            "--test-limit",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--out",
            s(out),
            "-q",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        a.extend(extra.iter().map(|a| a.to_string()));
        a
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        supcon(&args)
    };
    for value in ["2", "1"] {
        let out = tmp.path().join(format!("mom{value}"));
        let grid = format!("momentum={value}");
        let o = run(&base(&out, &["--grid", &grid]));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{e}");
        assert!(
            e.contains("--grid") && e.contains(&format!("momentum value '{value}'")),
            "{e}"
        );
        assert!(!out.exists(), "a refused sweep wrote {}", out.display());
    }
    let out = tmp.path().join("lin0");
    let o = run(&base(&out, &["--grid", "lr=0.1", "--linear-epochs", "0"]));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("--linear-epochs 0: expected at least 1"), "{e}");
    assert!(!out.exists(), "a refused sweep wrote {}", out.display());

    // A batch larger than the 64 training images: every point fails at its data check.
    let out = tmp.path().join("allfail");
    let o = run(&base(
        &out,
        &["--grid", "batch_size=1000", "--methods", "ce"],
    ));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a sweep with no result exited 0: {e}");
    assert!(e.contains("every grid point failed (1 of 1)"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    let r = read(&out.join("sweep.json"));
    assert_eq!(r["summary"][0]["failed"], 1);
    assert!(r["points"][0]["error"].as_str().unwrap().contains("1000"));
}
