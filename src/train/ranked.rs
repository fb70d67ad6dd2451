//! One global SupCon batch over the ranks of a multi-process job (MPI): the algorithm of
//! [`super::distributed`] with processes instead of in-process devices.
//!
//! Every rank holds the same model and takes the same optimiser step; its loader yields
//! only its contiguous shard of each global batch
//! ([`EpochLoader::with_shard`](crate::data::batcher::EpochLoader::with_shard)).
//!
//! 1. Each rank embeds its shard without autodiff (`chunk` views at a time), split again
//!    over its own devices when it has several (`--devices`, as [`DataParallel`] does).
//! 2. Shard sizes, labels and projections are all-gathered in rank order, so every rank
//!    holds the global `[B, V, P]` batch, sample-major, exactly as the in-process path
//!    concatenates its devices' shards.
//! 3. Each rank runs the tiled loss for its contiguous share of the global batch's anchor
//!    rows (every anchor still contrasts with the whole batch); the parts of `dL/dz` are
//!    summed in rank order, each rank receiving the rows of its own samples (a
//!    reduce-scatter), and the parts of the loss are gathered and added in rank order, so
//!    every rank agrees on the loss. Each rank back-propagates the rows of `dL/dz` of its
//!    own projections through its model.
//! 4. The parameter gradients are summed over ranks in rank order
//!    ([`Collective::sum_in_rank_order`]), as the in-process path accumulates its devices'
//!    gradients, so every rank gets the same bits and takes the same optimiser step: no
//!    parameters are broadcast per step.
//!
//! With a memory bank, every rank enqueues the global batch's projections, so the banks
//! stay equal; with a momentum encoder, each rank's key encoder embeds its shard and the
//! key projections are gathered the same way.
//!
//! BatchNorm normalises each rank's shard (chunk by chunk with `chunk`), as the in-process
//! path normalises each device's; each rank keeps its own running statistics and rank 0's
//! are the ones saved (DDP's `broadcast_buffers` from rank 0).

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use super::TrainError;
use super::chunked::{to_sample_major, to_view_major};
use super::collective::Collective;
use super::distributed::DataParallel;
use super::pretrain_config::Method;
use super::pretrain_model::PretrainModel;
use crate::data::batcher::Batch;
use crate::data::batcher::shard_range;
use crate::loss::{Positives, Queue, SupConLossConfig, anchor_count, tiled_supcon_rows};

/// What a step over the ranks computed besides the gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedLoss {
    /// The contrastive loss over the global batch (the same on every rank).
    pub loss: f64,
    /// The joint cross-entropy over the global batch, when there is a classifier.
    pub ce_loss: Option<f64>,
    /// Samples in the global batch.
    pub samples: usize,
    /// Whether any rank asked to stop (Ctrl-C, SIGTERM) before the reduction.
    pub stop: bool,
    /// The global batch's projections (`[V * B, P]`, view-major, no gradient): what a
    /// memory bank enqueues, the same on every rank.
    pub projections: Vec<f32>,
    /// The global batch's labels (`[B]`).
    pub labels: Vec<usize>,
}

/// The global-batch step of one rank.
pub struct RankedStep<'a> {
    ranks: &'a dyn Collective,
    /// The rank's devices (one, or several with `--devices`): its shard is split again
    /// over them, as [`DataParallel`] splits a batch.
    local: DataParallel,
    device: Device,
}

impl<'a> RankedStep<'a> {
    /// A step for this rank of `ranks` over its devices `local`, the first of which,
    /// `device`, holds the model.
    pub fn new(ranks: &'a dyn Collective, local: DataParallel, device: Device) -> Self {
        Self {
            ranks,
            local,
            device,
        }
    }

