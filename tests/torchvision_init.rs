//! torchvision weights (issue 24, "Ecosystem"): the checked-in fixtures give PyTorch's
//! logits and features to 1e-4; the CIFAR stem keeps its own weights and loads the rest;
//! bad files are named with the tensor at fault; `--init torchvision:FILE` reaches
//! `pretrain`, `train-ce` and `finetune`.
//!
//! The fixtures in `tests/fixtures/torchvision/` (torchvision-layout ResNet-18 at base
//! width 4 as `.pth` and `.safetensors`, ResNet-50 at base width 2 as `.pth`, random
//! weights and BatchNorm statistics, and `expected.json` with PyTorch's eval-mode outputs)
//! were made by `scripts/make_torchvision_fixture.py` (torch 2.15, CPU):
//!
//!     nice -n 19 python3 scripts/make_torchvision_fixture.py tests/fixtures/torchvision

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use supcon::burn::store::ModuleSnapshot;
use supcon::burn::tensor::{Device, Tensor, TensorData};
use supcon::model::{
    LinearClassifierConfig, ModelError, ResNet, ResNetConfig, Stem, import_torchvision_classifier,
    import_torchvision_resnet, init_resnet, save_torchvision_resnet,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchvision")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// The fixture's input `[2, 3, 32, 32]`: element `i` is `sin(0.37 i) + 0.25 cos(0.011 i)`
/// (computed in float64, then rounded to float32, as the script does).
fn fixture_input(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| {
            let i = i as f64;
            ((0.37 * i).sin() + 0.25 * (0.011 * i).cos()) as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [2, 3, 32, 32]), device)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// `|a - b| <= 1e-4 * max(1, |b|)` elementwise (absolute below 1, relative above: the
/// ResNet-50 fixture's logits reach about 100).
fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, b)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "{what}: element {i}: {a} vs PyTorch's {b}"
        );
    }
}

fn config(arch: &str, base_width: usize) -> ResNetConfig {
    match arch {
        "resnet18" => ResNetConfig::resnet18(),
        "resnet50" => ResNetConfig::resnet50(),
        other => panic!("no fixture architecture {other}"),
    }
    .with_base_width(base_width)
}

/// Every tensor of a module by torchvision-style path (no enum variants), as floats.
fn tensors<M: ModuleSnapshot>(module: &M) -> BTreeMap<String, Vec<f32>> {
    module
        .collect(None, None, true)
        .iter()
        .map(|t| {
            let data = supcon::burn::store::bridge::to_data(t).unwrap();
            (t.name.clone(), data.try_to_vec::<f32>().unwrap())
        })
        .collect()
}

#[test]
fn fixtures_give_pytorchs_logits_and_features() {
    let device = Device::flex();
    let expected = expected();
    let models = expected["models"].as_object().unwrap();
    assert_eq!(models.len(), 2);
    let mut checked = 0;
    for (name, model) in models {
        let arch = model["arch"].as_str().unwrap();
        let width = model["base_width"].as_u64().unwrap() as usize;
        let classes = model["num_classes"].as_u64().unwrap() as usize;
        for file in model["files"].as_array().unwrap() {
            let path = fixtures().join(file.as_str().unwrap());
            let resnet = config(arch, width).with_stem(Stem::Imagenet).init(&device);
            let (resnet, report) = import_torchvision_resnet(resnet, &path, None).unwrap();
            // Every model tensor came from the file; fc and num_batches_tracked did not.
            assert_eq!(report.applied.len(), tensors(&resnet).len(), "{name}");
            assert!(report.skipped.iter().any(|s| s == "fc.weight"), "{name}");
            let classifier =
                LinearClassifierConfig::new(resnet.output_dim(), classes).init(&device);
            let classifier = import_torchvision_classifier(classifier, &path, None).unwrap();
            // A plain (non-autodiff) device: BatchNorm uses the running statistics, as
            // PyTorch's eval mode.
            let features = resnet.forward(fixture_input(&device));
            let logits = classifier.forward(features.clone());
            let what = format!("{name} from {}", path.display());
            assert_close(&values(features), &floats(&model["features"]), &what);
            assert_close(&values(logits), &floats(&model["logits"]), &what);
            checked += 1;
        }
    }
    // ResNet-18 as .pth and .safetensors, ResNet-50 as .pth.
    assert_eq!(checked, 3);
}

