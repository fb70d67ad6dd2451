//! The cross-entropy baseline: the same encoder trained end to end with a linear classifier
//! and cross-entropy, with the same data, augmentation and budget controls as stage 1.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::checkpoint::{self, LoopState};
use super::features::map_split;
use super::init::{announce_init, init_encoder};
use super::interrupt;
use super::metrics::{ClassificationMetrics, classification_metrics};
use super::pretrain::RunOptions;
use super::run_dir::{RunDir, truncate_metrics};
use super::setup::{DataConfig, images, labels_per_view, train_loader};
use super::{OptimizerConfig, Progress, ScheduleConfig, TrainError};
use crate::augment::AugmentConfig;
use crate::data::LoadedDataset;
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
    super::pretrain::check_batch(config.batch_size, &data)?;
    config.init = config.init.as_ref().map(EncoderInit::absolute);
    super::init::check_init(config.init.as_ref(), &config.encoder)?;
    let run = RunDir::create(out)?;
    run.write_json("config.json", &config)?;
    run.write_json("data.json", &data.summary())?;
    run_supervised(&config, &run, None, opts)
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
    let mut model = model;
    let mut optim = config.optimizer.init();
    let (mut epoch, mut step, mut final_loss) = (0usize, 0usize, f64::NAN);
    // Batches already done of the epoch a mid-epoch checkpoint stopped in, and their loss sum.
    let mut resumed_within_epoch = (0usize, 0.0f64);
    let mut last_checkpoint = None;
    if let Some(dir) = resume_from {
        let (m, o, state) = checkpoint::load(&dir, model, optim)?;
        (model, optim) = (m, o);
        (epoch, step, final_loss) = (state.epoch, state.step, state.loss);
        resumed_within_epoch = (state.batch, state.epoch_loss_sum);
        truncate_metrics(&run.file("metrics.jsonl"), epoch, step)?;
        last_checkpoint = Some(dir);
    }
    let loader = train_loader(
        data,
        &config.augment,
        1,
        config.batch_size,
        config.seed,
        config.data.threads,
    )?;
    let ce = CrossEntropyLossConfig::new().init(&device);
    let steps_per_epoch = loader.num_batches();
    let mut metrics = run.metrics()?;
    let mut throughput = 0.0;
    while epoch < config.epochs {
        let epoch_started = Instant::now();
        let mut progress = Progress::new(
            &format!("{stage} {}/{}", epoch + 1, config.epochs),
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
            let logits = model.forward(images(&batch, &device)); // [B, K]
            let loss = ce.forward(logits, labels_per_view(&batch, &device));
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    value,
                    epoch: epoch + 1,
                    step: step + 1,
                    checkpoint: last_checkpoint,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            metrics.log(
                &json!({"stage": stage, "epoch": epoch + 1, "step": step + 1,
                "loss": value, "lr": lr}),
            )?;
            progress.step(batch.batch_size, value, lr);
            sum += value;
            count += 1;
            step += 1;
            if interrupt::requested() {
                let state = LoopState::within_epoch(epoch, step, final_loss, count, sum);
                let dir = checkpoint::save(run, &model, &optim, &state, &|_| Ok(()))?;
                progress.finish();
                let command = if stage == "ce" { "train-ce" } else { stage };
                return Err(interrupt::stopped(&state, dir, command, run.path()));
            }
        }
        progress.finish();
        throughput = progress.images_per_second();
        final_loss = sum / count.max(1) as f64;
        epoch += 1;
        metrics.log(
            &json!({"stage": stage, "epoch": epoch, "epoch_loss": final_loss,
            "seconds": epoch_started.elapsed().as_secs_f64(), "images_per_second": throughput}),
        )?;
        if epoch % config.checkpoint_every == 0 || epoch == config.epochs {
            let state = LoopState::epoch_end(epoch, step, final_loss);
            last_checkpoint = Some(checkpoint::save(run, &model, &optim, &state, &|_| Ok(()))?);
        }
    }
    let plain = config.device.device();
    let eval_model = model.valid().to_device(&plain);
    let logits = map_split(data, &data.test, 256, &plain, |x| eval_model.forward(x))?;
    let test = classification_metrics(&logits, &data.test.labels)?;
    metrics.log(
        &json!({"stage": stage, "test_top1": test.top1, "test_top5": test.top5,
        "test_ece": test.calibration.ece}),
    )?;
    save_weights(&model, run.file("model.safetensors"))?;
    let report = SupervisedReport {
        run: run.path().to_path_buf(),
        test,
        final_loss,
        seconds: started.elapsed().as_secs_f64(),
        images_per_second: throughput,
    };
    run.write_json("report.json", &report)?;
    Ok(report)
}
