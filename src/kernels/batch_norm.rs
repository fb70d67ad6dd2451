//! BatchNorm over NCHW `f32` slices, fused with the residual add and the ReLU that follow it
//! in a ResNet: `y = relu(gamma * (x - mean) / sqrt(var + eps) + beta [+ residual])`.
//!
//! Forward in training mode is two reductions per channel (mean, then the centred variance)
//! and one elementwise pass; backward is one reduction pass and one elementwise pass, where
//! burn's generic composition makes about 10 and 15 whole-tensor passes.
//!
//! # Determinism
//! Reductions run one channel per task, each adding its `N` planes in order with a fixed
//! lane split inside a plane, so the result does not depend on the thread count.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Width of the partial sums (lets the compiler vectorise the reductions without changing
/// their order from one run to the next).
const LANES: usize = 16;

/// The f32 partial sums are added into f64 totals after at least this many elements of a
/// channel (a fixed number, so the order of additions depends on the shape alone).
const FLUSH: usize = 4096;

/// Two per-channel sums kept in [`LANES`] f32 lanes across the channel's planes (element `i`
/// of a plane goes to lane `i mod LANES`), added into f64 totals every [`FLUSH`] elements.
/// A plane of 4 values (a 2x2 map) then costs 4 additions, not a 16-lane reduction.
struct PairSums {
    a: [f32; LANES],
    b: [f32; LANES],
    total: (f64, f64),
    pending: usize,
}

impl PairSums {
    fn new() -> Self {
        Self {
            a: [0.0; LANES],
            b: [0.0; LANES],
            total: (0.0, 0.0),
            pending: 0,
        }
    }

    /// Adds `(x - shift, (x - shift)^2)` for each value of a plane.
    fn add_centred(&mut self, plane: &[f32], shift: f32) {
        let chunks = plane.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for ((a, b), v) in self.a.iter_mut().zip(&mut self.b).zip(c) {
                let d = v - shift;
                *a += d;
                *b += d * d;
            }
        }
        for (l, v) in rest.iter().enumerate() {
            let d = v - shift;
            self.a[l] += d;
            self.b[l] += d * d;
        }
        self.count(plane.len());
    }

    /// Adds `(dz, dz * (x - mean))` for each value of a plane, `dz = dy`, or `dy` masked by
    /// `y > 0` when `y` is given.
    fn add_grad(&mut self, dy: &[f32], y: Option<&[f32]>, x: &[f32], mean: f32) {
        let full = dy.len() - dy.len() % LANES;
        match y {
            Some(y) => {
                for ((d, y), x) in dy[..full]
                    .chunks_exact(LANES)
                    .zip(y[..full].chunks_exact(LANES))
                    .zip(x[..full].chunks_exact(LANES))
                {
                    for l in 0..LANES {
                        let dz = masked(d[l], y[l]);
                        self.a[l] += dz;
                        self.b[l] += dz * (x[l] - mean);
                    }
                }
                for (l, i) in (full..dy.len()).enumerate() {
                    let dz = masked(dy[i], y[i]);
                    self.a[l] += dz;
                    self.b[l] += dz * (x[i] - mean);
                }
            }
            None => {
                for (d, x) in dy[..full]
                    .chunks_exact(LANES)
                    .zip(x[..full].chunks_exact(LANES))
                {
                    for l in 0..LANES {
                        self.a[l] += d[l];
                        self.b[l] += d[l] * (x[l] - mean);
                    }
                }
                for (l, i) in (full..dy.len()).enumerate() {
                    self.a[l] += dy[i];
                    self.b[l] += dy[i] * (x[i] - mean);
                }
            }
        }
        self.count(dy.len());
    }

    /// Counts `len` added values, adding into the f64 totals every [`FLUSH`].
    fn count(&mut self, len: usize) {
        self.pending += len;
        if self.pending >= FLUSH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.total.0 += self.a.iter().map(|v| *v as f64).sum::<f64>();
        self.total.1 += self.b.iter().map(|v| *v as f64).sum::<f64>();
        self.a = [0.0; LANES];
        self.b = [0.0; LANES];
        self.pending = 0;
    }

    fn finish(mut self) -> (f64, f64) {
        self.flush();
        self.total
    }
}

