//! Which setting applies to what: one table, checked in one place. A setting given where
//! it has no effect (`--milestones` without the step schedule, `--nesterov` with AdamW,
//! `--positives-cap` with SimCLR) is refused rather than silently ignored.

use super::optim::OptimizerKind;
use super::{Decay, Method, TrainError};

/// What the settings of a stage resolve to, as far as the table needs.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Whether the LR schedule is the step schedule.
    pub step_schedule: bool,
    /// The pre-training method (`None` for stages without a contrastive loss).
    pub method: Option<Method>,
}

impl Context {
    /// The context of an optimiser and a schedule, with no contrastive method.
    pub fn new(optimizer: OptimizerKind, decay: &Decay) -> Self {
        Self {
            optimizer,
            step_schedule: matches!(decay, Decay::Step { .. }),
            method: None,
        }
    }
}

/// One row: a setting (by its flag), what it needs, and whether that holds.
struct Row {
    setting: &'static str,
    needs: &'static str,
    holds: fn(&Context) -> bool,
}

/// The table.
const TABLE: [Row; 4] = [
    Row {
        setting: "--milestones",
        needs: "the step schedule (--schedule step)",
        holds: |c| c.step_schedule,
    },
    Row {
        setting: "--nesterov",
        needs: "--optimizer sgd or lars",
        holds: |c| matches!(c.optimizer, OptimizerKind::Sgd | OptimizerKind::Lars),
    },
    Row {
        setting: "--momentum",
        needs: "--optimizer sgd, lars or rmsprop (AdamW has no momentum setting)",
        holds: |c| c.optimizer != OptimizerKind::Adamw,
    },
    Row {
        setting: "--positives-cap",
        needs: "--method supcon (SimCLR's only positives are an image's other views)",
        holds: |c| c.method != Some(Method::Simclr),
    },
];

/// The settings of the table (flag names).
pub fn settings() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|r| r.setting)
}

/// Refuses every setting in `given` (flag names; others are ignored) whose condition does
/// not hold in `context`.
///
/// # Errors
/// [`TrainError::Config`] naming the first such setting, what it needs and what was set.
pub fn check(given: &[&str], context: &Context) -> Result<(), TrainError> {
    for row in &TABLE {
        if given.contains(&row.setting) && !(row.holds)(context) {
            return Err(TrainError::Config(format!(
                "{} does nothing here: it applies only with {} (this run: --optimizer {}, {}{}); \
                 drop it or change those settings",
                row.setting,
                row.needs,
                context.optimizer,
                if context.step_schedule {
                    "step schedule"
                } else {
                    "no step schedule"
                },
                context
                    .method
                    .map(|m| format!(", --method {m}"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_refuses_its_setting_only_where_it_does_nothing() {
        let adamw = Context {
            optimizer: OptimizerKind::Adamw,
            step_schedule: false,
            method: Some(Method::Simclr),
        };
        for setting in settings() {
            let err = check(&[setting], &adamw).unwrap_err().to_string();
            assert!(
                err.contains(setting) && err.contains("does nothing"),
                "{err}"
            );
        }
        let sgd = Context {
            optimizer: OptimizerKind::Sgd,
            step_schedule: true,
            method: Some(Method::Supcon),
        };
        check(&settings().collect::<Vec<_>>(), &sgd).unwrap();
        let rmsprop = Context {
            optimizer: OptimizerKind::Rmsprop,
            ..sgd
        };
        check(&["--momentum"], &rmsprop).unwrap();
        assert!(check(&["--nesterov"], &rmsprop).is_err());
    }
}
