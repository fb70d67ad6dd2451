//! Procedural textures: the plasma fractal of fog and frost, and the synthesised frost
//! layer (haze plus branching ice needles).

use std::f64::consts::PI;

use rand_chacha::ChaCha8Rng;

use super::filter::{Border, gaussian_blur};
use super::random::uniform;

/// Haze of the synthesised frost: `offset + scale * plasma`.
const FROST_HAZE: (f64, f64) = (0.35, 0.4);

/// Peak brightness range of the synthesised frost's ice needles.
const FROST_NEEDLE: (f64, f64) = (0.6, 1.0);

/// Number of ice needles of the synthesised frost.
const FROST_NEEDLES: usize = 60;

/// RGB gains of the synthesised frost (bluish white).
pub(super) const FROST_TINT: [f32; 3] = [0.84, 0.92, 1.0];

/// Diamond-square plasma fractal of side `n` (a power of two), toroidal, min-max
/// normalised to `[0, 1]`, row-major: the reference `plasma_fractal` (after FLHerne's
/// `mapgen`): start at 0 with wibble 100, each step sets square centres and diamond
/// points to the mean of their four neighbours plus `wibble * U(-wibble, wibble)`, and
/// divides the wibble by `decay`.
pub(super) fn plasma_fractal(n: usize, decay: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut m = vec![0f64; n * n];
    let mut step = n;
    let mut wibble = 100.0f64;
    let noise = |rng: &mut ChaCha8Rng, wibble: f64| wibble * uniform(rng, -wibble, wibble);
    while step >= 2 {
        let half = step / 2;
        let g = n / step;
        let at = |r: usize, c: usize| r * n + c;
        // Squares: centre = mean of the four corners.
        for i in 0..g {
            for j in 0..g {
                let (r0, r1) = (i * step, ((i + 1) % g) * step);
                let (c0, c1) = (j * step, ((j + 1) % g) * step);
                let sum = m[at(r0, c0)] + m[at(r1, c0)] + m[at(r0, c1)] + m[at(r1, c1)];
                m[at(r0 + half, c0 + half)] = sum / 4.0 + noise(rng, wibble);
            }
        }
        // Diamonds on the corner rows: centres above and below, corners left and right.
        for i in 0..g {
            for j in 0..g {
                let (r, c) = (i * step, j * step + half);
                let up = ((i + g - 1) % g) * step + half;
                let sum = m[at(r + half, c)]
                    + m[at(up, c)]
                    + m[at(r, j * step)]
                    + m[at(r, ((j + 1) % g) * step)];
                m[at(r, c)] = sum / 4.0 + noise(rng, wibble);
            }
        }
        // Diamonds on the centre rows: centres left and right, corners above and below.
        for i in 0..g {
            for j in 0..g {
                let (r, c) = (i * step + half, j * step);
                let left = ((j + g - 1) % g) * step + half;
                let sum = m[at(r, c + half)]
                    + m[at(r, left)]
                    + m[at(i * step, c)]
                    + m[at(((i + 1) % g) * step, c)];
                m[at(r, c)] = sum / 4.0 + noise(rng, wibble);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = m.iter().copied().fold(f64::INFINITY, f64::min);
    let max = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = max - min;
    m.iter()
        .map(|&v| if range > 0.0 { (v - min) / range } else { 0.0 })
        .collect()
}

/// Synthesised gray frost texture in `[0, 1]` (see [`frost`]).
pub(super) fn frost_layer(h: usize, w: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let size = h.max(w) as f64;
    let side = h.max(w).next_power_of_two().max(2);
    let haze = plasma_fractal(side, 2.0, rng);
    let thickness = (size / 128.0).max(1.0);
    let mut crystals = vec![0f32; h * w];
    for _ in 0..FROST_NEEDLES {
        let needle = Needle {
            x: uniform(rng, 0.0, w as f64),
            y: uniform(rng, 0.0, h as f64),
            angle: uniform(rng, 0.0, 2.0 * PI),
            length: uniform(rng, 0.05, 0.2) * size,
            intensity: uniform(rng, FROST_NEEDLE.0, FROST_NEEDLE.1),
            thickness,
        };
        draw_needle(&mut crystals, h, w, &needle, 2, rng);
    }
    let layer: Vec<f32> = (0..h * w)
        .map(|i| {
            let base = FROST_HAZE.0 + FROST_HAZE.1 * haze[(i / w) * side + i % w];
            (base as f32 + crystals[i]).min(1.0)
        })
        .collect();
    gaussian_blur(&layer, h, w, 0.4 * thickness, 4.0, Border::Nearest)
}

/// One ice needle of the frost texture.
struct Needle {
    x: f64,
    y: f64,
    angle: f64,
    length: f64,
    intensity: f64,
    thickness: f64,
}

/// Draws a needle (max-compositing soft discs every half pixel), spawning pairs of side
/// branches at about ±60° while `depth > 0`.
fn draw_needle(buf: &mut [f32], h: usize, w: usize, n: &Needle, depth: u32, rng: &mut ChaCha8Rng) {
    let (sin, cos) = n.angle.sin_cos();
    let radius = n.thickness / 2.0;
    let mut next_branch = n.length * uniform(rng, 0.15, 0.3);
    let mut t = 0.0;
    while t <= n.length {
        let (px, py) = (n.x + t * cos, n.y + t * sin);
        let value = n.intensity * (1.0 - 0.6 * t / n.length);
        splat(buf, h, w, px, py, radius, value as f32);
        if depth > 0 && t >= next_branch {
            let length = (n.length - t) * uniform(rng, 0.3, 0.6);
            for sign in [-1.0, 1.0] {
                let branch = Needle {
                    x: px,
                    y: py,
                    angle: n.angle + sign * PI / 3.0 * uniform(rng, 0.8, 1.2),
                    length,
                    intensity: n.intensity * 0.85,
                    thickness: (n.thickness * 0.8).max(0.8),
                };
                draw_needle(buf, h, w, &branch, depth - 1, rng);
            }
            next_branch += n.length * uniform(rng, 0.15, 0.3);
        }
        t += 0.5;
    }
}

/// Max-composites a soft disc of `radius` and peak `value` centred at `(x, y)`.
fn splat(buf: &mut [f32], h: usize, w: usize, x: f64, y: f64, radius: f64, value: f32) {
    let reach = radius + 1.0;
    let (y0, y1) = (
        (y - reach).floor().max(0.0),
        (y + reach).ceil().min(h as f64 - 1.0),
    );
    let (x0, x1) = (
        (x - reach).floor().max(0.0),
        (x + reach).ceil().min(w as f64 - 1.0),
    );
    if y0 > y1 || x0 > x1 {
        return;
    }
    for yy in y0 as usize..=y1 as usize {
        for xx in x0 as usize..=x1 as usize {
            let d = ((xx as f64 - x).powi(2) + (yy as f64 - y).powi(2)).sqrt();
            let cover = (radius + 0.5 - d).clamp(0.0, 1.0) as f32;
            let v = &mut buf[yy * w + xx];
            *v = v.max(value * cover);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plasma_is_normalised() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = plasma_fractal(32, 2.0, &mut rng);
        let min = p.iter().copied().fold(f64::INFINITY, f64::min);
        let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((min, max), (0.0, 1.0));
    }
}
