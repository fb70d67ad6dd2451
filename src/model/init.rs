//! Where an encoder's first weights come from: `--init torchvision:FILE`.
//!
//! A torchvision ResNet state dict (a `.pth` saved with `torch.save(model.state_dict())`,
//! or the same state dict as `.safetensors`) initialises a `resnet18`, `resnet34`,
//! `resnet50`, `resnet101` or `resnet152` encoder of width 1 before training. The user
//! passes the file; nothing is ever downloaded. The file's classifier (`fc.*`) and
//! `num_batches_tracked` entries are not used.
//!
//! # The stem
//! torchvision's stem is a 7x7 stride-2 convolution and a max-pool (supcon's `imagenet`
//! stem); the `cifar` stem (the default of the ResNet presets) is a 3x3 stride-1
//! convolution, and `compact` a 3x3 stride-2 one. A 7x7 kernel does not fit a 3x3
//! convolution, so with the `cifar` or `compact` stem the stem (`conv1.weight` and the
//! BatchNorm `bn1.*` that normalises its output channels) keeps its random
//! initialisation, every other tensor is loaded, and [`InitReport::warning`] says so.
//! With `--stem imagenet` every tensor is loaded, and then the encoder's output equals
//! torchvision's (the image channels must be 3, as the file's `conv1`). With another stem
//! the image channels may be 1 or 3: the file's `conv1` is not used.
//!
//! # Example
//!
//! ```no_run
//! use supcon::burn::tensor::Device;
//! use supcon::model::{EncoderConfig, EncoderInit, EncoderKind, Stem};
//!
//! # fn main() -> Result<(), supcon::model::ModelError> {
//! let device = Device::flex();
//! let config = EncoderConfig::new(EncoderKind::ResNet50).with_stem(Stem::Imagenet);
//! let init: EncoderInit = "torchvision:resnet50-11ad3fa6.pth".parse()?;
//! init.check(&config)?; // depth, width and channels, from the file's header
//! let (encoder, report) = init.apply(config.try_init(&device)?, &config, &device)?;
//! assert!(report.warning().is_none()); // the ImageNet stem loads too
//! # let _ = encoder;
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//! Every error names the file, and the tensor when one is at fault: a missing or
//! unreadable file, a file that is not a PyTorch or safetensors checkpoint, a state dict
//! that is not a torchvision ResNet, one of another depth (naming both), of another width,
//! or with a tensor of another shape.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::resnet::{BlockKind, ResNet, ResNetConfig, Stem};
use super::weights::{import_torchvision_resnet, read_torchvision_signature};
use super::{Encoder, EncoderConfig, EncoderKind};

/// Initial weights of an encoder, instead of its random initialisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncoderInit {
    /// A torchvision ResNet state dict (`.pth` / `.pt`, or `.safetensors`):
    /// `torchvision:FILE`.
    Torchvision(PathBuf),
}

impl EncoderInit {
    /// The file the weights come from.
    pub fn path(&self) -> &Path {
        match self {
            Self::Torchvision(path) => path,
        }
    }

    /// The same source with the file's path made absolute (as a run's `config.json`
    /// records it, so that it does not depend on the directory a command ran in).
    pub fn absolute(&self) -> Self {
        match self {
            Self::Torchvision(path) => {
                Self::Torchvision(std::path::absolute(path).unwrap_or_else(|_| path.clone()))
            }
        }
    }

    /// Checks, before any training, that `encoder` can take these weights: a torchvision
    /// depth at width 1, and a file whose tensor names and shapes are that depth's (see
    /// [`check_torchvision_file`]). Reads the file's header only.
    ///
    /// # Errors
    /// [`ModelError::Config`] for an encoder torchvision has no weights for; any error of
    /// [`check_torchvision_file`].
    pub fn check(&self, encoder: &EncoderConfig) -> Result<(), ModelError> {
        let resnet = self.resnet_config(encoder)?;
        check_torchvision_file(&resnet, self.path()).map(|_| ())
    }

    /// Loads the weights into `encoder`, freshly built from `config` on `device`.
    ///
    /// # Errors
    /// Any error of [`check`](Self::check) or of
    /// [`import_torchvision_resnet`].
    pub fn apply(
        &self,
        encoder: Encoder,
        config: &EncoderConfig,
        device: &Device,
    ) -> Result<(Encoder, InitReport), ModelError> {
        let resnet_config = self.resnet_config(config)?;
        match encoder {
            Encoder::ResNet(resnet) => {
                let (resnet, report) = init_resnet(resnet, &resnet_config, self.path(), device)?;
                Ok((Encoder::ResNet(resnet), report))
            }
            Encoder::Mlp(_) => Err(ModelError::Config(
                "--init torchvision:FILE needs a ResNet encoder, not mlp".into(),
            )),
        }
    }