/// `dz = dy`, or `dy` where the ReLU passed (`y > 0`) and 0 elsewhere: written as a select
/// so that the loops below vectorise.
#[inline(always)]
fn masked(dy: f32, y: f32) -> f32 {
    if y > 0.0 { dy } else { 0.0 }
}

/// A vector of `n` floats whose every element `fill` writes: `fill(task, chunk)` gets the
/// `task`-th chunk of `chunk` elements (the last one shorter), in parallel. Unlike
/// [`super::zeros`], nothing is written twice.
fn filled(
    n: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(task, c)| fill(task, c));
    // SAFETY: `fill` wrote every element of the first `n` of the capacity (each caller's
    // closure writes every element of the chunk it is given; checked by the tests).
    unsafe { v.set_len(n) };
    v
}

/// Two vectors of `n` floats filled chunk by chunk in parallel as [`filled`] does, the
/// second only when `second` is set: `fill(task, a, b)` writes every element of both chunks.
fn filled_pair(
    n: usize,
    chunk: usize,
    second: bool,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>], Option<&mut [MaybeUninit<f32>]>) + Sync,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let chunk = chunk.max(1);
    let mut a: Vec<f32> = Vec::with_capacity(n);
    let mut b: Vec<f32> = Vec::with_capacity(if second { n } else { 0 });
    {
        let a_chunks = a.spare_capacity_mut()[..n].par_chunks_mut(chunk);
        if second {
            a_chunks
                .zip(b.spare_capacity_mut()[..n].par_chunks_mut(chunk))
                .enumerate()
                .for_each(|(task, (a, b))| fill(task, a, Some(b)));
        } else {
            a_chunks
                .enumerate()
                .for_each(|(task, a)| fill(task, a, None));
        }
    }
    // SAFETY: `fill` wrote every element of the first `n` of each capacity (each caller's
    // closure writes every element of the chunks it is given; checked by the tests).
    unsafe { a.set_len(n) };
    let b = second.then(|| {
        // SAFETY: as above.
        unsafe { b.set_len(n) };
        b
    });
    (a, b)
}

/// The shape of a BatchNorm input: `N` images, `C` channels, `P` values per plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormShape {
    /// `N`.
    pub batch: usize,
    /// `C`.
    pub channels: usize,
    /// `P = H * W` (1 for a `[N, C]` input).
    pub plane: usize,
}

impl NormShape {
    /// Elements in the tensor.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `N` planes of channel `c`.
    fn planes<'a>(&self, a: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (p, stride) = (self.plane, self.channels * self.plane);
        (0..self.batch).map(move |n| &a[n * stride + c * p..][..p])
    }
}

/// Per-channel batch mean and biased variance, in one pass: the sums of `x - s` and
/// `(x - s)^2` with `s` the channel's first value (a shift near the mean, so that the
/// variance `E[(x-s)^2] - E[x-s]^2` does not cancel badly).
///
/// # Shapes
/// - `x`: `[N, C, P]`
/// - returns: (`mean`: `[C]`, `var`: `[C]`)
pub fn channel_stats(shape: NormShape, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), shape.len(), "channel_stats: input");
    let count = (shape.batch * shape.plane) as f64;
    if count == 0.0 {
        return (vec![0.0; shape.channels], vec![0.0; shape.channels]);
    }
    (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let shift = x[c * shape.plane];
            let mut sums = PairSums::new();
            for plane in shape.planes(x, c) {
                sums.add_centred(plane, shift);
            }
            let (s1, s2) = sums.finish();
            let m = s1 / count;
            (
                (shift as f64 + m) as f32,
                (s2 / count - m * m).max(0.0) as f32,
            )
        })
        .unzip()
}

