//! The settings of a sweep, and the configuration of each stage at a grid point.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SweepError;
use super::grid::{GridAxis, GridKey, GridPoint, SweepMethod, grid_points, validate_grid};
use crate::train::{LinearConfig, Method, PretrainConfig, SupervisedConfig};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Augment;
    use crate::train::OptimizerKind;

    fn axis(s: &str) -> GridAxis {
        s.parse().unwrap()
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
}
