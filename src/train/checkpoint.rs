//! Checkpoints: the model and the optimiser state (burn's burnpack record format, which
//! keeps each parameter's id, so the optimiser state keyed by those ids reattaches to the
//! restored parameters) and the loop position, in `checkpoints/epoch-NNNN/` of a run
//! directory. Final weights for users are written as safetensors elsewhere.
//!
//! A checkpoint directory is complete once its `state.json` exists: that file is written
//! last, atomically, after the weights and the optimiser state (each atomic too). A crash
//! at any moment therefore leaves every `state.json`-bearing checkpoint loadable, and
//! [`latest`] only ever returns complete ones.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::run_dir::{RunDir, RunDirError, read_json, truncate_metrics, write_json};
use crate::fsutil::write_atomic_with;

/// Where the loop stands when a checkpoint is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps completed.
    pub step: usize,
    /// The last epoch's mean training loss.
    pub loss: f64,
}

/// Errors while writing or reading a checkpoint, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Run directory I/O.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// Model state I/O.
    #[error("{path}: model state: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Optimiser state I/O.
    #[error("{path}: optimizer state: {reason}")]
    Optimizer {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No complete checkpoint in the run.
    #[error("{0}: no complete checkpoint (no checkpoints/epoch-*/state.json)")]
    None(PathBuf),
}

/// Writes a checkpoint for `state.epoch` and returns its directory. `extra` writes any
/// further state into the directory before it is marked complete.
///
/// # Errors
/// Any I/O error, naming the file; an earlier checkpoint stays intact.
pub fn save<M: Module>(
    run: &RunDir,
    model: &M,
    optim: &ModuleOptimizer,
    state: &LoopState,
    extra: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<PathBuf, CheckpointError> {
    let dir = run.checkpoint_dir(state.epoch);
    fs::create_dir_all(&dir).map_err(|source| RunDirError::Io {
        path: dir.clone(),
        source,
    })?;
    // A previous, incomplete attempt at this epoch must not look complete while we write.
    let _ = fs::remove_file(dir.join("state.json"));
    let model_path = dir.join("model.bpk");
    write_atomic_with(&model_path, |tmp| {
        model
            .clone()
            .save_file(tmp)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))
    })
    .map_err(|e| CheckpointError::Record {
        path: model_path.clone(),
        reason: e.to_string(),
    })?;
    let optim_path = dir.join("optim.bpk");
    write_atomic_with(&optim_path, |tmp| {
        optim
            .save(tmp)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))
    })
    .map_err(|e| CheckpointError::Optimizer {
        path: optim_path.clone(),
        reason: e.to_string(),
    })?;
    // Stage-specific state (memory bank, key encoder) before the completeness marker.
    extra(&dir).map_err(|reason| CheckpointError::Record {
        path: dir.clone(),
        reason,
    })?;
    write_json(&dir.join("state.json"), state)?;
    prune(run, KEEP_CHECKPOINTS);
    Ok(dir)
}

/// Complete checkpoints kept per run; older ones are deleted after a successful save.
pub const KEEP_CHECKPOINTS: usize = 2;

/// Deletes all but the newest `keep` checkpoints (best effort: a failure to delete an old
/// checkpoint never fails training).
fn prune(run: &RunDir, keep: usize) {
    let Ok(entries) = fs::read_dir(run.path().join("checkpoints")) else {
        return;
    };
    let mut epochs: Vec<(usize, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let epoch = name.strip_prefix("epoch-")?.parse::<usize>().ok()?;
            Some((epoch, e.path()))
        })
        .collect();
    epochs.sort();
    let n = epochs.len();
    for (_, path) in epochs.into_iter().take(n.saturating_sub(keep)) {
        let _ = fs::remove_dir_all(path);
    }
}

/// The newest complete checkpoint of a run, if any.
///
/// # Errors
/// I/O errors reading the checkpoint directory.
pub fn latest(run: &RunDir) -> Result<Option<PathBuf>, CheckpointError> {
    let root = run.path().join("checkpoints");
    let Ok(entries) = fs::read_dir(&root) else {
        return Ok(None);
    };
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(epoch) = name
            .strip_prefix("epoch-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if entry.path().join("state.json").is_file()
            && best.as_ref().is_none_or(|(e, _)| epoch > *e)
        {
            best = Some((epoch, entry.path()));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Where a resumed run continues: its newest complete checkpoint, or — when a crash came
/// before the first one — nothing, with the metrics of the lost partial epoch dropped.
///
/// # Errors
/// I/O errors reading the checkpoints or rewriting the metrics log.
pub fn resume_point(run: &RunDir) -> Result<Option<PathBuf>, CheckpointError> {
    let last = latest(run)?;
    if last.is_none() {
        truncate_metrics(&run.file("metrics.jsonl"), 0, 0)?;
    }
    Ok(last)
}

/// Loads a checkpoint directory into `model` and `optim`.
///
/// # Errors
/// Missing or incompatible files, naming them.
pub fn load<M: Module>(
    dir: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, LoopState), CheckpointError> {
    let state: LoopState = read_json(&dir.join("state.json"))?;
    let model_path = dir.join("model.bpk");
    let model = model
        .try_load_file(&model_path)
        .map_err(|e| CheckpointError::Record {
            path: model_path.clone(),
            reason: format!("{e:?}"),
        })?;
    let optim_path = dir.join("optim.bpk");
    let optim = optim
        .load(&optim_path)
        .map_err(|e| CheckpointError::Optimizer {
            path: optim_path.clone(),
            reason: format!("{e:?}"),
        })?;
    Ok((model, optim, state))
}