#[test]
fn cifar_stem_keeps_its_stem_and_loads_the_rest() {
    let device = Device::flex();
    let path = fixtures().join("resnet18_w4.pth");
    let full = config("resnet18", 4).with_stem(Stem::Imagenet);
    let (reference, _) = import_torchvision_resnet(full.init(&device), &path, None).unwrap();
    let reference = tensors(&reference);
    for (stem, channels) in [(Stem::Cifar, 1), (Stem::Cifar, 3), (Stem::Compact, 3)] {
        let cifar = config("resnet18", 4)
            .with_stem(stem)
            .with_in_channels(channels);
        let own = cifar.init(&device);
        let own_stem = tensors(&own)["conv1.weight"].clone();
        let (resnet, report) = init_resnet(own, &cifar, &path, &device).unwrap();
        let loaded = tensors(&resnet);
        // The stem is the model's own: conv1 3x3 on `channels` inputs, its values kept.
        assert_eq!(loaded["conv1.weight"], own_stem);
        assert_eq!(loaded["conv1.weight"].len(), 4 * channels * 3 * 3);
        assert_eq!(
            report.stem_kept,
            [
                "conv1.weight",
                "bn1.weight",
                "bn1.bias",
                "bn1.running_mean",
                "bn1.running_var"
            ]
        );
        // Every other tensor is the file's.
        let mut compared = 0;
        for (name, value) in &loaded {
            if !(name.starts_with("conv1.") || name.starts_with("bn1.")) {
                assert_eq!(value, &reference[name], "{name}");
                compared += 1;
            }
        }
        assert_eq!(compared, report.loaded);
        assert_eq!(compared, reference.len() - 5);
        let warning = report.warning().unwrap();
        assert!(
            warning.contains("resnet18_w4.pth") && warning.contains("--stem imagenet"),
            "{warning}"
        );
        // And it runs on images of its channel count.
        let x = Tensor::<4>::zeros([1, channels, 16, 16], &device);
        assert_eq!(resnet.forward(x).dims(), [1, 32]);
    }
    // With the ImageNet stem nothing is kept back, and there is no warning.
    let (_, report) = init_resnet(full.init(&device), &full, &path, &device).unwrap();
    assert!(report.stem_kept.is_empty() && report.warning().is_none());
    assert_eq!(report.loaded, reference.len());
}

/// The message of an import error, which must name `path`.
fn message(err: ModelError, path: &Path) -> String {
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "the error does not name {}: {text}",
        path.display()
    );
    text
}

fn import_err(config: &ResNetConfig, path: &Path) -> String {
    let device = Device::flex();
    match init_resnet(config.init(&device), config, path, &device) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(err) => message(err, path),
    }
}

/// A copy of the ResNet-18 safetensors fixture with its JSON header edited by `edit`.
fn edited_safetensors(
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> PathBuf {
    let bytes = std::fs::read(fixtures().join("resnet18_w4.safetensors")).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    edit(&mut header);
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + len..]);
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn bad_files_are_named_with_the_tensor_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let r18 = config("resnet18", 4).with_stem(Stem::Imagenet);

    let absent = dir.path().join("absent.pth");
    let err = import_err(&r18, &absent);
    assert!(err.contains("No such file"), "{err}");

    let junk = dir.path().join("junk.pth");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    import_err(&r18, &junk);
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let err = import_err(&r18, &junk);
    assert!(err.contains("not a safetensors file"), "{err}");
    let err = import_err(&r18, dir.path());
    assert!(err.contains("not a regular file"), "{err}");

    // Another depth: ResNet-50 weights into a ResNet-18, and the reverse.
    let r50_file = fixtures().join("resnet50_w2.pth");
    let err = import_err(&r18, &r50_file);
    assert!(
        err.contains("the file holds a ResNet-50") && err.contains("a ResNet-18"),
        "{err}"
    );
    let r50 = config("resnet50", 2).with_stem(Stem::Imagenet);
    let r18_file = fixtures().join("resnet18_w4.pth");
    let err = import_err(&r50, &r18_file);
    assert!(
        err.contains("the file holds a ResNet-18") && err.contains("a ResNet-50"),
        "{err}"
    );

    // Another width (a full torchvision ResNet-18 has 64 stem channels).
    let err = import_err(
        &ResNetConfig::resnet18().with_stem(Stem::Imagenet),
        &r18_file,
    );
    assert!(
        err.contains("conv1.weight has 4 output channels") && err.contains("64"),
        "{err}"
    );

    // A 7x7 stem cannot take grayscale images.
    let err = import_err(&r18.clone().with_in_channels(1), &r18_file);
    assert!(
        err.contains("conv1.weight takes 3 image channels, the data has 1"),
        "{err}"
    );

    // A renamed tensor: both names are reported.
    let renamed = edited_safetensors(dir.path(), "renamed.safetensors", |h| {
        let entry = h.remove("layer2.0.conv1.weight").unwrap();
        h.insert("layer2.0.convX.weight".into(), entry);
    });
    let err = import_err(&r18, &renamed);
    assert!(
        err.contains("layer2.0.conv1.weight") && err.contains("layer2.0.convX.weight"),
        "{err}"
    );

    // A tensor of another shape (same number of elements): named with both shapes.
    let reshaped = edited_safetensors(dir.path(), "reshaped.safetensors", |h| {
        h["layer3.1.conv2.weight"]["shape"] = serde_json::json!([16, 4, 3, 12]);
    });
    let err = import_err(&r18, &reshaped);
    assert!(
        err.contains("layer3.1.conv2.weight: file [16, 4, 3, 12], model [16, 16, 3, 3]"),
        "{err}"
    );

    // Not a plain ResNet state dict: every name under another prefix (here `module.`, as
    // `torch.save` of an `nn.DataParallel` model writes it).
    let prefixed = edited_safetensors(dir.path(), "prefixed.safetensors", |h| {
        let names: Vec<String> = h.keys().filter(|n| *n != "__metadata__").cloned().collect();
        for name in names {
            let entry = h.remove(&name).unwrap();
            h.insert(format!("module.{name}"), entry);
        }
    });
    let err = import_err(&r18, &prefixed);
    assert!(
        err.contains("not a torchvision ResNet state dict")
            && err.contains("module.bn1.bias")
            && err.contains("model.module.state_dict()"),
        "{err}"
    );
}

