//! Evaluation of trained runs: load the model a run directory describes, then measure
//! clean accuracy and calibration, corruption robustness (Hendrycks & Dietterich, ICLR
//! 2019), weighted k-NN accuracy on frozen encoder features (Wu et al., CVPR 2018) and
//! few-shot linear probes: the evaluations of SupCon (Khosla et al., NeurIPS 2020,
//! Sec. 4).
//!
//! # Run directories
//! [`inspect_run`] tells the kinds apart by their files:
//! - a linear-probe run (`config.json` with `encoder_run`): its pre-training run's
//!   encoder plus its `classifier.safetensors`;
//! - a cross-entropy run (`config.json` with `encoder`): `model.safetensors` holds encoder
//!   and classifier;
//! - a pre-training run (`config.json` with `model`): its encoder, and its joint
//!   classifier when it was trained with `--joint` (otherwise it cannot classify);
//! - a `supcon run` output (`summary.json` and `linear/`, `ce/` sub-runs): both sub-runs;
//! - a `supcon sweep` output (`sweep.json`), which is not evaluated as such.
//!
//! # Preprocessing
//! Evaluation images go through the training pipeline's un-augmented path
//! ([`map_split`]): `u8` pixels to `[0, 1]`, then per-channel normalisation with the
//! statistics of the dataset the run was *trained* on (when the evaluation data is
//! another spec, that spec's own statistics are replaced by the training spec's).
//!
//! # Corruptions
//! Each corruption and severity is applied to every test image with its own RNG, derived
//! from `(seed, corruption, severity, image index)`, so results depend neither on the
//! number of threads nor on which other corruptions are evaluated. Corrupted images are
//! quantised to `u8`, as the published CIFAR-10-C / ImageNet-C files are.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::EvalError;
use super::accuracy::ConfusionMatrix;
use super::knn::{DEFAULT_K, DEFAULT_TEMPERATURE, knn_accuracy};
use super::robustness::{
    CorruptionScore, ErrorTable, RobustnessReport, corruption_error, mean_error,
    relative_corruption_error, robustness_report,
};
use crate::augment::corrupt::Corruption;
use crate::data::{DataError, ImageDataset, LoadedDataset};
use crate::device::DeviceChoice;
use crate::model::{
    Encoder, EncoderConfig, LinearClassifier, LinearClassifierConfig, ModelError, load_weights,
};
use crate::train::features::{Matrix, map_split};
use crate::train::linear::{classifier_logits, fit_classifier_on_features, load_encoder};
use crate::train::metrics::{ClassificationMetrics, classification_metrics};
use crate::train::run_dir::{RunDir, RunDirError, read_json, recorded_class_names, recorded_shape};
use crate::train::supervised::SupervisedModel;
use crate::train::{
    DataConfig, LinearConfig, PretrainConfig, ScheduleConfig, SupervisedConfig, TrainError,
};

/// Images per forward pass during evaluation.
pub const EVAL_BATCH: usize = 256;

/// What stopped an evaluation. Messages name the run directory, file or option.
#[derive(Debug, thiserror::Error)]
pub enum RunEvalError {
    /// The directory is missing, unreadable, or not a run this evaluation can use.
    #[error("{path}: {reason}")]
    Run {
        /// The run directory (or file).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An evaluation option is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Training-side code (data, features, probes) failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A metric rejected its input.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A run file could not be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Weights could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// An output path that would overwrite a run's file, an input, or a dataset.
    #[error(transparent)]
    Output(#[from] crate::outputs::OutputError),
}

fn run_err(path: &Path, reason: impl Into<String>) -> RunEvalError {
    RunEvalError::Run {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The kind of a run directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// Contrastive pre-training (`supcon pretrain`).
    Pretrain,
    /// A linear probe on a pre-trained encoder (`supcon linear`).
    Linear,
    /// The cross-entropy baseline (`supcon train-ce`).
    Ce,
    /// A fine-tuned pre-trained encoder with a new classifier (`supcon finetune`).
    Finetune,
    /// The output of `supcon run`: `supcon/`, `linear/` and `ce/` sub-runs.
    Suite,
    /// The output of `supcon sweep`.
    Sweep,
}

impl RunKind {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pretrain => "a pre-training run",
            Self::Linear => "a linear-probe run",
            Self::Ce => "a cross-entropy run",
            Self::Finetune => "a fine-tuning run",
            Self::Suite => "a `supcon run` output directory",
            Self::Sweep => "a `supcon sweep` output directory",
        }
    }
}

/// What [`inspect_run`] learns from a run directory without loading weights or data.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The directory.
    pub dir: PathBuf,
    /// Its kind.
    pub kind: RunKind,
    /// The data it was trained and tested on (`None` for suites and sweeps).
    pub data: Option<DataConfig>,
    /// The seed its data subset was drawn with.
    pub data_seed: u64,
    /// Its device.
    pub device: DeviceChoice,
    /// The pre-training run whose encoder a linear probe uses (resolved to a path that
    /// exists when possible).
    pub encoder_run: Option<PathBuf>,
    /// Whether the run holds a classifier (always for linear and CE runs; for a
    /// pre-training run, only with `--joint`).
    pub has_classifier: bool,
    /// The encoder of a run whose `model.safetensors` holds encoder and classifier (CE,
    /// fine-tuning).
    pub encoder: Option<EncoderConfig>,
}

