//! Image plumbing of the corruptions: validity, clipping, per-value and per-plane maps,
//! luminance.

use crate::data::Image;

/// Rec. 601 luma weights (OpenCV's `COLOR_RGB2GRAY`).
pub(super) const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// Largest supported side (the JPEG limit), to keep every size computation in range.
const MAX_SIDE: usize = 65_535;

/// Why an image cannot be corrupted, if it cannot.
pub(super) fn check_image(image: &Image) -> Result<(), String> {
    let (c, h, w) = (image.channels, image.height, image.width);
    if c == 0 || h == 0 || w == 0 {
        return Err(format!("image shape {c}x{h}x{w} has a zero dimension"));
    }
    if h > MAX_SIDE || w > MAX_SIDE {
        return Err(format!(
            "image of {h}x{w} pixels exceeds the supported side of {MAX_SIDE}"
        ));
    }
    let expected = c.checked_mul(h).and_then(|v| v.checked_mul(w));
    if expected != Some(image.data.len()) {
        return Err(format!(
            "image data holds {} values, not channels * height * width = {c} * {h} * {w}",
            image.data.len()
        ));
    }
    if let Some(i) = image.data.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "image value {} at index {i} is not finite",
            image.data[i]
        ));
    }
    Ok(())
}

pub(super) fn clamp01(mut image: Image) -> Image {
    image.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    image
}

/// Applies `f` to every value, then clips to `[0, 1]`.
pub(super) fn map_values(image: &Image, mut f: impl FnMut(f32) -> f32) -> Image {
    let mut out = image.clone();
    out.data.iter_mut().for_each(|v| *v = f(*v));
    clamp01(out)
}

/// Applies `f(plane, h, w)` to every channel plane, then clips to `[0, 1]`.
pub(super) fn map_planes(
    image: &Image,
    mut f: impl FnMut(&[f32], usize, usize) -> Vec<f32>,
) -> Image {
    let (h, w) = (image.height, image.width);
    let mut out = Image::zeros(image.channels, h, w);
    for (src, dst) in image
        .data
        .chunks_exact(h * w)
        .zip(out.data.chunks_exact_mut(h * w))
    {
        dst.copy_from_slice(&f(src, h, w));
    }
    clamp01(out)
}

/// Luminance plane (OpenCV `COLOR_RGB2GRAY`) of an RGB image; `None` for other channel
/// counts, whose channels are each their own gray value.
pub(super) fn luma_plane(image: &Image) -> Option<Vec<f32>> {
    let plane = image.height * image.width;
    (image.channels == 3).then(|| {
        (0..plane)
            .map(|i| {
                LUMA[0] * image.data[i]
                    + LUMA[1] * image.data[plane + i]
                    + LUMA[2] * image.data[2 * plane + i]
            })
            .collect()
    })
}
