//! The AutoAugment / RandAugment operation set with torchvision's magnitude
//! tables (`_augmentation_space`), plus Cutout.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::error::AugmentError;
use super::ops::{self, Interpolation};
use crate::data::Image;

/// Fill value of [`AugOp::Cutout`] patches (mid grey, close to the dataset mean).
pub const CUTOUT_FILL: f32 = 0.5;

/// One AutoAugment/RandAugment operation.
///
/// Magnitudes come from [`AugOp::magnitude`]; signed operations are applied with
/// a random sign by the policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AugOp {
    /// No change.
    Identity,
    /// Horizontal shear by a factor in `[0, 0.3]`.
    ShearX,
    /// Vertical shear by a factor in `[0, 0.3]`.
    ShearY,
    /// Horizontal shift by up to `150/331` of the width (whole pixels).
    TranslateX,
    /// Vertical shift by up to `150/331` of the height (whole pixels).
    TranslateY,
    /// Rotation by up to 30 degrees.
    Rotate,
    /// Per-channel min/max stretch.
    AutoContrast,
    /// `1 - x`.
    Invert,
    /// Per-channel histogram equalisation.
    Equalize,
    /// Inverts values above a threshold in `[1, 0]` (higher magnitude, lower threshold).
    Solarize,
    /// Keeps 8 down to 4 bits per value.
    Posterize,
    /// Contrast factor `1 ± [0, 0.9]`.
    Contrast,
    /// Saturation factor `1 ± [0, 0.9]`.
    Color,
    /// Brightness factor `1 ± [0, 0.9]`.
    Brightness,
    /// Sharpness factor `1 ± [0, 0.9]`.
    Sharpness,
    /// A grey square with a side of up to `20/32` of the shorter side (the
    /// AutoAugment paper's `[0, 20]` pixels on CIFAR), at a random position.
    Cutout,
}

impl AugOp {
    /// Every operation, in declaration order.
    pub const ALL: [Self; 16] = [
        Self::Identity,
        Self::ShearX,
        Self::ShearY,
        Self::TranslateX,
        Self::TranslateY,
        Self::Rotate,
        Self::AutoContrast,
        Self::Invert,
        Self::Equalize,
        Self::Solarize,
        Self::Posterize,
        Self::Contrast,
        Self::Color,
        Self::Brightness,
        Self::Sharpness,
        Self::Cutout,
    ];

    /// The canonical kebab-case name (`shear-x`, `auto-contrast`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::ShearX => "shear-x",
            Self::ShearY => "shear-y",
            Self::TranslateX => "translate-x",
            Self::TranslateY => "translate-y",
            Self::Rotate => "rotate",
            Self::AutoContrast => "auto-contrast",
            Self::Invert => "invert",
            Self::Equalize => "equalize",
            Self::Solarize => "solarize",
            Self::Posterize => "posterize",
            Self::Contrast => "contrast",
            Self::Color => "color",
            Self::Brightness => "brightness",
            Self::Sharpness => "sharpness",
            Self::Cutout => "cutout",
        }
    }

    /// Whether the policies apply this operation with a random sign.
    pub const fn is_signed(self) -> bool {
        matches!(
            self,
            Self::ShearX
                | Self::ShearY
                | Self::TranslateX
                | Self::TranslateY
                | Self::Rotate
                | Self::Contrast
                | Self::Color
                | Self::Brightness
                | Self::Sharpness
        )
    }

    /// Whether the operation takes a magnitude at all.
    pub const fn has_magnitude(self) -> bool {
        !matches!(
            self,
            Self::Identity | Self::AutoContrast | Self::Invert | Self::Equalize
        )
    }

    /// The unsigned magnitude of bin `bin` out of `num_bins` for a `height x width`
    /// image, following torchvision's `_augmentation_space`:
    /// `linspace(0, max, num_bins)[bin]` with max 0.3 (shear), `150/331 * size`
    /// (translate), 30 (rotate), 0.9 (enhance ops), `20/32 * min(h, w)` (cutout);
    /// posterize bits `8 - round(bin / ((num_bins - 1) / 4))`; solarize threshold
    /// `linspace(1, 0, num_bins)[bin]`. Bins past the end are clamped; ops without
    /// a magnitude give 0.
    pub fn magnitude(self, bin: usize, num_bins: usize, height: usize, width: usize) -> f32 {
        let n = num_bins.max(1);
        let i = bin.min(n - 1);
        let frac = if n == 1 {
            0.0
        } else {
            i as f64 / (n - 1) as f64
        };
        let lin = |max: f64| (max * frac) as f32;
        match self {
            Self::ShearX | Self::ShearY => lin(0.3),
            Self::TranslateX => lin(150.0 / 331.0 * width as f64),
            Self::TranslateY => lin(150.0 / 331.0 * height as f64),
            Self::Rotate => lin(30.0),
            Self::Contrast | Self::Color | Self::Brightness | Self::Sharpness => lin(0.9),
            Self::Posterize => {
                let step = if n == 1 { 1.0 } else { (n - 1) as f64 / 4.0 };
                (8.0 - (i as f64 / step).round_ties_even()) as f32
            }
            Self::Solarize => (1.0 - frac) as f32,
            Self::Cutout => lin(20.0 / 32.0 * height.min(width) as f64),
            Self::Identity | Self::AutoContrast | Self::Invert | Self::Equalize => 0.0,
        }
    }

    /// Applies the operation with a signed `magnitude` (as from
    /// [`AugOp::magnitude`]), warping with `interpolation` and filling uncovered
    /// pixels with `fill`. Only [`AugOp::Cutout`] draws from `rng` (its position).
    pub fn apply(
        self,
        img: &Image,
        magnitude: f32,
        interpolation: Interpolation,
        fill: f32,
        rng: &mut ChaCha8Rng,
    ) -> Image {
        self.apply_owned(img.clone(), magnitude, interpolation, fill, rng)
    }

    /// [`AugOp::apply`] on an owned image (point-wise ops work in place).
    pub(crate) fn apply_owned(
        self,
        mut img: Image,
        m: f32,
        interpolation: Interpolation,
        fill: f32,
        rng: &mut ChaCha8Rng,
    ) -> Image {
        let m = if m.is_finite() { m } else { 0.0 };
        match self {
            Self::Identity => {}
            Self::ShearX => return ops::shear_x(&img, m, interpolation, fill),
            Self::ShearY => return ops::shear_y(&img, m, interpolation, fill),
            Self::TranslateX => return ops::translate(&img, m.trunc(), 0.0, interpolation, fill),
            Self::TranslateY => return ops::translate(&img, 0.0, m.trunc(), interpolation, fill),
            Self::Rotate => return ops::rotate(&img, m, interpolation, fill),
            Self::AutoContrast => ops::autocontrast_in_place(&mut img),
            Self::Invert => ops::invert_in_place(&mut img),
            Self::Equalize => ops::equalize_in_place(&mut img),
            Self::Solarize => ops::solarize_in_place(&mut img, m),
            Self::Posterize => ops::posterize_in_place(&mut img, m.clamp(0.0, 8.0) as u8),
            Self::Contrast => ops::contrast_in_place(&mut img, 1.0 + m),
            Self::Color => ops::saturation_in_place(&mut img, 1.0 + m),
            Self::Brightness => ops::brightness_in_place(&mut img, 1.0 + m),
            Self::Sharpness => ops::sharpness_in_place(&mut img, 1.0 + m),
            Self::Cutout => {
                if img.height > 0 && img.width > 0 {
                    let cy = rng.random_range(0..img.height);
                    let cx = rng.random_range(0..img.width);
                    let size = m.abs().round() as usize;
                    ops::cutout_in_place(&mut img, size, cy, cx, CUTOUT_FILL);
                }
            }
        }
        img
    }
}

