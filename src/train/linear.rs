//! Stage 2: the linear probe (Khosla et al. 2020, Sec. 4): freeze the pre-trained encoder,
//! drop the projection head, train a linear classifier with cross-entropy on the encoder's
//! features, report the final test top-1/top-5 (not the best over epochs) and calibration.
//!
//! The encoder runs in evaluation mode (no autodiff, BatchNorm on its running statistics).
//! By default it runs once per split and its features are cached: each probe epoch then
//! costs only the classifier. With [`LinearConfig::augment`] the probe trains instead on
//! augmented images, each batch encoded afresh, as the SupContrast reference's linear
//! stage does (random resized crop and flip: [`Augment::Crop`](crate::augment::Augment)).
//! The encoder's weights and BatchNorm statistics are fingerprinted before and after, and
//! a change is an error (the classic linear-probe pitfall).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::features::{Matrix, map_split};
use super::manifest::{MadeFrom, RunKind};
use super::metrics::{ClassificationMetrics, classification_metrics};
use super::pretrain_config::PretrainConfig;
use super::run_dir::{RunDir, recorded_shape};
use super::setup::{DataConfig, images, labels_per_view, train_loader};
use super::trainer::{self, BatchSource, Batches, LoopSettings, Stage, StepOutput};
use super::{OptimizerConfig, ScheduleConfig, TrainError};
use crate::augment::AugmentConfig;
use crate::data::LoadedDataset;
use crate::data::batcher::shuffled_order;
use crate::device::DeviceChoice;
use crate::model::{
    Encoder, EncoderConfig, LinearClassifier, LinearClassifierConfig, load_weights, save_weights,
};

/// Stage-2 settings; saved as the probe run's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearConfig {
    /// Where the probed encoder comes from: a pre-training run, or an export (`supcon
    /// export`: the encoder of its classifier; `data` is then required).
    pub encoder_run: PathBuf,
    /// The data. Default: the pre-training run's (an export records none).
    pub data: Option<DataConfig>,
    /// Epochs over the training set. Default 30.
    pub epochs: usize,
    /// Batch size. Default 256.
    pub batch_size: usize,
    /// The optimiser. Default SGD, momentum 0.9, no weight decay.
    pub optimizer: OptimizerConfig,
    /// The LR schedule. Default base LR 0.1, cosine.
    pub schedule: ScheduleConfig,
    /// Seed of initialisation and shuffling. Default 0.
    pub seed: u64,
    /// Where to run. Default CPU.
    pub device: DeviceChoice,
    /// Train on augmented images (one view per sample, each batch encoded by the frozen
    /// encoder, the last partial batch dropped) instead of cached features of un-augmented
    /// images. An epoch then costs an encoder pass over the training set. Default `None`
    /// (cached features).
    pub augment: Option<AugmentConfig>,
    /// Checkpoint every this many epochs (and after the last). Default `None`: only an
    /// interruption writes one (an epoch on cached features costs little).
    pub checkpoint_every: Option<usize>,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            encoder_run: PathBuf::new(),
            data: None,
            epochs: 30,
            batch_size: 256,
            optimizer: OptimizerConfig {
                weight_decay: 0.0,
                ..OptimizerConfig::default()
            },
            schedule: ScheduleConfig {
                base_lr: 0.1,
                ..ScheduleConfig::default()
            },
            seed: 0,
            device: DeviceChoice::Cpu,
            augment: None,
            checkpoint_every: None,
        }
    }
}

/// What the probe reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearReport {
    /// The probe's run directory.
    pub run: PathBuf,
    /// Final test metrics.
    pub test: ClassificationMetrics,
    /// Final training-set top-1 (on un-augmented training images).
    pub train_top1: f64,
    /// Wall time, seconds (feature extraction included).
    pub seconds: f64,
}

/// Where a probe's frozen encoder comes from.
#[derive(Clone, Debug)]
pub enum EncoderSource {
    /// A pre-training run (its `config.json`).
    Pretrain(Box<PretrainConfig>),
    /// An export (`supcon export`, its `classifier.json`): the encoder of its classifier.
    Export(Box<crate::infer::ClassifierSpec>),
}

impl EncoderSource {
    /// The encoder architecture.
    pub fn encoder_config(&self) -> &EncoderConfig {
        match self {
            Self::Pretrain(c) => &c.model.encoder,
            Self::Export(spec) => &spec.encoder,
        }
    }

