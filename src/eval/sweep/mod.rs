//! Hyperparameter stability (Khosla et al., NeurIPS 2020, Sec. 5 and Fig. 4): the same
//! methods trained over a grid of hyperparameters at a small budget, reporting per method
//! the mean, spread (standard deviation), worst and best test top-1. SupCon's claim is
//! that its accuracy moves less than cross-entropy's when optimiser, augmentation, batch
//! size or learning rate change.
//!
//! A grid is a list of axes `key=v1,v2,...`; the points are their Cartesian product.
//! Keys ([`GridKey`]): `lr`, `temperature` (contrastive methods only: a CE grid ignores
//! that axis), `optimizer`, `augment`, `batch_size`, `weight_decay`, `momentum`, `seed`.
//! `lr`, `optimizer`, `weight_decay` and `momentum` apply to stage 1 (pre-training) and
//! to the CE baseline; the linear probe keeps its own settings.
//!
//! Layout of the output directory: `sweep.json` (rewritten after every point, so an
//! interrupted sweep keeps its results), and one directory per point:
//! `<method>/<NN>-<slug>/` holding `pretrain/` and `linear/` (contrastive methods) or the
//! CE run itself. Running the same sweep again into the same directory reuses finished
//! points and resumes interrupted training from its last checkpoint.

mod config;
mod error;
mod grid;
mod results;
mod run;

pub use config::SweepConfig;
pub use error::SweepError;
pub use grid::{GridAxis, GridKey, GridPoint, SweepMethod, grid_points, validate_grid};
pub use results::{MethodSummary, PointResult, SweepReport, summarise};
pub use run::{point_dir, run_sweep};
