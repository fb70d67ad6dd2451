//! What stops a sweep.

use std::path::PathBuf;

/// What stopped a sweep (a failed grid point does not: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A `--grid` or `--methods` value, or a setting, is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The output directory cannot be used.
    #[error("{path}: {reason}")]
    Out {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Writing `sweep.json` failed.
    #[error(transparent)]
    RunDir(#[from] crate::train::RunDirError),
}
