//! Seeded randomness of the data pipeline: every random draw (a view's augmentation, an
//! epoch's order) comes from a ChaCha8 RNG keyed by a hash of the seed, the epoch and the
//! sample, so batches never depend on the worker count or timing.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// SplitMix64's output function: a bijective 64-bit mixer.
#[inline]
fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 RNG keyed by hashing `parts` in order through SplitMix64.
pub(crate) fn derive_rng(parts: &[u64]) -> ChaCha8Rng {
    let mut h = 0x243F_6A88_85A3_08D3; // digits of pi: a fixed non-zero start
    for &p in parts {
        h = splitmix64(h ^ splitmix64(p));
    }
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        h = splitmix64(h);
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

const DOMAIN_VIEW: u64 = 0x7669_6577; // "view"
const DOMAIN_SHUFFLE: u64 = 0x7368_7566; // "shuf"

/// The RNG of view `view` of dataset image `index` in epoch `epoch`.
pub fn view_rng(seed: u64, epoch: u64, index: u64, view: u64) -> ChaCha8Rng {
    derive_rng(&[DOMAIN_VIEW, seed, epoch, index, view])
}

/// The seeded permutation of `0..len` used for epoch `epoch`.
pub fn shuffled_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut derive_rng(&[DOMAIN_SHUFFLE, seed, epoch]));
    order
}
