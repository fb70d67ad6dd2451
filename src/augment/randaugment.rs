//! RandAugment (Cubuk et al., CVPR-W 2020): `N` operations drawn uniformly from
//! torchvision's 14-op list, each at the shared magnitude `M` of 31 bins.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::augop::AugOp;
use super::error::AugmentError;
use super::ops::Interpolation;
use crate::data::Image;
use crate::data::Transform;

/// Number of magnitude bins (torchvision's `num_magnitude_bins`; `M` is in `0..=30`).
pub const RANDAUGMENT_BINS: usize = 31;

/// The operations RandAugment draws from, in torchvision's order.
pub const RANDAUGMENT_OPS: [AugOp; 14] = [
    AugOp::Identity,
    AugOp::ShearX,
    AugOp::ShearY,
    AugOp::TranslateX,
    AugOp::TranslateY,
    AugOp::Rotate,
    AugOp::Brightness,
    AugOp::Color,
    AugOp::Contrast,
    AugOp::Sharpness,
    AugOp::Posterize,
    AugOp::Solarize,
    AugOp::AutoContrast,
    AugOp::Equalize,
];

/// The RandAugment transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandAugment {
    /// `N`: operations applied per image.
    pub num_ops: usize,
    /// `M`: magnitude bin in `0..RANDAUGMENT_BINS` (larger bins are clamped).
    pub magnitude: usize,
    /// Sampling for shear/translate/rotate (torchvision default: nearest).
    pub interpolation: Interpolation,
    /// Value of pixels uncovered by geometric ops (default 0, black).
    pub fill: f32,
}

impl Default for RandAugment {
    /// `N = 2`, `M = 9`, nearest, black fill (torchvision's defaults).
    fn default() -> Self {
        Self {
            num_ops: 2,
            magnitude: 9,
            interpolation: Interpolation::Nearest,
            fill: 0.0,
        }
    }
}

impl RandAugment {
    /// RandAugment with `N = num_ops` and `M = magnitude`.
    ///
    /// # Errors
    /// [`AugmentError::InvalidParameter`] if `magnitude >= RANDAUGMENT_BINS`.
    pub fn new(num_ops: usize, magnitude: usize) -> Result<Self, AugmentError> {
        if magnitude >= RANDAUGMENT_BINS {
            return Err(AugmentError::invalid(
                "randaugment_m",
                magnitude,
                "must be in 0..=30",
            ));
        }
        Ok(Self {
            num_ops,
            magnitude,
            ..Self::default()
        })
    }
}

impl Transform for RandAugment {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply_owned(img.clone(), rng)
    }

    fn apply_owned(&self, mut img: Image, rng: &mut ChaCha8Rng) -> Image {
        for _ in 0..self.num_ops {
            let op = RANDAUGMENT_OPS[rng.random_range(0..RANDAUGMENT_OPS.len())];
            let mut m = op.magnitude(self.magnitude, RANDAUGMENT_BINS, img.height, img.width);
            if op.is_signed() && rng.random::<bool>() {
                m = -m;
            }
            img = op.apply_owned(img, m, self.interpolation, self.fill, rng);
        }
        img
    }
}