/// `y = act((x - mean[c]) * scale[c] + beta[c] [+ residual])`, `act` the ReLU when `relu` is
/// set. Centring first (rather than folding the mean into one shift) keeps `y = beta` exact
/// where `x = mean`, as burn and PyTorch compute it, so a ReLU there sees the same sign.
///
/// # Shapes
/// - `x`, `residual`: `[N, C, P]`; `mean`, `scale`, `beta`: `[C]`
/// - returns: `[N, C, P]`
pub fn affine_act(
    shape: NormShape,
    x: &[f32],
    mean: &[f32],
    scale: &[f32],
    beta: &[f32],
    residual: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    assert_eq!(x.len(), shape.len(), "affine_act: input");
    assert!(
        residual.is_none_or(|r| r.len() == x.len()),
        "affine_act: residual"
    );
    let p = shape.plane.max(1);
    let affine_plane = |plane: usize, out: &mut [MaybeUninit<f32>]| {
        let c = plane % shape.channels;
        let (m, a, b) = (mean[c], scale[c], beta[c]);
        let x = &x[plane * p..][..p];
        match residual {
            Some(r) => {
                let r = &r[plane * p..][..p];
                for ((o, x), r) in out.iter_mut().zip(x).zip(r) {
                    let v = (x - m) * a + b + r;
                    o.write(if relu { v.max(0.0) } else { v });
                }
            }
            None => {
                for (o, x) in out.iter_mut().zip(x) {
                    let v = (x - m) * a + b;
                    o.write(if relu { v.max(0.0) } else { v });
                }
            }
        }
    };
    let per_task = planes_per_task(p);
    filled(x.len(), p * per_task, |task, out| {
        for (i, out) in out.chunks_mut(p).enumerate() {
            affine_plane(task * per_task + i, out);
        }
    })
}

/// Planes per parallel task in the elementwise passes: about 16K elements, so that small
/// planes (a 2x2 map) do not drown in task overhead.
fn planes_per_task(plane: usize) -> usize {
    (1usize << 14).div_ceil(plane.max(1))
}

/// The per-channel `scale = gamma / sqrt(var + eps)` of a normalisation.
pub fn scales(gamma: &[f32], var: &[f32], eps: f64) -> Vec<f32> {
    gamma
        .iter()
        .zip(var)
        .map(|(g, v)| (*g as f64 / (*v as f64 + eps).sqrt()) as f32)
        .collect()
}

