//! The files of a run directory as JSON, and the error of their I/O: read and written
//! whole (atomically), each error naming the file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dirlock::LockError;
use crate::fsutil::write_atomic;

/// Errors of run-directory I/O, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A JSON file that does not parse as what was expected.
    #[error("{path}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// The data loaded now is not the data the run started with.
    #[error(
        "{path}: the run was trained on {was}, but its configuration now loads {now}; \
         resume with the original data"
    )]
    DataChanged {
        /// The run's `data.json`.
        path: PathBuf,
        /// The recorded data, in words.
        was: String,
        /// The data loaded now, in words.
        now: String,
    },
    /// The data a run's classifier answers on has other classes or another image shape
    /// than the run recorded (its files changed since it was trained).
    #[error(
        "{path}: the data {spec} has changed since the run was trained ({differences}); the \
         run's classifier answers with the recorded classes and shape, so its results on \
         this data would be wrong; restore the data, or train a new run on it"
    )]
    DataDiffers {
        /// The run's `data.json`.
        path: PathBuf,
        /// The data's spec.
        spec: String,
        /// What differs, in words.
        differences: String,
    },
    /// The directory already holds a run.
    #[error("{0}: already holds a run (config.json exists); pick another --out, or --resume it")]
    Exists(PathBuf),
    /// The directory holds the output of another command (`supcon run`, a sweep, an export).
    #[error("{path}: holds {what} ({file} exists); pick another --out")]
    Other {
        /// The directory.
        path: PathBuf,
        /// What it holds, in words.
        what: &'static str,
        /// The file that says so.
        file: &'static str,
    },
    /// Another process writes into the directory.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// A run stopped (Ctrl-C, a crash) before it wrote its final weights.
    #[error(
        "{path}: the run is unfinished ({stopped}) and has no {weights} yet; continue it \
         with: {resume}"
    )]
    Unfinished {
        /// The run directory.
        path: PathBuf,
        /// Where it stopped, in words.
        stopped: String,
        /// The final weights file it lacks.
        weights: String,
        /// The command that continues it.
        resume: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `value` as pretty JSON to `path`, atomically.
///
/// # Errors
/// I/O errors naming the file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunDirError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| RunDirError::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes()).map_err(io_err(path))
}

/// Reads and parses a JSON file.
///
/// # Errors
/// Missing file, or content that does not parse as `T`, naming the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RunDirError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| RunDirError::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
