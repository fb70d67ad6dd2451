//! Data-parallel SupCon over several devices with one global batch.
//!
//! The batch is split into contiguous shards of samples, one per device. Every device
//! embeds its shard (pass 1, no graph); the projections of all devices are gathered into
//! the global `[B, V, P]` batch, so every anchor's denominator and positives range over
//! every device's samples (the public PyTorch reference computes the loss per GPU unless
//! patched with an all-gather). The tiled loss gives the global loss and `dL/dz` for every
//! projection; each device back-propagates the slice of `dL/dz` of its own projections
//! (pass 2, [`backprop_pass`]), so gradients flow back to the device that produced each
//! embedding. The devices' parameter gradients are summed on the first device (the
//! reduction of an all-reduce) and the caller takes one optimiser step there; the other
//! devices' replicas are refreshed from it before the next step.
//!
//! This is the shape of burn 0.22's own multi-device training strategy (`burn-train`'s
//! `MultiDevicesTrainStep`: one worker per device, gradients moved to the main device and
//! accumulated). burn 0.22's collective operations (`burn::tensor::distributed::all_reduce`,
//! the `ddp` strategy) are implemented only for its CUDA/NCCL backend, which does not build
//! offline; the flex and Vulkan backends this crate ships panic on them. The gather and the
//! reduction therefore go through host memory and the first device.
//!
//! BatchNorm normalises each device's shard (chunk by chunk with `chunk`), as PyTorch's DDP
//! without SyncBatchNorm does, and the running statistics are those of the first device
//! (DDP's `broadcast_buffers` from rank 0). With one device the step is exactly
//! [`chunked_gradients`](super::chunked::chunked_gradients).
//!
//! Devices other than the first run in their own threads; the same device may appear
//! several times (threads acting as devices, as the tests do on a CPU).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;

use super::TrainError;
use super::chunked::{
    ChunkedLoss, backprop_pass, embed_pass, to_sample_major, to_view_major, untracked_copy,
};
use super::params::{StructureMismatch, map_from};
use super::pretrain_model::PretrainModel;
use crate::data::batcher::Batch;
use crate::loss::{Positives, Queue, SupConLossConfig, tiled_supcon_with_queue};
use crate::model::SupConModel;

/// Splits a batch into `parts` contiguous shards of samples (sizes differ by at most one,
/// larger shards first), each keeping the view-major layout.
///
/// # Errors
/// `parts == 0` or more parts than samples.
pub fn shard(batch: &Batch, parts: usize) -> Result<Vec<Batch>, TrainError> {
    let b = batch.batch_size;
    if parts == 0 || parts > b {
        return Err(TrainError::Config(format!(
            "cannot split a batch of {b} samples over {parts} devices: expected 1 to {b} devices"
        )));
    }
    let image = batch.channels * batch.height * batch.width;
    let mut out = Vec::with_capacity(parts);
    for r in 0..parts {
        let rows = crate::data::batcher::shard_range(b, parts, r);
        let (start, len) = (rows.start, rows.len());
        let mut images = Vec::with_capacity(batch.views * len * image);
        for v in 0..batch.views {
            let first = (v * b + start) * image;
            images.extend_from_slice(&batch.images[first..first + len * image]);
        }
        out.push(Batch {
            images,
            labels: batch.labels[start..start + len].to_vec(),
            indices: batch.indices[start..start + len].to_vec(),
            views: batch.views,
            batch_size: len,
            channels: batch.channels,
            height: batch.height,
            width: batch.width,
        });
    }
    Ok(out)
}

/// Makes `replica` (same architecture as `master`) hold `master`'s current values with
/// `master`'s parameter ids and trainability, on `replica`'s device: its gradients are then
/// keyed like the master's.
///
/// # Errors
/// [`TrainError::Architecture`] when the architectures differ.
pub fn replicate<M: Module>(replica: M, master: &M) -> Result<M, TrainError> {
    map_from(replica, master, true, |master, old| {
        (
            master.value.clone().to_device(&old.device()),
            master.tracked,
        )
    })
    .map_err(|StructureMismatch| TrainError::Architecture("data-parallel replica and model"))
}

/// One device's share of the work: where it runs, its replica of the trained model (the
/// first device uses the caller's model instead) and its untracked embedder for pass 1.
struct Worker {
    device: Device,
    replica: Option<PretrainModel>,
    embedder: SupConModel,
}

/// Global-batch SupCon steps over several devices (see the module documentation).
pub struct DataParallel {
    workers: Vec<Worker>,
}

