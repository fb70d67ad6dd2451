//! The weather corruptions: snow, frost, fog and brightness.

use rand_chacha::ChaCha8Rng;

use super::filter::{motion_blur_plane, resample_separable, zoom_coords};
use super::plane::{LUMA, clamp01, luma_plane, map_values};
use super::random::{standard_normal, uniform};
use super::table::{Table, guarded};
use super::texture::{FROST_TINT, frost_layer, plasma_fractal};
use crate::data::Image;

const SNOW: Table<SnowParams> = Table {
    cifar: [
        (0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95),
        (0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8),
    ],
    imagenet: [
        (0.1, 0.3, 3.0, 0.5, 10.0, 4.0, 0.8),
        (0.2, 0.3, 2.0, 0.5, 12.0, 4.0, 0.7),
        (0.55, 0.3, 4.0, 0.9, 12.0, 8.0, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12.0, 8.0, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12.0, 12.0, 0.55),
    ],
};

/// (loc, scale, zoom, threshold, blur radius, blur sigma, blend)
type SnowParams = (f64, f64, f64, f64, f64, f64, f64);

/// (image weight, frost weight)
const FROST: Table<(f64, f64)> = Table {
    cifar: [
        (1.0, 0.2),
        (1.0, 0.3),
        (0.9, 0.4),
        (0.85, 0.4),
        (0.75, 0.45),
    ],
    imagenet: [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
};

/// (fog strength, wibble decay)
const FOG: Table<(f64, f64)> = Table {
    cifar: [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)],
    imagenet: [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)],
};

const BRIGHTNESS: Table<f64> = Table {
    cifar: [0.05, 0.1, 0.15, 0.2, 0.3],
    imagenet: [0.1, 0.2, 0.3, 0.4, 0.5],
};

corruption_fn!(
    /// Snow: a Gaussian flake layer, zoomed, thresholded and motion-blurred at an angle
    /// uniform in [-135°, -45°], added twice (itself and rotated 180°) to the image blended
    /// towards `max(x, 1.5 gray + 0.5)` (Hendrycks & Dietterich, ICLR 2019; published
    /// 7-parameter tables).
    snow, snow_at, rng
);

corruption_fn!(
    /// Frost: `clip(a x + b frost)` with `(a, b)` from (1, 0.2)..(0.75, 0.45)
    /// (CIFAR-10-C) or (1, 0.4)..(0.6, 0.75) (ImageNet-C) (Hendrycks & Dietterich, ICLR
    /// 2019).
    ///
    /// **Deviation:** the original crops one of six stock frost photographs; here the
    /// frost layer is synthesised from `rng`: a plasma-fractal haze (0.35..0.75) plus
    /// 60 branching ice needles (two levels of side branches at about ±60°, lengths
    /// 5-20 % of the larger side, brightness 0.6-1.0, fading along the needle), softened
    /// by a small Gaussian blur and tinted bluish white (RGB gains 0.84, 0.92, 1.0; a gray
    /// image gets their luminance, 0.905).
    frost, frost_at, rng
);

corruption_fn!(
    /// Fog: `clip((x + a P) * m / (m + a))` with `P` a diamond-square plasma fractal
    /// (wibble decay `d`, map side the next power of two of the larger image side) and `m`
    /// the image maximum; `(a, d)` from (0.2, 3)..(1.5, 1.75) (CIFAR-10-C) or
    /// (1.5, 2)..(3, 1.4) (ImageNet-C) (Hendrycks & Dietterich, ICLR 2019).
    fog, fog_at, rng
);

corruption_fn!(
    /// Brightness: adds `c` to the HSV value (clipped to 1), keeping hue and saturation,
    /// `c` = 0.05..0.3 (CIFAR-10-C) or 0.1..0.5 (ImageNet-C) (Hendrycks & Dietterich,
    /// ICLR 2019). Computed without a colour-space round trip: at fixed hue and saturation
    /// RGB scales with the value, so each pixel is multiplied by `min(v + c, 1) / v`
    /// (a black pixel becomes gray `c`).
    brightness, brightness_at
);

