//! The classification metrics every stage reports on the test split: top-1/top-5 accuracy
//! and calibration (ECE with 15 bins, MCE, NLL), computed by [`crate::metrics`].

use serde::{Deserialize, Serialize};

use super::TrainError;
use super::features::Matrix;
use crate::metrics::accuracy::top_k_accuracies;
use crate::metrics::calibration::{CalibrationReport, calibration_report_from_logits};

/// Test-set metrics of a classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    /// Number of test samples.
    pub samples: usize,
    /// Top-1 accuracy in `[0, 1]`.
    pub top1: f64,
    /// Top-5 accuracy in `[0, 1]` (top-k with k = classes when fewer than 5 classes).
    pub top5: f64,
    /// Calibration: ECE/MCE with 15 equal-width bins, NLL, reliability bins.
    pub calibration: CalibrationReport,
}

/// Metrics of `logits` `[n, classes]` against `labels`.
///
/// # Errors
/// Shapes that do not match, non-finite logits, labels out of range.
pub fn classification_metrics(
    logits: &Matrix,
    labels: &[usize],
) -> Result<ClassificationMetrics, TrainError> {
    let k5 = logits.cols.min(5);
    let acc = top_k_accuracies(&logits.values, logits.cols, labels, &[1, k5])?;
    let calibration = calibration_report_from_logits(&logits.values, logits.cols, labels, 15)?;
    Ok(ClassificationMetrics {
        samples: labels.len(),
        top1: acc[0],
        top5: acc[1],
        calibration,
    })
}
