//! # supcon
//!
//! Supervised Contrastive Learning (Khosla et al., NeurIPS 2020, arXiv:2004.11362) on
//! [burn](https://burn.dev): the SupCon loss family, ResNet encoders with projection heads,
//! real dataset loaders, SupCon's augmentation policies, two-stage training (contrastive
//! pre-training then a linear probe), baselines, and the paper's evaluation protocols.
//!
//! Data flows one way: `data` (spec -> dataset) -> `augment` (views) -> `model`
//! (encoder -> head) -> `loss` -> `train` (optimiser, schedules, checkpoints) -> `infer`,
//! `eval` -> `suite` (`supcon run`: the stages in one directory).

pub mod augment;
pub mod data;
pub mod device;
pub mod dirlock;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod infer;
pub mod kernels;
mod listing;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod outputs;
pub mod stop;
pub mod suite;
pub mod train;

pub use burn;
pub use error::{Error, Result};
