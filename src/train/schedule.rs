//! Learning-rate schedules: linear warm-up, then cosine, step or exponential decay, with
//! the linear batch-size scaling rule (base LR given per 256 samples).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The decay after warm-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Decay {
    /// Cosine from the peak LR down to `peak * final_fraction` at the last step (the paper's).
    Cosine {
        /// Final LR as a fraction of the peak. The SupContrast reference decays to
        /// `lr * 0.1^3`; default 0.001.
        final_fraction: f64,
    },
    /// Multiply by `gamma` at each epoch in `milestones`.
    Step {
        /// Epochs (0-based) at which the LR drops.
        milestones: Vec<usize>,
        /// Factor applied at each milestone.
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Per-epoch factor.
        gamma: f64,
    },
    /// Constant after warm-up.
    Constant,
}

impl Default for Decay {
    fn default() -> Self {
        Self::Cosine {
            final_fraction: 0.001,
        }
    }
}

/// Short names for the CLI (`--schedule cosine|step|exponential|constant`), with each
/// kind's default parameters.
impl FromStr for Decay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Self::default()),
            "step" => Ok(Self::Step {
                milestones: Vec::new(),
                gamma: 0.1,
            }),
            "exponential" | "exp" => Ok(Self::Exponential { gamma: 0.95 }),
            "constant" => Ok(Self::Constant),
            _ => Err(format!(
                "unknown schedule '{s}': expected cosine, step, exponential or constant"
            )),
        }
    }
}

impl Decay {
    /// The step schedule's default milestones for a run of `epochs` epochs: 70%, 80% and
    /// 90% of it (the SupContrast reference drops at epochs 350, 400 and 450 of 500),
    /// without repeats or epoch 0.
    pub fn default_milestones(epochs: usize) -> Vec<usize> {
        let mut m: Vec<usize> = [7, 8, 9]
            .iter()
            .map(|tenths| epochs * tenths / 10)
            .filter(|&e| e > 0)
            .collect();
        m.dedup();
        m
    }
}

impl fmt::Display for Decay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cosine { .. } => "cosine",
            Self::Step { .. } => "step",
            Self::Exponential { .. } => "exponential",
            Self::Constant => "constant",
        })
    }
}

/// A full learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Base learning rate. When `scale_by_batch` is set, the peak LR is
    /// `base_lr * batch_size / 256`. Default 0.5 (SupCon on CIFAR at batch 1024 used 0.5).
    pub base_lr: f64,
    /// Apply the linear scaling rule (`peak = base_lr * batch / 256`). Default false.
    pub scale_by_batch: bool,
    /// Warm-up epochs (linear from `peak * warmup_start` to the peak). Default 0.
    pub warmup_epochs: f64,
    /// Where the warm-up starts, as a fraction of the peak. Default 0.01.
    pub warmup_start: f64,
    /// The decay after warm-up. Default cosine.
    pub decay: Decay,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            base_lr: 0.5,
            scale_by_batch: false,
            warmup_epochs: 0.0,
            warmup_start: 0.01,
            decay: Decay::default(),
        }
    }
}

impl ScheduleConfig {
    /// The peak learning rate for a batch size.
    pub fn peak_lr(&self, batch_size: usize) -> f64 {
        if self.scale_by_batch {
            self.base_lr * batch_size as f64 / 256.0
        } else {
            self.base_lr
        }
    }

