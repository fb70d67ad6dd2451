//! Stage 1: contrastive pre-training (Khosla et al. 2020, Sec. 3): `views` augmented views
//! per image, encoder, projection head, SupCon (labels) or SimCLR (no labels) loss. With
//! `joint`, a linear classifier on stop-gradient encoder features trains at the same time
//! with cross-entropy (it sees the features, never moves them).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::checkpoint::{self, LoopState};
use super::chunked::embed_pass;
use super::distributed::DataParallel;
use super::init::{announce_init, init_encoder};
use super::interrupt;
use super::memory_bank::{MemoryBank, ema_update};
use super::run_dir::{RunDir, truncate_metrics};
use super::setup::{DataConfig, images, labels_per_view, train_loader};
use super::{OptimizerConfig, Progress, ScheduleConfig, TrainError};
use crate::augment::AugmentConfig;
use crate::device::DeviceChoice;
use crate::loss::{LossError, Positives, Queue, SupConLossConfig};
use crate::model::{
    EncoderInit, LinearClassifier, LinearClassifierConfig, SupConModel, SupConModelConfig,
    save_weights,
};

/// Which contrastive objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Supervised contrastive: every same-label sample is a positive.
    #[default]
    Supcon,
    /// SimCLR: labels unused, positives are the other views of the same image.
    Simclr,
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "supcon" => Ok(Self::Supcon),
            "simclr" => Ok(Self::Simclr),
            _ => Err(format!("unknown method '{s}': expected supcon or simclr")),
        }
    }
}

impl Method {
    /// The method's usual softmax temperature: 0.1 for SupCon (the paper's), 0.5 for
    /// SimCLR (the temperature of the SupContrast reference's SimCLR command).
    pub fn default_temperature(self) -> f64 {
        match self {
            Self::Supcon => 0.1,
            Self::Simclr => 0.5,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Supcon => "supcon",
            Self::Simclr => "simclr",
        })
    }
}

/// Everything stage 1 needs; saved as the run's `config.json` and reloaded by later stages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    /// SupCon or SimCLR. Default SupCon.
    pub method: Method,
    /// The data.
    pub data: DataConfig,
    /// Encoder and projection head. Input channels are taken from the data.
    pub model: SupConModelConfig,
    /// The loss (temperature 0.1 by default, as in the paper).
    pub loss: SupConLossConfig,
    /// The augmentation of each view. Default SimAugment.
    pub augment: AugmentConfig,
    /// Views per image. Default 2.
    pub views: usize,
    /// Epochs. Default 10.
    pub epochs: usize,
    /// Images per batch (each gives `views` views). Default 256.
    pub batch_size: usize,
    /// The optimiser. Default SGD, momentum 0.9, weight decay 1e-4.
    pub optimizer: OptimizerConfig,
    /// The LR schedule. Default: the paper's CIFAR setting, LR 0.5 at batch 1024 scaled
    /// linearly with the batch (`base_lr` 0.125 per 256 with `scale_by_batch`: 0.0625 at
    /// batch 128, 0.125 at the default 256), cosine decay.
    pub schedule: ScheduleConfig,
    /// Also train a linear classifier on stop-gradient features with cross-entropy.
    pub joint: bool,
    /// Seed of initialisation, shuffling and augmentation. Default 0.
    pub seed: u64,
    /// Where to train. Default CPU.
    pub device: DeviceChoice,
    /// Write a checkpoint every this many epochs (and after the last). Default 1.
    pub checkpoint_every: usize,
    /// Which loss implementation. Default `plain` (autodiff); `tiled` never holds the
    /// full similarity matrix.
    pub loss_impl: LossImpl,
    /// Embed and back-propagate the batch this many views at a time (gradient caching with
    /// the tiled loss): exact large batches in bounded memory. Default: off.
    pub chunk: Option<usize>,
    /// Memory bank size `K`: past projections (with labels) as extra contrast entries.
    /// Default 0 (off); the paper's memory-based run used 8192.
    pub memory_bank: usize,
    /// Momentum of an EMA key encoder that produces the queued projections (MoCo-style);
    /// `None` queues the online encoder's own (detached) projections. Default `None`.
    pub momentum_encoder: Option<f64>,
    /// Data-parallel training of one global batch over these devices (the batch is split
    /// into one shard per device; every anchor contrasts against all of them; see
    /// [`super::distributed`]). The first device holds the model and must equal `device`.
    /// Default: empty (one device, `device`).
    pub devices: Vec<DeviceChoice>,
    /// Initial encoder weights (`torchvision:FILE`, see [`crate::model::init`]); `None`
    /// (the default) initialises at random. Read when the run starts, not on resume.
    pub init: Option<EncoderInit>,
}

