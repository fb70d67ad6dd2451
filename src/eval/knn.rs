//! Weighted k-nearest-neighbour classification of embeddings, the standard "kNN
//! monitor" of contrastive representation learning: Wu, Xiong, Yu & Lin, "Unsupervised
//! Feature Learning via Non-Parametric Instance Discrimination" (CVPR 2018, Sec. 3.4),
//! as used by InstDisc/MoCo/SupCon code bases.
//!
//! For a test embedding `x`, let `s_i = cos(x, t_i)` over the training embeddings `t_i`
//! and `N_k(x)` the `k` training points of largest similarity. The class score is
//! `w_c = sum_{i in N_k(x), y_i = c} exp(s_i / T)` and the prediction `argmax_c w_c`.
//!
//! Details fixed here:
//! - embeddings need not be normalised: similarities are divided by both L2 norms (the
//!   same as L2-normalising first); a zero-norm embedding is an error;
//! - neighbours are ranked by similarity, descending, then by training index, ascending
//!   (so equal similarities are resolved deterministically);
//! - weights are computed as `exp((s_i - s_max) / T)`, which has the same ratios as
//!   `exp(s_i / T)` but cannot overflow;
//! - `k` larger than the training set is reduced to its size;
//! - ties between class scores go to the lowest class index.

use rayon::prelude::*;

use super::error::EvalError;
use super::validate;

/// Number of neighbours of Wu et al. (CVPR 2018).
pub const DEFAULT_K: usize = 200;

/// Temperature of the neighbour weights `exp(s / T)` (Wu et al., CVPR 2018).
pub const DEFAULT_TEMPERATURE: f32 = 0.07;

/// Test rows per parallel task.
const TEST_CHUNK: usize = 16;
/// Training rows per block of dot products (kept in cache while the test chunk runs).
const TRAIN_BLOCK: usize = 64;

/// Predicted class of every row of `test_emb` by weighted k-NN vote among `train_emb`
/// (Wu et al., CVPR 2018; details in the module docs).
///
/// `train_emb` is row-major `[n_train, dim]` with `train_labels` of length `n_train`;
/// `test_emb` is `[n_test, dim]`. Use [`DEFAULT_K`] and [`DEFAULT_TEMPERATURE`] for the
/// usual protocol. Runs in parallel over test rows. An empty test set gives an empty
/// vector.
///
/// # Errors
/// [`EvalError::Invalid`] when `dim`, `num_classes` or `k` is 0, the training set is
/// empty, a length does not match, a training label is `>= num_classes`, an embedding
/// value is not finite, an embedding has zero norm, or `temperature` is not a finite
/// positive number.
pub fn knn_predict(
    train_emb: &[f32],
    train_labels: &[usize],
    test_emb: &[f32],
    dim: usize,
    num_classes: usize,
    k: usize,
    temperature: f32,
) -> Result<Vec<usize>, EvalError> {
    let what = "k-NN";
    if dim == 0 {
        return Err(EvalError::Invalid(format!(
            "{what}: dim must be at least 1, got 0"
        )));
    }
    if num_classes == 0 {
        return Err(EvalError::Invalid(format!(
            "{what}: num_classes must be at least 1, got 0"
        )));
    }
    if k == 0 {
        return Err(EvalError::Invalid(format!(
            "{what}: k must be at least 1, got 0"
        )));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(EvalError::Invalid(format!(
            "{what}: temperature must be finite and positive, got {temperature}"
        )));
    }
    if train_labels.is_empty() {
        return Err(EvalError::Invalid(format!(
            "{what}: empty training set (train_labels is empty)"
        )));
    }
    let n_train = validate::rows(train_emb.len(), dim, "k-NN training embeddings")?;
    if n_train != train_labels.len() {
        return Err(EvalError::Invalid(format!(
            "{what}: {} training labels but {n_train} training embeddings of dim {dim}",
            train_labels.len()
        )));
    }
    if u32::try_from(n_train).is_err() {
        return Err(EvalError::Invalid(format!(
            "{what}: {n_train} training embeddings exceed the supported {}",
            u32::MAX
        )));
    }
    validate::rows(test_emb.len(), dim, "k-NN test embeddings")?;
    validate::labels_in_range(train_labels, num_classes, "k-NN training labels")?;
    validate::finite(train_emb, dim, "k-NN training embeddings")?;
    validate::finite(test_emb, dim, "k-NN test embeddings")?;
    // Rows are L2-normalised first (in f64), so that embeddings of any scale give the
    // same similarities: a dot product of raw rows could overflow or underflow f32.
    let train_emb = &normalised(train_emb, dim, "k-NN training embeddings")?;
    let test_emb = &normalised(test_emb, dim, "k-NN test embeddings")?;
    let k = k.min(n_train);
    let inv_t = 1.0 / f64::from(temperature);

    let chunks: Vec<Vec<usize>> = test_emb
        .par_chunks(TEST_CHUNK * dim)
        .map(|test| {
            let rows = test.len() / dim;
            let mut sims = vec![0f32; rows * n_train];
            for start in (0..n_train).step_by(TRAIN_BLOCK) {
                let end = (start + TRAIN_BLOCK).min(n_train);
                let block = &train_emb[start * dim..end * dim];
                for (r, x) in test.chunks_exact(dim).enumerate() {
                    let out = &mut sims[r * n_train + start..r * n_train + end];
                    dots_into(x, block, dim, out);
                }
            }
            let mut order: Vec<u32> = Vec::with_capacity(n_train);
            let mut votes = vec![0f64; num_classes];
            sims.chunks_exact(n_train)
                .map(|s| vote(s, train_labels, k, inv_t, &mut order, &mut votes))
                .collect()
        })
        .collect();
    Ok(chunks.into_iter().flatten().collect())
}