    /// Checks the values.
    ///
    /// # Errors
    /// A message naming the field when a value is negative, zero where it must not be,
    /// or not finite; a warm-up that is not shorter than the run's `epochs`; a step
    /// schedule without milestones or with one the run never reaches.
    pub fn validate(&self, epochs: usize) -> Result<(), String> {
        let finite_pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} = {v}: expected a finite number > 0"))
            }
        };
        finite_pos("lr", self.base_lr)?;
        if !(self.warmup_epochs.is_finite() && self.warmup_epochs >= 0.0) {
            return Err(format!(
                "warmup_epochs = {}: expected a finite number >= 0",
                self.warmup_epochs
            ));
        }
        if !(0.0..=1.0).contains(&self.warmup_start) {
            return Err(format!(
                "warmup_start = {}: expected a fraction of the peak LR in [0, 1]",
                self.warmup_start
            ));
        }
        if epochs > 0 && self.warmup_epochs >= epochs as f64 {
            return Err(format!(
                "warmup_epochs = {}: the warm-up must be shorter than the run ({epochs} epochs), \
                 or the LR never reaches its peak",
                self.warmup_epochs
            ));
        }
        if let Decay::Step { milestones, .. } = &self.decay {
            if milestones.is_empty() {
                return Err(
                    "step schedule without milestones: give --milestones E1,E2,.. (epochs at \
                     which the LR drops)"
                        .into(),
                );
            }
            if let Some(m) = milestones.iter().find(|&&m| epochs > 0 && m >= epochs) {
                return Err(format!(
                    "milestone {m}: the run has {epochs} epochs (0 to {}), so the LR would \
                     never drop there",
                    epochs - 1
                ));
            }
        }
        match &self.decay {
            Decay::Cosine { final_fraction } if !(0.0..=1.0).contains(final_fraction) => Err(
                format!("cosine final_fraction = {final_fraction}: expected 0..=1"),
            ),
            Decay::Step { gamma, .. } | Decay::Exponential { gamma } => finite_pos("gamma", *gamma),
            _ => Ok(()),
        }
    }

    /// The LR at optimiser step `step` (0-based) of a run with `steps_per_epoch` steps per
    /// epoch and `epochs` epochs in total.
    pub fn lr_at(&self, step: usize, steps_per_epoch: usize, epochs: usize, batch: usize) -> f64 {
        let peak = self.peak_lr(batch);
        let spe = steps_per_epoch.max(1) as f64;
        let total = (epochs.max(1) as f64) * spe;
        let t = step as f64;
        let warm = self.warmup_epochs * spe;
        if t < warm {
            let start = peak * self.warmup_start;
            return start + (peak - start) * t / warm;
        }
        let epoch = (t / spe).floor() as usize;
        match &self.decay {
            Decay::Cosine { final_fraction } => {
                let span = (total - warm).max(1.0);
                let progress = ((t - warm) / span).clamp(0.0, 1.0);
                let low = peak * final_fraction;
                low + (peak - low) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Decay::Step { milestones, gamma } => {
                let drops = milestones.iter().filter(|&&m| epoch >= m).count();
                peak * gamma.powi(drops as i32)
            }
            Decay::Exponential { gamma } => peak * gamma.powi(epoch as i32),
            Decay::Constant => peak,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_reaches_both_ends() {
        let s = ScheduleConfig {
            base_lr: 1.0,
            warmup_epochs: 1.0,
            warmup_start: 0.0,
            ..Default::default()
        };
        // 10 steps per epoch, 5 epochs: warm-up over steps 0..10.
        assert_eq!(s.lr_at(0, 10, 5, 256), 0.0);
        assert!((s.lr_at(5, 10, 5, 256) - 0.5).abs() < 1e-12);
        assert!((s.lr_at(10, 10, 5, 256) - 1.0).abs() < 1e-12);
        // Half-way through the cosine part (step 10 + 20): mid-point of peak and floor.
        let mid = 0.001 + (1.0 - 0.001) * 0.5;
        assert!((s.lr_at(30, 10, 5, 256) - mid).abs() < 1e-12);
        assert!((s.lr_at(50, 10, 5, 256) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn step_exponential_and_batch_scaling() {
        let s = ScheduleConfig {
            base_lr: 0.1,
            scale_by_batch: true,
            decay: Decay::Step {
                milestones: vec![2, 4],
                gamma: 0.1,
            },
            ..Default::default()
        };
        assert!((s.peak_lr(512) - 0.2).abs() < 1e-12);
        assert!((s.lr_at(0, 10, 6, 512) - 0.2).abs() < 1e-12);
        assert!((s.lr_at(25, 10, 6, 512) - 0.02).abs() < 1e-12);
        assert!((s.lr_at(45, 10, 6, 512) - 0.002).abs() < 1e-12);
        let e = ScheduleConfig {
            base_lr: 1.0,
            decay: Decay::Exponential { gamma: 0.5 },
            ..Default::default()
        };
        assert!((e.lr_at(31, 10, 6, 256) - 0.125).abs() < 1e-12);
    }

    #[test]
    fn default_milestones_follow_the_reference() {
        assert_eq!(Decay::default_milestones(500), vec![350, 400, 450]);
        assert_eq!(Decay::default_milestones(10), vec![7, 8, 9]);
        assert_eq!(Decay::default_milestones(3), vec![2]);
        assert_eq!(Decay::default_milestones(1), Vec::<usize>::new());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = ScheduleConfig {
            base_lr: 0.0,
            ..Default::default()
        };
        assert_eq!(
            bad.validate(10).unwrap_err(),
            "lr = 0: expected a finite number > 0"
        );
        let warm = ScheduleConfig {
            warmup_epochs: 5.0,
            ..Default::default()
        };
        assert!(warm.validate(6).is_ok());
        let err = warm.validate(5).unwrap_err();
        assert!(err.starts_with("warmup_epochs = 5: "), "{err}");
        let step = |milestones: Vec<usize>| ScheduleConfig {
            decay: Decay::Step {
                milestones,
                gamma: 0.1,
            },
            ..Default::default()
        };
        assert!(step(vec![3, 4]).validate(5).is_ok());
        assert!(
            step(vec![])
                .validate(5)
                .unwrap_err()
                .contains("--milestones")
        );
        let err = step(vec![3, 5]).validate(5).unwrap_err();
        assert!(
            err.starts_with("milestone 5: the run has 5 epochs (0 to 4)"),
            "{err}"
        );
        assert!("cosine".parse::<Decay>().is_ok());
        assert!("linear".parse::<Decay>().unwrap_err().contains("'linear'"));
    }
}
