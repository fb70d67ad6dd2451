//! Optimisers: SGD (momentum, Nesterov, weight decay; PyTorch's conventions), LARS
//! (You et al. 2017, as SimCLR and SupCon use it), RMSProp and AdamW.

use std::fmt;
use std::str::FromStr;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamWConfig, LearningRate, ModuleOptimizer, Optimizer, RecordState, RmsPropConfig, SgdConfig,
    StateSink, StateSource,
};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The optimiser family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum (dampening 0, as PyTorch), optional Nesterov.
    #[default]
    Sgd,
    /// Layer-wise adaptive rate scaling on top of SGD momentum; biases and BatchNorm
    /// parameters (every rank-1 tensor) skip both the adaptation and the weight decay.
    Lars,
    /// RMSProp.
    Rmsprop,
    /// Adam with decoupled weight decay.
    Adamw,
}

impl FromStr for OptimizerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(Self::Sgd),
            "lars" => Ok(Self::Lars),
            "rmsprop" => Ok(Self::Rmsprop),
            "adamw" => Ok(Self::Adamw),
            _ => Err(format!(
                "unknown optimizer '{s}': expected sgd, lars, rmsprop or adamw"
            )),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sgd => "sgd",
            Self::Lars => "lars",
            Self::Rmsprop => "rmsprop",
            Self::Adamw => "adamw",
        })
    }
}

/// Optimiser settings. Defaults follow the SupCon paper's CIFAR recipe (SGD, momentum 0.9,
/// weight decay 1e-4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Which optimiser. Default SGD.
    pub kind: OptimizerKind,
    /// Momentum (SGD, LARS, RMSProp). Default 0.9.
    pub momentum: f64,
    /// Nesterov momentum (SGD, LARS). Default false.
    pub nesterov: bool,
    /// Weight decay (L2 for SGD/LARS/RMSProp, decoupled for AdamW). Default 1e-4.
    pub weight_decay: f64,
    /// LARS trust coefficient. Default 0.001.
    pub trust_coefficient: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
            trust_coefficient: 0.001,
        }
    }
}

impl OptimizerConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// A message naming the field and the accepted range.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(format!("momentum = {}: expected 0 <= m < 1", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "weight_decay = {}: expected a finite number >= 0",
                self.weight_decay
            ));
        }
        if !(self.trust_coefficient.is_finite() && self.trust_coefficient > 0.0) {
            return Err(format!(
                "trust_coefficient = {}: expected a finite number > 0",
                self.trust_coefficient
            ));
        }
        Ok(())
    }

    /// Builds the optimiser for a whole module.
    pub fn init(&self) -> ModuleOptimizer {
        let decay =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        match self.kind {
            OptimizerKind::Sgd => {
                // burn's momentum dampening defaults to 0.1; PyTorch (and the paper) use 0.
                let momentum = (self.momentum > 0.0).then_some(MomentumConfig {
                    momentum: self.momentum,
                    dampening: 0.0,
                    nesterov: self.nesterov,
                });
                SgdConfig::new()
                    .with_weight_decay(decay)
                    .with_momentum(momentum)
                    .init()
            }
            OptimizerKind::Lars => ModuleOptimizer::from(Lars {
                momentum: self.momentum,
                nesterov: self.nesterov,
                weight_decay: self.weight_decay,
                trust_coefficient: self.trust_coefficient,
            }),
            OptimizerKind::Rmsprop => RmsPropConfig::new()
                .with_momentum(self.momentum as f32)
                .with_weight_decay(decay)
                .init(),
            OptimizerKind::Adamw => AdamWConfig::new()
                .with_weight_decay(self.weight_decay as f32)
                .init(),
        }
    }
}

/// LARS: SGD momentum whose per-tensor LR is scaled by the trust ratio
/// `eta * ||w|| / ||g + wd * w||`. Rank-1 tensors (biases, BatchNorm scales and shifts)
/// use plain momentum SGD without weight decay, the usual exclusion.
#[derive(Clone, Debug)]
pub struct Lars {
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    trust_coefficient: f64,
}

/// Velocity of one parameter under [`Lars`].
#[derive(Clone)]
pub struct LarsState<const D: usize> {
    /// The momentum buffer.
    pub velocity: Tensor<D>,
}

impl<const D: usize> RecordState for LarsState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "velocity", self.velocity.to_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let data = src.take_tensor(prefix, "velocity")?;
        Some(Self {
            velocity: Tensor::from_data(data, device),
        })
    }
}

impl Optimizer for Lars {
    type State<const D: usize> = LarsState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let adapt = D > 1;
        let scaled = if adapt {
            let grad = if self.weight_decay > 0.0 {
                grad.add(tensor.clone().mul_scalar(self.weight_decay))
            } else {
                grad
            };
            let w_norm = tensor.clone().square().sum().sqrt(); // [1]
            let g_norm = grad.clone().square().sum().sqrt(); // [1]
            let ratio = w_norm
                .clone()
                .mul_scalar(self.trust_coefficient)
                .div(g_norm.clone().clamp_min(1e-30)); // [1]
            // Trust ratio 1 where either norm is zero (fresh zero weights, zero gradient).
            let degenerate = w_norm
                .lower_equal_elem(0.0)
                .bool_or(g_norm.lower_equal_elem(0.0));
            let ratio = ratio.mask_fill(degenerate, 1.0);
            grad.mul(ratio.mul_scalar(lr).unsqueeze::<D>())
        } else {
            grad.mul_scalar(lr)
        };
        let velocity = match state {
            Some(s) => s.velocity.mul_scalar(self.momentum).add(scaled.clone()),
            None => scaled.clone(),
        };
        let update = if self.nesterov {
            velocity.clone().mul_scalar(self.momentum).add(scaled)
        } else {
            velocity.clone()
        };
        (tensor.sub(update), Some(LarsState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        LarsState {
            velocity: state.velocity.to_device(device),
        }
    }
}
