//! Gradient caching is exact: one optimiser step with chunked embedding + tiled loss +
//! chunked back-propagation equals one step of the plain autodiff loss over the whole
//! batch, when both normalise BatchNorm over the same chunks.

use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use supcon::data::batcher::Batch;
use supcon::loss::{Positives, SupConLossConfig};
use supcon::model::{EncoderConfig, EncoderKind, HeadConfig, SupConModelConfig};
mod common;
use common::{params, tiny_batch};
use supcon::train::chunked::{chunked_gradients, untracked_copy};
use supcon::train::pretrain::PretrainModel;

fn model(device: &Device, joint: bool) -> PretrainModel {
    device.seed(11);
    let mut encoder = EncoderConfig::new(EncoderKind::ResNetTiny);
    encoder.in_channels = 1;
    let net = SupConModelConfig {
        encoder,
        head: HeadConfig::default(),
    }
    .try_init(device)
    .unwrap();
    let classifier = joint
        .then(|| supcon::model::LinearClassifierConfig::new(net.feature_dim(), 3).init(device));
    PretrainModel { net, classifier }
}

/// The reference: autodiff over the whole batch, BatchNorm applied per chunk.
fn reference_grads(
    m: &PretrainModel,
    b: &Batch,
    chunk: usize,
    cfg: &SupConLossConfig,
    device: &Device,
) -> GradientsParams {
    let [rows, c, h, w] = b.shape();
    let image = c * h * w;
    let mut zs = Vec::new();
    let mut feats = Vec::new();
    for start in (0..rows).step_by(chunk) {
        let len = chunk.min(rows - start);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                b.images[start * image..(start + len) * image].to_vec(),
                [len, c, h, w],
            ),
            device,
        );
        let f = m.net.encode(x);
        zs.push(m.net.head.forward(f.clone()));
        feats.push(f);
    }
    let z = Tensor::cat(zs, 0); // [V*B, P]
    let p = z.dims()[1];
    let z = z.reshape([b.views, b.batch_size, p]).swap_dims(0, 1);
    let mut loss = cfg
        .init()
        .unwrap()
        .forward(z, Positives::Labels(&b.labels))
        .unwrap();
    if let Some(classifier) = &m.classifier {
        let logits = classifier.forward(Tensor::cat(feats, 0).detach());
        let ce = burn::nn::loss::CrossEntropyLossConfig::new().init(device);
        loss = loss.add(ce.forward(logits, supcon::train::setup::labels_per_view(b, device)));
    }
    GradientsParams::from_grads(loss.backward(), m)
}

fn check(chunk: usize, joint: bool) {
    let device = Device::flex().autodiff();
    let b = tiny_batch(12);
    let cfg = SupConLossConfig::default();
    let m0 = model(&device, joint);
    let before = params(&m0);
    let mut opt_a = SgdConfig::new().init();
    let mut opt_b = SgdConfig::new().init();

    // Pass 1's untracked copy: a differently initialised model refreshed with m0's weights.
    let mut other = model(&device, false).net;
    device.seed(99);
    other = untracked_copy(other, &m0.net).unwrap();
    let (g_chunked, out) = chunked_gradients(
        &m0,
        &other,
        &b,
        Positives::Labels(&b.labels),
        None,
        &cfg,
        0,
        chunk,
        &device,
    )
    .unwrap();
    assert!(out.loss > 0.0);
    assert_eq!(out.ce_loss.is_some(), joint);
    let g_ref = reference_grads(&m0, &b, chunk, &cfg, &device);
    let a = params(&opt_a.step(0.5, m0.clone(), g_chunked));
    let r = params(&opt_b.step(0.5, m0.clone(), g_ref));
    assert_eq!(a.len(), r.len());
    let moved = a.iter().zip(&before).filter(|(x, y)| x != y).count();
    assert!(
        moved > a.len() / 4,
        "the step should move most parameters ({moved})"
    );
    let worst = a
        .iter()
        .zip(&r)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5,
        "chunk {chunk}, joint {joint}: max |diff| {worst}"
    );
}

#[test]
fn one_chunked_step_equals_the_unchunked_step() {
    check(8, false); // 24 views in 3 chunks
    check(24, false); // one chunk: the tiled loss alone
}

#[test]
fn joint_chunked_step_equals_the_unchunked_step() {
    check(6, true);
}

/// `supcon bench step --chunk N` times the chunked step (one JSON line).
#[test]
fn bench_step_times_the_chunked_step() {
    let out = common::ok(&[
        "bench",
        "step",
        "--model",
        "mlp",
        "--batch",
        "16",
        "--size",
        "8",
        "--channels",
        "1",
        "--steps",
        "1",
        "--chunk",
        "8",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["chunk"], 8);
    assert!(v["imgs_per_s"].as_f64().unwrap() > 0.0, "{v}");
    let err = common::supcon(&["bench", "step", "--chunk", "0"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("--chunk"));
}
