//! Hyperparameter stability (Khosla et al., NeurIPS 2020, Sec. 5 and Fig. 4): the same
//! methods trained over a grid of hyperparameters at a small budget, reporting per method
//! the mean, spread (standard deviation), worst and best test top-1. SupCon's claim is
//! that its accuracy moves less than cross-entropy's when optimiser, augmentation, batch
//! size or learning rate change.
//!
//! A grid is a list of axes `key=v1,v2,...`; the points are their Cartesian product.
//! Keys ([`GridKey`]): `lr`, `temperature` (contrastive methods only: a CE grid ignores
//! that axis), `optimizer`, `augment`, `batch_size`, `weight_decay`, `momentum`, `seed`.
//! `lr`, `optimizer`, `weight_decay` and `momentum` apply to stage 1 (pre-training) and
//! to the CE baseline; the linear probe keeps its own settings.
//!
//! Layout of the output directory: `sweep.json` (rewritten after every point, so an
//! interrupted sweep keeps its results), and one directory per point:
//! `<method>/<NN>-<slug>/` holding `pretrain/` and `linear/` (contrastive methods) or the
//! CE run itself. Running the same sweep again into the same directory reuses finished
//! points and resumes interrupted training from its last checkpoint.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::evaluate::mean_std;
use crate::augment::Augment;
use crate::train::run_dir::{read_json, write_json};
use crate::train::{
    LinearConfig, LinearReport, Method, OptimizerKind, PretrainConfig, RunOptions,
    SupervisedConfig, SupervisedReport, TrainError, linear_probe, pretrain, resume_pretrain,
    resume_supervised, train_supervised,
};

/// What stopped a sweep (a failed grid point does not: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A `--grid` or `--methods` value, or a setting, is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The output directory cannot be used.
    #[error("{path}: {reason}")]
    Out {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Writing `sweep.json` failed.
    #[error(transparent)]
    RunDir(#[from] crate::train::RunDirError),
}

/// A hyperparameter a grid can vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridKey {
    /// Base learning rate of stage 1 and of the CE baseline.
    Lr,
    /// SupCon/SimCLR temperature (ignored by CE).
    Temperature,
    /// Optimiser of stage 1 and of the CE baseline: sgd, lars, rmsprop, adamw.
    Optimizer,
    /// Augmentation policy: none, sim, autoaugment-cifar10, ..., stacked-randaugment.
    Augment,
    /// Images per batch.
    BatchSize,
    /// Weight decay of stage 1 and of the CE baseline.
    WeightDecay,
    /// Momentum of stage 1 and of the CE baseline.
    Momentum,
    /// Seed of every stage.
    Seed,
}

impl GridKey {
    /// Every key.
    pub const ALL: [GridKey; 8] = [
        Self::Lr,
        Self::Temperature,
        Self::Optimizer,
        Self::Augment,
        Self::BatchSize,
        Self::WeightDecay,
        Self::Momentum,
        Self::Seed,
    ];