/// The most views per image a run accepts (the paper uses 2).
pub const MAX_VIEWS: usize = 64;

/// The largest memory bank a run accepts, in bytes of stored projections.
pub const MAX_BANK_BYTES: f64 = 16.0 * (1u64 << 30) as f64;

/// Which implementation of the loss a training step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossImpl {
    /// burn autodiff over the full `(views * batch)^2` similarity matrix.
    #[default]
    Plain,
    /// Row blocks with the analytic gradient (implied by `chunk`).
    Tiled,
}

impl FromStr for LossImpl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Ok(Self::Plain),
            "tiled" => Ok(Self::Tiled),
            _ => Err(format!(
                "unknown loss implementation '{s}': expected plain or tiled"
            )),
        }
    }
}

impl fmt::Display for LossImpl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain",
            Self::Tiled => "tiled",
        })
    }
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            method: Method::Supcon,
            data: DataConfig::default(),
            model: SupConModelConfig::default(),
            loss: SupConLossConfig::default(),
            augment: AugmentConfig::default(),
            views: 2,
            epochs: 10,
            batch_size: 256,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig {
                base_lr: 0.125,
                scale_by_batch: true,
                ..ScheduleConfig::default()
            },
            joint: false,
            seed: 0,
            device: DeviceChoice::Cpu,
            checkpoint_every: 1,
            loss_impl: LossImpl::Plain,
            chunk: None,
            memory_bank: 0,
            momentum_encoder: None,
            devices: Vec::new(),
            init: None,
        }
    }
}

impl PretrainConfig {
    /// Checks every value that can be checked without the data.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), TrainError> {
        super::setup::require_positive(&[
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("views", self.views),
            ("checkpoint_every", self.checkpoint_every),
            ("chunk", self.chunk.unwrap_or(1)),
        ])?;
        if self.views > MAX_VIEWS {
            return Err(TrainError::Config(format!(
                "views = {}: expected at most {MAX_VIEWS}",
                self.views
            )));
        }
        let bank_bytes = self.memory_bank as f64 * self.model.head.output_dim as f64 * 4.0;
        if bank_bytes > MAX_BANK_BYTES {
            return Err(TrainError::Config(format!(
                "memory_bank = {}: {} entries of {} floats need {:.1} GiB; expected at most {} GiB",
                self.memory_bank,
                self.memory_bank,
                self.model.head.output_dim,
                bank_bytes / (1u64 << 30) as f64,
                MAX_BANK_BYTES / (1u64 << 30) as f64
            )));
        }
        // Settings a configuration file sets explicitly, checked against the same table
        // as the command-line flags.
        let explicit = super::setup::explicit_settings(&self.optimizer);
        let mut explicit: Vec<&str> = explicit.to_vec();
        if self.loss.positives_cap.is_some() {
            explicit.push("--positives-cap");
        }
        super::applies::check(
            &explicit,
            &super::applies::Context {
                method: Some(self.method),
                ..super::applies::Context::new(self.optimizer.kind, &self.schedule.decay)
            },
        )?;
        if self.method == Method::Simclr && self.views < 2 {
            return Err(TrainError::Config(format!(
                "views = {}: SimCLR needs at least 2 views (an image's other views are its only \
                 positives)",
                self.views
            )));
        }
        if let Some(m) = self.momentum_encoder {
            if !(0.0..1.0).contains(&m) {
                return Err(TrainError::Config(format!(
                    "momentum_encoder = {m}: expected 0 <= m < 1"
                )));
            }
            if self.memory_bank == 0 {
                return Err(TrainError::Config(
                    "momentum_encoder needs a memory bank (--memory-bank K)".into(),
                ));
            }
        }
        if let Some(first) = self.devices.first() {
            if *first != self.device {
                return Err(TrainError::Config(format!(
                    "devices = [{}]: the first must be the model's device ({})",
                    self.devices
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    self.device
                )));
            }
            if self.devices.len() > self.batch_size {
                return Err(TrainError::Config(format!(
                    "{} devices for a batch of {}: expected at least one sample per device",
                    self.devices.len(),
                    self.batch_size
                )));
            }
        }
        self.optimizer.validate().map_err(TrainError::Config)?;
        self.schedule
            .validate(self.epochs)
            .map_err(TrainError::Config)?;
        self.augment.validate()?;
        self.loss.init()?;
        // The MLP's input size comes from the data when training starts
        // (`adapt_model_config`); a configuration checked before the data is loaded
        // (`supcon run`, `supcon sweep`) is checked with a stand-in size.
        let mut model = self.model.clone();
        if model.encoder.name == crate::model::EncoderKind::Mlp && model.encoder.input_dim.is_none()
        {
            model.encoder.input_dim = Some(1);
        }
        model.validate()?;
        Ok(())
    }
}

