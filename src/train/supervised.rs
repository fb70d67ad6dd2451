//! The cross-entropy baseline: the same encoder trained end to end with a linear classifier
//! and cross-entropy, with the same data, augmentation and budget controls as stage 1.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::features::map_split;
use super::init::{announce_init, init_encoder};
use super::manifest::{MadeFrom, RunKind};
use super::metrics::{ClassificationMetrics, classification_metrics};
use super::metrics_log::{Record, TestRecord};
use super::run_dir::RunDir;
use super::setup::{DataConfig, check_batch, images, labels_per_view, train_loader};
use super::trainer::{self, LoopSettings, Stage, StepOutput};
use super::{OptimizerConfig, RunOptions, ScheduleConfig, TrainError};
use crate::augment::AugmentConfig;
use crate::data::LoadedDataset;
use crate::data::batcher::Batch;
use crate::device::DeviceChoice;
use crate::model::{
    Encoder, EncoderConfig, EncoderInit, LinearClassifier, LinearClassifierConfig, save_weights,
};

/// Cross-entropy baseline settings; saved as the run's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisedConfig {
    /// The data.
    pub data: DataConfig,
    /// The encoder (input channels are taken from the data).
    pub encoder: EncoderConfig,
    /// The augmentation. Default SimAugment, as stage 1.
    pub augment: AugmentConfig,
    /// Epochs. Default 10.
    pub epochs: usize,
    /// Batch size. Default 256.
    pub batch_size: usize,
    /// The optimiser. Default SGD, momentum 0.9, weight decay 1e-4.
    pub optimizer: OptimizerConfig,
    /// The LR schedule. Default base LR 0.1, cosine.
    pub schedule: ScheduleConfig,
    /// Seed. Default 0.
    pub seed: u64,
    /// Where to train. Default CPU.
    pub device: DeviceChoice,
    /// Checkpoint every this many epochs (and after the last). Default 1.
    pub checkpoint_every: usize,
    /// Initial encoder weights (`torchvision:FILE`, see [`crate::model::init`]); `None`
    /// (the default) initialises at random. Read when the run starts, not on resume.
    pub init: Option<EncoderInit>,
}

impl Default for SupervisedConfig {
    fn default() -> Self {
        Self {
            data: DataConfig::default(),
            encoder: EncoderConfig::default(),
            augment: AugmentConfig::default(),
            epochs: 10,
            batch_size: 256,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig {
                base_lr: 0.1,
                ..ScheduleConfig::default()
            },
            seed: 0,
            device: DeviceChoice::Cpu,
            checkpoint_every: 1,
            init: None,
        }
    }
}

/// Encoder plus linear classifier, trained end to end.
#[derive(Module, Debug)]
pub struct SupervisedModel {
    /// The encoder.
    pub encoder: Encoder,
    /// The classifier.
    pub classifier: LinearClassifier,
}

impl SupervisedModel {
    /// `encoder` with a new linear classifier for `num_classes` classes on `device`.
    pub fn with_new_classifier(encoder: Encoder, num_classes: usize, device: &Device) -> Self {
        let classifier =
            LinearClassifierConfig::new(encoder.output_dim(), num_classes).init(device);
        Self {
            encoder,
            classifier,
        }
    }

    /// Class logits.
    ///
    /// # Shapes
    /// - `x`: `[B, C, H, W]`; output `[B, K]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.encoder.forward(x))
    }
}

/// What the baseline reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupervisedReport {
    /// The run directory.
    pub run: PathBuf,
    /// Final test metrics.
    pub test: ClassificationMetrics,
    /// Mean loss of the last epoch.
    pub final_loss: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Training throughput, images per second.
    pub images_per_second: f64,
}

/// Trains the cross-entropy baseline into a new run directory `out`.
///
/// # Errors
/// Invalid configuration, data, I/O, or a diverging loss.
pub fn train_supervised(
    config: &SupervisedConfig,
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
    crate::outputs::check_dir(
        out,
        &crate::outputs::Inputs::new([], config.data.dataset_dir()),
    )?;
    let data = config.data.load(config.seed)?;
    let mut config = config.clone();
    // Input channels (and the MLP's input size) come from the data.
    config.encoder.fit_to_images(data.shape());
    config.encoder.validate()?;
    check_batch(config.batch_size, &data)?;
    config.init = config.init.as_ref().map(EncoderInit::absolute);
    super::init::check_init(config.init.as_ref(), &config.encoder)?;
    let run = RunDir::create(out)?;
    run.write_json("config.json", &config)?;
    run.write_manifest(
        RunKind::Ce,
        MadeFrom::training(&config.data.spec, config.init.as_ref()),
    )?;
    run.write_json("data.json", &data.summary())?;
    run_supervised(&config, &run, None, opts)
        .map_err(|e| super::interrupt::resumable(e, run.path()))
}

/// Continues a baseline run from its newest complete checkpoint.
///
/// # Errors
/// A missing or incompatible run, or any error of [`train_supervised`].
pub fn resume_supervised(run: &Path, opts: &RunOptions) -> Result<SupervisedReport, TrainError> {
    let run = RunDir::open_locked(run)?;
    let mut config: SupervisedConfig = run.read_json("config.json")?;
    let last = checkpoint::resume_point(&run)?;
    opts.apply_resume_device(&run, &mut config, |c, device| c.device = device)?;
    run_supervised(&config, &run, last, opts)
}

