//! The grid of a sweep: its keys, axes, methods and points (the Cartesian product of
//! the axes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::SweepError;
use crate::augment::Augment;
use crate::train::OptimizerKind;

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
}
