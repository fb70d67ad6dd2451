//! Classification accuracy: top-k accuracy from scores, per-class accuracy and the
//! confusion matrix.
//!
//! Top-k accuracy is the standard ImageNet protocol (Russakovsky et al., "ImageNet
//! Large Scale Visual Recognition Challenge", IJCV 2015), the figure reported by SupCon
//! (Khosla et al., NeurIPS 2020, Tables 2-3).
//!
//! # Ties
//! Scores are ranked by value, descending, and equal scores by class index, ascending
//! (the rule of `numpy.argmax` for `k = 1`). So the true class `y` of a row is within the
//! top `k` when `#{j : s_j > s_y} + #{j < y : s_j == s_y} < k`: a tie never counts in the
//! model's favour beyond what the lowest-index rule gives it, and the result is
//! deterministic.

use serde::{Deserialize, Serialize};

use super::error::EvalError;
use super::validate;

/// Rank (0 = best) of class `label` in `row` under the tie rule of this module.
fn rank_of(row: &[f32], label: usize) -> usize {
    let s = row[label];
    row.iter()
        .enumerate()
        .filter(|&(j, &v)| v > s || (v == s && j < label))
        .count()
}

/// Fraction of rows whose true class is among the `k` highest scores.
///
/// `scores` is row-major `[n, num_classes]` (logits or probabilities: only the order
/// matters); `labels` has `n` entries. Ties are broken as described in the module docs.
/// Top-k accuracy as in Russakovsky et al. (IJCV 2015).
///
/// # Errors
/// [`EvalError::Invalid`] when `num_classes` is 0, `scores.len() != labels.len() *
/// num_classes`, `labels` is empty, a label is `>= num_classes`, a score is not finite,
/// or `k` is 0 or greater than `num_classes`.
pub fn top_k_accuracy(
    scores: &[f32],
    num_classes: usize,
    labels: &[usize],
    k: usize,
) -> Result<f64, EvalError> {
    top_k_accuracies(scores, num_classes, labels, &[k]).map(|v| v[0])
}

/// Top-k accuracy for several `k` at once (e.g. `&[1, 5]`), ranking each row once.
///
/// Returns one accuracy per entry of `ks`, in order. Same definition and tie rule as
/// [`top_k_accuracy`] (Russakovsky et al., IJCV 2015).
///
/// # Errors
/// As [`top_k_accuracy`], for any entry of `ks`; also when `ks` is empty.
pub fn top_k_accuracies(
    scores: &[f32],
    num_classes: usize,
    labels: &[usize],
    ks: &[usize],
) -> Result<Vec<f64>, EvalError> {
    let what = "top-k accuracy";
    if ks.is_empty() {
        return Err(EvalError::Invalid(format!("{what}: no k given")));
    }
    if let Some(&k) = ks.iter().find(|&&k| k == 0 || k > num_classes) {
        return Err(EvalError::Invalid(format!(
            "{what}: k = {k} is outside 1..={num_classes} (num_classes)"
        )));
    }
    let n = validate::scores_and_labels(scores, num_classes, labels, what)?;
    let mut hits = vec![0usize; ks.len()];
    for (row, &label) in scores.chunks_exact(num_classes).zip(labels) {
        let r = rank_of(row, label);
        for (h, &k) in hits.iter_mut().zip(ks) {
            if r < k {
                *h += 1;
            }
        }
    }
    Ok(hits.into_iter().map(|h| h as f64 / n as f64).collect())
}

/// Predicted class of every row: its arg-max, ties going to the lowest class index.
///
/// `scores` is row-major `[n, num_classes]`; an empty slice gives an empty vector.
///
/// # Errors
/// [`EvalError::Invalid`] when `num_classes` is 0, `scores.len()` is not a multiple of
/// it, or a score is not finite.
pub fn predictions(scores: &[f32], num_classes: usize) -> Result<Vec<usize>, EvalError> {
    let what = "predictions";
    validate::rows(scores.len(), num_classes, what)?;
    validate::finite(scores, num_classes, what)?;
    Ok(scores
        .chunks_exact(num_classes)
        .map(validate::argmax)
        .collect())
}

