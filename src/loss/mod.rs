//! The SupCon loss family: L_out (the paper's eq. 2), L_in (eq. 3), and SimCLR's NT-Xent
//! as the label-free special case; a differentiable burn implementation
//! ([`SupConLoss`]) and a tiled one with an analytic gradient for large batches
//! ([`tiled_supcon`]).
//!
//! # In your own training loop
//!
//! The loss takes `[batch, views, dim]` features (normally L2-normalised projections)
//! and the positives (labels, an explicit mask, or instance identity for SimCLR); any
//! burn model and optimiser can use it. One SGD step of a model of your own:
//!
//! ```
//! use supcon::burn::module::Module;
//! use supcon::burn::nn::{Linear, LinearConfig};
//! use supcon::burn::optim::{GradientsParams, SgdConfig};
//! use supcon::burn::tensor::{Device, Distribution, Tensor};
//! use supcon::loss::{Positives, SupConLossConfig};
//! use supcon::model::l2_normalize;
//!
//! #[derive(Module, Debug)]
//! struct Net {
//!     fc: Linear,
//! }
//!
//! # fn main() -> Result<(), supcon::loss::LossError> {
//! let device = Device::flex().autodiff(); // autodiff: gradients come from backward()
//! let mut net = Net { fc: LinearConfig::new(16, 8).init(&device) };
//! let mut optim = SgdConfig::new().init();
//! let loss_fn = SupConLossConfig::default().init()?; // temperature 0.1, L_out
//!
//! // A batch of 4 samples, 2 views each, stacked view-major: row v * 4 + i is view v of i.
//! let labels = [0, 1, 0, 1];
//! let x = Tensor::<2>::random([2 * 4, 16], Distribution::Default, &device);
//! let z = l2_normalize(net.fc.forward(x)); // [8, 8]
//! let features = z.reshape([2, 4, 8]).swap_dims(0, 1); // [batch 4, views 2, dim 8]
//! let loss = loss_fn.forward(features, Positives::Labels(&labels))?; // [1]
//! let grads = GradientsParams::from_grads(loss.backward(), &net);
//! net = optim.step(0.1, net, grads);
//! # let _ = net;
//! # Ok(())
//! # }
//! ```
//!
//! For batches whose `(views * batch)^2` similarity matrix does not fit in memory,
//! [`tiled_supcon`] gives the same loss and its exact gradient with respect to the
//! features, computed in blocks of anchor rows on the host. Back-propagate that gradient
//! through the model with the surrogate `sum(z * g)`, whose gradient with respect to `z`
//! is `g`:
//!
//! ```
//! use supcon::burn::tensor::{Device, Distribution, Tensor, TensorData};
//! use supcon::loss::{Positives, SupConLossConfig, tiled_supcon};
//!
//! # fn main() -> Result<(), supcon::loss::LossError> {
//! let device = Device::flex().autodiff();
//! let z = Tensor::<3>::random([4, 2, 8], Distribution::Default, &device).require_grad();
//! // (in a real loop, `z` is the model's output for the batch: [batch, views, dim])
//! let host: Vec<f32> = z.clone().detach().into_data().try_to_vec().unwrap();
//! let out = tiled_supcon(
//!     &SupConLossConfig::default(),
//!     &host,
//!     [4, 2, 8],
//!     Positives::Labels(&[0, 1, 0, 1]),
//!     0,   // seed of the positives cap (unused without a cap)
//!     256, // anchor rows per block
//! )?;
//! let g = Tensor::<3>::from_data(TensorData::new(out.grad, [4, 2, 8]), &device);
//! let grads = z.clone().mul(g).sum().backward(); // d/dz = g: the loss's own gradient
//! assert_eq!(z.grad(&grads).unwrap().dims(), [4, 2, 8]);
//! println!("loss {}", out.loss);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/custom_loop.rs` trains a small model both ways and checks that they agree.

mod error;
mod positives;
mod supcon;
mod tiled;

pub use error::LossError;
pub use positives::{PairSpec, Positives, QueueSpec};
pub use supcon::{ContrastMode, SupConLoss, SupConLossConfig, Variant};
pub use tiled::{
    DEFAULT_BLOCK, Queue, TiledOutput, anchor_count, tiled_supcon, tiled_supcon_rows,
    tiled_supcon_with_queue,
};
