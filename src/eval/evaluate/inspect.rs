//! Telling run directories apart by their files, without loading weights or data.

use std::path::{Path, PathBuf};

use super::error::{RunEvalError, run_err};
use crate::device::DeviceChoice;
use crate::model::EncoderConfig;
use crate::train::read_manifest;
use crate::train::run_dir::{RunDirError, read_json};
use crate::train::{DataConfig, LinearConfig, PretrainConfig, SupervisedConfig};

/// The kind of a run directory: the manifest's.
pub use crate::train::RunKind;

/// What [`inspect_run`] learns from a run directory without loading weights or data.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The directory.
    pub dir: PathBuf,
    /// Its kind.
    pub kind: RunKind,
    /// The data it was trained and tested on (`None` for suites and sweeps).
    pub data: Option<DataConfig>,
    /// The seed its data subset was drawn with.
    pub data_seed: u64,
    /// Its device.
    pub device: DeviceChoice,
    /// The pre-training run whose encoder a linear probe uses (resolved to a path that
    /// exists when possible).
    pub encoder_run: Option<PathBuf>,
    /// Whether the run holds a classifier (always for linear and CE runs; for a
    /// pre-training run, only with `--joint`).
    pub has_classifier: bool,
    /// The encoder of a run whose `model.safetensors` holds encoder and classifier (CE,
    /// fine-tuning).
    pub encoder: Option<EncoderConfig>,
}

/// Reads a run directory's `config.json` (or `summary.json`, `sweep.json`) to tell what
/// it is.
///
/// # Errors
/// [`RunEvalError::Run`] naming the directory when it does not exist or holds no run;
/// parse errors naming the file.
pub fn inspect_run(dir: &Path) -> Result<RunInfo, RunEvalError> {
    if !dir.exists() {
        return Err(run_err(dir, "no such run directory"));
    }
    if !dir.is_dir() {
        return Err(run_err(dir, "not a directory (expected a run directory)"));
    }
    let info = |kind, data, data_seed, device, encoder_run, has_classifier| RunInfo {
        dir: dir.to_path_buf(),
        kind,
        data,
        data_seed,
        device,
        encoder_run,
        has_classifier,
        encoder: None,
    };
    let config_path = dir.join("config.json");
    // The one reader of what a directory holds (its manifest, or an older one's files).
    let kind = match read_manifest(dir) {
        Ok(m) => m.kind,
        Err(RunDirError::Io { .. }) => RunKind::Run,
        Err(e) => return Err(e.into()),
    };
    match kind {
        RunKind::Sweep => {
            return Ok(info(
                RunKind::Sweep,
                None,
                0,
                DeviceChoice::Cpu,
                None,
                false,
            ));
        }
        RunKind::Run => {
            if dir.join("linear/config.json").is_file() && dir.join("ce/config.json").is_file() {
                return Ok(info(RunKind::Run, None, 0, DeviceChoice::Cpu, None, true));
            }
            if dir.join("run.json").is_file() {
                let missing: Vec<&str> = ["supcon", "linear", "ce"]
                    .into_iter()
                    .filter(|s| !dir.join(s).join("report.json").is_file())
                    .collect();
                return Err(run_err(
                    dir,
                    format!(
                        "an unfinished `supcon run` (stage {} has not finished); continue it \
                         with: supcon run --resume {}",
                        missing.join(", "),
                        dir.display()
                    ),
                ));
            }
            return Err(run_err(
                dir,
                "not a run directory (no config.json, and not a `supcon run` or `supcon \
                 sweep` output)",
            ));
        }
        RunKind::Export => {
            return Err(run_err(
                dir,
                "an exported model, not a run directory (evaluate the run it was exported \
                 from, or classify with supcon predict --model DIR)",
            ));
        }
        RunKind::Pretrain | RunKind::Linear | RunKind::Ce | RunKind::Finetune => {}
    }
    if kind == RunKind::Finetune {
        let raw: serde_json::Value = read_json(&config_path)?;
        // A fine-tuning run: encoder + new classifier in model.safetensors.
        let field = |key: &str| raw.get(key).cloned().unwrap_or(serde_json::Value::Null);
        let bad = |key: &str, e: serde_json::Error| {
            RunEvalError::RunDir(RunDirError::Json {
                path: config_path.clone(),
                reason: format!("field {key}: {e}"),
            })
        };
        let encoder: EncoderConfig =
            serde_json::from_value(field("encoder")).map_err(|e| bad("encoder", e))?;
        let data: DataConfig = serde_json::from_value(field("data")).map_err(|e| bad("data", e))?;
        let seed = field("seed").as_u64().unwrap_or(0);
        let device: DeviceChoice = serde_json::from_value(field("device")).unwrap_or_default();
        let mut i = info(RunKind::Finetune, Some(data), seed, device, None, true);
        i.encoder = Some(encoder);
        Ok(i)
    } else if kind == RunKind::Linear {
        let c: LinearConfig = read_json(&config_path)?;
        let encoder_run = resolve_encoder_run(dir, &c.encoder_run);
        let data = match c.data.clone() {
            Some(d) => d,
            None => {
                let pre: PretrainConfig = read_json(&encoder_run.join("config.json"))?;
                pre.data
            }
        };
        Ok(info(
            RunKind::Linear,
            Some(data),
            c.seed,
            c.device,
            Some(encoder_run),
            true,
        ))
    } else if kind == RunKind::Ce {
        let c: SupervisedConfig = read_json(&config_path)?;
        let mut i = info(RunKind::Ce, Some(c.data), c.seed, c.device, None, true);
        i.encoder = Some(c.encoder);
        Ok(i)
    } else {
        let c: PretrainConfig = read_json(&config_path)?;
        let joint = c.joint && dir.join("classifier.safetensors").is_file();
        Ok(info(
            RunKind::Pretrain,
            Some(c.data),
            c.seed,
            c.device,
            None,
            joint,
        ))
    }
}

/// The encoder run a probe names: as written when it exists, otherwise relative to the
/// probe's parent directory (a moved `supcon run` output), otherwise as written.
fn resolve_encoder_run(probe: &Path, encoder_run: &Path) -> PathBuf {
    if encoder_run.join("config.json").is_file() {
        return encoder_run.to_path_buf();
    }
    if let (Some(parent), Some(name)) = (probe.parent(), encoder_run.file_name()) {
        let sibling = parent.join(name);
        if sibling.join("config.json").is_file() {
            return sibling;
        }
    }
    encoder_run.to_path_buf()
}

/// The runs a directory stands for: itself, or a suite's `linear/` and `ce/` sub-runs.
///
/// # Errors
/// As [`inspect_run`].
pub fn classifier_runs(dir: &Path) -> Result<Vec<RunInfo>, RunEvalError> {
    let info = inspect_run(dir)?;
    match info.kind {
        RunKind::Run => Ok(vec![
            inspect_run(&dir.join("linear"))?,
            inspect_run(&dir.join("ce"))?,
        ]),
        _ => Ok(vec![info]),
    }
}