    /// The name used in `--grid`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lr => "lr",
            Self::Temperature => "temperature",
            Self::Optimizer => "optimizer",
            Self::Augment => "augment",
            Self::BatchSize => "batch_size",
            Self::WeightDecay => "weight_decay",
            Self::Momentum => "momentum",
            Self::Seed => "seed",
        }
    }

    /// A short form for directory names.
    fn short(self) -> &'static str {
        match self {
            Self::Lr => "lr",
            Self::Temperature => "t",
            Self::Optimizer => "opt",
            Self::Augment => "aug",
            Self::BatchSize => "bs",
            Self::WeightDecay => "wd",
            Self::Momentum => "mom",
            Self::Seed => "seed",
        }
    }

    /// Whether the key applies to `method`.
    pub fn applies_to(self, method: SweepMethod) -> bool {
        self != Self::Temperature || method != SweepMethod::Ce
    }

    /// Checks one value.
    fn check(self, v: &str) -> Result<(), String> {
        let positive = |v: &str| match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(()),
            _ => Err("expected a positive number".to_string()),
        };
        let non_negative = |v: &str| match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(()),
            _ => Err("expected a non-negative number".to_string()),
        };
        match self {
            Self::Lr | Self::Temperature => positive(v),
            Self::WeightDecay => non_negative(v),
            Self::Momentum => match v.parse::<f64>() {
                Ok(x) if (0.0..1.0).contains(&x) => Ok(()),
                _ => Err("expected a number m with 0 <= m < 1".to_string()),
            },
            Self::Optimizer => v.parse::<OptimizerKind>().map(|_| ()),
            Self::Augment => v.parse::<Augment>().map(|_| ()).map_err(|e| e.to_string()),
            Self::BatchSize => match v.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(()),
                _ => Err("expected an integer >= 1".to_string()),
            },
            Self::Seed => v
                .parse::<u64>()
                .map(|_| ())
                .map_err(|_| "expected a non-negative integer".to_string()),
        }
    }
}

impl fmt::Display for GridKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GridKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        let key = match key.as_str() {
            "learning_rate" | "base_lr" => "lr",
            "t" | "tau" => "temperature",
            "optim" => "optimizer",
            "augmentation" | "policy" => "augment",
            "batch" => "batch_size",
            k => k,
        }
        .to_string();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == key)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown grid key '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// One axis of a grid: a key and its values (checked, in the given order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridAxis {
    /// The hyperparameter.
    pub key: GridKey,
    /// Its values, as given.
    pub values: Vec<String>,
}

impl FromStr for GridAxis {
    type Err = String;

    /// Parses `key=v1,v2,...`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, vs) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}': expected KEY=V1,V2,... (e.g. lr=0.05,0.1)"))?;
        let key: GridKey = k.parse()?;
        let mut values: Vec<String> = Vec::new();
        for v in vs.split(',').map(str::trim) {
            if v.is_empty() {
                return Err(format!("'{s}': empty value"));
            }
            key.check(v)
                .map_err(|e| format!("'{s}': {key} value '{v}': {e}"))?;
            if !values.iter().any(|x| x == v) {
                values.push(v.to_string());
            }
        }
        Ok(Self { key, values })
    }
}

/// A method of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepMethod {
    /// SupCon pre-training + linear probe.
    Supcon,
    /// SimCLR pre-training + linear probe.
    Simclr,
    /// The cross-entropy baseline.
    Ce,
}

impl SweepMethod {
    /// The name used in `--methods` and directory names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Supcon => "supcon",
            Self::Simclr => "simclr",
            Self::Ce => "ce",
        }
    }
}

impl fmt::Display for SweepMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SweepMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "supcon" => Ok(Self::Supcon),
            "simclr" => Ok(Self::Simclr),
            "ce" | "cross-entropy" | "cross_entropy" => Ok(Self::Ce),
            _ => Err(format!(
                "unknown method '{s}' (expected supcon, simclr or ce)"
            )),
        }
    }
}

/// One point of a grid: a value per key, in axis order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridPoint(pub Vec<(GridKey, String)>);

impl GridPoint {
    /// `key=value` pairs joined by spaces (`base` for the empty point).
    pub fn label(&self) -> String {
        if self.0.is_empty() {
            return "base".into();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join(" ")
    }

    /// A file-name-safe slug, e.g. `lr0.05-t0.1-optsgd` (`base` for the empty point).
    pub fn slug(&self) -> String {
        if self.0.is_empty() {
            return "base".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                let v: String = v
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("{}{v}", k.short())
            })
            .collect();
        parts.join("-")
    }

