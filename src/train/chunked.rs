//! Exact large-batch steps in bounded memory: gradient caching (Gao et al. 2021, "Scaling
//! Deep Contrastive Learning Batch Size under Memory Limited Setup") with the tiled loss.
//!
//! 1. Embed the whole batch chunk by chunk, keeping only the projections (no graph).
//! 2. The tiled loss gives the loss and `dL/dz` for every projection, without the full
//!    similarity matrix.
//! 3. Re-run each chunk with autodiff and back-propagate `sum(z_chunk * dL/dz_chunk)`,
//!    accumulating parameter gradients; the caller takes one optimiser step.
//!
//! Pass 1 runs on an untracked copy of the network (`embedder`: same weights, parameters
//! that never require gradients, BatchNorm still in training mode), so no autodiff graph is
//! recorded and each chunk's activations are freed as soon as its projections are read.
//! Peak memory is one chunk's activation graph (pass 2) plus the batch's projections,
//! whatever the batch size. The gradients are exactly those of the unchunked loss for a
//! model whose BatchNorm normalises each chunk with that chunk's statistics (the same
//! chunks in both passes), i.e. "ghost" BatchNorm with chunk-sized groups; the online
//! model's BatchNorm running statistics are updated once per chunk, by pass 2.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

use super::TrainError;
use super::memory_bank::ema_update;
use super::pretrain_model::PretrainModel;
use super::setup::labels_per_view;
use crate::data::batcher::Batch;
use crate::loss::{LossError, Positives, Queue, SupConLossConfig, tiled_supcon_with_queue};
use crate::model::SupConModel;

/// Loss values of one chunked step.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkedLoss {
    /// The contrastive loss over the whole batch.
    pub loss: f64,
    /// The joint cross-entropy loss over the whole batch, when there is a classifier.
    pub ce_loss: Option<f64>,
    /// The batch's projections (`[views * batch, P]`, view-major, no gradient): what a
    /// memory bank without a key encoder enqueues.
    pub projections: Vec<f32>,
}

/// Gradients of one full batch, computed `chunk` views at a time. `embedder` must be an
/// untracked copy of `model.net` with the same weights (see [`untracked_copy`]).
///
/// # Shapes
/// - `batch.images`: `[views * batch, C, H, W]`, view-major; chunks are consecutive rows.
/// - `queue`: memory-bank entries `[K, P]` (extra contrast columns, no gradient).
///
/// # Errors
/// Loss errors (e.g. non-finite projections), `chunk == 0`.
#[allow(clippy::too_many_arguments)]
pub fn chunked_gradients(
    model: &PretrainModel,
    embedder: &SupConModel,
    batch: &Batch,
    positives: Positives<'_>,
    queue: Option<Queue<'_>>,
    loss: &SupConLossConfig,
    cap_seed: u64,
    chunk: usize,
    device: &Device,
) -> Result<(GradientsParams, ChunkedLoss), TrainError> {
    if chunk == 0 {
        return Err(TrainError::Config("chunk = 0: expected at least 1".into()));
    }
    let (b, v) = (batch.batch_size, batch.views);
    let rows = b * v;
    // Pass 1: projections of every chunk, graph dropped right away.
    let (z_rows, p) = embed_pass(embedder, batch, chunk, device)?;
    // Row v * B + i of z_rows is view v of sample i; the loss wants [B, V, P].
    let features = to_sample_major(&z_rows, b, v, p);
    let out = tiled_supcon_with_queue(loss, &features, [b, v, p], positives, queue, cap_seed, 256)?;
    // Pass 2: back-propagate the cached embedding gradients chunk by chunk.
    let g_rows = to_view_major(&out.grad, b, v, p);
    let (grads, ce_total) = backprop_pass(model, batch, &g_rows, p, chunk, rows, device)?;
    let ce_loss = model.classifier.as_ref().map(|_| ce_total / rows as f64);
    Ok((
        grads,
        ChunkedLoss {
            loss: out.loss,
            ce_loss,
            projections: z_rows,
        },
    ))
}

/// The images of rows `start..start + len` of a batch as a tensor.
///
/// # Shapes
/// - output: `[len, C, H, W]`.
fn chunk_images(batch: &Batch, start: usize, len: usize, device: &Device) -> Tensor<4> {
    let [_, c, h, w] = batch.shape();
    let image = c * h * w;
    let values = batch.images[start * image..(start + len) * image].to_vec();
    Tensor::<4>::from_data(TensorData::new(values, [len, c, h, w]), device)
}

