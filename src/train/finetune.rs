//! Transfer by full fine-tuning (Khosla et al. 2020, Sec. 4, "Transfer learning"): the
//! pre-trained encoder, every layer trainable, plus a new linear classifier, trained end
//! to end with cross-entropy on a (possibly different) dataset; the loop is the
//! cross-entropy baseline's ([`train_supervised_model`]).
//!
//! # Input conversion
//! A pre-trained encoder fixes the number of image channels (and, for the `mlp`
//! encoder, the image size). Target data with another channel count is converted on
//! load to the pre-trained count (RGB to grayscale by BT.709 luma, grayscale to RGB by
//! replication; see [`crate::infer`]), and for the `mlp` encoder resized to the
//! pre-trained size; the normalisation is then recomputed from the converted training
//! split. The run's `data.json` records the converted shape, and inference on the
//! fine-tuned model converts its inputs the same way. ResNets take any image size, so
//! the target data keeps its own size.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::RunOptions;
use super::init::{announce_init, init_encoder};
use super::manifest::{MadeFrom, RunKind};
use super::run_dir::RunDir;
use super::setup::DataConfig;
use super::setup::check_batch;
use super::supervised::{
    SupervisedConfig, SupervisedModel, SupervisedReport, train_supervised_model,
};
use super::{OptimizerConfig, ScheduleConfig, TrainError};
use crate::augment::AugmentConfig;
use crate::device::DeviceChoice;
use crate::infer::{InferError, ModelDir};
use crate::model::{EncoderConfig, EncoderInit};

/// Fine-tuning settings; saved as the run's `config.json` (with `encoder` and `data`
/// filled in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// The run holding the pre-trained encoder: a pre-training run, a linear probe or
    /// `supcon run` output (their pre-trained encoder), a cross-entropy or fine-tuning
    /// run, or an export.
    pub pretrained_run: PathBuf,
    /// The encoder architecture, copied from the pre-trained run when the run starts.
    pub encoder: Option<EncoderConfig>,
    /// The target data. Default: the pre-trained run's.
    pub data: Option<DataConfig>,
    /// The augmentation. Default SimAugment.
    pub augment: AugmentConfig,
    /// Epochs. Default 10.
    pub epochs: usize,
    /// Batch size. Default 256.
    pub batch_size: usize,
    /// The optimiser. Default SGD, momentum 0.9, weight decay 1e-4.
    pub optimizer: OptimizerConfig,
    /// The LR schedule. Default base LR 0.01 (a tenth of the from-scratch baseline's),
    /// cosine.
    pub schedule: ScheduleConfig,
    /// Seed of the classifier's initialisation, shuffling and augmentation. Default 0.
    pub seed: u64,
    /// Where to train. Default CPU.
    pub device: DeviceChoice,
    /// Checkpoint every this many epochs (and after the last). Default 1.
    pub checkpoint_every: usize,
    /// Fine-tune torchvision weights (`torchvision:FILE`, see [`crate::model::init`])
    /// instead of a run's encoder: `pretrained_run` is then empty, and `encoder` (a
    /// torchvision depth) and `data` are required. Read when the run starts, not on resume.
    pub init: Option<EncoderInit>,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            pretrained_run: PathBuf::new(),
            encoder: None,
            data: None,
            augment: AugmentConfig::default(),
            epochs: 10,
            batch_size: 256,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig {
                base_lr: 0.01,
                ..ScheduleConfig::default()
            },
            seed: 0,
            device: DeviceChoice::Cpu,
            checkpoint_every: 1,
            init: None,
        }
    }
}

/// Wraps an inference-side error (opening the pre-trained run) as a training error,
/// keeping the training error itself when there is one.
fn train_err(err: InferError) -> TrainError {
    match err {
        InferError::Train(e) => e,
        InferError::Model(e) => TrainError::Model(e),
        InferError::Data(e) => TrainError::Data(e),
        InferError::RunDir(e) => TrainError::RunDir(e),
        other => TrainError::Source(other.to_string()),
    }
}

