//! AutoAugment (Cubuk et al., CVPR 2019): the published CIFAR-10 and ImageNet
//! sub-policy tables (as transcribed in torchvision) and the transform that
//! applies one randomly chosen sub-policy.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::augop::AugOp;
use super::error::AugmentError;
use super::ops::Interpolation;
use crate::data::Image;
use crate::data::Transform;

/// Number of magnitude bins of the AutoAugment search space (levels 0..=9).
pub const AUTOAUGMENT_BINS: usize = 10;

/// One step of a sub-policy: apply `op` with probability `probability` at
/// magnitude bin `bin` (`None` for operations without a magnitude).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyStep {
    /// The operation.
    pub op: AugOp,
    /// Probability of applying it.
    pub probability: f32,
    /// Magnitude bin in `0..AUTOAUGMENT_BINS`.
    pub bin: Option<u8>,
}

/// A sub-policy: two steps applied in order.
pub type SubPolicy = [PolicyStep; 2];

const fn s(op: AugOp, probability: f32, bin: Option<u8>) -> PolicyStep {
    PolicyStep {
        op,
        probability,
        bin,
    }
}

use AugOp::{
    AutoContrast, Brightness, Color, Contrast, Equalize, Invert, Posterize, Rotate, Sharpness,
    ShearX, ShearY, Solarize, TranslateX, TranslateY,
};

/// The 25 sub-policies found on reduced CIFAR-10 (Cubuk et al. 2019, Table 7).
pub const CIFAR10_POLICY: [SubPolicy; 25] = [
    [s(Invert, 0.1, None), s(Contrast, 0.2, Some(6))],
    [s(Rotate, 0.7, Some(2)), s(TranslateX, 0.3, Some(9))],
    [s(Sharpness, 0.8, Some(1)), s(Sharpness, 0.9, Some(3))],
    [s(ShearY, 0.5, Some(8)), s(TranslateY, 0.7, Some(9))],
    [s(AutoContrast, 0.5, None), s(Equalize, 0.9, None)],
    [s(ShearY, 0.2, Some(7)), s(Posterize, 0.3, Some(7))],
    [s(Color, 0.4, Some(3)), s(Brightness, 0.6, Some(7))],
    [s(Sharpness, 0.3, Some(9)), s(Brightness, 0.7, Some(9))],
    [s(Equalize, 0.6, None), s(Equalize, 0.5, None)],
    [s(Contrast, 0.6, Some(7)), s(Sharpness, 0.6, Some(5))],
    [s(Color, 0.7, Some(7)), s(TranslateX, 0.5, Some(8))],
    [s(Equalize, 0.3, None), s(AutoContrast, 0.4, None)],
    [s(TranslateY, 0.4, Some(3)), s(Sharpness, 0.2, Some(6))],
    [s(Brightness, 0.9, Some(6)), s(Color, 0.2, Some(8))],
    [s(Solarize, 0.5, Some(2)), s(Invert, 0.0, None)],
    [s(Equalize, 0.2, None), s(AutoContrast, 0.6, None)],
    [s(Equalize, 0.2, None), s(Equalize, 0.6, None)],
    [s(Color, 0.9, Some(9)), s(Equalize, 0.6, None)],
    [s(AutoContrast, 0.8, None), s(Solarize, 0.2, Some(8))],
    [s(Brightness, 0.1, Some(3)), s(Color, 0.7, Some(0))],
    [s(Solarize, 0.4, Some(5)), s(AutoContrast, 0.9, None)],
    [s(TranslateY, 0.9, Some(9)), s(TranslateY, 0.7, Some(9))],
    [s(AutoContrast, 0.9, None), s(Solarize, 0.8, Some(3))],
    [s(Equalize, 0.8, None), s(Invert, 0.1, None)],
    [s(TranslateY, 0.7, Some(9)), s(AutoContrast, 0.9, None)],
];

