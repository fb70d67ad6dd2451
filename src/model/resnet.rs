//! ResNet encoders in torchvision's layout (He et al. 2016, "v1.5": the stride of a
//! Bottleneck sits on its 3x3 convolution), with a CIFAR or ImageNet stem, a width
//! multiplier, and no classifier: the output is the global-average-pooled feature `[B, D]`.
//!
//! Parameter names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, ...) so that
//! torchvision checkpoints map onto them; the one difference is the shortcut, which is
//! `downsample.conv` / `downsample.bn` here and `downsample.0` / `downsample.1` there
//! (see [`super::weights::import_torchvision_resnet`]).

use std::fmt;
use std::str::FromStr;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::layers;

/// The residual block a ResNet stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Two 3x3 convolutions (ResNet-18/34); expansion 1.
    Basic,
    /// 1x1 -> 3x3 (strided) -> 1x1 convolutions (ResNet-50 and deeper); expansion 4.
    Bottleneck,
}

impl BlockKind {
    /// How many times wider a block's output is than its inner width (`planes`).
    pub fn expansion(self) -> usize {
        match self {
            Self::Basic => 1,
            Self::Bottleneck => 4,
        }
    }
}

/// The first layers of a ResNet, before the residual stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 3x3 stride-1 convolution, no max-pool: for 28x28 / 32x32 images (SupCon's CIFAR
    /// setting). A 32x32 input reaches the last stage at 4x4.
    #[default]
    Cifar,
    /// 7x7 stride-2 convolution then a 3x3 stride-2 max-pool (torchvision): for 224x224
    /// images. A 224x224 input reaches the last stage at 7x7.
    Imagenet,
    /// 3x3 stride-2 convolution, no max-pool: the CIFAR stem at a quarter of the cost of
    /// every later layer, for fast CPU training on 28x28 / 32x32 images (the `resnet-tiny`
    /// preset). A 32x32 input reaches the last stage at 2x2.
    Compact,
}

impl Stem {
    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cifar => "cifar",
            Self::Imagenet => "imagenet",
            Self::Compact => "compact",
        }
    }
}

impl fmt::Display for Stem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stem {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cifar" | "small" => Ok(Self::Cifar),
            "imagenet" | "large" => Ok(Self::Imagenet),
            "compact" => Ok(Self::Compact),
            _ => Err(ModelError::Config(format!(
                "unknown stem '{s}': expected 'cifar', 'imagenet' or 'compact'"
            ))),
        }
    }
}

/// Configuration of a [`ResNet`].
///
/// The channel widths of the four stages are `w, 2w, 4w, 8w` times the block expansion,
/// with `w = base_width * width_multiplier`; the output feature has
/// `D = 8 * w * expansion` channels (512 for ResNet-18/34 and 2048 for ResNet-50 and deeper
/// at the defaults). Every channel count is scaled by the multiplier (SimCLR's "ResNet-50
/// (2x)"), unlike torchvision's `wide_resnet50_2`, which widens only a Bottleneck's inside.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// The residual block: [`BlockKind::Basic`] or [`BlockKind::Bottleneck`].
    pub block: BlockKind,
    /// Number of blocks in each of the four stages, e.g. `[2, 2, 2, 2]` for ResNet-18.
    pub layers: [usize; 4],
    /// The stem. Default: [`Stem::Cifar`] (the presets except [`tiny`](Self::tiny)).
    #[config(default = "Stem::Cifar")]
    pub stem: Stem,
    /// Width of the stem and of the first stage before the multiplier. Default: 64.
    #[config(default = 64)]
    pub base_width: usize,
    /// Width multiplier `k`: every stage is `k` times wider. Default: 1.
    #[config(default = 1)]
    pub width_multiplier: usize,
    /// Channels of the input images: 1 (grey) or 3 (RGB). Default: 3.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Start the last BatchNorm of every residual block with gamma = 0, so that each block
    /// begins as the identity (Goyal et al. 2017). Default: false (as torchvision).
    #[config(default = false)]
    pub zero_init_residual: bool,
}

impl ResNetConfig {
    /// ResNet-18: Basic blocks, `[2, 2, 2, 2]`, D = 512.
    pub fn resnet18() -> Self {
        Self::new(BlockKind::Basic, [2, 2, 2, 2])
    }

    /// ResNet-34: Basic blocks, `[3, 4, 6, 3]`, D = 512.
    pub fn resnet34() -> Self {
        Self::new(BlockKind::Basic, [3, 4, 6, 3])
    }

