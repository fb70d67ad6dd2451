//! The noise corruptions: gaussian, shot (Poisson) and impulse (salt-and-pepper).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::plane::map_values;
use super::random::{poisson, standard_normal};
use super::table::{Table, guarded};
use crate::data::Image;

const GAUSSIAN_NOISE: Table<f64> = Table {
    cifar: [0.04, 0.06, 0.08, 0.09, 0.10],
    imagenet: [0.08, 0.12, 0.18, 0.26, 0.38],
};

const SHOT_NOISE: Table<f64> = Table {
    cifar: [500.0, 250.0, 100.0, 75.0, 50.0],
    imagenet: [60.0, 25.0, 12.0, 5.0, 3.0],
};

const IMPULSE_NOISE: Table<f64> = Table {
    cifar: [0.01, 0.02, 0.03, 0.05, 0.07],
    imagenet: [0.03, 0.06, 0.09, 0.17, 0.27],
};

corruption_fn!(
    /// Gaussian noise: `clip(x + N(0, sigma^2))` per value, `sigma` = 0.04..0.10
    /// (CIFAR-10-C) or 0.08..0.38 (ImageNet-C) (Hendrycks & Dietterich, ICLR 2019).
    gaussian_noise, gaussian_noise_at, rng
);

corruption_fn!(
    /// Shot noise: `clip(Poisson(x * c) / c)` per value, `c` = 500..50 (CIFAR-10-C) or
    /// 60..3 (ImageNet-C) (Hendrycks & Dietterich, ICLR 2019).
    shot_noise, shot_noise_at, rng
);

corruption_fn!(
    /// Impulse (salt-and-pepper) noise: each value independently becomes 0 or 1 (equally
    /// likely) with probability `amount` = 0.01..0.07 (CIFAR-10-C) or 0.03..0.27
    /// (ImageNet-C), as `skimage.util.random_noise(mode="s&p")` (Hendrycks & Dietterich,
    /// ICLR 2019).
    impulse_noise, impulse_noise_at, rng
);

pub(super) fn gaussian_noise_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let sigma = GAUSSIAN_NOISE.get(image, level);
    map_values(image, |v| v + (sigma * standard_normal(rng)) as f32)
}

pub(super) fn shot_noise_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let c = SHOT_NOISE.get(image, level);
    map_values(image, |v| {
        (poisson(rng, f64::from(v.max(0.0)) * c) / c) as f32
    })
}

pub(super) fn impulse_noise_at(image: &Image, level: usize, rng: &mut ChaCha8Rng) -> Image {
    let amount = IMPULSE_NOISE.get(image, level);
    map_values(image, |v| {
        let flipped = rng.random::<f64>() <= amount;
        let salt = rng.random::<f64>() <= 0.5;
        match (flipped, salt) {
            (true, true) => 1.0,
            (true, false) => 0.0,
            _ => v,
        }
    })
}
