//! The digital corruptions: contrast, elastic transform, pixelate and JPEG compression.

use rand_chacha::ChaCha8Rng;

use super::filter::{
    Border, affine_from_points, bilinear, box_weights, gaussian_blur, resize_separable,
};
use super::plane::{clamp01, map_planes};
use super::random::uniform;
use super::table::{Table, guarded};
use crate::data::Image;

const CONTRAST: Table<f64> = Table {
    cifar: [0.75, 0.5, 0.4, 0.3, 0.15],
    imagenet: [0.4, 0.3, 0.2, 0.1, 0.05],
};

/// (alpha, sigma, affine jitter), in pixels, as published (`IMSIZE = 32` for CIFAR-10-C;
/// 244 for ImageNet-C, where the authors note 244 "should have been 224").
const ELASTIC: Table<(f64, f64, f64)> = Table {
    cifar: [
        (32.0 * 0.0, 32.0 * 0.0, 32.0 * 0.08),
        (32.0 * 0.05, 32.0 * 0.2, 32.0 * 0.07),
        (32.0 * 0.08, 32.0 * 0.06, 32.0 * 0.06),
        (32.0 * 0.1, 32.0 * 0.04, 32.0 * 0.05),
        (32.0 * 0.1, 32.0 * 0.03, 32.0 * 0.03),
    ],
    imagenet: [
        (244.0 * 2.0, 244.0 * 0.7, 244.0 * 0.1),
        (244.0 * 2.0, 244.0 * 0.08, 244.0 * 0.2),
        (244.0 * 0.05, 244.0 * 0.01, 244.0 * 0.02),
        (244.0 * 0.07, 244.0 * 0.01, 244.0 * 0.02),
        (244.0 * 0.12, 244.0 * 0.01, 244.0 * 0.02),
    ],
};

const PIXELATE: Table<f64> = Table {
    cifar: [0.95, 0.9, 0.85, 0.75, 0.65],
    imagenet: [0.6, 0.5, 0.4, 0.3, 0.25],
};

const JPEG_QUALITY: Table<u8> = Table {
    cifar: [80, 65, 58, 50, 40],
    imagenet: [25, 18, 15, 10, 7],
};

corruption_fn!(
    /// Contrast: `clip((x - mean) c + mean)` with per-channel spatial means, `c` =
    /// 0.75..0.15 (CIFAR-10-C) or 0.4..0.05 (ImageNet-C) (Hendrycks & Dietterich, ICLR
    /// 2019).
    contrast, contrast_at
);

corruption_fn!(
    /// Elastic transform (Simard et al., ICDAR 2003, as modified by Hendrycks & Dietterich,
    /// ICLR 2019): a random affine warp moving three points by up to `c` pixels
    /// (reflect-101 borders), then bilinear resampling along a displacement field of
    /// uniform noise smoothed by a Gaussian of `sigma` (truncated at 3 sigma) and scaled by
    /// `alpha` (reflect borders). `(alpha, sigma, c)` are the published pixel values:
    /// `32 * (0, 0, 0.08)..32 * (0.1, 0.03, 0.03)` (CIFAR-10-C) or
    /// `244 * (2, 0.7, 0.1)..244 * (0.12, 0.01, 0.02)` (ImageNet-C).
    elastic_transform, elastic_transform_at, rng
);

corruption_fn!(
    /// Pixelate: PIL `BOX` resize to `floor(c w) x floor(c h)` and back, `c` = 0.95..0.65
    /// (CIFAR-10-C) or 0.6..0.25 (ImageNet-C) (Hendrycks & Dietterich, ICLR 2019).
    pixelate, pixelate_at
);

/// JPEG compression: 8-bit quantisation, baseline JPEG encoding at quality 80..40
/// (CIFAR-10-C) or 25..7 (ImageNet-C), decoding (Hendrycks & Dietterich, ICLR 2019).
/// 3-channel images are encoded as RGB (4:4:4 chroma: a deviation from PIL's 4:2:0),
/// others channel by channel as grayscale.
///
/// Deterministic: `rng` is not used. `severity` outside `1..=5` is clamped into it; an
/// invalid image, or one the codec rejects, is returned unchanged; use
/// [`Corruption::apply`](super::Corruption::apply) to get errors for those instead.
pub fn jpeg_compression(image: &Image, severity: u8, _rng: &mut ChaCha8Rng) -> Image {
    guarded(image, severity, |img, level| {
        jpeg_compression_at(img, level).unwrap_or_else(|_| img.clone())
    })
}

pub(super) fn contrast_at(image: &Image, level: usize) -> Image {
    let c = CONTRAST.get(image, level) as f32;
    map_planes(image, |p, _, _| {
        let mean = (p.iter().map(|&v| f64::from(v)).sum::<f64>() / p.len() as f64) as f32;
        p.iter().map(|&v| (v - mean) * c + mean).collect()
    })
}

