//! What a sweep measured: each point's outcome and each method's spread (`sweep.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::SweepConfig;
use super::grid::SweepMethod;
use crate::eval::evaluate::mean_std;

/// The outcome of one grid point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// The method.
    pub method: SweepMethod,
    /// Index of the point within its method's grid.
    pub index: usize,
    /// The grid values, as `key=value` in axis order (`base` with no axis).
    #[serde(default)]
    pub label: String,
    /// The grid values.
    pub params: BTreeMap<String, String>,
    /// The run whose test metrics these are (the linear probe for contrastive methods).
    pub run: PathBuf,
    /// Test top-1 (`None` when the point failed).
    pub top1: Option<f64>,
    /// Test top-5.
    pub top5: Option<f64>,
    /// Test ECE.
    pub ece: Option<f64>,
    /// Wall time of the point's training, seconds (0 when reused).
    pub seconds: f64,
    /// Why the point failed (e.g. a diverging loss), if it did.
    pub error: Option<String>,
}

/// Stability statistics of one method over its grid points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    /// The method.
    pub method: SweepMethod,
    /// Grid points run.
    pub points: usize,
    /// Points that failed (excluded from the statistics).
    pub failed: usize,
    /// Mean test top-1 over the points that finished.
    pub mean: Option<f64>,
    /// Sample standard deviation of top-1 (the spread; 0 with one point).
    pub std: Option<f64>,
    /// Worst top-1.
    pub min: Option<f64>,
    /// Best top-1.
    pub max: Option<f64>,
    /// `max - min`.
    pub range: Option<f64>,
    /// Grid values of the worst point.
    pub worst: Option<BTreeMap<String, String>>,
    /// Grid values of the best point.
    pub best: Option<BTreeMap<String, String>>,
}

/// `DIR/sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The settings (base configurations, methods, grid).
    pub config: SweepConfig,
    /// Every point run so far.
    pub points: Vec<PointResult>,
    /// Statistics per method.
    pub summary: Vec<MethodSummary>,
    /// Whether every point has run.
    pub complete: bool,
}

/// Statistics of `method` over `points` (see [`MethodSummary`]).
pub fn summarise(method: SweepMethod, points: &[PointResult]) -> MethodSummary {
    let mine: Vec<&PointResult> = points.iter().filter(|p| p.method == method).collect();
    let ok: Vec<(&PointResult, f64)> = mine
        .iter()
        .filter_map(|p| p.top1.map(|t| (*p, t)))
        .collect();
    let values: Vec<f64> = ok.iter().map(|(_, t)| *t).collect();
    let (mean, std) = mean_std(&values);
    let worst = ok.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let best = ok.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    let some = |v: f64| (!values.is_empty()).then_some(v);
    MethodSummary {
        method,
        points: mine.len(),
        failed: mine.len() - ok.len(),
        mean: some(mean),
        std: some(std),
        min: worst.map(|w| w.1),
        max: best.map(|b| b.1),
        range: worst.zip(best).map(|(w, b)| b.1 - w.1),
        worst: worst.map(|w| w.0.params.clone()),
        best: best.map(|b| b.0.params.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_mean_spread_worst_and_best() {
        let point = |method, top1: Option<f64>, lr: &str| PointResult {
            method,
            index: 0,
            label: format!("lr={lr}"),
            params: [("lr".to_string(), lr.to_string())].into(),
            run: PathBuf::new(),
            top1,
            top5: top1,
            ece: Some(0.0),
            seconds: 0.0,
            error: top1.is_none().then(|| "diverged".to_string()),
        };
        let points = vec![
            point(SweepMethod::Supcon, Some(0.8), "0.1"),
            point(SweepMethod::Supcon, Some(0.6), "0.5"),
            point(SweepMethod::Supcon, None, "1.0"),
            point(SweepMethod::Ce, Some(0.5), "0.1"),
        ];
        let s = summarise(SweepMethod::Supcon, &points);
        assert_eq!((s.points, s.failed), (3, 1));
        assert!((s.mean.unwrap() - 0.7).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (Some(0.6), Some(0.8)));
        assert_eq!(s.worst.unwrap()["lr"], "0.5");
        let c = summarise(SweepMethod::Ce, &points);
        assert_eq!((c.std, c.range), (Some(0.0), Some(0.0)));
    }
}
