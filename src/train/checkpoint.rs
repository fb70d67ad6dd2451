//! Checkpoints: the model weights (safetensors), the optimiser state (burn's record
//! format) and the loop position, in `checkpoints/epoch-NNNN/` of a run directory.
//!
//! A checkpoint directory is complete once its `state.json` exists: that file is written
//! last, atomically, after the weights and the optimiser state (each atomic too). A crash
//! at any moment therefore leaves every `state.json`-bearing checkpoint loadable, and
//! [`latest`] only ever returns complete ones.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleSnapshot;
use serde::{Deserialize, Serialize};

use super::run_dir::{RunDir, RunDirError, read_json, write_json};
use crate::fsutil::write_atomic_with;
use crate::model::{ModelError, load_weights, save_weights};

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
    /// Weights I/O.
    #[error(transparent)]
    Model(#[from] ModelError),
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

/// Writes a checkpoint for `state.epoch` and returns its directory.
///
/// # Errors
/// Any I/O error, naming the file; an earlier checkpoint stays intact.
pub fn save<M: Module + ModuleSnapshot>(
    run: &RunDir,
    model: &M,
    optim: &ModuleOptimizer,
    state: &LoopState,
) -> Result<PathBuf, CheckpointError> {
    let dir = run.checkpoint_dir(state.epoch);
    fs::create_dir_all(&dir).map_err(|source| RunDirError::Io {
        path: dir.clone(),
        source,
    })?;
    // A previous, incomplete attempt at this epoch must not look complete while we write.
    let _ = fs::remove_file(dir.join("state.json"));
    save_weights(model, dir.join("model.safetensors"))?;
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
    write_json(&dir.join("state.json"), state)?;
    Ok(dir)
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

/// Loads a checkpoint directory into `model` and `optim`.
///
/// # Errors
/// Missing or incompatible files, naming them.
pub fn load<M: Module + ModuleSnapshot>(
    dir: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, LoopState), CheckpointError> {
    let state: LoopState = read_json(&dir.join("state.json"))?;
    let model = load_weights(model, dir.join("model.safetensors"))?;
    let optim_path = dir.join("optim.bpk");
    let optim = optim
        .load(&optim_path)
        .map_err(|e| CheckpointError::Optimizer {
            path: optim_path.clone(),
            reason: format!("{e:?}"),
        })?;
    Ok((model, optim, state))
}
