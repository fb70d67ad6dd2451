//! Stage 1: contrastive pre-training (Khosla et al. 2020, Sec. 3): `views` augmented views
//! per image, encoder, projection head, SupCon (labels) or SimCLR (no labels) loss. With
//! `joint`, a linear classifier on stop-gradient encoder features trains at the same time
//! with cross-entropy (it sees the features, never moves them).
//!
//! The step of every variant (plain autodiff, tiled, chunked, over several devices, with a
//! memory bank and a momentum encoder, joint) is [`PretrainStage`]'s; the loop around it
//! is the [`super::trainer`]'s. The configuration lives in
//! [`pretrain_config`](super::pretrain_config), the module in
//! [`pretrain_model`](super::pretrain_model).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::chance::{ChanceLevel, class_fractions, is_check_epoch};
use super::checkpoint;
use super::chunked::embed_pass;
use super::collective::{Collective, agree};
use super::distributed::DataParallel;
use super::init::{announce_init, init_encoder};
use super::manifest::{MadeFrom, RunKind};
use super::memory_bank::{MemoryBank, ema_update};
use super::ranked::RankedStep;
use super::run_dir::RunDir;
use super::setup::{check_batch, images, labels_per_view, train_loader};
use super::trainer::{self, EpochEnd, LoopSettings, Stage, StepOutput};
use super::{RunOptions, TrainError};
use crate::data::batcher::Batch;
use crate::loss::{LossError, Positives, Queue, SupConLoss};
use crate::model::{EncoderInit, SupConModel, save_weights};

pub use super::pretrain_config::{
    LossImpl, MAX_BANK_BYTES, MAX_VIEWS, Method, PretrainConfig, check_contrast,
};
pub use super::pretrain_model::{PretrainModel, adapt_model_config, build_model};

/// What a finished stage reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PretrainReport {
    /// The run directory.
    pub run: PathBuf,
    /// Epochs completed.
    pub epochs: usize,
    /// Mean loss of the last epoch.
    pub final_loss: f64,
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
    /// Training throughput, views per second.
    pub images_per_second: f64,
}

/// The label of every view row of a batch (view-major: `labels[i]` repeated per view).
fn per_view_labels(batch: &crate::data::batcher::Batch) -> Vec<usize> {
    (0..batch.views)
        .flat_map(|_| batch.labels.iter().copied())
        .collect()
}

/// A detached `[n, P]` tensor as host rows; NaN/Inf is the divergence error.
fn read_rows(z: Tensor<2>) -> Result<Vec<f32>, TrainError> {
    let rows = z
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Readback {
            what: "projections",
            reason: format!("{e:?}"),
        })?;
    if rows.iter().any(|v| !v.is_finite()) {
        return Err(LossError::NonFiniteFeatures.into());
    }
    Ok(rows)
}

/// Runs stage 1 into a new run directory `out`.
///
/// # Errors
/// Invalid configuration, data, I/O, or a diverging loss.
pub fn pretrain(
    config: &PretrainConfig,
    out: &Path,
    opts: &RunOptions,
) -> Result<PretrainReport, TrainError> {
    pretrain_job(config, out, opts, None)
}

/// [`pretrain`] as one process of a job of several (`ranks`, one global batch; `None`:
/// alone). Every rank must be given the same configuration (checked); rank 0 alone writes
/// `out`.
///
/// # Errors
/// As [`pretrain`]; [`TrainError::RanksDiffer`] when the ranks' configurations or data
/// differ.
pub fn pretrain_job(
    config: &PretrainConfig,
    out: &Path,
    opts: &RunOptions,
    ranks: Option<&dyn Collective>,
) -> Result<PretrainReport, TrainError> {
    let writes = ranks.is_none_or(|r| r.rank() == 0);
    if let Some(ranks) = ranks {
        agree(ranks, "configuration", &job_identity(config, out))?;
    }
    if writes {
        crate::outputs::check_dir(
            out,
            &crate::outputs::Inputs::new([], config.data.dataset_dir()),
        )?;
    }
    let data = config.data.load(config.seed)?;
    // Every rank has read its data before rank 0 creates the run directory.
    if let Some(ranks) = ranks {
        agree_on_data(ranks, &data)?;
    }
    let mut config = config.clone();
    // Input channels (and the MLP's input size) come from the data, then validate.
    config.model = adapt_model_config(config.model, data.shape());
    config.validate()?;
    check_batch(config.batch_size, &data)?;
    config.init = config.init.as_ref().map(EncoderInit::absolute);
    super::init::check_init(config.init.as_ref(), &config.model.encoder)?;
    check_contrast(&config, &data)?;
    let run = if writes {
        RunDir::create(out)?
    } else {
        RunDir::follower(out)
    };
    run.write_json("config.json", &config)?;
    run.write_manifest(
        RunKind::Pretrain,
        MadeFrom::training(&config.data.spec, config.init.as_ref()),
    )?;
    run.write_json("data.json", &data.summary())?;
    run_pretrain(&config, &run, None, opts, ranks)
        .map_err(|e| super::interrupt::resumable(e, run.path()))
}

