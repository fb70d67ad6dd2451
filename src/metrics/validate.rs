//! Input checks shared by the metrics: shapes of row-major score matrices, label
//! ranges, finiteness. Each check returns an [`EvalError`] whose message names the
//! offending value.

use super::error::EvalError;

/// Checks `num_classes > 0` and that `len` is a whole number of rows; returns the
/// number of rows (which may be zero).
pub(crate) fn rows(len: usize, num_classes: usize, what: &str) -> Result<usize, EvalError> {
    if num_classes == 0 {
        return Err(EvalError::Invalid(format!(
            "{what}: num_classes must be at least 1, got 0"
        )));
    }
    if !len.is_multiple_of(num_classes) {
        return Err(EvalError::Invalid(format!(
            "{what}: length {len} is not a multiple of num_classes {num_classes}"
        )));
    }
    Ok(len / num_classes)
}

/// Checks a `[n, num_classes]` score matrix against `n` labels: non-empty, matching
/// lengths, every label `< num_classes`, every score finite. Returns `n`.
pub(crate) fn scores_and_labels(
    scores: &[f32],
    num_classes: usize,
    labels: &[usize],
    what: &str,
) -> Result<usize, EvalError> {
    let n = rows(scores.len(), num_classes, what)?;
    if labels.is_empty() {
        return Err(EvalError::Invalid(format!(
            "{what}: no samples (labels is empty)"
        )));
    }
    if n != labels.len() {
        return Err(EvalError::Invalid(format!(
            "{what}: {} labels but scores hold {n} rows of {num_classes} classes (length {})",
            labels.len(),
            scores.len()
        )));
    }
    labels_in_range(labels, num_classes, what)?;
    finite(scores, num_classes, what)?;
    Ok(n)
}

/// Checks every label is `< num_classes`.
pub(crate) fn labels_in_range(
    labels: &[usize],
    num_classes: usize,
    what: &str,
) -> Result<(), EvalError> {
    match labels.iter().position(|&l| l >= num_classes) {
        Some(i) => Err(EvalError::Invalid(format!(
            "{what}: label {} at index {i} is out of range for {num_classes} classes",
            labels[i]
        ))),
        None => Ok(()),
    }
}

/// Checks every value of a row-major `[n, cols]` matrix is finite.
pub(crate) fn finite(values: &[f32], cols: usize, what: &str) -> Result<(), EvalError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(EvalError::Invalid(format!(
            "{what}: non-finite value {} at row {}, column {}",
            values[i],
            i / cols.max(1),
            i % cols.max(1)
        ))),
        None => Ok(()),
    }
}

/// Index of the largest value of a non-empty row, ties going to the lowest index.
/// Values are assumed finite (checked by the callers).
pub(crate) fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = j;
        }
    }
    best
}
