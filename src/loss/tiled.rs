//! The SupCon loss and its exact gradient, computed in blocks of anchor rows, never holding
//! the full `(views * batch)^2` similarity matrix: memory `O(M * block)` instead of `O(M^2)`.
//!
//! With `l_ak = z_a . z_k / tau`, `p_ak` the softmax of row `a` over its kept entries,
//! `q_ak = w_ak / sum_k w_ak` (L_out) or `r_ak = w_ak e^{l_ak} / sum_k w_ak e^{l_ak}` (L_in),
//! and `s = tau / base_tau`, both variants have
//! `dL/dl_ak = (s / A) (p_ak - q_ak)` (resp. `r_ak`) for anchors with a positive, 0 otherwise,
//! so `dL/dZ = (1/tau) (G Z + G^T Z_A)` where `Z_A` are the anchor rows. Each block of rows
//! is self-contained (a row's softmax only needs that row), so one pass of three matrix
//! products per block gives the loss and the gradient.
//!
//! This is plain CPU code on slices (the matrix products use the `gemm` crate, which burn's
//! CPU backend also uses), with rows of a block processed in parallel.

use rayon::prelude::*;

use super::error::LossError;
use super::positives::{PairSpec, Positives, QueueSpec};
use super::supcon::{ContrastMode, SupConLossConfig, Variant};

/// Default number of anchor rows per block.
pub const DEFAULT_BLOCK: usize = 256;

/// Loss value and gradient from [`tiled_supcon`].
#[derive(Clone, Debug)]
pub struct TiledOutput {
    /// The mean loss over anchors (accumulated in f64).
    pub loss: f64,
    /// `d loss / d features`, laid out like the input `[batch, views, dim]`.
    pub grad: Vec<f32>,
}

/// The SupCon loss (every option of [`SupConLossConfig`]) and its gradient, in blocks of
/// `block` anchor rows.
///
/// # Shapes
/// - `features`: `[batch, views, dim]`, row-major.
/// - output gradient: the same.
///
/// # Errors
/// As [`super::SupConLoss::forward_no_reduction`]: empty or mis-shaped input, labels/mask
/// that do not fit, invalid temperatures, NaN/Inf features, an overflowing loss.
pub fn tiled_supcon(
    config: &SupConLossConfig,
    features: &[f32],
    shape: [usize; 3],
    positives: Positives<'_>,
    cap_seed: u64,
    block: usize,
) -> Result<TiledOutput, LossError> {
    tiled_supcon_with_queue(config, features, shape, positives, None, cap_seed, block)
}

/// Memory-bank entries for [`tiled_supcon_with_queue`].
#[derive(Clone, Copy, Debug)]
pub struct Queue<'a> {
    /// `[K, dim]` row-major embeddings (no gradient flows to them).
    pub embeddings: &'a [f32],
    /// Their labels (`[K]`), required for SupCon; SimCLR treats entries as negatives.
    pub labels: Option<&'a [usize]>,
}

/// [`tiled_supcon`] with memory-bank entries as extra contrast columns (see
/// [`super::SupConLoss::forward_with_queue`]); the gradient covers the batch only.
///
/// # Shapes
/// - `features`: `[batch, views, dim]`; `queue.embeddings`: `[K, dim]`.
/// - output gradient: `[batch, views, dim]`.
///
/// # Errors
/// As [`tiled_supcon`], plus a queue whose size or labels do not fit.
pub fn tiled_supcon_with_queue(
    config: &SupConLossConfig,
    features: &[f32],
    shape: [usize; 3],
    positives: Positives<'_>,
    queue: Option<Queue<'_>>,
    cap_seed: u64,
    block: usize,
) -> Result<TiledOutput, LossError> {
    tiled_supcon_rows(
        config, features, shape, positives, queue, cap_seed, block, None,
    )
}

/// The number of anchors of a batch: `batch * views` (contrast mode `all`) or `batch`
/// (`one`): the rows [`tiled_supcon_rows`] splits.
pub fn anchor_count(config: &SupConLossConfig, batch: usize, views: usize) -> usize {
    match config.contrast_mode {
        ContrastMode::All => batch * views,
        ContrastMode::One => batch,
    }
}