/// Pass 1: the projections of every view of `batch`, `chunk` views at a time, with an
/// untracked network (no graph). Returns the rows and the projection size `P`.
///
/// # Shapes
/// - `batch.images`: `[views * batch, C, H, W]`, view-major.
/// - output: `[views * batch, P]`, view-major, flattened.
///
/// # Errors
/// Non-finite projections.
pub fn embed_pass(
    embedder: &SupConModel,
    batch: &Batch,
    chunk: usize,
    device: &Device,
) -> Result<(Vec<f32>, usize), TrainError> {
    let rows = batch.views * batch.batch_size;
    let mut z_rows: Vec<f32> = Vec::new();
    let mut p = embedder.projection_dim();
    for start in (0..rows).step_by(chunk.max(1)) {
        let len = chunk.min(rows - start);
        let z = embedder.project(chunk_images(batch, start, len, device)); // [len, P], no graph
        p = z.dims()[1];
        z_rows.extend(read(z)?);
    }
    Ok((z_rows, p))
}

/// Pass 2: re-runs every chunk of `batch` with autodiff and back-propagates the cached
/// projection gradients `g_rows`, accumulating parameter gradients. With a joint
/// classifier, each chunk also adds its cross-entropy, weighted by `len / ce_rows` (so
/// that over all chunks of all devices it is the mean over `ce_rows` rows). Returns the
/// gradients and the sum over rows of the cross-entropy (0 without a classifier).
///
/// # Shapes
/// - `g_rows`: `[views * batch, P]`, view-major, flattened.
///
/// # Errors
/// A non-finite cross-entropy value is returned as is (the caller checks).
pub fn backprop_pass(
    model: &PretrainModel,
    batch: &Batch,
    g_rows: &[f32],
    p: usize,
    chunk: usize,
    ce_rows: usize,
    device: &Device,
) -> Result<(GradientsParams, f64), TrainError> {
    let rows = batch.views * batch.batch_size;
    if g_rows.len() != rows * p {
        return Err(TrainError::Config(format!(
            "cached gradients hold {} values; expected {rows} x {p}",
            g_rows.len()
        )));
    }
    let ce = model
        .classifier
        .as_ref()
        .map(|_| burn::nn::loss::CrossEntropyLossConfig::new().init(device));
    let labels = labels_per_view(batch, device); // [V*B]
    let mut accumulator = GradientsAccumulator::<PretrainModel>::new();
    let mut ce_total = 0.0;
    for start in (0..rows).step_by(chunk.max(1)) {
        let len = chunk.min(rows - start);
        let features = model.net.encode(chunk_images(batch, start, len, device)); // [len, D]
        let z = model.net.head.forward(features.clone()); // [len, P]
        let g = Tensor::<2>::from_data(
            TensorData::new(g_rows[start * p..(start + len) * p].to_vec(), [len, p]),
            device,
        );
        let mut surrogate = z.mul(g).sum(); // [1]; its gradient wrt z is g
        if let (Some(classifier), Some(ce)) = (&model.classifier, &ce) {
            let y = labels.clone().narrow(0, start, len);
            let l = ce.forward(classifier.forward(features.detach()), y); // [1]
            ce_total += f64::from(l.clone().into_scalar::<f32>()) * len as f64;
            surrogate = surrogate.add(l.mul_scalar(len as f64 / ce_rows as f64));
        }
        accumulator.accumulate(
            model,
            GradientsParams::from_grads(surrogate.backward(), model),
        );
    }
    Ok((accumulator.grads(), ce_total))
}

/// View-major rows (`v * b + i` is view `v` of sample `i`) to the loss's sample-major
/// layout.
///
/// # Shapes
/// - `rows`: `[V * B, P]`; output: `[B, V, P]` (both flattened).
pub fn to_sample_major(rows: &[f32], b: usize, v: usize, p: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; b * v * p];
    for vi in 0..v {
        for i in 0..b {
            let src = (vi * b + i) * p;
            let dst = (i * v + vi) * p;
            out[dst..dst + p].copy_from_slice(&rows[src..src + p]);
        }
    }
    out
}

/// The inverse of [`to_sample_major`].
///
/// # Shapes
/// - `features`: `[B, V, P]`; output: `[V * B, P]` (both flattened).
pub fn to_view_major(features: &[f32], b: usize, v: usize, p: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; b * v * p];
    for vi in 0..v {
        for i in 0..b {
            let src = (i * v + vi) * p;
            let dst = (vi * b + i) * p;
            out[dst..dst + p].copy_from_slice(&features[src..src + p]);
        }
    }
    out
}

fn read(z: Tensor<2>) -> Result<Vec<f32>, TrainError> {
    let values = z
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Readback {
            what: "projections",
            reason: format!("{e:?}"),
        })?;
    if values.iter().any(|x| !x.is_finite()) {
        return Err(LossError::NonFiniteFeatures.into());
    }
    Ok(values)
}

/// Refreshes `copy` (same architecture as `net`) to hold `net`'s current weights and
/// BatchNorm statistics as parameters that never require gradients: pass 1's embedder.
///
/// # Errors
/// [`TrainError::Architecture`] when the architectures differ.
pub fn untracked_copy(copy: SupConModel, net: &SupConModel) -> Result<SupConModel, TrainError> {
    ema_update(copy, net, 0.0)
}
