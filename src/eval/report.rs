//! A self-contained HTML report of one or more runs: every plot is an inline SVG drawn
//! with plotters (no external file, script or font), so the page can be mailed or
//! archived as it is.
//!
//! Sections (each an element with that `id`, every plot a `<figure class="plot">`):
//! - `runs`: what each run is (kind, data, encoder, budget);
//! - `accuracy`: test top-1/top-5, ECE, MCE, NLL across runs (from `eval.json` when
//!   present, otherwise from the run's `report.json`), plus k-NN, few-shot and robustness
//!   figures when evaluated;
//! - `curves`: training loss and learning rate per step (or epoch loss for linear
//!   probes), from `metrics.jsonl`;
//! - `reliability`: reliability diagrams (accuracy against confidence over the 15 bins)
//!   with the confidence histogram (Guo et al., ICML 2017, Fig. 1);
//! - `corruptions`: accuracy by corruption severity (severity 0 = clean), averaged over
//!   corruptions and per corruption, from `eval.json` written by `supcon eval`;
//! - `confusion`: confusion matrices from `eval.json`;
//! - `embeddings`: a 2-D PCA projection of test-set encoder embeddings coloured by class;
//! - `sweep`: per-method spread of top-1 over a `supcon sweep` grid.
//!
//! Bitmap (PNG) plots are not written: plotters' bitmap backend needs its `ttf` feature
//! (system fonts) to draw text, whereas SVG text is laid out by the browser.
//!
//! Each directory may be a run directory, a `supcon run` output (its `supcon/`,
//! `linear/` and `ce/` runs) or a `supcon sweep` output. A run's evaluation is looked up
//! in `RUN/eval.json`, then in the enclosing `supcon run` directory's `eval.json`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use super::evaluate::{
    DataOverride, EvalFile, EvalReport, RunEvalError, RunInfo, RunKind, encoder_features,
    inspect_run, load_eval_data, load_run_encoder,
};
use super::sweep::SweepReport;
use crate::train::ClassificationMetrics;
use crate::train::run_dir::{read_json, read_metrics_lenient};

/// What stopped the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A directory could not be read as a run.
    #[error(transparent)]
    Run(#[from] RunEvalError),
    /// A plot could not be drawn.
    #[error("drawing plot '{plot}': {reason}")]
    Plot {
        /// Which plot.
        plot: String,
        /// The plotters error.
        reason: String,
    },
    /// The report could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No run given.
    #[error("no run directory given")]
    Empty,
}

/// Report settings.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Page title.
    pub title: String,
    /// Compute the PCA of test-set embeddings (loads each encoder and the test split).
    pub embeddings: bool,
    /// At most this many test images in the PCA plot (class-stratified).
    pub pca_points: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            title: "SupCon report".into(),
            embeddings: true,
            pca_points: 1000,
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSummary {
    /// Runs covered.
    pub runs: usize,
    /// Plots drawn (inline SVGs).
    pub plots: usize,
    /// Ids of the sections present.
    pub sections: Vec<String>,
}

/// One run in the report.
struct Entry {
    label: String,
    info: RunInfo,
    config: Value,
    metrics: Vec<Value>,
    test: Option<ClassificationMetrics>,
    eval: Option<EvalReport>,
}

/// 10 distinguishable colours (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour `i` of the palette, with darker variants after the first ten.
fn colour(i: usize) -> RGBColor {
    let c = PALETTE[i % PALETTE.len()];
    let round = (i / PALETTE.len()) as u8;
    let darken = |v: u8| v.saturating_sub(round.saturating_mul(60));
    RGBColor(darken(c.0), darken(c.1), darken(c.2))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Three decimals, without a minus sign on a value that rounds to zero.
fn fmt3(v: f64) -> String {
    let v = if (v * 1000.0).round() == 0.0 { 0.0 } else { v };
    format!("{v:.3}")
}

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn plot_err(plot: &str) -> impl Fn(String) -> ReportError + '_ {
    move |reason| ReportError::Plot {
        plot: plot.to_string(),
        reason,
    }
}

