//! A run directory: `config.json` (complete and reloadable), `metrics.jsonl` (one JSON
//! object per line: per-step loss/LR, per-epoch metrics), `checkpoints/` and the final
//! model. Every file but the append-only metrics log is written atomically.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::json_files::io_err;
pub use super::json_files::{RunDirError, read_json, write_json};
use super::manifest::{MadeFrom, Manifest, RunKind};
use super::metrics_log::MetricsLog;
use crate::data::DataSummary;
use crate::dirlock::DirLock;

/// Checks that the run in `dir` finished: it has its `report.json` or its final weights
/// file `weights`. A folder without `config.json` is not a run and passes (other checks
/// name it).
///
/// # Errors
/// [`RunDirError::Unfinished`] saying where the run stopped and the `--resume` command
/// that continues it (`supcon run --resume` for a stage of `supcon run`).
pub fn check_finished(dir: &Path, weights: &str) -> Result<(), RunDirError> {
    if !dir.join("config.json").is_file()
        || dir.join("report.json").exists()
        || dir.join(weights).exists()
    {
        return Ok(());
    }
    let resume = resume_command(dir);
    let newest = fs::read_dir(dir.join("checkpoints"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("state.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max();
    let stopped = match newest {
        Some(name) => format!("it stopped after checkpoint checkpoints/{name}"),
        None => "it stopped before its first checkpoint".into(),
    };
    Err(RunDirError::Unfinished {
        path: dir.to_path_buf(),
        stopped,
        weights: weights.into(),
        resume,
    })
}

/// The command that continues the run in `dir`: `supcon STAGE --resume DIR`, the stage
/// told by its manifest (`train-ce` when it cannot be told), or `supcon run --resume OUT`
/// for a stage of `supcon run`.
pub fn resume_command(dir: &Path) -> String {
    let stage = super::manifest::read_manifest(dir).map_or("train-ce", |m| m.kind.command());
    match dir.parent() {
        Some(p) if p.join("run.json").is_file() => {
            format!("supcon run --resume {}", p.display())
        }
        _ => format!("supcon {stage} --resume {}", dir.display()),
    }
}

/// Files that mark a directory as the output of a command other than a training stage.
const OTHER_OUTPUTS: [(&str, &str); 3] = [
    ("run.json", "a `supcon run` output"),
    ("sweep.json", "a sweep"),
    ("classifier.json", "an exported model"),
];

/// A run directory on disk. One opened for writing ([`create`](Self::create),
/// [`open_locked`](Self::open_locked)) holds the directory's lock
/// ([`crate::dirlock`]) for as long as it or a clone lives.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
    lock: Option<std::sync::Arc<DirLock>>,
    /// Whether this process writes the run's files: false for the ranks of an MPI job
    /// other than rank 0 ([`Self::follower`]).
    writes: bool,
}

impl RunDir {
    /// Creates a fresh run directory (and its parents) and locks it.
    ///
    /// # Errors
    /// [`RunDirError::Locked`] when another process writes there;
    /// [`RunDirError::Exists`] when it already holds a `config.json`;
    /// [`RunDirError::Other`] when it holds another command's output; I/O errors.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, RunDirError> {
        let root = root.into();
        // Locked before looking inside: of two writers racing for one folder, the second
        // fails here, or (after the first has finished) on its config.json.
        let lock = DirLock::create(&root)?;
        if root.join("config.json").exists() {
            return Err(RunDirError::Exists(root));
        }
        if let Some((file, what)) = OTHER_OUTPUTS.iter().find(|(f, _)| root.join(f).exists()) {
            return Err(RunDirError::Other {
                path: root,
                what,
                file,
            });
        }
        fs::create_dir_all(root.join("checkpoints")).map_err(io_err(&root))?;
        Ok(Self {
            root,
            lock: Some(std::sync::Arc::new(lock)),
            writes: true,
        })
    }

    /// Opens an existing run directory to write into it (a resume, `eval`'s `eval.json`),
    /// holding its lock.
    ///
    /// # Errors
    /// As [`open`](Self::open), or [`RunDirError::Locked`].
    pub fn open_locked(root: impl Into<PathBuf>) -> Result<Self, RunDirError> {
        let mut run = Self::open(root)?;
        run.lock = Some(std::sync::Arc::new(DirLock::acquire(&run.root)?));
        Ok(run)
    }

    /// Opens an existing run directory.
    ///
    /// # Errors
    /// When the directory or its `config.json` is missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, RunDirError> {
        let root = root.into();
        let config = root.join("config.json");
        if !config.is_file() {
            return Err(RunDirError::Io {
                path: config,
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    "not a run directory (no config.json)",
                ),
            });
        }
        Ok(Self {
            root,
            lock: None,
            writes: true,
        })
    }

    /// The run directory `root` as seen by a process that trains with the one that writes
    /// it (an MPI rank other than rank 0): every write through it ([`Self::write_json`],
    /// the manifest, `data.json`, the metrics log, checkpoints) is skipped; reads go to
    /// `root`.
    pub fn follower(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            lock: None,
            writes: false,
        }
    }

    /// Whether this process writes the run's files (not a [`Self::follower`]).
    pub fn writes(&self) -> bool {
        self.writes
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A file inside the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes the run's `manifest.json`: its kind and what it was made from.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn write_manifest(&self, kind: RunKind, made_from: MadeFrom) -> Result<(), RunDirError> {
        if !self.writes {
            return Ok(());
        }
        Manifest::new(kind, made_from).write(&self.root)
    }

    /// Writes `value` as pretty JSON to `name`, atomically.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunDirError> {
        if !self.writes {
            return Ok(());
        }
        write_json(&self.file(name), value)
    }

    /// Reads JSON file `name`.
    ///
    /// # Errors
    /// Missing file, or content that does not parse as `T` (unknown or missing fields).
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, RunDirError> {
        read_json(&self.file(name))
    }

    /// Records `summary` as the run's `data.json` when it has none (a new run, or one killed
    /// before writing it); otherwise checks that the data loaded now is the data recorded,
    /// so that a resumed run cannot silently continue on other data. A follower checks
    /// nothing (its data is compared with rank 0's instead).
    ///
    /// # Errors
    /// [`RunDirError::DataChanged`] when they differ; I/O and JSON errors.
    pub fn check_data(&self, summary: &DataSummary) -> Result<(), RunDirError> {
        if !self.writes {
            return Ok(());
        }
        let path = self.file("data.json");
        if !path.is_file() {
            return self.write_json("data.json", summary);
        }
        let recorded: DataSummary = read_json(&path)?;
        if &recorded == summary {
            return Ok(());
        }
        let words = |d: &DataSummary| {
            format!(
                "{} ({} train / {} test images, {} classes, mean {:?})",
                d.name, d.train_count, d.test_count, d.num_classes, d.mean
            )
        };
        Err(RunDirError::DataChanged {
            path,
            was: words(&recorded),
            now: words(summary),
        })
    }

    /// Opens the metrics log for appending (a follower's discards its records).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn metrics(&self) -> Result<MetricsLog, RunDirError> {
        if !self.writes {
            return Ok(MetricsLog::discard(self.file("metrics.jsonl")));
        }
        MetricsLog::open(self.file("metrics.jsonl"))
    }

    /// The checkpoint directory of one epoch (1-based epoch count completed).
    pub fn checkpoint_dir(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir_at(epoch, 0)
    }

    /// The checkpoint directory after `epoch` complete epochs and `batch` batches of the
    /// next: `epoch-NNNN` at an epoch boundary (`batch == 0`), `epoch-NNNN-batch-NNNNNN`
    /// mid-epoch (an interrupted run).
    pub fn checkpoint_dir_at(&self, epoch: usize, batch: usize) -> PathBuf {
        let name = if batch == 0 {
            format!("epoch-{epoch:04}")
        } else {
            format!("epoch-{epoch:04}-batch-{batch:06}")
        };
        self.root.join("checkpoints").join(name)
    }
}