    /// The data the encoder was trained on, when recorded (an export records none).
    pub fn data(&self) -> Option<&DataConfig> {
        match self {
            Self::Pretrain(c) => Some(&c.data),
            Self::Export(_) => None,
        }
    }

    /// The image shape `[C, H, W]` the encoder was trained on (`dir` is the source's
    /// directory, whose `data.json` records it for a pre-training run).
    ///
    /// # Errors
    /// A message when it is not recorded.
    pub fn input_shape(&self, dir: &Path) -> Result<[usize; 3], String> {
        match self {
            Self::Pretrain(_) => match recorded_shape(dir) {
                Ok(Some(shape)) => Ok(shape),
                Ok(None) => Err("no data.json".into()),
                Err(e) => Err(e.to_string()),
            },
            Self::Export(spec) => Ok(spec.input_shape),
        }
    }
}

/// Loads the encoder of a pre-training run, or of an export (the encoder of its
/// classifier), in evaluation mode on `device`.
///
/// # Errors
/// A missing run, config or weights file, weights of another architecture, or a run of
/// another stage (named as such).
pub fn load_encoder(
    encoder_run: &Path,
    device: &burn::tensor::Device,
) -> Result<(Encoder, EncoderSource), TrainError> {
    let kind = super::manifest::read_manifest(encoder_run)?.kind;
    match kind {
        RunKind::Export => {
            let infer = |e: crate::infer::InferError| match e {
                crate::infer::InferError::Train(e) => e,
                other => TrainError::Source(other.to_string()),
            };
            let export = crate::infer::ModelDir::open(encoder_run).map_err(infer)?;
            let spec = export.classifier_spec().map_err(infer)?;
            let encoder = export.load_encoder(device).map_err(infer)?;
            return Ok((encoder.valid(), EncoderSource::Export(Box::new(spec))));
        }
        RunKind::Pretrain => {}
        RunKind::Ce | RunKind::Finetune => {
            return Err(TrainError::Source(format!(
                "{}: a cross-entropy or fine-tuning run; the linear probe takes a \
                 pre-training run's encoder (`supcon eval --model {}` evaluates this one)",
                encoder_run.display(),
                encoder_run.display()
            )));
        }
        RunKind::Linear | RunKind::Run | RunKind::Sweep => {
            return Err(TrainError::Source(format!(
                "{}: {}; the linear probe takes a pre-training run or an export",
                encoder_run.display(),
                kind.describe()
            )));
        }
    }
    let run = RunDir::open(encoder_run)?;
    let config: PretrainConfig = run.read_json("config.json")?;
    super::run_dir::check_finished(encoder_run, "model.safetensors")?;
    let net = config.model.try_init(device)?;
    let net = load_weights(net, run.file("model.safetensors"))?;
    Ok((
        net.encoder.valid(),
        EncoderSource::Pretrain(Box::new(config)),
    ))
}

/// The pre-training run a probe's `--encoder DIR` names: `DIR` itself, or `DIR/supcon`
/// when `DIR` is the output of `supcon run` (no `config.json` of its own).
pub fn pretraining_run(dir: &Path) -> PathBuf {
    let stage = dir.join("supcon");
    if !dir.join("config.json").exists() && stage.join("config.json").is_file() {
        stage
    } else {
        dir.to_path_buf()
    }
}

/// Runs the linear probe into a new run directory `out`.
///
/// # Errors
/// Invalid configuration, data or run, I/O, a diverging loss, or an encoder that changed.
pub fn linear_probe(
    config: &LinearConfig,
    out: &Path,
    quiet: bool,
) -> Result<LinearReport, TrainError> {
    super::setup::require_positive(&[
        ("epochs", config.epochs),
        ("batch_size", config.batch_size),
        ("checkpoint_every", config.checkpoint_every.unwrap_or(1)),
    ])?;
    config.optimizer.validate().map_err(TrainError::Config)?;
    config
        .schedule
        .validate(config.epochs)
        .map_err(TrainError::Config)?;
    if let Some(augment) = &config.augment {
        augment.validate()?;
    }
    let (encoder, data_config, data) = prepare(config, quiet)?;
    crate::outputs::check_dir(
        out,
        &crate::outputs::Inputs::new([config.encoder_run.clone()], data_config.dataset_dir()),
    )?;
    if config.augment.is_some() {
        // The augmented loader's own check, made before the run directory exists.
        super::setup::check_batch(config.batch_size, &data)?;
    }
    let run = RunDir::create(out)?;
    let mut saved = config.clone();
    saved.data = Some(data_config.clone());
    run.write_json("config.json", &saved)?;
    run.write_manifest(
        RunKind::Linear,
        MadeFrom {
            data: Some(data_config.spec),
            runs: vec![config.encoder_run.clone()],
            init: None,
        },
    )?;
    run.write_json("data.json", &data.summary())?;
    run_linear(&saved, &run, &encoder, &data, None, quiet)
        .map_err(|e| super::interrupt::resumable(e, run.path()))
}

