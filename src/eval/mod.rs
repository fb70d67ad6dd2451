//! Evaluation: corruption robustness and the weighted k-NN classifier on embeddings as
//! plain numeric code on slices (accuracy and calibration come from [`crate::metrics`]),
//! evaluating runs, the report and sweeps.
//!
//! Conventions shared by every function here:
//! - scores (logits or probabilities) are row-major `[n, num_classes]` `&[f32]`;
//! - labels are `usize` class indices, each `< num_classes`;
//! - the predicted class of a row is its arg-max, ties going to the lowest class index;
//! - bad input (length mismatch, empty input, out-of-range label, non-finite value) gives
//!   an [`EvalError`] naming the value, never a panic.

// The numeric metrics live below training (`crate::metrics`); evaluation re-exports them.
pub use crate::metrics::{accuracy, calibration};
use crate::metrics::{error, validate};

pub mod evaluate;
pub mod knn;
pub mod report;
pub mod robustness;
pub mod sweep;

pub use accuracy::{
    ConfusionMatrix, accuracy, per_class_accuracy, predictions, top_k_accuracies, top_k_accuracy,
};
pub use calibration::{
    CalibrationReport, DEFAULT_NUM_BINS, ReliabilityBin, calibration_report,
    calibration_report_from_logits, expected_calibration_error, negative_log_likelihood,
    negative_log_likelihood_from_logits, softmax,
};
pub use error::EvalError;
pub use knn::{DEFAULT_K, DEFAULT_TEMPERATURE, knn_accuracy, knn_predict};
pub use robustness::{
    CorruptionScore, ErrorTable, RobustnessReport, corruption_error, mean_corruption_error,
    mean_error, relative_corruption_error, relative_mean_corruption_error, robustness_report,
};
