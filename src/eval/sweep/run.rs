//! Running a sweep: every point of every method, trained (or reused, or resumed) in its
//! own directory, `sweep.json` rewritten after each.

use crate::train::{MadeFrom, Manifest, RunKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::config::SweepConfig;
use super::error::SweepError;
use super::grid::{GridPoint, SweepMethod, grid_points};
use super::results::{PointResult, SweepReport, summarise};
use crate::train::run_dir::{read_json, write_json};
use crate::train::{
    LinearReport, RunOptions, SupervisedReport, TrainError, linear_probe, pretrain,
    resume_pretrain, resume_supervised, train_supervised,
};

/// The directory of a point.
pub fn point_dir(out: &Path, method: SweepMethod, index: usize, point: &GridPoint) -> PathBuf {
    out.join(method.name())
        .join(format!("{index:02}-{}", point.slug()))
}

/// Runs every method over its grid into `out` (see the module docs for the layout),
/// writing `out/sweep.json` after every point. A point that fails (e.g. its loss diverges)
/// is recorded with its error and the sweep goes on. `log` receives progress lines.
///
/// # Errors
/// Invalid settings, an `out` that holds a sweep with other settings, or I/O errors on
/// `sweep.json`.
pub fn run_sweep(
    config: &SweepConfig,
    out: &Path,
    opts: &RunOptions,
    log: &dyn Fn(&str),
) -> Result<SweepReport, SweepError> {
    config.validate()?;
    // Held until the sweep ends: a second sweep into `out` fails at once.
    let _lock = crate::dirlock::DirLock::create(out)
        .map_err(|e| SweepError::RunDir(crate::train::RunDirError::Locked(e)))?;
    let file = out.join("sweep.json");
    if file.is_file() {
        let previous: SweepReport = read_json(&file)?;
        if previous.config != *config {
            return Err(SweepError::Out {
                path: out.to_path_buf(),
                reason: "holds a sweep with other settings (sweep.json); pick another --out".into(),
            });
        }
    } else if out.join("config.json").is_file() {
        return Err(SweepError::Out {
            path: out.to_path_buf(),
            reason: "holds a training run; pick another --out".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| SweepError::Out {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    let made_from = MadeFrom::training(&config.pretrain.data.spec, None::<&String>);
    Manifest::new(RunKind::Sweep, made_from).write(out)?;
    let plan: Vec<(SweepMethod, usize, GridPoint)> = config
        .methods
        .iter()
        .flat_map(|&m| {
            grid_points(&config.grid, m)
                .into_iter()
                .enumerate()
                .map(move |(i, p)| (m, i, p))
        })
        .collect();
    let mut report = SweepReport {
        config: config.clone(),
        points: Vec::new(),
        summary: Vec::new(),
        complete: false,
    };
    for (n, (method, index, point)) in plan.iter().enumerate() {
        let dir = point_dir(out, *method, *index, point);
        log(&format!(
            "[{}/{}] {method} {} -> {}",
            n + 1,
            plan.len(),
            point.label(),
            dir.display()
        ));
        let started = Instant::now();
        let outcome = run_point(config, *method, point, &dir, opts);
        let params: BTreeMap<String, String> = point
            .0
            .iter()
            .map(|(k, v)| (k.name().to_string(), v.clone()))
            .collect();
        let result = match outcome {
            Ok((run, m, reused)) => {
                log(&format!(
                    "      top-1 {:.2}%{}",
                    100.0 * m.top1,
                    if reused {
                        " (finished earlier, reused)"
                    } else {
                        ""
                    }
                ));
                PointResult {
                    method: *method,
                    index: *index,
                    label: point.label(),
                    params,
                    run,
                    top1: Some(m.top1),
                    top5: Some(m.top5),
                    ece: Some(m.calibration.ece),
                    seconds: if reused {
                        0.0
                    } else {
                        started.elapsed().as_secs_f64()
                    },
                    error: None,
                }
            }
            Err(e) => {
                log(&format!("      failed: {e}"));
                PointResult {
                    method: *method,
                    index: *index,
                    label: point.label(),
                    params,
                    run: dir.clone(),
                    top1: None,
                    top5: None,
                    ece: None,
                    seconds: started.elapsed().as_secs_f64(),
                    error: Some(e.to_string()),
                }
            }
        };
        report.points.push(result);
        report.complete = n + 1 == plan.len();
        report.summary = config
            .methods
            .iter()
            .map(|&m| summarise(m, &report.points))
            .collect();
        write_json(&file, &report)?;
    }
    Ok(report)
}

/// Trains one point (or reuses / resumes it); returns the run holding the final test
/// metrics, those metrics, and whether they were reused.
fn run_point(
    config: &SweepConfig,
    method: SweepMethod,
    point: &GridPoint,
    dir: &Path,
    opts: &RunOptions,
) -> Result<(PathBuf, crate::train::ClassificationMetrics, bool), TrainError> {
    match method {
        SweepMethod::Ce => {
            if let Ok(r) = read_json::<SupervisedReport>(&dir.join("report.json")) {
                return Ok((dir.to_path_buf(), r.test, true));
            }
            let r = if dir.join("config.json").is_file() {
                resume_supervised(dir, opts)?
            } else {
                train_supervised(&config.ce_at(point), dir, opts)?
            };
            Ok((r.run, r.test, false))
        }
        SweepMethod::Supcon | SweepMethod::Simclr => {
            let pre_dir = dir.join("pretrain");
            let lin_dir = dir.join("linear");
            if let Ok(r) = read_json::<LinearReport>(&lin_dir.join("report.json")) {
                return Ok((r.run, r.test, true));
            }
            if !pre_dir.join("report.json").is_file() {
                if pre_dir.join("config.json").is_file() {
                    resume_pretrain(&pre_dir, opts)?;
                } else {
                    pretrain(&config.pretrain_at(method, point), &pre_dir, opts)?;
                }
            }
            if lin_dir.join("config.json").is_file() {
                // An interrupted probe: it is cheap, start it again.
                std::fs::remove_dir_all(&lin_dir).map_err(|e| {
                    TrainError::Config(format!("removing {}: {e}", lin_dir.display()))
                })?;
            }
            let r = linear_probe(&config.linear_at(point, &pre_dir), &lin_dir, opts.quiet)?;
            Ok((r.run, r.test, false))
        }
    }
}
