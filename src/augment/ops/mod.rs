//! Primitive image operations: pure functions from [`crate::data::Image`] to a
//! new `Image` of the same shape (resizes excepted) with values in `[0, 1]`,
//! for 1- and 3-channel images.

mod color;
mod filter;
mod geometry;

pub use color::{
    LUMA_WEIGHTS, adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, autocontrast,
    equalize, grayscale, hsv_to_rgb, invert, posterize, rgb_to_hsv, solarize,
};
pub use filter::{adjust_sharpness, blur_kernel_size, gaussian_blur};
pub use geometry::{
    CropBox, Interpolation, cutout, hflip, random_resized_crop, random_resized_crop_box, resize,
    resized_crop, rotate, shear_x, shear_y, translate, warp_affine,
};

pub(crate) use color::{
    autocontrast_in_place, brightness_in_place, contrast_in_place, equalize_in_place,
    grayscale_in_place, hue_in_place, invert_in_place, posterize_in_place, saturation_in_place,
    solarize_in_place,
};
pub(crate) use filter::sharpness_in_place;
pub(crate) use geometry::{cutout_in_place, hflip_in_place};
