//! SupCon's augmentation policies ([`Augment`]) and their configuration
//! ([`AugmentConfig`]), which builds a [`Pipeline`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::augop::normalise_name;
use super::autoaugment::{AutoAugment, AutoAugmentPolicy};
use super::error::AugmentError;
use super::pipeline::{Pipeline, Stage};
use super::randaugment::{RANDAUGMENT_BINS, RandAugment};
use super::stages::{
    ColorJitter, RandomGaussianBlur, RandomGrayscale, RandomHorizontalFlip, RandomResizedCrop,
    Resize,
};

/// An augmentation policy of the SupCon paper (Khosla et al. 2020, Sec. 4 and
/// Table 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Augment {
    /// `none`: no augmentation (evaluation); only resizes when a size is set.
    None,
    /// `sim`: SimAugment — random resized crop, horizontal flip (p 0.5),
    /// `ColorJitter(0.4, 0.4, 0.4, 0.1)` (p 0.8), grayscale (p 0.2), and Gaussian
    /// blur (p 0.5) when enabled.
    #[default]
    Sim,
    /// `crop`: random resized crop and horizontal flip only, the transform of the
    /// SupContrast reference's linear-classification stage (`main_linear.py`).
    Crop,
    /// `autoaugment-cifar10`: crop + flip, then AutoAugment's CIFAR-10 policy.
    AutoAugmentCifar10,
    /// `autoaugment-imagenet`: crop + flip, then AutoAugment's ImageNet policy.
    AutoAugmentImagenet,
    /// `randaugment`: crop + flip, then RandAugment(N, M).
    RandAugment,
    /// `stacked-randaugment`: crop + flip, RandAugment(N, M), then SimAugment's
    /// colour jitter and grayscale (and blur when enabled).
    StackedRandAugment,
}

impl Augment {
    /// Every policy, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::None,
        Self::Sim,
        Self::Crop,
        Self::AutoAugmentCifar10,
        Self::AutoAugmentImagenet,
        Self::RandAugment,
        Self::StackedRandAugment,
    ];

    /// The canonical name, as accepted by [`FromStr`] and written by [`fmt::Display`].
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Sim => "sim",
            Self::Crop => "crop",
            Self::AutoAugmentCifar10 => "autoaugment-cifar10",
            Self::AutoAugmentImagenet => "autoaugment-imagenet",
            Self::RandAugment => "randaugment",
            Self::StackedRandAugment => "stacked-randaugment",
        }
    }

    /// Whether the policy draws random numbers (everything but `none`).
    pub const fn is_random(self) -> bool {
        !matches!(self, Self::None)
    }
}

impl fmt::Display for Augment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Augment {
    type Err = AugmentError;

    /// Parses a canonical name; case, `-` and `_` are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = normalise_name(s);
        Self::ALL
            .into_iter()
            .find(|a| normalise_name(a.name()) == key)
            .ok_or_else(|| AugmentError::UnknownName {
                kind: "augmentation policy",
                name: s.to_string(),
                expected: "none, sim, crop, autoaugment-cifar10, autoaugment-imagenet, randaugment, \
                           stacked-randaugment",
            })
    }
}

impl TryFrom<String> for Augment {
    type Error = AugmentError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Augment> for String {
    fn from(a: Augment) -> Self {
        a.name().to_string()
    }
}

/// The largest output side [`AugmentConfig::size`] may ask for (the image-folder loader's
/// limit too).
pub const MAX_SIZE: usize = 4096;

/// Configuration of a training/evaluation augmentation; serde with every field
/// optional (missing fields take the defaults below).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// The policy. Default: `sim`.
    pub policy: Augment,
    /// Square output side in pixels; `None` (default) keeps each input's size.
    pub size: Option<usize>,
    /// Area range of the random resized crop, as fractions of the image.
    /// Default: `(0.2, 1.0)` (SupCon's CIFAR setting).
    pub crop_scale: (f32, f32),
    /// Add SimCLR's Gaussian blur (p 0.5, sigma 0.1-2.0, kernel 10% of the side)
    /// to `sim` and `stacked-randaugment`. Default: `false` (off for CIFAR-size
    /// images, as in SimCLR/SupCon).
    pub blur: bool,
    /// RandAugment `N` (operations per image). Default: 2.
    pub randaugment_n: usize,
    /// RandAugment `M` (magnitude bin, `0..=30`). Default: 9.
    pub randaugment_m: usize,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            policy: Augment::Sim,
            size: None,
            crop_scale: (0.2, 1.0),
            blur: false,
            randaugment_n: 2,
            randaugment_m: 9,
        }
    }
}