    /// The value of `key`, if the point sets it.
    pub fn get(&self, key: GridKey) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The points of `axes` that apply to `method`: the Cartesian product of the axes whose
/// key applies to it, first axis varying slowest. No axis gives one empty point.
pub fn grid_points(axes: &[GridAxis], method: SweepMethod) -> Vec<GridPoint> {
    let mut points = vec![GridPoint(Vec::new())];
    for axis in axes.iter().filter(|a| a.key.applies_to(method)) {
        let mut next = Vec::with_capacity(points.len() * axis.values.len());
        for p in &points {
            for v in &axis.values {
                let mut q = p.clone();
                q.0.push((axis.key, v.clone()));
                next.push(q);
            }
        }
        points = next;
    }
    points
}

/// Checks a grid: at least one axis, each key at most once.
///
/// # Errors
/// [`SweepError::Invalid`] naming the repeated key.
pub fn validate_grid(axes: &[GridAxis]) -> Result<(), SweepError> {
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.key == a.key) {
            return Err(SweepError::Invalid(format!(
                "--grid: key '{}' is given more than once (put all its values in one --grid \
                 {}=V1,V2,...)",
                a.key, a.key
            )));
        }
        if a.values.is_empty() {
            return Err(SweepError::Invalid(format!("--grid {}: no value", a.key)));
        }
    }
    Ok(())
}

/// Everything a sweep needs: the base configuration of every stage (each point changes
/// only its grid keys), the methods, and the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Stage 1 of the contrastive methods (its `method` is set per method).
    pub pretrain: PretrainConfig,
    /// The linear probe of the contrastive methods (`encoder_run` is set per point).
    pub linear: LinearConfig,
    /// The cross-entropy baseline.
    pub ce: SupervisedConfig,
    /// Methods, in order.
    pub methods: Vec<SweepMethod>,
    /// The grid.
    pub grid: Vec<GridAxis>,
}

