//! Errors of the data loaders.

use std::path::PathBuf;

/// What went wrong while reading a dataset or parsing a dataset spec.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file exists but its content is not what the format requires.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        reason: String,
    },
    /// A dataset spec or option was invalid.
    #[error("invalid dataset spec '{spec}': {reason}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What was expected.
        reason: String,
    },
    /// A required file or directory does not exist.
    #[error("{path}: not found; expected {expected}")]
    Missing {
        /// The file or directory that was looked for (or searched in).
        path: PathBuf,
        /// What should be there.
        expected: String,
    },
    /// An in-memory dataset (or a request on it) is inconsistent, e.g. a label out of
    /// range or too few samples of a class for a few-shot subset.
    #[error("{what}: {reason}")]
    Invalid {
        /// The dataset or operation concerned.
        what: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// Decoding gave up on a stop request (Ctrl-C).
    #[error(transparent)]
    Stopped(#[from] crate::stop::Stopped),
}
