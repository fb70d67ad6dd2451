//! Model tests (issue 3): encoder shapes and parameter counts, heads, BatchNorm modes,
//! initialisation, safetensors round trips, and torchvision checkpoint import.

use std::path::Path;

use supcon::burn::module::Module;
use supcon::burn::nn::BatchNorm;
use supcon::burn::tensor::{Device, Distribution, Tensor, TensorData};
use supcon::model::resnet::Block;
use supcon::model::{
    BlockKind, Encoder, EncoderConfig, EncoderKind, HeadConfig, HeadKind, LinearClassifierConfig,
    ModelError, ResNet, ResNetConfig, Stem, SupConModelConfig, import_torchvision_classifier,
    import_torchvision_resnet, load_weights, read_weights_metadata, save_weights,
    save_weights_with_metadata,
};

fn cpu() -> Device {
    Device::flex()
}

fn images(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tolerance: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tolerance * (1.0 + x.abs().max(y.abs())),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Shapes and parameter counts
// ---------------------------------------------------------------------------------------

#[test]
fn every_depth_and_stem_gives_pooled_features() {
    let device = cpu();
    // Full width for the shallow nets; narrower deep nets keep the test cheap.
    let cases = [
        (18, 64, 512),
        (34, 64, 512),
        (50, 64, 2048),
        (101, 16, 512),
        (152, 16, 512),
        (200, 16, 512),
    ];
    for (depth, base_width, dim) in cases {
        for (stem, side, map_side) in [
            (Stem::Cifar, 32, 4),
            (Stem::Imagenet, 64, 2),
            (Stem::Compact, 32, 2),
        ] {
            let config = ResNetConfig::for_depth(depth)
                .unwrap()
                .with_stem(stem)
                .with_base_width(base_width);
            assert_eq!(config.feature_dim(), dim);
            let model = config.init(&device);
            assert_eq!(model.output_dim(), dim);
            let x = images([2, 3, side, side], &device);
            let map = model.feature_map(x.clone());
            assert_eq!(
                map.dims(),
                [2, dim, map_side, map_side],
                "resnet{depth} {stem}"
            );
            let features = model.forward(x);
            assert_eq!(features.dims(), [2, dim], "resnet{depth} {stem}");
            assert!(values(features).iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn grey_input_width_multiplier_and_tiny_preset() {
    let device = cpu();
    let model = ResNetConfig::resnet18()
        .with_in_channels(1)
        .with_base_width(8)
        .with_width_multiplier(2)
        .init(&device);
    assert_eq!(model.output_dim(), 128);
    assert_eq!(
        model.forward(images([3, 1, 28, 28], &device)).dims(),
        [3, 128]
    );

    let tiny = EncoderConfig::new(EncoderKind::ResNetTiny).init(&device);
    assert_eq!(tiny.output_dim(), 128);
    assert_eq!(
        tiny.forward(images([2, 3, 32, 32], &device)).dims(),
        [2, 128]
    );
    let Encoder::ResNet(resnet) = &tiny else {
        panic!("resnet-tiny is a ResNet")
    };
    assert_eq!(resnet.blocks().count(), 4);
    // Grey 28x28 images (MNIST-like) through the compact stem: 28 -> 14 -> 7 -> 4 -> 2.
    let grey = EncoderConfig::new(EncoderKind::ResNetTiny)
        .with_in_channels(1)
        .init(&device);
    let Encoder::ResNet(grey) = grey else {
        panic!("resnet-tiny is a ResNet")
    };
    let map = grey.feature_map(images([2, 1, 28, 28], &device));
    assert_eq!(map.dims(), [2, 128, 2, 2]);
    println!("resnet-tiny trainable parameters: {}", tiny.num_params());
}

#[test]
fn parameter_counts_match_torchvision() {
    let device = cpu();
    let expected = [
        (18, 11_689_512),
        (34, 21_797_672),
        (50, 25_557_032),
        (101, 44_549_160),
        (152, 60_192_808),
    ];
    for (depth, count) in expected {
        let encoder = ResNetConfig::for_depth(depth)
            .unwrap()
            .with_stem(Stem::Imagenet)
            .init(&device);
        let fc = LinearClassifierConfig::new(encoder.output_dim(), 1000).init(&device);
        assert_eq!(
            encoder.num_params() + fc.num_params(),
            count,
            "resnet{depth}"
        );
        // burn's Module::num_params also counts the BatchNorm running statistics.
        assert!(Module::num_params(&encoder) > encoder.num_params());
    }
    // ResNet-200 (not in torchvision; same construction).
    let encoder = ResNetConfig::resnet200()
        .with_stem(Stem::Imagenet)
        .init(&device);
    let fc = LinearClassifierConfig::new(2048, 1000).init(&device);
    println!(
        "resnet200 + fc(1000): {}",
        encoder.num_params() + fc.num_params()
    );
    // The CIFAR ResNet-18 of SupCon's code: 11,173,962 with a 10-class classifier.
    let encoder = ResNetConfig::resnet18().init(&device);
    let fc = LinearClassifierConfig::new(512, 10).init(&device);
    assert_eq!(encoder.num_params() + fc.num_params(), 11_173_962);
}

#[test]
fn mlp_encoder_flattens_images() {
    let device = cpu();
    let config = EncoderConfig::new(EncoderKind::Mlp)
        .with_input_dim(3 * 8 * 8)
        .with_mlp_hidden_dims(vec![64, 32]);
    let encoder = config.init(&device);
    assert_eq!(encoder.output_dim(), 32);
    let x = images([4, 3, 8, 8], &device);
    let from_images = encoder.forward(x.clone());
    assert_eq!(from_images.dims(), [4, 32]);
    let from_vectors = encoder.forward_flat(x.reshape([4, 192]));
    assert_eq!(values(from_images), values(from_vectors));
    // Linear(192, 64, no bias) + BN(64) + Linear(64, 32, no bias) + BN(32).
    assert_eq!(encoder.num_params(), 192 * 64 + 128 + 64 * 32 + 64);
}

// ---------------------------------------------------------------------------------------
// Heads
// ---------------------------------------------------------------------------------------

#[test]
fn projection_heads_are_unit_norm() {
    let device = cpu();
    for config in [
        HeadConfig::new(HeadKind::Linear),
        HeadConfig::new(HeadKind::Mlp),
        HeadConfig::new(HeadKind::Mlp)
            .with_batch_norm(true)
            .with_hidden_dim(Some(48)),
    ] {
        let head = config.init(64, &device);
        assert_eq!(head.output_dim(), 128);
        assert_eq!(head.kind(), config.kind);
        let x = images([6, 64, 1, 1], &device)
            .reshape([6, 64])
            .mul_scalar(37.0);
        let z = head.forward(x);
        assert_eq!(z.dims(), [6, 128]);
        let norms = values(z.square().sum_dim(1).sqrt());
        for norm in norms {
            assert!((norm - 1.0).abs() < 1e-5, "{:?}: norm {norm}", config.kind);
        }
    }
    // A zero row stays zero (no NaN).
    let zero = supcon::model::l2_normalize(Tensor::<2>::zeros([2, 5], &device));
    assert!(values(zero).iter().all(|v| *v == 0.0));
}

#[test]
fn supcon_model_encodes_and_projects() {
    let device = cpu();
    let model = SupConModelConfig::default().init(&device);
    assert_eq!(model.feature_dim(), 128);
    assert_eq!(model.projection_dim(), 128);
    let x = images([3, 3, 32, 32], &device);
    let features = model.encode(x.clone());
    assert_eq!(features.dims(), [3, 128]);
    let projected = model.project(x);
    assert_eq!(projected.dims(), [3, 128]);
    assert_eq!(
        values(projected),
        values(model.head.forward(features)),
        "project = head(encode)"
    );
    let classifier = LinearClassifierConfig::new(128, 10).init(&device);
    assert_eq!(classifier.num_classes(), 10);
    assert_eq!(
        classifier
            .forward(model.encode(images([2, 3, 32, 32], &device)))
            .dims(),
        [2, 10]
    );
}

// ---------------------------------------------------------------------------------------
// BatchNorm modes and initialisation
// ---------------------------------------------------------------------------------------

#[test]
fn batch_norm_train_uses_batch_stats_and_eval_uses_running_stats() {
    let train_device = cpu().autodiff();
    let model = ResNetConfig::tiny().init(&train_device);
    // `value()` can be one update behind; `value_sync()` folds in the pending update.
    let running_mean = |bn: &BatchNorm| values(bn.running_mean.value_sync());
    assert!(running_mean(&model.bn1).iter().all(|v| *v == 0.0));

    let x = images([8, 3, 16, 16], &cpu());
    let x_train = Tensor::<4>::from_data(x.to_data(), &train_device);
    let full = values(model.forward(x_train.clone()));
    let after_one = running_mean(&model.bn1);
    assert!(
        after_one.iter().any(|v| *v != 0.0),
        "training forward updates running stats"
    );
    let half = values(model.forward(x_train.narrow(0, 0, 4)));
    let row = 128;
    assert!(
        full[..row]
            .iter()
            .zip(&half[..row])
            .any(|(a, b)| (a - b).abs() > 1e-4),
        "training output of a sample depends on its batch"
    );
    assert_ne!(running_mean(&model.bn1), after_one);

    let eval = model.valid();
    let stats_before = running_mean(&eval.bn1);
    let full = values(eval.forward(x.clone()));
    let again = values(eval.forward(x.clone()));
    assert_eq!(full, again, "eval is deterministic");
    let half = values(eval.forward(x.clone().narrow(0, 0, 4)));
    assert_close(&full[..4 * row], &half, 1e-4, "eval output is per-sample");
    assert_eq!(
        running_mean(&eval.bn1),
        stats_before,
        "eval leaves running stats alone"
    );

    // Pitfall: a module built on a plain device never uses batch statistics.
    let plain = ResNetConfig::tiny().init(&cpu());
    let _ = plain.forward(x);
    assert!(running_mean(&plain.bn1).iter().all(|v| *v == 0.0));
}

fn gammas(bn: &BatchNorm) -> Vec<f32> {
    values(bn.gamma.val())
}

fn block_bns(block: &Block) -> Vec<&BatchNorm> {
    let mut bns = match block {
        Block::Basic(b) => vec![&b.bn1, &b.bn2],
        Block::Bottleneck(b) => vec![&b.bn1, &b.bn2, &b.bn3],
    };
    if let Some(downsample) = block.downsample() {
        bns.push(&downsample.bn);
    }
    bns
}

#[test]
fn zero_init_residual_zeroes_each_blocks_last_gamma() {
    let device = cpu();
    for config in [ResNetConfig::resnet18(), ResNetConfig::resnet50()] {
        let model = config
            .with_base_width(8)
            .with_zero_init_residual(true)
            .init(&device);
        for block in model.blocks() {
            let last = block.last_bn() as *const BatchNorm;
            for bn in block_bns(block) {
                let expected = if std::ptr::eq(bn, last) { 0.0 } else { 1.0 };
                assert!(gammas(bn).iter().all(|g| *g == expected));
                assert!(values(bn.beta.val()).iter().all(|b| *b == 0.0));
            }
        }
        assert!(gammas(&model.bn1).iter().all(|g| *g == 1.0));
    }

    // Each block then starts as relu(shortcut): the identity on non-negative input.
    let model = ResNetConfig::resnet18()
        .with_base_width(8)
        .with_zero_init_residual(true)
        .init(&device);
    let x = Tensor::<4>::random([2, 8, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
    assert!(model.layer1[1].downsample().is_none());
    assert_eq!(values(model.layer1[1].forward(x.clone())), values(x));

    let default = ResNetConfig::resnet18().with_base_width(8).init(&device);
    assert!(
        default
            .blocks()
            .all(|block| gammas(block.last_bn()).iter().all(|g| *g == 1.0))
    );
}

#[test]
fn convolutions_use_kaiming_normal_fan_out() {
    let device = cpu();
    device.seed(7);
    let model = ResNetConfig::resnet18().init(&device);
    let Block::Basic(block) = &model.layer4[1] else {
        panic!("resnet18 has basic blocks")
    };
    let weight = block.conv2.weight.val();
    assert_eq!(weight.dims(), [512, 512, 3, 3]);
    assert!(block.conv2.bias.is_none());
    let w = values(weight);
    let n = w.len() as f64;
    let mean = w.iter().map(|v| *v as f64).sum::<f64>() / n;
    let std = (w.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    let expected = (2.0f64 / (512.0 * 9.0)).sqrt(); // fan_out = 512 * 3 * 3
    assert!(mean.abs() < 1e-4, "mean {mean}");
    assert!(
        (std / expected - 1.0).abs() < 0.01,
        "std {std}, expected {expected}"
    );

    // The ImageNet stem: 7x7, fan_out = 64 * 49.
    let stem = ResNetConfig::resnet18()
        .with_stem(Stem::Imagenet)
        .init(&device);
    let w = values(stem.conv1.weight.val());
    let n = w.len() as f64;
    let std = (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n).sqrt();
    let expected = (2.0f64 / (64.0 * 49.0)).sqrt();
    assert!(
        (std / expected - 1.0).abs() < 0.05,
        "std {std}, expected {expected}"
    );
}

// ---------------------------------------------------------------------------------------
// Safetensors round trips and mismatches
// ---------------------------------------------------------------------------------------

#[test]
fn save_then_load_reproduces_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let config = SupConModelConfig {
        encoder: EncoderConfig::new(EncoderKind::ResNetTiny),
        head: HeadConfig::new(HeadKind::Mlp).with_batch_norm(true),
    };

    // Train-mode forwards move the running statistics away from their initial values.
    let train_device = cpu().autodiff();
    let model = config.init(&train_device);
    let _ = model.project(images([8, 3, 16, 16], &train_device));

    // Saved straight from training state: the pending running-statistic update is kept.
    let json = serde_json::to_string(&config).unwrap();
    save_weights_with_metadata(&model, &path, &[("supcon.config", json.as_str())]).unwrap();
    let model = model.valid();

    let metadata = read_weights_metadata(&path).unwrap();
    let stored: SupConModelConfig = serde_json::from_str(&metadata["supcon.config"]).unwrap();
    assert_eq!(stored, config);

    let loaded = load_weights(stored.init(&cpu()), &path).unwrap();
    let x = images([4, 3, 16, 16], &cpu());
    assert_eq!(
        values(model.project(x.clone())),
        values(loaded.project(x.clone()))
    );
    assert_eq!(values(model.encode(x.clone())), values(loaded.encode(x)));
    let running_var = values(model.head.bn.as_ref().unwrap().running_var.value());
    assert!(
        running_var.iter().any(|v| *v != 1.0),
        "running stats were trained"
    );
    assert_eq!(
        running_var,
        values(loaded.head.bn.as_ref().unwrap().running_var.value())
    );

    // Saving again replaces the file; no temporary file is left behind.
    save_weights(&loaded, &path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.safetensors")]);
    assert!(
        !read_weights_metadata(&path)
            .unwrap()
            .contains_key("supcon.config")
    );

    // A classifier on its own.
    let classifier = LinearClassifierConfig::new(128, 10).init(&cpu());
    let classifier_path = dir.path().join("probe.safetensors");
    save_weights(&classifier, &classifier_path).unwrap();
    let loaded = load_weights(
        LinearClassifierConfig::new(128, 10).init(&cpu()),
        &classifier_path,
    )
    .unwrap();
    let f = images([2, 128, 1, 1], &cpu()).reshape([2, 128]);
    assert_eq!(
        values(classifier.forward(f.clone())),
        values(loaded.forward(f))
    );
}

fn mismatch(err: ModelError, path: &Path) -> String {
    let text = err.to_string();
    assert!(
        matches!(err, ModelError::ArchitectureMismatch { .. }),
        "expected an architecture mismatch, got {text}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
    text
}

#[test]
fn loading_another_architecture_is_an_error() {
    let device = cpu();
    let dir = tempfile::tempdir().unwrap();
    let resnet = |layers: [usize; 4], width: usize| {
        Encoder::ResNet(
            ResNetConfig::new(BlockKind::Basic, layers)
                .with_base_width(8)
                .with_width_multiplier(width)
                .init(&device),
        )
    };
    let small = dir.path().join("small.safetensors");
    let deep = dir.path().join("deep.safetensors");
    save_weights(&resnet([1, 1, 1, 1], 1), &small).unwrap();
    save_weights(&resnet([2, 2, 2, 2], 1), &deep).unwrap();

    let text = mismatch(
        load_weights(resnet([2, 2, 2, 2], 1), &small).unwrap_err(),
        &small,
    );
    assert!(
        text.contains("missing from the file") && text.contains("layer1.1"),
        "{text}"
    );
    let text = mismatch(
        load_weights(resnet([1, 1, 1, 1], 1), &deep).unwrap_err(),
        &deep,
    );
    assert!(
        text.contains("not in the model") && text.contains("layer1.1"),
        "{text}"
    );
    let text = mismatch(
        load_weights(resnet([1, 1, 1, 1], 2), &small).unwrap_err(),
        &small,
    );
    assert!(
        text.contains("another shape") && text.contains("ResNet.conv1.weight"),
        "{text}"
    );

    let mlp = EncoderConfig::new(EncoderKind::Mlp).with_input_dim(12);
    mismatch(load_weights(mlp.init(&device), &small).unwrap_err(), &small);
    let model = SupConModelConfig::default().init(&device);
    mismatch(load_weights(model, &small).unwrap_err(), &small);

    // Not a safetensors file, and no file at all: errors, not panics.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"definitely not safetensors").unwrap();
    let err = load_weights(resnet([1, 1, 1, 1], 1), &junk).unwrap_err();
    assert!(matches!(err, ModelError::Weights { .. }), "{err}");
    let err = load_weights(resnet([1, 1, 1, 1], 1), dir.path().join("absent")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// torchvision checkpoints
// ---------------------------------------------------------------------------------------

/// Writes the minimal PyTorch 1.6+ checkpoint `torch.save(state_dict, path)` produces: a
/// stored ZIP with `archive/data.pkl` (a protocol-2 pickle of an `OrderedDict` of
/// `torch._utils._rebuild_tensor_v2(...)` calls whose storages are persistent ids), one
/// raw little-endian entry per storage under `archive/data/`, and `byteorder` / `version`.
mod torch_checkpoint {
    use std::path::Path;

    pub enum Data {
        F32(Vec<f32>),
        I64(Vec<i64>),
    }

    pub struct Entry {
        pub name: String,
        pub shape: Vec<usize>,
        pub data: Data,
    }

    pub fn write(path: &Path, entries: &[Entry]) {
        let mut files = vec![("archive/data.pkl".to_string(), pickle(entries))];
        files.push(("archive/byteorder".to_string(), b"little".to_vec()));
        for (key, entry) in entries.iter().enumerate() {
            let bytes = match &entry.data {
                Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            };
            files.push((format!("archive/data/{key}"), bytes));
        }
        files.push(("archive/version".to_string(), b"3\n".to_vec()));
        std::fs::write(path, zip(&files)).unwrap();
    }

    fn pickle(entries: &[Entry]) -> Vec<u8> {
        let mut p = vec![0x80, 2]; // PROTO 2
        let global = |p: &mut Vec<u8>, module: &str, name: &str| {
            p.push(b'c');
            p.extend(format!("{module}\n{name}\n").bytes());
        };
        let string = |p: &mut Vec<u8>, s: &str| {
            p.push(b'X'); // BINUNICODE
            p.extend((s.len() as u32).to_le_bytes());
            p.extend(s.bytes());
        };
        let int = |p: &mut Vec<u8>, v: usize| {
            p.push(b'J'); // BININT
            p.extend((v as i32).to_le_bytes());
        };
        let tuple = |p: &mut Vec<u8>, items: &[usize]| {
            if items.is_empty() {
                p.push(b')');
            } else {
                p.push(b'(');
                for &v in items {
                    int(p, v);
                }
                p.push(b't');
            }
        };
        let ordered_dict = |p: &mut Vec<u8>| {
            global(p, "collections", "OrderedDict");
            p.push(b')');
            p.push(b'R');
        };

        ordered_dict(&mut p);
        p.push(b'('); // MARK for SETITEMS
        for (key, entry) in entries.iter().enumerate() {
            let numel: usize = entry.shape.iter().product();
            let mut stride = vec![1; entry.shape.len()];
            for i in (0..entry.shape.len().saturating_sub(1)).rev() {
                stride[i] = stride[i + 1] * entry.shape[i + 1];
            }
            string(&mut p, &entry.name);
            global(&mut p, "torch._utils", "_rebuild_tensor_v2");
            p.push(b'('); // arguments
            p.push(b'('); // persistent id
            string(&mut p, "storage");
            let storage = match entry.data {
                Data::F32(_) => "FloatStorage",
                Data::I64(_) => "LongStorage",
            };
            global(&mut p, "torch", storage);
            string(&mut p, &key.to_string());
            string(&mut p, "cpu");
            int(&mut p, numel);
            p.push(b't');
            p.push(b'Q'); // BINPERSID
            int(&mut p, 0); // storage offset
            tuple(&mut p, &entry.shape);
            tuple(&mut p, &stride);
            p.push(0x89); // NEWFALSE: requires_grad
            ordered_dict(&mut p); // backward hooks
            p.push(b't');
            p.push(b'R');
        }
        p.push(b'u'); // SETITEMS
        p.push(b'.'); // STOP
        p
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= byte as u32;
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !crc
    }

    /// A ZIP archive with every entry stored (uncompressed), as `torch.save` writes.
    fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let crc = crc32(data);
            let size = data.len() as u32;
            let header = |sig: u32, central: bool| {
                let mut h = Vec::new();
                h.extend(sig.to_le_bytes());
                if central {
                    h.extend(20u16.to_le_bytes()); // version made by
                }
                h.extend(20u16.to_le_bytes()); // version needed
                h.extend(0u16.to_le_bytes()); // flags
                h.extend(0u16.to_le_bytes()); // stored
                h.extend(0u16.to_le_bytes()); // time
                h.extend(0x21u16.to_le_bytes()); // date: 1980-01-01
                h.extend(crc.to_le_bytes());
                h.extend(size.to_le_bytes());
                h.extend(size.to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend(0u16.to_le_bytes()); // extra length
                if central {
                    h.extend(0u16.to_le_bytes()); // comment length
                    h.extend(0u16.to_le_bytes()); // disk
                    h.extend(0u16.to_le_bytes()); // internal attributes
                    h.extend(0u32.to_le_bytes()); // external attributes
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.bytes());
                h
            };
            out.extend(header(0x0403_4b50, false));
            out.extend(data);
            central.extend(header(0x0201_4b50, true));
        }
        let central_offset = out.len() as u32;
        let central_size = central.len() as u32;
        out.extend(central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend((files.len() as u16).to_le_bytes());
        out.extend((files.len() as u16).to_le_bytes());
        out.extend(central_size.to_le_bytes());
        out.extend(central_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }
}

use torch_checkpoint::{Data, Entry};

/// Builds a torchvision-style state dict with distinct deterministic values.
#[derive(Default)]
struct StateDict {
    entries: Vec<Entry>,
    counter: u64,
}

impl StateDict {
    fn tensor(&mut self, name: String, shape: Vec<usize>, positive: bool) {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                self.counter += 1;
                let v = ((self.counter * 2_654_435_761) % 10_007) as f32 / 10_007.0 - 0.5;
                if positive { v.abs() + 0.5 } else { v }
            })
            .collect();
        self.entries.push(Entry {
            name,
            shape,
            data: Data::F32(data),
        });
    }

    fn conv(&mut self, name: &str, out: usize, inp: usize, k: usize) {
        self.tensor(format!("{name}.weight"), vec![out, inp, k, k], false);
    }

    fn bn(&mut self, name: &str, c: usize) {
        self.tensor(format!("{name}.weight"), vec![c], false);
        self.tensor(format!("{name}.bias"), vec![c], false);
        self.tensor(format!("{name}.running_mean"), vec![c], false);
        self.tensor(format!("{name}.running_var"), vec![c], true);
        self.entries.push(Entry {
            name: format!("{name}.num_batches_tracked"),
            shape: vec![],
            data: Data::I64(vec![100]),
        });
    }
}

/// A torchvision-style state dict for the given architecture, written independently of
/// our module tree (torchvision's own construction rules).
fn torchvision_state_dict(config: &ResNetConfig, classes: usize) -> Vec<Entry> {
    let mut sd = StateDict::default();
    let width = config.base_width * config.width_multiplier;
    let stem_kernel = match config.stem {
        Stem::Cifar | Stem::Compact => 3,
        Stem::Imagenet => 7,
    };
    sd.conv("conv1", width, config.in_channels, stem_kernel);
    sd.bn("bn1", width);
    let expansion = config.block.expansion();
    let mut inp = width;
    for (stage, &blocks) in config.layers.iter().enumerate() {
        let planes = width << stage;
        for index in 0..blocks {
            let stride = if stage > 0 && index == 0 { 2 } else { 1 };
            let p = format!("layer{}.{index}", stage + 1);
            let out = planes * expansion;
            match config.block {
                BlockKind::Basic => {
                    sd.conv(&format!("{p}.conv1"), planes, inp, 3);
                    sd.bn(&format!("{p}.bn1"), planes);
                    sd.conv(&format!("{p}.conv2"), planes, planes, 3);
                    sd.bn(&format!("{p}.bn2"), planes);
                }
                BlockKind::Bottleneck => {
                    sd.conv(&format!("{p}.conv1"), planes, inp, 1);
                    sd.bn(&format!("{p}.bn1"), planes);
                    sd.conv(&format!("{p}.conv2"), planes, planes, 3);
                    sd.bn(&format!("{p}.bn2"), planes);
                    sd.conv(&format!("{p}.conv3"), out, planes, 1);
                    sd.bn(&format!("{p}.bn3"), out);
                }
            }
            if stride != 1 || inp != out {
                sd.conv(&format!("{p}.downsample.0"), out, inp, 1);
                sd.bn(&format!("{p}.downsample.1"), out);
            }
            inp = out;
        }
    }
    sd.tensor("fc.weight".to_string(), vec![classes, inp], false);
    sd.tensor("fc.bias".to_string(), vec![classes], false);
    sd.entries
}

/// Our tensor for a torchvision name, found by walking the module by hand.
fn our_tensor(model: &ResNet, name: &str) -> Vec<f32> {
    let bn_param = |bn: &BatchNorm, param: &str| match param {
        "weight" => values(bn.gamma.val()),
        "bias" => values(bn.beta.val()),
        "running_mean" => values(bn.running_mean.value()),
        "running_var" => values(bn.running_var.value()),
        other => panic!("no BatchNorm parameter {other}"),
    };
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["conv1", "weight"] => values(model.conv1.weight.val()),
        ["bn1", param] => bn_param(&model.bn1, param),
        [layer, index, rest @ ..] => {
            let stage = match *layer {
                "layer1" => &model.layer1,
                "layer2" => &model.layer2,
                "layer3" => &model.layer3,
                "layer4" => &model.layer4,
                other => panic!("unexpected {other}"),
            };
            let block = &stage[index.parse::<usize>().unwrap()];
            let downsample = || block.downsample().expect("block has a shortcut");
            match (rest, block) {
                (["downsample", "0", "weight"], _) => values(downsample().conv.weight.val()),
                (["downsample", "1", param], _) => bn_param(&downsample().bn, param),
                (["conv1", "weight"], Block::Basic(b)) => values(b.conv1.weight.val()),
                (["conv2", "weight"], Block::Basic(b)) => values(b.conv2.weight.val()),
                (["bn1", param], Block::Basic(b)) => bn_param(&b.bn1, param),
                (["bn2", param], Block::Basic(b)) => bn_param(&b.bn2, param),
                (["conv1", "weight"], Block::Bottleneck(b)) => values(b.conv1.weight.val()),
                (["conv2", "weight"], Block::Bottleneck(b)) => values(b.conv2.weight.val()),
                (["conv3", "weight"], Block::Bottleneck(b)) => values(b.conv3.weight.val()),
                (["bn1", param], Block::Bottleneck(b)) => bn_param(&b.bn1, param),
                (["bn2", param], Block::Bottleneck(b)) => bn_param(&b.bn2, param),
                (["bn3", param], Block::Bottleneck(b)) => bn_param(&b.bn3, param),
                _ => panic!("unexpected name {name}"),
            }
        }
        _ => panic!("unexpected name {name}"),
    }
}

#[test]
fn imports_torchvision_resnet_checkpoints() {
    let device = cpu();
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        ResNetConfig::new(BlockKind::Basic, [2, 1, 1, 1])
            .with_stem(Stem::Imagenet)
            .with_base_width(4),
        ResNetConfig::new(BlockKind::Bottleneck, [1, 2, 1, 1])
            .with_base_width(2)
            .with_in_channels(1),
    ];
    for (i, config) in configs.iter().enumerate() {
        let path = dir.path().join(format!("resnet{i}.pth"));
        let entries = torchvision_state_dict(config, 5);
        torch_checkpoint::write(&path, &entries);

        let (model, report) = import_torchvision_resnet(config.init(&device), &path, None).unwrap();
        let mut checked = 0;
        for entry in &entries {
            let skipped =
                entry.name.starts_with("fc.") || entry.name.ends_with("num_batches_tracked");
            assert_eq!(
                report.skipped.contains(&entry.name),
                skipped,
                "{}",
                entry.name
            );
            if skipped {
                continue;
            }
            let Data::F32(expected) = &entry.data else {
                unreachable!()
            };
            assert_eq!(&our_tensor(&model, &entry.name), expected, "{}", entry.name);
            checked += 1;
        }
        assert_eq!(report.applied.len(), checked);

        let x = images([2, config.in_channels, 32, 32], &device);
        let features = values(model.forward(x));
        assert!(features.iter().all(|v| v.is_finite()));

        // The classifier: PyTorch's [K, D] weight becomes burn's [D, K].
        let dim = config.feature_dim();
        let classifier = import_torchvision_classifier(
            LinearClassifierConfig::new(dim, 5).init(&device),
            &path,
            None,
        )
        .unwrap();
        let find = |name: &str| match &entries.iter().find(|e| e.name == name).unwrap().data {
            Data::F32(v) => v.clone(),
            Data::I64(_) => unreachable!(),
        };
        assert_eq!(
            values(classifier.fc.weight.val().transpose()),
            find("fc.weight")
        );
        assert_eq!(
            values(classifier.fc.bias.as_ref().unwrap().val()),
            find("fc.bias")
        );
    }

    // A checkpoint of another depth is refused with the names that differ.
    let path = dir.path().join("resnet0.pth");
    let other = ResNetConfig::new(BlockKind::Basic, [1, 1, 1, 1])
        .with_stem(Stem::Imagenet)
        .with_base_width(4);
    let err = import_torchvision_resnet(other.init(&device), &path, None).unwrap_err();
    let text = mismatch(err, &path);
    assert!(
        text.contains("not in the model (layer1.1.bn1.bias"),
        "{text}"
    );
    // And a checkpoint for another stem.
    let other = configs[0].clone().with_stem(Stem::Cifar);
    let err = import_torchvision_resnet(other.init(&device), &path, None).unwrap_err();
    let text = mismatch(err, &path);
    assert!(
        text.contains("conv1.weight: file [4, 3, 7, 7], model [4, 3, 3, 3]"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Timing of the CPU preset (run explicitly)
// ---------------------------------------------------------------------------------------

/// The SupCon loss (L_out) with temperature `t`, for timing only.
///
/// # Shapes
/// - `z`: `[N, P]`, unit rows
/// - returns: `[1]`
fn supcon_loss(z: Tensor<2>, labels: &[usize], t: f64) -> Tensor<1> {
    let n = labels.len();
    let device = z.device();
    let logits = z.clone().matmul(z.transpose()).div_scalar(t); // [N, N]
    let eye = Tensor::<2>::eye(n, &device); // [N, N]
    let logits = logits - eye.clone().mul_scalar(1e9); // [N, N]
    let logits = logits.clone() - logits.max_dim(1).detach(); // [N, N]
    let log_norm = logits.clone().exp().sum_dim(1).log(); // [N, 1]
    let log_prob = logits - log_norm; // [N, N]
    let mask: Vec<f32> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            if i != j && labels[i] == labels[j] {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, n]), &device); // [N, N]
    let positives = mask.clone().sum_dim(1); // [N, 1]
    let per_anchor = (mask * log_prob).sum_dim(1) / positives; // [N, 1]
    per_anchor.mean().neg() // [1]
}

/// CPU time of this process (all threads) in seconds, from `/proc/self/stat` (Linux).
/// On a busy machine, CPU-seconds / cores estimates the wall time on idle cores.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command name: utime and stime are fields 12 and 13 (in clock ticks,
    // USER_HZ = 100 on Linux).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// `cargo test --test models -- --ignored --nocapture tiny_preset_supcon_step_timing`
/// (the test profile builds burn at opt-level 3, so this is representative).
#[test]
#[ignore = "timing: run explicitly"]
fn tiny_preset_supcon_step_timing() {
    use supcon::burn::optim::{GradientsParams, SgdConfig, momentum::MomentumConfig};

    let batch: usize = std::env::var("SUPCON_TIMING_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let device = cpu().autodiff();
    let presets = [
        ("resnet-tiny (compact stem)", ResNetConfig::tiny()),
        (
            "resnet-tiny with the cifar stem",
            ResNetConfig::tiny().with_stem(Stem::Cifar),
        ),
    ];
    for (name, resnet) in presets {
        let encoder = Encoder::ResNet(resnet.init(&device));
        let head = HeadConfig::default().init(encoder.output_dim(), &device);
        let mut model = supcon::model::SupConModel { encoder, head };
        let mut optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new()))
            .init();
        let x = images([2 * batch, 3, 32, 32], &device);
        let labels: Vec<usize> = (0..2 * batch).map(|i| (i % batch) % 10).collect();
        let mut times = Vec::new();
        let cpu_start = process_cpu_seconds();
        for _ in 0..4 {
            let start = std::time::Instant::now();
            let z = model.project(x.clone());
            let loss = supcon_loss(z, &labels, 0.1);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05, model, grads);
            let value: f32 = loss.into_scalar();
            assert!(value.is_finite());
            times.push(start.elapsed().as_secs_f64());
        }
        let cpu = process_cpu_seconds().map(|end| (end - cpu_start.unwrap_or(0.0)) / 4.0);
        let steady = &times[1..];
        let mean = steady.iter().sum::<f64>() / steady.len() as f64;
        println!(
            "{name}: {} params, batch {batch} (x2 views): steps {times:.3?} s, steady mean \
             {mean:.3} s wall, {cpu:.3?} CPU-s per step (all threads)",
            model.num_params()
        );
    }
}
