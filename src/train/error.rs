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
    /// A tensor could not be read back from its device; `what` names it.
    #[error("reading {what} from the device: {reason}")]
    Readback {
        /// What was being read (projections, logits, ...).
        what: &'static str,
        /// The backend's message.
        reason: String,
    },
    /// Two modules that must share an architecture (a replica, the momentum encoder)
    /// do not.
    #[error("{0}: the modules differ in architecture")]
    Architecture(&'static str),
    /// A device worker of data-parallel training failed.
    #[error("a device worker failed: {0}")]
    Worker(String),
    /// A file of a stage's own checkpoint state (memory bank, key encoder) is missing or
    /// does not fit.
    #[error("{path}: {reason}")]
    State {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A run given as the source of a stage (the probe's encoder run, a fine-tuning's
    /// pre-trained model) is of the wrong kind or cannot be used; the message names it.
    #[error("{0}")]
    Source(String),
    /// A linear probe and its encoder run no longer fit together (the encoder was
    /// retrained, resumed, or changed during the probe); the message names the files.
    #[error("{0}")]
    StaleEncoder(String),
    /// The ranks of a multi-process job (MPI) were started with different settings or
    /// data; every rank reports the same.
    #[error(
        "rank {rank} of {ranks} has another {what} than rank 0 (hash {theirs:016x}, rank 0: \
         {root:016x}); start every rank with the same flags, files and data"
    )]
    RanksDiffer {
        /// The first rank that differs from rank 0.
        rank: usize,
        /// Ranks in the job.
        ranks: usize,
        /// What differs (`configuration`, `data`, ...).
        what: String,
        /// That rank's hash.
        theirs: u64,
        /// Rank 0's hash.
        root: u64,
    },
    /// A collective operation of a multi-process job could not be done; the message says
    /// which.
    #[error("MPI: {0}")]
    Collective(String),
    /// The data cannot be converted to the encoder's input; the message names the data.
    #[error("{0}")]
    Conversion(String),
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
    Eval(#[from] crate::metrics::EvalError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The run directory could not be written or read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A long phase gave up on a stop request (Ctrl-C) before any checkpoint.
    #[error(transparent)]
    Stopped(#[from] crate::stop::Stopped),
    /// A long phase (feature caching, decoding) gave up on a stop request after the run
    /// directory was written: nothing of the run is lost, and `resume` continues it.
    #[error("{stopped}; nothing of the run is lost: continue it with: {resume}")]
    StoppedResumable {
        /// What was under way.
        stopped: crate::stop::Stopped,
        /// The command that continues the run.
        resume: String,
    },
    /// An output path that would overwrite a run's file, an input, or a dataset.
    #[error(transparent)]
    Output(#[from] crate::outputs::OutputError),
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "the loss is {value} at epoch {epoch}, step {step}: training stopped ({}); the usual \
         causes are a learning rate too high for the batch size and optimiser, or a setting \
         that scales the loss (a very low temperature, a temperature far below the base \
         temperature)",
        match .checkpoint.as_ref().filter(|p| p.join("state.json").is_file()) {
            Some(p) => format!("the last good checkpoint is kept at {}", p.display()),
            None => "no checkpoint was written before it".to_string(),
        }
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
    /// An image could not be read mid-epoch (a streamed dataset's file vanished, turned
    /// unreadable or failed to decode); a checkpoint was saved before the batch that
    /// needed it, and `resume` continues from it, bit for bit, once the file is readable
    /// again.
    #[error(
        "{reason}; in epoch {epoch} after step {step}: checkpoint saved in {}; once the \
         file is readable again, continue with: {resume}",
        .checkpoint.display()
    )]
    DataFailed {
        /// The batcher's message, naming the file.
        reason: String,
        /// The epoch in progress (1-based).
        epoch: usize,
        /// Optimiser steps completed.
        step: usize,
        /// The checkpoint written.
        checkpoint: std::path::PathBuf,
        /// The command that continues the run.
        resume: String,
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
