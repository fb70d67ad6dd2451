//! Random variates of the corruptions, from the given ChaCha8 generator: uniform,
//! standard normal and Poisson.

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Standard normal variate (Box-Muller).
pub(super) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Poisson variate of mean `lambda >= 0`: multiplication method below 10, otherwise
/// Hörmann's transformed rejection with squeeze (PTRS; "The transformed rejection method
/// for generating Poisson random variables", Insurance: Mathematics and Economics, 1993).
pub(super) fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> f64 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0.0;
    }
    if lambda < 10.0 {
        let limit = (-lambda).exp();
        let mut k = 0.0;
        let mut p = rng.random::<f64>();
        while p > limit {
            k += 1.0;
            p *= rng.random::<f64>();
        }
        return k;
    }
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.random::<f64>() - 0.5;
        let v = rng.random::<f64>();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= v_r {
            return k.max(0.0);
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln()
            <= -lambda + k * loglam - ln_factorial(k)
        {
            return k;
        }
    }
}

/// `ln(k!)` for a non-negative integer-valued `k`: exact sum below 20, Stirling series
/// above (error below 1e-10).
fn ln_factorial(k: f64) -> f64 {
    if k < 20.0 {
        (2..=k as u32).map(|i| f64::from(i).ln()).sum()
    } else {
        let k2 = k * k;
        k * k.ln() - k + 0.5 * (2.0 * PI * k).ln() + 1.0 / (12.0 * k) - 1.0 / (360.0 * k * k2)
            + 1.0 / (1260.0 * k2 * k2 * k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn poisson_and_normal_have_the_right_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for lambda in [0.5, 3.0, 12.0, 60.0, 500.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| poisson(&mut rng, lambda)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let tol = 5.0 * (lambda / n as f64).sqrt();
            assert!((mean - lambda).abs() < tol, "lambda {lambda}: mean {mean}");
            assert!(
                (var / lambda - 1.0).abs() < 0.1,
                "lambda {lambda}: var {var}"
            );
        }
        let zs: Vec<f64> = (0..20_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = zs.iter().sum::<f64>() / zs.len() as f64;
        let var = zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / zs.len() as f64;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05);
    }

    #[test]
    fn ln_factorial_matches_direct_sum() {
        for k in [0u32, 1, 5, 19, 20, 21, 50, 170] {
            let direct: f64 = (2..=k).map(|i| f64::from(i).ln()).sum();
            assert!(
                (ln_factorial(f64::from(k)) - direct).abs() < 1e-8,
                "k = {k}"
            );
        }
    }
}