/// Reads a run directory's `config.json` (or `summary.json`, `sweep.json`) to tell what
/// it is.
///
/// # Errors
/// [`RunEvalError::Run`] naming the directory when it does not exist or holds no run;
/// parse errors naming the file.
pub fn inspect_run(dir: &Path) -> Result<RunInfo, RunEvalError> {
    if !dir.exists() {
        return Err(run_err(dir, "no such run directory"));
    }
    if !dir.is_dir() {
        return Err(run_err(dir, "not a directory (expected a run directory)"));
    }
    let info = |kind, data, data_seed, device, encoder_run, has_classifier| RunInfo {
        dir: dir.to_path_buf(),
        kind,
        data,
        data_seed,
        device,
        encoder_run,
        has_classifier,
        encoder: None,
    };
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        if dir.join("sweep.json").is_file() {
            return Ok(info(
                RunKind::Sweep,
                None,
                0,
                DeviceChoice::Cpu,
                None,
                false,
            ));
        }
        if dir.join("linear/config.json").is_file() && dir.join("ce/config.json").is_file() {
            return Ok(info(RunKind::Suite, None, 0, DeviceChoice::Cpu, None, true));
        }
        if dir.join("run.json").is_file() {
            let missing: Vec<&str> = ["supcon", "linear", "ce"]
                .into_iter()
                .filter(|s| !dir.join(s).join("report.json").is_file())
                .collect();
            return Err(run_err(
                dir,
                format!(
                    "an unfinished `supcon run` (stage {} has not finished); continue it \
                     with: supcon run --resume {}",
                    missing.join(", "),
                    dir.display()
                ),
            ));
        }
        return Err(run_err(
            dir,
            "not a run directory (no config.json, and not a `supcon run` or `supcon sweep` \
             output)",
        ));
    }
    let raw: serde_json::Value = read_json(&config_path)?;
    let has = |key: &str| raw.get(key).is_some();
    if has("pretrained_run") {
        // A fine-tuning run: encoder + new classifier in model.safetensors.
        let field = |key: &str| raw.get(key).cloned().unwrap_or(serde_json::Value::Null);
        let bad = |key: &str, e: serde_json::Error| {
            RunEvalError::RunDir(RunDirError::Json {
                path: config_path.clone(),
                reason: format!("field {key}: {e}"),
            })
        };
        let encoder: EncoderConfig =
            serde_json::from_value(field("encoder")).map_err(|e| bad("encoder", e))?;
        let data: DataConfig = serde_json::from_value(field("data")).map_err(|e| bad("data", e))?;
        let seed = field("seed").as_u64().unwrap_or(0);
        let device: DeviceChoice = serde_json::from_value(field("device")).unwrap_or_default();
        let mut i = info(RunKind::Finetune, Some(data), seed, device, None, true);
        i.encoder = Some(encoder);
        Ok(i)
    } else if has("encoder_run") {
        let c: LinearConfig = read_json(&config_path)?;
        let encoder_run = resolve_encoder_run(dir, &c.encoder_run);
        let data = match c.data.clone() {
            Some(d) => d,
            None => {
                let pre: PretrainConfig = read_json(&encoder_run.join("config.json"))?;
                pre.data
            }
        };
        Ok(info(
            RunKind::Linear,
            Some(data),
            c.seed,
            c.device,
            Some(encoder_run),
            true,
        ))
    } else if has("encoder") && !has("model") {
        let c: SupervisedConfig = read_json(&config_path)?;
        let mut i = info(RunKind::Ce, Some(c.data), c.seed, c.device, None, true);
        i.encoder = Some(c.encoder);
        Ok(i)
    } else {
        let c: PretrainConfig = read_json(&config_path)?;
        let joint = c.joint && dir.join("classifier.safetensors").is_file();
        Ok(info(
            RunKind::Pretrain,
            Some(c.data),
            c.seed,
            c.device,
            None,
            joint,
        ))
    }
}

/// The encoder run a probe names: as written when it exists, otherwise relative to the
/// probe's parent directory (a moved `supcon run` output), otherwise as written.
fn resolve_encoder_run(probe: &Path, encoder_run: &Path) -> PathBuf {
    if encoder_run.join("config.json").is_file() {
        return encoder_run.to_path_buf();
    }
    if let (Some(parent), Some(name)) = (probe.parent(), encoder_run.file_name()) {
        let sibling = parent.join(name);
        if sibling.join("config.json").is_file() {
            return sibling;
        }
    }
    encoder_run.to_path_buf()
}

/// The runs a directory stands for: itself, or a suite's `linear/` and `ce/` sub-runs.
///
/// # Errors
/// As [`inspect_run`].
pub fn classifier_runs(dir: &Path) -> Result<Vec<RunInfo>, RunEvalError> {
    let info = inspect_run(dir)?;
    match info.kind {
        RunKind::Suite => Ok(vec![
            inspect_run(&dir.join("linear"))?,
            inspect_run(&dir.join("ce"))?,
        ]),
        _ => Ok(vec![info]),
    }
}

/// A trained classifier ready for evaluation: encoder and linear classifier in evaluation
/// mode (no autodiff, BatchNorm on running statistics).
#[derive(Debug)]
pub struct EvalModel {
    /// Where it came from.
    pub info: RunInfo,
    /// The encoder.
    pub encoder: Encoder,
    /// The classifier on the encoder's features.
    pub classifier: LinearClassifier,
}

impl EvalModel {
    /// Class logits of every image of `split`, un-augmented and normalised as `data`.
    ///
    /// # Errors
    /// Batching errors.
    pub fn logits(&self, data: &LoadedDataset, split: &ImageDataset) -> Result<Matrix, TrainError> {
        let device = self.info.device.device();
        map_split(data, split, EVAL_BATCH, &device, |x| {
            self.classifier.forward(self.encoder.forward(x))
        })
    }

    /// Encoder features of every image of `split`.
    ///
    /// # Errors
    /// Batching errors.
    pub fn features(
        &self,
        data: &LoadedDataset,
        split: &ImageDataset,
    ) -> Result<Matrix, TrainError> {
        encoder_features(&self.encoder, self.info.device, data, split)
    }
}

/// Encoder features `[n, D]` of every image of `split`, un-augmented and normalised as
/// `data`.
///
/// # Errors
/// Batching errors.
pub fn encoder_features(
    encoder: &Encoder,
    device: DeviceChoice,
    data: &LoadedDataset,
    split: &ImageDataset,
) -> Result<Matrix, TrainError> {
    map_split(data, split, EVAL_BATCH, &device.device(), |x| {
        encoder.forward(x)
    })
}

/// Loads the encoder of any run that has one (pre-training, linear probe, CE), in
/// evaluation mode.
///
/// # Errors
/// A suite or sweep directory, missing files, or weights of another architecture.
pub fn load_run_encoder(info: &RunInfo) -> Result<Encoder, RunEvalError> {
    let device = info.device.device();
    match info.kind {
        RunKind::Pretrain => Ok(load_encoder(&info.dir, &device)?.0),
        RunKind::Linear => {
            let enc = info.encoder_run.as_deref().unwrap_or(Path::new(""));
            let (encoder, _) = load_encoder(enc, &device).map_err(|e| {
                run_err(
                    &info.dir,
                    format!(
                        "loading the encoder of pre-training run {}: {e}",
                        enc.display()
                    ),
                )
            })?;
            crate::train::linear::verify_encoder(&info.dir, &encoder)?;
            Ok(encoder)
        }
        RunKind::Ce | RunKind::Finetune => Ok(load_ce(info, None)?.0),
        RunKind::Suite | RunKind::Sweep => Err(run_err(
            &info.dir,
            format!(
                "{} has no single encoder; name one of its runs",
                info.kind.describe()
            ),
        )),
    }
}

