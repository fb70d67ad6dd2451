//! An MLP encoder for vector (tabular) inputs, or for flattened small images.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::error::ModelError;
use super::heads::MAX_HEAD_DIM;

/// The most an MLP encoder's weights may take, in bytes (16 GiB).
const MAX_MLP_BYTES: f64 = (16u64 << 30) as f64;

/// Configuration of an [`MlpEncoder`]: `Linear -> [BatchNorm] -> ReLU` per hidden layer.
#[derive(Config, Debug)]
pub struct MlpEncoderConfig {
    /// Number of input features `F` (for images, `C * H * W`).
    pub input_dim: usize,
    /// Widths of the hidden layers; the last is the feature dimension `D`.
    /// Default: `[512, 512]`.
    #[config(default = "vec![512, 512]")]
    pub hidden_dims: Vec<usize>,
    /// BatchNorm between each linear layer and its ReLU (the linear layers then have no
    /// bias). Default: true.
    #[config(default = true)]
    pub batch_norm: bool,
}

impl MlpEncoderConfig {
    /// The feature dimension `D`: the last hidden width.
    pub fn feature_dim(&self) -> usize {
        self.hidden_dims.last().copied().unwrap_or(0)
    }

    /// Checks the configuration, naming the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input_dim == 0 {
            return Err(ModelError::Config(
                "MLP encoder input_dim must be at least 1".to_string(),
            ));
        }
        if self.hidden_dims.is_empty() || self.hidden_dims.contains(&0) {
            return Err(ModelError::Config(format!(
                "MLP encoder hidden_dims must be a non-empty list of positive widths, got {:?}",
                self.hidden_dims
            )));
        }
        if let Some(&w) = self.hidden_dims.iter().find(|&&w| w > MAX_HEAD_DIM) {
            return Err(ModelError::Config(format!(
                "MLP encoder hidden width {w}: expected at most {MAX_HEAD_DIM}"
            )));
        }
        // The weights alone, in f32: refuse what cannot fit rather than abort on allocation.
        let mut fan_in = self.input_dim as f64;
        let mut bytes = 0.0;
        for &w in &self.hidden_dims {
            bytes += fan_in * w as f64 * 4.0;
            fan_in = w as f64;
        }
        if bytes > MAX_MLP_BYTES {
            return Err(ModelError::Config(format!(
                "MLP encoder of input_dim {} and hidden_dims {:?}: its weights need {:.1} GiB; \
                 expected at most {} GiB",
                self.input_dim,
                self.hidden_dims,
                bytes / (1u64 << 30) as f64,
                MAX_MLP_BYTES / (1u64 << 30) as f64
            )));
        }
        Ok(())
    }

    /// Builds the encoder on `device` (burn's default Linear init, which equals PyTorch's).
    ///
    /// # Panics
    /// If the configuration is invalid (see [`validate`](Self::validate)).
    pub fn init(&self, device: &Device) -> MlpEncoder {
        if let Err(err) = self.validate() {
            panic!("invalid MlpEncoderConfig: {err}");
        }
        let mut layers = Vec::with_capacity(self.hidden_dims.len());
        let mut d_in = self.input_dim;
        for &d_out in &self.hidden_dims {
            layers.push(MlpLayer {
                linear: LinearConfig::new(d_in, d_out)
                    .with_bias(!self.batch_norm)
                    .init(device),
                norm: self
                    .batch_norm
                    .then(|| BatchNormConfig::new(d_out).init(device)),
            });
            d_in = d_out;
        }
        MlpEncoder {
            layers,
            input_dim: self.input_dim,
            output_dim: self.feature_dim(),
        }
    }
}

/// One hidden layer of an [`MlpEncoder`].
#[derive(Module, Debug)]
pub struct MlpLayer {
    /// The affine map.
    pub linear: Linear,
    /// Optional BatchNorm before the ReLU.
    pub norm: Option<BatchNorm>,
}

impl MlpLayer {
    /// # Shapes
    /// - `x`: `[B, F_in]`
    /// - returns: `[B, F_out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.linear.forward(x); // [B, F_out]
        let x = match &self.norm {
            Some(norm) => norm.forward(x), // [B, F_out]
            None => x,
        };
        relu(x) // [B, F_out]
    }
}

/// A stack of `Linear -> [BatchNorm] -> ReLU` layers.
#[derive(Module, Debug)]
pub struct MlpEncoder {
    /// The hidden layers, in order.
    pub layers: Vec<MlpLayer>,
    input_dim: usize,
    output_dim: usize,
}

impl MlpEncoder {
    /// # Shapes
    /// - `x`: `[B, F]`, `F = self.input_dim()`
    /// - returns: `[B, D]`, `D = self.output_dim()`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x)) // [B, D]
    }

    /// The number of input features `F`.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// The feature dimension `D`.
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }

    /// Number of trainable parameters (BatchNorm running statistics excluded).
    pub fn num_params(&self) -> usize {
        super::trainable_params(self)
    }
}