    /// The ResNet configuration of `encoder`, if torchvision has weights for it.
    fn resnet_config(&self, encoder: &EncoderConfig) -> Result<ResNetConfig, ModelError> {
        use EncoderKind::*;
        let supported = matches!(
            encoder.name,
            ResNet18 | ResNet34 | ResNet50 | ResNet101 | ResNet152
        );
        let resnet = encoder
            .resnet_config()
            .filter(|_| supported)
            .ok_or_else(|| {
                ModelError::Config(format!(
                    "--init {self}: torchvision has no weights for the {} encoder; use resnet18, \
                 resnet34, resnet50, resnet101 or resnet152 (--model)",
                    encoder.name
                ))
            })?;
        if encoder.width != 1 {
            return Err(ModelError::Config(format!(
                "--init {self}: torchvision's ResNets have width 1, not {} (drop --width)",
                encoder.width
            )));
        }
        Ok(resnet)
    }
}

impl fmt::Display for EncoderInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Torchvision(path) => write!(f, "torchvision:{}", path.display()),
        }
    }
}

impl FromStr for EncoderInit {
    type Err = ModelError;

    /// `torchvision:FILE`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((kind, file)) if kind.eq_ignore_ascii_case("torchvision") => {
                if file.is_empty() {
                    return Err(ModelError::Config(
                        "--init torchvision: names no file; expected torchvision:FILE (a .pth \
                         state dict or a .safetensors file)"
                            .into(),
                    ));
                }
                Ok(Self::Torchvision(PathBuf::from(file)))
            }
            _ => Err(ModelError::Config(format!(
                "unknown --init '{s}': expected torchvision:FILE (a .pth state dict or a \
                 .safetensors file of a torchvision ResNet)"
            ))),
        }
    }
}

impl Serialize for EncoderInit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EncoderInit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What an initialisation loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    /// The file.
    pub file: PathBuf,
    /// How many of the encoder's tensors took the file's values.
    pub loaded: usize,
    /// The encoder's stem tensors that kept their random initialisation (the file's 7x7
    /// stem does not fit a `cifar` or `compact` stem); empty with the `imagenet` stem.
    pub stem_kept: Vec<String>,
    /// The file's entries not used: the classifier `fc.*` and `*.num_batches_tracked`.
    pub unused: Vec<String>,
}

impl InitReport {
    /// The warning to print when the stem was not loaded.
    pub fn warning(&self) -> Option<String> {
        (!self.stem_kept.is_empty()).then(|| {
            format!(
                "warning: {}: the file's 7x7 ImageNet stem does not fit this encoder's 3x3 stem, \
                 so the stem ({}) keeps its random initialisation; the other {} tensors are \
                 loaded (--stem imagenet loads the stem too)",
                self.file.display(),
                self.stem_kept.join(", "),
                self.loaded
            )
        })
    }
}

/// The architecture of a torchvision state dict, read from its tensor names and shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileArch {
    block: BlockKind,
    layers: [usize; 4],
    /// Output channels of `conv1` (64 in torchvision).
    stem_width: usize,
    /// Input channels of `conv1` (3 in torchvision).
    in_channels: usize,
}

impl FileArch {
    fn describe(&self) -> String {
        let depth = [18, 34, 50, 101, 152, 200].into_iter().find(|depth| {
            ResNetConfig::for_depth(*depth)
                .is_ok_and(|c| c.block == self.block && c.layers == self.layers)
        });
        let blocks = format!("{:?} blocks {:?}", self.block, self.layers);
        match depth {
            Some(depth) => format!("a ResNet-{depth} ({blocks})"),
            None => format!("a ResNet of {blocks}"),
        }
    }
}

/// Reads the architecture of the torchvision state dict in `path`, and checks it against
/// `config` (depth, block, width, input channels with the ImageNet stem), naming the file
/// and what differs. The tensor-by-tensor check happens on import.
///
/// # Errors
/// [`ModelError::Io`] / [`ModelError::Weights`] for a file that cannot be read,
/// [`ModelError::ArchitectureMismatch`] for a state dict that is not a torchvision ResNet
/// or not `config`'s.
pub fn check_torchvision_file(config: &ResNetConfig, path: &Path) -> Result<(), ModelError> {
    let signature = read_torchvision_signature(path, None)?;
    let mismatch = |details: String| ModelError::ArchitectureMismatch {
        path: path.to_path_buf(),
        details,
    };
    let arch = file_arch(&signature).ok_or_else(|| {
        let first: Vec<&String> = signature.keys().take(4).collect();
        let hint = if signature.keys().all(|name| name.starts_with("module.")) {
            "; every name begins with 'module.', as nn.DataParallel saves them: save \
             model.module.state_dict() instead"
        } else {
            ""
        };
        mismatch(format!(
            "not a torchvision ResNet state dict: no 'conv1.weight' of 4 dimensions and \
             'layer1.0.conv1.weight' (its {} tensors begin {first:?}){hint}",
            signature.len()
        ))
    })?;
    if arch.block != config.block || arch.layers != config.layers {
        let model = FileArch {
            block: config.block,
            layers: config.layers,
            ..arch.clone()
        };
        return Err(mismatch(format!(
            "the file holds {}, the model is {}: pass the matching --model",
            arch.describe(),
            model.describe()
        )));
    }
    if arch.stem_width != config.stem_width() {
        return Err(mismatch(format!(
            "conv1.weight has {} output channels, the model's stem {} (torchvision's ResNets \
             have 64 at width 1)",
            arch.stem_width,
            config.stem_width()
        )));
    }
    if config.stem == Stem::Imagenet && arch.in_channels != config.in_channels {
        return Err(mismatch(format!(
            "conv1.weight takes {} image channels, the data has {}: use images of {} \
             channels, or another --stem (then the file's stem is not loaded)",
            arch.in_channels, config.in_channels, arch.in_channels
        )));
    }
    Ok(())
}

