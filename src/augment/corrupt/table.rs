//! The published parameter tables: one corruption's five severities for CIFAR-10-C and
//! ImageNet-C.

use super::SMALL_IMAGE_MAX_SIDE;
use crate::data::Image;

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