    /// Gradients of the global-batch loss, summed over every rank, for `model`; `shard` is
    /// this rank's part of the global batch.
    ///
    /// # Shapes
    /// - `shard.images`: `[views * b_r, C, H, W]`, view-major (`b_r`: this rank's samples).
    /// - the gathered batch: `[B, V, P]`, `B` the sum of every rank's `b_r`.
    /// - `queue`: memory-bank entries `[K, P]` (extra contrast columns, no gradient), the
    ///   same on every rank.
    ///
    /// # Errors
    /// `chunk == Some(0)`, loss errors (e.g. non-finite projections), collective errors.
    #[allow(clippy::too_many_arguments)]
    pub fn gradients(
        &mut self,
        model: &PretrainModel,
        shard: &Batch,
        method: Method,
        loss: &SupConLossConfig,
        queue: Option<Queue<'_>>,
        cap_seed: u64,
        chunk: Option<usize>,
        stop: bool,
    ) -> Result<(GradientsParams, RankedLoss), TrainError> {
        let ranks = self.ranks;
        let (n, rank) = (ranks.size(), ranks.rank());
        let (b, v) = (shard.batch_size, shard.views);
        // Pass 1 on this rank's devices: its projections, sample-major [b_r, V, P].
        let embedded = self.local.embed(model, shard, chunk)?;
        let (local, p) = (&embedded.features, embedded.dim);

        // Gather sizes, labels and projections in rank order.
        let sizes: Vec<usize> = ranks
            .all_gather_u64(&[b as u64], &vec![1; n])?
            .into_iter()
            .map(|s| s as usize)
            .collect();
        let global: usize = sizes.iter().sum();
        let labels: Vec<usize> = ranks
            .all_gather_u64(
                &shard.labels.iter().map(|&l| l as u64).collect::<Vec<_>>(),
                &sizes,
            )?
            .into_iter()
            .map(|l| l as usize)
            .collect();
        let counts: Vec<usize> = sizes.iter().map(|s| s * v * p).collect();
        let features = ranks.all_gather_f32(local, &counts)?; // [B, V, P]

        // The loss over the global batch; this rank's rows of dL/dz.
        let positives = match method {
            Method::Supcon => Positives::Labels(&labels),
            Method::Simclr => Positives::Instance,
        };
        // Each rank takes its share of the anchor rows; the parts of dL/dz are summed in
        // rank order, each rank receiving the rows of its own samples (a reduce-scatter).
        let anchors = shard_range(anchor_count(loss, global, v), n, rank);
        let out = tiled_supcon_rows(
            loss,
            &features,
            [global, v, p],
            positives,
            queue,
            cap_seed,
            256,
            Some(anchors),
        )?;
        let mine = ranks.sum_segment_in_rank_order(&out.grad, &counts)?; // [b_r, V, P]
        let losses = ranks.all_gather_u64(&[out.loss.to_bits()], &vec![1; n])?;
        let loss_value = losses.iter().fold(0.0, |sum, &l| sum + f64::from_bits(l));

        // Pass 2 on this rank's devices, then the sum over ranks.
        let (grads, ce_total) = self
            .local
            .backprop(model, &embedded, &mine, chunk, global * v)?;
        let scalars = ranks.all_gather_u64(&[ce_total.to_bits(), u64::from(stop)], &vec![2; n])?;
        let ce_sum = scalars
            .chunks(2)
            .fold(0.0, |sum, s| sum + f64::from_bits(s[0]));
        let stop = scalars.chunks(2).any(|s| s[1] != 0);
        let grads = sum_gradients(ranks, model, grads, &self.device)?;
        let ce_loss = model
            .classifier
            .as_ref()
            .map(|_| ce_sum / (global * v) as f64);
        Ok((
            grads,
            RankedLoss {
                loss: loss_value,
                ce_loss,
                samples: global,
                stop,
                projections: to_view_major(&features, global, v, p),
                labels,
            },
        ))
    }
}

/// Registers a summed gradient (flat, reshaped to its parameter's shape) on a device.
type Register = Box<dyn FnOnce(&mut GradientsParams, Vec<f32>, &Device)>;

