//! What stops `supcon run`. Every message names the directory or file.

use std::path::PathBuf;

use crate::dirlock::LockError;
use crate::train::{RunDirError, TrainError};

/// What stops a `supcon run` (or its resume).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The output directory cannot take this run (it holds a finished run, an
    /// unfinished one, other runs), or the directory to resume is not a `supcon run`.
    #[error("{}: {reason}", path.display())]
    Out {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting of the run is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The output directory is locked by another command, or cannot be locked.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A file of the run could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A finished stage's report could not be read.
    #[error("reading {}", path.display())]
    Report {
        /// The stage's `report.json`.
        path: PathBuf,
        /// Why.
        source: RunDirError,
    },
    /// `run.json` is not a plan of this version.
    #[error("{}: not a valid run.json", path.display())]
    Plan {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The output directory could not be created.
    #[error("creating {}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the run could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stage failed or was interrupted.
    #[error(transparent)]
    Train(#[from] TrainError),
}
