//! Pure, seeded image transforms on [`crate::data::Image`]: SupCon's augmentation
//! policies and the corruptions used for robustness evaluation.
//!
//! - [`ops`]: primitive operations (resize, crop, flip, colour, blur, AutoAugment ops).
//! - [`AugOp`]: the AutoAugment/RandAugment op set with its magnitude tables.
//! - [`stages`]: torchvision-style random stages (crop, flip, jitter, grayscale, blur).
//! - [`AutoAugment`], [`RandAugment`]: the learned / random policies.
//! - [`Augment`] + [`AugmentConfig`]: SupCon's named policies, built into a [`Pipeline`].
//! - [`measure_throughput`]: augmentation + batching speed.
//!
//! Every transform implements [`Transform`]: the same input and RNG state always
//! give the same output.

pub mod augop;
pub mod autoaugment;
pub mod corrupt;
mod error;
pub mod ops;
pub mod pipeline;
pub mod policy;
pub mod randaugment;
pub mod stages;
mod throughput;

pub use crate::data::transform::{Identity, Transform};
pub use augop::AugOp;
pub use autoaugment::{AutoAugment, AutoAugmentPolicy};
pub use error::{AugmentError, CorruptionError};
pub use pipeline::{Pipeline, Stage};
pub use policy::{Augment, AugmentConfig};
pub use randaugment::RandAugment;
pub use throughput::{LoaderRate, measure_loader, measure_throughput};
