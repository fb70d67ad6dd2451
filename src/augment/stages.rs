//! The randomised building blocks of a pipeline (torchvision's transform
//! classes): resize, random-resized-crop, random horizontal flip, ColorJitter,
//! random grayscale and random Gaussian blur. Each implements [`Transform`].

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ops;
use crate::data::Image;
use crate::data::Transform;

/// `u < p` for a uniform `u` in `[0, 1)`: true with probability `p`
/// (never for `p <= 0`, always for `p >= 1`).
#[inline]
fn coin(rng: &mut ChaCha8Rng, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// Uniform sample in `[lo, hi)`.
#[inline]
fn uniform(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Deterministic bilinear resize to a fixed size (`None` keeps the input size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resize {
    /// Output `(height, width)`; `None` is the identity.
    pub size: Option<(usize, usize)>,
}

impl Transform for Resize {
    fn apply(&self, img: &Image, _rng: &mut ChaCha8Rng) -> Image {
        let (h, w) = self.output_size(img.height, img.width);
        ops::resize(img, h, w)
    }
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        if self.output_size(img.height, img.width) == (img.height, img.width) {
            return img;
        }
        self.apply(&img, rng)
    }
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        self.size.unwrap_or((height, width))
    }
}

/// torchvision's `RandomResizedCrop`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomResizedCrop {
    /// Output `(height, width)`; `None` keeps the input size.
    pub size: Option<(usize, usize)>,
    /// Range of the crop's area as a fraction of the image's.
    pub scale: (f32, f32),
    /// Range of the crop's aspect ratio (width / height), sampled log-uniformly.
    pub ratio: (f32, f32),
}

impl RandomResizedCrop {
    /// torchvision's default aspect-ratio range, `3/4 ..= 4/3`.
    pub const DEFAULT_RATIO: (f32, f32) = (3.0 / 4.0, 4.0 / 3.0);

    /// A crop with area fraction in `scale` and the default ratio range.
    pub const fn new(size: Option<(usize, usize)>, scale: (f32, f32)) -> Self {
        Self {
            size,
            scale,
            ratio: Self::DEFAULT_RATIO,
        }
    }
}

impl Transform for RandomResizedCrop {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        let (h, w) = self.output_size(img.height, img.width);
        ops::random_resized_crop(img, h, w, self.scale, self.ratio, rng)
    }
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        self.size.unwrap_or((height, width))
    }
}

/// Mirrors left-right with probability `probability`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip {
    /// Flip probability (0.5 in SimCLR/SupCon).
    pub probability: f32,
}

impl Default for RandomHorizontalFlip {
    fn default() -> Self {
        Self { probability: 0.5 }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply_owned(img.clone(), rng)
    }
    fn apply_owned(&self, mut img: Image, rng: &mut ChaCha8Rng) -> Image {
        if coin(rng, self.probability) {
            ops::hflip_in_place(&mut img);
        }
        img
    }
}

/// torchvision's `ColorJitter` wrapped in `RandomApply(p = probability)`.
///
/// When applied, the four adjustments run in a random order with factors drawn
/// uniformly from `[max(0, 1 - b), 1 + b]` (brightness, contrast, saturation)
/// and `[-hue, hue]` (hue shift); a strength of 0 disables that adjustment.
/// Saturation and hue are skipped for non-RGB images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorJitter {
    /// Brightness strength `b`.
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength.
    pub saturation: f32,
    /// Hue strength, at most 0.5.
    pub hue: f32,
    /// Probability of applying the jitter at all.
    pub probability: f32,
}

impl ColorJitter {
    /// SimCLR / SupCon: `ColorJitter(0.4, 0.4, 0.4, 0.1)` applied with p = 0.8.
    pub const SIMCLR: Self = Self {
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        hue: 0.1,
        probability: 0.8,
    };
}

impl Transform for ColorJitter {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply_owned(img.clone(), rng)
    }

    fn apply_owned(&self, mut img: Image, rng: &mut ChaCha8Rng) -> Image {
        if !coin(rng, self.probability) {
            return img;
        }
        // torchvision's get_params: the permutation first, then the factors.
        let mut order = [0usize, 1, 2, 3];
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let mut factor = |s: f32| (s > 0.0).then(|| uniform(rng, (1.0 - s).max(0.0), 1.0 + s));
        let b = factor(self.brightness);
        let c = factor(self.contrast);
        let s = factor(self.saturation);
        let h = (self.hue > 0.0).then(|| {
            let h = self.hue.min(0.5);
            uniform(rng, -h, h)
        });
        for k in order {
            match (k, b, c, s, h) {
                (0, Some(f), ..) => ops::brightness_in_place(&mut img, f),
                (1, _, Some(f), ..) => ops::contrast_in_place(&mut img, f),
                (2, _, _, Some(f), _) => ops::saturation_in_place(&mut img, f),
                (3, .., Some(f)) => ops::hue_in_place(&mut img, f),
                _ => {}
            }
        }
        img
    }
}

/// torchvision's `RandomGrayscale`: luma grayscale (channel count kept) with
/// probability `probability`; non-RGB images are unchanged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomGrayscale {
    /// Probability (0.2 in SimCLR/SupCon).
    pub probability: f32,
}

impl Transform for RandomGrayscale {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply_owned(img.clone(), rng)
    }
    fn apply_owned(&self, mut img: Image, rng: &mut ChaCha8Rng) -> Image {
        if coin(rng, self.probability) {
            ops::grayscale_in_place(&mut img);
        }
        img
    }
}

/// SimCLR's random Gaussian blur: with probability `probability`, blur with a
/// sigma drawn uniformly from `sigma` and a kernel of about 10% of the shorter
/// side ([`ops::blur_kernel_size`]) unless `kernel_size` is set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomGaussianBlur {
    /// Probability of blurring.
    pub probability: f32,
    /// Range of the standard deviation, in pixels.
    pub sigma: (f32, f32),
    /// Fixed odd kernel size, or `None` for 10% of the image.
    pub kernel_size: Option<usize>,
}

impl RandomGaussianBlur {
    /// SimCLR: p = 0.5, sigma in `[0.1, 2.0]`, kernel 10% of the image.
    pub const SIMCLR: Self = Self {
        probability: 0.5,
        sigma: (0.1, 2.0),
        kernel_size: None,
    };
}

impl Transform for RandomGaussianBlur {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply_owned(img.clone(), rng)
    }
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        if !coin(rng, self.probability) {
            return img;
        }
        let sigma = uniform(rng, self.sigma.0, self.sigma.1);
        let k = self
            .kernel_size
            .unwrap_or_else(|| ops::blur_kernel_size(img.height, img.width));
        ops::gaussian_blur(&img, k, sigma)
    }
}
