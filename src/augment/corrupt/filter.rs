//! Filters and resampling of the corruptions: borders, Gaussian and disk kernels,
//! correlation, motion blur, bilinear and box resampling, affine maps. Planes are
//! row-major `[h * w]` `f32` slices.

/// How indices outside `0..n` are mapped back inside.
#[derive(Clone, Copy, Debug)]
pub(super) enum Border {
    /// Repeat the edge value (`aaa|abcd|ddd`; SciPy `nearest`, ImageMagick `edge`).
    Nearest,
    /// Half-sample symmetric (`cba|abcd|dcb`; SciPy `reflect`).
    Reflect,
    /// Whole-sample symmetric (`dcb|abcd|cba`; OpenCV `BORDER_REFLECT_101`, SciPy
    /// `mirror`).
    Reflect101,
}

fn border_index(i: isize, n: usize, border: Border) -> usize {
    let ni = n as isize;
    if (0..ni).contains(&i) {
        return i as usize;
    }
    match border {
        Border::Nearest => i.clamp(0, ni - 1) as usize,
        Border::Reflect => {
            let p = 2 * ni;
            let m = i.rem_euclid(p);
            (if m < ni { m } else { p - 1 - m }) as usize
        }
        Border::Reflect101 => {
            if n == 1 {
                return 0;
            }
            let p = 2 * ni - 2;
            let m = i.rem_euclid(p);
            (if m < ni { m } else { p - m }) as usize
        }
    }
}

/// SciPy's Gaussian kernel: radius `floor(truncate * sigma + 0.5)`, normalised; `None`
/// for a (near) zero sigma, which SciPy treats as the identity.
fn gaussian_kernel(sigma: f64, truncate: f64) -> Option<Vec<f32>> {
    if sigma <= 1e-15 {
        return None;
    }
    let radius = (truncate * sigma + 0.5) as isize;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    Some(weights.iter().map(|&k| (k / sum) as f32).collect())
}

/// Separable correlation of a plane with a symmetric 1-D kernel along both axes.
fn separable(plane: &[f32], h: usize, w: usize, kernel: &[f32], border: Border) -> Vec<f32> {
    let r = (kernel.len() / 2) as isize;
    let mut tmp = vec![0f32; h * w];
    let mut line = vec![0f32; w.max(h) + 2 * r as usize];
    for y in 0..h {
        let row = &plane[y * w..(y + 1) * w];
        for (j, l) in line.iter_mut().take(w + 2 * r as usize).enumerate() {
            *l = row[border_index(j as isize - r, w, border)];
        }
        for x in 0..w {
            tmp[y * w + x] = kernel.iter().zip(&line[x..]).map(|(k, v)| k * v).sum();
        }
    }
    let mut out = vec![0f32; h * w];
    for x in 0..w {
        for (j, l) in line.iter_mut().take(h + 2 * r as usize).enumerate() {
            *l = tmp[border_index(j as isize - r, h, border) * w + x];
        }
        for y in 0..h {
            out[y * w + x] = kernel.iter().zip(&line[y..]).map(|(k, v)| k * v).sum();
        }
    }
    out
}

/// Gaussian blur of a plane (SciPy `gaussian_filter` with the given truncation).
pub(super) fn gaussian_blur(
    plane: &[f32],
    h: usize,
    w: usize,
    sigma: f64,
    truncate: f64,
    border: Border,
) -> Vec<f32> {
    match gaussian_kernel(sigma, truncate) {
        Some(k) => separable(plane, h, w, &k, border),
        None => plane.to_vec(),
    }
}

/// Non-zero taps `(dy, dx, weight)` of the anti-aliased disk of the reference `disk()`:
/// the indicator of `x^2 + y^2 <= r^2` on `[-L, L]^2` (`L = 8` for `r <= 8`, else
/// `floor(r)`), normalised, then blurred by an OpenCV Gaussian of size 3 (`r <= 8`) or 5
/// and the given sigma, with reflect-101 borders.
pub(super) fn disk_kernel(radius: f64, alias_blur: f64) -> Vec<(isize, isize, f32)> {
    let (l, ksize) = if radius <= 8.0 {
        (8isize, 3usize)
    } else {
        (radius.floor() as isize, 5usize)
    };
    let n = (2 * l + 1) as usize;
    let mut disk = vec![0f32; n * n];
    for y in -l..=l {
        for x in -l..=l {
            if ((x * x + y * y) as f64) <= radius * radius {
                disk[((y + l) as usize) * n + (x + l) as usize] = 1.0;
            }
        }
    }
    let total: f32 = disk.iter().sum();
    if total > 0.0 {
        disk.iter_mut().for_each(|v| *v /= total);
    }
    // cv2.getGaussianKernel(ksize, sigma) with sigma > 0.
    let half = (ksize / 2) as isize;
    let g: Vec<f64> = (-half..=half)
        .map(|i| (-((i * i) as f64) / (2.0 * alias_blur * alias_blur)).exp())
        .collect();
    let gsum: f64 = g.iter().sum();
    let g: Vec<f32> = g.iter().map(|&v| (v / gsum) as f32).collect();
    let blurred = separable(&disk, n, n, &g, Border::Reflect101);
    let mut taps = Vec::new();
    for y in 0..n {
        for x in 0..n {
            let v = blurred[y * n + x];
            if v != 0.0 {
                taps.push((y as isize - l, x as isize - l, v));
            }
        }
    }
    taps
}