/// The trained module of stage 1: the contrastive model and, with `joint`, the classifier.
#[derive(Module, Debug)]
pub struct PretrainModel {
    /// Encoder + projection head.
    pub net: SupConModel,
    /// The joint classifier on stop-gradient features.
    pub classifier: Option<LinearClassifier>,
}

/// Run-time options that are not part of the experiment (where, how verbose).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Hide progress bars.
    pub quiet: bool,
    /// Resume on this device instead of the one in the run's `config.json` (a run whose
    /// GPU went away continues elsewhere); the run's `config.json` is updated to say so.
    /// A data-parallel pre-training run continues on this one device. Ignored by new runs.
    pub resume_device: Option<DeviceChoice>,
}

impl RunOptions {
    /// Moves a resumed run to [`Self::resume_device`] when one is set: `set` writes the
    /// device into `config`, which is saved again as the run's `config.json`.
    ///
    /// # Errors
    /// Writing `config.json`.
    pub(crate) fn apply_resume_device<C: Serialize>(
        &self,
        run: &RunDir,
        config: &mut C,
        set: impl FnOnce(&mut C, DeviceChoice),
    ) -> Result<(), TrainError> {
        if let Some(device) = self.resume_device {
            set(config, device);
            run.write_json("config.json", config)?;
        }
        Ok(())
    }
}

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

/// Builds the stage-1 model for `config` on `device`.
///
/// # Errors
/// An invalid model configuration.
pub fn build_model(
    config: &PretrainConfig,
    num_classes: usize,
    device: &burn::tensor::Device,
) -> Result<PretrainModel, TrainError> {
    let net = config.model.try_init(device)?;
    let classifier = config
        .joint
        .then(|| LinearClassifierConfig::new(net.feature_dim(), num_classes).init(device));
    Ok(PretrainModel { net, classifier })
}

/// The model configuration adapted to a dataset's image shape (channels, MLP input size;
/// see [`EncoderConfig::fit_to_images`](crate::model::EncoderConfig::fit_to_images)).
pub fn adapt_model_config(mut model: SupConModelConfig, shape: [usize; 3]) -> SupConModelConfig {
    model.encoder.fit_to_images(shape);
    model
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
        .map_err(|e| TrainError::Config(format!("reading projections: {e:?}")))?;
    if rows.iter().any(|v| !v.is_finite()) {
        return Err(LossError::NonFiniteFeatures.into());
    }
    Ok(rows)
}

/// Checks that a batch fits in the training set (batches drop the last partial one).
///
/// # Errors
/// [`TrainError::Config`] naming both sizes.
pub fn check_batch(batch_size: usize, data: &crate::data::LoadedDataset) -> Result<(), TrainError> {
    if batch_size > data.train.len() {
        return Err(TrainError::Config(format!(
            "batch size {batch_size} is larger than the training set ({} samples of {})",
            data.train.len(),
            data.name
        )));
    }
    Ok(())
}