/// The 25 sub-policies found on reduced ImageNet (Cubuk et al. 2019, Table 9).
pub const IMAGENET_POLICY: [SubPolicy; 25] = [
    [s(Posterize, 0.4, Some(8)), s(Rotate, 0.6, Some(9))],
    [s(Solarize, 0.6, Some(5)), s(AutoContrast, 0.6, None)],
    [s(Equalize, 0.8, None), s(Equalize, 0.6, None)],
    [s(Posterize, 0.6, Some(7)), s(Posterize, 0.6, Some(6))],
    [s(Equalize, 0.4, None), s(Solarize, 0.2, Some(4))],
    [s(Equalize, 0.4, None), s(Rotate, 0.8, Some(8))],
    [s(Solarize, 0.6, Some(3)), s(Equalize, 0.6, None)],
    [s(Posterize, 0.8, Some(5)), s(Equalize, 1.0, None)],
    [s(Rotate, 0.2, Some(3)), s(Solarize, 0.6, Some(8))],
    [s(Equalize, 0.6, None), s(Posterize, 0.4, Some(6))],
    [s(Rotate, 0.8, Some(8)), s(Color, 0.4, Some(0))],
    [s(Rotate, 0.4, Some(9)), s(Equalize, 0.6, None)],
    [s(Equalize, 0.0, None), s(Equalize, 0.8, None)],
    [s(Invert, 0.6, None), s(Equalize, 1.0, None)],
    [s(Color, 0.6, Some(4)), s(Contrast, 1.0, Some(8))],
    [s(Rotate, 0.8, Some(8)), s(Color, 1.0, Some(2))],
    [s(Color, 0.8, Some(8)), s(Solarize, 0.8, Some(7))],
    [s(Sharpness, 0.4, Some(7)), s(Invert, 0.6, None)],
    [s(ShearX, 0.6, Some(5)), s(Equalize, 1.0, None)],
    [s(Color, 0.4, Some(0)), s(Equalize, 0.6, None)],
    [s(Equalize, 0.4, None), s(Solarize, 0.2, Some(4))],
    [s(Solarize, 0.6, Some(5)), s(AutoContrast, 0.6, None)],
    [s(Invert, 0.6, None), s(Equalize, 1.0, None)],
    [s(Color, 0.6, Some(4)), s(Contrast, 1.0, Some(8))],
    [s(Equalize, 0.8, None), s(Equalize, 0.6, None)],
];

/// Which published AutoAugment policy to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AutoAugmentPolicy {
    /// The CIFAR-10 policy.
    #[default]
    Cifar10,
    /// The ImageNet policy.
    Imagenet,
}

impl AutoAugmentPolicy {
    /// Every variant, in declaration order.
    pub const ALL: [Self; 2] = [Self::Cifar10, Self::Imagenet];

    /// The canonical name (`cifar10`, `imagenet`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cifar10 => "cifar10",
            Self::Imagenet => "imagenet",
        }
    }

    /// The policy's 25 sub-policies.
    pub const fn sub_policies(self) -> &'static [SubPolicy; 25] {
        match self {
            Self::Cifar10 => &CIFAR10_POLICY,
            Self::Imagenet => &IMAGENET_POLICY,
        }
    }
}

impl fmt::Display for AutoAugmentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AutoAugmentPolicy {
    type Err = AugmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| AugmentError::UnknownName {
                kind: "AutoAugment policy",
                name: s.to_string(),
                expected: "cifar10, imagenet",
            })
    }
}

impl TryFrom<String> for AutoAugmentPolicy {
    type Error = AugmentError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AutoAugmentPolicy> for String {
    fn from(p: AutoAugmentPolicy) -> Self {
        p.name().to_string()
    }
}

/// The AutoAugment transform: picks one of the policy's sub-policies uniformly,
/// then applies each of its two steps with the step's probability, at the
/// step's magnitude with a random sign for signed ops (torchvision's semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoAugment {
    /// The sub-policy table.
    pub policy: AutoAugmentPolicy,
    /// Sampling for shear/translate/rotate (torchvision default: nearest).
    pub interpolation: Interpolation,
    /// Value of pixels uncovered by geometric ops (default 0, black).
    pub fill: f32,
}

impl AutoAugment {
    /// AutoAugment with `policy`, nearest interpolation and black fill.
    pub const fn new(policy: AutoAugmentPolicy) -> Self {
        Self {
            policy,
            interpolation: Interpolation::Nearest,
            fill: 0.0,
        }
    }
}

impl Transform for AutoAugment {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply_owned(img.clone(), rng)
    }

    fn apply_owned(&self, mut img: Image, rng: &mut ChaCha8Rng) -> Image {
        let table = self.policy.sub_policies();
        let sub = &table[rng.random_range(0..table.len())];
        let probs: [f32; 2] = [rng.random(), rng.random()];
        let negate: [bool; 2] = [rng.random(), rng.random()];
        for (i, step) in sub.iter().enumerate() {
            if probs[i] < step.probability {
                let mut m = step.bin.map_or(0.0, |b| {
                    step.op
                        .magnitude(usize::from(b), AUTOAUGMENT_BINS, img.height, img.width)
                });
                if step.op.is_signed() && negate[i] {
                    m = -m;
                }
                img = step
                    .op
                    .apply_owned(img, m, self.interpolation, self.fill, rng);
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for policy in AutoAugmentPolicy::ALL {
            for sub in policy.sub_policies() {
                for step in sub {
                    assert!((0.0..=1.0).contains(&step.probability));
                    assert_eq!(step.bin.is_some(), step.op.has_magnitude(), "{step:?}");
                    assert!(step.bin.is_none_or(|b| usize::from(b) < AUTOAUGMENT_BINS));
                }
            }
        }
    }

    #[test]
    fn policy_names_round_trip() {
        for p in AutoAugmentPolicy::ALL {
            assert_eq!(p.to_string().parse::<AutoAugmentPolicy>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<AutoAugmentPolicy>(&json).unwrap(), p);
        }
        assert!("svhn".parse::<AutoAugmentPolicy>().is_err());
    }
}
