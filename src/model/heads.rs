//! The projection head used by the contrastive loss, and the linear classifier of the
//! probe / cross-entropy baseline.

use std::fmt;
use std::str::FromStr;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::error::ModelError;

/// The smallest norm [`l2_normalize`] divides by (as `torch.nn.functional.normalize`).
pub const NORM_EPS: f64 = 1e-12;

/// Scales every row to unit L2 norm: `x / max(||x||, 1e-12)`.
///
/// Computed as `x / sqrt(max(||x||^2, 1e-24))`, which is the same value but keeps the
/// gradient finite for an all-zero row.
///
/// # Shapes
/// - `x`: `[B, D]`
/// - returns: `[B, D]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let squared = x.clone().square().sum_dim(1); // [B, 1]
    let norm = squared.clamp_min(NORM_EPS * NORM_EPS).sqrt(); // [B, 1]
    x / norm // [B, D]
}

/// The kind of projection head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// One linear layer `D -> out`.
    Linear,
    /// `D -> hidden`, [BatchNorm], ReLU, `hidden -> out` (SupCon's default head).
    #[default]
    Mlp,
}

impl HeadKind {
    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Mlp => "mlp",
        }
    }
}

impl fmt::Display for HeadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HeadKind {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "linear" => Ok(Self::Linear),
            "mlp" => Ok(Self::Mlp),
            _ => Err(ModelError::Config(format!(
                "unknown projection head '{s}': expected 'linear' or 'mlp'"
            ))),
        }
    }
}

/// The largest projection-head width accepted (the paper uses 128 and 2048).
pub const MAX_HEAD_DIM: usize = 65_536;

/// Configuration of a [`ProjectionHead`]; the input dimension comes from the encoder.
///
/// Deserialises with defaults for every missing field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// `linear` or `mlp`. Default: `mlp`.
    pub kind: HeadKind,
    /// Dimension of the projected, normalised embedding. Default: 128.
    pub output_dim: usize,
    /// Hidden width of the `mlp` head; `None` means the encoder's `D` (as SupCon).
    /// Default: `None`.
    pub hidden_dim: Option<usize>,
    /// BatchNorm after the hidden layer of the `mlp` head. Default: false.
    pub batch_norm: bool,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            kind: HeadKind::Mlp,
            output_dim: 128,
            hidden_dim: None,
            batch_norm: false,
        }
    }
}

impl HeadConfig {
    /// A head of `kind` with the other fields at their defaults.
    pub fn new(kind: HeadKind) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }

    /// Sets the output dimension.
    pub fn with_output_dim(mut self, output_dim: usize) -> Self {
        self.output_dim = output_dim;
        self
    }

    /// Sets the hidden width of the `mlp` head.
    pub fn with_hidden_dim(mut self, hidden_dim: Option<usize>) -> Self {
        self.hidden_dim = hidden_dim;
        self
    }

    /// Sets whether the `mlp` head has a BatchNorm after its hidden layer.
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Checks the configuration, naming the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.output_dim == 0 {
            return Err(ModelError::Config(
                "projection head output_dim must be at least 1".to_string(),
            ));
        }
        if self.hidden_dim == Some(0) {
            return Err(ModelError::Config(
                "projection head hidden_dim must be at least 1".to_string(),
            ));
        }
        for (name, value) in [
            ("output_dim", Some(self.output_dim)),
            ("hidden_dim", self.hidden_dim),
        ] {
            if let Some(v) = value.filter(|&v| v > MAX_HEAD_DIM) {
                return Err(ModelError::Config(format!(
                    "projection head {name} = {v}: expected at most {MAX_HEAD_DIM}"
                )));
            }
        }
        Ok(())
    }

    /// Builds a head on top of a `input_dim`-dimensional feature.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`validate`](Self::validate)) or
    /// `input_dim` is 0.
    pub fn init(&self, input_dim: usize, device: &Device) -> ProjectionHead {
        if let Err(err) = self.validate() {
            panic!("invalid HeadConfig: {err}");
        }
        assert!(
            input_dim > 0,
            "projection head input_dim must be at least 1"
        );
        match self.kind {
            HeadKind::Linear => ProjectionHead {
                fc1: LinearConfig::new(input_dim, self.output_dim).init(device),
                bn: None,
                fc2: None,
                output_dim: self.output_dim,
            },
            HeadKind::Mlp => {
                let hidden = self.hidden_dim.unwrap_or(input_dim);
                ProjectionHead {
                    fc1: LinearConfig::new(input_dim, hidden)
                        .with_bias(!self.batch_norm)
                        .init(device),
                    bn: self
                        .batch_norm
                        .then(|| BatchNormConfig::new(hidden).init(device)),
                    fc2: Some(LinearConfig::new(hidden, self.output_dim).init(device)),
                    output_dim: self.output_dim,
                }
            }
        }
    }
}