/// Fine-tunes the encoder of `config.pretrained_run` with a new linear classifier on
/// `config.data` into a new run directory `out` (`config.json`, `data.json`,
/// `metrics.jsonl`, `checkpoints/`, `model.safetensors` = encoder + classifier as a
/// cross-entropy run, `report.json` with the final test top-1/top-5/calibration).
///
/// # Errors
/// Invalid configuration, a pre-trained run that cannot be loaded, target data that
/// cannot be converted to the encoder's input, I/O, or a diverging loss.
pub fn finetune(
    config: &FinetuneConfig,
    out: &Path,
    opts: &RunOptions,
) -> Result<SupervisedReport, TrainError> {
    super::setup::require_positive(&[
        ("epochs", config.epochs),
        ("batch_size", config.batch_size),
        ("checkpoint_every", config.checkpoint_every),
    ])?;
    config.optimizer.validate().map_err(TrainError::Config)?;
    config
        .schedule
        .validate(config.epochs)
        .map_err(TrainError::Config)?;
    config.augment.validate()?;
    let mut saved = config.clone();
    let source = match &config.init {
        Some(init) => {
            if !config.pretrained_run.as_os_str().is_empty() {
                return Err(TrainError::Config(format!(
                    "pretrained_run = {} and init = {init}: fine-tune either a run's encoder \
                     or torchvision weights, not both",
                    config.pretrained_run.display()
                )));
            }
            saved.init = Some(init.absolute());
            None
        }
        None => Some(ModelDir::open(&config.pretrained_run).map_err(train_err)?),
    };
    let mut encoder_config = match (&source, &config.encoder) {
        (Some(source), _) => source.encoder_config().clone(),
        (None, Some(encoder)) => encoder.clone(),
        (None, None) => {
            return Err(TrainError::Config(
                "fine-tuning torchvision weights needs the encoder (--model resnet18, \
                 resnet34 or resnet50)"
                    .into(),
            ));
        }
    };
    let data_config = match (&config.data, source.as_ref().and_then(|s| s.data_config())) {
        (Some(d), _) => d.clone(),
        (None, Some((d, _))) => d,
        (None, None) => {
            return Err(TrainError::Config(match &source {
                Some(source) => format!(
                    "{} records no training data; pass the target data (--data)",
                    source.dir().display()
                ),
                None => "fine-tuning torchvision weights needs the target data (--data)".into(),
            }));
        }
    };
    crate::outputs::check_dir(
        out,
        &crate::outputs::Inputs::new([config.pretrained_run.clone()], data_config.dataset_dir()),
    )?;
    let data = target_data(
        &data_config,
        &encoder_config,
        source.as_ref(),
        config.seed,
        opts,
    )?;
    if source.is_none() {
        // The new encoder takes the target data's channels, as a cross-entropy run's.
        encoder_config.fit_to_images(data.shape());
        encoder_config.validate()?;
        super::init::check_init(saved.init.as_ref(), &encoder_config)?;
    }
    check_batch(config.batch_size, &data)?;
    let run = RunDir::create(out)?;
    saved.encoder = Some(encoder_config.clone());
    saved.data = Some(data_config.clone());
    run.write_json("config.json", &saved)?;
    run.write_manifest(
        RunKind::Finetune,
        MadeFrom {
            data: Some(data_config.spec.clone()),
            runs: source.iter().map(|s| s.dir().to_path_buf()).collect(),
            init: saved.init.as_ref().map(ToString::to_string),
        },
    )?;
    run_finetune(
        &saved,
        encoder_config,
        data_config,
        source.as_ref(),
        &data,
        &run,
        None,
        opts,
    )
    .map_err(|e| super::interrupt::resumable(e, run.path()))
}