    /// ResNet-50: Bottleneck blocks, `[3, 4, 6, 3]`, D = 2048.
    pub fn resnet50() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3])
    }

    /// ResNet-101: Bottleneck blocks, `[3, 4, 23, 3]`, D = 2048.
    pub fn resnet101() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 23, 3])
    }

    /// ResNet-152: Bottleneck blocks, `[3, 8, 36, 3]`, D = 2048.
    pub fn resnet152() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 8, 36, 3])
    }

    /// ResNet-200: Bottleneck blocks, `[3, 24, 36, 3]`, D = 2048.
    pub fn resnet200() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 24, 36, 3])
    }

    /// The `resnet-tiny` preset for CPU training on 28x28 / 32x32 images: the
    /// [`Stem::Compact`] stem (3x3 stride 2), Basic blocks `[1, 1, 1, 1]` (a ResNet-10) at
    /// base width 16, so D = 128 and 0.31 M parameters. See the module docs of
    /// [`crate::model`] for the measured SupCon step time.
    pub fn tiny() -> Self {
        Self::new(BlockKind::Basic, [1, 1, 1, 1])
            .with_base_width(16)
            .with_stem(Stem::Compact)
    }

    /// The standard configuration for a torchvision depth (18, 34, 50, 101, 152 or 200).
    pub fn for_depth(depth: usize) -> Result<Self, ModelError> {
        match depth {
            18 => Ok(Self::resnet18()),
            34 => Ok(Self::resnet34()),
            50 => Ok(Self::resnet50()),
            101 => Ok(Self::resnet101()),
            152 => Ok(Self::resnet152()),
            200 => Ok(Self::resnet200()),
            _ => Err(ModelError::Config(format!(
                "no ResNet of depth {depth}: expected 18, 34, 50, 101, 152 or 200"
            ))),
        }
    }

    /// Width of the stem and the first stage: `base_width * width_multiplier`.
    pub fn stem_width(&self) -> usize {
        self.base_width * self.width_multiplier
    }

    /// The dimension `D` of the output feature: `8 * stem_width * expansion`.
    pub fn feature_dim(&self) -> usize {
        8 * self.stem_width() * self.block.expansion()
    }

    /// Checks the configuration, naming the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.in_channels == 0 {
            return Err(ModelError::Config(
                "ResNet in_channels must be at least 1".to_string(),
            ));
        }
        if self.base_width == 0 || self.width_multiplier == 0 {
            return Err(ModelError::Config(format!(
                "ResNet width must be positive (base_width {}, width_multiplier {})",
                self.base_width, self.width_multiplier
            )));
        }
        if self.layers.contains(&0) {
            return Err(ModelError::Config(format!(
                "every ResNet stage needs at least one block, got layers {:?}",
                self.layers
            )));
        }
        Ok(())
    }

    /// Builds the network on `device` (Kaiming-normal fan-out convolutions, BatchNorm
    /// gamma 1 and beta 0, or gamma 0 on each block's last BatchNorm with
    /// `zero_init_residual`). Parameters are initialised lazily, on first use.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`validate`](Self::validate)).
    pub fn init(&self, device: &Device) -> ResNet {
        if let Err(err) = self.validate() {
            panic!("invalid ResNetConfig: {err}");
        }
        let width = self.stem_width();
        let (conv1, maxpool) = match self.stem {
            Stem::Cifar => (conv(self.in_channels, width, 3, 1, 1, device), None),
            Stem::Compact => (conv(self.in_channels, width, 3, 2, 1, device), None),
            Stem::Imagenet => (
                conv(self.in_channels, width, 7, 2, 3, device),
                Some(
                    MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                ),
            ),
        };

        let mut in_channels = width;
        let mut stages: Vec<Vec<Block>> = Vec::with_capacity(4);
        for (stage, &blocks) in self.layers.iter().enumerate() {
            let planes = width << stage;
            let stride = if stage == 0 { 1 } else { 2 };
            let mut layer = Vec::with_capacity(blocks);
            for index in 0..blocks {
                let stride = if index == 0 { stride } else { 1 };
                layer.push(Block::new(
                    self.block,
                    in_channels,
                    planes,
                    stride,
                    self.zero_init_residual,
                    device,
                ));
                in_channels = planes * self.block.expansion();
            }
            stages.push(layer);
        }
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();

        ResNet {
            conv1,
            bn1: batch_norm(width, false, device),
            maxpool,
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            feature_dim: self.feature_dim(),
        }
    }
}

/// Kaiming-normal initialisation with fan-out and the ReLU gain, as torchvision's
/// `kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`: `N(0, 2 / fan_out)` with
/// `fan_out = out_channels * kh * kw`.
pub fn kaiming_normal_fan_out() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}

