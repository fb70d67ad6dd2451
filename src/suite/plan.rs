//! What `supcon run` trains: its settings, and the plan of its three stages derived from
//! them (saved as `run.json`).

use crate::train::{MadeFrom, Manifest, RunKind};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SuiteError;
use crate::device::DeviceChoice;
use crate::model::EncoderConfig;
use crate::train::{DataConfig, LinearConfig, PretrainConfig, SupervisedConfig};

/// The settings of `supcon run`: one data set, encoder, budget, seed and device for the
/// SupCon pre-training and the cross-entropy baseline alike.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteSettings {
    /// The data of all three stages. Default: pre-training's.
    pub data: DataConfig,
    /// The encoder of both methods. Default: pre-training's.
    pub encoder: EncoderConfig,
    /// Epochs of SupCon pre-training and of the cross-entropy baseline. Default 20.
    pub epochs: usize,
    /// Images per batch (both methods). Default 128.
    pub batch_size: usize,
    /// Linear-probe epochs (on cached features). Default 40.
    pub linear_epochs: usize,
    /// Seed of all three stages. Default 0.
    pub seed: u64,
    /// Device of all three stages. Default: the CPU.
    pub device: DeviceChoice,
}

impl Default for SuiteSettings {
    fn default() -> Self {
        let pre = PretrainConfig::default();
        Self {
            data: pre.data,
            encoder: pre.model.encoder,
            epochs: 20,
            batch_size: 128,
            linear_epochs: 40,
            seed: 0,
            device: DeviceChoice::default(),
        }
    }
}

impl SuiteSettings {
    /// The three stages' configurations for output directory `out`.
    pub fn plan(&self, out: &Path) -> SuitePlan {
        let (epochs, batch_size, seed, device) =
            (self.epochs, self.batch_size, self.seed, self.device);
        let mut pre = PretrainConfig {
            data: self.data.clone(),
            epochs,
            batch_size,
            seed,
            checkpoint_every: epochs,
            device,
            ..PretrainConfig::default()
        };
        pre.model.encoder = self.encoder.clone();
        let ce = SupervisedConfig {
            data: pre.data.clone(),
            encoder: pre.model.encoder.clone(),
            augment: pre.augment.clone(),
            epochs,
            batch_size,
            seed,
            checkpoint_every: epochs,
            device,
            optimizer: pre.optimizer.clone(),
            ..SupervisedConfig::default()
        };
        let linear = LinearConfig {
            encoder_run: out.join("supcon"),
            epochs: self.linear_epochs,
            seed,
            device,
            ..LinearConfig::default()
        };
        SuitePlan {
            pretrain: pre,
            linear,
            ce,
        }
    }
}

/// What `supcon run` trains, saved as its `run.json` so that a resume continues the same
/// three stages (in `supcon/`, `linear/` and `ce/`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuitePlan {
    /// Stage 1: SupCon pre-training, in `supcon/`.
    pub pretrain: PretrainConfig,
    /// Stage 2: the linear probe on stage 1's encoder, in `linear/`.
    pub linear: LinearConfig,
    /// Stage 3: the cross-entropy baseline, in `ce/`.
    pub ce: SupervisedConfig,
}

impl SuitePlan {
    /// Reads the plan of the `supcon run` in `dir` (its `run.json`).
    ///
    /// # Errors
    /// [`SuiteError::Out`] when `dir` has no `run.json`; [`SuiteError::Read`] and
    /// [`SuiteError::Plan`] naming the file.
    pub fn read(dir: &Path) -> Result<Self, SuiteError> {
        let path = dir.join("run.json");
        if !path.is_file() {
            return Err(SuiteError::Out {
                path,
                reason: "not a `supcon run` directory (no run.json)".into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| SuiteError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SuiteError::Plan { path, source })
    }

    /// Writes the plan as `dir/run.json`, atomically.
    ///
    /// # Errors
    /// [`SuiteError::Write`] naming the file.
    pub fn write(&self, dir: &Path) -> Result<(), SuiteError> {
        let path = dir.join("run.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| SuiteError::Write {
            path: path.clone(),
            source: e.into(),
        })?;
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|source| SuiteError::Write { path, source })?;
        let made_from = MadeFrom::training(&self.pretrain.data.spec, None::<&String>);
        Manifest::new(RunKind::Run, made_from)
            .write(dir)
            .map_err(|e| SuiteError::Train(e.into()))
    }
}