/// Continues an interrupted fine-tuning run from its newest complete checkpoint, with the
/// run's own `config.json` (the pre-trained run must still be there: it gives the encoder's
/// architecture and the input conversion). The loss curve equals an uninterrupted run's.
///
/// # Errors
/// A missing or incompatible run, or any error of [`finetune`].
pub fn resume_finetune(run: &Path, opts: &RunOptions) -> Result<SupervisedReport, TrainError> {
    let run = RunDir::open_locked(run)?;
    let mut config: FinetuneConfig = run.read_json("config.json")?;
    let (Some(encoder_config), Some(data_config)) = (config.encoder.clone(), config.data.clone())
    else {
        return Err(TrainError::Source(format!(
            "{}: config.json names no encoder or data (not a fine-tuning run)",
            run.path().display()
        )));
    };
    let last = super::checkpoint::resume_point(&run)?;
    opts.apply_resume_device(&run, &mut config, |c, device| c.device = device)?;
    let source = match config.init {
        // The checkpoint holds the weights: the file is not read again.
        Some(_) => None,
        None => Some(ModelDir::open(&config.pretrained_run).map_err(train_err)?),
    };
    let data = target_data(
        &data_config,
        &encoder_config,
        source.as_ref(),
        config.seed,
        opts,
    )?;
    run_finetune(
        &config,
        encoder_config,
        data_config,
        source.as_ref(),
        &data,
        &run,
        last,
        opts,
    )
}

/// The target data, converted to the pre-trained encoder's input (torchvision weights,
/// `source` `None`, take the data as it is).
fn target_data(
    data_config: &DataConfig,
    encoder_config: &EncoderConfig,
    source: Option<&ModelDir>,
    seed: u64,
    opts: &RunOptions,
) -> Result<crate::data::LoadedDataset, TrainError> {
    let mut data = data_config.load(seed)?;
    let Some(source) = source else {
        return Ok(data);
    };
    let target = target_shape(encoder_config, data.shape(), source)?;
    let converted =
        crate::data::convert_dataset(&mut data, target).map_err(TrainError::Conversion)?;
    if converted && !opts.quiet {
        eprintln!(
            "note: {} images converted to {target:?} (C, H, W) for the pre-trained encoder",
            data.name
        );
    }
    // The source run's data, changed since it recorded it, is said so.
    let role = super::data_drift::DataUse::Training;
    source
        .check_data(data_config, &mut data, role)
        .map_err(train_err)?;
    Ok(data)
}

#[allow(clippy::too_many_arguments)]
fn run_finetune(
    config: &FinetuneConfig,
    encoder_config: EncoderConfig,
    data_config: DataConfig,
    source: Option<&ModelDir>,
    data: &crate::data::LoadedDataset,
    run: &RunDir,
    resume_from: Option<PathBuf>,
    opts: &RunOptions,
) -> Result<SupervisedReport, TrainError> {
    config.device.check()?;
    // Written if missing (a run killed before writing it); a resumed run must see the same data.
    run.check_data(&data.summary())?;
    // Initialised on the CPU from the seed: the same classifier whatever the device.
    // Torchvision weights in a new run; a resumed run's checkpoint replaces them.
    let init = config.init.as_ref().filter(|_| resume_from.is_none());
    let init_report = OnceLock::new();
    let model = config.device.init_seeded(config.seed, |device| {
        let encoder = match source {
            Some(source) => source.load_encoder(device).map_err(train_err)?,
            None => init_encoder(
                encoder_config.try_init(device)?,
                &encoder_config,
                init,
                device,
                &init_report,
            )?,
        };
        Ok::<_, TrainError>(SupervisedModel::with_new_classifier(
            encoder,
            data.num_classes(),
            device,
        ))
    })?;
    announce_init(&init_report, opts.quiet);
    let supervised = SupervisedConfig {
        data: data_config,
        encoder: encoder_config,
        augment: config.augment.clone(),
        epochs: config.epochs,
        batch_size: config.batch_size,
        optimizer: config.optimizer.clone(),
        schedule: config.schedule.clone(),
        seed: config.seed,
        device: config.device,
        checkpoint_every: config.checkpoint_every,
        init: config.init.clone(),
    };
    train_supervised_model(&supervised, data, model, run, resume_from, "finetune", opts)
}

/// The image shape the pre-trained encoder takes for target images of `shape`: the
/// pre-trained channel count; for the `mlp` encoder also the pre-trained size.
fn target_shape(
    encoder: &EncoderConfig,
    shape: [usize; 3],
    source: &ModelDir,
) -> Result<[usize; 3], TrainError> {
    crate::model::encoder_input_shape(encoder, shape, || {
        source
            .data_summary()
            .map(|d| d.shape)
            .map_err(|e| e.to_string())
    })
    .map_err(|e| TrainError::Source(format!("{}: {e}", source.dir().display())))
}