/// Gradients of `y = act(batch_norm_train(x) [+ residual])`.
///
/// `output` is the forward's `y`, given when the ReLU was applied (its mask is `y > 0`).
///
/// # Shapes
/// - `x`, `output`, `grad`: `[N, C, P]`; `gamma`, `mean`, `var`: `[C]`
/// - returns: (`dx`: `[N, C, P]`, `dgamma`: `[C]`, `dbeta`: `[C]`, `dresidual`: `[N, C, P]`
///   when `want_residual`)
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    shape: NormShape,
    x: &[f32],
    output: Option<&[f32]>,
    grad: &[f32],
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
    want_residual: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    assert_eq!(x.len(), shape.len(), "batch_norm_backward: input");
    assert_eq!(grad.len(), shape.len(), "batch_norm_backward: grad");
    assert!(
        output.is_none_or(|y| y.len() == x.len()),
        "batch_norm_backward: output"
    );
    let count = (shape.batch * shape.plane) as f64;
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (*v as f64 + eps).sqrt()).collect();
    // Per channel: sum(dz), sum(dz * (x - mean)).
    let sums: Vec<(f64, f64)> = (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let (p, stride) = (shape.plane, shape.channels * shape.plane);
            let m = mean[c];
            let mut sums = PairSums::new();
            for n in 0..shape.batch {
                let at = n * stride + c * p;
                let y = output.map(|y| &y[at..at + p]);
                sums.add_grad(&grad[at..at + p], y, &x[at..at + p], m);
            }
            sums.finish()
        })
        .collect();
    let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    let dgamma: Vec<f32> = sums
        .iter()
        .zip(&inv_std)
        .map(|(s, is)| (s.1 * is) as f32)
        .collect();
    // dx = gamma * inv_std * (dz - sum(dz)/M - (x - mean) * inv_std^2 * sum(dz (x - mean))/M)
    let coef: Vec<(f32, f32, f32)> = (0..shape.channels)
        .map(|c| {
            let k = gamma[c] as f64 * inv_std[c];
            (
                k as f32,
                (sums[c].0 / count) as f32,
                (inv_std[c] * inv_std[c] * sums[c].1 / count) as f32,
            )
        })
        .collect();
    let p = shape.plane.max(1);
    let per_task = planes_per_task(p);
    // dx, and the residual's gradient `dz` in the same pass.
    let (dx, dres) = filled_pair(
        x.len(),
        p * per_task,
        want_residual,
        |task, dx, mut dres| {
            for (i, dx) in dx.chunks_mut(p).enumerate() {
                let plane = task * per_task + i;
                let c = plane % shape.channels;
                let (k, mean_dz, proj) = coef[c];
                let m = mean[c];
                let at = plane * p;
                let (g, xs) = (&grad[at..at + p], &x[at..at + p]);
                let dres = dres.as_deref_mut().map(|d| &mut d[i * p..][..dx.len()]);
                match output.map(|y| &y[at..at + p]) {
                    Some(y) => {
                        for (((dx, g), x), y) in dx.iter_mut().zip(g).zip(xs).zip(y) {
                            dx.write(k * (masked(*g, *y) - mean_dz - (x - m) * proj));
                        }
                        if let Some(dres) = dres {
                            for ((d, g), y) in dres.iter_mut().zip(g).zip(y) {
                                d.write(masked(*g, *y));
                            }
                        }
                    }
                    None => {
                        for ((dx, g), x) in dx.iter_mut().zip(g).zip(xs) {
                            dx.write(k * (g - mean_dz - (x - m) * proj));
                        }
                        if let Some(dres) = dres {
                            for (d, g) in dres.iter_mut().zip(g) {
                                d.write(*g);
                            }
                        }
                    }
                }
            }
        },
    );
    (dx, dgamma, dbeta, dres)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernels::seeded_values as values;

    /// The loss `L = sum(w * y)` of the fused forward, in f64, for finite differences.
    #[allow(clippy::too_many_arguments)]
    fn loss(
        shape: NormShape,
        x: &[f64],
        gamma: &[f64],
        beta: &[f64],
        res: Option<&[f64]>,
        relu: bool,
        w: &[f32],
        eps: f64,
    ) -> f64 {
        let m = (shape.batch * shape.plane) as f64;
        let mut total = 0.0;
        for c in 0..shape.channels {
            let idx: Vec<usize> = (0..shape.batch)
                .flat_map(|n| {
                    (0..shape.plane).map(move |i| (n * shape.channels + c) * shape.plane + i)
                })
                .collect();
            let mean = idx.iter().map(|&i| x[i]).sum::<f64>() / m;
            let var = idx.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / m;
            for &i in &idx {
                let mut v = gamma[c] * (x[i] - mean) / (var + eps).sqrt() + beta[c];
                if let Some(r) = res {
                    v += r[i];
                }
                if relu {
                    v = v.max(0.0);
                }
                total += v * w[i] as f64;
            }
        }
        total
    }

    #[test]
    fn forward_and_backward_match_finite_differences() {
        let eps = 1e-5;
        for (shape, relu, residual) in [
            (
                NormShape {
                    batch: 3,
                    channels: 4,
                    plane: 5,
                },
                false,
                false,
            ),
            (
                NormShape {
                    batch: 2,
                    channels: 3,
                    plane: 37,
                },
                true,
                false,
            ),
            (
                NormShape {
                    batch: 5,
                    channels: 2,
                    plane: 17,
                },
                true,
                true,
            ),
            (
                NormShape {
                    batch: 7,
                    channels: 6,
                    plane: 1,
                },
                true,
                false,
            ),
            // More than FLUSH values per channel, planes not a multiple of LANES.
            (
                NormShape {
                    batch: 3,
                    channels: 2,
                    plane: 1517,
                },
                true,
                true,
            ),
        ] {
            let x = values(shape.len(), 1);
            let res = values(shape.len(), 2);
            let gamma: Vec<f32> = values(shape.channels, 3).iter().map(|v| v + 1.5).collect();
            let beta = values(shape.channels, 4);
            let w = values(shape.len(), 5);
            let (mean, var) = channel_stats(shape, &x);
            let scale = scales(&gamma, &var, eps);
            let r = residual.then_some(res.as_slice());
            let y = affine_act(shape, &x, &mean, &scale, &beta, r, relu);
            let (dx, dgamma, dbeta, dres) = batch_norm_backward(
                shape,
                &x,
                relu.then_some(y.as_slice()),
                &w,
                &gamma,
                &mean,
                &var,
                eps,
                residual,
            );
            let f64s = |v: &[f32]| v.iter().map(|v| *v as f64).collect::<Vec<f64>>();
            let (x64, g64, b64, r64) = (f64s(&x), f64s(&gamma), f64s(&beta), f64s(&res));
            let r64 = residual.then_some(r64.as_slice());
            let l = |x: &[f64], g: &[f64], b: &[f64], r: Option<&[f64]>| {
                loss(shape, x, g, b, r, relu, &w, eps)
            };
            // The forward value.
            let direct: f64 = y.iter().zip(&w).map(|(a, b)| *a as f64 * *b as f64).sum();
            let want = l(&x64, &g64, &b64, r64);
            assert!(
                (direct - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{shape:?} forward"
            );
            let h = 1e-6;
            let check = |name: &str, got: f32, plus: f64, minus: f64| {
                let fd = (plus - minus) / (2.0 * h);
                assert!(
                    (got as f64 - fd).abs() < 2e-3 * (1.0 + fd.abs()),
                    "{shape:?} relu={relu} {name}: {got} vs finite difference {fd}"
                );
            };
            for i in [0, shape.len() / 2, shape.len() - 1] {
                let (mut p, mut m) = (x64.clone(), x64.clone());
                p[i] += h;
                m[i] -= h;
                check("dx", dx[i], l(&p, &g64, &b64, r64), l(&m, &g64, &b64, r64));
                if let (Some(dres), Some(r)) = (&dres, r64) {
                    let (mut p, mut m) = (r.to_vec(), r.to_vec());
                    p[i] += h;
                    m[i] -= h;
                    check(
                        "dres",
                        dres[i],
                        l(&x64, &g64, &b64, Some(&p)),
                        l(&x64, &g64, &b64, Some(&m)),
                    );
                }
            }
            for c in 0..shape.channels {
                let (mut p, mut m) = (g64.clone(), g64.clone());
                p[c] += h;
                m[c] -= h;
                check(
                    "dgamma",
                    dgamma[c],
                    l(&x64, &p, &b64, r64),
                    l(&x64, &m, &b64, r64),
                );
                let (mut p, mut m) = (b64.clone(), b64.clone());
                p[c] += h;
                m[c] -= h;
                check(
                    "dbeta",
                    dbeta[c],
                    l(&x64, &g64, &p, r64),
                    l(&x64, &g64, &m, r64),
                );
            }
        }
    }

    #[test]
    fn reductions_do_not_depend_on_the_thread_count() {
        let shape = NormShape {
            batch: 9,
            channels: 5,
            plane: 49,
        };
        let x = values(shape.len(), 11);
        let dy = values(shape.len(), 12);
        let gamma = values(shape.channels, 13);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let (mean, var) = channel_stats(shape, &x);
                    let back =
                        batch_norm_backward(shape, &x, None, &dy, &gamma, &mean, &var, 1e-5, true);
                    (mean, var, back)
                })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
    }
}