/// Fraction of `test_labels` matched by [`knn_predict`] (the k-NN accuracy of Wu et
/// al., CVPR 2018).
///
/// # Errors
/// As [`knn_predict`]; also [`EvalError::Invalid`] when the test set is empty, its
/// label count differs from its row count, or a test label is `>= num_classes`.
#[allow(clippy::too_many_arguments)]
pub fn knn_accuracy(
    train_emb: &[f32],
    train_labels: &[usize],
    test_emb: &[f32],
    test_labels: &[usize],
    dim: usize,
    num_classes: usize,
    k: usize,
    temperature: f32,
) -> Result<f64, EvalError> {
    if test_labels.is_empty() {
        return Err(EvalError::Invalid(
            "k-NN accuracy: empty test set (test_labels is empty)".into(),
        ));
    }
    validate::labels_in_range(test_labels, num_classes, "k-NN test labels")?;
    let preds = knn_predict(
        train_emb,
        train_labels,
        test_emb,
        dim,
        num_classes,
        k,
        temperature,
    )?;
    if preds.len() != test_labels.len() {
        return Err(EvalError::Invalid(format!(
            "k-NN accuracy: {} test labels but {} test embeddings of dim {dim}",
            test_labels.len(),
            preds.len()
        )));
    }
    let hits = preds
        .iter()
        .zip(test_labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(hits as f64 / test_labels.len() as f64)
}

/// Every row divided by its L2 norm (computed in f64); an error names a zero-norm row.
fn normalised(emb: &[f32], dim: usize, what: &str) -> Result<Vec<f32>, EvalError> {
    let mut out = Vec::with_capacity(emb.len());
    for (i, row) in emb.chunks_exact(dim).enumerate() {
        let n2: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        if n2 <= 0.0 {
            return Err(EvalError::Invalid(format!(
                "{what}: row {i} has zero norm, so its cosine similarity is undefined"
            )));
        }
        let inv = 1.0 / n2.sqrt();
        out.extend(row.iter().map(|&v| (f64::from(v) * inv) as f32));
    }
    Ok(out)
}

/// `out[j] = dot(x, rows[j])` for the `dim`-wide rows of `rows` (a block of training
/// rows that stays in cache while the test chunk runs over it).
fn dots_into(x: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        *o = dot(x, row);
    }
}

/// Dot product with eight independent accumulators (vectorises well).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Weighted vote of the `k` most similar training rows given one test row's
/// similarities `sims` (one per training row).
fn vote(
    sims: &[f32],
    labels: &[usize],
    k: usize,
    inv_t: f64,
    order: &mut Vec<u32>,
    votes: &mut [f64],
) -> usize {
    order.clear();
    order.extend(0..sims.len() as u32);
    // Similarity descending, then index ascending: a total order on finite values.
    let cmp = |a: &u32, b: &u32| {
        sims[*b as usize]
            .total_cmp(&sims[*a as usize])
            .then(a.cmp(b))
    };
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, cmp);
    }
    let top = &order[..k];
    let s_max = top
        .iter()
        .map(|&i| f64::from(sims[i as usize]))
        .fold(f64::NEG_INFINITY, f64::max);
    votes.iter_mut().for_each(|v| *v = 0.0);
    for &i in top {
        votes[labels[i as usize]] += ((f64::from(sims[i as usize]) - s_max) * inv_t).exp();
    }
    let mut best = 0;
    for (c, &v) in votes.iter().enumerate().skip(1) {
        if v > votes[best] {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_every_tail_length() {
        for n in 0..20 {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn blocked_dots_match_single_dots() {
        for (dim, rows) in [(1, 1), (3, 9), (8, 4), (13, 7), (37, 11)] {
            let x: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
            let m: Vec<f32> = (0..dim * rows).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut out = vec![0f32; rows];
            dots_into(&x, &m, dim, &mut out);
            for (j, &o) in out.iter().enumerate() {
                let single = dot(&x, &m[j * dim..(j + 1) * dim]);
                assert!((o - single).abs() < 1e-4, "dim {dim}, row {j}");
            }
        }
    }

    #[test]
    fn vote_breaks_similarity_ties_by_index() {
        // Three equally similar neighbours, k = 1: the lowest index (label 2) wins.
        let sims = [0.5f32, 0.5, 0.5];
        let mut order = Vec::new();
        let mut votes = vec![0.0; 3];
        assert_eq!(vote(&sims, &[2, 0, 1], 1, 1.0, &mut order, &mut votes), 2);
    }
}