pub(super) fn elastic_transform_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let (alpha, sigma, jitter) = ELASTIC.get(image, level);
    let (h, w) = (image.height, image.width);
    // Random affine: three points around the centre, each coordinate moved by U(-c, c).
    let (cx, cy) = ((w / 2) as f64, (h / 2) as f64);
    let s = (h.min(w) / 3) as f64;
    let src = [(cx + s, cy + s), (cx + s, cy - s), (cx - s, cy - s)];
    let dst = src.map(|(x, y)| {
        let nx = x + uniform(rng, -jitter, jitter);
        let ny = y + uniform(rng, -jitter, jitter);
        (nx, ny)
    });
    // warpAffine samples the source at M^-1(x, y), i.e. the affine map dst -> src.
    let inv = affine_from_points(&dst, &src).unwrap_or([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    let warped = map_planes(image, |p, h, w| {
        let mut out = Vec::with_capacity(h * w);
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f64, y as f64);
                let sx = inv[0][0] * xf + inv[0][1] * yf + inv[0][2];
                let sy = inv[1][0] * xf + inv[1][1] * yf + inv[1][2];
                out.push(bilinear(p, h, w, sy, sx, Border::Reflect101));
            }
        }
        out
    });
    // Displacement fields: uniform noise, Gaussian-smoothed (reflect, truncate 3), scaled.
    let mut field = || -> Vec<f32> {
        let noise: Vec<f32> = (0..h * w).map(|_| uniform(rng, -1.0, 1.0) as f32).collect();
        gaussian_blur(&noise, h, w, sigma, 3.0, Border::Reflect)
            .into_iter()
            .map(|v| (f64::from(v) * alpha) as f32)
            .collect()
    };
    let dx = field();
    let dy = field();
    let out = map_planes(&warped, |p, h, w| {
        let mut out = Vec::with_capacity(h * w);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let sy = y as f64 + f64::from(dy[i]);
                let sx = x as f64 + f64::from(dx[i]);
                out.push(bilinear(p, h, w, sy, sx, Border::Reflect));
            }
        }
        out
    });
    clamp01(out)
}

pub(super) fn pixelate_at(image: &Image, level: usize) -> Image {
    let c = PIXELATE.get(image, level);
    let (h, w) = (image.height, image.width);
    // Python's int() truncates.
    let small_w = ((w as f64 * c) as usize).max(1);
    let small_h = ((h as f64 * c) as usize).max(1);
    let (down_x, down_y) = (box_weights(w, small_w), box_weights(h, small_h));
    let (up_x, up_y) = (box_weights(small_w, w), box_weights(small_h, h));
    map_planes(image, |p, h, w| {
        let small = resize_separable(p, h, w, &down_y, &down_x);
        resize_separable(&small, small_h, small_w, &up_y, &up_x)
    })
}

pub(super) fn jpeg_compression_at(image: &Image, level: usize) -> Result<Image, String> {
    use ::image::codecs::jpeg::JpegEncoder;
    use ::image::{ExtendedColorType, ImageFormat};

    let quality = JPEG_QUALITY.get(image, level);
    let (h, w) = (image.height, image.width);
    let (wu, hu) = (
        u32::try_from(w).map_err(|e| e.to_string())?,
        u32::try_from(h).map_err(|e| e.to_string())?,
    );
    let bytes = image.to_u8_chw();
    let plane = h * w;
    let roundtrip = |pixels: &[u8], color: ExtendedColorType| -> Result<Vec<u8>, String> {
        let mut encoded = Vec::new();
        JpegEncoder::new_with_quality(&mut encoded, quality)
            .encode(pixels, wu, hu, color)
            .map_err(|e| format!("JPEG encoding failed: {e}"))?;
        let decoded = ::image::load_from_memory_with_format(&encoded, ImageFormat::Jpeg)
            .map_err(|e| format!("JPEG decoding failed: {e}"))?;
        if decoded.width() != wu || decoded.height() != hu {
            return Err(format!(
                "JPEG decoding gave {}x{} for a {w}x{h} image",
                decoded.width(),
                decoded.height()
            ));
        }
        Ok(match color {
            ExtendedColorType::Rgb8 => decoded.to_rgb8().into_raw(),
            _ => decoded.to_luma8().into_raw(),
        })
    };
    let mut out = Image::zeros(image.channels, h, w);
    if image.channels == 3 {
        let mut hwc = vec![0u8; 3 * plane];
        for c in 0..3 {
            for i in 0..plane {
                hwc[i * 3 + c] = bytes[c * plane + i];
            }
        }
        let back = roundtrip(&hwc, ExtendedColorType::Rgb8)?;
        for c in 0..3 {
            for i in 0..plane {
                out.data[c * plane + i] = f32::from(back[i * 3 + c]) / 255.0;
            }
        }
    } else {
        for c in 0..image.channels {
            let back = roundtrip(&bytes[c * plane..(c + 1) * plane], ExtendedColorType::L8)?;
            for (o, &b) in out.data[c * plane..(c + 1) * plane].iter_mut().zip(&back) {
                *o = f32::from(b) / 255.0;
            }
        }
    }
    Ok(out)
}
