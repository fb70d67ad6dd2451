//! Calibration of predicted probabilities: a numerically stable softmax, the expected
//! and maximum calibration errors with their reliability diagram, and the negative
//! log-likelihood.
//!
//! ECE and MCE follow Naeini, Cooper & Hauskrecht, "Obtaining Well Calibrated
//! Probabilities Using Bayesian Binning" (AAAI 2015) with the confidence-histogram form
//! of Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks"
//! (ICML 2017, Eqs. 2-3), which SupCon (Khosla et al., NeurIPS 2020, Sec. 4.2) uses:
//!
//! - confidence of a sample = its maximum probability, prediction = its arg-max (ties to
//!   the lowest class index);
//! - `B` equal-width bins over `[0, 1]`: bin `b` (0-based) is `(b/B, (b+1)/B]`, and the
//!   first bin also holds confidence 0, i.e. `[0, 1/B]`;
//! - `ECE = sum_b (n_b / N) |acc_b - conf_b|`, `MCE = max_{b : n_b > 0} |acc_b - conf_b|`,
//!   with `acc_b` the fraction of correct predictions and `conf_b` the mean confidence in
//!   bin `b`.
//!
//! NLL is the mean of `-ln p(y | x)` over samples (Guo et al. 2017, Sec. 2; Hastie,
//! Tibshirani & Friedman, *The Elements of Statistical Learning*, 2009, Sec. 4.4).

use serde::{Deserialize, Serialize};

use super::error::EvalError;
use super::validate;

/// Number of confidence bins used by Guo et al. (ICML 2017) and most follow-up work.
pub const DEFAULT_NUM_BINS: usize = 15;

/// Probabilities below this floor are raised to it before taking `-ln p` in
/// [`negative_log_likelihood`], so a zero probability on the true class gives a large
/// finite loss (`-ln 1e-12 ≈ 27.6`) rather than infinity.
pub const NLL_PROBABILITY_FLOOR: f64 = 1e-12;

/// Tolerance on a row sum of probabilities (`|sum - 1| <= 1e-3`).
const ROW_SUM_TOLERANCE: f64 = 1e-3;

/// Row-wise softmax of row-major `[n, num_classes]` `logits`, computed stably (the row
/// maximum is subtracted before exponentiating, in `f64`).
///
/// # Errors
/// [`EvalError::Invalid`] when `num_classes` is 0, the length is not a multiple of it, or
/// a logit is not finite.
pub fn softmax(logits: &[f32], num_classes: usize) -> Result<Vec<f32>, EvalError> {
    let what = "softmax";
    validate::rows(logits.len(), num_classes, what)?;
    validate::finite(logits, num_classes, what)?;
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(num_classes) {
        let (max, log_z) = log_normaliser(row);
        out.extend(
            row.iter()
                .map(|&v| (f64::from(v) - max - log_z).exp() as f32),
        );
    }
    Ok(out)
}

/// `(max, ln sum_j exp(v_j - max))` of a non-empty finite row.
fn log_normaliser(row: &[f32]) -> (f64, f64) {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    (max, sum.ln())
}

/// One bin of a reliability diagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge `b / B` (exclusive, except 0 for the first bin).
    pub lower: f64,
    /// Upper edge `(b + 1) / B` (inclusive).
    pub upper: f64,
    /// Number of samples whose confidence falls in the bin.
    pub count: usize,
    /// Fraction of those samples predicted correctly; 0 when `count` is 0.
    pub accuracy: f64,
    /// Mean confidence of those samples; 0 when `count` is 0.
    pub confidence: f64,
}

/// Calibration summary of a set of predictions (Guo et al., ICML 2017).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// Number of samples `N`.
    pub num_samples: usize,
    /// Expected calibration error, `sum_b (n_b / N) |acc_b - conf_b|`, in `[0, 1]`.
    pub ece: f64,
    /// Maximum calibration error over non-empty bins, in `[0, 1]`.
    pub mce: f64,
    /// Mean negative log-likelihood of the true class (nats).
    pub nll: f64,
    /// Top-1 accuracy (arg-max, ties to the lowest index).
    pub accuracy: f64,
    /// Mean confidence (maximum probability).
    pub mean_confidence: f64,
    /// The `B` bins, in increasing confidence order.
    pub bins: Vec<ReliabilityBin>,
}

