//! The deployable classifier: `model.safetensors` (encoder + linear classifier) and
//! `classifier.json` ([`ClassifierSpec`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{InferError, InputSpec, ModelDir};
use crate::fsutil::write_atomic;
use crate::model::{EncoderConfig, save_weights};
use crate::train::{MadeFrom, Manifest, RunKind, TrainError};

/// The `format` field of every `classifier.json`.
pub const CLASSIFIER_FORMAT: &str = "supcon-classifier";
/// The `version` of `classifier.json` this build writes and reads.
pub const CLASSIFIER_VERSION: u32 = 1;

/// Where an export came from (informational).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSource {
    /// `linear`, `ce`, `finetune`, `pretrain` (joint classifier) or `export`.
    pub kind: String,
    /// The run directory it was exported from, as an absolute path.
    pub run: PathBuf,
    /// The dataset spec the classifier was trained on.
    pub data: String,
}

/// `classifier.json`: everything needed to rebuild and feed the exported model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSpec {
    /// Always [`CLASSIFIER_FORMAT`].
    pub format: String,
    /// [`CLASSIFIER_VERSION`].
    pub version: u32,
    /// The encoder architecture (the weights must fit it).
    pub encoder: EncoderConfig,
    /// Number of classes `K` of the linear classifier.
    pub num_classes: usize,
    /// Class names, by class index.
    pub class_names: Vec<String>,
    /// Input shape `[C, H, W]` the model was trained on.
    pub input_shape: [usize; 3],
    /// Per-channel normalisation mean (`[0, 1]` units).
    pub mean: Vec<f32>,
    /// Per-channel normalisation std (`[0, 1]` units).
    pub std: Vec<f32>,
    /// Where it was exported from.
    #[serde(default)]
    pub source: Option<ExportSource>,
}

impl ClassifierSpec {
    /// The preprocessing this model expects.
    pub fn input(&self) -> InputSpec {
        InputSpec {
            shape: self.input_shape,
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }

    /// Checks that the fields agree with each other.
    ///
    /// # Errors
    /// [`InferError::BadModel`] naming `path` (the `classifier.json`) and the field.
    pub fn validate(&self, path: &Path) -> Result<(), InferError> {
        let bad = |reason: String| InferError::BadModel {
            path: path.to_path_buf(),
            reason,
        };
        if self.format != CLASSIFIER_FORMAT {
            return Err(bad(format!(
                "format is '{}', expected '{CLASSIFIER_FORMAT}'",
                self.format
            )));
        }
        if self.version != CLASSIFIER_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this build reads version {CLASSIFIER_VERSION})",
                self.version
            )));
        }
        if self.num_classes == 0 || self.class_names.len() != self.num_classes {
            return Err(bad(format!(
                "num_classes is {} but class_names has {} entries",
                self.num_classes,
                self.class_names.len()
            )));
        }
        self.input().validate().map_err(|e| bad(e.to_string()))?;
        self.encoder
            .validate()
            .map_err(|e| bad(format!("encoder: {e}")))?;
        let [c, h, w] = self.input_shape;
        match self.encoder.resnet_config() {
            Some(_) if self.encoder.in_channels != c => Err(bad(format!(
                "encoder.in_channels is {} but input_shape has {c} channels",
                self.encoder.in_channels
            ))),
            None if self.encoder.input_dim != Some(c * h * w) => Err(bad(format!(
                "the mlp encoder takes {:?} inputs but input_shape {:?} has {}",
                self.encoder.input_dim,
                self.input_shape,
                c * h * w
            ))),
            _ => Ok(()),
        }
    }

    /// Reads and validates `dir/classifier.json`.
    ///
    /// # Errors
    /// A missing or unparsable file, or inconsistent fields.
    pub fn read(dir: &Path) -> Result<Self, InferError> {
        let path = dir.join("classifier.json");
        let text = std::fs::read_to_string(&path).map_err(|e| InferError::io(&path, e))?;
        let spec: Self = serde_json::from_str(&text).map_err(|e| InferError::BadModel {
            path: path.clone(),
            reason: format!("not a valid classifier.json: {e}"),
        })?;
        spec.validate(&path)?;
        Ok(spec)
    }
}