fn run_supervised(
    config: &SupervisedConfig,
    run: &RunDir,
    resume_from: Option<PathBuf>,
    opts: &RunOptions,
) -> Result<SupervisedReport, TrainError> {
    config.device.check()?;
    let data = config.data.load(config.seed)?;
    // Written if missing (a run killed before writing it); a resumed run must see the same data.
    run.check_data(&data.summary())?;
    // A new run starts from `init`'s weights; a resumed one from its checkpoint.
    let init = config.init.as_ref().filter(|_| resume_from.is_none());
    let init_report = OnceLock::new();
    let model = config.device.init_seeded(config.seed, |device| {
        let encoder = config.encoder.try_init(device)?;
        let encoder = init_encoder(encoder, &config.encoder, init, device, &init_report)?;
        Ok::<_, TrainError>(SupervisedModel::with_new_classifier(
            encoder,
            data.num_classes(),
            device,
        ))
    })?;
    announce_init(&init_report, opts.quiet);
    train_supervised_model(config, &data, model, run, resume_from, "ce", opts)
}

/// The end-to-end cross-entropy loop on an already-built `model` (on
/// `config.device.autodiff_device()`, in training state) and already-loaded `data`:
/// trains `config.epochs` epochs with `config`'s augmentation, optimiser and schedule,
/// checkpoints into `run`, then writes the final test metrics, `model.safetensors` and
/// `report.json`. `config.data` is not reloaded. `stage` names the records of
/// `metrics.jsonl` ("ce" for the baseline, "finetune" for transfer). With `resume_from`
/// the model and optimiser state of that checkpoint replace the given ones.
///
/// # Errors
/// Batching, I/O, or a diverging loss.
pub fn train_supervised_model(
    config: &SupervisedConfig,
    data: &LoadedDataset,
    model: SupervisedModel,
    run: &RunDir,
    resume_from: Option<PathBuf>,
    stage: &str,
    opts: &RunOptions,
) -> Result<SupervisedReport, TrainError> {
    let started = Instant::now();
    let device = config.device.autodiff_device();
    let loader = train_loader(
        data,
        &config.augment,
        1,
        config.batch_size,
        config.seed,
        config.data.threads,
    )?;
    let mut step = CeStage {
        name: stage,
        ce: CrossEntropyLossConfig::new().init(&device),
        device,
    };
    let settings = LoopSettings {
        epochs: config.epochs,
        batch_size: config.batch_size,
        schedule: &config.schedule,
        checkpoint_every: Some(config.checkpoint_every),
        quiet: opts.quiet,
    };
    let trained = trainer::train(
        &mut step,
        &loader,
        model,
        config.optimizer.init(),
        Some(run),
        resume_from,
        &settings,
    )?;
    let plain = config.device.device();
    let eval_model = trained.model.valid().to_device(&plain);
    let logits = map_split(data, &data.test, 256, &plain, |x| eval_model.forward(x))?;
    let test = classification_metrics(&logits, &data.test.labels)?;
    let mut metrics = run.metrics()?;
    trainer::log(&mut metrics, test_record(stage, &test, None))?;
    save_weights(&trained.model, run.file("model.safetensors"))?;
    let report = SupervisedReport {
        run: run.path().to_path_buf(),
        test,
        final_loss: trained.final_loss,
        seconds: started.elapsed().as_secs_f64(),
        images_per_second: trained.images_per_second,
    };
    run.write_json("report.json", &report)?;
    Ok(report)
}

/// The record of a stage's final test metrics (and, for a probe, its training top-1).
pub(crate) fn test_record(
    stage: &str,
    test: &ClassificationMetrics,
    train_top1: Option<f64>,
) -> Record {
    Record::Test(TestRecord {
        stage: stage.to_string(),
        test_ece: test.calibration.ece,
        test_top1: test.top1,
        test_top5: test.top5,
        train_top1,
    })
}

/// The cross-entropy step of the baseline and of fine-tuning.
struct CeStage<'a> {
    /// `ce` or `finetune`.
    name: &'a str,
    ce: CrossEntropyLoss,
    device: Device,
}

impl Stage for CeStage<'_> {
    type Model = SupervisedModel;
    type Batch = Batch;

    fn name(&self) -> &str {
        self.name
    }

    fn command(&self) -> &str {
        match self.name {
            "ce" => "train-ce",
            other => other,
        }
    }

    /// # Shapes
    /// - `batch`: one view of `B` images; logits `[B, K]`.
    fn step(
        &mut self,
        model: &SupervisedModel,
        batch: &Batch,
        _step: usize,
    ) -> Result<StepOutput, TrainError> {
        let logits = model.forward(images(batch, &self.device)); // [B, K]
        let loss = self
            .ce
            .forward(logits, labels_per_view(batch, &self.device));
        let value = f64::from(loss.clone().into_scalar::<f32>());
        Ok(StepOutput {
            grads: GradientsParams::from_grads(loss.backward(), model),
            loss: value,
            ce_loss: None,
            images: batch.batch_size,
        })
    }
}
