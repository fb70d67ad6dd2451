//! The runs of a report: the directories given, expanded into runs (a `supcon run`
//! output gives its three) and sweeps, each with its configuration, metrics and evaluation.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::ReportError;
use crate::eval::evaluate::{
    EvalFile, EvalReport, RunEvalError, RunInfo, RunKind, check_probe_encoder, inspect_run,
};
use crate::eval::sweep::SweepReport;
use crate::train::ClassificationMetrics;
use crate::train::metrics_log::{Record, read_records_lenient};
use crate::train::run_dir::read_json;

/// One run in the report.
pub(super) struct Entry {
    pub(super) label: String,
    pub(super) info: RunInfo,
    pub(super) config: Value,
    pub(super) metrics: Vec<Record>,
    pub(super) test: Option<ClassificationMetrics>,
    pub(super) eval: Option<EvalReport>,
}

/// The evaluation of `dir`: `dir/eval.json`, then `suite/eval.json`.
/// A malformed `eval.json` is left out with a warning naming the file and the line.
fn find_eval(dir: &Path, suite: Option<&Path>, log: &dyn Fn(&str)) -> Option<EvalReport> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    let mut files = vec![dir.join("eval.json")];
    if let Some(s) = suite {
        files.push(s.join("eval.json"));
    }
    for f in files {
        if !f.exists() {
            continue;
        }
        let file = match EvalFile::read(&f) {
            Ok(file) => file,
            Err(e) => {
                log(&format!(
                    "warning: {e}; this evaluation is left out of the report"
                ));
                continue;
            }
        };
        let reports = file.reports();
        if let Some(r) = reports.iter().find(|r| same(&r.run, dir)) {
            return Some((*r).clone());
        }
        // A single report in the run's own directory, written from another path.
        if f.parent() == Some(dir) && reports.len() == 1 {
            return Some(reports[0].clone());
        }
    }
    None
}

/// A readable label for `dir`: its last two path components.
fn label_of(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    match parts.len() {
        0 => dir.display().to_string(),
        1 => parts[0].clone(),
        n => format!("{}/{}", parts[n - 2], parts[n - 1]),
    }
}

fn entry(info: RunInfo, suite: Option<&Path>, log: &dyn Fn(&str)) -> Result<Entry, ReportError> {
    // A probe whose encoder was retrained since is refused, as every other command does.
    check_probe_encoder(&info)?;
    let dir = info.dir.clone();
    let config: Value = read_json(&dir.join("config.json")).unwrap_or(Value::Null);
    // Malformed lines are skipped with a warning each; the good ones still draw curves.
    let metrics_path = dir.join("metrics.jsonl");
    let metrics = if metrics_path.exists() {
        match read_records_lenient(&metrics_path) {
            Ok((records, skipped)) => {
                for s in skipped {
                    log(&format!("warning: {s}"));
                }
                records
            }
            Err(e) => {
                log(&format!("warning: {e}; no curves for this run"));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let test = read_json::<Value>(&dir.join("report.json"))
        .ok()
        .and_then(|r| serde_json::from_value(r.get("test")?.clone()).ok());
    let eval = find_eval(&dir, suite, log);
    Ok(Entry {
        label: label_of(&dir),
        info,
        config,
        metrics,
        test,
        eval,
    })
}

/// A sweep with its label.
pub(super) type LabelledSweep = (String, SweepReport);

/// Expands the given directories into runs and sweeps.
///
/// # Errors
/// A directory that is not a run, a `supcon run` or a `supcon sweep` output; an
/// unreadable `sweep.json`; a linear probe whose encoder run was retrained since.
pub(super) fn collect(
    dirs: &[PathBuf],
    log: &dyn Fn(&str),
) -> Result<(Vec<Entry>, Vec<LabelledSweep>), ReportError> {
    let mut entries = Vec::new();
    let mut sweeps = Vec::new();
    for dir in dirs {
        let info = inspect_run(dir)?;
        match info.kind {
            RunKind::Run => {
                for sub in ["supcon", "linear", "ce"] {
                    let d = dir.join(sub);
                    if d.join("config.json").is_file() {
                        entries.push(entry(inspect_run(&d)?, Some(dir), log)?);
                    }
                }
            }
            RunKind::Sweep => {
                let r: SweepReport =
                    read_json(&dir.join("sweep.json")).map_err(RunEvalError::from)?;
                sweeps.push((label_of(dir), r));
            }
            _ => entries.push(entry(info, None, log)?),
        }
    }
    Ok((entries, sweeps))
}

pub(super) fn kind_name(e: &Entry) -> &'static str {
    match e.info.kind {
        RunKind::Pretrain if e.info.has_classifier => "pretrain (+ joint classifier)",
        RunKind::Pretrain => match e.config.get("method").and_then(Value::as_str) {
            Some("simclr") => "SimCLR pre-training",
            _ => "SupCon pre-training",
        },
        RunKind::Linear => "linear probe",
        RunKind::Ce => "cross-entropy",
        RunKind::Finetune => "fine-tuning",
        RunKind::Run => "supcon run",
        RunKind::Sweep => "sweep",
        RunKind::Export => "export",
    }
}

/// The test metrics shown for a run: its evaluation's clean metrics, else its report's.
pub(super) fn metrics_of(e: &Entry) -> Option<&ClassificationMetrics> {
    e.eval.as_ref().map(|r| &r.clean).or(e.test.as_ref())
}

pub(super) fn config_str(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(match cur {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    })
}