/// Exports the classifier of `model` (any directory [`ModelDir::open`] accepts) to
/// `out`: `out/model.safetensors` (encoder + linear classifier, loadable into a
/// [`SupervisedModel`](crate::train::supervised::SupervisedModel)) and
/// `out/classifier.json`, both written atomically (the JSON last). `out` is created;
/// an existing export there is replaced only with `force`. Any other non-empty `out`
/// (a training run, say) is refused even with `force`, so nothing there is overwritten.
///
/// # Errors
/// A model directory without a classifier, weights that do not fit, I/O errors, an
/// existing export without `force`, or an `out` that holds anything but an export.
pub fn export(model: &Path, out: &Path, force: bool) -> Result<ClassifierSpec, InferError> {
    check_out(out, force)?;
    let dir = ModelDir::open(model)?;
    let data = dir.data_config().and_then(|(d, _)| d.dataset_dir());
    crate::outputs::check_dir(
        out,
        &crate::outputs::Inputs::new([model.to_path_buf()], data),
    )?;
    let spec = dir.classifier_spec()?;
    let device = crate::device::DeviceChoice::Cpu.device();
    let net = dir.load_classifier(&device)?;
    let json_path = out.join("classifier.json");
    std::fs::create_dir_all(out).map_err(|e| InferError::io(out, e))?;
    save_weights(&net, out.join("model.safetensors"))?;
    let made_from = MadeFrom {
        data: dir.data_config().map(|(d, _)| d.spec),
        runs: vec![model.to_path_buf()],
        init: None,
    };
    Manifest::new(RunKind::Export, made_from)
        .write(out)
        .map_err(TrainError::from)?;
    let text = serde_json::to_string_pretty(&spec)
        .map_err(|e| InferError::Invalid(format!("serialising classifier.json: {e}")))?;
    write_atomic(&json_path, text.as_bytes()).map_err(|e| InferError::io(&json_path, e))?;
    Ok(spec)
}

/// How many entries of a refused `--out` folder its error lists.
const LISTED_ENTRIES: usize = 5;

/// Checks that `out` may receive an export: it does not exist, is an empty folder, or
/// holds an earlier export (`classifier.json`) and `force` is set.
///
/// # Errors
/// [`InferError::Invalid`] naming `out`: it is not a folder, it holds files but no
/// `classifier.json` (what it holds is listed), or it holds an export and `force` is
/// not set; [`InferError::Io`] when it cannot be listed.
fn check_out(out: &Path, force: bool) -> Result<(), InferError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(InferError::Invalid(format!(
            "--out {}: is not a folder; expected a new or empty folder, or an earlier export",
            out.display()
        )));
    }
    if out.join("classifier.json").exists() {
        if force {
            return Ok(());
        }
        return Err(InferError::Invalid(format!(
            "{}: already holds an exported model (classifier.json exists); pick another \
             --out or pass --force to replace it",
            out.display()
        )));
    }
    let mut names: Vec<String> = std::fs::read_dir(out)
        .map_err(|e| InferError::io(out, e))?
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(|e| InferError::io(out, e))
        })
        .collect::<Result<_, _>>()?;
    // The lock file of a run folder (crate::dirlock) is no content.
    names.retain(|n| n != crate::dirlock::LOCK_FILE);
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    let listed = crate::messages::listing(names.iter(), LISTED_ENTRIES);
    Err(InferError::Invalid(format!(
        "--out {}: is not empty and is not an earlier export (no classifier.json); it \
         holds {listed}. Refusing to write model.safetensors and classifier.json there, \
         even with --force; pick a new or empty folder",
        out.display()
    )))
}
