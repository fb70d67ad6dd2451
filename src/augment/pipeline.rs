//! [`Pipeline`]: an ordered list of [`Stage`]s applied one after another; what
//! [`crate::augment::AugmentConfig::build`] returns.

use rand_chacha::ChaCha8Rng;

use super::autoaugment::AutoAugment;
use super::randaugment::RandAugment;
use super::stages::{
    ColorJitter, RandomGaussianBlur, RandomGrayscale, RandomHorizontalFlip, RandomResizedCrop,
    Resize,
};
use crate::data::Image;
use crate::data::Transform;

/// One step of a [`Pipeline`] (a closed set, so pipelines are inspectable).
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// Deterministic resize.
    Resize(Resize),
    /// Random resized crop.
    RandomResizedCrop(RandomResizedCrop),
    /// Random horizontal flip.
    HorizontalFlip(RandomHorizontalFlip),
    /// Randomly applied colour jitter.
    ColorJitter(ColorJitter),
    /// Random grayscale.
    Grayscale(RandomGrayscale),
    /// Random Gaussian blur.
    GaussianBlur(RandomGaussianBlur),
    /// AutoAugment sub-policy.
    AutoAugment(AutoAugment),
    /// RandAugment.
    RandAugment(RandAugment),
}

impl Stage {
    fn transform(&self) -> &dyn Transform {
        match self {
            Self::Resize(t) => t,
            Self::RandomResizedCrop(t) => t,
            Self::HorizontalFlip(t) => t,
            Self::ColorJitter(t) => t,
            Self::Grayscale(t) => t,
            Self::GaussianBlur(t) => t,
            Self::AutoAugment(t) => t,
            Self::RandAugment(t) => t,
        }
    }
}

impl Transform for Stage {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.transform().apply(img, rng)
    }
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        self.transform().apply_owned(img, rng)
    }
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        self.transform().output_size(height, width)
    }
}

/// Stages applied in order, each drawing from the same RNG.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    /// A pipeline running `stages` in order (empty: the identity).
    pub fn new(stages: Vec<Stage>) -> Self {
        Self { stages }
    }

    /// The stages, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// True when the pipeline has no stage (returns its input unchanged).
    pub fn is_identity(&self) -> bool {
        self.stages.is_empty()
    }
}

impl Transform for Pipeline {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        match self.stages.split_first() {
            None => img.clone(),
            Some((first, rest)) => {
                let mut cur = first.apply(img, rng);
                for stage in rest {
                    cur = stage.apply_owned(cur, rng);
                }
                cur
            }
        }
    }

    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        self.stages
            .iter()
            .fold(img, |cur, stage| stage.apply_owned(cur, rng))
    }

    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        self.stages
            .iter()
            .fold((height, width), |(h, w), s| s.output_size(h, w))
    }

    /// True when the first stage is a random resized crop to a fixed size.
    fn crops_original(&self) -> bool {
        matches!(
            self.stages.first(),
            Some(Stage::RandomResizedCrop(RandomResizedCrop {
                size: Some(_),
                ..
            }))
        )
    }
}