pub(super) fn snow_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let (loc, scale, zoom, threshold, radius, sigma, blend) = SNOW.get(image, level);
    let (h, w) = (image.height, image.width);
    let raw: Vec<f32> = (0..h * w)
        .map(|_| (loc + scale * standard_normal(rng)) as f32)
        .collect();
    let zoomed = resample_separable(&raw, h, w, &zoom_coords(h, zoom), &zoom_coords(w, zoom));
    let flakes: Vec<f32> = zoomed
        .into_iter()
        .map(|v| if f64::from(v) < threshold { 0.0 } else { v })
        // Saved as an 8-bit gray PNG in the original (truncating cast).
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).floor() / 255.0)
        .collect();
    let angle = uniform(rng, -135.0, -45.0);
    let layer = motion_blur_plane(&flakes, h, w, radius, sigma, angle);
    let gray = luma_plane(image);
    let blend = blend as f32;
    let mut out = image.clone();
    let plane = h * w;
    for c in 0..image.channels {
        for i in 0..plane {
            let v = image.data[c * plane + i];
            // A non-RGB channel is its own gray value.
            let g = gray.as_ref().map_or(v, |g| g[i]);
            let washed = blend * v + (1.0 - blend) * v.max(g * 1.5 + 0.5);
            // np.rot90(layer, k=2): the layer rotated by 180 degrees.
            out.data[c * plane + i] = washed + layer[i] + layer[plane - 1 - i];
        }
    }
    clamp01(out)
}

pub(super) fn frost_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let (a, b) = FROST.get(image, level);
    let (h, w) = (image.height, image.width);
    let layer = frost_layer(h, w, rng);
    let gains: Vec<f32> = if image.channels == 3 {
        FROST_TINT.to_vec()
    } else {
        let lum = LUMA[0] * FROST_TINT[0] + LUMA[1] * FROST_TINT[1] + LUMA[2] * FROST_TINT[2];
        vec![lum; image.channels]
    };
    let mut out = image.clone();
    for (dst, gain) in out.data.chunks_exact_mut(h * w).zip(&gains) {
        for (v, &f) in dst.iter_mut().zip(&layer) {
            *v = a as f32 * *v + b as f32 * gain * f;
        }
    }
    clamp01(out)
}

pub(super) fn fog_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let (strength, decay) = FOG.get(image, level);
    let (h, w) = (image.height, image.width);
    let side = h.max(w).next_power_of_two().max(2);
    let plasma = plasma_fractal(side, decay, rng);
    let max_val = image.data.iter().fold(0f32, |m, &v| m.max(v));
    let scale = max_val / (max_val + strength as f32);
    let mut out = image.clone();
    let plane = h * w;
    for c in 0..image.channels {
        for y in 0..h {
            for x in 0..w {
                let v = &mut out.data[c * plane + y * w + x];
                *v = (*v + (strength * plasma[y * side + x]) as f32) * scale;
            }
        }
    }
    clamp01(out)
}

pub(super) fn brightness_at(image: &Image, level: usize) -> Image {
    let c = BRIGHTNESS.get(image, level) as f32;
    if image.channels != 3 {
        return map_values(image, |v| v + c);
    }
    let plane = image.height * image.width;
    let mut out = image.clone();
    for i in 0..plane {
        let rgb = [0, 1, 2].map(|k| image.data[k * plane + i]);
        let v = rgb[0].max(rgb[1]).max(rgb[2]);
        let new = if v > 0.0 {
            let s = (v + c).min(1.0) / v;
            rgb.map(|x| x * s)
        } else {
            [c.min(1.0); 3]
        };
        for (k, value) in new.into_iter().enumerate() {
            out.data[k * plane + i] = value;
        }
    }
    clamp01(out)
}
