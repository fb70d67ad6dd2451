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
use super::pretrain::PretrainModel;
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
    let [rows, c, h, w] = batch.shape();
    let (b, v) = (batch.batch_size, batch.views);
    let image = c * h * w;
    let chunk_images = |start: usize, len: usize| {
        let values = batch.images[start * image..(start + len) * image].to_vec();
        Tensor::<4>::from_data(TensorData::new(values, [len, c, h, w]), device)
    };
    let starts: Vec<usize> = (0..rows).step_by(chunk).collect();

    // Pass 1: projections of every chunk, graph dropped right away.
    let mut z_rows: Vec<f32> = Vec::new();
    let mut p = 0;
    for &start in &starts {
        let len = chunk.min(rows - start);
        let z = embedder.project(chunk_images(start, len)); // [len, P], no graph
        p = z.dims()[1];
        z_rows.extend(read(z)?);
    }
    // Row v * B + i of z_rows is view v of sample i; the loss wants [B, V, P].
    let mut features = vec![0.0f32; rows * p];
    for vi in 0..v {
        for i in 0..b {
            let src = (vi * b + i) * p;
            let dst = (i * v + vi) * p;
            features[dst..dst + p].copy_from_slice(&z_rows[src..src + p]);
        }
    }
    let out = tiled_supcon_with_queue(loss, &features, [b, v, p], positives, queue, cap_seed, 256)?;
    // Back to view-major rows.
    let mut g_rows = vec![0.0f32; rows * p];
    for vi in 0..v {
        for i in 0..b {
            let src = (i * v + vi) * p;
            let dst = (vi * b + i) * p;
            g_rows[dst..dst + p].copy_from_slice(&out.grad[src..src + p]);
        }
    }

    // Pass 2: back-propagate the cached embedding gradients chunk by chunk.
    let ce = model
        .classifier
        .as_ref()
        .map(|_| burn::nn::loss::CrossEntropyLossConfig::new().init(device));
    let labels = labels_per_view(batch, device); // [V*B]
    let mut accumulator = GradientsAccumulator::<PretrainModel>::new();
    let mut ce_total = 0.0;
    for &start in &starts {
        let len = chunk.min(rows - start);
        let features = model.net.encode(chunk_images(start, len)); // [len, D]
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
            surrogate = surrogate.add(l.mul_scalar(len as f64 / rows as f64));
        }
        accumulator.accumulate(
            model,
            GradientsParams::from_grads(surrogate.backward(), model),
        );
    }
    let ce_loss = model.classifier.as_ref().map(|_| ce_total / rows as f64);
    Ok((
        accumulator.grads(),
        ChunkedLoss {
            loss: out.loss,
            ce_loss,
            projections: z_rows,
        },
    ))
}

fn read(z: Tensor<2>) -> Result<Vec<f32>, TrainError> {
    let values = z
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Config(format!("reading projections: {e:?}")))?;
    if values.iter().any(|x| !x.is_finite()) {
        return Err(LossError::NonFiniteFeatures.into());
    }
    Ok(values)
}

/// Refreshes `copy` (same architecture as `net`) to hold `net`'s current weights and
/// BatchNorm statistics as parameters that never require gradients: pass 1's embedder.
///
/// # Errors
/// [`TrainError::Config`] when the architectures differ.
pub fn untracked_copy(copy: SupConModel, net: &SupConModel) -> Result<SupConModel, TrainError> {
    ema_update(copy, net, 0.0)
}
