//! Errors of model construction and weight I/O.

use std::path::PathBuf;

/// What went wrong building, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An invalid model configuration or name.
    #[error("{0}")]
    Config(String),

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (or its temporary sibling) being read or written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A weights file is damaged, not in the expected format, or burn-store refused it.
    #[error("{}: {message}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },

    /// A weights file holds tensors for a different architecture than the model it is
    /// loaded into (missing or unexpected tensors, or tensors of another shape).
    #[error("{}: weights do not fit this model: {details}", path.display())]
    ArchitectureMismatch {
        /// The weights file.
        path: PathBuf,
        /// Which tensors are missing, unexpected, or of the wrong shape.
        details: String,
    },
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn weights(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Weights {
            path: path.into(),
            message: message.into(),
        }
    }
}
