//! Data-parallel global-batch SupCon: a step over several devices (threads acting as
//! devices on the CPU) equals a one-device step on the concatenated batch.
//!
//! Every anchor sees every device's samples, so the reference is the plain autodiff loss
//! over the whole batch. With BatchNorm, each device normalises its own shard (chunk by
//! chunk with `chunk`), so the reference applies BatchNorm over the same groups.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use supcon::data::batcher::Batch;
use supcon::loss::{Positives, SupConLossConfig};
use supcon::model::{
    EncoderConfig, EncoderKind, HeadConfig, LinearClassifierConfig, SupConModelConfig,
};
use supcon::train::chunked::{chunked_gradients, untracked_copy};
mod common;
use common::{copy_dir, ok, step_losses, tiny_batch};
use supcon::train::distributed::{DataParallel, shard};
use supcon::train::pretrain::PretrainModel;

/// Trainable parameters only (BatchNorm running statistics are per-device state).
fn trainable<M: Module>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val();
            if t.is_require_grad() {
                self.0.extend(t.try_into_vec_as::<f32>().unwrap());
            }
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

#[derive(Clone, Copy)]
enum Arch {
    /// MLP encoder and head without BatchNorm: every sample's embedding is independent.
    MlpNoNorm,
    /// resnet-tiny: BatchNorm everywhere.
    ResNetTiny,
}

fn config(arch: Arch) -> SupConModelConfig {
    let encoder = match arch {
        Arch::MlpNoNorm => {
            let mut e = EncoderConfig::new(EncoderKind::Mlp);
            e.input_dim = Some(64);
            e.mlp_hidden_dims = vec![32, 16];
            e.mlp_batch_norm = false;
            e
        }
        Arch::ResNetTiny => {
            let mut e = EncoderConfig::new(EncoderKind::ResNetTiny);
            e.in_channels = 1;
            e
        }
    };
    SupConModelConfig {
        encoder,
        head: HeadConfig::default(),
    }
}

fn model(arch: Arch, device: &Device, joint: bool, seed: u64) -> PretrainModel {
    device.seed(seed);
    let net = config(arch).try_init(device).unwrap();
    let classifier = joint.then(|| LinearClassifierConfig::new(net.feature_dim(), 3).init(device));
    PretrainModel { net, classifier }
}

fn tensor(b: &Batch, rows: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
    let [_, c, h, w] = b.shape();
    let image = c * h * w;
    Tensor::<4>::from_data(
        TensorData::new(
            b.images[rows.start * image..rows.end * image].to_vec(),
            [rows.len(), c, h, w],
        ),
        device,
    )
}

/// The reference: one autodiff graph over the whole batch; BatchNorm over the rows of each
/// shard, `chunk` at a time; the loss over the concatenated `[B, V, P]` batch.
fn reference(
    m: &PretrainModel,
    b: &Batch,
    devices: usize,
    chunk: Option<usize>,
    cfg: &SupConLossConfig,
    device: &Device,
) -> GradientsParams {
    let mut per_shard = Vec::new();
    let mut feats = Vec::new();
    let mut labels = Vec::new();
    for s in shard(b, devices).unwrap() {
        let rows = s.views * s.batch_size;
        let chunk = chunk.unwrap_or(rows);
        let mut zs = Vec::new();
        for start in (0..rows).step_by(chunk) {
            let f = m
                .net
                .encode(tensor(&s, start..rows.min(start + chunk), device));
            zs.push(m.net.head.forward(f.clone()));
            feats.push(f);
        }
        let z = Tensor::cat(zs, 0); // [V*b_r, P]
        let p = z.dims()[1];
        per_shard.push(z.reshape([s.views, s.batch_size, p]).swap_dims(0, 1)); // [b_r, V, P]
        // The joint classifier's labels, view-major within each shard, as its features.
        for _ in 0..s.views {
            labels.extend(s.labels.iter().map(|&l| l as i64));
        }
    }
    let z = Tensor::cat(per_shard, 0); // [B, V, P]
    let mut loss = cfg
        .init()
        .unwrap()
        .forward(z, Positives::Labels(&b.labels))
        .unwrap();
    if let Some(classifier) = &m.classifier {
        let logits = classifier.forward(Tensor::cat(feats, 0).detach());
        let n = labels.len();
        let y = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(labels, [n]), device);
        let ce = burn::nn::loss::CrossEntropyLossConfig::new().init(device);
        loss = loss.add(ce.forward(logits, y));
    }
    GradientsParams::from_grads(loss.backward(), m)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// One SGD step with `devices` devices equals one reference step, in trainable parameters.