/// Bin of confidence `p` in `[0, 1]` among `num_bins` bins `(b/B, (b+1)/B]`, the first
/// one also holding 0. Edges are rounded to `f32` before comparing, so an `f32`
/// confidence equal to an edge (e.g. `0.6f32` with 5 bins) lands in the bin it closes.
fn bin_index(p: f32, num_bins: usize) -> usize {
    let b = num_bins as f64;
    let edge = |i: usize| (i as f64 / b) as f32;
    let mut i = ((f64::from(p) * b).ceil() as usize)
        .saturating_sub(1)
        .min(num_bins - 1);
    // Correct the rounding of `p * B` against the exact edge comparisons.
    while i > 0 && p <= edge(i) {
        i -= 1;
    }
    while i + 1 < num_bins && p > edge(i + 1) {
        i += 1;
    }
    i
}

/// Checks `probs` is a `[n, num_classes]` matrix of probabilities matching `labels`:
/// entries in `[0, 1]` and rows summing to 1 within `1e-3`.
fn check_probabilities(
    probs: &[f32],
    num_classes: usize,
    labels: &[usize],
    what: &str,
) -> Result<usize, EvalError> {
    let n = validate::scores_and_labels(probs, num_classes, labels, what)?;
    if let Some(i) = probs.iter().position(|&p| !(0.0..=1.0).contains(&p)) {
        return Err(EvalError::Invalid(format!(
            "{what}: probability {} at row {}, column {} is outside [0, 1] (pass logits to the \
             *_from_logits variant)",
            probs[i],
            i / num_classes,
            i % num_classes
        )));
    }
    for (r, row) in probs.chunks_exact(num_classes).enumerate() {
        let sum: f64 = row.iter().map(|&p| f64::from(p)).sum();
        if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
            return Err(EvalError::Invalid(format!(
                "{what}: probabilities of row {r} sum to {sum:.6}, not 1"
            )));
        }
    }
    Ok(n)
}

fn check_bins(num_bins: usize, what: &str) -> Result<(), EvalError> {
    if num_bins == 0 {
        return Err(EvalError::Invalid(format!(
            "{what}: num_bins must be at least 1, got 0"
        )));
    }
    Ok(())
}

/// Reliability diagram, ECE, MCE, NLL and accuracy of row-major `[n, num_classes]`
/// probabilities `probs` against `labels`, with `num_bins` equal-width confidence bins
/// (use [`DEFAULT_NUM_BINS`]). Definitions and binning as in the module docs (Naeini et
/// al., AAAI 2015; Guo et al., ICML 2017). NLL uses [`NLL_PROBABILITY_FLOOR`].
///
/// # Errors
/// [`EvalError::Invalid`] when `num_bins` or `num_classes` is 0, the shapes do not
/// match, `labels` is empty, a label is `>= num_classes`, a probability is not finite
/// or outside `[0, 1]`, or a row does not sum to 1 (within `1e-3`).
pub fn calibration_report(
    probs: &[f32],
    num_classes: usize,
    labels: &[usize],
    num_bins: usize,
) -> Result<CalibrationReport, EvalError> {
    let what = "calibration";
    check_bins(num_bins, what)?;
    check_probabilities(probs, num_classes, labels, what)?;
    let nll = nll_of_probabilities(probs, num_classes, labels);
    Ok(report(probs, num_classes, labels, num_bins, nll))
}

/// [`calibration_report`] of `softmax(logits)`, with the NLL computed exactly from the
/// logits by log-sum-exp (no probability floor).
///
/// # Errors
/// As [`calibration_report`], except that logits may take any finite value.
pub fn calibration_report_from_logits(
    logits: &[f32],
    num_classes: usize,
    labels: &[usize],
    num_bins: usize,
) -> Result<CalibrationReport, EvalError> {
    let what = "calibration";
    check_bins(num_bins, what)?;
    validate::scores_and_labels(logits, num_classes, labels, what)?;
    let probs = softmax(logits, num_classes)?;
    let nll = nll_of_logits(logits, num_classes, labels);
    Ok(report(&probs, num_classes, labels, num_bins, nll))
}

/// Expected calibration error alone (see [`calibration_report`]; Guo et al., ICML 2017,
/// Eq. 3).
///
/// # Errors
/// As [`calibration_report`].
pub fn expected_calibration_error(
    probs: &[f32],
    num_classes: usize,
    labels: &[usize],
    num_bins: usize,
) -> Result<f64, EvalError> {
    calibration_report(probs, num_classes, labels, num_bins).map(|r| r.ece)
}

