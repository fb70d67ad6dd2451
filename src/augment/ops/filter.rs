//! Neighbourhood filters: separable Gaussian blur (SimCLR's blur) and
//! torchvision's sharpness adjustment.

use crate::data::Image;

/// SimCLR's blur kernel size for an image: about 10% of the shorter side, made
/// odd, at least 3 (`2 * (⌊0.1 * min(h, w)⌋ / 2) + 1`).
pub fn blur_kernel_size(height: usize, width: usize) -> usize {
    let k = height.min(width) / 10;
    (2 * (k / 2) + 1).max(3)
}

/// Normalised 1-D Gaussian weights for an odd `kernel_size`.
fn gaussian_kernel(kernel_size: usize, sigma: f32) -> Vec<f32> {
    let half = (kernel_size / 2) as f32;
    let sigma = f64::from(sigma.max(1e-3));
    let raw: Vec<f64> = (0..kernel_size)
        .map(|i| {
            let x = f64::from(i as f32 - half) / sigma;
            (-0.5 * x * x).exp()
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|w| (w / total) as f32).collect()
}

/// Reflect-101 index (`-1 -> 1`, `n -> n - 2`) for any offset, as torchvision's
/// `reflect` padding; lengths of 1 always map to 0.
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m >= n as isize { period - m } else { m }) as usize
}

/// Gaussian blur with standard deviation `sigma` (pixels) and an odd
/// `kernel_size` (even sizes are rounded up), reflect padding, applied separably.
/// Values stay in `[0, 1]`.
pub fn gaussian_blur(img: &Image, kernel_size: usize, sigma: f32) -> Image {
    let (c, h, w) = (img.channels, img.height, img.width);
    let k = kernel_size.max(1) | 1;
    if h == 0 || w == 0 || k == 1 {
        return img.clone();
    }
    let kernel = gaussian_kernel(k, sigma);
    let half = (k / 2) as isize;
    // Column index table for the horizontal pass, row table for the vertical one.
    let xs: Vec<usize> = (0..w as isize)
        .flat_map(|x| (-half..=half).map(move |d| reflect(x + d, w)))
        .collect();
    let ys: Vec<usize> = (0..h as isize)
        .flat_map(|y| (-half..=half).map(move |d| reflect(y + d, h)))
        .collect();
    let plane = h * w;
    let mut tmp = vec![0.0f32; plane];
    let mut out = Image::zeros(c, h, w);
    for ch in 0..c {
        let src = &img.data[ch * plane..][..plane];
        for y in 0..h {
            let row = &src[y * w..][..w];
            for x in 0..w {
                let idx = &xs[x * k..][..k];
                tmp[y * w + x] = idx.iter().zip(&kernel).map(|(&i, &g)| row[i] * g).sum();
            }
        }
        let dst = &mut out.data[ch * plane..][..plane];
        for y in 0..h {
            let drow = &mut dst[y * w..][..w];
            for (&sy, &g) in ys[y * k..][..k].iter().zip(&kernel) {
                for (d, s) in drow.iter_mut().zip(&tmp[sy * w..][..w]) {
                    *d += g * s;
                }
            }
            for d in drow.iter_mut() {
                *d = d.clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// torchvision's `adjust_sharpness`: blends the image with a smoothed copy
/// (3x3 kernel `[[1,1,1],[1,5,1],[1,1,1]] / 13` on interior pixels, border pixels
/// kept): `factor * x + (1 - factor) * smooth`, clamped. `factor` 1 is the
/// identity, 0 the smoothed image, 2 a sharpened one.
pub fn adjust_sharpness(img: &Image, factor: f32) -> Image {
    let mut out = img.clone();
    sharpness_in_place(&mut out, factor);
    out
}

/// In-place [`adjust_sharpness`].
pub(crate) fn sharpness_in_place(img: &mut Image, factor: f32) {
    let (h, w) = (img.height, img.width);
    // A non-finite factor leaves the image unchanged, as in the colour ops.
    if h < 3 || w < 3 || factor == 1.0 || !factor.is_finite() {
        return;
    }
    let plane = h * w;
    let mut smooth = vec![0.0f32; plane];
    for ch in img.data.chunks_exact_mut(plane) {
        smooth.copy_from_slice(ch);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let mut s = 4.0 * ch[y * w + x];
                for yy in y - 1..=y + 1 {
                    s += ch[yy * w + x - 1] + ch[yy * w + x] + ch[yy * w + x + 1];
                }
                smooth[y * w + x] = s / 13.0;
            }
        }
        for (v, s) in ch.iter_mut().zip(&smooth) {
            *v = (factor * *v + (1.0 - factor) * s).clamp(0.0, 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sizes_follow_simclr() {
        assert_eq!(blur_kernel_size(32, 32), 3);
        assert_eq!(blur_kernel_size(28, 28), 3);
        assert_eq!(blur_kernel_size(96, 96), 9);
        assert_eq!(blur_kernel_size(224, 224), 23);
        assert_eq!(blur_kernel_size(0, 5), 3);
    }

    #[test]
    fn reflect_indices() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(-7, 3), 1);
        assert_eq!(reflect(4, 1), 0);
    }

    #[test]
    fn blur_keeps_constant_and_mass() {
        let img = Image {
            channels: 1,
            height: 5,
            width: 6,
            data: vec![0.4; 30],
        };
        let b = gaussian_blur(&img, 5, 1.5);
        for v in b.data {
            assert!((v - 0.4).abs() < 1e-6);
        }
    }

    #[test]
    fn sharpness_one_is_identity_and_zero_smooths_interior() {
        let mut data = vec![0.0; 9];
        data[4] = 1.0;
        let img = Image {
            channels: 1,
            height: 3,
            width: 3,
            data,
        };
        assert_eq!(adjust_sharpness(&img, 1.0), img);
        let s = adjust_sharpness(&img, 0.0);
        assert!((s.data[4] - 5.0 / 13.0).abs() < 1e-6);
        assert_eq!(s.data[0], 0.0);
    }
}