/// A bias-free square convolution with Kaiming fan-out initialisation.
fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(false)
        .with_initializer(kaiming_normal_fan_out())
        .init(device)
}

/// BatchNorm with gamma 1 (or 0 when `zero_gamma`), beta 0, momentum 0.1, eps 1e-5.
fn batch_norm(channels: usize, zero_gamma: bool, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(channels).init(device);
    if zero_gamma {
        bn.gamma = Initializer::Zeros.init([channels], device);
    }
    bn
}

/// A ResNet encoder without its classifier.
///
/// Built by [`ResNetConfig::init`]. BatchNorm uses batch statistics (and updates its running
/// statistics) only when the input is on an autodiff device and the module is in training
/// state; on a plain device, or after [`Module::valid`], it uses the running statistics.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem convolution (3x3/1 CIFAR, 3x3/2 compact, 7x7/2 ImageNet).
    pub conv1: Conv2d,
    /// Stem BatchNorm.
    pub bn1: BatchNorm,
    /// The ImageNet stem's 3x3/2 max-pool; `None` for the CIFAR stem.
    pub maxpool: Option<MaxPool2d>,
    /// Stage 1 (stride 1).
    pub layer1: Vec<Block>,
    /// Stage 2 (stride 2).
    pub layer2: Vec<Block>,
    /// Stage 3 (stride 2).
    pub layer3: Vec<Block>,
    /// Stage 4 (stride 2).
    pub layer4: Vec<Block>,
    feature_dim: usize,
}

impl ResNet {
    /// The pooled feature of a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`
    /// - returns: `[B, D]`, `D = self.output_dim()`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.feature_map(x); // [B, D, H/s, W/s]
        global_avg_pool(x) // [B, D]
    }

    /// The last stage's feature map, before pooling.
    ///
    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`
    /// - returns: `[B, D, H/s, W/s]`, `s = 8` (CIFAR stem), `16` (compact stem) or `32`
    ///   (ImageNet stem), rounded up
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        let x = layers::conv2d(&self.conv1, x); // [B, w, H, W] (cifar) or [B, w, H/2, W/2]
        let x = layers::batch_norm(&self.bn1, x, None, true); // same, after the ReLU
        let x = match &self.maxpool {
            Some(pool) => pool.forward(x), // [B, w, H/4, W/4]
            None => x,
        };
        let x = forward_stage(&self.layer1, x); // [B, w*e, h, w]
        let x = forward_stage(&self.layer2, x); // [B, 2w*e, h/2, w/2]
        let x = forward_stage(&self.layer3, x); // [B, 4w*e, h/4, w/4]
        forward_stage(&self.layer4, x) // [B, 8w*e, h/8, w/8]
    }

    /// The feature dimension `D`.
    pub fn output_dim(&self) -> usize {
        self.feature_dim
    }

    /// All residual blocks, stage by stage.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
    }

    /// Number of trainable parameters (BatchNorm running statistics excluded, as in
    /// PyTorch's `model.parameters()`); no parameter is initialised to count them.
    pub fn num_params(&self) -> usize {
        super::trainable_params(self)
    }
}

/// Runs the blocks of one stage in order.
///
/// # Shapes
/// - `x`: `[B, C, H, W]`
/// - returns: `[B, C', H', W']`
fn forward_stage(blocks: &[Block], x: Tensor<4>) -> Tensor<4> {
    blocks.iter().fold(x, |x, block| block.forward(x))
}

/// Mean over the spatial dimensions.
///
/// # Shapes
/// - `x`: `[B, C, H, W]`
/// - returns: `[B, C]`
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, height, width] = x.dims();
    let x = x.reshape([batch, channels, height * width]); // [B, C, H*W]
    let x = x.mean_dim(2); // [B, C, 1]
    x.reshape([batch, channels]) // [B, C]
}

/// One residual block of either kind.
// Blocks are built once and held in a Vec; boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// A Basic block (ResNet-18/34).
    Basic(BasicBlock),
    /// A Bottleneck block (ResNet-50 and deeper).
    Bottleneck(Bottleneck),
}