/// Correlation with sparse taps `(dy, dx, weight)` (OpenCV `filter2D`, centred anchor):
/// the plane is padded once by the largest offsets, then each tap adds a shifted copy.
pub(super) fn correlate(
    plane: &[f32],
    h: usize,
    w: usize,
    taps: &[(isize, isize, f32)],
    border: Border,
) -> Vec<f32> {
    let py = taps.iter().map(|t| t.0.unsigned_abs()).max().unwrap_or(0);
    let px = taps.iter().map(|t| t.1.unsigned_abs()).max().unwrap_or(0);
    let pw = w + 2 * px;
    let mut padded = vec![0f32; (h + 2 * py) * pw];
    for (r, row) in padded.chunks_exact_mut(pw).enumerate() {
        let sy = border_index(r as isize - py as isize, h, border);
        for (c, v) in row.iter_mut().enumerate() {
            *v = plane[sy * w + border_index(c as isize - px as isize, w, border)];
        }
    }
    let mut out = vec![0f32; h * w];
    for &(dy, dx, k) in taps {
        let oy = (py as isize + dy) as usize;
        let ox = (px as isize + dx) as usize;
        for (y, dst) in out.chunks_exact_mut(w).enumerate() {
            let src = &padded[(y + oy) * pw + ox..(y + oy) * pw + ox + w];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d += k * v;
            }
        }
    }
    out
}

/// ImageMagick `MotionBlurImage`: kernel `exp(-i^2 / (2 sigma^2))`, `i < 2 ceil(radius) +
/// 1`, normalised; tap `i` reads the pixel at offset `(ceil(i cos a - 0.5), ceil(i sin a
/// - 0.5))`, edge pixels repeated.
pub(super) fn motion_blur_plane(
    plane: &[f32],
    h: usize,
    w: usize,
    radius: f64,
    sigma: f64,
    angle_deg: f64,
) -> Vec<f32> {
    let width = (2.0 * radius.ceil() + 1.0).max(1.0) as usize;
    let sigma = sigma.max(1e-12);
    let kernel: Vec<f64> = (0..width)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = kernel.iter().sum();
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    let taps: Vec<(isize, isize, f32)> = kernel
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let ox = (i as f64 * cos - 0.5).ceil() as isize;
            let oy = (i as f64 * sin - 0.5).ceil() as isize;
            (oy, ox, (k / sum) as f32)
        })
        .collect();
    correlate(plane, h, w, &taps, Border::Nearest)
}

/// Bilinear sample at row `y`, column `x` (pixel centres at integers).
pub(super) fn bilinear(plane: &[f32], h: usize, w: usize, y: f64, x: f64, border: Border) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = ((y - y0) as f32, (x - x0) as f32);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let (ya, yb) = (border_index(y0, h, border), border_index(y0 + 1, h, border));
    let (xa, xb) = (border_index(x0, w, border), border_index(x0 + 1, w, border));
    let top = plane[ya * w + xa] * (1.0 - fx) + plane[ya * w + xb] * fx;
    let bottom = plane[yb * w + xa] * (1.0 - fx) + plane[yb * w + xb] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Source coordinates, along one axis of length `n`, of the reference `clipped_zoom`:
/// centre crop of `ceil(n / z)`, SciPy `zoom` (order 1, corner-aligned) to
/// `round(crop * z)` samples, centre trim back to `n`.
pub(super) fn zoom_coords(n: usize, z: f64) -> Vec<f64> {
    let crop = ((n as f64 / z).ceil() as usize).clamp(1, n);
    let top = (n - crop) / 2;
    let zoomed = ((crop as f64 * z).round_ties_even() as usize).max(1);
    let trim = zoomed.saturating_sub(n) / 2;
    (0..n)
        .map(|i| {
            let o = (i + trim).min(zoomed - 1);
            let src = if zoomed > 1 {
                o as f64 * (crop - 1) as f64 / (zoomed - 1) as f64
            } else {
                0.0
            };
            top as f64 + src
        })
        .collect()
}

/// Bilinear resampling of a plane at the grid `ys x xs` of source coordinates (inside
/// the plane).
pub(super) fn resample_separable(
    plane: &[f32],
    h: usize,
    w: usize,
    ys: &[f64],
    xs: &[f64],
) -> Vec<f32> {
    let mut out = Vec::with_capacity(ys.len() * xs.len());
    for &y in ys {
        for &x in xs {
            out.push(bilinear(plane, h, w, y, x, Border::Nearest));
        }
    }
    out
}