/// The frozen encoder and the data of a probe.
fn prepare(
    config: &LinearConfig,
    quiet: bool,
) -> Result<(Encoder, DataConfig, LoadedDataset), TrainError> {
    config.device.check()?;
    let (encoder, source) = load_encoder(&config.encoder_run, &config.device.device())?;
    let data_config = match (&config.data, source.data()) {
        (Some(data), _) | (None, Some(data)) => data.clone(),
        (None, None) => {
            return Err(TrainError::Config(format!(
                "{}: an export (supcon export) records no training data; pass the data to \
                 probe its encoder on with --data SPEC",
                config.encoder_run.display()
            )));
        }
    };
    let mut data = data_config.load(config.seed)?;
    // Other data (transfer) is converted to the encoder's input, as fine-tuning does.
    let target = crate::model::encoder_input_shape(source.encoder_config(), data.shape(), || {
        source.input_shape(&config.encoder_run)
    })
    .map_err(|e| TrainError::Source(format!("{}: {e}", config.encoder_run.display())))?;
    let converted = crate::data::convert_dataset(&mut data, target)
        .map_err(|e| TrainError::Conversion(format!("data {}: {e}", data_config.spec)))?;
    if converted && !quiet {
        eprintln!(
            "note: {} images converted to {target:?} (C, H, W) for the pre-trained encoder",
            data.name
        );
    }
    // The pre-training run's data, changed since it recorded it, is said so.
    super::data_drift::check_run_data(
        &config.encoder_run,
        source.data(),
        &data_config,
        &mut data,
        super::data_drift::DataUse::Training,
    )?;
    Ok((encoder, data_config, data))
}

/// Continues an interrupted linear probe from its checkpoint, with the run's own
/// `config.json` (the pre-training run must still be there; its features are recomputed).
/// The loss curve equals an uninterrupted run's.
///
/// # Errors
/// A missing or incompatible run, or any error of [`linear_probe`].
pub fn resume_linear(run: &Path, opts: &super::RunOptions) -> Result<LinearReport, TrainError> {
    let run = RunDir::open_locked(run)?;
    let mut config: LinearConfig = run.read_json("config.json")?;
    let last = checkpoint::resume_point(&run)?;
    opts.apply_resume_device(&run, &mut config, |c, device| c.device = device)?;
    let (encoder, _, data) = prepare(&config, opts.quiet)?;
    run_linear(&config, &run, &encoder, &data, last, opts.quiet)
        .map_err(|e| super::interrupt::resumable(e, run.path()))
}

