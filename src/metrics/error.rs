//! Errors of the classification metrics (and of evaluation, which re-exports them).

/// Invalid input to an evaluation metric or a corruption.
///
/// Every message names the offending value (index, label, length, name, severity), so
/// it can be shown to a user as is.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Inputs whose sizes or values do not fit together.
    #[error("{0}")]
    Invalid(String),
    /// A corruption, severity or clean error that a computation needs is absent from a
    /// table (typically the baseline's).
    #[error("missing entry: {0}")]
    Missing(String),
    /// A normalising denominator is zero, so the metric is undefined.
    #[error("division by zero: {0}")]
    DivisionByZero(String),
    /// A normalising denominator has a sign that makes the metric meaningless (e.g. a
    /// baseline whose corrupted errors are below its clean error).
    #[error("undefined: {0}")]
    Undefined(String),
    /// A corruption that cannot run (unknown name, severity, image).
    #[error(transparent)]
    Corruption(#[from] crate::augment::CorruptionError),
}
