//! The SupCon loss family: L_out (the paper's eq. 2), L_in (eq. 3), and SimCLR's NT-Xent
//! as the label-free special case; a differentiable burn implementation
//! ([`SupConLoss`]) and a tiled one with an analytic gradient for large batches
//! ([`tiled_supcon`]).

mod error;
mod positives;
mod supcon;
mod tiled;

pub use error::LossError;
pub use positives::{PairSpec, Positives, QueueSpec};
pub use supcon::{ContrastMode, SupConLoss, SupConLossConfig, Variant};
pub use tiled::{DEFAULT_BLOCK, Queue, TiledOutput, tiled_supcon, tiled_supcon_with_queue};