impl RankedStep<'_> {
    /// Every rank's view-major rows (`b_r` samples, `v` views, `P` values each), gathered
    /// into the global batch's view-major rows: what the momentum encoder's projections
    /// of each rank's shard add up to.
    ///
    /// # Shapes
    /// - `rows`: `[v * b_r, P]`, view-major; output: `[v * B, P]`, view-major.
    ///
    /// # Errors
    /// Collective errors.
    pub fn gather_rows(
        &self,
        rows: &[f32],
        b: usize,
        v: usize,
        p: usize,
    ) -> Result<Vec<f32>, TrainError> {
        let n = self.ranks.size();
        let sizes: Vec<usize> = self
            .ranks
            .all_gather_u64(&[b as u64], &vec![1; n])?
            .into_iter()
            .map(|s| s as usize)
            .collect();
        let counts: Vec<usize> = sizes.iter().map(|s| s * v * p).collect();
        let local = to_sample_major(rows, b, v, p);
        let global = self.ranks.all_gather_f32(&local, &counts)?; // [B, V, P]
        Ok(to_view_major(&global, sizes.iter().sum(), v, p))
    }
}

/// One trained parameter's place in the flat gradient buffer.
struct Slot {
    len: usize,
    register: Register,
}

/// The [`Register`] of parameter `id` of shape `dims`.
///
/// # Shapes
/// - the values it is given: `[prod(dims)]`; the gradient registered: `dims`.
fn register<const D: usize>(id: ParamId, dims: [usize; D]) -> Register {
    Box::new(move |out, values, device| {
        out.register::<D>(
            id,
            Tensor::<D>::from_data(TensorData::new(values, dims), device),
        );
    })
}

/// The gradients of every rank summed in rank order: `model`'s trained parameters are
/// laid end to end in visiting order (zeros where this rank has none), followed by one
/// presence flag per parameter; a parameter without a gradient on every rank stays
/// without one. The gradients are registered on the device of this rank's (on `fallback`'s
/// inner device when it has none).
///
/// # Errors
/// A gradient that cannot be read back; collective errors.
fn sum_gradients(
    ranks: &dyn Collective,
    model: &PretrainModel,
    mut grads: GradientsParams,
    fallback: &Device,
) -> Result<GradientsParams, TrainError> {
    struct Flatten<'g> {
        grads: &'g mut GradientsParams,
        slots: Vec<Slot>,
        values: Vec<f32>,
        present: Vec<f32>,
        device: Option<Device>,
        failed: Option<String>,
    }
    impl ModuleVisitor for Flatten<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let value = p.val();
            if !value.is_require_grad() {
                return;
            }
            let dims = value.dims();
            let len = dims.iter().product();
            match self.grads.remove::<D>(p.id) {
                Some(g) => {
                    self.device.get_or_insert_with(|| g.device());
                    match g.try_into_vec_as::<f32>() {
                        Ok(v) => self.values.extend(v),
                        Err(e) => {
                            self.failed.get_or_insert(format!("{e:?}"));
                            self.values.extend(std::iter::repeat_n(0.0, len));
                        }
                    }
                    self.present.push(1.0);
                }
                None => {
                    self.values.extend(std::iter::repeat_n(0.0, len));
                    self.present.push(0.0);
                }
            }
            self.slots.push(Slot {
                len,
                register: register::<D>(p.id, dims),
            });
        }
    }
    let mut flat = Flatten {
        grads: &mut grads,
        slots: Vec::new(),
        values: Vec::new(),
        present: Vec::new(),
        device: None,
        failed: None,
    };
    model.visit(&mut flat);
    if let Some(reason) = flat.failed {
        return Err(TrainError::Readback {
            what: "gradients",
            reason,
        });
    }
    let Flatten {
        slots,
        mut values,
        present,
        device,
        ..
    } = flat;
    let total = values.len();
    values.extend(present);
    let summed = ranks.sum_in_rank_order(&values)?;
    let device = device.unwrap_or_else(|| fallback.clone().inner());
    let mut out = GradientsParams::new();
    let mut start = 0;
    for (i, slot) in slots.into_iter().enumerate() {
        let values = &summed[start..start + slot.len];
        start += slot.len;
        if summed[total + i] == 0.0 {
            continue;
        }
        (slot.register)(&mut out, values.to_vec(), &device);
    }
    Ok(out)
}