impl Block {
    fn new(
        kind: BlockKind,
        in_channels: usize,
        planes: usize,
        stride: usize,
        zero_init_residual: bool,
        device: &Device,
    ) -> Self {
        let out_channels = planes * kind.expansion();
        let downsample = (stride != 1 || in_channels != out_channels)
            .then(|| Downsample::new(in_channels, out_channels, stride, device));
        match kind {
            BlockKind::Basic => Self::Basic(BasicBlock {
                conv1: conv(in_channels, planes, 3, stride, 1, device),
                bn1: batch_norm(planes, false, device),
                conv2: conv(planes, planes, 3, 1, 1, device),
                bn2: batch_norm(planes, zero_init_residual, device),
                downsample,
            }),
            BlockKind::Bottleneck => Self::Bottleneck(Bottleneck {
                conv1: conv(in_channels, planes, 1, 1, 0, device),
                bn1: batch_norm(planes, false, device),
                conv2: conv(planes, planes, 3, stride, 1, device),
                bn2: batch_norm(planes, false, device),
                conv3: conv(planes, out_channels, 1, 1, 0, device),
                bn3: batch_norm(out_channels, zero_init_residual, device),
                downsample,
            }),
        }
    }

    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`
    /// - returns: `[B, C_out, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Basic(block) => block.forward(x),
            Self::Bottleneck(block) => block.forward(x),
        }
    }

    /// The BatchNorm whose output is added to the shortcut (`bn2` of a Basic block,
    /// `bn3` of a Bottleneck): the one `zero_init_residual` starts at gamma = 0.
    pub fn last_bn(&self) -> &BatchNorm {
        match self {
            Self::Basic(block) => &block.bn2,
            Self::Bottleneck(block) => &block.bn3,
        }
    }

    /// The projection shortcut, if the block changes shape.
    pub fn downsample(&self) -> Option<&Downsample> {
        match self {
            Self::Basic(block) => block.downsample.as_ref(),
            Self::Bottleneck(block) => block.downsample.as_ref(),
        }
    }
}

/// Two 3x3 convolutions with a shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// 3x3 convolution, carries the block's stride.
    pub conv1: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// 3x3 convolution.
    pub conv2: Conv2d,
    /// BatchNorm after `conv2` (zero-initialised with `zero_init_residual`).
    pub bn2: BatchNorm,
    /// 1x1 projection shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`
    /// - returns: `[B, P, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone()), // [B, P, H/s, W/s]
            None => x.clone(),                                 // [B, P, H, W]
        };
        let out = layers::conv2d(&self.conv1, x); // [B, P, H/s, W/s]
        let out = layers::batch_norm(&self.bn1, out, None, true); // [B, P, H/s, W/s]
        let out = layers::conv2d(&self.conv2, out); // [B, P, H/s, W/s]
        layers::batch_norm(&self.bn2, out, Some(identity), true) // relu(bn2 + identity)
    }
}

/// 1x1 -> 3x3 -> 1x1 convolutions with a shortcut; the stride is on the 3x3 (v1.5).
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1x1 reduction to `planes`.
    pub conv1: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// 3x3 convolution, carries the block's stride.
    pub conv2: Conv2d,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm,
    /// 1x1 expansion to `4 * planes`.
    pub conv3: Conv2d,
    /// BatchNorm after `conv3` (zero-initialised with `zero_init_residual`).
    pub bn3: BatchNorm,
    /// 1x1 projection shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`
    /// - returns: `[B, 4P, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone()), // [B, 4P, H/s, W/s]
            None => x.clone(),                                 // [B, 4P, H, W]
        };
        let out = layers::conv2d(&self.conv1, x); // [B, P, H, W]
        let out = layers::batch_norm(&self.bn1, out, None, true); // [B, P, H, W]
        let out = layers::conv2d(&self.conv2, out); // [B, P, H/s, W/s]
        let out = layers::batch_norm(&self.bn2, out, None, true); // [B, P, H/s, W/s]
        let out = layers::conv2d(&self.conv3, out); // [B, 4P, H/s, W/s]
        layers::batch_norm(&self.bn3, out, Some(identity), true) // relu(bn3 + identity)
    }
}

/// The projection shortcut: a strided 1x1 convolution and a BatchNorm (torchvision's
/// `downsample.0` and `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 convolution with the block's stride.
    pub conv: Conv2d,
    /// BatchNorm after `conv`.
    pub bn: BatchNorm,
}

impl Downsample {
    fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(in_channels, out_channels, 1, stride, 0, device),
            bn: batch_norm(out_channels, false, device),
        }
    }

    /// # Shapes
    /// - `x`: `[B, C_in, H, W]`
    /// - returns: `[B, C_out, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = layers::conv2d(&self.conv, x); // [B, C_out, H/s, W/s]
        layers::batch_norm(&self.bn, x, None, false) // [B, C_out, H/s, W/s]
    }
}
