//! Stage 1's configuration: the method (SupCon or SimCLR), the loss implementation, and
//! every setting of a pre-training run, with the checks made before any data is loaded
//! ([`PretrainConfig::validate`]) and once the data is known ([`check_contrast`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::setup::DataConfig;
use super::{OptimizerConfig, ScheduleConfig, TrainError};
use crate::augment::AugmentConfig;
use crate::device::DeviceChoice;
use crate::loss::SupConLossConfig;
use crate::model::{EncoderInit, SupConModelConfig};

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
    /// Trained by this many MPI ranks with one global batch (`mpirun -np N supcon
    /// pretrain --distributed mpi`, see [`super::ranked`]); `None` (the default): by one
    /// process. A run resumes with the same number of ranks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpi_ranks: Option<usize>,
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
            mpi_ranks: None,
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
        if let Some(ranks) = self.mpi_ranks {
            self.check_mpi(ranks)?;
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

impl PretrainConfig {
    /// Checks that a batch can be split over `ranks` MPI ranks and their devices.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the flags.
    fn check_mpi(&self, ranks: usize) -> Result<(), TrainError> {
        let devices = self.devices.len().max(1);
        if ranks == 0 || ranks * devices > self.batch_size {
            return Err(TrainError::Config(format!(
                "{ranks} MPI ranks of {devices} device(s) each for a batch of {}: expected at \
                 most {} devices in all (at least one sample per device)",
                self.batch_size, self.batch_size
            )));
        }
        Ok(())
    }
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