/// Loads the encoder and classifier of a CE or fine-tuning run; `num_classes` is read
/// from the weights when `None`.
fn load_ce(
    info: &RunInfo,
    num_classes: Option<usize>,
) -> Result<(Encoder, LinearClassifier), RunEvalError> {
    let device = info.device.device();
    let run = RunDir::open(&info.dir)?;
    let encoder_config = info
        .encoder
        .clone()
        .ok_or_else(|| run_err(&info.dir, "no encoder configuration"))?;
    let weights = run.file("model.safetensors");
    let num_classes = match num_classes {
        Some(k) => k,
        None => classes_in_weights(&weights, "classifier.fc.weight")?,
    };
    let encoder = encoder_config.try_init(&device)?;
    let classifier = LinearClassifierConfig::new(encoder.output_dim(), num_classes).init(&device);
    let model = SupervisedModel {
        encoder,
        classifier,
    };
    let model = load_weights(model, &weights)?.valid();
    Ok((model.encoder, model.classifier))
}

/// The number of classes of the classifier weight `name` (`[D, K]`) in a safetensors file.
fn classes_in_weights(path: &Path, name: &str) -> Result<usize, RunEvalError> {
    let bytes = std::fs::read(path).map_err(|e| run_err(path, e.to_string()))?;
    let bad = || run_err(path, "not a safetensors file");
    if bytes.len() < 8 {
        return Err(bad());
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| bad())?) as usize;
    let header: serde_json::Value = bytes
        .get(8..8 + n)
        .and_then(|h| serde_json::from_slice(h).ok())
        .ok_or_else(bad)?;
    header[name]["shape"][1]
        .as_u64()
        .map(|k| k as usize)
        .ok_or_else(|| run_err(path, format!("no tensor '{name}' of rank 2")))
}

/// Loads the classifier a run describes (see the module docs), for `num_classes` classes.
///
/// # Errors
/// [`RunEvalError::Run`] for a run that cannot classify (a pre-training run without a
/// joint classifier, a suite or a sweep), missing files, or weights of another
/// architecture or class count.
pub fn load_eval_model(info: &RunInfo, num_classes: usize) -> Result<EvalModel, RunEvalError> {
    let device = info.device.device();
    let (encoder, classifier) = match info.kind {
        RunKind::Ce | RunKind::Finetune => load_ce(info, Some(num_classes))?,
        RunKind::Linear | RunKind::Pretrain => {
            if !info.has_classifier {
                return Err(run_err(
                    &info.dir,
                    "is a pre-training run without a classifier (encoder + projection head \
                     only): train a linear probe on it (`supcon linear --encoder RUN_DIR \
                     --out DIR`) and evaluate that, or pass a linear-probe, cross-entropy \
                     or `supcon run` directory",
                ));
            }
            let encoder = load_run_encoder(info)?;
            let classifier =
                LinearClassifierConfig::new(encoder.output_dim(), num_classes).init(&device);
            let path = info.dir.join("classifier.safetensors");
            let classifier = load_weights(classifier, &path)?.valid();
            (encoder, classifier)
        }
        RunKind::Suite | RunKind::Sweep => {
            return Err(run_err(
                &info.dir,
                format!(
                    "{} holds several runs; evaluate one of them",
                    info.kind.describe()
                ),
            ));
        }
    };
    Ok(EvalModel {
        info: info.clone(),
        encoder,
        classifier,
    })
}

/// Overrides of a run's data for evaluation (`None` keeps the run's value).
#[derive(Clone, Debug, Default)]
pub struct DataOverride {
    /// Another dataset spec (same classes and image shape).
    pub spec: Option<String>,
    /// At most this many training samples (k-NN bank, few-shot pool).
    pub limit: Option<usize>,
    /// At most this many test samples.
    pub test_limit: Option<usize>,
    /// Data-loading threads.
    pub threads: Option<usize>,
}

impl DataOverride {
    /// `base` with the overrides applied.
    pub fn apply(&self, base: &DataConfig) -> DataConfig {
        let mut d = base.clone();
        if let Some(s) = &self.spec {
            d.spec = s.clone();
        }
        if self.limit.is_some() {
            d.limit = self.limit;
        }
        if self.test_limit.is_some() {
            d.test_limit = self.test_limit;
        }
        if let Some(t) = self.threads {
            d.threads = t;
        }
        d
    }
}

/// Loads the evaluation data of a run: its data config with `over` applied, subset with
/// the run's seed, normalised with the statistics of the spec the run was trained on.
///
/// # Errors
/// Unloadable data, or data whose image shape or classes (number, names, order) differ
/// from the training data's (the classes recorded in the run's `data.json`, else those of
/// its data spec).
pub fn load_eval_data(info: &RunInfo, over: &DataOverride) -> Result<LoadedDataset, RunEvalError> {
    let trained = info.data.as_ref().ok_or_else(|| {
        run_err(
            &info.dir,
            format!("{} has no data configuration", info.kind.describe()),
        )
    })?;
    let config = over.apply(trained);
    let mut data = config.load(info.data_seed).map_err(|e| match &over.spec {
        Some(spec) => RunEvalError::Invalid(format!("--data {spec}: {e}")),
        None => e.into(),
    })?;
    // The shape the model saw: a fine-tuning run or a probe on other data converted its
    // images to the encoder's input (recorded in its data.json).
    let recorded = recorded_shape(&info.dir)?;
    let convert = |data: &mut LoadedDataset, spec: &str| -> Result<(), RunEvalError> {
        if let Some(shape) = recorded {
            crate::infer::convert_dataset(data, shape).map_err(|e| {
                RunEvalError::Invalid(format!("data {spec}: {e} (the run's data.json)"))
            })?;
        }
        Ok(())
    };
    let recorded_names = recorded_class_names(&info.dir)?;
    if config.spec != trained.spec {
        let mut train_data = trained.load(info.data_seed)?;
        if train_data.shape() != data.shape() {
            return Err(RunEvalError::Invalid(format!(
                "--data {}: images of shape {:?}, but the run was trained on {} with shape {:?}",
                config.spec,
                data.shape(),
                trained.spec,
                train_data.shape()
            )));
        }
        // The classifier's outputs are the run's classes: other data must have the same
        // classes in the same order (a corrupted copy or another split of them).
        let names = recorded_names.unwrap_or_else(|| train_data.train.class_names.clone());
        check_classes(
            &format!("--data {}", config.spec),
            &data.train.class_names,
            &format!("the run was trained on {}", trained.spec),
            &names,
        )?;
        convert(&mut train_data, &trained.spec)?;
        convert(&mut data, &config.spec)?;
        data.mean = train_data.mean;
        data.std = train_data.std;
    } else {
        if let Some(names) = &recorded_names {
            // The same spec, but its files may have changed since the run was trained.
            check_classes(
                &format!("data {}", config.spec),
                &data.train.class_names,
                &format!("the run's data.json records {}", trained.spec),
                names,
            )?;
        }
        convert(&mut data, &config.spec)?;
    }
    Ok(data)
}

