//! `classifier.json`: the description of a deployable classifier ([`ClassifierSpec`]),
//! which `export` writes and every command that loads an export reads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::InferError;
use super::preprocess::InputSpec;
use crate::model::EncoderConfig;

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
