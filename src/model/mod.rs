//! Encoders (ResNet family, small CPU preset, MLP), projection heads, the linear
//! classifier, and weight I/O.
//!
//! The rest of the crate is not generic over the network: an [`EncoderConfig`] (name, stem,
//! width, ...) builds an [`Encoder`], which maps images `[B, C, H, W]` to features `[B, D]`;
//! a [`HeadConfig`] builds the [`ProjectionHead`] (`[B, D] -> [B, 128]`, unit norm); the two
//! together are a [`SupConModel`], whose [`encode`](SupConModel::encode) the linear probe
//! uses and whose [`project`](SupConModel::project) the contrastive loss uses.
//!
//! # Training and evaluation state (burn 0.22)
//!
//! - Build the model on `device.autodiff()` to train it; gradients come from
//!   `loss.backward()`.
//! - BatchNorm uses batch statistics and updates its running statistics only when its
//!   input lives on an autodiff device *and* the module is in training state. On a plain
//!   device it always uses the running statistics.
//! - `model.valid()` returns an evaluation copy: plain (no-autodiff) tensors, BatchNorm
//!   on running statistics. That is the no-grad forward; `model.train()` goes back.
//! - A BatchNorm's `running_mean.value()` can be one training step behind
//!   (`value_sync()` is current); `valid()` and [`save_weights`] fold the pending update in.
//! - [`Module::num_params`] counts BatchNorm running statistics too; the inherent
//!   `num_params()` of the models here counts trainable parameters only, as PyTorch's
//!   `sum(p.numel() for p in model.parameters())`.
//!
//! # The `resnet-tiny` preset
//!
//! Compact stem (3x3 stride-2 convolution, no max-pool), Basic blocks `[1, 1, 1, 1]`, base
//! width 16: D = 128, 0.31 M parameters (0.34 M with the default MLP head). One SupCon step
//! at batch 256 (512 views of 3x32x32: forward, loss, backward, SGD with momentum) takes
//! 233-249 ms of wall time on the project's 2-core Intel machine with the CPU kernels of
//! [`crate::kernels`] (`supcon bench step --model resnet-tiny --batch 256 --steps 5`, two
//! rounds; 546-585 ms before them). With the full-resolution `cifar` stem every stage sees
//! four times the pixels, which is why the preset uses the compact stem;
//! `EncoderConfig { stem: Some(Stem::Cifar), .. }` selects it. An older figure on an AMD EPYC
//! machine came from the ignored test `tiny_preset_supcon_step_timing` in `tests/models.rs`:
//! `cargo test --test models -- --ignored --nocapture tiny_preset_supcon_step_timing`.

mod error;
pub mod heads;
pub mod init;
pub mod layers;
pub mod mlp;
pub mod resnet;
pub mod weights;

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use error::ModelError;
pub use heads::{
    HeadConfig, HeadKind, LinearClassifier, LinearClassifierConfig, ProjectionHead, l2_normalize,
};
pub use init::{EncoderInit, InitReport, check_torchvision_file, init_resnet};
pub use mlp::{MlpEncoder, MlpEncoderConfig};
pub use resnet::{BlockKind, ResNet, ResNetConfig, Stem};
pub use weights::{
    ImportReport, import_torchvision_classifier, import_torchvision_resnet, load_weights,
    read_torchvision_signature, read_weights_metadata, save_torchvision_resnet, save_weights,
    save_weights_with_metadata,
};

/// Number of trainable parameters of any module: every float parameter except BatchNorm
/// running statistics. Parameters are not initialised to count them.
pub fn trainable_params<M: Module>(module: &M) -> usize {
    struct Counter {
        path: Vec<String>,
        count: usize,
    }
    impl ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let is_running_stat = matches!(
                self.path.last().map(String::as_str),
                Some("running_mean" | "running_var")
            );
            if !is_running_stat {
                self.count += param.lazy_shape().num_elements();
            }
        }
    }
    let mut counter = Counter {
        path: Vec::new(),
        count: 0,
    };
    module.visit(&mut counter);
    counter.count
}

