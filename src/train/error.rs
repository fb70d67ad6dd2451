//! Errors of the training stages: every lower-level error, plus what only a training loop
//! can detect (a diverging loss, an invalid combination of options).

use crate::augment::AugmentError;
use crate::data::DataError;
use crate::data::batcher::BatcherError;
use crate::loss::LossError;
use crate::model::ModelError;

use super::checkpoint::CheckpointError;
use super::run_dir::RunDirError;

/// What stopped a training stage.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An option or configuration value is invalid; the message names it.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The device could not be started.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    /// The dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Batching failed.
    #[error(transparent)]
    Batcher(#[from] BatcherError),
    /// The augmentation could not be built.
    #[error(transparent)]
    Augment(#[from] AugmentError),
    /// The model could not be built, saved or loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The loss rejected its input.
    #[error(transparent)]
    Loss(#[from] LossError),
    /// An evaluation metric rejected its input.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The run directory could not be written or read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "the loss is {value} at epoch {epoch}, step {step}: training stopped (lower the learning rate; the last good checkpoint is kept{})",
        .checkpoint.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default()
    )]
    NonFinite {
        /// The bad value.
        value: f64,
        /// Epoch (1-based) in which it happened.
        epoch: usize,
        /// Global optimiser step (1-based).
        step: usize,
        /// The last complete checkpoint, if any.
        checkpoint: Option<std::path::PathBuf>,
    },
    /// The user interrupted training (Ctrl-C, SIGTERM); a checkpoint was saved at the
    /// step where it stopped, and `resume` continues from it bit for bit.
    #[error(
        "interrupted in epoch {epoch} after step {step}: checkpoint saved in {}; continue with: {resume}",
        .checkpoint.display()
    )]
    Interrupted {
        /// The epoch in progress (1-based).
        epoch: usize,
        /// Optimiser steps completed.
        step: usize,
        /// The checkpoint written at the stop.
        checkpoint: std::path::PathBuf,
        /// The command that continues the run (`supcon <stage> --resume <run>`).
        resume: String,
    },
}