/// Checks that evaluation data has the classes a run was trained on, in the same order.
///
/// # Errors
/// [`RunEvalError::Invalid`] starting with `what` (e.g. `--data SPEC`): another number of
/// classes, or the first class whose name differs.
fn check_classes(
    what: &str,
    got: &[String],
    run: &str,
    expected: &[String],
) -> Result<(), RunEvalError> {
    let list = |names: &[String]| crate::error::listing(names.iter(), 10);
    if got.len() != expected.len() {
        return Err(RunEvalError::Invalid(format!(
            "{what}: {} classes, but {run} with {} ({}); evaluate on data with the run's \
             classes",
            got.len(),
            expected.len(),
            list(expected)
        )));
    }
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        return Err(RunEvalError::Invalid(format!(
            "{what}: class {i} is '{}', but {run} whose class {i} is '{}' (its classes: {}); \
             evaluate on data with the run's classes, in the same order",
            got[i],
            expected[i],
            list(expected)
        )));
    }
    Ok(())
}

/// The k-NN protocol.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnOptions {
    /// Neighbours. Default 200.
    pub k: usize,
    /// Temperature of the neighbour weights. Default 0.07.
    pub temperature: f32,
}

impl Default for KnnOptions {
    fn default() -> Self {
        Self {
            k: DEFAULT_K,
            temperature: DEFAULT_TEMPERATURE,
        }
    }
}

/// Everything `supcon eval` can measure, beyond clean accuracy and calibration.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Changes to the run's data.
    pub data: DataOverride,
    /// Corruptions to evaluate (none: skip robustness).
    pub corruptions: Vec<Corruption>,
    /// Severities of each corruption, in `1..=5`.
    pub severities: Vec<u8>,
    /// Seed of the corruptions' randomness.
    pub seed: u64,
    /// Normalising model of mCE: a run directory (evaluated on the same corrupted data)
    /// or an eval JSON file written by `supcon eval`.
    pub baseline: Option<PathBuf>,
    /// k-NN on frozen encoder features.
    pub knn: Option<KnnOptions>,
    /// Few-shot probes: samples per class (e.g. 1, 5, 10); empty to skip.
    pub few_shot: Vec<usize>,
    /// Few-shot subsets (seeds `0..n`) per shot count; results are averaged.
    pub few_shot_seeds: usize,
    /// Epochs of each few-shot probe.
    pub few_shot_epochs: usize,
    /// Evaluate on this device instead of the one the run was trained on.
    pub device: Option<DeviceChoice>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            data: DataOverride::default(),
            corruptions: Vec::new(),
            severities: (1..=5).collect(),
            seed: 0,
            baseline: None,
            knn: None,
            few_shot: Vec::new(),
            few_shot_seeds: 3,
            few_shot_epochs: 100,
            device: None,
        }
    }
}

impl EvalOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`RunEvalError::Invalid`] naming the option.
    pub fn validate(&self) -> Result<(), RunEvalError> {
        if let Some(&s) = self.severities.iter().find(|&&s| !(1..=5).contains(&s)) {
            return Err(RunEvalError::Invalid(format!(
                "--severities: severity {s} is outside 1..=5"
            )));
        }
        if !self.corruptions.is_empty() && self.severities.is_empty() {
            return Err(RunEvalError::Invalid(
                "--severities: no severity given".into(),
            ));
        }
        if let Some(k) = self.few_shot.iter().find(|&&k| k == 0) {
            return Err(RunEvalError::Invalid(format!(
                "--few-shot: {k} samples per class; expected at least 1"
            )));
        }
        if !self.few_shot.is_empty() && (self.few_shot_seeds == 0 || self.few_shot_epochs == 0) {
            return Err(RunEvalError::Invalid(
                "--few-shot-seeds and --few-shot-epochs must be at least 1".into(),
            ));
        }
        if let Some(knn) = self.knn
            && (knn.k == 0 || !(knn.temperature.is_finite() && knn.temperature > 0.0))
        {
            return Err(RunEvalError::Invalid(format!(
                "--knn-k {} / --knn-temperature {}: expected k >= 1 and a positive temperature",
                knn.k, knn.temperature
            )));
        }
        if self.baseline.is_some() && self.corruptions.is_empty() {
            return Err(RunEvalError::Invalid(
                "--baseline normalises corruption errors (mCE): it needs --corruptions".into(),
            ));
        }
        Ok(())
    }
}

/// One corruption at one severity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionCell {
    /// Corruption name.
    pub corruption: String,
    /// Severity `1..=5`.
    pub severity: u8,
    /// Top-1 accuracy on the corrupted test set.
    pub top1: f64,
    /// Top-1 error, `1 - top1`.
    pub error: f64,
    /// ECE (15 bins).
    pub ece: f64,
    /// NLL.
    pub nll: f64,
}

/// The baseline that normalises mCE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineErrors {
    /// Its run directory or eval file.
    pub source: PathBuf,
    /// Its errors (clean and corrupted) on the same data.
    pub errors: ErrorTable,
}

/// Corruption robustness of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionResults {
    /// Seed of the corruptions.
    pub seed: u64,
    /// Severities evaluated.
    pub severities: Vec<u8>,
    /// Every corruption x severity cell, corruption-major.
    pub cells: Vec<CorruptionCell>,
    /// The model's errors (clean and per corruption and severity).
    pub errors: ErrorTable,
    /// Mean error, CE per corruption, mCE and relative mCE (the last three with a
    /// baseline).
    pub robustness: RobustnessReport,
    /// The baseline, when one was given.
    pub baseline: Option<BaselineErrors>,
    /// Scores that are undefined (e.g. a baseline whose corrupted error equals its clean
    /// error makes relative CE a division by zero).
    pub notes: Vec<String>,
}

/// k-NN accuracy on frozen encoder features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnResult {
    /// Neighbours used (the requested k, or the bank size when that is smaller).
    pub k: usize,
    /// Temperature.
    pub temperature: f32,
    /// Training samples in the neighbour bank.
    pub train_samples: usize,
    /// Top-1 accuracy on the test set.
    pub top1: f64,
}

/// Few-shot linear probes with `shots` samples per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FewShotResult {
    /// Samples per class.
    pub shots: usize,
    /// Seeds of the subsets.
    pub seeds: Vec<u64>,
    /// Test top-1 of each seed.
    pub top1: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (0 with one seed).
    pub std: f64,
}

