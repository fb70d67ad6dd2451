//! Severities and the published parameter tables: one corruption's five severities for
//! CIFAR-10-C and ImageNet-C.

use super::plane::check_image;
use crate::data::Image;

/// Images whose larger side is at most this many pixels use the CIFAR-10-C parameter
/// tables; larger ones use the ImageNet-C tables.
pub const SMALL_IMAGE_MAX_SIDE: usize = 64;

/// Lowest severity.
pub const MIN_SEVERITY: u8 = 1;

/// Highest severity.
pub const MAX_SEVERITY: u8 = 5;

/// One corruption's five severities for small (CIFAR-10-C) and large (ImageNet-C) images.
pub(super) struct Table<T: Copy> {
    pub(super) cifar: [T; 5],
    pub(super) imagenet: [T; 5],
}

impl<T: Copy> Table<T> {
    pub(super) fn get(&self, image: &Image, level: usize) -> T {
        if image.height.max(image.width) <= SMALL_IMAGE_MAX_SIDE {
            self.cifar[level]
        } else {
            self.imagenet[level]
        }
    }
}

/// Runs `f` on a valid image at the clamped severity level; returns an invalid image
/// unchanged.
pub(super) fn guarded(
    image: &Image,
    severity: u8,
    f: impl FnOnce(&Image, usize) -> Image,
) -> Image {
    if check_image(image).is_err() {
        return image.clone();
    }
    f(
        image,
        usize::from(severity.clamp(MIN_SEVERITY, MAX_SEVERITY) - 1),
    )
}
