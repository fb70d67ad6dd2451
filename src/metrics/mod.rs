//! Classification metrics as plain numeric code on slices, below training and evaluation
//! (training reports them on the test split, evaluation on every split and corruption):
//! top-k accuracy, the confusion matrix, calibration (ECE, MCE, NLL, reliability bins).
//!
//! Conventions shared by every function here:
//! - scores (logits or probabilities) are row-major `[n, num_classes]` `&[f32]`;
//! - labels are `usize` class indices, each `< num_classes`;
//! - the predicted class of a row is its arg-max, ties going to the lowest class index;
//! - bad input (length mismatch, empty input, out-of-range label, non-finite value) gives
//!   an [`EvalError`] naming the value, never a panic.

pub mod accuracy;
pub mod calibration;
pub(crate) mod error;
pub(crate) mod validate;

pub use error::EvalError;