/// Refuses settings under which the contrastive loss is the same at every step (zero, in
/// practice), so nothing is learned: no anchor can have a positive (one view per image,
/// and no other image of its class in a batch or the memory bank), or no anchor can have
/// a negative (one image per batch without a memory bank, or SupCon on one class).
///
/// # Errors
/// [`TrainError::Config`] saying which and what to change.
pub fn check_contrast(
    config: &PretrainConfig,
    data: &crate::data::LoadedDataset,
) -> Result<(), TrainError> {
    let counts = crate::data::class_counts(&data.train);
    let largest = counts.iter().copied().max().unwrap_or(0);
    let classes = counts.iter().filter(|&&c| c > 0).count();
    let batch = config.batch_size.min(data.train.len());
    let others = batch >= 2 || config.memory_bank > 0;
    let labels = config.method == Method::Supcon;
    let positive = config.views >= 2 || (labels && largest >= 2 && others);
    if !positive {
        let why = if !labels {
            "SimCLR's only positives are an image's other views".to_string()
        } else if largest < 2 {
            format!(
                "no class of the training set ({} images) has two images",
                data.train.len()
            )
        } else {
            format!("a batch holds {batch} image and there is no memory bank")
        };
        return Err(TrainError::Config(format!(
            "views = {}, batch_size = {}: no anchor can have a positive ({why}); the loss \
             would be 0 at every step; use --views 2 or more",
            config.views, config.batch_size
        )));
    }
    let negative = others && (!labels || classes >= 2);
    if !negative {
        let why = if others {
            "every training image is of one class, so all of them are positives".to_string()
        } else {
            "a batch holds one image and there is no memory bank, so each anchor is \
             contrasted only with its own views"
                .to_string()
        };
        return Err(TrainError::Config(format!(
            "batch_size = {}: no anchor can have a negative ({why}); the loss would not \
             change with training; use --batch-size 2 or more, or --memory-bank K",
            config.batch_size
        )));
    }
    Ok(())
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
    crate::outputs::check_dir(
        out,
        &crate::outputs::Inputs::new([], config.data.dataset_dir()),
    )?;
    let data = config.data.load(config.seed)?;
    let mut config = config.clone();
    // Input channels (and the MLP's input size) come from the data, then validate.
    config.model = adapt_model_config(config.model, data.shape());
    config.validate()?;
    check_batch(config.batch_size, &data)?;
    config.init = config.init.as_ref().map(EncoderInit::absolute);
    super::init::check_init(config.init.as_ref(), &config.model.encoder)?;
    check_contrast(&config, &data)?;
    let run = RunDir::create(out)?;
    run.write_json("config.json", &config)?;
    run.write_json("data.json", &data.summary())?;
    run_pretrain(&config, &run, None, opts)
}

/// Continues stage 1 in `run` from its newest complete checkpoint, with the run's own
/// `config.json`. With the same seed the loss curve equals an uninterrupted run's.
///
/// # Errors
/// A missing or incompatible run, or any error of [`pretrain`].
pub fn resume_pretrain(run: &Path, opts: &RunOptions) -> Result<PretrainReport, TrainError> {
    let run = RunDir::open_locked(run)?;
    let mut config: PretrainConfig = run.read_json("config.json")?;
    config.validate()?;
    let last = checkpoint::resume_point(&run)?;
    opts.apply_resume_device(&run, &mut config, |c, device| {
        c.device = device;
        c.devices.clear();
    })?;
    run_pretrain(&config, &run, last, opts)
}