/// Checks that every rank loaded the same data (its summary: name, sizes, classes,
/// normalisation).
///
/// # Errors
/// [`TrainError::RanksDiffer`]; collective errors.
fn agree_on_data(
    ranks: &dyn Collective,
    data: &crate::data::LoadedDataset,
) -> Result<(), TrainError> {
    let summary = serde_json::to_vec(&data.summary()).unwrap_or_default();
    agree(ranks, "data", &summary)
}

/// What every rank of a job must agree on: the configuration and the run directory.
fn job_identity(config: &PretrainConfig, run: &Path) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(config).unwrap_or_default();
    bytes.extend(run.as_os_str().as_encoded_bytes());
    bytes
}

/// Continues stage 1 in `run` from its newest complete checkpoint, with the run's own
/// `config.json`. With the same seed the loss curve equals an uninterrupted run's.
///
/// # Errors
/// A missing or incompatible run, or any error of [`pretrain`].
pub fn resume_pretrain(run: &Path, opts: &RunOptions) -> Result<PretrainReport, TrainError> {
    resume_pretrain_job(run, opts, None)
}

/// [`resume_pretrain`] as one process of a job of several (`ranks`; `None`: alone): every
/// rank loads rank 0's newest complete checkpoint, which it must be able to read at the
/// same path (a shared file system). A run resumes with the number of processes it was
/// started with.
///
/// # Errors
/// As [`resume_pretrain`]; another number of ranks than the run's; ranks that see another
/// `config.json`.
pub fn resume_pretrain_job(
    run: &Path,
    opts: &RunOptions,
    ranks: Option<&dyn Collective>,
) -> Result<PretrainReport, TrainError> {
    let dir = run;
    let run = match ranks {
        Some(r) if r.rank() != 0 => {
            let run = RunDir::follower(dir);
            // Reads only; names the file when this rank cannot see the run.
            RunDir::open(dir)?;
            run
        }
        _ => RunDir::open_locked(dir)?,
    };
    let mut config: PretrainConfig = run.read_json("config.json")?;
    if let Some(ranks) = ranks {
        agree(ranks, "configuration", &job_identity(&config, dir))?;
    }
    config.validate()?;
    let now = ranks.map(|r| r.size());
    if config.mpi_ranks != now {
        let was = match config.mpi_ranks {
            Some(n) => format!(
                "over MPI with {n} ranks; resume it with `mpirun -np {n} supcon pretrain --distributed mpi --resume {}`",
                dir.display()
            ),
            None => format!(
                "in one process; resume it without mpirun and --distributed: `supcon pretrain --resume {}`",
                dir.display()
            ),
        };
        return Err(TrainError::Config(format!(
            "{}: the run was trained {was} (its BatchNorm groups and shards depend on the \
             number of ranks)",
            dir.display()
        )));
    }
    let last = match ranks {
        None => checkpoint::resume_point(&run)?,
        Some(ranks) => {
            // Rank 0 picks the checkpoint (and tidies the run); every rank loads it.
            let name = if ranks.rank() == 0 {
                checkpoint::resume_point(&run)?
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let name = ranks.broadcast_bytes(name.into_bytes())?;
            let name = String::from_utf8_lossy(&name).into_owned();
            (!name.is_empty()).then(|| PathBuf::from(name))
        }
    };
    opts.apply_resume_device(&run, &mut config, |c, device| {
        c.device = device;
        c.devices.clear();
    })?;
    run_pretrain(&config, &run, last, opts, ranks)
}

fn run_pretrain<'a>(
    config: &'a PretrainConfig,
    run: &RunDir,
    resume_from: Option<PathBuf>,
    opts: &RunOptions,
    ranks: Option<&'a dyn Collective>,
) -> Result<PretrainReport, TrainError> {
    let started = Instant::now();
    config.device.check()?;
    let device = config.device.autodiff_device();
    let data = config.data.load(config.seed)?;
    if let Some(ranks) = ranks {
        agree_on_data(ranks, &data)?;
    }
    // Rank 0 of a job speaks for it; the others print only errors.
    let quiet = opts.quiet || !run.writes();
    if config.joint && config.method == Method::Simclr {
        return Err(TrainError::Config(
            "--joint needs labels; it cannot be combined with --method simclr".into(),
        ));
    }
    // A new run starts from `init`'s weights; a resumed one from its checkpoint.
    let init = config.init.as_ref().filter(|_| resume_from.is_none());
    let init_report = OnceLock::new();
    let model = config.device.init_seeded(config.seed, |d| {
        let mut model = build_model(config, data.num_classes(), d)?;
        model.net.encoder = init_encoder(
            model.net.encoder,
            &config.model.encoder,
            init,
            d,
            &init_report,
        )?;
        Ok::<_, TrainError>(model)
    })?;
    if run.writes() {
        announce_init(&init_report, quiet);
    }
    let optim = config.optimizer.init();
    let bank = MemoryBank::new(config.memory_bank, model.net.projection_dim());
    // Tiled and chunked steps (gradient caching), on one device or a global batch split
    // over several: with one device, `DataParallel` is exactly `chunked_gradients`.
    let tiled =
        config.chunk.is_some() || config.loss_impl == LossImpl::Tiled || !config.devices.is_empty();
    let parallel = if tiled || ranks.is_some() {
        let choices = match config.devices.as_slice() {
            [] => std::slice::from_ref(&config.device),
            many => many,
        };
        let mut devices = Vec::with_capacity(choices.len());
        for choice in choices {
            choice.check()?;
            devices.push(choice.autodiff_device());
        }
        let classes = data.num_classes();
        Some(DataParallel::new(&devices, |d| {
            build_model(config, classes, d)
        })?)
    } else {
        None
    };
    // Over MPI ranks: each rank's share of the global batch, on its devices.
    let (parallel, ranked) = match (ranks, parallel) {
        (Some(ranks), Some(local)) => (None, Some(RankedStep::new(ranks, local, device.clone()))),
        (_, parallel) => (parallel, None),
    };
    // The key encoder starts as an exact, independent copy (its own parameters, never
    // tracked), so the online model's parameters are untouched.
    let key = match config.momentum_encoder {
        Some(_) => Some(ema_update(
            config.model.try_init(&device)?,
            &model.net,
            0.0,
        )?),
        None => None,
    };
    // Written if missing (a run killed before writing it); a resumed run must see the same data.
    run.check_data(&data.summary())?;
    let mut loader = train_loader(
        &data,
        &config.augment,
        config.views,
        config.batch_size,
        config.seed,
        config.data.threads,
    )?;
    if let Some(ranks) = ranks {
        loader = loader.with_shard(ranks.rank(), ranks.size());
    }
    let mut stage = PretrainStage {
        config,
        loss_fn: config.loss.init()?,
        ce: CrossEntropyLossConfig::new().init(&device),
        device,
        parallel,
        ranked,
        stop: false,
        global_labels: None,
        bank,
        key,
        projections: None,
        chance: ChanceLevel::of(
            config,
            &class_fractions(&data.train.labels, data.num_classes()),
        ),
    };
    let settings = LoopSettings {
        epochs: config.epochs,
        batch_size: config.batch_size,
        schedule: &config.schedule,
        checkpoint_every: Some(config.checkpoint_every),
        quiet,
    };
    let trained = trainer::train(
        &mut stage,
        &loader,
        model,
        optim,
        Some(run),
        resume_from,
        &settings,
    )?;
    if run.writes() {
        save_weights(&trained.model.net, run.file("model.safetensors"))?;
        if let Some(classifier) = &trained.model.classifier {
            save_weights(classifier, run.file("classifier.safetensors"))?;
        }
    }
    let report = PretrainReport {
        run: run.path().to_path_buf(),
        epochs: trained.epochs,
        final_loss: trained.final_loss,
        seconds: started.elapsed().as_secs_f64(),
        images_per_second: trained.images_per_second,
    };
    run.write_json("report.json", &report)?;
    Ok(report)
}