/// The encoders this crate builds, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EncoderKind {
    /// `resnet18`: Basic `[2, 2, 2, 2]`, D = 512 (times the width).
    ResNet18,
    /// `resnet34`: Basic `[3, 4, 6, 3]`, D = 512.
    ResNet34,
    /// `resnet50`: Bottleneck `[3, 4, 6, 3]`, D = 2048.
    ResNet50,
    /// `resnet101`: Bottleneck `[3, 4, 23, 3]`, D = 2048.
    ResNet101,
    /// `resnet152`: Bottleneck `[3, 8, 36, 3]`, D = 2048.
    ResNet152,
    /// `resnet200`: Bottleneck `[3, 24, 36, 3]`, D = 2048.
    ResNet200,
    /// `resnet-tiny`: compact stem, Basic `[1, 1, 1, 1]` at base width 16, D = 128: the
    /// CPU preset.
    #[default]
    ResNetTiny,
    /// `mlp`: an [`MlpEncoder`] on the flattened input.
    Mlp,
}

impl EncoderKind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [EncoderKind; 8] = [
        Self::ResNet18,
        Self::ResNet34,
        Self::ResNet50,
        Self::ResNet101,
        Self::ResNet152,
        Self::ResNet200,
        Self::ResNetTiny,
        Self::Mlp,
    ];

    /// The canonical name (what [`Display`](fmt::Display) and serde write).
    pub fn name(self) -> &'static str {
        match self {
            Self::ResNet18 => "resnet18",
            Self::ResNet34 => "resnet34",
            Self::ResNet50 => "resnet50",
            Self::ResNet101 => "resnet101",
            Self::ResNet152 => "resnet152",
            Self::ResNet200 => "resnet200",
            Self::ResNetTiny => "resnet-tiny",
            Self::Mlp => "mlp",
        }
    }

    /// The ResNet preset of this kind at width 1 (CIFAR stem, compact for `resnet-tiny`),
    /// or `None` for `mlp`.
    pub fn resnet_config(self) -> Option<ResNetConfig> {
        Some(match self {
            Self::ResNet18 => ResNetConfig::resnet18(),
            Self::ResNet34 => ResNetConfig::resnet34(),
            Self::ResNet50 => ResNetConfig::resnet50(),
            Self::ResNet101 => ResNetConfig::resnet101(),
            Self::ResNet152 => ResNetConfig::resnet152(),
            Self::ResNet200 => ResNetConfig::resnet200(),
            Self::ResNetTiny => ResNetConfig::tiny(),
            Self::Mlp => return None,
        })
    }
}

impl fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EncoderKind {
    type Err = ModelError;

    /// Case-insensitive; `-` and `_` are ignored (`ResNet-18`, `resnet_tiny` are accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Self::ALL
            .into_iter()
            .find(|kind| kind.name().replace('-', "") == key)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                ModelError::Config(format!(
                    "unknown encoder '{s}': expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl Serialize for EncoderKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for EncoderKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What an [`Encoder`] to build: the configuration file / command-line view.
///
/// Deserialises with defaults for every missing field and rejects unknown fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Which encoder. Default: `resnet-tiny`.
    pub name: EncoderKind,
    /// ResNet stem; `None` keeps the preset's own (`compact` for `resnet-tiny`, `cifar`
    /// for the others). Default: `None`.
    pub stem: Option<Stem>,
    /// ResNet width multiplier `k` (all channel counts times `k`). Default: 1.
    pub width: usize,
    /// Image channels for a ResNet: 1 or 3. Default: 3.
    pub in_channels: usize,
    /// Zero-initialise the last BatchNorm gamma of every residual block. Default: false.
    pub zero_init_residual: bool,
    /// Number of input features of the `mlp` encoder (`C * H * W` for images); required
    /// for `mlp`, ignored otherwise. Default: `None`.
    pub input_dim: Option<usize>,
    /// Hidden widths of the `mlp` encoder; the last is `D`. Default: `[512, 512]`.
    pub mlp_hidden_dims: Vec<usize>,
    /// BatchNorm in the `mlp` encoder. Default: true.
    pub mlp_batch_norm: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            name: EncoderKind::default(),
            stem: None,
            width: 1,
            in_channels: 3,
            zero_init_residual: false,
            input_dim: None,
            mlp_hidden_dims: vec![512, 512],
            mlp_batch_norm: true,
        }
    }
}

impl EncoderConfig {
    /// An encoder of kind `name` with the other fields at their defaults.
    pub fn new(name: EncoderKind) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    /// Sets the ResNet stem (instead of the preset's).
    pub fn with_stem(mut self, stem: Stem) -> Self {
        self.stem = Some(stem);
        self
    }

