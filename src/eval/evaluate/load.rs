//! Loading the model a run directory describes, in evaluation mode: its encoder, and its
//! classifier when it has one.

use std::path::Path;

use burn::module::Module;

use super::error::{RunEvalError, run_err};
use super::inspect::{RunInfo, RunKind};
use crate::data::{ImageDataset, LoadedDataset};
use crate::device::DeviceChoice;
use crate::model::{Encoder, LinearClassifier, LinearClassifierConfig, load_weights};
use crate::train::TrainError;
use crate::train::features::{Matrix, map_split};
use crate::train::linear::load_encoder;
use crate::train::run_dir::RunDir;
use crate::train::supervised::SupervisedModel;

/// Images per forward pass during evaluation.
pub const EVAL_BATCH: usize = 256;

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
        RunKind::Run | RunKind::Sweep | RunKind::Export => Err(run_err(
            &info.dir,
            format!(
                "{} has no single encoder; name one of its runs",
                info.kind.describe()
            ),
        )),
    }
}

/// Refuses a linear probe whose encoder run was retrained or resumed since the probe was
/// trained: its classifier no longer fits the encoder ([`crate::train::linear::verify_encoder`]).
/// Any other run passes, and so does a probe whose encoder cannot be loaded (left to
/// whatever needs the encoder to say why).
///
/// # Errors
/// [`RunEvalError::Train`] naming the probe's `encoder.json` and the encoder run.
pub fn check_probe_encoder(info: &RunInfo) -> Result<(), RunEvalError> {
    let (RunKind::Linear, Some(run)) = (info.kind, info.encoder_run.as_deref()) else {
        return Ok(());
    };
    if let Ok((encoder, _)) = load_encoder(run, &info.device.device()) {
        crate::train::linear::verify_encoder(&info.dir, &encoder)?;
    }
    Ok(())
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
        RunKind::Run | RunKind::Sweep | RunKind::Export => {
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
