//! What an evaluation measured: the report of one run and the eval JSON file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::RunEvalError;
use super::inspect::RunKind;
use crate::eval::accuracy::ConfusionMatrix;
use crate::eval::robustness::{ErrorTable, RobustnessReport};
use crate::train::DataConfig;
use crate::train::metrics::ClassificationMetrics;
use crate::train::run_dir::read_json;

/// One corruption at one severity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionCell {
    /// Corruption name.
    pub corruption: String,
    /// Severity `1..=5`.
    pub severity: u8,
    /// Top-1 accuracy on the corrupted test set.
    pub top1: f64,
    /// Top-1 error, `1 - top1`.
    pub error: f64,
    /// ECE (15 bins).
    pub ece: f64,
    /// NLL.
    pub nll: f64,
}

/// The baseline that normalises mCE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineErrors {
    /// Its run directory or eval file.
    pub source: PathBuf,
    /// Its errors (clean and corrupted) on the same data.
    pub errors: ErrorTable,
}

/// Corruption robustness of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionResults {
    /// Seed of the corruptions.
    pub seed: u64,
    /// Severities evaluated.
    pub severities: Vec<u8>,
    /// Every corruption x severity cell, corruption-major.
    pub cells: Vec<CorruptionCell>,
    /// The model's errors (clean and per corruption and severity).
    pub errors: ErrorTable,
    /// Mean error, CE per corruption, mCE and relative mCE (the last three with a
    /// baseline).
    pub robustness: RobustnessReport,
    /// The baseline, when one was given.
    pub baseline: Option<BaselineErrors>,
    /// Scores that are undefined (e.g. a baseline whose corrupted error equals its clean
    /// error makes relative CE a division by zero).
    pub notes: Vec<String>,
}

/// k-NN accuracy on frozen encoder features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnResult {
    /// Neighbours used (the requested k, or the bank size when that is smaller).
    pub k: usize,
    /// Temperature.
    pub temperature: f32,
    /// Training samples in the neighbour bank.
    pub train_samples: usize,
    /// Top-1 accuracy on the test set.
    pub top1: f64,
}

/// Few-shot linear probes with `shots` samples per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FewShotResult {
    /// Samples per class.
    pub shots: usize,
    /// Seeds of the subsets.
    pub seeds: Vec<u64>,
    /// Test top-1 of each seed.
    pub top1: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (0 with one seed).
    pub std: f64,
}

/// Everything `supcon eval` measures for one run; written as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The run directory.
    pub run: PathBuf,
    /// `linear`, `ce` or `pretrain` (a joint classifier).
    pub kind: RunKind,
    /// The pre-training run of a linear probe.
    pub encoder_run: Option<PathBuf>,
    /// The data evaluated (the run's, with overrides).
    pub data: DataConfig,
    /// Number of classes.
    pub num_classes: usize,
    /// Class names, by label.
    pub class_names: Vec<String>,
    /// Clean test metrics: samples, top-1, top-5, calibration (ECE/MCE over 15 bins with
    /// their counts, NLL).
    pub clean: ClassificationMetrics,
    /// Per-class accuracy (recall); `null` for a class absent from the test set.
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Rows = true class, columns = prediction.
    pub confusion_matrix: ConfusionMatrix,
    /// Corruption robustness, when corruptions were asked for.
    pub corruptions: Option<CorruptionResults>,
    /// k-NN accuracy, when asked for.
    pub knn: Option<KnnResult>,
    /// Few-shot probes, when asked for.
    pub few_shot: Vec<FewShotResult>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// An eval JSON file: one report, or several (a `supcon run` directory) as
/// `{"runs": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EvalFile {
    /// Several runs.
    Many {
        /// The reports.
        runs: Vec<EvalReport>,
    },
    /// One run.
    One(Box<EvalReport>),
}

// Not `#[serde(untagged)]` for reading: serde's buffered untagged content turns the
// integer map keys of `ErrorTable` (severities) into strings it then refuses as `u8`.
impl<'de> Deserialize<'de> for EvalFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        match value.get_mut("runs") {
            Some(runs) => Ok(Self::Many {
                runs: serde_json::from_value(runs.take()).map_err(D::Error::custom)?,
            }),
            None => Ok(Self::One(Box::new(
                serde_json::from_value(value).map_err(D::Error::custom)?,
            ))),
        }
    }
}

impl EvalFile {
    /// The reports it holds.
    pub fn reports(&self) -> Vec<&EvalReport> {
        match self {
            Self::Many { runs } => runs.iter().collect(),
            Self::One(r) => vec![r.as_ref()],
        }
    }

    /// Reads an eval JSON file.
    ///
    /// # Errors
    /// Missing file, or not an eval report (naming the file).
    pub fn read(path: &Path) -> Result<Self, RunEvalError> {
        Ok(read_json(path)?)
    }
}
