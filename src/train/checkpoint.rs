//! Checkpoints: the model and the optimiser state (burn's burnpack record format, which
//! keeps each parameter's id, so the optimiser state keyed by those ids reattaches to the
//! restored parameters) and the loop position, in `checkpoints/epoch-NNNN/` of a run
//! directory (`epoch-NNNN-batch-NNNNNN/` for a checkpoint taken mid-epoch, when a run is
//! interrupted). Final weights for users are written as safetensors elsewhere.
//!
//! A checkpoint directory is complete once its `state.json` exists: that file is written
//! last, atomically, after the weights and the optimiser state (each atomic too: temporary
//! file, fsync, rename, fsync of the directory). A crash, a kill or a full disk at any
//! moment therefore leaves every `state.json`-bearing checkpoint loadable, and [`latest`]
//! only ever returns complete ones. Pruning unmarks a checkpoint (removes its
//! `state.json`) before deleting its files, so a half-deleted one never looks complete.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::metrics_log::truncate_metrics;
use super::run_dir::{RunDir, RunDirError, read_json, write_json};
use crate::fsutil::write_atomic_with;

/// Where the loop stands when a checkpoint is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps completed.
    pub step: usize,
    /// The last epoch's mean training loss (NaN, written as `null`, before the first
    /// epoch ends).
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    /// Batches of epoch `epoch + 1` already done (a mid-epoch checkpoint); 0 at an epoch
    /// boundary. Batches are a pure function of (seed, epoch, batch index), so a resumed
    /// run skips these and continues with the same batches.
    #[serde(default)]
    pub batch: usize,
    /// The sum of the losses of those `batch` batches (in order), from which the epoch's
    /// mean loss continues exactly.
    #[serde(default)]
    pub epoch_loss_sum: f64,
}

/// JSON has no NaN: `serde_json` writes it as `null`, read back here as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl LoopState {
    /// The state at the end of epoch `epoch` (a boundary).
    pub fn epoch_end(epoch: usize, step: usize, loss: f64) -> Self {
        Self {
            epoch,
            step,
            loss,
            batch: 0,
            epoch_loss_sum: 0.0,
        }
    }

    /// The state `batch` batches into epoch `epoch + 1` (a mid-epoch checkpoint), whose
    /// losses summed to `epoch_loss_sum`; `loss` is the last complete epoch's.
    pub fn within_epoch(
        epoch: usize,
        step: usize,
        loss: f64,
        batch: usize,
        epoch_loss_sum: f64,
    ) -> Self {
        Self {
            batch,
            epoch_loss_sum,
            ..Self::epoch_end(epoch, step, loss)
        }
    }
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
    /// Stage-specific state (memory bank, key encoder) could not be written; the message
    /// names the file.
    #[error("{reason}")]
    Extra {
        /// The checkpoint directory.
        dir: PathBuf,
        /// What failed, naming the file.
        reason: String,
    },
    /// The run already finished (it has its `report.json`): nothing to resume.
    #[error("{0}: the run already finished; nothing to resume (start a new run with --out)")]
    Finished(PathBuf),
    /// No complete checkpoint in the run.
    #[error("{0}: no complete checkpoint (no checkpoints/epoch-*/state.json)")]
    None(PathBuf),
    /// Every complete checkpoint of the run fails to load.
    #[error(
        "{}: no checkpoint of the run can be loaded: {}; to start the run over, remove \
         {}/checkpoints and resume again, or start a new run with --out",
        .run.display(),
        .reasons.join("; "),
        .run.display()
    )]
    Unreadable {
        /// The run directory.
        run: PathBuf,
        /// Why each complete checkpoint (newest first) cannot be loaded, naming the file.
        reasons: Vec<String>,
    },
}