/// Stage 1's step in every variant, and the state it keeps between steps: the memory
/// bank, the momentum (key) encoder, the replicas of a multi-device step, this rank's step
/// of a global batch over MPI ranks.
pub struct PretrainStage<'a> {
    config: &'a PretrainConfig,
    device: Device,
    loss_fn: SupConLoss,
    ce: CrossEntropyLoss,
    /// Tiled, chunked and multi-device steps (`None`: plain autodiff).
    parallel: Option<DataParallel>,
    /// This rank's step of a global batch over MPI ranks.
    ranked: Option<RankedStep<'a>>,
    /// Whether the ranks agreed, in the last step, to stop.
    stop: bool,
    /// The labels of the last step's global batch over MPI ranks (each rank's batch is
    /// its shard), queued with its projections.
    global_labels: Option<Vec<usize>>,
    bank: MemoryBank,
    /// The EMA key encoder that fills the bank (MoCo-style).
    key: Option<SupConModel>,
    /// The last step's detached projections `[V*B, P]`, queued after the update.
    projections: Option<Vec<f32>>,
    /// The loss's chance level, for the warning after the first epoch.
    chance: Option<ChanceLevel>,
}

impl PretrainStage<'_> {
    /// The loss and gradients of one batch with the plain autodiff loss, and the detached
    /// projections when the bank queues the online model's own.
    ///
    /// # Shapes
    /// - `batch`: `V` views of `B` images, view-major; the projections are `[V*B, P]`.
    fn plain_step(
        &self,
        model: &PretrainModel,
        batch: &Batch,
        positives: Positives<'_>,
        queue_labels: Option<&[usize]>,
        step: usize,
    ) -> Result<(StepOutput, Option<Vec<f32>>), TrainError> {
        let (b, v) = (batch.batch_size, batch.views);
        let x = images(batch, &self.device); // [V*B, C, H, W]
        let features = model.net.encode(x); // [V*B, D]
        let z = model.net.head.forward(features.clone()); // [V*B, P]
        let p = z.dims()[1];
        let projections = if self.config.memory_bank > 0 && self.key.is_none() {
            Some(read_rows(z.clone().detach())?)
        } else {
            None
        };
        let z = z.reshape([v, b, p]).swap_dims(0, 1); // [B, V, P]
        let queue = (!self.bank.is_empty()).then(|| {
            let rows = self.bank.len();
            let q = Tensor::<2>::from_data(
                TensorData::new(self.bank.embeddings().to_vec(), [rows, p]),
                &self.device,
            );
            (q, queue_labels)
        });
        let loss = self
            .loss_fn
            .forward_with_queue(z, positives, queue, step as u64)?
            .mean(); // [1]
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let (total, ce_value) = match &model.classifier {
            Some(classifier) => {
                let logits = classifier.forward(features.detach()); // [V*B, K]
                let ce_loss = self
                    .ce
                    .forward(logits, labels_per_view(batch, &self.device));
                let ce_value = f64::from(ce_loss.clone().into_scalar::<f32>());
                (loss.add(ce_loss), Some(ce_value))
            }
            None => (loss, None),
        };
        let grads = GradientsParams::from_grads(total.backward(), model);
        let out = StepOutput {
            grads,
            loss: value,
            ce_loss: ce_value,
            images: b * v,
        };
        Ok((out, projections))
    }
}