fn check(arch: Arch, n: usize, devices: usize, chunk: Option<usize>, joint: bool) {
    let device = Device::flex().autodiff();
    let b = tiny_batch(n);
    let cfg = SupConLossConfig::default();
    let m0 = model(arch, &device, joint, 11);
    let before = trainable(&m0);
    let mut dp = DataParallel::new(&vec![device.clone(); devices], |d| {
        Ok(model(arch, d, joint, 99))
    })
    .unwrap();
    assert_eq!(dp.devices(), devices);
    let (g, out) = dp
        .gradients(&m0, &b, Positives::Labels(&b.labels), None, &cfg, 0, chunk)
        .unwrap();
    assert!(out.loss > 0.0);
    assert_eq!(out.ce_loss.is_some(), joint);
    assert_eq!(out.projections.len(), n * 2 * 128);
    // Without BatchNorm the reference is one graph over the unsharded batch.
    let (ref_devices, ref_chunk) = match arch {
        Arch::MlpNoNorm => (1, None),
        Arch::ResNetTiny => (devices, chunk),
    };
    let g_ref = reference(&m0, &b, ref_devices, ref_chunk, &cfg, &device);
    let a = trainable(&SgdConfig::new().init().step(0.5, m0.clone(), g));
    let r = trainable(&SgdConfig::new().init().step(0.5, m0.clone(), g_ref));
    let moved = a.iter().zip(&before).filter(|(x, y)| x != y).count();
    assert!(
        moved > a.len() / 4,
        "the step should move most parameters ({moved} of {})",
        a.len()
    );
    let worst = max_diff(&a, &r);
    assert!(
        worst <= 1e-5,
        "{devices} devices, chunk {chunk:?}, joint {joint}: max |diff| {worst}"
    );
}

#[test]
fn two_devices_equal_one_device_on_the_concatenated_batch() {
    // No BatchNorm: the reference is literally the one-device step on the whole batch.
    check(Arch::MlpNoNorm, 12, 2, None, false);
    check(Arch::MlpNoNorm, 12, 1, None, false);
}

#[test]
fn uneven_shards_and_chunks_with_batchnorm() {
    check(Arch::ResNetTiny, 12, 2, None, false);
    check(Arch::ResNetTiny, 14, 3, Some(5), false); // shards of 5, 5, 4 samples
}

#[test]
fn joint_cross_entropy_over_devices() {
    check(Arch::MlpNoNorm, 12, 3, Some(4), true);
}

#[test]
fn one_device_is_the_chunked_step() {
    let device = Device::flex().autodiff();
    let b = tiny_batch(12);
    let cfg = SupConLossConfig::default();
    let m0 = model(Arch::ResNetTiny, &device, false, 5);
    let mut dp = DataParallel::new(std::slice::from_ref(&device), |d| {
        Ok(model(Arch::ResNetTiny, d, false, 6))
    })
    .unwrap();
    let (g_dp, out_dp) = dp
        .gradients(&m0, &b, Positives::Instance, None, &cfg, 0, Some(8))
        .unwrap();
    let embedder = untracked_copy(model(Arch::ResNetTiny, &device, false, 7).net, &m0.net).unwrap();
    let (g_ch, out_ch) = chunked_gradients(
        &m0,
        &embedder,
        &b,
        Positives::Instance,
        None,
        &cfg,
        0,
        8,
        &device,
    )
    .unwrap();
    assert_eq!(out_dp.loss, out_ch.loss);
    assert_eq!(out_dp.projections, out_ch.projections);
    let a = trainable(&SgdConfig::new().init().step(0.5, m0.clone(), g_dp));
    let r = trainable(&SgdConfig::new().init().step(0.5, m0.clone(), g_ch));
    assert_eq!(max_diff(&a, &r), 0.0);
}