/// [`tiled_supcon_with_queue`] over the anchors `rows` only (anchor `a` is view
/// `a / batch` of sample `a % batch`; `None`: all of them): the loss terms of those anchors
/// and their contribution to the gradient, both divided by the number of all anchors, so
/// that over a partition of the anchors (one part per process) the sums are the loss and
/// gradient of the whole batch, up to float rounding.
///
/// # Shapes
/// - `features`: `[batch, views, dim]`; `queue.embeddings`: `[K, dim]`.
/// - output gradient: `[batch, views, dim]` (every sample's, from these anchors).
///
/// # Errors
/// As [`tiled_supcon_with_queue`]; `rows` beyond the anchors.
#[allow(clippy::too_many_arguments)]
pub fn tiled_supcon_rows(
    config: &SupConLossConfig,
    features: &[f32],
    shape: [usize; 3],
    positives: Positives<'_>,
    queue: Option<Queue<'_>>,
    cap_seed: u64,
    block: usize,
    rows: Option<std::ops::Range<usize>>,
) -> Result<TiledOutput, LossError> {
    let [batch, views, dim] = shape;
    if batch == 0 {
        return Err(LossError::EmptyBatch);
    }
    if views == 0 {
        return Err(LossError::ZeroViews);
    }
    if dim == 0 {
        return Err(LossError::ZeroDim);
    }
    if batch.checked_mul(views).and_then(|n| n.checked_mul(dim)) != Some(features.len()) {
        return Err(LossError::Shape(format!(
            "features: {} values, expected batch x views x dim = {batch} x {views} x {dim}",
            features.len()
        )));
    }
    config.init()?;
    if features.iter().any(|v| !v.is_finite()) {
        return Err(LossError::NonFiniteFeatures);
    }
    let mb = views * batch;
    let anchors = match config.contrast_mode {
        ContrastMode::All => mb,
        ContrastMode::One => batch,
    };
    let queue_rows = match queue {
        Some(q) if q.embeddings.len() % dim != 0 => {
            return Err(LossError::Shape(format!(
                "memory bank: {} values is not a whole number of rows of width {dim}",
                q.embeddings.len()
            )));
        }
        Some(q) => q.embeddings.len() / dim,
        None => 0,
    };
    if queue.is_some_and(|q| q.embeddings.iter().any(|v| !v.is_finite())) {
        return Err(LossError::Shape(
            "memory bank: NaN or infinite entries".into(),
        ));
    }
    let spec = PairSpec::new(
        positives,
        batch,
        views,
        anchors,
        config.positives_cap,
        cap_seed,
    )?
    .with_queue(QueueSpec {
        len: queue_rows,
        labels: queue.and_then(|q| q.labels),
    })?;
    let m = mb + queue_rows;

    // View-major contrast matrix Z [M, D]: the batch's views, then the queue.
    let mut z = vec![0.0f32; m * dim];
    if let Some(q) = queue {
        z[mb * dim..].copy_from_slice(q.embeddings);
    }
    for i in 0..batch {
        for v in 0..views {
            let src = &features[(i * views + v) * dim..(i * views + v + 1) * dim];
            z[(v * batch + i) * dim..(v * batch + i + 1) * dim].copy_from_slice(src);
        }
    }
    let inv_tau = (1.0 / config.temperature) as f32;
    let coef = config.scale() / anchors as f64;
    let block = block.max(1);
    let mut grad_z = vec![0.0f32; mb * dim];
    let mut g = vec![0.0f32; block.min(anchors) * m];
    let mut loss = 0.0f64;
    // Each row's loss term, added in row order after the parallel pass: a parallel `sum`
    // would add in an order that depends on the thread count and on work stealing.
    let mut terms = vec![0.0f64; block.min(anchors)];
    let range = rows.unwrap_or(0..anchors);
    if range.start > range.end || range.end > anchors {
        return Err(LossError::Shape(format!(
            "anchor rows {}..{}: the batch has {anchors} anchors",
            range.start, range.end
        )));
    }

    for start in range.clone().step_by(block) {
        let rows = block.min(range.end - start);
        let g = &mut g[..rows * m];
        let z_rows = &z[start * dim..(start + rows) * dim];
        // logits [rows, M] = Z_rows Z^T / tau
        matmul(
            g, dim, z_rows, false, &z, true, rows, m, dim, inv_tau, false,
        );
        // Per row: loss term, and the logits turned into dL/dlogits in place.
        let terms = &mut terms[..rows];
        g.par_chunks_mut(m)
            .zip(terms.par_iter_mut())
            .enumerate()
            .for_each_init(
                || (vec![0.0f32; m], vec![false; m]),
                |(w, keep), (r, (row, term))| {
                    spec.fill_row(start + r, w, keep);
                    *term = row_grad(row, w, keep, config.variant, config.scale(), coef);
                },
            );
        loss += terms.iter().sum::<f64>();
        // grad_Z[batch] += G[:, batch]^T Z_rows / tau ; grad_Z[rows] += G Z / tau
        // (queue columns get no gradient: only the first `mb` columns of G are used).
        matmul(
            &mut grad_z,
            m,
            g,
            true,
            z_rows,
            false,
            mb,
            dim,
            rows,
            inv_tau,
            true,
        );
        let mut part = vec![0.0f32; rows * dim];
        matmul(
            &mut part, m, g, false, &z, false, rows, dim, m, inv_tau, false,
        );
        for (dst, src) in grad_z[start * dim..(start + rows) * dim]
            .iter_mut()
            .zip(&part)
        {
            *dst += src;
        }
    }
    let loss = loss / anchors as f64;
    if !loss.is_finite() {
        return Err(LossError::NonFiniteLoss {
            temperature: config.temperature,
        });
    }
    // Back to the input layout [batch, views, dim].
    let mut grad = vec![0.0f32; batch * views * dim];
    for i in 0..batch {
        for v in 0..views {
            grad[(i * views + v) * dim..(i * views + v + 1) * dim]
                .copy_from_slice(&grad_z[(v * batch + i) * dim..(v * batch + i + 1) * dim]);
        }
    }
    Ok(TiledOutput { loss, grad })
}

