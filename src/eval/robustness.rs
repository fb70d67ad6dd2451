//! Corruption robustness scores of Hendrycks & Dietterich, "Benchmarking Neural Network
//! Robustness to Common Corruptions and Perturbations" (ICLR 2019, Sec. 3):
//!
//! - corruption error `CE_c = (sum_s E_{s,c}) / (sum_s E^base_{s,c})`;
//! - mean corruption error `mCE` = mean of `CE_c` over corruptions;
//! - relative corruption error
//!   `relCE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)`;
//! - relative mCE = mean of `relCE_c` over corruptions;
//!
//! where `E_{s,c}` is the top-1 error of the model under corruption `c` at severity `s`,
//! `E_clean` its clean error, and `base` the normalising model (AlexNet in the paper).
//! With no baseline, [`mean_error`] gives the unnormalised mean corruption error, the
//! figure usually reported for CIFAR-10-C.
//!
//! Errors may be fractions or percentages, as long as the model's and the baseline's
//! tables use the same unit. The sums run over the severities present in the model's
//! table for that corruption (1..=5 for a full evaluation); each must also be in the
//! baseline's table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::EvalError;

/// Denominators whose absolute value is at most this are treated as zero.
const ZERO_DENOMINATOR: f64 = 1e-12;

/// Error rates of one model: clean, and per corruption name and severity.
///
/// Serialises as
/// `{"clean": 0.05, "corruptions": {"gaussian_noise": {"1": 0.1, "2": 0.2, ...}, ...}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorTable {
    /// Error on the clean test set; needed only for the relative scores.
    #[serde(default)]
    pub clean: Option<f64>,
    /// `corruptions[name][severity]` = error under that corruption and severity.
    pub corruptions: BTreeMap<String, BTreeMap<u8, f64>>,
}

impl ErrorTable {
    /// An empty table with no clean error.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with the given clean error.
    pub fn with_clean(clean: f64) -> Self {
        Self {
            clean: Some(clean),
            corruptions: BTreeMap::new(),
        }
    }

    /// Sets the error of `corruption` at `severity`, replacing any previous value.
    pub fn insert(&mut self, corruption: &str, severity: u8, error: f64) {
        self.corruptions
            .entry(corruption.to_owned())
            .or_default()
            .insert(severity, error);
    }

    /// The error of `corruption` at `severity`, if present.
    pub fn get(&self, corruption: &str, severity: u8) -> Option<f64> {
        self.corruptions.get(corruption)?.get(&severity).copied()
    }
}

/// Scores of one corruption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionScore {
    /// Mean error over the severities present.
    pub mean_error: f64,
    /// `CE_c`, when a baseline was given.
    pub ce: Option<f64>,
    /// `relCE_c`, when a baseline was given and both tables hold a clean error.
    pub relative_ce: Option<f64>,
}

/// All robustness scores of a model (Hendrycks & Dietterich, ICLR 2019).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustnessReport {
    /// The model's clean error, if its table holds one.
    pub clean_error: Option<f64>,
    /// Unnormalised mean corruption error (see [`mean_error`]).
    pub mean_error: f64,
    /// `mCE`, when a baseline was given.
    pub mce: Option<f64>,
    /// Relative `mCE`, when a baseline was given and both tables hold a clean error.
    pub relative_mce: Option<f64>,
    /// Per-corruption scores, by name.
    pub corruptions: BTreeMap<String, CorruptionScore>,
}

fn check_value(v: f64, what: &str) -> Result<f64, EvalError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(EvalError::Invalid(format!(
            "{what}: error must be finite and non-negative, got {v}"
        )))
    }
}

/// The model's severities and errors for `corruption`, validated.
fn model_errors<'a>(
    model: &'a ErrorTable,
    corruption: &str,
) -> Result<&'a BTreeMap<u8, f64>, EvalError> {
    let errs = model.corruptions.get(corruption).ok_or_else(|| {
        EvalError::Missing(format!(
            "corruption '{corruption}' is not in the model's error table"
        ))
    })?;
    if errs.is_empty() {
        return Err(EvalError::Invalid(format!(
            "corruption '{corruption}' has no severity in the model's error table"
        )));
    }
    for (&s, &e) in errs {
        check_value(e, &format!("model, '{corruption}' severity {s}"))?;
    }
    Ok(errs)
}

/// `(model error, baseline error)` for every severity of `corruption` in the model table.
fn paired(
    model: &ErrorTable,
    baseline: &ErrorTable,
    corruption: &str,
) -> Result<Vec<(f64, f64)>, EvalError> {
    let errs = model_errors(model, corruption)?;
    let base = baseline.corruptions.get(corruption).ok_or_else(|| {
        EvalError::Missing(format!(
            "corruption '{corruption}' is not in the baseline's error table"
        ))
    })?;
    errs.iter()
        .map(|(&s, &e)| {
            let b = base.get(&s).copied().ok_or_else(|| {
                EvalError::Missing(format!(
                    "severity {s} of corruption '{corruption}' is not in the baseline's error table"
                ))
            })?;
            Ok((
                e,
                check_value(b, &format!("baseline, '{corruption}' severity {s}"))?,
            ))
        })
        .collect()
}

