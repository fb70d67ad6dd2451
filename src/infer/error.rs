//! Errors of inference, embedding and export.

use std::path::PathBuf;

use crate::data::DataError;
use crate::model::ModelError;
use crate::train::{RunDirError, TrainError};

/// What went wrong using a trained model.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// An image file that cannot be read or decoded.
    #[error("{}: {reason}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// An I/O error on a named file or folder.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An invalid input or option (an image that cannot be converted, a bad `top_k`,
    /// an unsupported output extension, ...); the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A model file or directory that is inconsistent (e.g. `classifier.json` that does
    /// not describe its weights).
    #[error("{}: {reason}", path.display())]
    BadModel {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A model could not be built or its weights loaded (architecture mismatch included).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A run directory, its configuration or its data could not be used.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A run directory file could not be read or written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// An output path that would overwrite a run's file, an input, or a dataset.
    #[error(transparent)]
    Output(#[from] crate::outputs::OutputError),
}

impl InferError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
