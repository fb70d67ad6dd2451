//! Inference, transfer and export (issue 10), end to end with the real binary on one tiny
//! trained `supcon run` shared by every test: `predict` agrees with training's evaluation,
//! `embed` writes valid `.npy`/`.safetensors`, `finetune` trains, `export` round-trips
//! through `Classifier`, and bad models and inputs fail with clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
mod common;
use common::{f32s, i64s, parse_npy};
use supcon::burn::module::Module;
use supcon::data::Image;
use supcon::infer::{Classifier, ClassifierSpec, InferError};
use supcon::model::{LinearClassifierConfig, load_weights};
use supcon::train::features::map_split;
use supcon::train::linear::{fingerprint, load_encoder};
use supcon::train::{LinearConfig, RunDir};

const BIN: &str = env!("CARGO_BIN_EXE_supcon");

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

/// One tiny `supcon run` (SupCon + linear probe + CE) and exports of both classifiers,
/// built once for every test of this file.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let run = root.join("run");
        ok(&supcon(&[
            "run",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--data",
            "builtin",
            "--limit",
            "300",
            "--test-limit",
            "100",
            "--linear-epochs",
            "2",
            "-q",
            "--out",
            s(&run),
        ]));
        for (model, out) in [("linear", "export-supcon"), ("ce", "export-ce")] {
            ok(&supcon(&[
                "export",
                "--model",
                s(&run.join(model)),
                "--out",
                s(&root.join(out)),
            ]));
        }
        Fixture { _tmp: tmp, root }
    })
}