/// Mean negative log-likelihood `-(1/N) sum_i ln max(p_i[y_i], 1e-12)` of row-major
/// `[n, num_classes]` probabilities (Guo et al., ICML 2017, Sec. 2).
///
/// # Errors
/// As [`calibration_report`] (shape, labels, probability checks).
pub fn negative_log_likelihood(
    probs: &[f32],
    num_classes: usize,
    labels: &[usize],
) -> Result<f64, EvalError> {
    check_probabilities(probs, num_classes, labels, "negative log-likelihood")?;
    Ok(nll_of_probabilities(probs, num_classes, labels))
}

/// Mean cross-entropy `-(1/N) sum_i log_softmax(z_i)[y_i]` of row-major
/// `[n, num_classes]` logits, by log-sum-exp (exact, no floor; Guo et al., ICML 2017).
///
/// # Errors
/// [`EvalError::Invalid`] on a shape mismatch, empty input, a label `>= num_classes` or
/// a non-finite logit.
pub fn negative_log_likelihood_from_logits(
    logits: &[f32],
    num_classes: usize,
    labels: &[usize],
) -> Result<f64, EvalError> {
    validate::scores_and_labels(logits, num_classes, labels, "negative log-likelihood")?;
    Ok(nll_of_logits(logits, num_classes, labels))
}

fn nll_of_probabilities(probs: &[f32], num_classes: usize, labels: &[usize]) -> f64 {
    let total: f64 = probs
        .chunks_exact(num_classes)
        .zip(labels)
        .map(|(row, &y)| -f64::from(row[y]).max(NLL_PROBABILITY_FLOOR).ln())
        .sum();
    total / labels.len() as f64
}

fn nll_of_logits(logits: &[f32], num_classes: usize, labels: &[usize]) -> f64 {
    let total: f64 = logits
        .chunks_exact(num_classes)
        .zip(labels)
        .map(|(row, &y)| {
            let (max, log_z) = log_normaliser(row);
            max + log_z - f64::from(row[y])
        })
        .sum();
    total / labels.len() as f64
}

/// Bins validated probabilities and assembles the report.
fn report(
    probs: &[f32],
    num_classes: usize,
    labels: &[usize],
    num_bins: usize,
    nll: f64,
) -> CalibrationReport {
    let mut count = vec![0usize; num_bins];
    let mut correct = vec![0usize; num_bins];
    let mut conf_sum = vec![0f64; num_bins];
    for (row, &y) in probs.chunks_exact(num_classes).zip(labels) {
        let pred = validate::argmax(row);
        let b = bin_index(row[pred], num_bins);
        let conf = f64::from(row[pred]);
        count[b] += 1;
        conf_sum[b] += conf;
        if pred == y {
            correct[b] += 1;
        }
    }
    let n = labels.len();
    let mut ece = 0.0;
    let mut mce = 0.0f64;
    let mut bins = Vec::with_capacity(num_bins);
    for b in 0..num_bins {
        let (accuracy, confidence) = if count[b] > 0 {
            let acc = correct[b] as f64 / count[b] as f64;
            let conf = conf_sum[b] / count[b] as f64;
            let gap = (acc - conf).abs();
            ece += count[b] as f64 / n as f64 * gap;
            mce = mce.max(gap);
            (acc, conf)
        } else {
            (0.0, 0.0)
        };
        bins.push(ReliabilityBin {
            lower: b as f64 / num_bins as f64,
            upper: (b + 1) as f64 / num_bins as f64,
            count: count[b],
            accuracy,
            confidence,
        });
    }
    CalibrationReport {
        num_samples: n,
        ece,
        mce,
        nll,
        accuracy: correct.iter().sum::<usize>() as f64 / n as f64,
        mean_confidence: conf_sum.iter().sum::<f64>() / n as f64,
        bins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_edges_are_upper_inclusive() {
        // 5 bins: [0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1].
        assert_eq!(bin_index(0.0, 5), 0);
        assert_eq!(bin_index(0.2, 5), 0);
        assert_eq!(bin_index(0.200_001, 5), 1);
        assert_eq!(bin_index(0.6, 5), 2);
        assert_eq!(bin_index(0.8, 5), 3);
        assert_eq!(bin_index(1.0, 5), 4);
        for b in [1usize, 2, 3, 10, 15, 100] {
            for i in 0..=b {
                let p = (i as f64 / b as f64) as f32;
                assert_eq!(bin_index(p, b), i.saturating_sub(1), "p = {i}/{b}");
            }
        }
    }

    #[test]
    fn softmax_is_stable_for_large_logits() {
        let p = softmax(&[1000.0, 1000.0, -1000.0], 3).unwrap();
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6 && p[2] == 0.0);
    }
}
