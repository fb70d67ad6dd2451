//! Forward passes over a whole split without gradients: encoder features (for the linear
//! probe, k-NN, embeddings) and class logits (for evaluation), in dataset order.

use burn::tensor::{Device, Tensor};

use super::TrainError;
use super::setup::{eval_loader, images};
use crate::data::{ImageDataset, LoadedDataset};

/// Rows of a `[n, d]` matrix kept on the CPU, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values.
    pub values: Vec<f32>,
}

impl Matrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }
}

/// Applies `forward` to every image of `split` (normalised, not augmented) in batches of
/// `batch_size` on `device` and stacks the outputs. `forward` must not track gradients:
/// give it a model from `Module::valid()`.
///
/// # Shapes
/// - `forward`: `[B, C, H, W] -> [B, K]`.
/// - output: `[split.len(), K]`.
///
/// # Errors
/// Batching errors.
pub fn map_split<F>(
    data: &LoadedDataset,
    split: &ImageDataset,
    batch_size: usize,
    device: &Device,
    forward: F,
) -> Result<Matrix, TrainError>
where
    F: Fn(Tensor<4>) -> Tensor<2>,
{
    let loader = eval_loader(data, split, batch_size, 0)?;
    let mut values = Vec::new();
    let mut cols = 0;
    for batch in loader.iter(0) {
        // Polled per batch: a Ctrl-C while caching features takes effect at once.
        crate::stop::check("feature caching (encoding images)")?;
        let batch = batch?;
        let out = forward(images(&batch, device)); // [B, K]
        cols = out.dims()[1];
        values.extend(
            out.try_into_vec_as::<f32>()
                .map_err(|e| TrainError::Readback {
                    what: "outputs",
                    reason: format!("{e:?}"),
                })?,
        );
    }
    Ok(Matrix {
        rows: split.len(),
        cols,
        values,
    })
}