/// One anchor row: returns the anchor's loss term and overwrites `row` (its logits) with
/// `dL/dlogits = coef * (p - q)`, zero outside the kept entries or without positives.
fn row_grad(
    row: &mut [f32],
    w: &[f32],
    keep: &[bool],
    variant: Variant,
    scale: f64,
    coef: f64,
) -> f64 {
    // One pass for the statistics: kept maximum, positive weight, weighted positive logit.
    let (mut max, mut pos_max) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    let (mut wsum, mut dot) = (0.0f64, 0.0f64);
    let mut finite = true;
    for ((&l, &k), &wk) in row.iter().zip(keep).zip(w) {
        if k {
            finite &= l.is_finite();
            if l > max {
                max = l;
            }
        }
        if wk > 0.0 {
            wsum += f64::from(wk);
            dot += f64::from(wk) * f64::from(l);
            pos_max = pos_max.max(l);
        }
    }
    if !finite {
        // Logits that left the f32 range (features far from unit norm): the loss is not
        // finite, which the caller reports, rather than a row silently contributing 0.
        row.fill(0.0);
        return f64::NAN;
    }
    if wsum <= 0.0 || max == f32::NEG_INFINITY {
        row.fill(0.0);
        return 0.0;
    }
    let c = coef as f32;
    match variant {
        Variant::Out => {
            // e_k = exp(l_k - max) computed once, then p_k = e_k / sum(e).
            let mut denom = 0.0f64;
            for (chunk, kchunk) in row.chunks_mut(1024).zip(keep.chunks(1024)) {
                let mut part = 0.0f32;
                for (l, &k) in chunk.iter_mut().zip(kchunk) {
                    *l = if k { (*l - max).exp() } else { 0.0 };
                    part += *l;
                }
                denom += f64::from(part);
            }
            let log_denom = denom.ln() + f64::from(max);
            let (inv_d, inv_w) = ((1.0 / denom) as f32, (1.0 / wsum) as f32);
            for (e, &wk) in row.iter_mut().zip(w) {
                *e = c * (*e * inv_d - wk * inv_w);
            }
            scale * (log_denom - dot / wsum)
        }
        Variant::In => {
            // Positives get their own shift so tiny probabilities do not underflow.
            let (mut denom, mut pos_sum) = (0.0f64, 0.0f64);
            for ((&l, &k), &wk) in row.iter().zip(keep).zip(w) {
                if k {
                    denom += f64::from((l - max).exp());
                }
                if wk > 0.0 {
                    pos_sum += f64::from(wk) * f64::from(l - pos_max).exp();
                }
            }
            let log_denom = denom.ln() + f64::from(max);
            let log_pos = pos_sum.ln() + f64::from(pos_max);
            let (ld, lp) = (log_denom as f32, log_pos as f32);
            for ((l, &k), &wk) in row.iter_mut().zip(keep).zip(w) {
                *l = if k {
                    c * ((*l - ld).exp() - wk * (*l - lp).exp())
                } else {
                    0.0
                };
            }
            -scale * (log_pos - log_denom - wsum.ln())
        }
    }
}

