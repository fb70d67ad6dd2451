//! The error types of the augmentation module: [`AugmentError`] for policies and
//! operations, [`CorruptionError`] for the corruptions of robustness evaluation.

/// Invalid augmentation configuration or an unknown name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AugmentError {
    /// A policy, operation or interpolation name was not recognised.
    #[error("unknown {kind} `{name}` (expected one of: {expected})")]
    UnknownName {
        /// What was being parsed (`augmentation policy`, `augmentation op`, ...).
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The accepted names, comma separated.
        expected: &'static str,
    },
    /// A numeric parameter was outside its valid range.
    #[error("invalid augmentation parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// The parameter (config field) name.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
}

impl AugmentError {
    /// Shorthand for [`AugmentError::InvalidParameter`].
    pub(crate) fn invalid(
        name: &'static str,
        value: impl std::fmt::Debug,
        reason: &'static str,
    ) -> Self {
        Self::InvalidParameter {
            name,
            value: format!("{value:?}"),
            reason,
        }
    }
}

/// A corruption that cannot run: an unknown name, a severity outside `1..=5`, or an image
/// it cannot take. Every message names the corruption (or the unknown name).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorruptionError {
    /// A name that is none of the 15 corruptions.
    #[error("unknown corruption '{name}' (expected one of: {expected})")]
    Unknown {
        /// The name as given.
        name: String,
        /// The valid names, comma separated.
        expected: String,
    },
    /// A severity outside `1..=5`.
    #[error("corruption '{corruption}': severity {severity} is outside 1..=5")]
    Severity {
        /// The corruption's name.
        corruption: &'static str,
        /// The severity given.
        severity: u8,
    },
    /// An image the corruption cannot take (a zero dimension, a data length that does not
    /// match the shape, a value that is not finite, a side over 65535 pixels), or a JPEG
    /// round trip that failed.
    #[error("corruption '{corruption}': {reason}")]
    Image {
        /// The corruption's name.
        corruption: &'static str,
        /// What is wrong.
        reason: String,
    },
}