/// Draws into an SVG string of `size` pixels.
fn svg<F>(name: &str, size: (u32, u32), draw: F) -> Result<String, ReportError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
{
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .map_err(plot_err(name))?;
        draw(&root).map_err(plot_err(name))?;
        root.present()
            .map_err(|e| e.to_string())
            .map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// `(lo, hi)` padded by 5 % (and widened when degenerate).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// A line chart: one named series per entry of `series` (x, y points).
#[allow(clippy::too_many_arguments)]
fn line_chart(
    name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    y_range: Option<(f64, f64)>,
    size: (u32, u32),
    markers: bool,
) -> Result<String, ReportError> {
    line_chart_x(
        name, title, x_desc, y_desc, series, y_range, size, markers, None,
    )
}

/// [`line_chart`] with an explicit x range; x labels are whole numbers when the axis
/// is a count (steps, epochs, severities).
#[allow(clippy::too_many_arguments)]
fn line_chart_x(
    name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    y_range: Option<(f64, f64)>,
    size: (u32, u32),
    markers: bool,
    x_range: Option<(f64, f64)>,
) -> Result<String, ReportError> {
    let pts = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    let (x0, x1) = match x_range {
        Some(r) => r,
        None if x1 > x0 => (x0, x1),
        None => padded(x0, x1),
    };
    let (y0, y1) = y_range.unwrap_or_else(|| padded(y0, y1));
    let integer_x = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .all(|(x, _)| x.fract() == 0.0);
    let data_x1 = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let x_fmt = move |x: &f64| {
        if !integer_x {
            format!("{x}")
        } else if x.fract().abs() < 1e-9 && *x <= data_x1 + 1e-9 {
            format!("{x:.0}")
        } else {
            String::new()
        }
    };
    svg(name, size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (label, points)) in series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            if markers {
                chart
                    .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        if series.len() > 1 || series.first().is_some_and(|s| !s.0.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font(("sans-serif", 12))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Reliability diagram (accuracy per confidence bin against the diagonal) above the
/// histogram of confidences.
fn reliability_chart(
    name: &str,
    title: &str,
    m: &ClassificationMetrics,
) -> Result<String, ReportError> {
    let bins = &m.calibration.bins;
    let max_count = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    svg(name, (420, 460), |root| {
        let (top, bottom) = root.split_vertically(330);
        let mut chart = ChartBuilder::on(&top)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .y_desc("accuracy")
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        let blue = PALETTE[0];
        let red = PALETTE[3];
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                Rectangle::new(
                    [(b.lower, 0.0), (b.upper, b.accuracy)],
                    blue.mix(0.75).filled(),
                )
            }))
            .map_err(|e| e.to_string())?
            .label("accuracy")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], blue.mix(0.75).filled())
            });
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                PathElement::new(
                    vec![(b.lower, b.confidence), (b.upper, b.confidence)],
                    red.stroke_width(3),
                )
            }))
            .map_err(|e| e.to_string())?
            .label("mean confidence")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], red.stroke_width(3)));
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                RGBColor(90, 90, 90).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], RGBColor(90, 90, 90)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 11))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        let mut hist = ChartBuilder::on(&bottom)
            .margin_left(10)
            .margin_right(10)
            .margin_bottom(5)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..max_count * 1.1)
            .map_err(|e| e.to_string())?;
        hist.configure_mesh()
            .x_desc("confidence")
            .y_desc("count")
            .y_labels(3)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        hist.draw_series(bins.iter().map(|b| {
            Rectangle::new(
                [(b.lower, 0.0), (b.upper, b.count as f64)],
                PALETTE[7].mix(0.7).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Scatter of 2-D points coloured by class, with a legend of class names.
fn scatter_chart(
    name: &str,
    title: &str,
    points: &[(f64, f64)],
    labels: &[usize],
    class_names: &[String],
) -> Result<String, ReportError> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (x0, x1) = padded(x0, x1);
    let (y0, y1) = padded(y0, y1);
    let used: BTreeSet<usize> = labels.iter().copied().collect();
    svg(name, (560, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .right_y_label_area_size(0)
            .build_cartesian_2d(x0..x1 + (x1 - x0) * 0.35, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("PC 1")
            .y_desc("PC 2")
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for &c in &used {
            let col = colour(c);
            let name = class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
            chart
                .draw_series(
                    points
                        .iter()
                        .zip(labels)
                        .filter(|(_, l)| **l == c)
                        .map(|(&(x, y), _)| Circle::new((x, y), 2, col.mix(0.8).filled())),
                )
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, col.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Strip plot of top-1 per method (one column per method), with mean ± std.
fn sweep_chart(name: &str, report: &SweepReport) -> Result<String, ReportError> {
    let methods: Vec<_> = report.config.methods.clone();
    let m = methods.len().max(1) as f64;
    let mut ys: Vec<f64> = report.points.iter().filter_map(|p| p.top1).collect();
    ys.push(0.0);
    let y1 = ys.iter().copied().fold(0.0, f64::max).max(0.1);
    svg(name, (520, 380), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "test top-1 over the grid (each dot a grid point)",
                ("sans-serif", 15),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..m - 0.5, 0f64..(y1 * 1.1).min(1.0))
            .map_err(|e| e.to_string())?;
        let names: Vec<String> = methods.iter().map(|x| x.name().to_string()).collect();
        chart
            .configure_mesh()
            .x_labels(methods.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("test top-1")
            .disable_x_mesh()
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, method) in methods.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<f64> = report
                .points
                .iter()
                .filter(|p| p.method == *method)
                .filter_map(|p| p.top1)
                .collect();
            let n = pts.len().max(1) as f64;
            chart
                .draw_series(pts.iter().enumerate().map(|(j, &y)| {
                    let jitter = (j as f64 + 0.5) / n * 0.4 - 0.2;
                    Circle::new((i as f64 + jitter, y), 4, c.mix(0.7).filled())
                }))
                .map_err(|e| e.to_string())?;
            if let Some(s) = report.summary.iter().find(|s| s.method == *method)
                && let (Some(mean), Some(std)) = (s.mean, s.std)
            {
                let x = i as f64;
                chart
                    .draw_series([
                        PathElement::new(
                            vec![(x - 0.3, mean), (x + 0.3, mean)],
                            BLACK.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(x + 0.25, mean - std), (x + 0.25, mean + std)],
                            BLACK.stroke_width(1),
                        ),
                    ])
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

/// The first two principal components of the rows of `x` (`[n, d]`), by power
/// iteration on `X^T X` of the centred data (deflating the first component), each
/// with the sign that makes its largest loading positive. Returns the `n` projections.
///
/// # Errors
/// [`EvalError::Invalid`](super::EvalError) when `x` does not hold `n * d` values.
pub fn pca_2d(x: &[f32], n: usize, d: usize) -> Result<Vec<(f64, f64)>, super::EvalError> {
    if n.checked_mul(d) != Some(x.len()) {
        return Err(super::EvalError::Invalid(format!(
            "PCA: {} values for {n} rows of {d}",
            x.len()
        )));
    }
    if n == 0 || d == 0 {
        return Ok(Vec::new());
    }
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred: Vec<f64> = x
        .chunks_exact(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| f64::from(v) - m))
        .collect();
    let apply = |v: &[f64]| -> Vec<f64> {
        // X^T (X v)
        let mut out = vec![0f64; d];
        for row in centred.chunks_exact(d) {
            let s: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
            for (o, a) in out.iter_mut().zip(row) {
                *o += s * a;
            }
        }
        out
    };
    let normalise = |v: &mut Vec<f64>| {
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|a| *a /= norm);
        }
        norm
    };
    let mut components: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        let mut v: Vec<f64> = (0..d)
            .map(|i| 1.0 + ((i * 7 + k * 13) % 11) as f64 * 0.1)
            .collect();
        let orthogonalise = |v: &mut Vec<f64>, comps: &[Vec<f64>]| {
            for c in comps {
                let dot: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
            }
        };
        orthogonalise(&mut v, &components);
        normalise(&mut v);
        for _ in 0..300 {
            let mut w = apply(&v);
            orthogonalise(&mut w, &components);
            if normalise(&mut w) == 0.0 {
                break;
            }
            let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            if delta < 1e-10 {
                break;
            }
        }
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |m, a| if a.abs() > m.abs() { a } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|a| *a = -*a);
        }
        components.push(v);
    }
    Ok(centred
        .chunks_exact(d)
        .map(|row| {
            let p = |c: &[f64]| row.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
            (p(&components[0]), p(&components[1]))
        })
        .collect())
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

fn entry(info: RunInfo, suite: Option<&Path>, log: &dyn Fn(&str)) -> Entry {
    let dir = info.dir.clone();
    let config: Value = read_json(&dir.join("config.json")).unwrap_or(Value::Null);
    // Malformed lines are skipped with a warning each; the good ones still draw curves.
    let metrics_path = dir.join("metrics.jsonl");
    let metrics = if metrics_path.exists() {
        match read_metrics_lenient(&metrics_path) {
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
    Entry {
        label: label_of(&dir),
        info,
        config,
        metrics,
        test,
        eval,
    }
}

/// A sweep with its label.
type LabelledSweep = (String, SweepReport);

/// Expands the given directories into runs and sweeps.
fn collect(
    dirs: &[PathBuf],
    log: &dyn Fn(&str),
) -> Result<(Vec<Entry>, Vec<LabelledSweep>), ReportError> {
    let mut entries = Vec::new();
    let mut sweeps = Vec::new();
    for dir in dirs {
        let info = inspect_run(dir)?;
        match info.kind {
            RunKind::Suite => {
                for sub in ["supcon", "linear", "ce"] {
                    let d = dir.join(sub);
                    if d.join("config.json").is_file() {
                        entries.push(entry(inspect_run(&d)?, Some(dir), log));
                    }
                }
            }
            RunKind::Sweep => {
                let r: SweepReport =
                    read_json(&dir.join("sweep.json")).map_err(RunEvalError::from)?;
                sweeps.push((label_of(dir), r));
            }
            _ => entries.push(entry(info, None, log)),
        }
    }
    Ok((entries, sweeps))
}

fn kind_name(e: &Entry) -> &'static str {
    match e.info.kind {
        RunKind::Pretrain if e.info.has_classifier => "pretrain (+ joint classifier)",
        RunKind::Pretrain => match e.config.get("method").and_then(Value::as_str) {
            Some("simclr") => "SimCLR pre-training",
            _ => "SupCon pre-training",
        },
        RunKind::Linear => "linear probe",
        RunKind::Ce => "cross-entropy",
        RunKind::Finetune => "fine-tuning",
        RunKind::Suite => "supcon run",
        RunKind::Sweep => "sweep",
    }
}

/// The test metrics shown for a run: its evaluation's clean metrics, else its report's.
fn metrics_of(e: &Entry) -> Option<&ClassificationMetrics> {
    e.eval.as_ref().map(|r| &r.clean).or(e.test.as_ref())
}

struct Page {
    html: String,
    plots: usize,
    sections: Vec<String>,
}

impl Page {
    fn section(&mut self, id: &str, title: &str) {
        if !self.sections.is_empty() {
            self.html.push_str("</section>\n");
        }
        self.sections.push(id.to_string());
        let _ = writeln!(self.html, "<section id=\"{id}\">\n<h2>{}</h2>", esc(title));
    }

    fn figure(&mut self, id: &str, svg: &str, caption: &str) {
        self.plots += 1;
        let _ = writeln!(
            self.html,
            "<figure class=\"plot\" id=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
            esc(id),
            esc(caption)
        );
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.html, "<p class=\"note\">{}</p>", esc(text));
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn config_str(v: &Value, path: &[&str]) -> Option<String> {
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

/// Builds the HTML report of `dirs`. `log` receives progress lines.
///
/// # Errors
/// A directory that is not a run, a `supcon run` or a `supcon sweep` output; a plot that
/// cannot be drawn. Embedding failures (e.g. data no longer available) become a note in
/// the page.
pub fn build_report(
    dirs: &[PathBuf],
    opts: &ReportOptions,
    log: &dyn Fn(&str),
) -> Result<(String, ReportSummary), ReportError> {
    if dirs.is_empty() {
        return Err(ReportError::Empty);
    }
    let (entries, sweeps) = collect(dirs, log)?;
    let mut page = Page {
        html: String::new(),
        plots: 0,
        sections: Vec::new(),
    };

    // Runs.
    page.section("runs", "Runs");
    page.html.push_str(
        "<table><tr><th>run</th><th>kind</th><th>data</th><th>encoder</th><th>epochs</th>\
         <th>batch</th><th>base LR</th><th>directory</th></tr>\n",
    );
    for e in &entries {
        let c = &e.config;
        let encoder = config_str(c, &["model", "encoder", "name"])
            .or_else(|| config_str(c, &["encoder", "name"]))
            .or_else(|| {
                e.info.encoder_run.as_ref().and_then(|p| {
                    read_json::<Value>(&p.join("config.json"))
                        .ok()
                        .and_then(|v| config_str(&v, &["model", "encoder", "name"]))
                })
            })
            .unwrap_or_else(|| "-".into());
        let data = e
            .info
            .data
            .as_ref()
            .map(|d| {
                let mut s = d.spec.clone();
                if let Some(l) = d.limit {
                    let _ = write!(s, " (train ≤ {l})");
                }
                if let Some(l) = d.test_limit {
                    let _ = write!(s, " (test ≤ {l})");
                }
                s
            })
            .unwrap_or_default();
        let _ = writeln!(
            page.html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&e.label),
            kind_name(e),
            esc(&data),
            esc(&encoder),
            config_str(c, &["epochs"]).unwrap_or_else(|| "-".into()),
            config_str(c, &["batch_size"]).unwrap_or_else(|| "-".into()),
            config_str(c, &["schedule", "base_lr"]).unwrap_or_else(|| "-".into()),
            esc(&e.info.dir.display().to_string())
        );
    }
    page.html.push_str("</table>\n");
    for (label, _) in &sweeps {
        let _ = writeln!(
            page.html,
            "<p>sweep <code>{}</code>: see <a href=\"#sweep\">Sweep</a>.</p>",
            esc(label)
        );
    }

    // Accuracy.
    page.section("accuracy", "Test accuracy and calibration");
    let classifiers: Vec<&Entry> = entries.iter().filter(|e| metrics_of(e).is_some()).collect();
    if classifiers.is_empty() {
        page.note(
            "No finished classifier run (linear probe, cross-entropy, joint) among the runs.",
        );
    } else {
        page.html.push_str(
            "<table><tr><th>run</th><th>kind</th><th>test images</th><th>top-1</th><th>top-5</th>\
             <th>ECE</th><th>MCE</th><th>NLL</th><th>k-NN top-1</th><th>few-shot top-1</th>\
             <th>mean corruption error</th><th>mCE</th><th>relative mCE</th><th>source</th></tr>\n",
        );
        for e in &classifiers {
            let m = metrics_of(e).expect("filtered");
            let ev = e.eval.as_ref();
            let knn = ev
                .and_then(|r| r.knn.as_ref())
                .map_or("-".into(), |k| pct(k.top1));
            let few = ev
                .map(|r| {
                    r.few_shot
                        .iter()
                        .map(|f| format!("{}-shot {} ± {:.1}", f.shots, pct(f.mean), 100.0 * f.std))
                        .collect::<Vec<_>>()
                        .join("<br>")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "-".into());
            let rob = ev
                .and_then(|r| r.corruptions.as_ref())
                .map(|c| &c.robustness);
            let opt3 = |v: Option<f64>| v.map_or("-".into(), fmt3);
            let _ = writeln!(
                page.html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td>\
                 <td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.label),
                kind_name(e),
                m.samples,
                pct(m.top1),
                pct(m.top5),
                m.calibration.ece,
                m.calibration.mce,
                m.calibration.nll,
                knn,
                few,
                rob.map_or("-".into(), |r| pct(r.mean_error)),
                opt3(rob.and_then(|r| r.mce)),
                opt3(rob.and_then(|r| r.relative_mce)),
                if ev.is_some() {
                    "eval.json"
                } else {
                    "report.json"
                },
            );
        }
        page.html.push_str("</table>\n");
        if classifiers.len() > 1 {
            // Side-by-side bars would repeat the table; the reliability plots below compare
            // calibration.
        }
    }

    // Curves.
    page.section("curves", "Training curves");
    let mut any_curve = false;
    page.html.push_str("<div class=\"grid\">\n");
    for e in &entries {
        let steps: Vec<&Value> = e
            .metrics
            .iter()
            .filter(|r| r.get("step").is_some() && r.get("loss").is_some())
            .collect();
        let id = slug(&e.label);
        if !steps.is_empty() {
            let loss: Vec<(f64, f64)> = steps
                .iter()
                .filter_map(|r| Some((r["step"].as_f64()?, r["loss"].as_f64()?)))
                .collect();
            let stage = steps[0]
                .get("stage")
                .and_then(Value::as_str)
                .unwrap_or("train");
            let mut series = vec![(format!("{stage} loss"), loss)];
            let ce: Vec<(f64, f64)> = steps
                .iter()
                .filter_map(|r| Some((r["step"].as_f64()?, r.get("ce_loss")?.as_f64()?)))
                .collect();
            if !ce.is_empty() {
                series.push(("joint CE loss".into(), ce));
            }
            let svg = line_chart(
                &format!("loss {}", e.label),
                &format!("{}: training loss", e.label),
                "step",
                "loss",
                &series,
                None,
                (520, 320),
                false,
            )?;
            page.figure(
                &format!("loss-{id}"),
                &svg,
                &format!("{}: loss per step", e.label),
            );
            let lr: Vec<(f64, f64)> = steps
                .iter()
                .filter_map(|r| Some((r["step"].as_f64()?, r.get("lr")?.as_f64()?)))
                .collect();
            if !lr.is_empty() {
                let svg = line_chart(
                    &format!("lr {}", e.label),
                    &format!("{}: learning rate", e.label),
                    "step",
                    "learning rate",
                    &[("LR".into(), lr)],
                    None,
                    (520, 320),
                    false,
                )?;
                page.figure(
                    &format!("lr-{id}"),
                    &svg,
                    &format!("{}: learning-rate schedule", e.label),
                );
            }
            any_curve = true;
        } else {
            let epochs: Vec<(f64, f64)> = e
                .metrics
                .iter()
                .filter_map(|r| Some((r.get("epoch")?.as_f64()?, r.get("epoch_loss")?.as_f64()?)))
                .collect();
            if !epochs.is_empty() {
                let svg = line_chart(
                    &format!("loss {}", e.label),
                    &format!("{}: training loss", e.label),
                    "epoch",
                    "mean loss",
                    &[("epoch loss".into(), epochs)],
                    None,
                    (520, 320),
                    true,
                )?;
                page.figure(
                    &format!("loss-{id}"),
                    &svg,
                    &format!("{}: mean loss per epoch", e.label),
                );
                any_curve = true;
            }
        }
    }
    page.html.push_str("</div>\n");
    if !any_curve {
        page.note("No metrics.jsonl with loss records among the runs.");
    }

    // Reliability.
    page.section("reliability", "Reliability diagrams");
    if classifiers.is_empty() {
        page.note("No classifier run to draw a reliability diagram for.");
    } else {
        page.html.push_str("<div class=\"grid\">\n");
        for e in &classifiers {
            let m = metrics_of(e).expect("filtered");
            let svg = reliability_chart(
                &format!("reliability {}", e.label),
                &format!(
                    "{}: ECE {:.4}, acc {}",
                    e.label,
                    m.calibration.ece,
                    pct(m.top1)
                ),
                m,
            )?;
            page.figure(
                &format!("reliability-{}", slug(&e.label)),
                &svg,
                &format!(
                    "{}: accuracy per confidence bin ({} bins, {} samples), MCE {:.4}, NLL {:.4}",
                    e.label,
                    m.calibration.bins.len(),
                    m.samples,
                    m.calibration.mce,
                    m.calibration.nll
                ),
            );
        }
        page.html.push_str("</div>\n");
    }

    // Corruptions.
    page.section("corruptions", "Corruption robustness");
    let robust: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.eval.as_ref().is_some_and(|r| r.corruptions.is_some()))
        .collect();
    if robust.is_empty() {
        page.note(
            "No corruption results: run `supcon eval --model RUN_DIR --corruptions all` (it writes \
             RUN_DIR/eval.json), then build the report again.",
        );
    } else {
        page.html.push_str("<div class=\"grid\">\n");
        let mut series = Vec::new();
        for e in &robust {
            let r = e.eval.as_ref().expect("filtered");
            let c = r.corruptions.as_ref().expect("filtered");
            let mut pts = vec![(0.0, r.clean.top1)];
            for &s in &c.severities {
                let accs: Vec<f64> = c
                    .cells
                    .iter()
                    .filter(|x| x.severity == s)
                    .map(|x| x.top1)
                    .collect();
                if !accs.is_empty() {
                    pts.push((f64::from(s), accs.iter().sum::<f64>() / accs.len() as f64));
                }
            }
            series.push((e.label.clone(), pts));
        }
        let svg = line_chart_x(
            "corruption mean",
            "accuracy by severity (mean over corruptions)",
            "severity (0 = clean)",
            "top-1",
            &series,
            Some((0.0, 1.0)),
            (520, 340),
            true,
            Some((-0.2, 5.2)),
        )?;
        page.figure(
            "corruption-mean",
            &svg,
            "Mean test top-1 over the evaluated corruptions, by severity",
        );
        for e in &robust {
            let r = e.eval.as_ref().expect("filtered");
            let c = r.corruptions.as_ref().expect("filtered");
            let names: Vec<String> = c.robustness.corruptions.keys().cloned().collect();
            let series: Vec<(String, Vec<(f64, f64)>)> = names
                .iter()
                .map(|n| {
                    let mut pts = vec![(0.0, r.clean.top1)];
                    pts.extend(
                        c.cells
                            .iter()
                            .filter(|x| &x.corruption == n)
                            .map(|x| (f64::from(x.severity), x.top1)),
                    );
                    (n.clone(), pts)
                })
                .collect();
            let svg = line_chart_x(
                &format!("corruptions {}", e.label),
                &format!("{}: accuracy by corruption", e.label),
                "severity (0 = clean)",
                "top-1",
                &series,
                Some((0.0, 1.0)),
                (640, 380),
                true,
                // Room on the right for the legend of up to 15 corruptions.
                Some((-0.2, 8.4)),
            )?;
            page.figure(
                &format!("corruptions-{}", slug(&e.label)),
                &svg,
                &format!("{}: test top-1 per corruption and severity", e.label),
            );
        }
        page.html.push_str("</div>\n");
        for e in &robust {
            let r = e.eval.as_ref().expect("filtered");
            let c = r.corruptions.as_ref().expect("filtered");
            let _ = write!(
                page.html,
                "<h3>{}</h3><table><tr><th>corruption</th>",
                esc(&e.label)
            );
            for s in &c.severities {
                let _ = write!(page.html, "<th>s{s} top-1</th><th>s{s} ECE</th>");
            }
            page.html
                .push_str("<th>mean error</th><th>CE</th><th>relative CE</th></tr>\n");
            let opt3 = |v: Option<f64>| v.map_or("-".into(), fmt3);
            for (name, score) in &c.robustness.corruptions {
                let _ = write!(page.html, "<tr><td>{}</td>", esc(name));
                for s in &c.severities {
                    match c
                        .cells
                        .iter()
                        .find(|x| &x.corruption == name && x.severity == *s)
                    {
                        Some(x) => {
                            let _ =
                                write!(page.html, "<td>{}</td><td>{:.3}</td>", pct(x.top1), x.ece);
                        }
                        None => page.html.push_str("<td>-</td><td>-</td>"),
                    }
                }
                let _ = writeln!(
                    page.html,
                    "<td>{}</td><td>{}</td><td>{}</td></tr>",
                    pct(score.mean_error),
                    opt3(score.ce),
                    opt3(score.relative_ce)
                );
            }
            let rb = &c.robustness;
            let _ = writeln!(
                page.html,
                "</table><p>mean corruption error {}; mCE {}; relative mCE {}{}.</p>",
                pct(rb.mean_error),
                opt3(rb.mce),
                opt3(rb.relative_mce),
                c.baseline
                    .as_ref()
                    .map_or(" (no baseline)".into(), |b| format!(
                        " (baseline <code>{}</code>)",
                        esc(&b.source.display().to_string())
                    ))
            );
        }
    }

    // Confusion matrices.
    let confused: Vec<&Entry> = entries.iter().filter(|e| e.eval.is_some()).collect();
    if !confused.is_empty() {
        page.section("confusion", "Confusion matrices");
        page.html.push_str("<div class=\"grid\">\n");
        for e in confused {
            let r = e.eval.as_ref().expect("filtered");
            let counts = r.confusion_matrix.counts();
            let _ = write!(
                page.html,
                "<div class=\"cm\"><h3>{}</h3><table class=\"cm\"><tr><th>true \\ predicted</th>",
                esc(&e.label)
            );
            for (j, _) in counts.iter().enumerate() {
                let _ = write!(
                    page.html,
                    "<th title=\"{}\">{j}</th>",
                    esc(r.class_names.get(j).map_or("", String::as_str))
                );
            }
            page.html.push_str("</tr>\n");
            for (t, row) in counts.iter().enumerate() {
                let total: u64 = row.iter().sum::<u64>().max(1);
                let _ = write!(
                    page.html,
                    "<tr><th>{t} {}</th>",
                    esc(r.class_names.get(t).map_or("", String::as_str))
                );
                for (p, &v) in row.iter().enumerate() {
                    let frac = v as f64 / total as f64;
                    let (rr, gg, bb) = if p == t {
                        (31, 119, 180)
                    } else {
                        (214, 39, 40)
                    };
                    let _ = write!(
                        page.html,
                        "<td style=\"background:rgba({rr},{gg},{bb},{:.2})\">{v}</td>",
                        frac.min(1.0) * 0.85
                    );
                }
                page.html.push_str("</tr>\n");
            }
            page.html.push_str("</table></div>\n");
        }
        page.html.push_str("</div>\n");
    }

    // Embeddings.
    page.section("embeddings", "Test-set embeddings (PCA)");
    if !opts.embeddings {
        page.note("Embeddings skipped (--no-embeddings).");
    } else {
        let mut seen = BTreeSet::new();
        let mut drew = false;
        page.html.push_str("<div class=\"grid\">\n");
        for e in &entries {
            let key = match e.info.kind {
                RunKind::Linear => e.info.encoder_run.clone(),
                _ => Some(e.info.dir.clone()),
            }
            .map(|p| p.canonicalize().unwrap_or(p));
            let Some(key) = key else { continue };
            if !seen.insert(key) {
                continue;
            }
            log(&format!(
                "embedding the test set with the encoder of {}",
                e.label
            ));
            match embed(e, opts.pca_points) {
                Ok((points, labels, names, dim)) => {
                    let svg = scatter_chart(
                        &format!("pca {}", e.label),
                        &format!("{}: encoder features, PCA", e.label),
                        &points,
                        &labels,
                        &names,
                    )?;
                    page.figure(
                        &format!("pca-{}", slug(&e.label)),
                        &svg,
                        &format!(
                            "{}: first two principal components of {} test images' {dim}-d encoder features, coloured by class",
                            e.label,
                            points.len()
                        ),
                    );
                    drew = true;
                }
                Err(err) => {
                    // Said on stderr too (a probe whose encoder was retrained, say).
                    log(&format!(
                        "warning: {}: embeddings unavailable: {err}",
                        e.label
                    ));
                    page.note(&format!("{}: embeddings unavailable: {err}", e.label));
                }
            }
        }
        page.html.push_str("</div>\n");
        if !drew && entries.is_empty() {
            page.note("No run with an encoder.");
        }
    }

    // Sweeps.
    if !sweeps.is_empty() {
        page.section("sweep", "Hyperparameter stability (sweep)");
        for (label, r) in &sweeps {
            let svg = sweep_chart(&format!("sweep {label}"), r)?;
            page.html.push_str("<div class=\"grid\">\n");
            page.figure(
                &format!("sweep-{}", slug(label)),
                &svg,
                &format!(
                    "{label}: test top-1 of every grid point; bar = mean, vertical line = ± std"
                ),
            );
            page.html.push_str("</div>\n");
            page.html.push_str(
                "<table><tr><th>method</th><th>points</th><th>failed</th><th>mean top-1</th><th>std</th>\
                 <th>worst</th><th>best</th><th>range</th><th>worst point</th></tr>\n",
            );
            let p = |v: Option<f64>| v.map_or("-".into(), pct);
            for s in &r.summary {
                let worst = s
                    .worst
                    .as_ref()
                    .map(|w| {
                        w.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    page.html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    s.method,
                    s.points,
                    s.failed,
                    p(s.mean),
                    p(s.std),
                    p(s.min),
                    p(s.max),
                    p(s.range),
                    esc(&worst)
                );
            }
            page.html.push_str("</table>\n");
        }
    }
    page.html.push_str("</section>\n");

    let nav: String = page
        .sections
        .iter()
        .map(|s| format!("<a href=\"#{s}\">{s}</a>"))
        .collect::<Vec<_>>()
        .join(" · ");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
         <style>{CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<nav>{nav}</nav>\n{body}</body>\n</html>\n",
        title = esc(&opts.title),
        body = page.html
    );
    let summary = ReportSummary {
        runs: entries.len() + sweeps.len(),
        plots: page.plots,
        sections: page.sections,
    };
    Ok((html, summary))
}

/// PCA of a run's test-set encoder features: points, labels, class names, feature size.
#[allow(clippy::type_complexity)]
fn embed(
    e: &Entry,
    max_points: usize,
) -> Result<(Vec<(f64, f64)>, Vec<usize>, Vec<String>, usize), RunEvalError> {
    let mut data = load_eval_data(&e.info, &DataOverride::default())?;
    if data.test.len() > max_points {
        data.test = crate::data::limit(&data.test, max_points, 0);
    }
    let encoder = load_run_encoder(&e.info)?;
    let feats = encoder_features(&encoder, e.info.device, &data, &data.test)?;
    let points = pca_2d(&feats.values, feats.rows, feats.cols)
        .map_err(|e| RunEvalError::Invalid(e.to_string()))?;
    Ok((
        points,
        data.test.labels.clone(),
        data.test.class_names.clone(),
        feats.cols,
    ))
}

/// Builds the report and writes it to `out`.
///
/// # Errors
/// As [`build_report`], and I/O errors naming `out`.
pub fn write_report(
    dirs: &[PathBuf],
    out: &Path,
    opts: &ReportOptions,
    log: &dyn Fn(&str),
) -> Result<ReportSummary, ReportError> {
    crate::outputs::check_file(out, &crate::outputs::Inputs::new(dirs.iter().cloned(), []))
        .map_err(RunEvalError::from)?;
    // A report written into a run's folder: the folder is checked free at once, and
    // locked while the report is written.
    let lock = |dir: &Path| {
        crate::dirlock::DirLock::acquire(dir)
            .map_err(|e| RunEvalError::from(crate::train::RunDirError::from(e)))
    };
    let folder = crate::dirlock::output_folder(out);
    if let Some(folder) = &folder {
        drop(lock(folder)?);
    }
    let (html, summary) = build_report(dirs, opts, log)?;
    let _lock = folder.as_deref().map(lock).transpose()?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    crate::fsutil::write_atomic(out, html.as_bytes()).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(summary)
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;\
color:#222;max-width:1400px}h1{margin-bottom:4px}nav{margin-bottom:16px}nav a{margin-right:4px}\
section{margin-top:28px;border-top:1px solid #ddd;padding-top:8px}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;\
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
.grid{display:flex;flex-wrap:wrap;gap:12px}figure.plot{margin:0;border:1px solid #e3e3e3;padding:4px}\
figcaption{font-size:12px;color:#555;max-width:560px}.note{color:#777;font-style:italic}\
table.cm td{min-width:28px;text-align:center}code{font-size:12px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_dominant_directions() {
        // Points spread along (1, 1, 0) strongly and (1, -1, 0) weakly, the two
        // uncorrelated (b follows +1 -1 -1 +1 against a linear ramp).
        let mut x = Vec::new();
        for i in 0..48 {
            let a = i as f32 - 24.0;
            let b = [1.0, -1.0, -1.0, 1.0][i % 4];
            x.extend_from_slice(&[a + b, a - b, 0.0]);
        }
        let p = pca_2d(&x, 48, 3).unwrap();
        assert_eq!(p.len(), 48);
        // A row count that does not match the values is an error, not other projections.
        assert!(
            pca_2d(&x, 47, 3)
                .unwrap_err()
                .to_string()
                .contains("144 values for 47 rows")
        );
        assert!(pca_2d(&x, 50, 3).is_err());
        // Centred, PC1 = (a + 0.5) * sqrt(2) and PC2 = b * sqrt(2), up to sign.
        for (i, &(u, v)) in p.iter().enumerate() {
            let a = i as f64 - 23.5;
            assert!((u.abs() - (a * 2f64.sqrt()).abs()).abs() < 1e-6, "{i}: {u}");
            assert!((v.abs() - 2f64.sqrt()).abs() < 1e-6, "{i}: {v}");
        }
    }

    #[test]
    fn line_chart_is_an_svg_with_its_labels() {
        let svg = line_chart(
            "t",
            "A title",
            "step",
            "loss",
            &[("train".into(), vec![(0.0, 1.0), (1.0, 0.5)])],
            None,
            (300, 200),
            true,
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("A title") && svg.contains("train"));
    }
}