#[test]
fn shards_are_contiguous_and_keep_the_view_major_layout() {
    let b = tiny_batch(5);
    let parts = shard(&b, 2).unwrap();
    assert_eq!(
        parts.iter().map(|s| s.batch_size).collect::<Vec<_>>(),
        vec![3, 2]
    );
    assert_eq!(parts[0].labels, b.labels[..3]);
    assert_eq!(parts[1].indices, b.indices[3..]);
    let image = 64;
    // View 1 of sample 4 (global) is view 1 of sample 1 of the second shard.
    let global = &b.images[(5 + 4) * image..(5 + 5) * image];
    let local = &parts[1].images[(2 + 1) * image..(2 + 2) * image];
    assert_eq!(global, local);
    let err = shard(&b, 6).unwrap_err().to_string();
    assert!(err.contains("5 samples over 6 devices"), "{err}");
    assert!(shard(&b, 0).is_err());
}

fn supcon(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_supcon"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_trains_over_two_devices_and_saves_them_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let common = [
        "pretrain", "--data", "builtin", "--limit", "64", "--epochs", "1", "-q",
    ];
    let mut args = common.to_vec();
    args.extend(["--batch-size", "32", "--devices", "cpu,cpu", "--out", out_s]);
    let run = supcon(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["devices"], serde_json::json!(["cpu", "cpu"]));
    let losses: Vec<f64> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["loss"].as_f64())
        .collect();
    assert_eq!(losses.len(), 2);
    assert!(
        losses.iter().all(|l| l.is_finite() && *l > 0.0),
        "{losses:?}"
    );

    // More devices than samples per batch: a clear error naming both numbers.
    let mut args = common.to_vec();
    let bad = dir.path().join("bad");
    args.extend([
        "--batch-size",
        "2",
        "--devices",
        "cpu,cpu,cpu",
        "--out",
        bad.to_str().unwrap(),
    ]);
    let run = supcon(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("3 devices for a batch of 2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A data-parallel run is deterministic (the device threads never change the result), and
/// resuming it after a crash reproduces the uninterrupted loss curve.
#[test]
fn data_parallel_runs_repeat_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        ok(&[
            "pretrain",
            "--data",
            "builtin",
            "--limit",
            "48",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--devices",
            "cpu,cpu,cpu",
            "--chunk",
            "8",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    };
    let (a, b) = (run("a"), run("b"));
    let losses = step_losses(&a);
    assert_eq!(losses.len(), 9);
    assert_eq!(losses, step_losses(&b), "two identical runs differ");

    // What a crash during epoch 3 leaves: checkpoints of epochs 1-2, no final weights.
    let crashed = dir.path().join("crashed");
    copy_dir(&a, &crashed);
    std::fs::remove_dir_all(crashed.join("checkpoints/epoch-0003")).unwrap();
    std::fs::remove_file(crashed.join("model.safetensors")).unwrap();
    std::fs::remove_file(crashed.join("report.json")).unwrap();
    ok(&["pretrain", "--resume", crashed.to_str().unwrap(), "-q"]);
    assert_eq!(losses, step_losses(&crashed), "resumed loss curve differs");

    // The same crash resumed on one device (`--device`: the devices went away): the run
    // finishes there and its config.json says so; the first two epochs are kept.
    let moved = dir.path().join("moved");
    copy_dir(&a, &moved);
    std::fs::remove_dir_all(moved.join("checkpoints/epoch-0003")).unwrap();
    std::fs::remove_file(moved.join("report.json")).unwrap();
    let moved_s = moved.to_str().unwrap();
    ok(&["pretrain", "--resume", moved_s, "--device", "cpu", "-q"]);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(moved.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["device"], "cpu");
    assert_eq!(config["devices"], serde_json::json!([]));
    let after = step_losses(&moved);
    assert_eq!(after.len(), 9);
    assert_eq!(after[..6], losses[..6]);
    assert!(
        after[6..].iter().all(|(_, l)| l.is_finite() && *l > 0.0),
        "{after:?}"
    );
    // Other flags are still refused with --resume, --device is not named.
    let out = supcon(&[
        "pretrain", "--resume", moved_s, "--device", "cpu", "--lr", "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--lr cannot be changed"), "{err}");
}
