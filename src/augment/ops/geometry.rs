//! Geometric primitives: antialiased bilinear resize and crop-resize with
//! precomputed per-row/per-column weights, torchvision's random-resized-crop
//! sampling, horizontal flip and affine warps (shear, translate, rotate).

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::augment::error::AugmentError;
use crate::data::Image;

/// How an affine warp samples the source image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// Nearest neighbour (torchvision's default for AutoAugment/RandAugment).
    #[default]
    Nearest,
    /// Bilinear between the four nearest source pixels.
    Bilinear,
}

impl Interpolation {
    /// Every variant, in declaration order.
    pub const ALL: [Self; 2] = [Self::Nearest, Self::Bilinear];

    /// The canonical name (`nearest`, `bilinear`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Nearest => "nearest",
            Self::Bilinear => "bilinear",
        }
    }
}

impl fmt::Display for Interpolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Interpolation {
    type Err = AugmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| AugmentError::UnknownName {
                kind: "interpolation",
                name: s.to_string(),
                expected: "nearest, bilinear",
            })
    }
}

/// A crop window in pixels: rows `top..top + height`, columns `left..left + width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CropBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
}

impl CropBox {
    /// The window covering a whole `height x width` image.
    pub const fn full(height: usize, width: usize) -> Self {
        Self {
            top: 0,
            left: 0,
            height,
            width,
        }
    }

    /// This window clipped to a `height x width` image (possibly empty).
    pub fn clip(self, height: usize, width: usize) -> Self {
        let top = self.top.min(height);
        let left = self.left.min(width);
        Self {
            top,
            left,
            height: self.height.min(height - top),
            width: self.width.min(width - left),
        }
    }
}

/// Precomputed 1-D resampling taps: output index `o` reads source samples
/// `start[o] .. start[o] + count[o]` with weights `weights[o * stride ..]`.
struct Taps {
    start: Vec<usize>,
    count: Vec<usize>,
    stride: usize,
    weights: Vec<f32>,
}

/// Triangle-filter (bilinear) taps mapping `in_len` source samples starting at
/// `offset` onto `out_len` outputs, with pixel centres aligned (`align_corners =
/// false`). When shrinking, the filter is widened by the scale factor
/// (antialiasing, as PIL and torchvision's `antialias=True` do); when enlarging it
/// is plain bilinear interpolation with edge clamping.
fn bilinear_taps(offset: usize, in_len: usize, out_len: usize) -> Taps {
    let scale = in_len as f64 / out_len as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // triangle support is 1
    let stride = (support.ceil() as usize) * 2 + 1;
    let mut start = Vec::with_capacity(out_len);
    let mut count = Vec::with_capacity(out_len);
    let mut weights = vec![0.0f32; out_len * stride];
    let mut tmp = vec![0.0f64; stride];
    for o in 0..out_len {
        let center = (o as f64 + 0.5) * scale;
        let lo = ((center - support + 0.5).floor().max(0.0) as usize).min(in_len - 1);
        let hi = ((center + support + 0.5).floor().max(0.0) as usize).clamp(lo + 1, in_len);
        let n = (hi - lo).min(stride);
        let mut total = 0.0;
        for (k, t) in tmp.iter_mut().enumerate().take(n) {
            let x = ((lo + k) as f64 - center + 0.5) / filter_scale;
            *t = (1.0 - x.abs()).max(0.0);
            total += *t;
        }
        let row = &mut weights[o * stride..o * stride + n];
        if total > 0.0 {
            for (w, t) in row.iter_mut().zip(&tmp) {
                *w = (t / total) as f32;
            }
        } else {
            row[0] = 1.0;
        }
        start.push(offset + lo);
        count.push(n);
    }
    Taps {
        start,
        count,
        stride,
        weights,
    }
}