/// `dst[m, n] (+)= alpha * op(a) op(b)` on row-major slices, where `op(a)` is `[m, k]`
/// (stored `[k, m]` when `a_t`) and `op(b)` is `[k, n]` (stored `[n, k]` when `b_t`).
/// `lda` is the row stride of `a` as stored (so `a` may be the left columns of a wider
/// matrix).
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: &mut [f32],
    lda: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    accumulate: bool,
) {
    let a_rows = if a_t { k } else { m };
    let a_cols = if a_t { m } else { k };
    assert!(dst.len() >= m * n && b.len() >= k * n && lda >= a_cols);
    assert!(a_rows == 0 || a.len() >= (a_rows - 1) * lda + a_cols);
    // Strides (column stride, row stride) of each operand as gemm expects them.
    let (a_cs, a_rs) = if a_t {
        (lda as isize, 1)
    } else {
        (1, lda as isize)
    };
    let (b_cs, b_rs) = if b_t {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    let threads = rayon::current_num_threads();
    let par = if threads > 1 && m * n * k > 1 << 15 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assertion above bounds every index gemm touches: dst is m x n with
    // row stride n, a is m x k and b is k x n under the strides chosen for their layout.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            alpha,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_layouts() {
        // a = [[1, 2], [3, 4]], b = [[5, 6], [7, 8]]
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let mut d = [0.0; 4];
        matmul(&mut d, 2, &a, false, &b, false, 2, 2, 2, 1.0, false);
        assert_eq!(d, [19.0, 22.0, 43.0, 50.0]);
        matmul(&mut d, 2, &a, true, &b, false, 2, 2, 2, 1.0, false);
        assert_eq!(d, [26.0, 30.0, 38.0, 44.0]);
        matmul(&mut d, 2, &a, false, &b, true, 2, 2, 2, 0.5, false);
        assert_eq!(d, [8.5, 11.5, 19.5, 26.5]);
        matmul(&mut d, 2, &a, false, &b, true, 2, 2, 2, 1.0, true);
        assert_eq!(d, [25.5, 34.5, 58.5, 79.5]);
        // The left column of a 2x3 matrix [[1, 2, 9], [3, 4, 9]] (row stride 3), transposed:
        // [1, 3]^T-as-row times b's first row block.
        let wide = [1.0, 2.0, 9.0, 3.0, 4.0, 9.0];
        let mut e = [0.0; 2];
        matmul(&mut e, 3, &wide, true, &b, false, 1, 2, 2, 1.0, false);
        assert_eq!(e, [1.0 * 5.0 + 3.0 * 7.0, 1.0 * 6.0 + 3.0 * 8.0]);
    }
}