/// Fraction of `predictions` equal to `labels` (top-1 accuracy from hard predictions).
///
/// # Errors
/// [`EvalError::Invalid`] when the slices are empty or of different lengths.
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> Result<f64, EvalError> {
    check_pairs(predictions, labels, "accuracy")?;
    let hits = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Accuracy restricted to each true class (the per-class recall): entry `c` is the
/// fraction of samples of class `c` predicted as `c`, or `None` when no sample has label
/// `c`. The mean of the defined entries is the "balanced accuracy" (Brodersen et al.,
/// ICPR 2010).
///
/// # Errors
/// [`EvalError::Invalid`] when the slices are empty or of different lengths,
/// `num_classes` is 0, or a label or prediction is `>= num_classes`.
pub fn per_class_accuracy(
    predictions: &[usize],
    labels: &[usize],
    num_classes: usize,
) -> Result<Vec<Option<f64>>, EvalError> {
    Ok(ConfusionMatrix::from_predictions(predictions, labels, num_classes)?.per_class_accuracy())
}

fn check_pairs(predictions: &[usize], labels: &[usize], what: &str) -> Result<(), EvalError> {
    if labels.is_empty() {
        return Err(EvalError::Invalid(format!(
            "{what}: no samples (labels is empty)"
        )));
    }
    if predictions.len() != labels.len() {
        return Err(EvalError::Invalid(format!(
            "{what}: {} predictions but {} labels",
            predictions.len(),
            labels.len()
        )));
    }
    Ok(())
}

/// Counts of (true class, predicted class) pairs: `counts[t][p]` is the number of
/// samples of true class `t` predicted as `p` (rows = truth, columns = prediction, the
/// convention of scikit-learn's `confusion_matrix`; Stehman, "Selecting and
/// interpreting measures of thematic classification accuracy", RSE 1997).
///
/// Serialises as `{"num_classes": C, "counts": [[..C..], ..C rows..]}`; deserialising
/// checks that shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawConfusionMatrix")]
pub struct ConfusionMatrix {
    num_classes: usize,
    counts: Vec<Vec<u64>>,
}

/// Unchecked serde form of [`ConfusionMatrix`].
#[derive(Deserialize)]
struct RawConfusionMatrix {
    num_classes: usize,
    counts: Vec<Vec<u64>>,
}

impl TryFrom<RawConfusionMatrix> for ConfusionMatrix {
    type Error = EvalError;

    fn try_from(raw: RawConfusionMatrix) -> Result<Self, EvalError> {
        let c = raw.num_classes;
        if c == 0 {
            return Err(EvalError::Invalid(
                "confusion matrix: num_classes must be at least 1, got 0".into(),
            ));
        }
        if raw.counts.len() != c {
            return Err(EvalError::Invalid(format!(
                "confusion matrix: {} rows for {c} classes",
                raw.counts.len()
            )));
        }
        if let Some((t, row)) = raw.counts.iter().enumerate().find(|(_, r)| r.len() != c) {
            return Err(EvalError::Invalid(format!(
                "confusion matrix: row {t} has {} columns for {c} classes",
                row.len()
            )));
        }
        Ok(Self {
            num_classes: c,
            counts: raw.counts,
        })
    }
}

impl ConfusionMatrix {
    /// An all-zero matrix for `num_classes` classes.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] when `num_classes` is 0.
    pub fn new(num_classes: usize) -> Result<Self, EvalError> {
        if num_classes == 0 {
            return Err(EvalError::Invalid(
                "confusion matrix: num_classes must be at least 1, got 0".into(),
            ));
        }
        Ok(Self {
            num_classes,
            counts: vec![vec![0; num_classes]; num_classes],
        })
    }

    /// The matrix of hard `predictions` against `labels`.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] when the slices are empty or of different lengths,
    /// `num_classes` is 0, or a label or prediction is `>= num_classes`.
    pub fn from_predictions(
        predictions: &[usize],
        labels: &[usize],
        num_classes: usize,
    ) -> Result<Self, EvalError> {
        let what = "confusion matrix";
        check_pairs(predictions, labels, what)?;
        let mut m = Self::new(num_classes)?;
        validate::labels_in_range(labels, num_classes, what)?;
        if let Some(i) = predictions.iter().position(|&p| p >= num_classes) {
            return Err(EvalError::Invalid(format!(
                "{what}: prediction {} at index {i} is out of range for {num_classes} classes",
                predictions[i]
            )));
        }
        for (&p, &t) in predictions.iter().zip(labels) {
            m.counts[t][p] += 1;
        }
        Ok(m)
    }

    /// The matrix of the arg-max of row-major `[n, num_classes]` `scores` (ties to the
    /// lowest index) against `labels`.
    ///
    /// # Errors
    /// As [`top_k_accuracy`] (shape, empty input, label range, finiteness).
    pub fn from_scores(
        scores: &[f32],
        num_classes: usize,
        labels: &[usize],
    ) -> Result<Self, EvalError> {
        validate::scores_and_labels(scores, num_classes, labels, "confusion matrix")?;
        let preds = predictions(scores, num_classes)?;
        Self::from_predictions(&preds, labels, num_classes)
    }

    /// Adds one sample of true class `label` predicted as `prediction`.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] when either index is `>= num_classes`.
    pub fn record(&mut self, label: usize, prediction: usize) -> Result<(), EvalError> {
        let c = self.num_classes;
        if label >= c || prediction >= c {
            return Err(EvalError::Invalid(format!(
                "confusion matrix: (label {label}, prediction {prediction}) out of range for {c} classes"
            )));
        }
        self.counts[label][prediction] += 1;
        Ok(())
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Samples of true class `label` predicted as `prediction`; `None` out of range.
    pub fn count(&self, label: usize, prediction: usize) -> Option<u64> {
        self.counts.get(label)?.get(prediction).copied()
    }

    /// The rows (true class) of counts per predicted class.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Total number of samples recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Trace over total (top-1 accuracy); `None` when the matrix is empty.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.total();
        let diag: u64 = (0..self.num_classes).map(|c| self.counts[c][c]).sum();
        (total > 0).then(|| diag as f64 / total as f64)
    }

    /// Per-class accuracy (recall): diagonal over row sum; `None` for a class with no
    /// sample.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: u64 = row.iter().sum();
                (n > 0).then(|| row[c] as f64 / n as f64)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_counts_greater_and_lower_index_ties() {
        let row = [0.3f32, 0.5, 0.3, 0.1];
        assert_eq!(rank_of(&row, 1), 0);
        assert_eq!(rank_of(&row, 0), 1);
        assert_eq!(rank_of(&row, 2), 2); // tied with class 0, which has the lower index
        assert_eq!(rank_of(&row, 3), 3);
    }
}
