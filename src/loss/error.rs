//! Errors of the loss functions.

/// Invalid input to a loss. Every message names the offending value or sizes.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LossError {
    /// The batch has no sample.
    #[error("features: empty batch (expected shape [batch >= 1, views, dim])")]
    EmptyBatch,
    /// Zero views per sample.
    #[error("features: zero views (expected shape [batch, views >= 1, dim])")]
    ZeroViews,
    /// Zero-dimensional embeddings.
    #[error("features: zero embedding dimension (expected shape [batch, views, dim >= 1])")]
    ZeroDim,
    /// Labels do not match the batch size.
    #[error("labels: length {labels} does not match the batch size {batch}")]
    LabelsLength {
        /// Number of labels given.
        labels: usize,
        /// Batch size of the features.
        batch: usize,
    },
    /// The positive mask is not `batch x batch`.
    #[error("mask: {len} entries, expected batch x batch = {batch} x {batch} = {}", batch * batch)]
    MaskShape {
        /// Number of mask entries given.
        len: usize,
        /// Batch size of the features.
        batch: usize,
    },
    /// A mask entry is negative or not finite.
    #[error("mask[{row}][{col}] = {value}: entries must be finite and >= 0 (1 = positive pair)")]
    MaskValue {
        /// Row (anchor sample).
        row: usize,
        /// Column (contrast sample).
        col: usize,
        /// The value found.
        value: f32,
    },
    /// A temperature is not a finite positive number, or so small that its reciprocal
    /// overflows f32 (below about 3e-39).
    #[error(
        "{name} = {value}: expected a finite number > 0 whose reciprocal fits in f32 (at least 3e-39)"
    )]
    Temperature {
        /// `temperature` or `base_temperature`.
        name: &'static str,
        /// The value found.
        value: f64,
    },
    /// The features contain NaN or infinity.
    #[error("features contain NaN or infinite values")]
    NonFiniteFeatures,
    /// The loss overflowed (features so large that dot products leave the f32 range).
    #[error(
        "the loss is not finite: the features are too large for f32 logits at temperature {temperature} (L2-normalise them)"
    )]
    NonFiniteLoss {
        /// The temperature in use.
        temperature: f64,
    },
    /// A memory-bank or queue input does not fit the features.
    #[error("{0}")]
    Shape(String),
}