/// Everything `supcon eval` measures for one run; written as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The run directory.
    pub run: PathBuf,
    /// `linear`, `ce` or `pretrain` (a joint classifier).
    pub kind: RunKind,
    /// The pre-training run of a linear probe.
    pub encoder_run: Option<PathBuf>,
    /// The data evaluated (the run's, with overrides).
    pub data: DataConfig,
    /// Number of classes.
    pub num_classes: usize,
    /// Class names, by label.
    pub class_names: Vec<String>,
    /// Clean test metrics: samples, top-1, top-5, calibration (ECE/MCE over 15 bins with
    /// their counts, NLL).
    pub clean: ClassificationMetrics,
    /// Per-class accuracy (recall); `null` for a class absent from the test set.
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Rows = true class, columns = prediction.
    pub confusion_matrix: ConfusionMatrix,
    /// Corruption robustness, when corruptions were asked for.
    pub corruptions: Option<CorruptionResults>,
    /// k-NN accuracy, when asked for.
    pub knn: Option<KnnResult>,
    /// Few-shot probes, when asked for.
    pub few_shot: Vec<FewShotResult>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// An eval JSON file: one report, or several (a `supcon run` directory) as
/// `{"runs": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EvalFile {
    /// Several runs.
    Many {
        /// The reports.
        runs: Vec<EvalReport>,
    },
    /// One run.
    One(Box<EvalReport>),
}

// Not `#[serde(untagged)]` for reading: serde's buffered untagged content turns the
// integer map keys of `ErrorTable` (severities) into strings it then refuses as `u8`.
impl<'de> Deserialize<'de> for EvalFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        match value.get_mut("runs") {
            Some(runs) => Ok(Self::Many {
                runs: serde_json::from_value(runs.take()).map_err(D::Error::custom)?,
            }),
            None => Ok(Self::One(Box::new(
                serde_json::from_value(value).map_err(D::Error::custom)?,
            ))),
        }
    }
}

impl EvalFile {
    /// The reports it holds.
    pub fn reports(&self) -> Vec<&EvalReport> {
        match self {
            Self::Many { runs } => runs.iter().collect(),
            Self::One(r) => vec![r.as_ref()],
        }
    }

    /// Reads an eval JSON file.
    ///
    /// # Errors
    /// Missing file, or not an eval report (naming the file).
    pub fn read(path: &Path) -> Result<Self, RunEvalError> {
        Ok(read_json(path)?)
    }
}

/// Progress messages of a long evaluation.
pub type Log<'a> = &'a dyn Fn(&str);