impl DataParallel {
    /// Prepares `devices.len()` workers; `devices[0]` must be the device of the model that
    /// [`gradients`](Self::gradients) will be given. `make` builds a model of the trained
    /// architecture on a device (its values are replaced before use).
    ///
    /// # Errors
    /// No devices, or `make` failing.
    pub fn new(
        devices: &[Device],
        make: impl Fn(&Device) -> Result<PretrainModel, TrainError>,
    ) -> Result<Self, TrainError> {
        if devices.is_empty() {
            return Err(TrainError::Config(
                "data-parallel training needs at least one device".into(),
            ));
        }
        let workers = devices
            .iter()
            .enumerate()
            .map(|(rank, device)| {
                let model = make(device)?;
                Ok(Worker {
                    device: device.clone(),
                    embedder: model.net.clone(),
                    replica: (rank > 0).then_some(model),
                })
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        Ok(Self { workers })
    }

    /// Number of devices.
    pub fn devices(&self) -> usize {
        self.workers.len()
    }

    /// Gradients of the global-batch loss of `batch` for `model` (on the first device),
    /// `chunk` views at a time on each device (`None`: each shard in one piece).
    ///
    /// # Shapes
    /// - `batch.images`: `[views * batch, C, H, W]`, view-major.
    /// - `queue`: memory-bank entries `[K, P]` (extra contrast columns, no gradient).
    /// - the returned projections: `[views * batch, P]`, view-major, as for one device.
    ///
    /// # Errors
    /// Fewer samples than devices, `chunk == Some(0)`, loss errors (e.g. non-finite
    /// projections), architecture mismatches.
    #[allow(clippy::too_many_arguments)]
    pub fn gradients(
        &mut self,
        model: &PretrainModel,
        batch: &Batch,
        positives: Positives<'_>,
        queue: Option<Queue<'_>>,
        loss: &SupConLossConfig,
        cap_seed: u64,
        chunk: Option<usize>,
    ) -> Result<(GradientsParams, ChunkedLoss), TrainError> {
        let (b, v) = (batch.batch_size, batch.views);
        let embedded = self.embed(model, batch, chunk)?;
        let p = embedded.dim;
        let out = tiled_supcon_with_queue(
            loss,
            &embedded.features,
            [b, v, p],
            positives,
            queue,
            cap_seed,
            256,
        )?;
        let rows = b * v;
        let (grads, ce_total) = self.backprop(model, &embedded, &out.grad, chunk, rows)?;
        let ce_loss = model.classifier.as_ref().map(|_| ce_total / rows as f64);
        Ok((
            grads,
            ChunkedLoss {
                loss: out.loss,
                ce_loss,
                projections: to_view_major(&embedded.features, b, v, p),
            },
        ))
    }

    /// Pass 1: refreshes every replica from `model`, splits `batch` into one shard per
    /// device and embeds every shard without autodiff, all devices at once.
    ///
    /// # Shapes
    /// - `batch.images`: `[views * batch, C, H, W]`, view-major.
    /// - the returned features: `[batch, views, P]`, sample-major: the concatenation of
    ///   the shards' projections.
    ///
    /// # Errors
    /// Fewer samples than devices, `chunk == Some(0)`, non-finite projections,
    /// architecture mismatches.
    pub fn embed(
        &mut self,
        model: &PretrainModel,
        batch: &Batch,
        chunk: Option<usize>,
    ) -> Result<Embedded, TrainError> {
        if chunk == Some(0) {
            return Err(TrainError::Config("chunk = 0: expected at least 1".into()));
        }
        let shards = shard(batch, self.workers.len())?;
        let v = batch.views;
        // Refresh every replica and embedder with the model's current weights.
        for worker in &mut self.workers {
            if let Some(replica) = worker.replica.take() {
                worker.replica = Some(replicate(replica, model)?);
            }
            let embedder = std::mem::replace(&mut worker.embedder, model.net.clone());
            worker.embedder = untracked_copy(embedder, &model.net)?;
        }
        let chunk_of = |s: &Batch| chunk.unwrap_or(s.views * s.batch_size);

        // Pass 1 on every device at once; rank 0 on the calling thread.
        let embedded: Vec<Result<(Vec<f32>, usize), TrainError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self.workers[1..]
                .iter()
                .zip(&shards[1..])
                .map(|(w, s)| {
                    scope.spawn(move || embed_pass(&w.embedder, s, chunk_of(s), &w.device))
                })
                .collect();
            let w0 = &self.workers[0];
            let mut out = vec![embed_pass(
                &w0.embedder,
                &shards[0],
                chunk_of(&shards[0]),
                &w0.device,
            )];
            out.extend(handles.into_iter().map(join));
            out
        });
        // Gather: shard r's samples are global samples offset_r.., so the sample-major
        // global batch is the concatenation of the shards' sample-major projections.
        let mut features = Vec::new();
        let mut dim = 0;
        for (result, s) in embedded.into_iter().zip(&shards) {
            let (rows, p) = result?;
            dim = p;
            features.extend(to_sample_major(&rows, s.batch_size, v, p));
        }
        Ok(Embedded {
            shards,
            features,
            dim,
        })
    }