/// Writes a checkpoint for `state.epoch` and returns its directory. `extra` writes any
/// further state into the directory before it is marked complete. Through a
/// [follower](RunDir::follower) nothing is written: the directory is the one the writing
/// process writes.
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
    let dir = run.checkpoint_dir_at(state.epoch, state.batch);
    if !run.writes() {
        return Ok(dir);
    }
    fs::create_dir_all(&dir).map_err(|source| RunDirError::Io {
        path: dir.clone(),
        source,
    })?;
    // A previous attempt at this position must not look complete while we write.
    let _ = fs::remove_file(dir.join("state.json"));
    // Temporary files a killed earlier attempt left behind.
    remove_stale_temps(&dir);
    // Fold the pending BatchNorm running-statistic updates into the shared state first:
    // saving reads that state, which is otherwise one update behind (a resumed run's
    // running statistics, and so its evaluation, would differ from an uninterrupted
    // run's). Training is unaffected: the next forward pass folds them the same way.
    let _ = model.valid();
    let model_path = dir.join("model.bpk");
    write_atomic_with(&model_path, |tmp| {
        model
            .clone()
            .save_file(tmp)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| CheckpointError::Record {
        path: model_path.clone(),
        reason: e.to_string(),
    })?;
    let optim_path = dir.join("optim.bpk");
    write_atomic_with(&optim_path, |tmp| {
        optim
            .save(tmp)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| CheckpointError::Optimizer {
        path: optim_path.clone(),
        reason: e.to_string(),
    })?;
    // Stage-specific state (memory bank, key encoder) before the completeness marker.
    extra(&dir).map_err(|reason| CheckpointError::Extra {
        dir: dir.clone(),
        reason,
    })?;
    write_json(&dir.join("state.json"), state)?;
    prune(run, KEEP_CHECKPOINTS);
    Ok(dir)
}

/// Complete checkpoints kept per run; older ones are deleted after a successful save.
pub const KEEP_CHECKPOINTS: usize = 2;

/// Removes the temporary files of unfinished writes ([`crate::fsutil::is_temp_name`]) in
/// `dir`.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if crate::fsutil::is_temp_name(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The position a checkpoint directory name stands for: (epochs complete, batches of the
/// next) for `epoch-NNNN` and `epoch-NNNN-batch-NNNNNN`.
fn position(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("epoch-")?;
    match rest.split_once("-batch-") {
        Some((e, b)) => Some((e.parse().ok()?, b.parse().ok()?)),
        None => Some((rest.parse().ok()?, 0)),
    }
}

/// Every checkpoint directory of a run with its position and completeness, oldest first.
fn checkpoints(run: &RunDir) -> Vec<((usize, usize), PathBuf, bool)> {
    let Ok(entries) = fs::read_dir(run.path().join("checkpoints")) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .flatten()
        .filter_map(|e| {
            let pos = position(&e.file_name().to_string_lossy())?;
            let path = e.path();
            let complete = path.join("state.json").is_file();
            Some((pos, path, complete))
        })
        .collect();
    found.sort();
    found
}

/// Deletes all but the newest `keep` complete checkpoints, and incomplete ones (best
/// effort: a failure to delete never fails training). Each is unmarked (its `state.json`
/// removed) before its files go, so an interrupted deletion never leaves a checkpoint
/// that looks complete but is not.
fn prune(run: &RunDir, keep: usize) {
    let mut kept = 0;
    for (_, path, complete) in checkpoints(run).into_iter().rev() {
        if complete && kept < keep {
            kept += 1;
            continue;
        }
        if fs::remove_file(path.join("state.json")).is_ok() {
            // The unmarking reaches the disk before any of the files go.
            if let Ok(d) = fs::File::open(&path) {
                let _ = d.sync_all();
            }
        }
        let _ = fs::remove_dir_all(path);
    }
}

/// The newest complete checkpoint of a run, if any.
///
/// # Errors
/// I/O errors reading the checkpoint directory.
pub fn latest(run: &RunDir) -> Result<Option<PathBuf>, CheckpointError> {
    Ok(checkpoints(run)
        .into_iter()
        .rev()
        .find(|(_, _, complete)| *complete)
        .map(|(_, path, _)| path))
}

/// Where a resumed run continues: its newest complete checkpoint that can be read
/// ([`verify`]), or — when a crash came before the first one — nothing, with the metrics
/// of the lost partial epoch dropped.
///
/// A complete checkpoint that cannot be read (a truncated or garbled `model.bpk` or
/// `optim.bpk`, a bad `state.json`: a disk fault, a copy cut short) is skipped for the one
/// before it, with a warning on stderr naming both and why; it is moved aside to
/// `checkpoints/unreadable/`, so that it is neither loaded nor counted among the kept
/// checkpoints again. The loop then truncates the metrics to the checkpoint it loads, so
/// the resumed run still equals an uninterrupted one.
///
/// # Errors
/// [`CheckpointError::Finished`] for a run that wrote its `report.json`;
/// [`CheckpointError::Unreadable`] naming each checkpoint when none can be read; I/O
/// errors reading the checkpoints or rewriting the metrics log.
pub fn resume_point(run: &RunDir) -> Result<Option<PathBuf>, CheckpointError> {
    let report = run.file("report.json");
    if report.exists() {
        return Err(CheckpointError::Finished(report));
    }
    // Unfinished writes of a killed process (nothing of this one is being written yet).
    remove_stale_temps(run.path());
    let complete: Vec<PathBuf> = checkpoints(run)
        .into_iter()
        .rev()
        .filter(|(_, _, complete)| *complete)
        .map(|(_, path, _)| path)
        .collect();
    if complete.is_empty() {
        truncate_metrics(&run.file("metrics.jsonl"), 0, 0)?;
        return Ok(None);
    }
    let mut unreadable: Vec<(PathBuf, CheckpointError)> = Vec::new();
    for dir in complete {
        match verify(&dir) {
            Ok(_) => {
                for (bad, why) in &unreadable {
                    let aside = set_aside(run, bad);
                    eprintln!(
                        "warning: checkpoint {} cannot be loaded ({why}); resuming from the \
                         previous complete checkpoint {} instead{}",
                        bad.display(),
                        dir.display(),
                        match aside {
                            Some(to) =>
                                format!(" (the unreadable one is kept in {})", to.display()),
                            None => String::new(),
                        }
                    );
                }
                return Ok(Some(dir));
            }
            Err(why) => unreadable.push((dir, why)),
        }
    }
    Err(CheckpointError::Unreadable {
        run: run.path().to_path_buf(),
        reasons: unreadable
            .iter()
            .map(|(dir, why)| format!("{} ({why})", dir.display()))
            .collect(),
    })
}

/// Moves an unreadable checkpoint to `checkpoints/unreadable/NAME` (`NAME.2`, ... when
/// taken), out of the checkpoints that are loaded, counted and pruned; returns where it
/// went (`None` when it could not be moved: it is then skipped again next time).
fn set_aside(run: &RunDir, dir: &Path) -> Option<PathBuf> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let parent = run.path().join("checkpoints").join("unreadable");
    fs::create_dir_all(&parent).ok()?;
    let to = (1..1000)
        .map(|i| match i {
            1 => parent.join(&name),
            _ => parent.join(format!("{name}.{i}")),
        })
        .find(|p| !p.exists())?;
    fs::rename(dir, &to).ok()?;
    Some(to)
}

