//! Per-channel pixel statistics (for input normalisation), in `[0, 1]` units.

use super::dataset::ImageDataset;

/// CIFAR-10 training-set per-channel mean (R, G, B).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// CIFAR-10 training-set per-channel standard deviation over all pixels (R, G, B).
///
/// Note: the SupCon reference code normalises with `(0.2023, 0.1994, 0.2010)`, the
/// mean of per-image deviations, a widespread convention; these are the plain
/// dataset deviations, as [`channel_mean_std`] computes them.
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// CIFAR-100 training-set per-channel mean (R, G, B).
pub const CIFAR100_MEAN: [f32; 3] = [0.5071, 0.4865, 0.4409];
/// CIFAR-100 training-set per-channel standard deviation over all pixels (R, G, B).
pub const CIFAR100_STD: [f32; 3] = [0.2673, 0.2564, 0.2762];
/// Fashion-MNIST training-set mean.
pub const FASHION_MNIST_MEAN: [f32; 1] = [0.2860];
/// Fashion-MNIST training-set standard deviation.
pub const FASHION_MNIST_STD: [f32; 1] = [0.3530];

/// Per-channel mean and (population) standard deviation of all pixels of `ds`, in
/// `[0, 1]` units.
///
/// Safe to divide by: a channel with zero variance, and every channel of an empty
/// dataset, gets a deviation of 1 (and an empty dataset a mean of 0). Pixels beyond
/// the last whole image are ignored.
pub fn channel_mean_std(ds: &ImageDataset) -> (Vec<f32>, Vec<f32>) {
    let c = ds.channels;
    let plane = ds.height * ds.width;
    let image = c * plane;
    let (sum, sq) = pixel_sums(&ds.pixels, c, plane);
    let n = ds
        .pixels
        .len()
        .checked_div(image)
        .map_or(0, |images| images * plane);
    mean_std_from_sums(&sum, &sq, n)
}

/// Per-channel sums of the values and of their squares over the whole CHW images of
/// `channels x plane` bytes in `pixels` (pixels beyond the last whole image ignored).
/// Exact, so sums of parts add up to the sum of the whole in any order.
pub fn pixel_sums(pixels: &[u8], channels: usize, plane: usize) -> (Vec<u64>, Vec<u64>) {
    let mut sum = vec![0u64; channels];
    let mut sq = vec![0u64; channels];
    let image = channels * plane;
    if image > 0 {
        for img in pixels.chunks_exact(image) {
            for (ch, values) in img.chunks_exact(plane).enumerate() {
                let (s, q) = values.iter().fold((0u64, 0u64), |(s, q), &v| {
                    let v = u64::from(v);
                    (s + v, q + v * v)
                });
                if let (Some(a), Some(b)) = (sum.get_mut(ch), sq.get_mut(ch)) {
                    *a += s;
                    *b += q;
                }
            }
        }
    }
    (sum, sq)
}

/// Mean and population std in `[0, 1]` units from [`pixel_sums`] over `n` values per
/// channel (deviation 1 for a constant channel; mean 0 and deviation 1 when `n` is 0).
pub fn mean_std_from_sums(sum: &[u64], sq: &[u64], n: usize) -> (Vec<f32>, Vec<f32>) {
    let n = n as f64;
    let mut mean = Vec::with_capacity(sum.len());
    let mut std = Vec::with_capacity(sum.len());
    for (&s, &q) in sum.iter().zip(sq) {
        if n == 0.0 {
            mean.push(0.0);
            std.push(1.0);
            continue;
        }
        let m = s as f64 / n / 255.0;
        let var = (q as f64 / n / (255.0 * 255.0) - m * m).max(0.0);
        let sd = var.sqrt();
        mean.push(m as f32);
        std.push(if sd > 0.0 { sd as f32 } else { 1.0 });
    }
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_of_known_pixels() {
        let ds = ImageDataset {
            channels: 2,
            height: 1,
            width: 2,
            pixels: vec![0, 255, 51, 51, 255, 0, 51, 51],
            labels: vec![0, 1],
            class_names: vec!["a".into(), "b".into()],
            stream: None,
        };
        let (m, s) = channel_mean_std(&ds);
        assert!((m[0] - 0.5).abs() < 1e-6 && (s[0] - 0.5).abs() < 1e-6);
        assert!((m[1] - 0.2).abs() < 1e-6 && (s[1] - 1.0).abs() < 1e-6);
        let empty = ImageDataset {
            pixels: vec![],
            labels: vec![],
            ..ds
        };
        assert_eq!(channel_mean_std(&empty), (vec![0.0; 2], vec![1.0; 2]));
    }
}