/// PIL's `BOX` resampling coefficients from `in_size` to `out_size` samples: for each
/// output, the first input index and the normalised weights.
pub(super) fn box_weights(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    (0..out_size)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(in_size);
            let mut weights: Vec<f32> = (lo..hi)
                .map(|i| {
                    let t = (i as f64 - center + 0.5) / filterscale;
                    if t > -0.5 && t <= 0.5 { 1.0 } else { 0.0 }
                })
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum > 0.0 {
                weights.iter_mut().for_each(|v| *v /= sum);
                (lo, weights)
            } else {
                // Cannot happen for box filters; fall back to the nearest sample.
                (lo.min(in_size - 1), vec![1.0])
            }
        })
        .collect()
}

/// Separable resize of an `h x w` plane with per-axis coefficients (horizontal first,
/// as PIL).
pub(super) fn resize_separable(
    plane: &[f32],
    h: usize,
    w: usize,
    ys: &[(usize, Vec<f32>)],
    xs: &[(usize, Vec<f32>)],
) -> Vec<f32> {
    let out_w = xs.len();
    let mut tmp = vec![0f32; h * out_w];
    for y in 0..h {
        for (x, (lo, k)) in xs.iter().enumerate() {
            tmp[y * out_w + x] = k
                .iter()
                .enumerate()
                .map(|(j, &kv)| kv * plane[y * w + lo + j])
                .sum();
        }
    }
    let mut out = vec![0f32; ys.len() * out_w];
    for (y, (lo, k)) in ys.iter().enumerate() {
        for x in 0..out_w {
            out[y * out_w + x] = k
                .iter()
                .enumerate()
                .map(|(j, &kv)| kv * tmp[(lo + j) * out_w + x])
                .sum();
        }
    }
    out
}

/// The affine map `[[a, b, c], [d, e, f]]` sending the three points `from` onto `to`
/// (OpenCV `getAffineTransform`); `None` when `from` is degenerate.
pub(super) fn affine_from_points(
    from: &[(f64, f64); 3],
    to: &[(f64, f64); 3],
) -> Option<[[f64; 3]; 2]> {
    let [(x0, y0), (x1, y1), (x2, y2)] = *from;
    let det = x0 * (y1 - y2) - y0 * (x1 - x2) + (x1 * y2 - x2 * y1);
    if det.abs() < 1e-9 {
        return None;
    }
    // Solve [x_i y_i 1] [p q r]^T = t_i by Cramer's rule, once per output coordinate.
    let solve = |t: [f64; 3]| -> [f64; 3] {
        let p = (t[0] * (y1 - y2) - y0 * (t[1] - t[2]) + (t[1] * y2 - t[2] * y1)) / det;
        let q = (x0 * (t[1] - t[2]) - t[0] * (x1 - x2) + (x1 * t[2] - x2 * t[1])) / det;
        let r = (x0 * (y1 * t[2] - y2 * t[1]) - y0 * (x1 * t[2] - x2 * t[1])
            + t[0] * (x1 * y2 - x2 * y1))
            / det;
        [p, q, r]
    };
    Some([
        solve([to[0].0, to[1].0, to[2].0]),
        solve([to[0].1, to[1].1, to[2].1]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn border_modes_match_their_definitions() {
        // n = 4 (a b c d = 0 1 2 3).
        let idx = |b| (-3..7).map(|i| border_index(i, 4, b)).collect::<Vec<_>>();
        assert_eq!(idx(Border::Nearest), [0, 0, 0, 0, 1, 2, 3, 3, 3, 3]);
        assert_eq!(idx(Border::Reflect), [2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
        assert_eq!(idx(Border::Reflect101), [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(border_index(-5, 1, Border::Reflect101), 0);
    }

    #[test]
    fn zoom_of_one_is_identity_coordinates() {
        assert_eq!(
            zoom_coords(32, 1.0),
            (0..32).map(f64::from).collect::<Vec<_>>()
        );
    }

    #[test]
    fn box_weights_pick_whole_pixels() {
        // 32 -> 16: each output averages two inputs; 16 -> 32: nearest neighbour.
        let down = box_weights(32, 16);
        assert_eq!(down[3], (6, vec![0.5, 0.5]));
        let up = box_weights(16, 32);
        assert_eq!(up[7].1.iter().filter(|&&v| v > 0.0).count(), 1);
        assert_eq!(up[7].0 + up[7].1.iter().position(|&v| v > 0.0).unwrap(), 3);
    }

    #[test]
    fn affine_from_points_inverts() {
        let from = [(1.0, 2.0), (5.0, -1.0), (-3.0, 0.5)];
        let to = [(2.0, 2.5), (6.5, 0.0), (-2.0, 1.0)];
        let m = affine_from_points(&from, &to).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let x = m[0][0] * f.0 + m[0][1] * f.1 + m[0][2];
            let y = m[1][0] * f.0 + m[1][1] * f.1 + m[1][2];
            assert!((x - t.0).abs() < 1e-9 && (y - t.1).abs() < 1e-9);
        }
    }
}