    /// Sets the ResNet width multiplier.
    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width;
        self
    }

    /// Sets the number of image channels.
    pub fn with_in_channels(mut self, in_channels: usize) -> Self {
        self.in_channels = in_channels;
        self
    }

    /// Sets zero-initialisation of each residual block's last BatchNorm gamma.
    pub fn with_zero_init_residual(mut self, zero_init_residual: bool) -> Self {
        self.zero_init_residual = zero_init_residual;
        self
    }

    /// Sets the `mlp` encoder's number of input features.
    pub fn with_input_dim(mut self, input_dim: usize) -> Self {
        self.input_dim = Some(input_dim);
        self
    }

    /// Sets the `mlp` encoder's hidden widths.
    pub fn with_mlp_hidden_dims(mut self, hidden_dims: Vec<usize>) -> Self {
        self.mlp_hidden_dims = hidden_dims;
        self
    }

    /// The [`ResNetConfig`] this describes, or `None` for `mlp`.
    pub fn resnet_config(&self) -> Option<ResNetConfig> {
        self.name.resnet_config().map(|config| {
            let stem = self.stem.unwrap_or(config.stem);
            config
                .with_stem(stem)
                .with_width_multiplier(self.width)
                .with_in_channels(self.in_channels)
                .with_zero_init_residual(self.zero_init_residual)
        })
    }

    /// The [`MlpEncoderConfig`] this describes.
    ///
    /// # Errors
    /// If the kind is not `mlp`, or `input_dim` is missing.
    pub fn mlp_config(&self) -> Result<MlpEncoderConfig, ModelError> {
        if self.name != EncoderKind::Mlp {
            return Err(ModelError::Config(format!(
                "encoder '{}' is not an MLP",
                self.name
            )));
        }
        let input_dim = self.input_dim.ok_or_else(|| {
            ModelError::Config(
                "the mlp encoder needs input_dim (the number of input features, C*H*W for \
                 images)"
                    .to_string(),
            )
        })?;
        Ok(MlpEncoderConfig::new(input_dim)
            .with_hidden_dims(self.mlp_hidden_dims.clone())
            .with_batch_norm(self.mlp_batch_norm))
    }

    /// Fits the configuration to images of `shape` `[C, H, W]`: the channel count, and the
    /// `mlp` encoder's number of input features (`C * H * W`; `None` for a ResNet, which
    /// takes any size). A configuration reused from a run on other data (a saved
    /// `config.json`) thus never keeps that data's sizes.
    pub fn fit_to_images(&mut self, shape: [usize; 3]) {
        self.in_channels = shape[0];
        self.input_dim = (self.name == EncoderKind::Mlp).then(|| shape.iter().product());
    }

    /// Checks the configuration, naming the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.name == EncoderKind::Mlp {
            // ResNet-only settings are an error rather than silently ignored.
            if let Some(stem) = self.stem {
                return Err(ModelError::Config(format!(
                    "stem = {stem}: the stem belongs to ResNet encoders, not mlp"
                )));
            }
            if self.width != 1 {
                return Err(ModelError::Config(format!(
                    "width = {}: the width multiplier belongs to ResNet encoders, not mlp \
                     (set mlp_hidden_dims instead)",
                    self.width
                )));
            }
        }
        match self.resnet_config() {
            Some(resnet) => {
                if !matches!(self.in_channels, 1 | 3) {
                    return Err(ModelError::Config(format!(
                        "in_channels must be 1 or 3, got {}",
                        self.in_channels
                    )));
                }
                resnet.validate()
            }
            None => self.mlp_config()?.validate(),
        }
    }

    /// The feature dimension `D` of the encoder this builds.
    ///
    /// # Errors
    /// If the configuration is invalid.
    pub fn output_dim(&self) -> Result<usize, ModelError> {
        self.validate()?;
        Ok(match self.resnet_config() {
            Some(resnet) => resnet.feature_dim(),
            None => self.mlp_config()?.feature_dim(),
        })
    }

    /// Builds the encoder on `device`.
    ///
    /// # Errors
    /// If the configuration is invalid (see [`validate`](Self::validate)).
    pub fn try_init(&self, device: &Device) -> Result<Encoder, ModelError> {
        self.validate()?;
        Ok(match self.resnet_config() {
            Some(resnet) => Encoder::ResNet(resnet.init(device)),
            None => Encoder::Mlp(self.mlp_config()?.init(device)),
        })
    }

    /// Builds the encoder on `device`.
    ///
    /// # Panics
    /// If the configuration is invalid; use [`try_init`](Self::try_init) for an error.
    pub fn init(&self, device: &Device) -> Encoder {
        self.try_init(device)
            .unwrap_or_else(|err| panic!("invalid EncoderConfig: {err}"))
    }
}