/// Evaluates every classifier a directory stands for (a suite gives its linear probe and
/// CE baseline). In a suite with no explicit baseline, the CE run normalises mCE for
/// both (so its own mCE is 1).
///
/// # Errors
/// As [`inspect_run`], [`load_eval_model`] and the evaluations.
pub fn evaluate_dir(
    dir: &Path,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<Vec<EvalReport>, RunEvalError> {
    opts.validate()?;
    let info = inspect_run(dir)?;
    if let Some(baseline) = &opts.baseline {
        // Checked before the corruption run, whose results a bad baseline would waste.
        check_baseline(baseline)?;
    }
    match info.kind {
        RunKind::Suite => {
            let ce_dir = dir.join("ce");
            let mut ce_opts = opts.clone();
            if ce_opts.baseline.is_none() && !ce_opts.corruptions.is_empty() {
                ce_opts.baseline = Some(ce_dir.clone());
            }
            let ce = evaluate_run(&inspect_run(&ce_dir)?, &ce_opts, None, log)?;
            let given = opts.baseline.is_some();
            let ce_table = (!given).then(|| {
                ce.corruptions.as_ref().map(|c| BaselineErrors {
                    source: ce_dir.clone(),
                    errors: c.errors.clone(),
                })
            });
            let lin = evaluate_run(
                &inspect_run(&dir.join("linear"))?,
                opts,
                ce_table.flatten(),
                log,
            )?;
            Ok(vec![lin, ce])
        }
        _ => Ok(vec![evaluate_run(&info, opts, None, log)?]),
    }
}

/// `supcon eval`: evaluates `dir` as [`evaluate_dir`] does and writes the results to
/// `out` (default `dir/eval.json`), returning them and the file written. The run folder is
/// locked ([`crate::dirlock`]) from start to end, and a given `out` is checked against
/// the output rule ([`crate::outputs`]) before any work.
///
/// # Errors
/// As [`evaluate_dir`]; a locked run; a refused `out`; I/O errors naming the file.
pub fn evaluate_to_file(
    dir: &Path,
    out: Option<&Path>,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<(Vec<EvalReport>, PathBuf), RunEvalError> {
    let file = match out {
        Some(out) => {
            let mut inputs = vec![dir.to_path_buf()];
            inputs.extend(opts.baseline.clone());
            let data = inspect_run(dir)
                .ok()
                .and_then(|i| i.data)
                .map(|d| opts.data.apply(&d))
                .and_then(|d| d.dataset_dir());
            crate::outputs::check_file(out, &crate::outputs::Inputs::new(inputs, data))?;
            out.to_path_buf()
        }
        None => dir.join("eval.json"),
    };
    // The run (or output) folder `file` goes into: checked free at once (a training or
    // resume writing there fails this command before any work), locked while written.
    let folder = crate::dirlock::output_folder(&file);
    if let Some(folder) = &folder {
        drop(crate::dirlock::DirLock::acquire(folder).map_err(RunDirError::from)?);
    }
    let reports = evaluate_dir(dir, opts, log)?;
    let value = if reports.len() == 1 {
        EvalFile::One(Box::new(reports[0].clone()))
    } else {
        EvalFile::Many {
            runs: reports.clone(),
        }
    };
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| RunDirError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let _lock = folder
        .map(|f| crate::dirlock::DirLock::acquire(&f))
        .transpose()
        .map_err(RunDirError::from)?;
    crate::train::run_dir::write_json(&file, &value)?;
    Ok((reports, file))
}

/// Cheap checks of `--baseline` made before any work: an eval file with corruption
/// results, or a folder holding a classifier run.
fn check_baseline(path: &Path) -> Result<(), RunEvalError> {
    if path.is_file() {
        let file = EvalFile::read(path)?;
        let reports = file.reports();
        if reports.is_empty() {
            return Err(run_err(path, "--baseline: the eval file holds no run"));
        }
        if reports.iter().all(|r| r.corruptions.is_none()) {
            return Err(run_err(
                path,
                "--baseline: this eval file has no corruption results (run `supcon eval \
                 --corruptions ...` on the baseline)",
            ));
        }
        return Ok(());
    }
    classifier_runs(path)
        .map(|_| ())
        .map_err(|e| RunEvalError::Invalid(format!("--baseline {}: {e}", path.display())))
}

/// Evaluates one classifier run. `baseline` (already measured errors) takes precedence
/// over `opts.baseline`.
///
/// # Errors
/// As [`load_eval_model`], [`load_eval_data`], and the metrics.
pub fn evaluate_run(
    info: &RunInfo,
    opts: &EvalOptions,
    baseline: Option<BaselineErrors>,
    log: Log<'_>,
) -> Result<EvalReport, RunEvalError> {
    opts.validate()?;
    let started = Instant::now();
    let moved;
    let info = match opts.device {
        Some(device) => {
            device
                .check()
                .map_err(|e| RunEvalError::Invalid(format!("--device: {e}")))?;
            moved = RunInfo {
                device,
                ..info.clone()
            };
            &moved
        }
        None => info,
    };
    if matches!(info.kind, RunKind::Suite | RunKind::Sweep) {
        return Err(run_err(
            &info.dir,
            format!(
                "{} holds several runs; evaluate one of them",
                info.kind.describe()
            ),
        ));
    }
    crate::train::run_dir::check_finished(
        &info.dir,
        if info.kind == RunKind::Linear {
            "classifier.safetensors"
        } else {
            "model.safetensors"
        },
    )?;
    if info.kind == RunKind::Pretrain && !info.has_classifier {
        // Same message as load_eval_model, before loading any data.
        load_eval_model(info, 1)?;
    }
    let data = load_eval_data(info, &opts.data)?;
    let num_classes = data.num_classes();
    if let Some(&most) = opts.few_shot.iter().max() {
        // Fail before the long part when a class is too small.
        few_shot_indices(
            &data.train.labels,
            num_classes,
            &data.train.class_names,
            most,
            0,
        )?;
    }
    let model = load_eval_model(info, num_classes)?;
    log(&format!(
        "evaluating {} ({}) on {} test images of {}",
        info.dir.display(),
        info.kind.describe(),
        data.test.len(),
        data.name
    ));

    let test_features = model.features(&data, &data.test)?;
    let device = info.device.device();
    let logits = classifier_logits(&model.classifier, &test_features, &device)?;
    let labels = &data.test.labels;
    let clean = classification_metrics(&logits, labels)?;
    let confusion_matrix = ConfusionMatrix::from_scores(&logits.values, logits.cols, labels)?;
    let per_class_accuracy = confusion_matrix.per_class_accuracy();

    let corruptions = if opts.corruptions.is_empty() {
        None
    } else {
        let table = corruption_table(&model, &data, opts, clean.top1, log)?;
        let baseline = match baseline {
            Some(b) => Some(b),
            None => match &opts.baseline {
                None => None,
                Some(path) if same_dir(path, &info.dir) => Some(BaselineErrors {
                    source: path.clone(),
                    errors: table.1.clone(),
                }),
                Some(path) => Some(baseline_errors(path, &data, opts, log)?),
            },
        };
        Some(assemble_robustness(table.0, table.1, baseline, opts)?)
    };

    let need_train = opts.knn.is_some() || !opts.few_shot.is_empty();
    let train_features = if need_train {
        log(&format!(
            "encoding {} training images for k-NN / few-shot",
            data.train.len()
        ));
        Some(model.features(&data, &data.train)?)
    } else {
        None
    };
    let knn = match (opts.knn, &train_features) {
        (Some(k), Some(train)) => {
            let top1 = knn_accuracy(
                &train.values,
                &data.train.labels,
                &test_features.values,
                labels,
                train.cols,
                num_classes,
                k.k,
                k.temperature,
            )?;
            Some(KnnResult {
                // k-NN uses every training sample when k exceeds their number.
                k: k.k.min(train.rows),
                temperature: k.temperature,
                train_samples: train.rows,
                top1,
            })
        }
        _ => None,
    };
    let mut few_shot = Vec::new();
    if let Some(train) = &train_features {
        for &shots in &opts.few_shot {
            log(&format!(
                "few-shot probe: {shots} per class x {} seeds",
                opts.few_shot_seeds
            ));
            few_shot.push(few_shot_probe(
                train,
                &data,
                &test_features,
                shots,
                opts,
                info.device,
            )?);
        }
    }

    Ok(EvalReport {
        run: info.dir.clone(),
        kind: info.kind,
        encoder_run: info.encoder_run.clone(),
        data: over_data(info, &opts.data),
        num_classes,
        class_names: data.test.class_names.clone(),
        clean,
        per_class_accuracy,
        confusion_matrix,
        corruptions,
        knn,
        few_shot,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn over_data(info: &RunInfo, over: &DataOverride) -> DataConfig {
    info.data
        .as_ref()
        .map(|d| over.apply(d))
        .unwrap_or_default()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// RNG of one corrupted image.
fn corruption_rng(seed: u64, corruption: Corruption, severity: u8, index: usize) -> ChaCha8Rng {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let id = Corruption::ALL
        .iter()
        .position(|&c| c == corruption)
        .unwrap_or(0) as u64;
    let mut h = mix(0x636F_7272_7570_7421 ^ mix(seed)); // "corrupt!"
    for part in [id, u64::from(severity), index as u64] {
        h = mix(h ^ mix(part));
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// `split` with `corruption` at `severity` applied to every image (in parallel,
/// deterministically per `seed`), quantised back to `u8`.
///
/// # Errors
/// A corruption that rejects an image.
pub fn corrupt_split(
    split: &ImageDataset,
    corruption: Corruption,
    severity: u8,
    seed: u64,
) -> Result<ImageDataset, EvalError> {
    let images: Vec<Vec<u8>> = (0..split.len())
        .into_par_iter()
        .map(|i| {
            let mut rng = corruption_rng(seed, corruption, severity, i);
            corruption
                .apply(&split.image(i), severity, &mut rng)
                .map(|img| img.to_u8_chw())
        })
        .collect::<Result<_, _>>()?;
    Ok(ImageDataset {
        channels: split.channels,
        height: split.height,
        width: split.width,
        pixels: images.concat(),
        labels: split.labels.clone(),
        class_names: split.class_names.clone(),
    })
}

/// The model's cells and error table over `opts.corruptions x opts.severities`.
fn corruption_table(
    model: &EvalModel,
    data: &LoadedDataset,
    opts: &EvalOptions,
    clean_top1: f64,
    log: Log<'_>,
) -> Result<(Vec<CorruptionCell>, ErrorTable), RunEvalError> {
    let mut cells = Vec::new();
    let mut table = ErrorTable::with_clean(1.0 - clean_top1);
    for &c in &opts.corruptions {
        for &s in &opts.severities {
            let split = corrupt_split(&data.test, c, s, opts.seed)?;
            let logits = model.logits(data, &split)?;
            let m = classification_metrics(&logits, &split.labels)?;
            log(&format!(
                "  {:<18} severity {s}: top-1 {:6.2}%  ECE {:.4}",
                c.name(),
                100.0 * m.top1,
                m.calibration.ece
            ));
            table.insert(c.name(), s, 1.0 - m.top1);
            cells.push(CorruptionCell {
                corruption: c.name().to_string(),
                severity: s,
                top1: m.top1,
                error: 1.0 - m.top1,
                ece: m.calibration.ece,
                nll: m.calibration.nll,
            });
        }
    }
    Ok((cells, table))
}

/// The baseline's errors: from an eval JSON file, or by evaluating a run directory on
/// the same test images.
fn baseline_errors(
    path: &Path,
    data: &LoadedDataset,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<BaselineErrors, RunEvalError> {
    if path.is_file() {
        let file = EvalFile::read(path)?;
        let reports = file.reports();
        let report = reports
            .iter()
            .find(|r| r.kind == RunKind::Ce)
            .or_else(|| reports.first())
            .ok_or_else(|| run_err(path, "--baseline: the eval file holds no run"))?;
        let c = report.corruptions.as_ref().ok_or_else(|| {
            run_err(
                path,
                "--baseline: this eval file has no corruption results (run `supcon eval \
                 --corruptions ...` on the baseline)",
            )
        })?;
        if c.seed != opts.seed || report.clean.samples != data.test.len() {
            log(&format!(
                "warning: baseline {} was evaluated on {} test images with corruption seed {} \
                 (this evaluation: {} images, seed {})",
                path.display(),
                report.clean.samples,
                c.seed,
                data.test.len(),
                opts.seed
            ));
        }
        return Ok(BaselineErrors {
            source: path.to_path_buf(),
            errors: c.errors.clone(),
        });
    }
    let mut infos = classifier_runs(path)
        .map_err(|e| RunEvalError::Invalid(format!("--baseline {}: {e}", path.display())))?;
    // In a suite, the cross-entropy run is the baseline.
    let info = match infos.iter().position(|i| i.kind == RunKind::Ce) {
        Some(i) => infos.swap_remove(i),
        None => infos.swap_remove(0),
    };
    let model = load_eval_model(&info, data.num_classes())
        .map_err(|e| RunEvalError::Invalid(format!("--baseline {}: {e}", path.display())))?;
    let trained = info.data.clone().unwrap_or_default();
    let mut base_data = data.clone();
    if trained.spec != data.name {
        // Normalise as the baseline was trained.
        if let Ok(t) = trained.load(info.data_seed) {
            base_data.mean = t.mean;
            base_data.std = t.std;
        }
    }
    log(&format!("baseline {}:", info.dir.display()));
    let logits = model.logits(&base_data, &base_data.test)?;
    let clean = classification_metrics(&logits, &base_data.test.labels)?;
    let (_, errors) = corruption_table(&model, &base_data, opts, clean.top1, log)?;
    Ok(BaselineErrors {
        source: info.dir,
        errors,
    })
}

/// Robustness scores; scores that are undefined are left out with a note.
fn assemble_robustness(
    cells: Vec<CorruptionCell>,
    errors: ErrorTable,
    baseline: Option<BaselineErrors>,
    opts: &EvalOptions,
) -> Result<CorruptionResults, RunEvalError> {
    let base = baseline.as_ref().map(|b| &b.errors);
    let mut notes = Vec::new();
    let robustness = match robustness_report(&errors, base) {
        Ok(r) => r,
        Err(first) => {
            // Score corruption by corruption, keeping what is defined.
            let mut corruptions = std::collections::BTreeMap::new();
            for (name, errs) in &errors.corruptions {
                let mean = errs.values().sum::<f64>() / errs.len() as f64;
                let (mut ce, mut rel) = (None, None);
                if let Some(b) = base {
                    match corruption_error(&errors, b, name) {
                        Ok(v) => ce = Some(v),
                        Err(e) => notes.push(format!("CE of {name}: {e}")),
                    }
                    match relative_corruption_error(&errors, b, name) {
                        Ok(v) => rel = Some(v),
                        Err(e) => notes.push(format!("relative CE of {name}: {e}")),
                    }
                }
                corruptions.insert(
                    name.clone(),
                    CorruptionScore {
                        mean_error: mean,
                        ce,
                        relative_ce: rel,
                    },
                );
            }
            if notes.is_empty() {
                return Err(first.into());
            }
            let all = |f: fn(&CorruptionScore) -> Option<f64>| {
                let v: Option<Vec<f64>> = corruptions.values().map(f).collect();
                v.map(|v| v.iter().sum::<f64>() / v.len() as f64)
            };
            RobustnessReport {
                clean_error: errors.clean,
                mean_error: mean_error(&errors)?,
                mce: all(|s| s.ce),
                relative_mce: all(|s| s.relative_ce),
                corruptions,
            }
        }
    };
    Ok(CorruptionResults {
        seed: opts.seed,
        severities: opts.severities.clone(),
        cells,
        errors,
        robustness,
        baseline,
        notes,
    })
}

/// `shots` per class drawn from `labels` with `seed`: indices in increasing order.
///
/// # Errors
/// A class with fewer than `shots` samples (naming it); a label `>= num_classes`.
pub fn few_shot_indices(
    labels: &[usize],
    num_classes: usize,
    class_names: &[String],
    shots: usize,
    seed: u64,
) -> Result<Vec<usize>, RunEvalError> {
    use rand::seq::SliceRandom;
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        let Some(g) = by_class.get_mut(l) else {
            return Err(RunEvalError::Invalid(format!(
                "--few-shot: training label {l} at index {i} is out of range for \
                 {num_classes} classes"
            )));
        };
        g.push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6665_7773_686F_7421); // "fewshot!"
    let mut chosen = Vec::with_capacity(shots * num_classes);
    for (c, mut g) in by_class.into_iter().enumerate() {
        if g.len() < shots {
            return Err(RunEvalError::Invalid(format!(
                "--few-shot {shots}: class '{}' has only {} training image(s)",
                class_names.get(c).map_or("?", String::as_str),
                g.len()
            )));
        }
        g.shuffle(&mut rng);
        chosen.extend_from_slice(&g[..shots]);
    }
    chosen.sort_unstable();
    Ok(chosen)
}

fn few_shot_probe(
    train: &Matrix,
    data: &LoadedDataset,
    test: &Matrix,
    shots: usize,
    opts: &EvalOptions,
    device: DeviceChoice,
) -> Result<FewShotResult, RunEvalError> {
    let num_classes = data.num_classes();
    let mut top1 = Vec::new();
    let seeds: Vec<u64> = (0..opts.few_shot_seeds as u64).collect();
    for &seed in &seeds {
        let idx = few_shot_indices(
            &data.train.labels,
            num_classes,
            &data.train.class_names,
            shots,
            seed,
        )?;
        let x = Matrix {
            rows: idx.len(),
            cols: train.cols,
            values: idx.iter().flat_map(|&i| train.row(i).to_vec()).collect(),
        };
        let y: Vec<usize> = idx.iter().map(|&i| data.train.labels[i]).collect();
        let settings = LinearConfig {
            epochs: opts.few_shot_epochs,
            batch_size: x.rows.min(256),
            schedule: ScheduleConfig {
                base_lr: 0.1,
                ..ScheduleConfig::default()
            },
            seed,
            device,
            ..LinearConfig::default()
        };
        let classifier = fit_classifier_on_features(&x, &y, num_classes, &settings)?;
        let logits = classifier_logits(&classifier, test, &device.device())?;
        top1.push(classification_metrics(&logits, &data.test.labels)?.top1);
    }
    let (mean, std) = mean_std(&top1);
    Ok(FewShotResult {
        shots,
        seeds,
        top1,
        mean,
        std,
    })
}

/// Mean and sample standard deviation (`n - 1` in the denominator; 0 for one value).
/// An empty slice gives `(NaN, NaN)`.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// Parses a severity list: `1-5` (a range), `1,3,5`, `2`, or `all`.
///
/// # Errors
/// [`RunEvalError::Invalid`] naming the bad item.
pub fn parse_severities(s: &str) -> Result<Vec<u8>, RunEvalError> {
    let bad = |item: &str, why: &str| {
        RunEvalError::Invalid(format!(
            "--severities '{s}': {item} {why} (expected 1-5 or a list such as 1,3,5)"
        ))
    };
    let one = |t: &str| -> Result<u8, RunEvalError> {
        let v: u8 = t.trim().parse().map_err(|_| bad(t, "is not a number"))?;
        if (1..=5).contains(&v) {
            Ok(v)
        } else {
            Err(bad(t, "is outside 1..=5"))
        }
    };
    if s.trim() == "all" {
        return Ok((1..=5).collect());
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        if item.trim().is_empty() {
            return Err(bad("an empty item", "is not a severity"));
        }
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                if a > b {
                    return Err(bad(item, "is a decreasing range"));
                }
                out.extend(a..=b);
            }
            None => out.push(one(item)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Parses a corruption list: `all`, `none`, or comma-separated names such as
/// `gaussian_noise,fog` (the names of [`Corruption`]).
///
/// # Errors
/// [`RunEvalError::Invalid`] naming the unknown corruption.
pub fn parse_corruptions(s: &str) -> Result<Vec<Corruption>, RunEvalError> {
    match s.trim() {
        "all" => return Ok(Corruption::ALL.to_vec()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    let mut out: Vec<Corruption> = Vec::new();
    for item in s.split(',') {
        let c: Corruption = item
            .trim()
            .parse()
            .map_err(|e: crate::augment::CorruptionError| {
                RunEvalError::Invalid(format!("--corruptions: {e}"))
            })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A baseline whose corrupted error is below its clean error makes relative CE
    /// meaningless: left out with a note, as a zero denominator is; CE is kept.
    #[test]
    fn a_negative_baseline_degradation_is_noted_not_scored() {
        let mut errors = ErrorTable::with_clean(0.2);
        errors.insert("fog", 1, 0.4);
        errors.insert("gaussian_noise", 1, 0.5);
        let mut base = ErrorTable::with_clean(0.8);
        base.insert("fog", 1, 0.7); // degradation -0.1
        base.insert("gaussian_noise", 1, 0.9); // degradation +0.1
        let baseline = BaselineErrors {
            source: PathBuf::from("base"),
            errors: base,
        };
        let r = assemble_robustness(Vec::new(), errors, Some(baseline), &EvalOptions::default())
            .unwrap();
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert!(
            r.notes[0].starts_with("relative CE of fog: undefined:")
                && r.notes[0].contains("below its clean error"),
            "{}",
            r.notes[0]
        );
        let rb = &r.robustness;
        assert_eq!(rb.relative_mce, None);
        assert_eq!(rb.corruptions["fog"].relative_ce, None);
        let noise = rb.corruptions["gaussian_noise"].relative_ce.unwrap();
        assert!((noise - 0.3 / 0.1).abs() < 1e-9, "{noise}");
        let mce = rb.mce.unwrap();
        assert!((mce - (0.4 / 0.7 + 0.5 / 0.9) / 2.0).abs() < 1e-12, "{mce}");
    }

    #[test]
    fn severities_parse_ranges_lists_and_reject_bad_values() {
        assert_eq!(parse_severities("1-5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_severities("5,1,3,3").unwrap(), vec![1, 3, 5]);
        assert_eq!(parse_severities("2-3,5").unwrap(), vec![2, 3, 5]);
        for bad in ["0", "6", "1-6", "x", "3-1", "1,,2"] {
            let e = parse_severities(bad).unwrap_err().to_string();
            assert!(e.contains("--severities") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn corruptions_parse_names_and_reject_unknown_ones() {
        assert_eq!(parse_corruptions("all").unwrap().len(), 15);
        assert_eq!(
            parse_corruptions("fog, gaussian_noise,fog").unwrap(),
            vec![Corruption::Fog, Corruption::GaussianNoise]
        );
        let e = parse_corruptions("fog,gausian").unwrap_err().to_string();
        assert!(e.contains("--corruptions") && e.contains("gausian"), "{e}");
    }

    #[test]
    fn corruption_rngs_differ_per_cell_and_repeat_per_seed() {
        use rand::Rng;
        let draw = |s, c, v, i| corruption_rng(s, c, v, i).random::<u64>();
        let a = draw(0, Corruption::Fog, 1, 0);
        assert_eq!(a, draw(0, Corruption::Fog, 1, 0));
        assert_ne!(a, draw(1, Corruption::Fog, 1, 0));
        assert_ne!(a, draw(0, Corruption::Snow, 1, 0));
        assert_ne!(a, draw(0, Corruption::Fog, 2, 0));
        assert_ne!(a, draw(0, Corruption::Fog, 1, 1));
    }

    #[test]
    fn few_shot_indices_take_k_per_class() {
        let labels = vec![0, 1, 0, 1, 0, 1, 2, 2];
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let idx = few_shot_indices(&labels, 3, &names, 2, 7).unwrap();
        assert_eq!(idx.len(), 6);
        for c in 0..3 {
            assert_eq!(idx.iter().filter(|&&i| labels[i] == c).count(), 2);
        }
        assert_eq!(idx, few_shot_indices(&labels, 3, &names, 2, 7).unwrap());
        let e = few_shot_indices(&labels, 3, &names, 3, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'c'") && e.contains("--few-shot 3"), "{e}");
        // A label outside the classes is an error, not silently left out.
        let e = few_shot_indices(&[0, 1, 5, 5, 7], 2, &names[..2], 1, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("label 5 at index 2") && e.contains("2 classes"),
            "{e}"
        );
    }

    #[test]
    fn mean_std_uses_the_sample_deviation() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
    }
}
