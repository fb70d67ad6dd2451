//! The error type of the augmentation module.

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