fn clean_of(table: &ErrorTable, whose: &str) -> Result<f64, EvalError> {
    let c = table.clean.ok_or_else(|| {
        EvalError::Missing(format!(
            "the {whose}'s error table has no clean error (needed for relative CE)"
        ))
    })?;
    check_value(c, &format!("{whose}, clean"))
}

fn nonempty(model: &ErrorTable) -> Result<(), EvalError> {
    if model.corruptions.is_empty() {
        Err(EvalError::Invalid(
            "the model's error table has no corruption".into(),
        ))
    } else {
        Ok(())
    }
}

/// Corruption error `CE_c = (sum_s E_{s,c}) / (sum_s E^base_{s,c})` (Hendrycks &
/// Dietterich, ICLR 2019, Sec. 3), summing over the severities in `model`'s table.
///
/// # Errors
/// [`EvalError::Missing`] when `corruption` is not in `model`, or it or one of the
/// model's severities is not in `baseline`; [`EvalError::DivisionByZero`] when the
/// baseline's errors sum to zero; [`EvalError::Invalid`] for a negative or non-finite
/// error, or a corruption with no severity.
pub fn corruption_error(
    model: &ErrorTable,
    baseline: &ErrorTable,
    corruption: &str,
) -> Result<f64, EvalError> {
    let pairs = paired(model, baseline, corruption)?;
    let num: f64 = pairs.iter().map(|p| p.0).sum();
    let den: f64 = pairs.iter().map(|p| p.1).sum();
    if den.abs() <= ZERO_DENOMINATOR {
        return Err(EvalError::DivisionByZero(format!(
            "the baseline's errors on '{corruption}' sum to {den}, so CE is undefined"
        )));
    }
    Ok(num / den)
}

/// Relative corruption error
/// `relCE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)`
/// (Hendrycks & Dietterich, ICLR 2019, Sec. 3).
///
/// # Errors
/// As [`corruption_error`]; also [`EvalError::Missing`] when either table lacks a clean
/// error, [`EvalError::DivisionByZero`] when the baseline's degradation sums to zero
/// (its corrupted errors average its clean error), and [`EvalError::Undefined`] when it
/// is negative (its corrupted errors average below its clean error, as a near-chance
/// baseline's can): the ratio's sign would then be flipped and the score meaningless.
pub fn relative_corruption_error(
    model: &ErrorTable,
    baseline: &ErrorTable,
    corruption: &str,
) -> Result<f64, EvalError> {
    let clean = clean_of(model, "model")?;
    let base_clean = clean_of(baseline, "baseline")?;
    let pairs = paired(model, baseline, corruption)?;
    let num: f64 = pairs.iter().map(|p| p.0 - clean).sum();
    let den: f64 = pairs.iter().map(|p| p.1 - base_clean).sum();
    if den.abs() <= ZERO_DENOMINATOR {
        return Err(EvalError::DivisionByZero(format!(
            "the baseline's errors on '{corruption}' minus its clean error sum to {den}, so \
             relative CE is undefined"
        )));
    }
    if den < 0.0 {
        return Err(EvalError::Undefined(format!(
            "the baseline's errors on '{corruption}' are below its clean error (its \
             degradation sums to {den}), so relative CE, which divides by that degradation, \
             is meaningless (a near-chance baseline?)"
        )));
    }
    Ok(num / den)
}

/// `mCE`: the mean of [`corruption_error`] over every corruption in `model`'s table
/// (Hendrycks & Dietterich, ICLR 2019, Sec. 3).
///
/// # Errors
/// [`EvalError::Invalid`] when `model` has no corruption; otherwise as
/// [`corruption_error`] for any corruption.
pub fn mean_corruption_error(model: &ErrorTable, baseline: &ErrorTable) -> Result<f64, EvalError> {
    nonempty(model)?;
    let mut sum = 0.0;
    for c in model.corruptions.keys() {
        sum += corruption_error(model, baseline, c)?;
    }
    Ok(sum / model.corruptions.len() as f64)
}

/// Relative `mCE`: the mean of [`relative_corruption_error`] over every corruption in
/// `model`'s table (Hendrycks & Dietterich, ICLR 2019, Sec. 3).
///
/// # Errors
/// [`EvalError::Invalid`] when `model` has no corruption; otherwise as
/// [`relative_corruption_error`] for any corruption.
pub fn relative_mean_corruption_error(
    model: &ErrorTable,
    baseline: &ErrorTable,
) -> Result<f64, EvalError> {
    nonempty(model)?;
    let mut sum = 0.0;
    for c in model.corruptions.keys() {
        sum += relative_corruption_error(model, baseline, c)?;
    }
    Ok(sum / model.corruptions.len() as f64)
}