impl AugmentConfig {
    /// The default configuration with `policy`.
    pub fn new(policy: Augment) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`AugmentError::InvalidParameter`] if `size` is `Some(0)`, `crop_scale` is
    /// not `0 < lo <= hi <= 1`, `randaugment_n > 32` or `randaugment_m > 30`.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if self.size == Some(0) {
            return Err(AugmentError::invalid("size", 0, "must be at least 1"));
        }
        if let Some(size) = self.size.filter(|&s| s > MAX_SIZE) {
            return Err(AugmentError::invalid("size", size, "must be at most 4096"));
        }
        let (lo, hi) = self.crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return Err(AugmentError::invalid(
                "crop_scale",
                self.crop_scale,
                "must satisfy 0 < min <= max <= 1",
            ));
        }
        if self.randaugment_n > 32 {
            return Err(AugmentError::invalid(
                "randaugment_n",
                self.randaugment_n,
                "must be in 0..=32",
            ));
        }
        if self.randaugment_m >= RANDAUGMENT_BINS {
            return Err(AugmentError::invalid(
                "randaugment_m",
                self.randaugment_m,
                "must be in 0..=30",
            ));
        }
        Ok(())
    }

    /// Builds the policy's pipeline.
    ///
    /// # Errors
    /// Whatever [`AugmentConfig::validate`] reports.
    pub fn build(&self) -> Result<Pipeline, AugmentError> {
        self.validate()?;
        let size = self.size.map(|s| (s, s));
        let crop_flip = [
            Stage::RandomResizedCrop(RandomResizedCrop::new(size, self.crop_scale)),
            Stage::HorizontalFlip(RandomHorizontalFlip::default()),
        ];
        let colour = [
            Stage::ColorJitter(ColorJitter::SIMCLR),
            Stage::Grayscale(RandomGrayscale { probability: 0.2 }),
        ];
        let blur = self
            .blur
            .then_some(Stage::GaussianBlur(RandomGaussianBlur::SIMCLR));
        let rand_augment =
            Stage::RandAugment(RandAugment::new(self.randaugment_n, self.randaugment_m)?);
        let mut stages = Vec::new();
        match self.policy {
            Augment::None => {
                if size.is_some() {
                    stages.push(Stage::Resize(Resize { size }));
                }
            }
            Augment::Sim => {
                stages.extend(crop_flip);
                stages.extend(colour);
                stages.extend(blur);
            }
            Augment::Crop => stages.extend(crop_flip),
            Augment::AutoAugmentCifar10 | Augment::AutoAugmentImagenet => {
                let policy = if self.policy == Augment::AutoAugmentCifar10 {
                    AutoAugmentPolicy::Cifar10
                } else {
                    AutoAugmentPolicy::Imagenet
                };
                stages.extend(crop_flip);
                stages.push(Stage::AutoAugment(AutoAugment::new(policy)));
            }
            Augment::RandAugment => {
                stages.extend(crop_flip);
                stages.push(rand_augment);
            }
            Augment::StackedRandAugment => {
                stages.extend(crop_flip);
                stages.push(rand_augment);
                stages.extend(colour);
                stages.extend(blur);
            }
        }
        Ok(Pipeline::new(stages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_fromstr_and_serde() {
        for a in Augment::ALL {
            assert_eq!(a.to_string().parse::<Augment>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{a}\""));
            assert_eq!(serde_json::from_str::<Augment>(&json).unwrap(), a);
        }
        assert_eq!("SimAugment".parse::<Augment>().ok(), None);
        assert_eq!(
            "stacked_randaugment".parse::<Augment>().unwrap(),
            Augment::StackedRandAugment
        );
        assert!(serde_json::from_str::<Augment>("\"simclr\"").is_err());
    }

    #[test]
    fn config_defaults_and_serde() {
        let cfg: AugmentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, AugmentConfig::default());
        let cfg: AugmentConfig =
            serde_json::from_str(r#"{"policy":"randaugment","randaugment_m":14,"size":32}"#)
                .unwrap();
        assert_eq!(cfg.policy, Augment::RandAugment);
        assert_eq!(cfg.randaugment_m, 14);
        let back: AugmentConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
        assert!(serde_json::from_str::<AugmentConfig>(r#"{"polcy":"sim"}"#).is_err());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad = [
            AugmentConfig {
                size: Some(0),
                ..AugmentConfig::default()
            },
            AugmentConfig {
                crop_scale: (0.0, 1.0),
                ..AugmentConfig::default()
            },
            AugmentConfig {
                crop_scale: (0.8, 0.5),
                ..AugmentConfig::default()
            },
            AugmentConfig {
                crop_scale: (0.2, f32::NAN),
                ..AugmentConfig::default()
            },
            AugmentConfig {
                randaugment_m: 31,
                ..AugmentConfig::default()
            },
        ];
        for cfg in bad {
            assert!(cfg.build().is_err(), "{cfg:?}");
        }
    }

    #[test]
    fn stacked_randaugment_layout() {
        let p = AugmentConfig::new(Augment::StackedRandAugment)
            .build()
            .unwrap();
        let kinds: Vec<_> = p.stages().iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), 5);
        assert!(matches!(p.stages()[2], Stage::RandAugment(_)));
        assert!(matches!(p.stages()[3], Stage::ColorJitter(_)));
        assert!(
            AugmentConfig::new(Augment::None)
                .build()
                .unwrap()
                .is_identity()
        );
        let blurred = AugmentConfig {
            blur: true,
            ..AugmentConfig::default()
        };
        assert!(matches!(
            blurred.build().unwrap().stages().last(),
            Some(Stage::GaussianBlur(_))
        ));
    }
}
