//! The [`Transform`] trait: a pure, seeded image-to-image map, which the multi-view
//! batcher applies to every view. `crate::augment` implements it (its policies and
//! stages); [`Identity`] is the un-augmented path.

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::image::Image;

/// A (possibly random) image transform.
///
/// Implementations are pure: the output depends only on the input image and the
/// state of `rng`, so the same input with the same RNG state always gives the same
/// output. They keep the channel count and keep values in `[0, 1]`.
pub trait Transform: Send + Sync {
    /// Transforms `img`, drawing any randomness from `rng`.
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image;

    /// Like [`Transform::apply`] but consumes the input, so point-wise stages can
    /// work in place. Must return exactly what `apply` would.
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        self.apply(&img, rng)
    }

    /// The `(height, width)` of the output for an input of `(height, width)`.
    /// The default keeps the size.
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        (height, width)
    }

    /// Whether the transform starts by cropping to a fixed output size, so that a
    /// streamed split hands it the decoded original (any size) instead of the split's
    /// square image, as torchvision's RandomResizedCrop crops from the full image.
    /// Default: no.
    fn crops_original(&self) -> bool {
        false
    }
}

impl<T: Transform + ?Sized> Transform for &T {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        (**self).apply(img, rng)
    }
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        (**self).apply_owned(img, rng)
    }
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        (**self).output_size(height, width)
    }
    fn crops_original(&self) -> bool {
        (**self).crops_original()
    }
}

impl<T: Transform + ?Sized> Transform for Box<T> {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        (**self).apply(img, rng)
    }
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        (**self).apply_owned(img, rng)
    }
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        (**self).output_size(height, width)
    }
    fn crops_original(&self) -> bool {
        (**self).crops_original()
    }
}

impl<T: Transform + ?Sized> Transform for Arc<T> {
    fn apply(&self, img: &Image, rng: &mut ChaCha8Rng) -> Image {
        (**self).apply(img, rng)
    }
    fn apply_owned(&self, img: Image, rng: &mut ChaCha8Rng) -> Image {
        (**self).apply_owned(img, rng)
    }
    fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        (**self).output_size(height, width)
    }
    fn crops_original(&self) -> bool {
        (**self).crops_original()
    }
}

/// The identity transform (no augmentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity;

impl Transform for Identity {
    fn apply(&self, img: &Image, _rng: &mut ChaCha8Rng) -> Image {
        img.clone()
    }
    fn apply_owned(&self, img: Image, _rng: &mut ChaCha8Rng) -> Image {
        img
    }
}