fn run_linear(
    config: &LinearConfig,
    run: &RunDir,
    encoder: &Encoder,
    data: &LoadedDataset,
    resume_from: Option<PathBuf>,
    quiet: bool,
) -> Result<LinearReport, TrainError> {
    let started = Instant::now();
    let plain = config.device.device();
    // Written if missing (a run killed before writing it); a resumed run must see the same data.
    run.check_data(&data.summary())?;

    let before = fingerprint(encoder);
    check_encoder(run, before, &config.encoder_run)?;
    let feats = |split| map_split(data, split, 256, &plain, |x| encoder.forward(x));
    let test_x = feats(&data.test)?;
    // Cached features, or a loader of augmented images encoded batch by batch.
    let source = match &config.augment {
        None => Source::Cached(feats(&data.train)?),
        Some(augment) => {
            let threads = config.data.as_ref().map_or(0, |d| d.threads);
            Source::Augmented(train_loader(
                data,
                augment,
                1,
                config.batch_size,
                config.seed,
                threads,
            )?)
        }
    };

    let device = config.device.autodiff_device();
    let classifier = config.device.init_seeded(config.seed, |d| {
        Ok::<_, TrainError>(LinearClassifierConfig::new(test_x.cols, data.num_classes()).init(d))
    })?;
    let batches = LinearBatches {
        source,
        encoder: Some(encoder),
        labels: &data.train.labels,
        batch_size: config.batch_size,
        seed: config.seed,
        plain: plain.clone(),
        device: device.clone(),
    };
    let mut stage = LinearStage {
        ce: CrossEntropyLossConfig::new().init(&device),
    };
    let settings = LoopSettings {
        epochs: config.epochs,
        batch_size: config.batch_size,
        schedule: &config.schedule,
        checkpoint_every: config.checkpoint_every,
        quiet,
    };
    let trained = trainer::train(
        &mut stage,
        &batches,
        classifier,
        config.optimizer.init(),
        Some(run),
        resume_from,
        &settings,
    )?;
    let classifier = trained.model.valid();
    let test_logits = logits(&classifier, &test_x, &plain)?;
    let test = classification_metrics(&test_logits, &data.test.labels)?;
    let train_x = match batches.source {
        Source::Cached(x) => x,
        Source::Augmented(_) => feats(&data.train)?,
    };
    if fingerprint(encoder) != before {
        return Err(TrainError::StaleEncoder(
            "the frozen encoder changed during the linear probe".into(),
        ));
    }
    let train_logits = logits(&classifier, &train_x, &plain)?;
    let train_top1 = classification_metrics(&train_logits, &data.train.labels)?.top1;
    let mut metrics = run.metrics()?;
    trainer::log(
        &mut metrics,
        super::supervised::test_record("linear", &test, Some(train_top1)),
    )?;
    save_weights(&classifier, run.file("classifier.safetensors"))?;
    let report = LinearReport {
        run: run.path().to_path_buf(),
        test,
        train_top1,
        seconds: started.elapsed().as_secs_f64(),
    };
    run.write_json("report.json", &report)?;
    Ok(report)
}

/// The probe's step: cross-entropy of a linear classifier on frozen features.
struct LinearStage {
    ce: CrossEntropyLoss,
}

/// The probe's batches: shuffled cached features, or augmented images encoded afresh.
struct LinearBatches<'a> {
    source: Source,
    /// The frozen encoder of augmented batches (`None`: cached features only).
    encoder: Option<&'a Encoder>,
    /// The training labels, by sample index.
    labels: &'a [usize],
    batch_size: usize,
    seed: u64,
    /// The encoder's (inference) device.
    plain: burn::tensor::Device,
    /// The classifier's (training) device.
    device: burn::tensor::Device,
}

impl BatchSource for LinearBatches<'_> {
    /// `[B, D]` features on the training device, `[B]` labels.
    type Batch = (Tensor<2>, Tensor<1, Int>);

    fn steps_per_epoch(&self) -> usize {
        match &self.source {
            Source::Cached(x) => x.rows.div_ceil(self.batch_size),
            Source::Augmented(loader) => loader.num_batches(),
        }
    }

    fn batches(&self, epoch: usize, skip: usize) -> Batches<'_, Self::Batch> {
        match &self.source {
            Source::Cached(train_x) => {
                let order = shuffled_order(train_x.rows, self.seed, epoch as u64);
                let (labels, device, size) = (self.labels, &self.device, self.batch_size);
                Box::new((skip..self.steps_per_epoch()).map(move |b| {
                    let chunk = &order[b * size..((b + 1) * size).min(order.len())];
                    Ok(gather(train_x, labels, chunk, device))
                }))
            }
            Source::Augmented(loader) => {
                let (plain, device, encoder) = (&self.plain, &self.device, self.encoder);
                Box::new(loader.iter_from(epoch as u64, skip).map(move |batch| {
                    let batch = batch?;
                    let encoder = encoder.ok_or_else(|| {
                        TrainError::Config("augmented probe batches need the encoder".into())
                    })?;
                    let x = encoder.forward(images(&batch, plain)); // [B, D]
                    Ok((x.to_device(device), labels_per_view(&batch, device)))
                }))
            }
        }
    }
}

impl Stage for LinearStage {
    type Model = LinearClassifier;
    /// `[B, D]` features on the training device, `[B]` labels.
    type Batch = (Tensor<2>, Tensor<1, Int>);

    fn name(&self) -> &str {
        "linear"
    }