impl fmt::Display for AugOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Lower-cases and drops `-`/`_`, so `ShearX`, `shear_x` and `shear-x` all match.
pub(crate) fn normalise_name(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl FromStr for AugOp {
    type Err = AugmentError;

    /// Parses the canonical name; case, `-` and `_` are ignored, so torchvision's
    /// spellings (`ShearX`, `AutoContrast`) parse too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = normalise_name(s);
        Self::ALL
            .into_iter()
            .find(|op| normalise_name(op.name()) == key)
            .ok_or_else(|| AugmentError::UnknownName {
                kind: "augmentation op",
                name: s.to_string(),
                expected: "identity, shear-x, shear-y, translate-x, translate-y, rotate, \
                           auto-contrast, invert, equalize, solarize, posterize, contrast, \
                           color, brightness, sharpness, cutout",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in AugOp::ALL {
            assert_eq!(op.to_string().parse::<AugOp>().unwrap(), op);
        }
        assert_eq!("ShearX".parse::<AugOp>().unwrap(), AugOp::ShearX);
        assert_eq!(
            "AutoContrast".parse::<AugOp>().unwrap(),
            AugOp::AutoContrast
        );
        assert!("blur".parse::<AugOp>().is_err());
    }

    #[test]
    fn magnitudes_match_torchvision_tables() {
        // AutoAugment: 10 bins.
        assert!((AugOp::Rotate.magnitude(9, 10, 32, 32) - 30.0).abs() < 1e-5);
        assert!((AugOp::ShearX.magnitude(5, 10, 32, 32) - 0.3 * 5.0 / 9.0).abs() < 1e-6);
        assert!((AugOp::TranslateX.magnitude(9, 10, 32, 32) - 150.0 / 331.0 * 32.0).abs() < 1e-4);
        assert_eq!(AugOp::Posterize.magnitude(8, 10, 32, 32), 4.0);
        assert_eq!(AugOp::Posterize.magnitude(7, 10, 32, 32), 5.0);
        assert_eq!(AugOp::Posterize.magnitude(5, 10, 32, 32), 6.0);
        assert_eq!(AugOp::Posterize.magnitude(0, 10, 32, 32), 8.0);
        assert!((AugOp::Solarize.magnitude(5, 10, 32, 32) - 4.0 / 9.0).abs() < 1e-6);
        // RandAugment: 31 bins, M = 9.
        assert!((AugOp::Brightness.magnitude(9, 31, 32, 32) - 0.27).abs() < 1e-6);
        assert_eq!(AugOp::Posterize.magnitude(9, 31, 32, 32), 7.0);
        assert!((AugOp::Rotate.magnitude(9, 31, 32, 32) - 9.0).abs() < 1e-5);
        assert_eq!(AugOp::Equalize.magnitude(9, 31, 32, 32), 0.0);
    }
}