impl Stage for PretrainStage<'_> {
    type Model = PretrainModel;
    type Batch = Batch;

    fn name(&self) -> &str {
        "pretrain"
    }

    fn command(&self) -> &str {
        "pretrain"
    }

    fn epoch_warning(&self, end: &EpochEnd) -> Option<String> {
        self.chance
            .filter(|_| is_check_epoch(end.steps, end.steps_per_epoch))
            .and_then(|level| level.warning(end))
    }

    fn label(&self) -> String {
        self.config.method.to_string()
    }

    fn step(
        &mut self,
        model: &PretrainModel,
        batch: &Batch,
        step: usize,
    ) -> Result<StepOutput, TrainError> {
        let positives = match self.config.method {
            Method::Supcon => Positives::Labels(&batch.labels),
            Method::Simclr => Positives::Instance,
        };
        // SimCLR cannot match sample identities across batches: queued entries are
        // negatives only.
        let queue_labels = match self.config.method {
            Method::Supcon => Some(self.bank.labels()),
            Method::Simclr => None,
        };
        if let Some(ranked) = self.ranked.as_mut() {
            let queue = (!self.bank.is_empty()).then(|| Queue {
                embeddings: self.bank.embeddings(),
                labels: queue_labels,
            });
            let (grads, out) = ranked.gradients(
                model,
                batch,
                self.config.method,
                &self.config.loss,
                queue,
                step as u64,
                self.config.chunk,
                super::interrupt::requested(),
            )?;
            self.stop = out.stop;
            if self.config.memory_bank > 0 {
                self.projections = Some(out.projections);
                self.global_labels = Some(out.labels);
            }
            return Ok(StepOutput {
                grads,
                loss: out.loss,
                ce_loss: out.ce_loss,
                images: out.samples * batch.views,
            });
        }
        let (out, projections) = if let Some(parallel) = self.parallel.as_mut() {
            let queue = (!self.bank.is_empty()).then(|| Queue {
                embeddings: self.bank.embeddings(),
                labels: queue_labels,
            });
            let (grads, out) = parallel.gradients(
                model,
                batch,
                positives,
                queue,
                &self.config.loss,
                step as u64,
                self.config.chunk,
            )?;
            let step = StepOutput {
                grads,
                loss: out.loss,
                ce_loss: out.ce_loss,
                images: batch.batch_size * batch.views,
            };
            (step, Some(out.projections))
        } else {
            self.plain_step(model, batch, positives, queue_labels, step)?
        };
        self.projections = projections;
        Ok(out)
    }

    fn stop_requested(&self) -> bool {
        match self.ranked {
            Some(_) => self.stop,
            None => super::interrupt::requested(),
        }
    }

    fn after_update(&mut self, model: &PretrainModel, batch: &Batch) -> Result<(), TrainError> {
        if self.config.memory_bank == 0 {
            return Ok(());
        }
        let labels = match self.global_labels.take() {
            Some(global) => (0..batch.views)
                .flat_map(|_| global.iter().copied())
                .collect(),
            None => per_view_labels(batch),
        };
        let rows = match (self.key.take(), self.config.momentum_encoder) {
            (Some(k), Some(m)) => {
                // MoCo order: update the key encoder, then embed the batch with it.
                let k = ema_update(k, &model.net, m)?;
                // [V*B, P], view-major; `chunk` views at a time like the step.
                let chunk = self.config.chunk.unwrap_or(batch.batch_size * batch.views);
                let (rows, p) = embed_pass(&k, batch, chunk, &self.device)?;
                self.key = Some(k);
                // Over MPI ranks, `batch` is this rank's shard: gather every rank's keys.
                match &self.ranked {
                    Some(ranked) => ranked.gather_rows(&rows, batch.batch_size, batch.views, p)?,
                    None => rows,
                }
            }
            _ => self.projections.take().unwrap_or_default(),
        };
        self.bank.push(&rows, &labels);
        Ok(())
    }

    fn save_extra(&self, dir: &Path) -> Result<(), String> {
        if self.config.memory_bank > 0 {
            self.bank.save(dir).map_err(|e| e.to_string())?;
        }
        if let Some(k) = &self.key {
            let _ = k.valid(); // pending BatchNorm statistics, as `checkpoint::save` does
            let path = dir.join("key.bpk");
            crate::fsutil::write_atomic_with(&path, |tmp| {
                k.clone()
                    .save_file(tmp)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    fn load_extra(&mut self, dir: &Path) -> Result<(), TrainError> {
        if self.config.memory_bank > 0 {
            self.bank = MemoryBank::load(dir)?;
        }
        if let Some(k) = self.key.take() {
            let path = dir.join("key.bpk");
            self.key = Some(k.try_load_file(&path).map_err(|e| TrainError::State {
                reason: format!("key encoder: {e:?}"),
                path,
            })?);
        }
        Ok(())
    }
}