/// Any encoder: images (or vectors) in, features `[B, D]` out.
// Built once per run; boxing the ResNet would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Encoder {
    /// A ResNet (any depth, either stem, any width).
    ResNet(ResNet),
    /// An MLP on the flattened input.
    Mlp(MlpEncoder),
}

impl Encoder {
    /// The features of a batch.
    ///
    /// An MLP encoder flattens the input first, so vectors are passed as `[B, F, 1, 1]`
    /// (or use [`forward_flat`](Self::forward_flat)).
    ///
    /// # Shapes
    /// - `x`: `[B, C, H, W]`
    /// - returns: `[B, D]`, `D = self.output_dim()`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::ResNet(resnet) => resnet.forward(x), // [B, D]
            Self::Mlp(mlp) => {
                let x: Tensor<2> = x.flatten(1, 3); // [B, C*H*W]
                mlp.forward(x) // [B, D]
            }
        }
    }

    /// The features of a batch of vectors (for the MLP encoder; a ResNet gets them as
    /// `[B, F, 1, 1]`, i.e. 1x1 images with `F` channels).
    ///
    /// # Shapes
    /// - `x`: `[B, F]`
    /// - returns: `[B, D]`
    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(mlp) => mlp.forward(x), // [B, D]
            Self::ResNet(resnet) => {
                let [batch, features] = x.dims();
                let x = x.reshape([batch, features, 1, 1]); // [B, F, 1, 1]
                resnet.forward(x) // [B, D]
            }
        }
    }

    /// The feature dimension `D`.
    pub fn output_dim(&self) -> usize {
        match self {
            Self::ResNet(resnet) => resnet.output_dim(),
            Self::Mlp(mlp) => mlp.output_dim(),
        }
    }

    /// Number of trainable parameters (BatchNorm running statistics excluded).
    pub fn num_params(&self) -> usize {
        trainable_params(self)
    }
}

/// Encoder and projection head, as trained by the contrastive loss.
#[derive(Module, Debug)]
pub struct SupConModel {
    /// The encoder whose features the linear probe evaluates.
    pub encoder: Encoder,
    /// The projection head (used only by the contrastive loss).
    pub head: ProjectionHead,
}

impl SupConModel {
    /// Encoder features, for the linear probe and kNN evaluation.
    ///
    /// # Shapes
    /// - `x`: `[B, C, H, W]`
    /// - returns: `[B, D]`
    pub fn encode(&self, x: Tensor<4>) -> Tensor<2> {
        self.encoder.forward(x) // [B, D]
    }

    /// The unit-norm projection `head(encode(x))` the contrastive loss compares.
    ///
    /// # Shapes
    /// - `x`: `[B, C, H, W]`
    /// - returns: `[B, P]` (P = 128 by default), every row of unit norm
    pub fn project(&self, x: Tensor<4>) -> Tensor<2> {
        let features = self.encode(x); // [B, D]
        self.head.forward(features) // [B, P]
    }

    /// The encoder's feature dimension `D`.
    pub fn feature_dim(&self) -> usize {
        self.encoder.output_dim()
    }

    /// The projection dimension `P`.
    pub fn projection_dim(&self) -> usize {
        self.head.output_dim()
    }

    /// Number of trainable parameters (BatchNorm running statistics excluded).
    pub fn num_params(&self) -> usize {
        trainable_params(self)
    }
}

/// Encoder and head configuration of a [`SupConModel`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupConModelConfig {
    /// The encoder.
    pub encoder: EncoderConfig,
    /// The projection head.
    pub head: HeadConfig,
}