    /// Pass 2: each device back-propagates the rows of `grad` of its own shard's
    /// projections; the devices' gradients are summed on the first device, in device
    /// order. `ce_rows` is the number of rows the joint cross-entropy is a mean over.
    /// Returns the gradients and the sum over rows of the cross-entropy.
    ///
    /// # Shapes
    /// - `grad`: `dL/dz` of `embedded`'s batch, `[batch, views, P]`, sample-major.
    ///
    /// # Errors
    /// A device worker failing, architecture mismatches.
    pub fn backprop(
        &self,
        model: &PretrainModel,
        embedded: &Embedded,
        grad: &[f32],
        chunk: Option<usize>,
        ce_rows: usize,
    ) -> Result<(GradientsParams, f64), TrainError> {
        let shards = &embedded.shards;
        let p = embedded.dim;
        let v = shards.first().map_or(1, |s| s.views);
        let chunk_of = |s: &Batch| chunk.unwrap_or(s.views * s.batch_size);
        let mut offsets = Vec::with_capacity(shards.len());
        let mut offset = 0;
        for s in shards {
            offsets.push(offset);
            offset += s.batch_size;
        }
        let slice = |r: usize| {
            let s = &shards[r];
            let range = offsets[r] * v * p..(offsets[r] + s.batch_size) * v * p;
            to_view_major(&grad[range], s.batch_size, v, p)
        };
        let main = self.workers[0].device.clone();
        let backprop: Vec<Result<(GradientsParams, f64), TrainError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = self.workers[1..]
                    .iter()
                    .zip(&shards[1..])
                    .enumerate()
                    .map(|(i, (w, s))| {
                        let g = slice(i + 1);
                        let main = &main;
                        scope.spawn(move || {
                            let Some(replica) = w.replica.as_ref() else {
                                return Err(TrainError::Worker("it has no replica".into()));
                            };
                            let (grads, ce) =
                                backprop_pass(replica, s, &g, p, chunk_of(s), ce_rows, &w.device)?;
                            Ok((grads.to_device(main, replica), ce))
                        })
                    })
                    .collect();
                let g0 = slice(0);
                let mut out = vec![backprop_pass(
                    model,
                    &shards[0],
                    &g0,
                    p,
                    chunk_of(&shards[0]),
                    ce_rows,
                    &main,
                )];
                out.extend(handles.into_iter().map(join));
                out
            });
        let mut accumulator = GradientsAccumulator::<PretrainModel>::new();
        let mut ce_total = 0.0;
        for result in backprop {
            let (grads, ce) = result?;
            accumulator.accumulate(model, grads);
            ce_total += ce;
        }
        // burn keeps BatchNorm running-statistic updates per thread until the same thread
        // updates again; the device threads above are new every step, so merge their
        // updates now (`valid` syncs; the embedder shares the replica's running state).
        // Those statistics are never used: replicas are refreshed from the model each step.
        for w in &self.workers[1..] {
            if let Some(replica) = &w.replica {
                let _ = replica.valid();
            }
            let _ = w.embedder.valid();
        }
        Ok((accumulator.grads(), ce_total))
    }
}

/// Pass 1's result: the shards of a batch (one per device) and their projections.
pub struct Embedded {
    /// The batch's shards, in device order.
    pub shards: Vec<Batch>,
    /// The projections, `[batch, views, P]`, sample-major (shard after shard).
    pub features: Vec<f32>,
    /// The projection size `P`.
    pub dim: usize,
}

/// The result of a device thread; a panic there becomes an error, not a crash.
fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, TrainError>>,
) -> Result<T, TrainError> {
    handle.join().unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(TrainError::Worker(reason))
    })
}
