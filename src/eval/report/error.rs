//! What stops a report.

use std::path::PathBuf;

use crate::eval::evaluate::RunEvalError;

/// What stopped the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A directory could not be read as a run.
    #[error(transparent)]
    Run(#[from] RunEvalError),
    /// A plot could not be drawn.
    #[error("drawing plot '{plot}': {reason}")]
    Plot {
        /// Which plot.
        plot: String,
        /// The plotters error.
        reason: String,
    },
    /// The report could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No run given.
    #[error("no run directory given")]
    Empty,
}