/// Crops `crop` (clipped to the image) and resizes it to `out_height x out_width`
/// with antialiased bilinear filtering; one pass per axis with precomputed weights.
///
/// An empty crop or output gives a black image of the output shape.
pub fn resized_crop(img: &Image, crop: CropBox, out_height: usize, out_width: usize) -> Image {
    let crop = crop.clip(img.height, img.width);
    let c = img.channels;
    if crop.height == 0 || crop.width == 0 || out_height == 0 || out_width == 0 {
        return Image::zeros(c, out_height, out_width);
    }
    if crop == CropBox::full(img.height, img.width)
        && out_height == img.height
        && out_width == img.width
    {
        return img.clone();
    }
    let tx = bilinear_taps(crop.left, crop.width, out_width);
    let ty = bilinear_taps(0, crop.height, out_height);
    let (h, w) = (img.height, img.width);

    // Horizontal pass over the crop's rows: tmp[c][row][ox].
    let mut tmp = vec![0.0f32; c * crop.height * out_width];
    for ch in 0..c {
        for r in 0..crop.height {
            let src = &img.data[(ch * h + crop.top + r) * w..][..w];
            let dst = &mut tmp[(ch * crop.height + r) * out_width..][..out_width];
            for (ox, d) in dst.iter_mut().enumerate() {
                let s = &src[tx.start[ox]..tx.start[ox] + tx.count[ox]];
                let wts = &tx.weights[ox * tx.stride..];
                *d = s.iter().zip(wts).map(|(a, b)| a * b).sum();
            }
        }
    }

    // Vertical pass: out[c][oy] = sum_k w_k * tmp[c][start + k].
    let mut out = Image::zeros(c, out_height, out_width);
    for ch in 0..c {
        let plane = &tmp[ch * crop.height * out_width..][..crop.height * out_width];
        for oy in 0..out_height {
            let dst = &mut out.data[(ch * out_height + oy) * out_width..][..out_width];
            for k in 0..ty.count[oy] {
                let wgt = ty.weights[oy * ty.stride + k];
                let src = &plane[(ty.start[oy] + k) * out_width..][..out_width];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += wgt * s;
                }
            }
            for d in dst.iter_mut() {
                *d = d.clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// Resizes the whole image to `out_height x out_width` (antialiased bilinear).
pub fn resize(img: &Image, out_height: usize, out_width: usize) -> Image {
    resized_crop(
        img,
        CropBox::full(img.height, img.width),
        out_height,
        out_width,
    )
}

/// Uniform sample in `[lo, hi)` (or `lo` when the range is empty).
fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Samples a crop window the way torchvision's `RandomResizedCrop.get_params`
/// does: up to 10 attempts drawing an area fraction uniformly from `scale` and a
/// log-uniform aspect ratio (width / height) from `ratio`, keeping the first window
/// that fits; otherwise a centred crop with the aspect ratio clamped to `ratio`.
///
/// Never panics: degenerate inputs (empty image, invalid ranges) fall back to the
/// centred crop.
pub fn random_resized_crop_box<R: Rng + ?Sized>(
    height: usize,
    width: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut R,
) -> CropBox {
    let area = (height * width) as f64;
    let (log_lo, log_hi) = (f64::from(ratio.0).ln(), f64::from(ratio.1).ln());
    for _ in 0..10 {
        let target = area * uniform(rng, f64::from(scale.0), f64::from(scale.1));
        let aspect = uniform(rng, log_lo, log_hi).exp();
        let w = (target * aspect).sqrt().round_ties_even();
        let h = (target / aspect).sqrt().round_ties_even();
        // `as usize` saturates NaN to 0, which the check rejects.
        let (w, h) = (w as usize, h as usize);
        if w > 0 && w <= width && h > 0 && h <= height {
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return CropBox {
                top,
                left,
                height: h,
                width: w,
            };
        }
    }
    // Fallback: central crop.
    let in_ratio = width as f64 / height.max(1) as f64;
    let (min_r, max_r) = (
        f64::from(ratio.0.min(ratio.1)),
        f64::from(ratio.0.max(ratio.1)),
    );
    let (h, w) = if in_ratio < min_r {
        let w = width;
        (
            ((w as f64 / min_r).round_ties_even() as usize).min(height),
            w,
        )
    } else if in_ratio > max_r {
        let h = height;
        (
            h,
            ((h as f64 * max_r).round_ties_even() as usize).min(width),
        )
    } else {
        (height, width)
    };
    CropBox {
        top: (height - h) / 2,
        left: (width - w) / 2,
        height: h,
        width: w,
    }
}

/// torchvision's `RandomResizedCrop`: a crop from [`random_resized_crop_box`]
/// resized to `out_height x out_width` with [`resized_crop`].
pub fn random_resized_crop<R: Rng + ?Sized>(
    img: &Image,
    out_height: usize,
    out_width: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut R,
) -> Image {
    let crop = random_resized_crop_box(img.height, img.width, scale, ratio, rng);
    resized_crop(img, crop, out_height, out_width)
}

/// Mirrors the image left-right.
pub fn hflip(img: &Image) -> Image {
    let mut out = img.clone();
    hflip_in_place(&mut out);
    out
}

/// In-place [`hflip`].
pub(crate) fn hflip_in_place(img: &mut Image) {
    if img.width == 0 {
        return;
    }
    for row in img.data.chunks_exact_mut(img.width) {
        row.reverse();
    }
}

/// Warps the image with an inverse affine map: the output pixel whose centre is
/// `(x, y)` (so `x = col + 0.5`) takes the source value at
/// `(m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5])`, in pixel units with the
/// origin at the top-left corner. Source points outside the image read `fill`
/// (clamped to `[0, 1]`). A map with a non-finite entry (a NaN angle, an infinite shear)
/// leaves the image unchanged.
pub fn warp_affine(
    img: &Image,
    inverse: [f32; 6],
    interpolation: Interpolation,
    fill: f32,
) -> Image {
    if inverse.iter().any(|v| !v.is_finite()) {
        return img.clone();
    }
    let (c, h, w) = (img.channels, img.height, img.width);
    let fill = if fill.is_nan() {
        0.0
    } else {
        fill.clamp(0.0, 1.0)
    };
    let mut out = Image::zeros(c, h, w);
    let plane = h * w;
    let [a, b, tx, d, e, ty] = inverse.map(f64::from);
    match interpolation {
        Interpolation::Nearest => {
            // Source offset per output pixel, or usize::MAX for "outside".
            let mut map = Vec::with_capacity(plane);
            for y in 0..h {
                let py = y as f64 + 0.5;
                for x in 0..w {
                    let px = x as f64 + 0.5;
                    let sx = (a * px + b * py + tx).floor();
                    let sy = (d * px + e * py + ty).floor();
                    let inside = sx >= 0.0 && sy >= 0.0 && sx < w as f64 && sy < h as f64;
                    map.push(if inside {
                        sy as usize * w + sx as usize
                    } else {
                        usize::MAX
                    });
                }
            }
            for ch in 0..c {
                let src = &img.data[ch * plane..][..plane];
                let dst = &mut out.data[ch * plane..][..plane];
                for (o, &m) in dst.iter_mut().zip(&map) {
                    *o = if m == usize::MAX { fill } else { src[m] };
                }
            }
        }
        Interpolation::Bilinear => {
            // (four source offsets or MAX, four weights) per output pixel.
            let mut map: Vec<([usize; 4], [f32; 4])> = Vec::with_capacity(plane);
            for y in 0..h {
                let py = y as f64 + 0.5;
                for x in 0..w {
                    let px = x as f64 + 0.5;
                    let sx = a * px + b * py + tx - 0.5;
                    let sy = d * px + e * py + ty - 0.5;
                    let (x0, y0) = (sx.floor(), sy.floor());
                    let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                    let mut idx = [usize::MAX; 4];
                    for (k, (dy, dx)) in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
                        .into_iter()
                        .enumerate()
                    {
                        let (xx, yy) = (x0 + dx, y0 + dy);
                        if xx >= 0.0 && yy >= 0.0 && xx < w as f64 && yy < h as f64 {
                            idx[k] = yy as usize * w + xx as usize;
                        }
                    }
                    let wts = [
                        (1.0 - fx) * (1.0 - fy),
                        fx * (1.0 - fy),
                        (1.0 - fx) * fy,
                        fx * fy,
                    ];
                    map.push((idx, wts));
                }
            }
            for ch in 0..c {
                let src = &img.data[ch * plane..][..plane];
                let dst = &mut out.data[ch * plane..][..plane];
                for (o, (idx, wts)) in dst.iter_mut().zip(&map) {
                    let mut v = 0.0;
                    for k in 0..4 {
                        let s = if idx[k] == usize::MAX {
                            fill
                        } else {
                            src[idx[k]]
                        };
                        v += wts[k] * s;
                    }
                    *o = v.clamp(0.0, 1.0);
                }
            }
        }
    }
    out
}

/// Horizontal shear: output `(x, y)` samples the source at `(x + factor * y, y)`
/// (PIL's affine `(1, factor, 0, 0, 1, 0)`, as the original AutoAugment code).
pub fn shear_x(img: &Image, factor: f32, interpolation: Interpolation, fill: f32) -> Image {
    warp_affine(img, [1.0, factor, 0.0, 0.0, 1.0, 0.0], interpolation, fill)
}

/// Vertical shear: output `(x, y)` samples the source at `(x, y + factor * x)`.
pub fn shear_y(img: &Image, factor: f32, interpolation: Interpolation, fill: f32) -> Image {
    warp_affine(img, [1.0, 0.0, 0.0, factor, 1.0, 0.0], interpolation, fill)
}

/// Shifts the content by `(dx, dy)` pixels (right and down for positive values):
/// output `(x, y)` samples the source at `(x - dx, y - dy)`.
pub fn translate(img: &Image, dx: f32, dy: f32, interpolation: Interpolation, fill: f32) -> Image {
    warp_affine(img, [1.0, 0.0, -dx, 0.0, 1.0, -dy], interpolation, fill)
}

/// Rotates the content by `degrees` counter-clockwise about the image centre
/// (torchvision's convention), keeping the size; uncovered corners read `fill`.
pub fn rotate(img: &Image, degrees: f32, interpolation: Interpolation, fill: f32) -> Image {
    let (s, c) = f64::from(degrees).to_radians().sin_cos();
    let (cx, cy) = (img.width as f64 / 2.0, img.height as f64 / 2.0);
    let m = [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy];
    warp_affine(img, m.map(|v| v as f32), interpolation, fill)
}

/// Cutout (DeVries & Taylor 2017): sets rows `center_y - size/2 .. center_y +
/// size - size/2` and the same columns around `center_x` (clipped to the image)
/// to `fill` in every channel.
pub fn cutout(img: &Image, size: usize, center_y: usize, center_x: usize, fill: f32) -> Image {
    let mut out = img.clone();
    cutout_in_place(&mut out, size, center_y, center_x, fill);
    out
}

/// In-place [`cutout`].
pub(crate) fn cutout_in_place(
    img: &mut Image,
    size: usize,
    center_y: usize,
    center_x: usize,
    fill: f32,
) {
    let (h, w) = (img.height, img.width);
    let fill = if fill.is_nan() {
        0.0
    } else {
        fill.clamp(0.0, 1.0)
    };
    let y0 = center_y.saturating_sub(size / 2).min(h);
    let x0 = center_x.saturating_sub(size / 2).min(w);
    let y1 = center_y.saturating_add(size - size / 2).min(h);
    let x1 = center_x.saturating_add(size - size / 2).min(w);
    if y0 >= y1 || x0 >= x1 {
        return;
    }
    for ch in img.data.chunks_exact_mut((h * w).max(1)) {
        for y in y0..y1 {
            ch[y * w + x0..y * w + x1].fill(fill);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ramp(c: usize, h: usize, w: usize) -> Image {
        let n = c * h * w;
        Image {
            channels: c,
            height: h,
            width: w,
            data: (0..n).map(|i| i as f32 / n as f32).collect(),
        }
    }

    #[test]
    fn taps_are_identity_at_scale_one() {
        let t = bilinear_taps(3, 8, 8);
        for o in 0..8 {
            assert_eq!(t.start[o], 3 + o);
            assert!((t.weights[o * t.stride] - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn downscale_is_antialiased() {
        // Shrinking 8 -> 4 widens the triangle to 4 taps, weights 1/8, 3/8, 3/8, 1/8.
        let img = Image {
            channels: 1,
            height: 1,
            width: 8,
            data: vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        };
        let out = resize(&img, 1, 4);
        for v in &out.data[1..3] {
            assert!((v - 0.5).abs() < 1e-6, "{:?}", out.data);
        }
        // At the border the taps are renormalised: (0.75 * 0 + 0.75 * 1 + 0.25 * 0) / 1.75.
        assert!((out.data[0] - 0.75 / 1.75).abs() < 1e-6);
    }

    #[test]
    fn upscale_interpolates_linearly() {
        let img = Image {
            channels: 1,
            height: 1,
            width: 2,
            data: vec![0.0, 1.0],
        };
        let out = resize(&img, 1, 4);
        let want = [0.0, 0.25, 0.75, 1.0];
        for (v, w) in out.data.iter().zip(want) {
            assert!((v - w).abs() < 1e-6, "{:?}", out.data);
        }
    }

    #[test]
    fn crop_box_fits_and_is_deterministic() {
        let mut a = ChaCha8Rng::seed_from_u64(1);
        let mut b = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let x = random_resized_crop_box(32, 28, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut a);
            assert_eq!(
                x,
                random_resized_crop_box(32, 28, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut b)
            );
            assert!(x.height > 0 && x.width > 0);
            assert!(x.top + x.height <= 32 && x.left + x.width <= 28);
        }
    }

    #[test]
    fn crop_box_falls_back_to_center() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // Scale > 1 can never fit: centre crop with ratio clamped to 4/3.
        let b = random_resized_crop_box(10, 40, (5.0, 6.0), (0.75, 4.0 / 3.0), &mut rng);
        assert_eq!(
            b,
            CropBox {
                top: 0,
                left: 13,
                height: 10,
                width: 13
            }
        );
        let e = random_resized_crop_box(0, 0, (0.2, 1.0), (0.75, 1.33), &mut rng);
        assert_eq!(e, CropBox::full(0, 0));
    }

    #[test]
    fn rotate_90_moves_bottom_to_right() {
        let img = ramp(1, 4, 4);
        let r = rotate(&img, 90.0, Interpolation::Nearest, 0.0);
        // CCW by 90: output (row y, col x) = input (row x, col w-1-y).
        for y in 0..4 {
            for x in 0..4 {
                assert_eq!(r.get(0, y, x), img.get(0, x, 3 - y));
            }
        }
        assert_eq!(rotate(&img, 0.0, Interpolation::Bilinear, 0.0), img);
    }

    #[test]
    fn translate_shifts_and_fills() {
        let img = ramp(2, 3, 5);
        let t = translate(&img, 2.0, 0.0, Interpolation::Nearest, 0.25);
        for c in 0..2 {
            for y in 0..3 {
                assert_eq!(t.get(c, y, 0), 0.25);
                assert_eq!(t.get(c, y, 1), 0.25);
                for x in 2..5 {
                    assert_eq!(t.get(c, y, x), img.get(c, y, x - 2));
                }
            }
        }
    }

    #[test]
    fn cutout_fills_a_clipped_square() {
        let img = ramp(3, 6, 6);
        let c = cutout(&img, 4, 0, 5, 0.5);
        for ch in 0..3 {
            for y in 0..6 {
                for x in 0..6 {
                    let inside = y < 2 && (3..6).contains(&x);
                    let want = if inside { 0.5 } else { img.get(ch, y, x) };
                    assert_eq!(c.get(ch, y, x), want, "({ch},{y},{x})");
                }
            }
        }
        assert_eq!(cutout(&img, 0, 3, 3, 0.5), img);
    }

    #[test]
    fn interpolation_names_round_trip() {
        for i in Interpolation::ALL {
            assert_eq!(i.to_string().parse::<Interpolation>().unwrap(), i);
        }
        assert!("cubic".parse::<Interpolation>().is_err());
    }
}
