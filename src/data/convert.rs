//! Converting images to another shape `[C, H, W]`: channel conversion (gray <-> RGB),
//! centre crop and resize. Used to feed a dataset to an encoder trained on another shape
//! (transfer, fine-tuning, the linear probe on other data) and by inference.

use ::image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

use super::folder::square_resize;
use super::{ImageDataset, LoadedDataset, channel_mean_std};

/// CHW `u8` pixels of any shape converted to `shape` `[C, H, W]`: channel conversion,
/// centre crop and resize (a copy when they already have it).
///
/// # Errors
/// A message when the channel count is not 1 to 4, the image is empty, or it must be
/// resized to a shape that is not square.
pub fn conform_pixels(
    channels: usize,
    height: usize,
    width: usize,
    pixels: &[u8],
    shape: [usize; 3],
) -> Result<Vec<u8>, String> {
    let [c, h, w] = shape;
    if (channels, height, width) == (c, h, w) {
        return Ok(pixels.to_vec());
    }
    if h != w && (height, width) != (h, w) {
        return Err(format!(
            "the model takes {h}x{w} images, which is not square; cannot resize a \
             {height}x{width} image to it"
        ));
    }
    let img = image_from_u8(channels, height, width, pixels)?;
    let out = square_resize(&img, h, c == 1)?;
    if out.len() != c * h * w {
        return Err(format!(
            "converting a {channels}x{height}x{width} image gave {} values, expected {}",
            out.len(),
            c * h * w
        ));
    }
    Ok(out)
}

/// Converts every image of a split to `shape` `[C, H, W]` (channel conversion, centre
/// crop + resize), keeping labels and class names.
///
/// # Errors
/// A message naming both shapes when an image cannot be converted.
pub fn convert_split(split: &ImageDataset, shape: [usize; 3]) -> Result<ImageDataset, String> {
    let mut pixels = Vec::with_capacity(split.len() * shape.iter().product::<usize>());
    for i in 0..split.len() {
        let px = conform_pixels(
            split.channels,
            split.height,
            split.width,
            &split
                .try_pixels(i)
                .map_err(|e| format!("reading image {i}: {e}"))?,
            shape,
        )
        .map_err(|reason| {
            format!(
                "cannot convert {}x{}x{} images to {shape:?}: {reason}",
                split.channels, split.height, split.width
            )
        })?;
        pixels.extend_from_slice(&px);
    }
    Ok(ImageDataset {
        channels: shape[0],
        height: shape[1],
        width: shape[2],
        pixels,
        labels: split.labels.clone(),
        class_names: split.class_names.clone(),
        stream: None,
    })
}

/// Converts both splits of a dataset to `shape` and recomputes the normalisation from
/// the converted training split (a no-op when the shape already matches). Returns
/// whether anything was converted.
///
/// # Errors
/// A message naming both shapes when an image cannot be converted.
pub fn convert_dataset(data: &mut LoadedDataset, shape: [usize; 3]) -> Result<bool, String> {
    if data.shape() == shape {
        return Ok(false);
    }
    data.train = convert_split(&data.train, shape)?;
    data.test = convert_split(&data.test, shape)?;
    let (mean, std) = channel_mean_std(&data.train);
    data.mean = mean;
    data.std = std;
    Ok(true)
}

/// A CHW `u8` image as an `image` crate image (1: gray, 2: gray + alpha, 3: RGB,
/// 4: RGBA).
///
/// # Errors
/// A message for another channel count or inconsistent sizes.
pub fn image_from_u8(
    channels: usize,
    height: usize,
    width: usize,
    pixels: &[u8],
) -> Result<DynamicImage, String> {
    let plane = height * width;
    if height == 0 || width == 0 || pixels.len() != channels * plane {
        return Err(format!(
            "a {channels}x{height}x{width} image needs {} values, got {}",
            channels * plane,
            pixels.len()
        ));
    }
    let (w, h) = (
        u32::try_from(width).map_err(|e| e.to_string())?,
        u32::try_from(height).map_err(|e| e.to_string())?,
    );
    let mut hwc = vec![0u8; pixels.len()];
    for c in 0..channels {
        for (i, &v) in pixels[c * plane..(c + 1) * plane].iter().enumerate() {
            hwc[i * channels + c] = v;
        }
    }
    let bad = || format!("{channels}x{height}x{width}: inconsistent buffer");
    Ok(match channels {
        1 => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, hwc).ok_or_else(bad)?),
        2 => DynamicImage::ImageLumaA8(GrayAlphaImage::from_raw(w, h, hwc).ok_or_else(bad)?),
        3 => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, hwc).ok_or_else(bad)?),
        4 => DynamicImage::ImageRgba8(RgbaImage::from_raw(w, h, hwc).ok_or_else(bad)?),
        _ => {
            return Err(format!(
                "images with {channels} channels are not supported (expected 1 to 4)"
            ));
        }
    })
}
