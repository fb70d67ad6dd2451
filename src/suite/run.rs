//! Running `supcon run`: a new run into an output directory, or the resume of one, stage
//! after stage, then the summary (`summary.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SuiteError;
use super::plan::{SuitePlan, SuiteSettings};
use crate::dirlock::DirLock;
use crate::train::{
    ClassificationMetrics, LinearReport, PretrainReport, RunDir, RunOptions, SupervisedReport,
    TrainError, linear_probe, pretrain, resume_linear, resume_pretrain, resume_supervised,
    train_supervised,
};

/// One method's test results in the summary. Fields are in the order of the keys of
/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteResult {
    /// Expected calibration error (15 bins).
    pub ece: f64,
    /// `SupCon + linear` or `cross-entropy`.
    pub method: String,
    /// Negative log-likelihood.
    pub nll: f64,
    /// Training time, seconds (pre-training and probe together for SupCon).
    pub seconds: f64,
    /// Test top-1 accuracy.
    pub top1: f64,
    /// Test top-5 accuracy.
    pub top5: f64,
}

/// The side-by-side summary of `supcon run`, written as `summary.json`. Fields are in the
/// order of its keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteSummary {
    /// Images per batch.
    pub batch_size: usize,
    /// The data spec.
    pub data: String,
    /// The encoder's name.
    pub encoder: String,
    /// Epochs of pre-training and of the baseline.
    pub epochs: usize,
    /// SupCon + linear probe, then cross-entropy.
    pub results: Vec<SuiteResult>,
    /// The fraction of the training set held out and scored instead of the test split
    /// (`--val-split`); absent: the scores are on the test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_split: Option<f64>,
}

/// `supcon run` into `out`: checks that `out` holds no run, saves the plan (`run.json`),
/// then trains the three stages and writes `summary.json`. `log` receives one line per
/// stage. `out` is locked from start to end (each stage also locks its own folder).
///
/// # Errors
/// [`SuiteError::Lock`] for a locked `out`; [`SuiteError::Out`] when `out` already holds a
/// finished run, an unfinished one or other runs; [`SuiteError::Invalid`] for no probe
/// epoch; invalid pre-training settings, checked before stage 1; the stages' errors (an
/// interruption names `supcon run --resume out`); I/O errors naming the file.
pub fn run_suite(
    settings: &SuiteSettings,
    out: &Path,
    opts: &RunOptions,
    log: &dyn Fn(&str),
) -> Result<SuiteSummary, SuiteError> {
    let _lock = DirLock::create(out)?;
    check_fresh(out)?;
    let plan = settings.plan(out);
    // Checked before the hours of stage 1, not after.
    if plan.linear.epochs == 0 {
        return Err(SuiteError::Invalid(
            "--linear-epochs 0: expected at least 1".into(),
        ));
    }
    plan.pretrain.validate()?;
    std::fs::create_dir_all(out).map_err(|source| SuiteError::Create {
        path: out.to_path_buf(),
        source,
    })?;
    plan.write(out)?;
    run_stages(&plan, out, opts, log)
}

/// Continues the `supcon run` in `dir` as its `run.json` says: stages already finished
/// are kept, the interrupted one resumes from its checkpoint, the others start.
///
/// # Errors
/// [`SuiteError::Lock`] for a locked `dir`; [`SuiteError::Out`] for a finished run or a
/// directory without `run.json`; an unreadable `run.json`; the stages' errors.
pub fn resume_suite(
    dir: &Path,
    opts: &RunOptions,
    log: &dyn Fn(&str),
) -> Result<SuiteSummary, SuiteError> {
    let _lock = dir.is_dir().then(|| DirLock::acquire(dir)).transpose()?;
    let summary = dir.join("summary.json");
    if summary.exists() {
        return Err(SuiteError::Out {
            path: summary,
            reason: "the run already finished; nothing to resume".into(),
        });
    }
    let plan = SuitePlan::read(dir)?;
    run_stages(&plan, dir, opts, log)
}