/// The projection head: maps the encoder feature to a unit-norm embedding.
///
/// A `linear` head is `fc1` alone; an `mlp` head is `fc1`, optional `bn`, ReLU, `fc2`.
#[derive(Module, Debug)]
pub struct ProjectionHead {
    /// First (or only) linear layer.
    pub fc1: Linear,
    /// BatchNorm after the hidden layer (`mlp` head with `batch_norm` only).
    pub bn: Option<BatchNorm>,
    /// Output layer of the `mlp` head.
    pub fc2: Option<Linear>,
    output_dim: usize,
}

impl ProjectionHead {
    /// The L2-normalised projection.
    ///
    /// # Shapes
    /// - `x`: `[B, D]`
    /// - returns: `[B, P]`, `P = self.output_dim()`, every row of unit norm
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let z = self.forward_unnormalized(x); // [B, P]
        l2_normalize(z) // [B, P]
    }

    /// The projection before normalisation.
    ///
    /// # Shapes
    /// - `x`: `[B, D]`
    /// - returns: `[B, P]`
    pub fn forward_unnormalized(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.fc1.forward(x); // [B, hidden] (mlp) or [B, P] (linear)
        let Some(fc2) = &self.fc2 else {
            return x; // [B, P]
        };
        let x = match &self.bn {
            Some(bn) => bn.forward(x), // [B, hidden]
            None => x,
        };
        let x = relu(x); // [B, hidden]
        fc2.forward(x) // [B, P]
    }

    /// The embedding dimension `P`.
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }

    /// The kind of head.
    pub fn kind(&self) -> HeadKind {
        if self.fc2.is_some() {
            HeadKind::Mlp
        } else {
            HeadKind::Linear
        }
    }

    /// Number of trainable parameters (BatchNorm running statistics excluded).
    pub fn num_params(&self) -> usize {
        super::trainable_params(self)
    }
}

/// Configuration of a [`LinearClassifier`].
#[derive(Config, Debug)]
pub struct LinearClassifierConfig {
    /// Feature dimension `D`.
    pub input_dim: usize,
    /// Number of classes `K`.
    pub num_classes: usize,
}

impl LinearClassifierConfig {
    /// Builds the classifier (PyTorch's default Linear init).
    ///
    /// # Panics
    /// If `input_dim` or `num_classes` is 0.
    pub fn init(&self, device: &Device) -> LinearClassifier {
        assert!(
            self.input_dim > 0 && self.num_classes > 0,
            "linear classifier needs input_dim and num_classes >= 1, got {} and {}",
            self.input_dim,
            self.num_classes
        );
        LinearClassifier {
            fc: LinearConfig::new(self.input_dim, self.num_classes).init(device),
        }
    }
}

/// A linear map from features to class logits (the linear probe, or the classifier of the
/// cross-entropy baseline). Named `fc` as torchvision's classifier.
#[derive(Module, Debug)]
pub struct LinearClassifier {
    /// The affine map `D -> K`.
    pub fc: Linear,
}

impl LinearClassifier {
    /// Class logits (no softmax).
    ///
    /// # Shapes
    /// - `x`: `[B, D]`
    /// - returns: `[B, K]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc.forward(x) // [B, K]
    }

    /// Number of classes `K`.
    pub fn num_classes(&self) -> usize {
        self.fc.weight.lazy_shape().dims::<2>()[1]
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        super::trainable_params(self)
    }
}