#[test]
fn save_torchvision_resnet_round_trips() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r50.safetensors");
    let r50 = config("resnet50", 2).with_stem(Stem::Imagenet);
    let (source, _) =
        import_torchvision_resnet(r50.init(&device), fixtures().join("resnet50_w2.pth"), None)
            .unwrap();
    save_torchvision_resnet(&source, &path).unwrap();
    let names = supcon::model::read_torchvision_signature(&path, None).unwrap();
    assert!(names.contains_key("layer2.0.downsample.0.weight"));
    assert!(names.contains_key("layer2.0.downsample.1.running_var"));
    assert!(names.contains_key("bn1.weight") && !names.contains_key("bn1.gamma"));
    let (copy, _) = import_torchvision_resnet(r50.init(&device), &path, None).unwrap();
    assert_eq!(tensors(&copy), tensors(&source));
}

// ---------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------

/// Runs the binary, expecting failure; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = common::supcon(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "supcon {args:?} succeeded");
    stderr
}

fn init_flag(path: &Path) -> String {
    format!("torchvision:{}", path.display())
}

#[test]
fn cli_refuses_bad_init_before_creating_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("resnet18_w4.pth");
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let fixture_flag = init_flag(&fixture);

    // The fixture is narrower than a real ResNet-18.
    for command in ["pretrain", "train-ce"] {
        let err = fails(&[
            command,
            "--model",
            "resnet18",
            "--init",
            &fixture_flag,
            "--out",
            run_s,
        ]);
        assert!(
            err.contains("resnet18_w4.pth") && err.contains("conv1.weight has 4 output channels"),
            "{command}: {err}"
        );
        assert!(!run.exists(), "{command} created {run_s}");
    }
    let err = fails(&[
        "pretrain",
        "--model",
        "resnet50",
        "--init",
        &fixture_flag,
        "--out",
        run_s,
    ]);
    assert!(err.contains("the file holds a ResNet-18"), "{err}");
    let err = fails(&["train-ce", "--init", &fixture_flag, "--out", run_s]);
    assert!(
        err.contains("resnet-tiny") && err.contains("resnet18"),
        "{err}"
    );
    let absent = dir.path().join("absent.safetensors");
    let err = fails(&[
        "train-ce",
        "--model",
        "resnet34",
        "--init",
        &init_flag(&absent),
        "--out",
        run_s,
    ]);
    assert!(err.contains("absent.safetensors"), "{err}");
    let err = fails(&["pretrain", "--init", "resnet18.pth", "--out", run_s]);
    assert!(err.contains("torchvision:FILE"), "{err}");
    assert!(!run.exists());

    // finetune: --init or --encoder, and --model only with --init.
    let err = fails(&[
        "finetune",
        "--encoder",
        "x",
        "--init",
        &fixture_flag,
        "--out",
        run_s,
    ]);
    assert!(err.contains("--init") && err.contains("--encoder"), "{err}");
    let err = fails(&[
        "finetune",
        "--encoder",
        "x",
        "--model",
        "resnet18",
        "--out",
        run_s,
    ]);
    assert!(err.contains("--model") && err.contains("--init"), "{err}");
    let err = fails(&[
        "finetune",
        "--model",
        "resnet18",
        "--init",
        &fixture_flag,
        "--out",
        run_s,
    ]);
    assert!(err.contains("conv1.weight has 4 output channels"), "{err}");
    assert!(!run.exists());
}