fn run_dir() -> PathBuf {
    fixture().root.join("run")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn supcon(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the supcon binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "supcon failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Stderr of a command that must fail with status 1.
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected failure, got {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn read_json(path: &Path) -> Value {
    json(&std::fs::read_to_string(path).unwrap())
}

fn predict_json(args: &[&str]) -> Value {
    let mut all = vec!["predict", "--format", "json"];
    all.extend_from_slice(args);
    json(&ok(&supcon(&all)))
}

fn classes(doc: &Value) -> Vec<usize> {
    doc["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_u64().unwrap() as usize)
        .collect()
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Test labels of the run's linear probe data, and the evaluation's predicted classes
/// (training's own code path: `load_encoder` + classifier + `map_split`).
fn evaluation_classes() -> (Vec<usize>, Vec<usize>) {
    let run = run_dir();
    let config: LinearConfig = RunDir::open(run.join("linear"))
        .unwrap()
        .read_json("config.json")
        .unwrap();
    let data = config.data.clone().unwrap().load(config.seed).unwrap();
    let device = supcon::device::DeviceChoice::Cpu.device();
    let (encoder, _) = load_encoder(&config.encoder_run, &device).unwrap();
    let classifier =
        LinearClassifierConfig::new(encoder.output_dim(), data.num_classes()).init(&device);
    let classifier = load_weights(classifier, run.join("linear/classifier.safetensors"))
        .unwrap()
        .valid();
    let logits = map_split(&data, &data.test, 256, &device, |x| {
        classifier.forward(encoder.forward(x))
    })
    .unwrap();
    let predicted = (0..logits.rows).map(|i| argmax(logits.row(i))).collect();
    (data.test.labels.clone(), predicted)
}

#[test]
fn predict_on_the_runs_test_split_matches_evaluation_and_report() {
    let run = run_dir();
    for stage in ["linear", "ce"] {
        let doc = predict_json(&["--model", s(&run.join(stage))]);
        let report = read_json(&run.join(stage).join("report.json"));
        assert_eq!(doc["samples"], 100, "{stage}");
        assert_eq!(doc["labelled"], 100, "{stage}");
        assert_eq!(
            doc["accuracy"].as_f64().unwrap(),
            report["test"]["top1"].as_f64().unwrap(),
            "{stage}: predict's accuracy equals the reported test top-1"
        );
        let first = &doc["predictions"][0];
        assert_eq!(first["top_k"].as_array().unwrap().len(), 5);
        let p: f64 = first["top_k"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .sum();
        assert!(p > 0.0 && p <= 1.0 + 1e-5);
    }
    // Same classes as the evaluation code path, sample by sample.
    let (labels, evaluated) = evaluation_classes();
    let doc = predict_json(&["--model", s(&run.join("linear")), "--top-k", "2"]);
    assert_eq!(classes(&doc), evaluated);
    let predicted_labels: Vec<usize> = doc["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(predicted_labels, labels);
    assert_eq!(doc["predictions"][0]["top_k"].as_array().unwrap().len(), 2);
    // A `supcon run` directory means its linear probe.
    let whole = predict_json(&["--model", s(&run)]);
    assert_eq!(classes(&whole), evaluated);
    // Runs written before data.json existed (statistics recomputed from the data
    // configuration), moved with their pre-training run (encoder_run found as a sibling).
    let tmp = tempfile::tempdir().unwrap();
    for stage in ["linear", "supcon"] {
        let to = tmp.path().join(stage);
        std::fs::create_dir_all(&to).unwrap();
        for file in ["config.json", "model.safetensors", "classifier.safetensors"] {
            if run.join(stage).join(file).is_file() {
                std::fs::copy(run.join(stage).join(file), to.join(file)).unwrap();
            }
        }
    }
    let config = tmp.path().join("linear/config.json");
    let mut moved = read_json(&config);
    moved["encoder_run"] = "/moved/away/supcon".into();
    std::fs::write(&config, moved.to_string()).unwrap();
    let old = predict_json(&["--model", s(tmp.path())]);
    assert_eq!(classes(&old), evaluated);

    // Table and CSV formats.
    let table = ok(&supcon(&["predict", "--model", s(&run), "--top-k", "3"]));
    assert!(
        table.lines().next().unwrap().starts_with("input"),
        "{table}"
    );
    assert!(table.contains("accuracy: "), "{table}");
    let csv = ok(&supcon(&["predict", "--model", s(&run), "--format", "csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "input,label,class,name,probability,top_k");
    assert_eq!(lines.len(), 101);
}

#[test]
fn embed_writes_npy_and_safetensors_of_the_right_shape() {
    let run = run_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("emb.npy");
    let line = json(&ok(&supcon(&[
        "embed",
        "--model",
        s(&run.join("linear")),
        "--out",
        s(&out),
    ])));
    assert_eq!(line["rows"], 100);
    assert_eq!(line["dim"], 128);
    let (descr, shape, data) = parse_npy(&out);
    assert_eq!(descr, "<f4");
    assert_eq!(shape, vec![100, 128]);
    let values = f32s(&data);
    assert_eq!(values.len(), 100 * 128);
    assert!(values.iter().all(|v| v.is_finite()));
    let (descr, shape, data) = parse_npy(&tmp.path().join("emb.labels.npy"));
    assert_eq!(descr, "<i8");
    assert_eq!(shape, vec![100]);
    let (labels, _) = evaluation_classes();
    let written: Vec<usize> = i64s(&data).into_iter().map(|l| l as usize).collect();
    assert_eq!(written, labels);

    // Projection head, normalised, train split, as safetensors.
    let st = tmp.path().join("proj.safetensors");
    ok(&supcon(&[
        "embed",
        "--model",
        s(&run.join("supcon")),
        "--out",
        s(&st),
        "--layer",
        "projection",
        "--normalize",
        "--split",
        "train",
    ]));
    let bytes = std::fs::read(&st).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = json(std::str::from_utf8(&bytes[8..8 + n]).unwrap().trim_end());
    assert_eq!(header["embeddings"]["dtype"], "F32");
    assert_eq!(header["embeddings"]["shape"], serde_json::json!([300, 128]));
    assert_eq!(header["labels"]["dtype"], "I64");
    assert_eq!(header["labels"]["shape"], serde_json::json!([300]));
    let [begin, end] =
        [0, 1].map(|i| 8 + n + header["embeddings"]["data_offsets"][i].as_u64().unwrap() as usize);
    for row in f32s(&bytes[begin..end]).chunks(128) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "row norm {norm}");
    }
    // A CE run has no projection head; another extension is refused.
    let err = fails(&supcon(&[
        "embed",
        "--model",
        s(&run.join("ce")),
        "--out",
        s(&st),
        "--layer",
        "projection",
    ]));
    assert!(err.contains("no projection head"), "{err}");
    let err = fails(&supcon(&[
        "embed",
        "--model",
        s(&run.join("ce")),
        "--out",
        s(&tmp.path().join("e.txt")),
    ]));
    assert!(err.contains(".npy or .safetensors"), "{err}");
}

/// A small RGB image folder: two classes (reddish vs bluish squares), 24 images each.
fn rgb_folder(dir: &Path) {
    for (class, base) in [("blue", [30u8, 40, 200]), ("red", [210u8, 40, 30])] {
        let d = dir.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..24u8 {
            let img = image::RgbImage::from_fn(20, 20, |x, y| {
                let v = (x as u8)
                    .wrapping_mul(3)
                    .wrapping_add((y as u8).wrapping_mul(i % 5));
                image::Rgb([
                    base[0].saturating_add(v / 4),
                    base[1].saturating_add(i),
                    base[2].saturating_sub(v / 4),
                ])
            });
            img.save(d.join(format!("{i:02}.png"))).unwrap();
        }
    }
}

#[test]
fn finetune_trains_the_pretrained_encoder_and_converts_channels() {
    let run = run_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ft");
    let line = json(&ok(&supcon(&[
        "finetune",
        "--encoder",
        s(&run.join("supcon")),
        "--data",
        "builtin",
        "--limit",
        "1000",
        "--test-limit",
        "200",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--lr",
        "0.05",
        "-q",
        "--out",
        s(&out),
    ])));
    let top1 = line["top1"].as_f64().unwrap();
    assert!(
        top1 > 0.2,
        "fine-tuned top-1 {top1} is not above chance (0.1)"
    );
    assert!(line["top5"].as_f64().unwrap() >= top1);
    let ece = line["ece"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ece));
    for file in [
        "config.json",
        "data.json",
        "metrics.jsonl",
        "model.safetensors",
        "report.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["pretrained_run"], s(&run.join("supcon")));
    assert_eq!(config["encoder"]["name"], "resnet-tiny");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"stage\":\"finetune\""));
    // The encoder moved away from the pre-trained weights.
    let device = supcon::device::DeviceChoice::Cpu.device();
    let (pre, _) = load_encoder(&run.join("supcon"), &device).unwrap();
    let tuned = Classifier::load(&out).unwrap();
    assert_ne!(fingerprint(&pre), fingerprint(&tuned.model().encoder));
    // predict on the fine-tuned run reproduces its report.
    let doc = predict_json(&["--model", s(&out)]);
    let report = read_json(&out.join("report.json"));
    assert_eq!(doc["accuracy"], report["test"]["top1"]);
    assert_eq!(doc["kind"], "finetune");

    // RGB target data on a grayscale encoder: converted to 1 channel.
    let folder = tmp.path().join("rgb");
    rgb_folder(&folder);
    let out = tmp.path().join("ft-rgb");
    let spec = format!("folder:{}?size=20", folder.display());
    let line = json(&ok(&supcon(&[
        "finetune",
        "--encoder",
        s(&run),
        "--data",
        &spec,
        "--epochs",
        "8",
        "--batch-size",
        "16",
        "-q",
        "--out",
        s(&out),
    ])));
    // Reddish vs bluish squares, in gray levels about 90 vs 55: separable (chance 0.5).
    let top1 = line["top1"].as_f64().unwrap();
    assert!(
        top1 >= 0.75,
        "fine-tuned top-1 {top1} on two colour classes"
    );
    let data = read_json(&out.join("data.json"));
    assert_eq!(data["shape"], serde_json::json!([1, 20, 20]));
    let p = Classifier::load(&out)
        .unwrap()
        .predict_file(folder.join("red/00.png"))
        .unwrap();
    assert!(p.name == "red" || p.name == "blue");
    // eval reloads the converted data: the same test accuracy as the run's report.
    ok(&supcon(&["eval", "--model", s(&out), "-q"]));
    let eval = read_json(&out.join("eval.json"));
    let report = read_json(&out.join("report.json"));
    assert_eq!(eval["clean"]["top1"], report["test"]["top1"]);

    // A linear probe of the grayscale encoder on the RGB folder converts it the same way.
    let lin = tmp.path().join("lin-rgb");
    let line = json(&ok(&supcon(&[
        "linear",
        "--encoder",
        s(&run.join("supcon")),
        "--data",
        &spec,
        "--epochs",
        "2",
        "-q",
        "--out",
        s(&lin),
    ])));
    let data = read_json(&lin.join("data.json"));
    assert_eq!(data["shape"], serde_json::json!([1, 20, 20]));
    ok(&supcon(&["eval", "--model", s(&lin), "-q"]));
    let eval = read_json(&lin.join("eval.json"));
    assert_eq!(eval["clean"]["top1"], line["top1"]);
}

#[test]
fn export_round_trips_through_classifier() {
    let root = &fixture().root;
    let run = run_dir();
    for (stage, export) in [("linear", "export-supcon"), ("ce", "export-ce")] {
        let export = root.join(export);
        let spec: ClassifierSpec =
            serde_json::from_str(&std::fs::read_to_string(export.join("classifier.json")).unwrap())
                .unwrap();
        assert_eq!(spec.input_shape, [1, 28, 28]);
        assert_eq!(spec.num_classes, 10);
        assert_eq!(spec.class_names[0], "T-shirt/top");
        assert_eq!((spec.mean.len(), spec.std.len()), (1, 1));
        assert_eq!(spec.encoder.name.name(), "resnet-tiny");
        assert!(export.join("model.safetensors").is_file());

        // The library on the export = the CLI on the run.
        let doc = predict_json(&["--model", s(&run.join(stage))]);
        let classifier = Classifier::load(&export).unwrap();
        let data = supcon::train::DataConfig {
            test_limit: Some(100),
            limit: Some(300),
            ..Default::default()
        }
        .load(0)
        .unwrap();
        let predictions = classifier.predict_split(&data.test).unwrap();
        let lib: Vec<usize> = predictions.iter().map(|p| p.class).collect();
        assert_eq!(lib, classes(&doc), "{stage}");
        for (p, q) in predictions
            .iter()
            .zip(doc["predictions"].as_array().unwrap())
        {
            let diff = (f64::from(p.probability) - q["probability"].as_f64().unwrap()).abs();
            assert!(diff < 1e-6, "{stage}: probabilities differ by {diff}");
        }
        // Single-image and batch prediction agree.
        let images: Vec<Image> = (0..3).map(|i| data.test.image(i)).collect();
        let batch = classifier.predict_batch(&images).unwrap();
        assert_eq!(
            classifier.predict(&images[1]).unwrap().class,
            batch[1].class
        );
        // The CLI on the export (with --data) agrees too.
        let on_export = predict_json(&[
            "--model",
            s(&export),
            "--data",
            "builtin",
            "--test-limit",
            "100",
        ]);
        assert_eq!(classes(&on_export), lib, "{stage}");
    }
    // A second export into the same folder needs --force.
    let again = root.join("export-ce");
    let err = fails(&supcon(&[
        "export",
        "--model",
        s(&run.join("ce")),
        "--out",
        s(&again),
    ]));
    assert!(err.contains("--force"), "{err}");
}

/// `Classifier::prediction` checks its row (one finite logit per class), breaks ties
/// (-0.0 and 0.0 too) by the lowest index as `eval` does, and a NaN image is an error;
/// `InputSpec::batch` refuses an empty shape.
#[test]
fn predictions_check_their_input() {
    let export = fixture().root.join("export-ce");
    let classifier = Classifier::load(&export).unwrap();
    for len in [0, 3, 11] {
        let err = classifier
            .prediction(&vec![0.0; len])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{len} logits for a model of 10 classes")),
            "{err}"
        );
    }
    let mut z = [0.0f32; 10];
    z[0] = -0.0;
    assert_eq!(classifier.prediction(&z).unwrap().class, 0);
    assert_eq!(supcon::eval::predictions(&z, 10).unwrap(), vec![0]);
    z[3] = f32::NAN;
    assert!(classifier.prediction(&z).is_err());
    z[3] = f32::INFINITY;
    assert!(classifier.prediction(&z).is_err());
    let nan = Image {
        channels: 1,
        height: 28,
        width: 28,
        data: vec![f32::NAN; 784],
    };
    let err = classifier.predict(&nan).unwrap_err().to_string();
    assert!(err.contains("NaN or infinite"), "{err}");
    let spec = supcon::infer::InputSpec {
        shape: [1, 0, 0],
        mean: vec![0.0],
        std: vec![1.0],
    };
    let err = spec
        .batch(&[Image::zeros(1, 0, 0)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-empty image"), "{err}");
}

#[test]
fn a_different_architecture_fails_clearly() {
    let root = &fixture().root;
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let src = root.join("export-supcon");
    std::fs::copy(src.join("model.safetensors"), bad.join("model.safetensors")).unwrap();
    let text = std::fs::read_to_string(src.join("classifier.json")).unwrap();
    let mut spec = json(&text);
    spec["encoder"]["name"] = "resnet18".into();
    std::fs::write(bad.join("classifier.json"), spec.to_string()).unwrap();
    let err = Classifier::load(&bad).unwrap_err();
    assert!(matches!(err, InferError::Model(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("do not fit"),
        "{msg}"
    );
    let stderr = fails(&supcon(&[
        "predict",
        "--model",
        s(&bad),
        "--data",
        "builtin",
    ]));
    assert!(stderr.contains("do not fit"), "{stderr}");

    // An inconsistent classifier.json is named.
    spec["encoder"]["name"] = "resnet-tiny".into();
    spec["num_classes"] = 7.into();
    std::fs::write(bad.join("classifier.json"), spec.to_string()).unwrap();
    let msg = Classifier::load(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("classifier.json") && msg.contains("num_classes"),
        "{msg}"
    );

    // A pre-training run has no classifier; a folder with no model is named.
    let stderr = fails(&supcon(&[
        "predict",
        "--model",
        s(&run_dir().join("supcon")),
    ]));
    assert!(stderr.contains("without a classifier"), "{stderr}");
    let stderr = fails(&supcon(&["predict", "--model", s(tmp.path())]));
    assert!(stderr.contains("not a model directory"), "{stderr}");
}

#[test]
fn predict_on_png_files_and_folders() {
    let root = &fixture().root;
    let export = root.join("export-supcon");
    let classifier = Classifier::load(&export).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // A test image written as a 28x28 grayscale PNG decodes to the very same pixels.
    let data = supcon::train::DataConfig {
        test_limit: Some(100),
        ..Default::default()
    }
    .load(0)
    .unwrap();
    let gray = tmp.path().join("gray.png");
    image::GrayImage::from_raw(28, 28, data.test.pixels_of(0).to_vec())
        .unwrap()
        .save(&gray)
        .unwrap();
    let from_file = classifier.predict_file(&gray).unwrap();
    let from_data = classifier.predict(&data.test.image(0)).unwrap();
    assert_eq!(from_file, from_data);
    // An RGB, non-square PNG is converted (gray, centre crop, resize).
    let sub = tmp.path().join("more");
    std::fs::create_dir_all(&sub).unwrap();
    let rgb = sub.join("wide.png");
    image::RgbImage::from_fn(60, 40, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 6) as u8, 90])
    })
    .save(&rgb)
    .unwrap();
    let p = classifier.predict_file(&rgb).unwrap();
    assert!(p.probability > 0.0 && p.probability <= 1.0);
    // The CLI: a file and a folder.
    let doc = predict_json(&["--model", s(&export), s(&gray), s(&sub)]);
    let preds = doc["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[0]["input"], s(&gray));
    assert_eq!(preds[0]["class"], from_file.class);
    assert_eq!(preds[1]["class"], p.class);
    assert!(doc["accuracy"].is_null());
}

#[test]
fn bad_inputs_name_the_file() {
    let export = fixture().root.join("export-supcon");
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.png");
    let stderr = fails(&supcon(&["predict", "--model", s(&export), s(&missing)]));
    assert!(stderr.contains(s(&missing)), "{stderr}");
    let bad = tmp.path().join("bad.png");
    std::fs::write(&bad, b"this is not an image").unwrap();
    let stderr = fails(&supcon(&["predict", "--model", s(&export), s(&bad)]));
    assert!(
        stderr.contains(s(&bad)) && stderr.contains("cannot decode"),
        "{stderr}"
    );
    let classifier = Classifier::load(&export).unwrap();
    let err = classifier.predict_file(&bad).unwrap_err();
    assert!(
        matches!(&err, InferError::Image { path, .. } if path == &bad),
        "{err:?}"
    );
    let err = classifier.predict_file(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.png"), "{err}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let stderr = fails(&supcon(&["predict", "--model", s(&export), s(&empty)]));
    assert!(stderr.contains("no .png/.jpg/.jpeg image"), "{stderr}");
    let err = classifier
        .predict(&Image::zeros(5, 4, 4))
        .unwrap_err()
        .to_string();
    assert!(err.contains("5 channels"), "{err}");
}

#[test]
fn export_never_overwrites_a_folder_that_is_not_an_export() {
    let run = run_dir();
    let tmp = tempfile::tempdir().unwrap();
    // A copy of the CE run's files: a training run, not an export.
    let victim = tmp.path().join("ce");
    std::fs::create_dir_all(&victim).unwrap();
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(run.join("ce").join(name), victim.join(name)).unwrap();
    }
    let weights = std::fs::read(victim.join("model.safetensors")).unwrap();
    let linear = run.join("linear");
    for force in [false, true] {
        let mut args = vec!["export", "--model", s(&linear), "--out", s(&victim)];
        if force {
            args.push("--force");
        }
        let err = fails(&supcon(&args));
        assert!(
            err.contains(s(&victim))
                && err.contains("not an earlier export (no classifier.json)")
                && err.contains("holds config.json, model.safetensors")
                && err.contains("even with --force"),
            "force {force}: {err}"
        );
        assert!(
            std::fs::read(victim.join("model.safetensors")).unwrap() == weights,
            "force {force}: the run's weights were overwritten"
        );
        assert!(!victim.join("classifier.json").exists());
    }
    // A file as --out is named too.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"keep me").unwrap();
    let err = fails(&supcon(&[
        "export",
        "--model",
        s(&run.join("ce")),
        "--out",
        s(&file),
    ]));
    assert!(
        err.contains(s(&file)) && err.contains("not a folder"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    // An existing empty folder takes an export; --force replaces that export.
    let out = tmp.path().join("empty");
    std::fs::create_dir_all(&out).unwrap();
    ok(&supcon(&[
        "export",
        "--model",
        s(&run.join("ce")),
        "--out",
        s(&out),
    ]));
    assert_eq!(
        read_json(&out.join("classifier.json"))["source"]["kind"],
        "ce"
    );
    // The source run is recorded as an absolute path, from a relative --model too.
    let relative = tempfile::tempdir().unwrap();
    let rel_out = relative.path().join("rel");
    let status = Command::new(BIN)
        .current_dir(&run)
        .args(["export", "--model", "ce", "--out", s(&rel_out)])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let recorded = read_json(&rel_out.join("classifier.json"))["source"]["run"].clone();
    assert_eq!(
        recorded,
        serde_json::json!(std::fs::canonicalize(run.join("ce")).unwrap())
    );
    let err = fails(&supcon(&[
        "export",
        "--model",
        s(&run.join("linear")),
        "--out",
        s(&out),
    ]));
    assert!(err.contains("already holds an exported model"), "{err}");
    ok(&supcon(&[
        "export",
        "--model",
        s(&run.join("linear")),
        "--out",
        s(&out),
        "--force",
    ]));
    assert_eq!(
        read_json(&out.join("classifier.json"))["source"]["kind"],
        "linear"
    );
    // The replaced weights are the probe's: the same predictions as its first export.
    let data = supcon::train::DataConfig {
        test_limit: Some(20),
        ..Default::default()
    }
    .load(0)
    .unwrap();
    let replaced = Classifier::load(&out)
        .unwrap()
        .predict_split(&data.test)
        .unwrap();
    let probe = Classifier::load(fixture().root.join("export-supcon"))
        .unwrap()
        .predict_split(&data.test)
        .unwrap();
    assert_eq!(replaced, probe);
}

#[cfg(unix)]
#[test]
fn predict_searches_each_folder_once_and_names_unreadable_entries() {
    let export = fixture().root.join("export-supcon");
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("lp");
    let a = top.join("a");
    std::fs::create_dir_all(&a).unwrap();
    let image = a.join("00.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y) as u8]))
        .save(&image)
        .unwrap();
    // A cycle (a/up -> lp) used to repeat the image until the kernel's link limit.
    std::os::unix::fs::symlink("..", a.join("up")).unwrap();
    let inputs = |doc: &Value| -> Vec<String> {
        doc["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["input"].as_str().unwrap().to_string())
            .collect()
    };
    let out = supcon(&[
        "predict",
        "--format",
        "json",
        "--model",
        s(&export),
        s(&top),
    ]);
    assert_eq!(inputs(&json(&ok(&out))), [s(&image)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let note = format!(
        "note: {}: the same folder as {}, which is already searched",
        a.join("up").display(),
        std::fs::canonicalize(&top).unwrap().display()
    );
    assert!(stderr.contains(&note), "{stderr}");
    // Two links to one folder (twins/b -> a): searched once, under its first name.
    let twins = tmp.path().join("twins");
    std::fs::create_dir_all(twins.join("a")).unwrap();
    std::fs::copy(&image, twins.join("a/00.png")).unwrap();
    std::os::unix::fs::symlink("a", twins.join("b")).unwrap();
    let out = supcon(&[
        "predict",
        "--format",
        "json",
        "--model",
        s(&export),
        s(&twins),
    ]);
    assert_eq!(inputs(&json(&ok(&out))), [s(&twins.join("a/00.png"))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "note: {}: the same folder as",
            twins.join("b").display()
        )),
        "{stderr}"
    );
    // A dangling link (no image extension, so it used to be dropped unseen) is named.
    let dead = a.join("dead");
    std::os::unix::fs::symlink("nowhere", &dead).unwrap();
    let stderr = fails(&supcon(&["predict", "--model", s(&export), s(&top)]));
    assert!(
        stderr.contains(s(&dead)) && stderr.contains("cannot read this entry"),
        "{stderr}"
    );
}

#[test]
fn predict_and_embed_refuse_batch_size_0_and_dataset_flags_on_files() {
    let export = fixture().root.join("export-supcon");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x + y) as u8]))
        .save(&file)
        .unwrap();
    let stderr = fails(&supcon(&[
        "predict",
        "--model",
        s(&export),
        "--batch-size",
        "0",
        s(&file),
    ]));
    assert!(
        stderr.contains("--batch-size 0: expected at least 1"),
        "{stderr}"
    );
    let stderr = fails(&supcon(&[
        "embed",
        "--model",
        s(&export),
        "--data",
        "builtin",
        "--batch-size",
        "0",
        "--out",
        s(&tmp.path().join("e.npy")),
    ]));
    assert!(
        stderr.contains("--batch-size 0: expected at least 1"),
        "{stderr}"
    );
    assert!(!tmp.path().join("e.npy").exists());
    // The library refuses 0 too (it used to run with 1).
    let err = Classifier::load(&export)
        .unwrap()
        .with_batch_size(0)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&err, InferError::Invalid(m) if m.contains("batch size 0")),
        "{err:?}"
    );
    let err = supcon::infer::Embedder::load(&export, supcon::infer::Layer::Encoder)
        .unwrap()
        .with_batch_size(0)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(&err, InferError::Invalid(_)), "{err:?}");

    // Dataset flags with INPUT files only select nothing.
    let stderr = fails(&supcon(&[
        "predict",
        "--model",
        s(&export),
        s(&file),
        "--split",
        "train",
        "--test-limit",
        "3",
        "--limit",
        "5",
    ]));
    assert!(
        stderr.contains("--split, --limit, --test-limit: these flags select or load dataset")
            && stderr.contains("do not apply to INPUT files"),
        "{stderr}"
    );
    // With --data they apply to the dataset: one file + 3 test images.
    let doc = predict_json(&[
        "--model",
        s(&export),
        s(&file),
        "--data",
        "builtin",
        "--test-limit",
        "3",
        "--batch-size",
        "2",
    ]);
    assert_eq!(doc["samples"], 4);
    assert_eq!(doc["split"], "test");
    assert_eq!(doc["labelled"], 3);
}