    fn command(&self) -> &str {
        "linear"
    }

    fn logs_steps(&self) -> bool {
        false
    }

    /// # Shapes
    /// - `batch`: `([B, D], [B])`; logits `[B, K]`.
    fn step(
        &mut self,
        model: &LinearClassifier,
        batch: &Self::Batch,
        _step: usize,
    ) -> Result<StepOutput, TrainError> {
        let (x, y) = batch;
        let rows = x.dims()[0];
        let loss = self.ce.forward(model.forward(x.clone()), y.clone());
        let value = f64::from(loss.clone().into_scalar::<f32>());
        Ok(StepOutput {
            grads: GradientsParams::from_grads(loss.backward(), model),
            loss: value,
            ce_loss: None,
            images: rows,
        })
    }
}

/// Trains a fresh linear classifier with cross-entropy on fixed `features` `[n, D]` and
/// their `labels`: the training loop of [`linear_probe`] (same shuffling, schedule and
/// optimiser, taken from `settings`; `settings.encoder_run` and `settings.data` are
/// ignored) without a run directory. Used by few-shot evaluation. Returns the
/// classifier in evaluation mode on `settings.device`'s plain device.
///
/// # Errors
/// Invalid settings, empty features, a label `>= num_classes`, or a diverging loss.
pub fn fit_classifier_on_features(
    features: &Matrix,
    labels: &[usize],
    num_classes: usize,
    settings: &LinearConfig,
) -> Result<LinearClassifier, TrainError> {
    if settings.epochs == 0 || settings.batch_size == 0 {
        return Err(TrainError::Config(
            "epochs and batch_size must be at least 1".into(),
        ));
    }
    settings.optimizer.validate().map_err(TrainError::Config)?;
    settings
        .schedule
        .validate(settings.epochs)
        .map_err(TrainError::Config)?;
    if features.rows == 0 || features.cols == 0 || features.rows != labels.len() {
        return Err(TrainError::Config(format!(
            "linear classifier: {} feature rows of width {} for {} labels",
            features.rows,
            features.cols,
            labels.len()
        )));
    }
    if num_classes == 0 || labels.iter().any(|&l| l >= num_classes) {
        return Err(TrainError::Config(format!(
            "linear classifier: a label is out of range for {num_classes} classes"
        )));
    }
    let device = settings.device.autodiff_device();
    let classifier = settings.device.init_seeded(settings.seed, |d| {
        Ok::<_, TrainError>(LinearClassifierConfig::new(features.cols, num_classes).init(d))
    })?;
    // The probe's own step and cached batches, without a run directory.
    let batches = LinearBatches {
        source: Source::Cached(features.clone()),
        encoder: None,
        labels,
        batch_size: settings.batch_size,
        seed: settings.seed,
        plain: settings.device.device(),
        device: device.clone(),
    };
    let mut stage = LinearStage {
        ce: CrossEntropyLossConfig::new().init(&device),
    };
    let loop_settings = LoopSettings {
        epochs: settings.epochs,
        batch_size: settings.batch_size,
        schedule: &settings.schedule,
        checkpoint_every: None,
        quiet: true,
    };
    let trained = trainer::train(
        &mut stage,
        &batches,
        classifier,
        settings.optimizer.init(),
        None,
        None,
        &loop_settings,
    )?;
    let classifier = trained.model;
    Ok(classifier.valid())
}

/// Logits of `classifier` (in evaluation mode) for every row of `features` `[n, D]`.
///
/// # Shapes
/// - `features`: `[n, D]`; output `[n, K]`.
///
/// # Errors
/// When the output cannot be read back.
pub fn classifier_logits(
    classifier: &LinearClassifier,
    features: &Matrix,
    device: &burn::tensor::Device,
) -> Result<Matrix, TrainError> {
    logits(classifier, features, device)
}

/// Where the probe's training batches come from.
enum Source {
    /// Features `[n, D]` of the un-augmented training images, computed once.
    Cached(Matrix),
    /// Augmented training images (one view), encoded batch by batch.
    Augmented(crate::data::batcher::EpochLoader),
}