/// Reads every file of the checkpoint in `dir` the way [`load`] does, without a model to
/// load it into: `state.json` as a [`LoopState`], `model.bpk` and `optim.bpk` (and the
/// key encoder's `key.bpk`, when there is one) as burn records, a memory bank's
/// `bank.json` and `bank.f32` when present. What it cannot check is whether the weights
/// fit the model (their shapes); [`load`] says so, naming the file.
///
/// # Errors
/// The first file that cannot be read or parsed, naming it and why.
pub fn verify(dir: &Path) -> Result<LoopState, CheckpointError> {
    let state: LoopState = read_json(&dir.join("state.json"))?;
    let model_path = dir.join("model.bpk");
    burn::store::ModuleRecord::load(&model_path).map_err(|e| CheckpointError::Record {
        path: model_path.clone(),
        reason: e.to_string(),
    })?;
    let optim_path = dir.join("optim.bpk");
    burn::optim::OptimizerRecord::load(&optim_path).map_err(|e| CheckpointError::Optimizer {
        path: optim_path.clone(),
        reason: e.to_string(),
    })?;
    let key_path = dir.join("key.bpk");
    if key_path.exists() {
        burn::store::ModuleRecord::load(&key_path).map_err(|e| CheckpointError::Record {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
    }
    if dir.join("bank.json").exists() || dir.join("bank.f32").exists() {
        super::memory_bank::MemoryBank::load(dir).map_err(|e| CheckpointError::Extra {
            dir: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(state)
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
            reason: e.to_string(),
        })?;
    let optim_path = dir.join("optim.bpk");
    let optim = optim
        .load(&optim_path)
        .map_err(|e| CheckpointError::Optimizer {
            path: optim_path.clone(),
            reason: e.to_string(),
        })?;
    Ok((model, optim, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_state_files_load_and_nan_loss_round_trips() {
        let old: LoopState =
            serde_json::from_str(r#"{"epoch": 2, "step": 6, "loss": 1.5}"#).unwrap();
        assert_eq!(old, LoopState::epoch_end(2, 6, 1.5));
        let mid = LoopState {
            batch: 3,
            epoch_loss_sum: 0.1 + 0.2 + 0.7000000000000001,
            ..LoopState::epoch_end(0, 3, f64::NAN)
        };
        let text = serde_json::to_string(&mid).unwrap();
        let back: LoopState = serde_json::from_str(&text).unwrap();
        assert!(back.loss.is_nan());
        assert_eq!(back.epoch_loss_sum.to_bits(), mid.epoch_loss_sum.to_bits());
        assert_eq!((back.epoch, back.step, back.batch), (0, 3, 3));
    }

    #[test]
    fn positions_order_mid_epoch_checkpoints_and_pruning_keeps_complete_ones() {
        assert_eq!(position("epoch-0003"), Some((3, 0)));
        assert_eq!(position("epoch-0002-batch-000007"), Some((2, 7)));
        assert_eq!(position("epoch-x"), None);
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::create(tmp.path().join("run")).unwrap();
        let make = |epoch, batch, complete: bool| {
            let dir = run.checkpoint_dir_at(epoch, batch);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("model.bpk"), b"x").unwrap();
            if complete {
                fs::write(dir.join("state.json"), b"{}").unwrap();
            }
            dir
        };
        make(1, 0, true);
        make(2, 0, true);
        let mid = make(2, 5, true);
        let broken = make(2, 9, false);
        assert_eq!(latest(&run).unwrap(), Some(mid.clone()));
        let newest = make(3, 0, true);
        fs::write(newest.join(".model.bpk.tmp-1.1-0.tmp"), b"partial").unwrap();
        prune(&run, 2);
        let left: Vec<_> = checkpoints(&run).into_iter().map(|(p, _, _)| p).collect();
        assert_eq!(
            left,
            [(2, 5), (3, 0)],
            "incomplete {broken:?} and old ones go"
        );
        assert_eq!(latest(&run).unwrap(), Some(newest.clone()));
        remove_stale_temps(&newest);
        assert!(!newest.join(".model.bpk.tmp-1.1-0.tmp").exists());
        assert!(newest.join("model.bpk").exists());
    }

    /// Two real checkpoints of a small model; returns the run and (older, newer).
    fn two_checkpoints(root: &Path) -> (RunDir, PathBuf, PathBuf) {
        let run = RunDir::create(root.join("run")).unwrap();
        let device = crate::device::DeviceChoice::Cpu.device();
        let model = burn::nn::LinearConfig::new(3, 2).init(&device);
        let optim = crate::train::OptimizerConfig::default().init();
        let save_at = |state: LoopState| save(&run, &model, &optim, &state, &|_| Ok(())).unwrap();
        let old = save_at(LoopState::epoch_end(1, 4, 0.5));
        let new = save_at(LoopState::within_epoch(1, 6, 0.5, 2, 1.25));
        (run, old, new)
    }

    #[test]
    fn an_unreadable_newest_checkpoint_is_skipped_for_the_previous_one() {
        type Corrupt = fn(&Path);
        let corruptions: [(&str, Corrupt); 4] = [
            ("model.bpk", |d| {
                let bytes = fs::read(d.join("model.bpk")).unwrap();
                fs::write(d.join("model.bpk"), &bytes[..bytes.len() / 2]).unwrap();
            }),
            ("optim.bpk", |d| {
                fs::write(d.join("optim.bpk"), b"garbage").unwrap()
            }),
            ("state.json", |d| {
                fs::write(d.join("state.json"), b"{\"epoch\": 1, \"step\":").unwrap();
            }),
            ("model.bpk", |d| {
                fs::remove_file(d.join("model.bpk")).unwrap()
            }),
        ];
        for (file, corrupt) in corruptions {
            let tmp = tempfile::tempdir().unwrap();
            let (run, old, new) = two_checkpoints(tmp.path());
            assert_eq!(resume_point(&run).unwrap(), Some(new.clone()));
            assert_eq!(verify(&new).unwrap().step, 6);
            corrupt(&new);
            let err = verify(&new).unwrap_err().to_string();
            assert!(err.contains(&new.join(file).display().to_string()), "{err}");
            assert_eq!(resume_point(&run).unwrap(), Some(old.clone()), "{file}");
            // Moved aside, whole: no longer loaded, counted or pruned.
            let aside = run
                .path()
                .join("checkpoints/unreadable/epoch-0001-batch-000002");
            assert!(!new.exists() && aside.join("optim.bpk").exists(), "{file}");
            assert_eq!(latest(&run).unwrap(), Some(old.clone()));
            assert_eq!(resume_point(&run).unwrap(), Some(old.clone()));

            // When none can be read, the error names each, newest first; nothing moves.
            let (run, old, new) = two_checkpoints(&tmp.path().join("both"));
            corrupt(&new);
            fs::write(old.join("optim.bpk"), b"").unwrap();
            let err = resume_point(&run).unwrap_err().to_string();
            let (at_new, at_old) = (
                err.find(&new.display().to_string()).unwrap(),
                err.find(&old.join("optim.bpk").display().to_string())
                    .unwrap(),
            );
            assert!(at_new < at_old && err.contains("remove"), "{err}");
            assert!(new.exists() && old.exists());
        }
    }
}