/// The architecture a torchvision signature describes, or `None` when it is not one.
fn file_arch(signature: &BTreeMap<String, Vec<usize>>) -> Option<FileArch> {
    let conv1 = signature.get("conv1.weight").filter(|s| s.len() == 4)?;
    signature.get("layer1.0.conv1.weight")?;
    let block = if signature.contains_key("layer1.0.conv3.weight") {
        BlockKind::Bottleneck
    } else {
        BlockKind::Basic
    };
    let mut layers = [0usize; 4];
    for name in signature.keys() {
        let Some(rest) = name.strip_prefix("layer") else {
            continue;
        };
        let mut parts = rest.split('.');
        let (Some(stage), Some(index)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let (Ok(stage @ 1..=4), Ok(index)) = (stage.parse::<usize>(), index.parse::<usize>()) {
            layers[stage - 1] = layers[stage - 1].max(index + 1);
        }
    }
    Some(FileArch {
        block,
        layers,
        stem_width: conv1[0],
        in_channels: conv1[1],
    })
}

/// The stem tensors of a ResNet, torchvision's names.
const STEM: [&str; 5] = [
    "conv1.weight",
    "bn1.weight",
    "bn1.bias",
    "bn1.running_mean",
    "bn1.running_var",
];

/// Loads the torchvision state dict in `path` into `resnet` (built from `config` on
/// `device`). With the ImageNet stem every tensor is loaded; with another stem the stem
/// keeps `resnet`'s own (random) values and every other tensor is loaded (see the module
/// documentation).
///
/// # Errors
/// Any error of [`check_torchvision_file`] or
/// [`import_torchvision_resnet`].
pub fn init_resnet(
    resnet: ResNet,
    config: &ResNetConfig,
    path: &Path,
    device: &Device,
) -> Result<(ResNet, InitReport), ModelError> {
    check_torchvision_file(config, path)?;
    if config.stem == Stem::Imagenet {
        let (resnet, report) = import_torchvision_resnet(resnet, path, None)?;
        return Ok((
            resnet,
            InitReport {
                file: path.to_path_buf(),
                loaded: report.applied.len(),
                stem_kept: Vec::new(),
                unused: report.skipped,
            },
        ));
    }
    // The same network with torchvision's stem takes the whole file; its stem is then
    // replaced by the model's own (the parameters are lazy: the donor's stem is never
    // initialised, and no random draw is spent on it).
    let donor = config
        .clone()
        .with_stem(Stem::Imagenet)
        .with_in_channels(3)
        .init(device);
    let (mut donor, report) = import_torchvision_resnet(donor, path, None)?;
    donor.conv1 = resnet.conv1;
    donor.bn1 = resnet.bn1;
    donor.maxpool = resnet.maxpool;
    let stem_applied = report
        .applied
        .iter()
        .filter(|name| name.starts_with("conv1.") || name.starts_with("bn1."))
        .count();
    Ok((
        donor,
        InitReport {
            file: path.to_path_buf(),
            loaded: report.applied.len() - stem_applied,
            stem_kept: STEM.iter().map(|name| name.to_string()).collect(),
            unused: report.skipped,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_parses_and_round_trips() {
        let init: EncoderInit = "torchvision:weights/r18.pth".parse().unwrap();
        assert_eq!(init, EncoderInit::Torchvision("weights/r18.pth".into()));
        assert_eq!(init.to_string(), "torchvision:weights/r18.pth");
        let json = serde_json::to_string(&init).unwrap();
        assert_eq!(json, "\"torchvision:weights/r18.pth\"");
        assert_eq!(serde_json::from_str::<EncoderInit>(&json).unwrap(), init);
        let err = "torchvision:"
            .parse::<EncoderInit>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("names no file"), "{err}");
        let err = "imagenet:x.pth"
            .parse::<EncoderInit>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("'imagenet:x.pth'") && err.contains("torchvision:FILE"));
    }

    #[test]
    fn only_torchvision_depths_at_width_one() {
        let init: EncoderInit = "torchvision:absent.pth".parse().unwrap();
        for kind in [
            EncoderKind::ResNetTiny,
            EncoderKind::ResNet200,
            EncoderKind::Mlp,
        ] {
            let err = init
                .check(&EncoderConfig::new(kind).with_input_dim(4))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(kind.name()) && err.contains("resnet18"),
                "{err}"
            );
        }
        let err = init
            .check(&EncoderConfig::new(EncoderKind::ResNet18).with_width(2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("width 1, not 2"), "{err}");
        // A supported encoder gets as far as the file, and names it.
        let err = init
            .check(&EncoderConfig::new(EncoderKind::ResNet50))
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent.pth"), "{err}");
    }
}