/// Refuses an output directory that holds a finished run, an unfinished `supcon run`, or
/// any stage's run.
fn check_fresh(out: &Path) -> Result<(), SuiteError> {
    let refuse = |reason: String| {
        Err(SuiteError::Out {
            path: out.to_path_buf(),
            reason,
        })
    };
    if out.join("summary.json").exists() {
        return refuse("already holds a finished run; pick another --out".into());
    }
    if out.join("run.json").exists() {
        return refuse(format!(
            "holds an unfinished `supcon run`; continue it with `supcon run --resume {}`, or \
             pick another --out",
            out.display()
        ));
    }
    let started: Vec<&str> = ["supcon", "linear", "ce"]
        .into_iter()
        .filter(|stage| out.join(stage).join("config.json").exists())
        .collect();
    if !started.is_empty() {
        return refuse(format!(
            "already holds runs ({}); pick another --out",
            started.join(", ")
        ));
    }
    Ok(())
}

/// The three stages of `plan` in `out`, then the summary.
fn run_stages(
    plan: &SuitePlan,
    out: &Path,
    opts: &RunOptions,
    log: &dyn Fn(&str),
) -> Result<SuiteSummary, SuiteError> {
    let stage_dir = |name: &str| out.join(name);
    log(&format!(
        "[1/3] SupCon pre-training -> {}",
        stage_dir("supcon").display()
    ));
    let p: PretrainReport = run_stage(
        &stage_dir("supcon"),
        out,
        || pretrain(&plan.pretrain, &stage_dir("supcon"), opts),
        || resume_pretrain(&stage_dir("supcon"), opts),
    )?;
    log(&format!(
        "[2/3] linear probe -> {}",
        stage_dir("linear").display()
    ));
    let l: LinearReport = run_stage(
        &stage_dir("linear"),
        out,
        || linear_probe(&plan.linear, &stage_dir("linear"), opts.quiet),
        || resume_linear(&stage_dir("linear"), opts),
    )?;
    log(&format!(
        "[3/3] cross-entropy baseline -> {}",
        stage_dir("ce").display()
    ));
    let c: SupervisedReport = run_stage(
        &stage_dir("ce"),
        out,
        || train_supervised(&plan.ce, &stage_dir("ce"), opts),
        || resume_supervised(&stage_dir("ce"), opts),
    )?;
    let summary = summarise(plan, &l.test, p.seconds + l.seconds, &c.test, c.seconds);
    let path = out.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).map_err(|e| SuiteError::Write {
        path: path.clone(),
        source: e.into(),
    })?;
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .map_err(|source| SuiteError::Write { path, source })?;
    Ok(summary)
}

/// The summary of the two methods' test metrics and times.
fn summarise(
    plan: &SuitePlan,
    supcon: &ClassificationMetrics,
    supcon_secs: f64,
    ce: &ClassificationMetrics,
    ce_secs: f64,
) -> SuiteSummary {
    let pre = &plan.pretrain;
    let row = |method: &str, m: &ClassificationMetrics, seconds| SuiteResult {
        ece: m.calibration.ece,
        method: method.to_string(),
        nll: m.calibration.nll,
        seconds,
        top1: m.top1,
        top5: m.top5,
    };
    SuiteSummary {
        batch_size: pre.batch_size,
        data: pre.data.spec.clone(),
        encoder: pre.model.encoder.name.to_string(),
        epochs: pre.epochs,
        results: vec![
            row("SupCon + linear", supcon, supcon_secs),
            row("cross-entropy", ce, ce_secs),
        ],
        val_split: pre.data.val_split,
    }
}

/// A stage of `run` in `dir`: its report when it finished, a resume when it started,
/// otherwise a fresh start. An interruption names `supcon run --resume out`.
fn run_stage<R: serde::de::DeserializeOwned>(
    dir: &Path,
    out: &Path,
    start: impl FnOnce() -> Result<R, TrainError>,
    resume: impl FnOnce() -> Result<R, TrainError>,
) -> Result<R, SuiteError> {
    let report = dir.join("report.json");
    if report.is_file() {
        return RunDir::open(dir)
            .and_then(|run| run.read_json("report.json"))
            .map_err(|source| SuiteError::Report {
                path: report,
                source,
            });
    }
    let result = if dir.join("config.json").is_file() {
        resume()
    } else {
        start()
    };
    result.map_err(|e| match e {
        TrainError::Interrupted {
            epoch,
            step,
            checkpoint,
            ..
        } => TrainError::Interrupted {
            epoch,
            step,
            checkpoint,
            resume: format!("supcon run --resume {}", out.display()),
        }
        .into(),
        other => other.into(),
    })
}