impl SweepConfig {
    /// Checks methods, grid and every base configuration.
    ///
    /// # Errors
    /// [`SweepError::Invalid`] naming the problem.
    pub fn validate(&self) -> Result<(), SweepError> {
        if self.methods.is_empty() {
            return Err(SweepError::Invalid("--methods: no method given".into()));
        }
        validate_grid(&self.grid)?;
        self.pretrain
            .validate()
            .map_err(|e| SweepError::Invalid(format!("pre-training settings: {e}")))?;
        if self.linear.epochs == 0 {
            return Err(SweepError::Invalid(
                "--linear-epochs 0: expected at least 1 (the linear probe scores every \
                 contrastive point)"
                    .into(),
            ));
        }
        // Every point's settings, so that a bad combination fails before any training
        // rather than as a failed point.
        for &method in &self.methods {
            for point in grid_points(&self.grid, method) {
                let bad = |e: String| {
                    SweepError::Invalid(format!("--grid point {method} {}: {e}", point.label()))
                };
                match method {
                    SweepMethod::Ce => {
                        let c = self.ce_at(&point);
                        c.optimizer.validate().map_err(bad)?;
                        c.schedule.validate(c.epochs).map_err(bad)?;
                    }
                    SweepMethod::Supcon | SweepMethod::Simclr => {
                        self.pretrain_at(method, &point)
                            .validate()
                            .map_err(|e| bad(e.to_string()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The stage-1 configuration of a point.
    pub fn pretrain_at(&self, method: SweepMethod, point: &GridPoint) -> PretrainConfig {
        let mut c = self.pretrain.clone();
        c.method = if method == SweepMethod::Simclr {
            Method::Simclr
        } else {
            Method::Supcon
        };
        // SimCLR points take SimCLR's own temperature unless the base configuration
        // chose one other than SupCon's default (a grid value overrides both).
        if c.loss.temperature == Method::Supcon.default_temperature() {
            c.loss.temperature = c.method.default_temperature();
        }
        for (k, v) in &point.0 {
            match k {
                // The learning rate itself, as `--lr` sets it (not scaled by the batch).
                GridKey::Lr => {
                    c.schedule.base_lr = num(v);
                    c.schedule.scale_by_batch = false;
                }
                GridKey::Temperature => c.loss.temperature = num(v),
                GridKey::Optimizer => c.optimizer.kind = v.parse().unwrap_or_default(),
                GridKey::Augment => c.augment.policy = v.parse().unwrap_or(c.augment.policy),
                GridKey::BatchSize => c.batch_size = v.parse().unwrap_or(c.batch_size),
                GridKey::WeightDecay => c.optimizer.weight_decay = num(v),
                GridKey::Momentum => c.optimizer.momentum = num(v),
                GridKey::Seed => c.seed = v.parse().unwrap_or(c.seed),
            }
        }
        c
    }

    /// The linear-probe configuration of a point (only `seed` is taken from the grid).
    pub fn linear_at(&self, point: &GridPoint, encoder_run: &Path) -> LinearConfig {
        let mut c = self.linear.clone();
        c.encoder_run = encoder_run.to_path_buf();
        if let Some(s) = point.get(GridKey::Seed) {
            c.seed = s.parse().unwrap_or(c.seed);
        }
        c
    }

    /// The CE configuration of a point.
    pub fn ce_at(&self, point: &GridPoint) -> SupervisedConfig {
        let mut c = self.ce.clone();
        for (k, v) in &point.0 {
            match k {
                GridKey::Lr => c.schedule.base_lr = num(v),
                GridKey::Temperature => {}
                GridKey::Optimizer => c.optimizer.kind = v.parse().unwrap_or_default(),
                GridKey::Augment => c.augment.policy = v.parse().unwrap_or(c.augment.policy),
                GridKey::BatchSize => c.batch_size = v.parse().unwrap_or(c.batch_size),
                GridKey::WeightDecay => c.optimizer.weight_decay = num(v),
                GridKey::Momentum => c.optimizer.momentum = num(v),
                GridKey::Seed => c.seed = v.parse().unwrap_or(c.seed),
            }
        }
        c
    }
}

/// A checked number (values were validated when the grid was parsed).
fn num(v: &str) -> f64 {
    v.parse().unwrap_or(f64::NAN)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(s: &str) -> GridAxis {
        s.parse().unwrap()
    }

    #[test]
    fn grid_axes_parse_and_check_values() {
        let a = axis("lr=0.05,0.1,0.05");
        assert_eq!(a.key, GridKey::Lr);
        assert_eq!(a.values, vec!["0.05", "0.1"]);
        assert_eq!(axis("optimizer=sgd,lars").values.len(), 2);
        assert_eq!(axis("batch-size=32").key, GridKey::BatchSize);
        assert_eq!(axis("augment=sim,none").key, GridKey::Augment);
        for (bad, needle) in [
            ("lr", "KEY=V1"),
            ("lrr=0.1", "unknown grid key 'lrr'"),
            ("lr=-1", "lr value '-1'"),
            ("lr=abc", "lr value 'abc'"),
            ("optimizer=adam", "optimizer value 'adam'"),
            ("batch_size=0", "batch_size value '0'"),
            ("augment=foo", "augment value 'foo'"),
            ("temperature=0.1,", "empty value"),
            (
                "momentum=2",
                "momentum value '2': expected a number m with 0 <= m < 1",
            ),
            ("momentum=1", "momentum value '1'"),
            ("momentum=-0.1", "momentum value '-0.1'"),
            ("momentum=nan", "momentum value 'nan'"),
        ] {
            let e = bad.parse::<GridAxis>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn momentum_values_below_one_are_accepted() {
        assert_eq!(
            axis("momentum=0,0.9,0.999").values,
            vec!["0", "0.9", "0.999"]
        );
    }

    fn sweep_config(grid: Vec<GridAxis>) -> SweepConfig {
        SweepConfig {
            pretrain: PretrainConfig::default(),
            linear: LinearConfig::default(),
            ce: SupervisedConfig::default(),
            methods: vec![SweepMethod::Supcon, SweepMethod::Ce],
            grid,
        }
    }

    #[test]
    fn validate_refuses_zero_linear_epochs_and_bad_points_up_front() {
        assert!(sweep_config(vec![axis("momentum=0.5")]).validate().is_ok());
        let mut c = sweep_config(vec![axis("lr=0.1")]);
        c.linear.epochs = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--linear-epochs 0: expected at least 1"), "{e}");
        // An axis built without parsing still has every point checked.
        let c = sweep_config(vec![GridAxis {
            key: GridKey::Momentum,
            values: vec!["0.9".into(), "1".into()],
        }]);
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("--grid point supcon momentum=1") && e.contains("momentum = 1"),
            "{e}"
        );
        let mut c = sweep_config(vec![GridAxis {
            key: GridKey::Momentum,
            values: vec!["1".into()],
        }]);
        c.methods = vec![SweepMethod::Ce];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--grid point ce momentum=1"), "{e}");
    }

    #[test]
    fn points_are_the_product_and_ce_ignores_temperature() {
        let axes = vec![
            axis("lr=0.05,0.1,0.5"),
            axis("temperature=0.05,0.1"),
            axis("optimizer=sgd,lars"),
        ];
        let supcon = grid_points(&axes, SweepMethod::Supcon);
        assert_eq!(supcon.len(), 12);
        assert_eq!(supcon[0].label(), "lr=0.05 temperature=0.05 optimizer=sgd");
        assert_eq!(supcon[1].slug(), "lr0.05-t0.05-optlars");
        let ce = grid_points(&axes, SweepMethod::Ce);
        assert_eq!(ce.len(), 6);
        assert!(ce.iter().all(|p| p.get(GridKey::Temperature).is_none()));
        assert_eq!(
            grid_points(&[], SweepMethod::Ce),
            vec![GridPoint(Vec::new())]
        );
        assert!(validate_grid(&[axis("lr=0.1"), axis("lr=0.2")]).is_err());
    }

    #[test]
    fn points_change_only_their_keys() {
        let config = SweepConfig {
            pretrain: PretrainConfig::default(),
            linear: LinearConfig::default(),
            ce: SupervisedConfig::default(),
            methods: vec![SweepMethod::Supcon, SweepMethod::Ce],
            grid: vec![],
        };
        let p = GridPoint(vec![
            (GridKey::Lr, "0.05".into()),
            (GridKey::Temperature, "0.2".into()),
            (GridKey::Optimizer, "lars".into()),
            (GridKey::BatchSize, "64".into()),
            (GridKey::Augment, "none".into()),
        ]);
        let pre = config.pretrain_at(SweepMethod::Supcon, &p);
        assert_eq!(pre.schedule.base_lr, 0.05);
        assert_eq!(
            pre.schedule.peak_lr(pre.batch_size),
            0.05,
            "a grid LR is not scaled"
        );
        assert_eq!(pre.loss.temperature, 0.2);
        assert_eq!(
            config.pretrain_at(SweepMethod::Simclr, &p).loss.temperature,
            0.2
        );
        // Without a temperature in the grid each method takes its own default.
        let plain = GridPoint(vec![(GridKey::Lr, "0.05".into())]);
        let t = |m| config.pretrain_at(m, &plain).loss.temperature;
        assert_eq!((t(SweepMethod::Supcon), t(SweepMethod::Simclr)), (0.1, 0.5));
        assert_eq!(pre.optimizer.kind, OptimizerKind::Lars);
        assert_eq!(pre.batch_size, 64);
        assert_eq!(pre.augment.policy, Augment::None);
        assert_eq!(pre.epochs, PretrainConfig::default().epochs);
        let ce = config.ce_at(&p);
        assert_eq!(ce.schedule.base_lr, 0.05);
        assert_eq!(ce.optimizer.kind, OptimizerKind::Lars);
        let lin = config.linear_at(&p, Path::new("x"));
        assert_eq!(lin.schedule, LinearConfig::default().schedule);
    }

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