/// A mini-batch of cached features and their labels.
///
/// # Shapes
/// - output: `([chunk.len(), D], [chunk.len()])`.
fn gather(
    x: &Matrix,
    labels: &[usize],
    chunk: &[usize],
    device: &burn::tensor::Device,
) -> (Tensor<2>, Tensor<1, Int>) {
    let values: Vec<f32> = chunk.iter().flat_map(|&i| x.row(i).to_vec()).collect();
    let y: Vec<i64> = chunk.iter().map(|&i| labels[i] as i64).collect();
    (
        Tensor::from_data(TensorData::new(values, [chunk.len(), x.cols]), device),
        Tensor::from_data(TensorData::new(y, [chunk.len()]), device),
    )
}

/// Classifier logits for every row of `x`.
///
/// # Shapes
/// - `x`: `[n, D]`; output `[n, K]`.
fn logits(
    classifier: &LinearClassifier,
    x: &Matrix,
    device: &burn::tensor::Device,
) -> Result<Matrix, TrainError> {
    let t = Tensor::<2>::from_data(TensorData::new(x.values.clone(), [x.rows, x.cols]), device);
    let out = classifier.forward(t);
    let cols = out.dims()[1];
    let values = out
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Readback {
            what: "logits",
            reason: format!("{e:?}"),
        })?;
    Ok(Matrix {
        rows: x.rows,
        cols,
        values,
    })
}

/// Records the frozen encoder's [`fingerprint`] as the run's `encoder.json` when it has
/// none; otherwise checks that the encoder loaded now is the one the probe started on (the
/// pre-training run may have been retrained or resumed since), so that a resumed probe
/// never continues on other features.
///
/// # Errors
/// [`TrainError::StaleEncoder`] naming `encoder.json` and the encoder run when they differ.
fn check_encoder(run: &RunDir, fingerprint: u64, encoder_run: &Path) -> Result<(), TrainError> {
    let path = run.file("encoder.json");
    if !path.is_file() {
        let recorded = Recorded {
            fingerprint: fingerprint.to_string(),
            encoder_run: encoder_run.to_path_buf(),
        };
        return Ok(run.write_json("encoder.json", &recorded)?);
    }
    let recorded: Recorded = run.read_json("encoder.json")?;
    if recorded.fingerprint != fingerprint.to_string() {
        return Err(TrainError::StaleEncoder(format!(
            "{}: the probe started on another state of the encoder in {} (it was retrained or \
             resumed since); start a new linear probe",
            path.display(),
            encoder_run.display()
        )));
    }
    Ok(())
}

/// A probe's `encoder.json`: the fingerprint of the frozen encoder it was trained on.
#[derive(Serialize, Deserialize)]
struct Recorded {
    /// As a string: JSON numbers lose u64 precision in many readers.
    fingerprint: String,
    encoder_run: PathBuf,
}

/// Checks that `encoder`, loaded now from the probe's pre-training run, is the encoder
/// the linear probe in `probe` was trained on (its `encoder.json`; a probe without one,
/// from an older version, is not checked). Every use of a probe (`eval`, `predict`,
/// `embed`, `export`, `report`, `finetune`) goes through this.
///
/// # Errors
/// [`TrainError::StaleEncoder`] naming `encoder.json` and the encoder run when the encoder was
/// retrained or resumed since; an unreadable `encoder.json`.
pub fn verify_encoder<M: Module>(probe: &Path, encoder: &M) -> Result<(), TrainError> {
    let path = probe.join("encoder.json");
    if !path.is_file() {
        return Ok(());
    }
    let recorded: Recorded = super::run_dir::read_json(&path)?;
    if recorded.fingerprint != fingerprint(encoder).to_string() {
        return Err(TrainError::StaleEncoder(format!(
            "{}: the encoder in {} is not the one this linear probe was trained on (it was \
             retrained or resumed since), so the probe's classifier no longer fits it; \
             train a new probe: supcon linear --encoder {}",
            path.display(),
            recorded.encoder_run.display(),
            recorded.encoder_run.display()
        )));
    }
    Ok(())
}

/// A bit-exact fingerprint of every float tensor of a module (weights and BatchNorm
/// running statistics): the FNV-1a hash of their bits, in visiting order.
pub fn fingerprint<M: Module>(module: &M) -> u64 {
    struct Hasher(u64);
    impl ModuleVisitor for Hasher {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().try_into_vec_as::<f32>().unwrap_or_default();
            for v in values {
                for byte in v.to_bits().to_le_bytes() {
                    self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
    }
    let mut h = Hasher(0xcbf2_9ce4_8422_2325);
    module.visit(&mut h);
    h.0
}