fn run_pretrain(
    config: &PretrainConfig,
    run: &RunDir,
    resume_from: Option<PathBuf>,
    opts: &RunOptions,
) -> Result<PretrainReport, TrainError> {
    let started = Instant::now();
    config.device.check()?;
    let device = config.device.autodiff_device();
    let data = config.data.load(config.seed)?;
    if config.joint && config.method == Method::Simclr {
        return Err(TrainError::Config(
            "--joint needs labels; it cannot be combined with --method simclr".into(),
        ));
    }
    // A new run starts from `init`'s weights; a resumed one from its checkpoint.
    let init = config.init.as_ref().filter(|_| resume_from.is_none());
    let init_report = OnceLock::new();
    let mut model = config.device.init_seeded(config.seed, |d| {
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
    announce_init(&init_report, opts.quiet);
    let mut optim = config.optimizer.init();
    let (mut epoch, mut step) = (0usize, 0usize);
    // Batches already done of the epoch a mid-epoch checkpoint stopped in, and their loss sum.
    let mut resumed_within_epoch = (0usize, 0.0f64);
    let mut last_checkpoint = None;
    let mut final_loss = f64::NAN;
    let mut bank = MemoryBank::new(config.memory_bank, model.net.projection_dim());
    // The key encoder starts as an exact, independent copy (its own parameters, never
    // tracked), so the online model's parameters are untouched.
    // Tiled and chunked steps (gradient caching), on one device or a global batch split
    // over several: with one device, `DataParallel` is exactly `chunked_gradients`.
    let tiled =
        config.chunk.is_some() || config.loss_impl == LossImpl::Tiled || !config.devices.is_empty();
    let mut parallel = if tiled {
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
    let mut key = match config.momentum_encoder {
        Some(_) => Some(ema_update(
            config.model.try_init(&device)?,
            &model.net,
            0.0,
        )?),
        None => None,
    };
    if let Some(dir) = resume_from {
        let (m, o, state) = checkpoint::load(&dir, model, optim)?;
        (model, optim) = (m, o);
        if config.memory_bank > 0 {
            bank = MemoryBank::load(&dir)?;
        }
        if let Some(k) = key.take() {
            let path = dir.join("key.bpk");
            key = Some(k.try_load_file(&path).map_err(|e| {
                TrainError::Config(format!("{}: key encoder: {e:?}", path.display()))
            })?);
        }
        (epoch, step, final_loss) = (state.epoch, state.step, state.loss);
        resumed_within_epoch = (state.batch, state.epoch_loss_sum);
        truncate_metrics(&run.file("metrics.jsonl"), epoch, step)?;
        last_checkpoint = Some(dir);
    }
    // Written if missing (a run killed before writing it); a resumed run must see the same data.
    run.check_data(&data.summary())?;
    let loader = train_loader(
        &data,
        &config.augment,
        config.views,
        config.batch_size,
        config.seed,
        config.data.threads,
    )?;
    let loss_fn = config.loss.init()?;
    let ce = CrossEntropyLossConfig::new().init(&device);
    let steps_per_epoch = loader.num_batches();
    let mut metrics = run.metrics()?;
    let mut throughput = 0.0;

    while epoch < config.epochs {
        let epoch_started = Instant::now();
        let mut progress = Progress::new(
            &format!("{} {}/{}", config.method, epoch + 1, config.epochs),
            steps_per_epoch,
            opts.quiet,
        );
        let (done, mut sum) = std::mem::take(&mut resumed_within_epoch);
        let mut count = done;
        for batch in loader.iter_from(epoch as u64, done) {
            let batch = batch?;
            let lr = config
                .schedule
                .lr_at(step, steps_per_epoch, config.epochs, config.batch_size);
            let (b, v) = (batch.batch_size, batch.views);
            let positives = match config.method {
                Method::Supcon => Positives::Labels(&batch.labels),
                Method::Simclr => Positives::Instance,
            };
            let diverged = |value: f64, checkpoint: Option<PathBuf>| TrainError::NonFinite {
                value,
                epoch: epoch + 1,
                step: step + 1,
                checkpoint,
            };
            // SimCLR cannot match sample identities across batches: queued entries are
            // negatives only.
            let queue_labels = match config.method {
                Method::Supcon => Some(bank.labels()),
                Method::Simclr => None,
            };
            let mut projections: Option<Vec<f32>> = None;
            let (grads, value, ce_value) = if let Some(parallel) = parallel.as_mut() {
                let queue = (!bank.is_empty()).then(|| Queue {
                    embeddings: bank.embeddings(),
                    labels: queue_labels,
                });
                let result = parallel.gradients(
                    &model,
                    &batch,
                    positives,
                    queue,
                    &config.loss,
                    step as u64,
                    config.chunk,
                );
                match result {
                    Ok((grads, out)) => {
                        projections = Some(out.projections);
                        (grads, out.loss, out.ce_loss)
                    }
                    Err(TrainError::Loss(
                        LossError::NonFiniteLoss { .. } | LossError::NonFiniteFeatures,
                    )) => return Err(diverged(f64::NAN, last_checkpoint)),
                    Err(e) => return Err(e),
                }
            } else {
                let x = images(&batch, &device); // [V*B, C, H, W]
                let features = model.net.encode(x); // [V*B, D]
                let z = model.net.head.forward(features.clone()); // [V*B, P]
                let p = z.dims()[1];
                if config.memory_bank > 0 && key.is_none() {
                    projections = Some(read_rows(z.clone().detach())?);
                }
                let z = z.reshape([v, b, p]).swap_dims(0, 1); // [B, V, P]
                let queue = (!bank.is_empty()).then(|| {
                    let rows = bank.len();
                    let q = Tensor::<2>::from_data(
                        TensorData::new(bank.embeddings().to_vec(), [rows, p]),
                        &device,
                    );
                    (q, queue_labels)
                });
                let loss = match loss_fn.forward_with_queue(z, positives, queue, step as u64) {
                    Ok(per_anchor) => per_anchor.mean(), // [1]
                    Err(LossError::NonFiniteLoss { .. } | LossError::NonFiniteFeatures) => {
                        return Err(diverged(f64::NAN, last_checkpoint));
                    }
                    Err(e) => return Err(e.into()),
                };
                let value = f64::from(loss.clone().into_scalar::<f32>());
                let (total, ce_value) = match &model.classifier {
                    Some(classifier) => {
                        let logits = classifier.forward(features.detach()); // [V*B, K]
                        let ce_loss = ce.forward(logits, labels_per_view(&batch, &device));
                        let ce_value = f64::from(ce_loss.clone().into_scalar::<f32>());
                        (loss.add(ce_loss), Some(ce_value))
                    }
                    None => (loss, None),
                };
                let grads = GradientsParams::from_grads(total.backward(), &model);
                (grads, value, ce_value)
            };
            if !value.is_finite() {
                return Err(diverged(value, last_checkpoint));
            }
            let mut record = json!({"stage": "pretrain", "epoch": epoch + 1, "step": step + 1,
                "loss": value, "lr": lr});
            if let Some(ce_value) = ce_value {
                record["ce_loss"] = json!(ce_value);
            }
            model = optim.step(lr, model, grads);
            if config.memory_bank > 0 {
                let labels = per_view_labels(&batch);
                let rows = match (key.take(), config.momentum_encoder) {
                    (Some(k), Some(m)) => {
                        // MoCo order: update the key encoder, then embed the batch with it.
                        let k = ema_update(k, &model.net, m)?;
                        // [V*B, P], view-major; `chunk` views at a time like the step.
                        let chunk = config.chunk.unwrap_or(b * v);
                        let (rows, _) = embed_pass(&k, &batch, chunk, &device)?;
                        key = Some(k);
                        rows
                    }
                    _ => projections.take().unwrap_or_default(),
                };
                bank.push(&rows, &labels);
            }
            metrics.log(&record)?;
            progress.step(b * v, value, lr);
            sum += value;
            count += 1;
            step += 1;
            if interrupt::requested() {
                let state = LoopState::within_epoch(epoch, step, final_loss, count, sum);
                let dir =
                    save_checkpoint(run, config, &model, &optim, &bank, key.as_ref(), &state)?;
                progress.finish();
                return Err(interrupt::stopped(&state, dir, "pretrain", run.path()));
            }
        }
        progress.finish();
        throughput = progress.images_per_second();
        final_loss = sum / count.max(1) as f64;
        epoch += 1;
        metrics.log(
            &json!({"stage": "pretrain", "epoch": epoch, "epoch_loss": final_loss,
            "seconds": epoch_started.elapsed().as_secs_f64(), "images_per_second": throughput}),
        )?;
        if epoch % config.checkpoint_every == 0 || epoch == config.epochs {
            let state = LoopState::epoch_end(epoch, step, final_loss);
            last_checkpoint = Some(save_checkpoint(
                run,
                config,
                &model,
                &optim,
                &bank,
                key.as_ref(),
                &state,
            )?);
        }
    }
    save_weights(&model.net, run.file("model.safetensors"))?;
    if let Some(classifier) = &model.classifier {
        save_weights(classifier, run.file("classifier.safetensors"))?;
    }
    let report = PretrainReport {
        run: run.path().to_path_buf(),
        epochs: epoch,
        final_loss,
        seconds: started.elapsed().as_secs_f64(),
        images_per_second: throughput,
    };
    run.write_json("report.json", &report)?;
    Ok(report)
}

/// Writes a stage-1 checkpoint at `state`: model, optimiser, and the memory bank and key
/// encoder when the run has them.
fn save_checkpoint(
    run: &RunDir,
    config: &PretrainConfig,
    model: &PretrainModel,
    optim: &burn::optim::ModuleOptimizer,
    bank: &MemoryBank,
    key: Option<&SupConModel>,
    state: &LoopState,
) -> Result<PathBuf, TrainError> {
    let extra = |dir: &Path| -> Result<(), String> {
        if config.memory_bank > 0 {
            bank.save(dir).map_err(|e| e.to_string())?;
        }
        if let Some(k) = key {
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
    };
    Ok(checkpoint::save(run, model, optim, state, &extra)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lr_is_the_papers_scaled_with_the_batch() {
        // The paper trains CIFAR at batch 1024 with LR 0.5 (cosine, SGD momentum 0.9).
        let s = PretrainConfig::default().schedule;
        assert_eq!(s.peak_lr(1024), 0.5);
        assert_eq!(s.peak_lr(256), 0.125);
        assert_eq!(s.peak_lr(128), 0.0625);
        assert_eq!(Method::Supcon.default_temperature(), 0.1);
        assert_eq!(Method::Simclr.default_temperature(), 0.5);
    }
}
