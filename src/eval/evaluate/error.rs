//! What stops an evaluation.

use std::path::{Path, PathBuf};

use crate::data::DataError;
use crate::eval::EvalError;
use crate::model::ModelError;
use crate::train::TrainError;
use crate::train::run_dir::RunDirError;

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

pub(super) fn run_err(path: &Path, reason: impl Into<String>) -> RunEvalError {
    RunEvalError::Run {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