/// A full-width torchvision ResNet-18 (random weights, ImageNet stem) written as a
/// torchvision state dict: what a user's `resnet18-f37072fd.pth` holds, without the
/// download.
fn full_resnet18(dir: &Path) -> (PathBuf, ResNet) {
    let device = Device::flex();
    device.seed(11);
    let resnet = ResNetConfig::resnet18()
        .with_stem(Stem::Imagenet)
        .init(&device);
    let path = dir.join("resnet18.safetensors");
    save_torchvision_resnet(&resnet, &path).unwrap();
    (path, resnet)
}

/// The run's trained encoder, by torchvision-style name.
fn run_encoder(run: &Path) -> BTreeMap<String, Vec<f32>> {
    let model = supcon::infer::ModelDir::open(run).unwrap();
    let encoder = model.load_encoder(&Device::flex()).unwrap();
    tensors(&encoder)
        .into_iter()
        .map(|(name, value)| (name.trim_start_matches("ResNet.").to_string(), value))
        .collect()
}

fn assert_near(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "{what}: differs by {worst}");
}

#[test]
fn cli_trains_from_torchvision_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (weights, source) = full_resnet18(dir.path());
    let source = tensors(&source);
    let flag = init_flag(&weights);
    let data = dir.path().join("idx");
    common::banded_idx(&data, 16, 8);
    let data_spec = format!("idx:{}", data.display());
    // A learning rate of 1e-9 leaves the weights where --init put them (to 1e-5).
    let budget = [
        "--data",
        &data_spec,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--lr",
        "1e-9",
        "--quiet",
    ];

    // train-ce and finetune on grayscale 12x12 images with the default cifar stem: the
    // stem is not loaded (a warning says so), every other tensor is.
    for command in ["train-ce", "finetune"] {
        let run = dir.path().join(command);
        let mut args = vec![command, "--model", "resnet18", "--init", &flag];
        args.extend(budget);
        args.extend(["--out", run.to_str().unwrap()]);
        let out = common::supcon(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        assert!(
            stderr.contains("warning:")
                && stderr.contains("resnet18.safetensors")
                && stderr.contains("conv1.weight, bn1.weight"),
            "{command}: {stderr}"
        );
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(
            config["init"],
            Value::String(format!("torchvision:{}", weights.display()))
        );
        let trained = run_encoder(&run);
        assert_eq!(
            trained["conv1.weight"].len(),
            64 * 9,
            "{command}: a 3x3 1-channel stem"
        );
        for name in [
            "layer1.0.conv1.weight",
            "layer3.1.conv2.weight",
            "layer4.0.downsample.conv.weight",
        ] {
            assert_near(&trained[name], &source[name], &format!("{command}: {name}"));
        }
    }

    // pretrain with --stem imagenet on RGB images: the whole file, stem included.
    let folder = dir.path().join("rgb");
    for class in ["a", "b"] {
        std::fs::create_dir_all(folder.join(class)).unwrap();
        for i in 0..6u32 {
            let image = image::RgbImage::from_fn(16, 16, |x, y| {
                image::Rgb([
                    (x * 16 + i) as u8,
                    (y * 16) as u8,
                    if class == "a" { 30 } else { 220 },
                ])
            });
            image
                .save(folder.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let run = dir.path().join("pretrain");
    let folder_spec = format!("folder:{}?size=16", folder.display());
    let out = common::supcon(&[
        "pretrain",
        "--model",
        "resnet18",
        "--stem",
        "imagenet",
        "--init",
        &flag,
        "--data",
        &folder_spec,
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--lr",
        "1e-9",
        "--out",
        run.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pretrain: {stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(stderr.contains("encoder initialised from"), "{stderr}");
    let trained = run_encoder(&run);
    for name in [
        "conv1.weight",
        "layer2.1.conv1.weight",
        "layer4.1.conv2.weight",
    ] {
        assert_near(&trained[name], &source[name], &format!("pretrain: {name}"));
    }
    // --resume does not read the file again (the checkpoint holds the weights), and
    // refuses a new --init.
    let err = fails(&[
        "pretrain",
        "--resume",
        run.to_str().unwrap(),
        "--init",
        &flag,
    ]);
    assert!(err.contains("--init"), "{err}");
}
