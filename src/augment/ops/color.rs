//! Colour and intensity primitives: grayscale, ColorJitter's brightness /
//! contrast / saturation / hue adjustments (torchvision semantics), and the
//! AutoAugment intensity ops (invert, solarize, posterize, autocontrast,
//! equalize).
//!
//! Operations that need colour (grayscale, saturation, hue) act on 3-channel
//! images and leave any other channel count unchanged, as torchvision does for
//! 1-channel images. Every output stays in `[0, 1]`; a non-finite factor leaves the
//! image unchanged (as a non-finite magnitude does for an AutoAugment op).

use crate::data::Image;

/// ITU-R 601-2 luma weights for (R, G, B), as PIL's `convert("L")`.
pub const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// Number of pixels per channel.
#[inline]
fn plane(img: &Image) -> usize {
    img.height * img.width
}

/// Mean luma of a 3-channel image, or the mean of all values otherwise (0 when empty).
fn mean_intensity(img: &Image) -> f32 {
    let n = plane(img);
    if n == 0 || img.channels == 0 {
        return 0.0;
    }
    let sum: f64 = if img.channels == 3 {
        let (r, rest) = img.data.split_at(n);
        let (g, b) = rest.split_at(n);
        r.iter()
            .zip(g)
            .zip(b)
            .map(|((r, g), b)| f64::from(luma(*r, *g, *b)))
            .sum::<f64>()
    } else {
        img.data.iter().map(|&v| f64::from(v)).sum::<f64>() / img.channels as f64
    };
    (sum / n as f64) as f32
}

#[inline]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b
}

/// Splits a 3-channel image's data into its R, G, B planes.
fn rgb_planes(data: &mut [f32], n: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let (r, rest) = data.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    (r, g, &mut b[..n])
}