impl SupConModelConfig {
    /// Checks both parts.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.encoder.validate()?;
        self.head.validate()
    }

    /// Builds the model on `device`.
    ///
    /// # Errors
    /// If either configuration is invalid.
    pub fn try_init(&self, device: &Device) -> Result<SupConModel, ModelError> {
        self.head.validate()?;
        let encoder = self.encoder.try_init(device)?;
        let head = self.head.init(encoder.output_dim(), device);
        Ok(SupConModel { encoder, head })
    }

    /// Builds the model on `device`.
    ///
    /// # Panics
    /// If either configuration is invalid; use [`try_init`](Self::try_init) for an error.
    pub fn init(&self, device: &Device) -> SupConModel {
        self.try_init(device)
            .unwrap_or_else(|err| panic!("invalid SupConModelConfig: {err}"))
    }
}

/// The input shape a pre-trained encoder needs for images of `shape`: ResNets take any
/// spatial size, so only the channel count changes to the encoder's; an MLP takes exactly
/// the shape of its training data, `trained()`.
///
/// # Errors
/// A message when an MLP's input width does not match its training data.
pub fn encoder_input_shape(
    encoder: &EncoderConfig,
    shape: [usize; 3],
    trained: impl FnOnce() -> Result<[usize; 3], String>,
) -> Result<[usize; 3], String> {
    let [_, h, w] = shape;
    if encoder.resnet_config().is_some() {
        return Ok([encoder.in_channels, h, w]);
    }
    let pre = trained()?;
    if encoder.input_dim != Some(pre.iter().product()) {
        return Err(format!(
            "the mlp encoder takes {:?} inputs, which its training data {pre:?} does not explain",
            encoder.input_dim
        ));
    }
    Ok(pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_kind_names_round_trip() {
        for kind in EncoderKind::ALL {
            assert_eq!(kind.to_string().parse::<EncoderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<EncoderKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            "ResNet-18".parse::<EncoderKind>().unwrap(),
            EncoderKind::ResNet18
        );
        assert_eq!(
            "resnet_tiny".parse::<EncoderKind>().unwrap(),
            EncoderKind::ResNetTiny
        );
        let err = "resnet19".parse::<EncoderKind>().unwrap_err().to_string();
        assert!(
            err.contains("'resnet19'") && err.contains("resnet-tiny"),
            "{err}"
        );
    }

    #[test]
    fn encoder_config_defaults_and_strictness() {
        let config: EncoderConfig = toml::from_str("name = \"resnet50\"\nwidth = 2").unwrap();
        assert_eq!(config.name, EncoderKind::ResNet50);
        assert_eq!(config.stem, None);
        assert_eq!(config.resnet_config().unwrap().stem, Stem::Cifar);
        let tiny = EncoderConfig::new(EncoderKind::ResNetTiny);
        assert_eq!(tiny.resnet_config().unwrap().stem, Stem::Compact);
        let tiny = tiny.with_stem(Stem::Cifar);
        assert_eq!(tiny.resnet_config().unwrap().stem, Stem::Cifar);
        let stem: EncoderConfig = toml::from_str("stem = \"compact\"").unwrap();
        assert_eq!(stem.stem, Some(Stem::Compact));
        assert_eq!(config.output_dim().unwrap(), 4096);
        assert!(toml::from_str::<EncoderConfig>("nam = \"resnet50\"").is_err());
        let config: EncoderConfig = toml::from_str("name = \"mlp\"").unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("input_dim"), "{err}");
        let config = EncoderConfig::new(EncoderKind::ResNet18).with_in_channels(2);
        assert!(config.validate().is_err());
        let head: HeadConfig = toml::from_str("kind = \"linear\"").unwrap();
        assert_eq!(head.output_dim, 128);
        assert_eq!("MLP".parse::<HeadKind>().unwrap(), HeadKind::Mlp);
        assert_eq!("imagenet".parse::<Stem>().unwrap(), Stem::Imagenet);
    }

    #[test]
    fn feature_dims_follow_the_width() {
        assert_eq!(ResNetConfig::resnet18().feature_dim(), 512);
        assert_eq!(ResNetConfig::resnet50().feature_dim(), 2048);
        assert_eq!(
            ResNetConfig::resnet50()
                .with_width_multiplier(2)
                .feature_dim(),
            4096
        );
        assert_eq!(ResNetConfig::tiny().feature_dim(), 128);
        assert!(ResNetConfig::for_depth(42).is_err());
    }
}