/// Unnormalised mean corruption error: the mean over corruptions of the mean error over
/// that corruption's severities (equal to the mean over all `(c, s)` cells when every
/// corruption has the same severities). This is the "mean corruption error" reported
/// without a baseline on CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019, Sec. 5;
/// Hendrycks et al., "AugMix", ICLR 2020, Sec. 4).
///
/// # Errors
/// [`EvalError::Invalid`] when `model` has no corruption, a corruption has no severity,
/// or an error is negative or not finite.
pub fn mean_error(model: &ErrorTable) -> Result<f64, EvalError> {
    nonempty(model)?;
    let mut sum = 0.0;
    for c in model.corruptions.keys() {
        let errs = model_errors(model, c)?;
        sum += errs.values().sum::<f64>() / errs.len() as f64;
    }
    Ok(sum / model.corruptions.len() as f64)
}

/// Every score at once. With a `baseline`, `mCE` and per-corruption CE are computed
/// (errors propagate); relative scores are computed when both tables hold a clean error
/// and left `None` otherwise. Without a baseline only the unnormalised errors are given.
/// Definitions of Hendrycks & Dietterich (ICLR 2019, Sec. 3).
///
/// # Errors
/// As [`mean_error`], [`mean_corruption_error`] and, when both clean errors are present,
/// [`relative_mean_corruption_error`].
pub fn robustness_report(
    model: &ErrorTable,
    baseline: Option<&ErrorTable>,
) -> Result<RobustnessReport, EvalError> {
    let mean = mean_error(model)?;
    let clean_error = match model.clean {
        Some(c) => Some(check_value(c, "model, clean")?),
        None => None,
    };
    let relative = baseline.is_some_and(|b| model.clean.is_some() && b.clean.is_some());
    let mut corruptions = BTreeMap::new();
    for (name, errs) in &model.corruptions {
        let mean_error = errs.values().sum::<f64>() / errs.len() as f64;
        let (ce, relative_ce) = match baseline {
            Some(b) => (
                Some(corruption_error(model, b, name)?),
                if relative {
                    Some(relative_corruption_error(model, b, name)?)
                } else {
                    None
                },
            ),
            None => (None, None),
        };
        corruptions.insert(
            name.clone(),
            CorruptionScore {
                mean_error,
                ce,
                relative_ce,
            },
        );
    }
    let k = corruptions.len() as f64;
    let mce = baseline.map(|_| corruptions.values().filter_map(|s| s.ce).sum::<f64>() / k);
    let relative_mce = relative.then(|| {
        corruptions
            .values()
            .filter_map(|s| s.relative_ce)
            .sum::<f64>()
            / k
    });
    Ok(RobustnessReport {
        clean_error,
        mean_error: mean,
        mce,
        relative_mce,
        corruptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table_round_trips_through_json() {
        let mut t = ErrorTable::with_clean(0.05);
        t.insert("fog", 1, 0.1);
        t.insert("fog", 5, 0.4);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"clean":0.05,"corruptions":{"fog":{"1":0.1,"5":0.4}}}"#
        );
        assert_eq!(serde_json::from_str::<ErrorTable>(&json).unwrap(), t);
    }

    /// A baseline that does better corrupted than clean: its degradation is negative, so
    /// relative CE is undefined, while CE (a ratio of error sums) is still defined.
    #[test]
    fn a_negative_baseline_degradation_makes_relative_ce_undefined() {
        let mut model = ErrorTable::with_clean(0.1);
        model.insert("fog", 1, 0.3);
        model.insert("fog", 3, 0.5);
        let mut base = ErrorTable::with_clean(0.9);
        base.insert("fog", 1, 0.85);
        base.insert("fog", 3, 0.9);
        // (0.85 - 0.9) + (0.9 - 0.9) = -0.05 < 0.
        let e = relative_corruption_error(&model, &base, "fog").unwrap_err();
        assert!(matches!(e, EvalError::Undefined(_)), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("'fog'") && text.contains("below its clean error"),
            "{text}"
        );
        assert!((corruption_error(&model, &base, "fog").unwrap() - 0.8 / 1.75).abs() < 1e-12);
        assert!(robustness_report(&model, Some(&base)).is_err());
        // A positive degradation keeps its value: (0.3 - 0.1 + 0.5 - 0.1) / (0.95 + 0.97 - 1.8).
        base.insert("fog", 1, 0.95);
        base.insert("fog", 3, 0.97);
        let rel = relative_corruption_error(&model, &base, "fog").unwrap();
        assert!((rel - 0.6 / 0.12).abs() < 1e-9, "{rel}");
    }
}