/// The image shape `[channels, height, width]` recorded in the `data.json` of the run in
/// `dir`, when it has one (only that field is read, so summaries written by earlier
/// versions still load).
///
/// # Errors
/// I/O or JSON errors naming the file, or a `shape` that is not three numbers.
pub fn recorded_shape(dir: &Path) -> Result<Option<[usize; 3]>, RunDirError> {
    recorded_field(dir, "shape")
}

/// The class names recorded in the `data.json` of the run in `dir`, when it has them
/// (only that field is read, as for [`recorded_shape`]).
///
/// # Errors
/// I/O or JSON errors naming the file, or `class_names` that is not a list of strings.
pub fn recorded_class_names(dir: &Path) -> Result<Option<Vec<String>>, RunDirError> {
    recorded_field(dir, "class_names")
}

/// One field of the run's `data.json` (`None` without the file or the field).
fn recorded_field<T: DeserializeOwned>(dir: &Path, field: &str) -> Result<Option<T>, RunDirError> {
    let path = dir.join("data.json");
    if !path.exists() {
        return Ok(None);
    }
    let summary: serde_json::Value = read_json(&path)?;
    summary
        .get(field)
        .map(|value| {
            serde_json::from_value(value.clone()).map_err(|e| RunDirError::Json {
                path: path.clone(),
                reason: format!("{field}: {e}"),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refuses_an_existing_run_and_config_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("r")).unwrap();
        run.write_json("config.json", &serde_json::json!({"a": 1}))
            .unwrap();
        let path = run.path().to_path_buf();
        // While `run` holds the folder, a second writer is refused by the lock ...
        let err = RunDir::create(&path).unwrap_err();
        assert!(err.to_string().contains("another supcon process"), "{err}");
        drop(run);
        // ... and afterwards by the run it finds there.
        let err = RunDir::create(&path).unwrap_err();
        assert!(err.to_string().contains("already holds a run"), "{err}");
        let run = RunDir::open(&path).unwrap();
        let cfg: serde_json::Value = RunDir::open(run.path())
            .unwrap()
            .read_json("config.json")
            .unwrap();
        assert_eq!(cfg["a"], 1);
    }
}