macro_rules! pure {
    ($(#[$doc:meta])* $name:ident => $inplace:ident ( $($arg:ident : $ty:ty),* )) => {
        $(#[$doc])*
        pub fn $name(img: &Image $(, $arg: $ty)*) -> Image {
            let mut out = img.clone();
            $inplace(&mut out $(, $arg)*);
            out
        }
    };
}

pure!(
    /// Grayscale with ITU-R 601-2 luma (`0.299 R + 0.587 G + 0.114 B`), keeping the
    /// channel count (all three channels get the luma). Non-RGB images are returned
    /// unchanged.
    grayscale => grayscale_in_place()
);
pure!(
    /// Multiplies every value by `factor` (torchvision `adjust_brightness`), clamped.
    adjust_brightness => brightness_in_place(factor: f32)
);
pure!(
    /// Blends with the mean luma (mean value for non-RGB images):
    /// `factor * x + (1 - factor) * mean`, clamped (torchvision `adjust_contrast`).
    adjust_contrast => contrast_in_place(factor: f32)
);
pure!(
    /// Blends each pixel with its luma: `factor * x + (1 - factor) * luma`, clamped
    /// (torchvision `adjust_saturation`, AutoAugment's `Color`). Non-RGB unchanged.
    adjust_saturation => saturation_in_place(factor: f32)
);
pure!(
    /// Rotates the hue by `shift` turns (`shift` in `[-0.5, 0.5]`; any value works
    /// modulo 1) through RGB -> HSV -> RGB (torchvision `adjust_hue`). Non-RGB unchanged.
    adjust_hue => hue_in_place(shift: f32)
);
pure!(
    /// `1 - x` for every value.
    invert => invert_in_place()
);
pure!(
    /// Inverts values at or above `threshold` (`x >= threshold` becomes `1 - x`).
    solarize => solarize_in_place(threshold: f32)
);
pure!(
    /// Keeps the `bits` most significant bits of each value quantised to 8 bits
    /// (`bits >= 8` leaves the image unchanged; `0` gives black).
    posterize => posterize_in_place(bits: u8)
);
pure!(
    /// Stretches each channel linearly so its minimum maps to 0 and maximum to 1;
    /// constant channels are unchanged.
    autocontrast => autocontrast_in_place()
);
pure!(
    /// Histogram-equalises each channel on its 8-bit quantisation, with PIL's
    /// `ImageOps.equalize` lookup table; a channel whose histogram gives a zero step
    /// (e.g. a constant one) is unchanged.
    equalize => equalize_in_place()
);

/// In-place [`grayscale`].
pub(crate) fn grayscale_in_place(img: &mut Image) {
    if img.channels != 3 {
        return;
    }
    let n = plane(img);
    let (r, g, b) = rgb_planes(&mut img.data, n);
    for i in 0..n {
        let l = luma(r[i], g[i], b[i]).clamp(0.0, 1.0);
        r[i] = l;
        g[i] = l;
        b[i] = l;
    }
}

/// In-place [`adjust_brightness`].
pub(crate) fn brightness_in_place(img: &mut Image, factor: f32) {
    if !factor.is_finite() {
        return;
    }
    for v in &mut img.data {
        *v = (*v * factor).clamp(0.0, 1.0);
    }
}

/// In-place [`adjust_contrast`].
pub(crate) fn contrast_in_place(img: &mut Image, factor: f32) {
    if !factor.is_finite() {
        return;
    }
    let offset = (1.0 - factor) * mean_intensity(img);
    for v in &mut img.data {
        *v = (factor * *v + offset).clamp(0.0, 1.0);
    }
}

/// In-place [`adjust_saturation`].
pub(crate) fn saturation_in_place(img: &mut Image, factor: f32) {
    if img.channels != 3 || !factor.is_finite() {
        return;
    }
    let n = plane(img);
    let (r, g, b) = rgb_planes(&mut img.data, n);
    let k = 1.0 - factor;
    for i in 0..n {
        let l = k * luma(r[i], g[i], b[i]);
        r[i] = (factor * r[i] + l).clamp(0.0, 1.0);
        g[i] = (factor * g[i] + l).clamp(0.0, 1.0);
        b[i] = (factor * b[i] + l).clamp(0.0, 1.0);
    }
}

/// RGB (each in `[0, 1]`) to HSV (each in `[0, 1]`), as torchvision's `_rgb2hsv`.
pub fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let cr = maxc - minc;
    if cr <= 0.0 {
        return (0.0, 0.0, maxc);
    }
    let s = cr / maxc;
    let rc = (maxc - r) / cr;
    let gc = (maxc - g) / cr;
    let bc = (maxc - b) / cr;
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = (h / 6.0 + 1.0).rem_euclid(1.0);
    (h, s, maxc)
}

/// HSV (each in `[0, 1]`) to RGB, as torchvision's `_hsv2rgb`.
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// In-place [`adjust_hue`].
///
/// Equivalent to `hsv_to_rgb((h + shift) mod 1, s, v)` of [`rgb_to_hsv`], written
/// branch-light: with chroma `c = max - min` and the hue in sextants `h6`, each
/// channel is `max - c * clamp(min(k, 4 - k), 0, 1)` for `k = (n + h6) mod 6`,
/// `n = 5, 3, 1` for R, G, B.
pub(crate) fn hue_in_place(img: &mut Image, shift: f32) {
    if img.channels != 3 || shift == 0.0 || !shift.is_finite() {
        return;
    }
    let n = plane(img);
    let (r, g, b) = rgb_planes(&mut img.data, n);
    let shift6 = (shift - shift.floor()) * 6.0;
    #[inline(always)]
    fn channel(k: f32, maxc: f32, chroma: f32) -> f32 {
        let k = if k >= 6.0 { k - 6.0 } else { k };
        (maxc - chroma * k.min(4.0 - k).clamp(0.0, 1.0)).clamp(0.0, 1.0)
    }
    for i in 0..n {
        let (rv, gv, bv) = (r[i], g[i], b[i]);
        let maxc = rv.max(gv).max(bv);
        let chroma = maxc - rv.min(gv).min(bv);
        if chroma <= 0.0 {
            continue; // grey pixels have no hue
        }
        let h6 = if maxc == rv {
            (gv - bv) / chroma
        } else if maxc == gv {
            2.0 + (bv - rv) / chroma
        } else {
            4.0 + (rv - gv) / chroma
        };
        // h6 is in [-1, 5]; shifted, it lies in [-1, 11): wrap into [0, 6).
        let mut h = h6 + shift6;
        if h < 0.0 {
            h += 6.0;
        } else if h >= 6.0 {
            h -= 6.0;
        }
        r[i] = channel(5.0 + h, maxc, chroma);
        g[i] = channel(3.0 + h, maxc, chroma);
        b[i] = channel(1.0 + h, maxc, chroma);
    }
}

/// In-place [`invert`].
pub(crate) fn invert_in_place(img: &mut Image) {
    for v in &mut img.data {
        *v = (1.0 - *v).clamp(0.0, 1.0);
    }
}

/// In-place [`solarize`].
pub(crate) fn solarize_in_place(img: &mut Image, threshold: f32) {
    for v in &mut img.data {
        if *v >= threshold {
            *v = (1.0 - *v).clamp(0.0, 1.0);
        }
    }
}

/// Quantises a `[0, 1]` value to 8 bits (rounded, clamped).
#[inline]
fn to_u8(v: f32) -> u8 {
    // Round half up (same as `round` for the non-negative values used here);
    // NaN saturates to 0.
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// In-place [`posterize`].
pub(crate) fn posterize_in_place(img: &mut Image, bits: u8) {
    if bits >= 8 {
        return;
    }
    let mask: u8 = !(0xFFu8 >> bits);
    for v in &mut img.data {
        *v = f32::from(to_u8(*v) & mask) / 255.0;
    }
}

/// In-place [`autocontrast`].
pub(crate) fn autocontrast_in_place(img: &mut Image) {
    let n = plane(img);
    if n == 0 {
        return;
    }
    for ch in img.data.chunks_exact_mut(n) {
        let (lo, hi) = ch
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if hi > lo {
            let scale = 1.0 / (hi - lo);
            for v in ch.iter_mut() {
                *v = ((*v - lo) * scale).clamp(0.0, 1.0);
            }
        }
    }
}

/// In-place [`equalize`].
pub(crate) fn equalize_in_place(img: &mut Image) {
    let n = plane(img);
    if n == 0 {
        return;
    }
    for ch in img.data.chunks_exact_mut(n) {
        let mut hist = [0usize; 256];
        for &v in ch.iter() {
            hist[usize::from(to_u8(v))] += 1;
        }
        let last = hist.iter().rev().find(|&&h| h > 0).copied().unwrap_or(0);
        let step = (n - last) / 255;
        if step == 0 {
            continue;
        }
        let mut lut = [0.0f32; 256];
        let mut acc = step / 2;
        for (l, &h) in lut.iter_mut().zip(&hist) {
            *l = (acc / step).min(255) as f32 / 255.0;
            acc += h;
        }
        for v in ch.iter_mut() {
            *v = lut[usize::from(to_u8(*v))];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(r: f32, g: f32, b: f32) -> Image {
        Image {
            channels: 3,
            height: 1,
            width: 1,
            data: vec![r, g, b],
        }
    }

    #[test]
    fn grayscale_of_red_is_0_299() {
        let g = grayscale(&rgb(1.0, 0.0, 0.0));
        for v in g.data {
            assert!((v - 0.299).abs() < 1e-6);
        }
    }

    #[test]
    fn hsv_round_trip() {
        for &(r, g, b) in &[
            (0.1, 0.5, 0.9),
            (1.0, 0.0, 0.0),
            (0.3, 0.3, 0.3),
            (0.9, 0.8, 0.1),
            (0.2, 0.9, 0.4),
            (0.7, 0.1, 0.6),
        ] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-5 && (g - g2).abs() < 1e-5 && (b - b2).abs() < 1e-5);
        }
    }

    #[test]
    fn hue_shift_of_red_by_third_is_green() {
        let out = adjust_hue(&rgb(1.0, 0.0, 0.0), 1.0 / 3.0);
        assert!(
            (out.data[0]).abs() < 1e-5 && (out.data[1] - 1.0).abs() < 1e-5,
            "{:?}",
            out.data
        );
        assert!(out.data[2].abs() < 1e-5);
    }

    #[test]
    fn fast_hue_matches_hsv_round_trip() {
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        for _ in 0..2000 {
            let (r, g, b, shift) = (next(), next(), next(), next() - 0.5);
            let fast = adjust_hue(&rgb(r, g, b), shift);
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb((h + shift).rem_euclid(1.0), s, v);
            for (x, y) in fast.data.iter().zip([r2, g2, b2]) {
                assert!(
                    (x - y).abs() < 1e-4,
                    "{r} {g} {b} {shift}: {:?} vs {:?}",
                    fast.data,
                    (r2, g2, b2)
                );
            }
        }
    }

    #[test]
    fn posterize_keeps_top_bits() {
        let img = Image {
            channels: 1,
            height: 1,
            width: 2,
            data: vec![200.0 / 255.0, 37.0 / 255.0],
        };
        let p = posterize(&img, 2);
        assert_eq!(p.to_u8_chw(), vec![192, 0]);
        assert_eq!(posterize(&img, 8), img);
        assert_eq!(posterize(&img, 0).to_u8_chw(), vec![0, 0]);
    }

    #[test]
    fn equalize_spreads_a_two_level_image() {
        let img = Image {
            channels: 1,
            height: 1,
            width: 4,
            data: vec![0.2, 0.2, 0.4, 0.4],
        };
        // PIL: hist {51: 2, 102: 2}, step = (4 - 2) / 255 = 0 -> unchanged.
        assert_eq!(equalize(&img), img);
        let wide = Image {
            channels: 1,
            height: 1,
            width: 1024,
            data: (0..1024).map(|i| if i < 512 { 0.2 } else { 0.4 }).collect(),
        };
        let e = equalize(&wide).to_u8_chw();
        // step = 512 / 255 = 2; lut[51] = 1 / 2 = 0, lut[102] = (1 + 512) / 2 = 256 -> 255.
        assert_eq!(e[0], 0);
        assert_eq!(e[1023], 255);
    }
}
