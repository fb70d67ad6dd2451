//! The 2-D PCA projection of a run's test-set encoder features.

use super::entries::Entry;
use crate::eval::evaluate::{
    DataOverride, RunEvalError, encoder_features, load_eval_data, load_run_encoder,
};

/// The first two principal components of the rows of `x` (`[n, d]`), by power
/// iteration on `X^T X` of the centred data (deflating the first component), each
/// with the sign that makes its largest loading positive. Returns the `n` projections.
///
/// # Errors
/// [`EvalError::Invalid`](crate::eval::EvalError) when `x` does not hold `n * d` values.
pub fn pca_2d(x: &[f32], n: usize, d: usize) -> Result<Vec<(f64, f64)>, crate::eval::EvalError> {
    if n.checked_mul(d) != Some(x.len()) {
        return Err(crate::eval::EvalError::Invalid(format!(
            "PCA: {} values for {n} rows of {d}",
            x.len()
        )));
    }
    if n == 0 || d == 0 {
        return Ok(Vec::new());
    }
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred: Vec<f64> = x
        .chunks_exact(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| f64::from(v) - m))
        .collect();
    let apply = |v: &[f64]| -> Vec<f64> {
        // X^T (X v)
        let mut out = vec![0f64; d];
        for row in centred.chunks_exact(d) {
            let s: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
            for (o, a) in out.iter_mut().zip(row) {
                *o += s * a;
            }
        }
        out
    };
    let normalise = |v: &mut Vec<f64>| {
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|a| *a /= norm);
        }
        norm
    };
    let mut components: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        let mut v: Vec<f64> = (0..d)
            .map(|i| 1.0 + ((i * 7 + k * 13) % 11) as f64 * 0.1)
            .collect();
        let orthogonalise = |v: &mut Vec<f64>, comps: &[Vec<f64>]| {
            for c in comps {
                let dot: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
            }
        };
        orthogonalise(&mut v, &components);
        normalise(&mut v);
        for _ in 0..300 {
            let mut w = apply(&v);
            orthogonalise(&mut w, &components);
            if normalise(&mut w) == 0.0 {
                break;
            }
            let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            if delta < 1e-10 {
                break;
            }
        }
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |m, a| if a.abs() > m.abs() { a } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|a| *a = -*a);
        }
        components.push(v);
    }
    Ok(centred
        .chunks_exact(d)
        .map(|row| {
            let p = |c: &[f64]| row.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
            (p(&components[0]), p(&components[1]))
        })
        .collect())
}

/// PCA of a run's test-set encoder features: points, labels, class names, feature size.
#[allow(clippy::type_complexity)]
pub(super) fn embed(
    e: &Entry,
    max_points: usize,
) -> Result<(Vec<(f64, f64)>, Vec<usize>, Vec<String>, usize), RunEvalError> {
    let mut data = load_eval_data(&e.info, &DataOverride::default())?;
    if data.test.len() > max_points {
        data.test = crate::data::limit(&data.test, max_points, 0);
    }
    let encoder = load_run_encoder(&e.info)?;
    let feats = encoder_features(&encoder, e.info.device, &data, &data.test)?;
    let points = pca_2d(&feats.values, feats.rows, feats.cols)
        .map_err(|e| RunEvalError::Invalid(e.to_string()))?;
    Ok((
        points,
        data.test.labels.clone(),
        data.test.class_names.clone(),
        feats.cols,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_dominant_directions() {
        // Points spread along (1, 1, 0) strongly and (1, -1, 0) weakly, the two
        // uncorrelated (b follows +1 -1 -1 +1 against a linear ramp).
        let mut x = Vec::new();
        for i in 0..48 {
            let a = i as f32 - 24.0;
            let b = [1.0, -1.0, -1.0, 1.0][i % 4];
            x.extend_from_slice(&[a + b, a - b, 0.0]);
        }
        let p = pca_2d(&x, 48, 3).unwrap();
        assert_eq!(p.len(), 48);
        // A row count that does not match the values is an error, not other projections.
        assert!(
            pca_2d(&x, 47, 3)
                .unwrap_err()
                .to_string()
                .contains("144 values for 47 rows")
        );
        assert!(pca_2d(&x, 50, 3).is_err());
        // Centred, PC1 = (a + 0.5) * sqrt(2) and PC2 = b * sqrt(2), up to sign.
        for (i, &(u, v)) in p.iter().enumerate() {
            let a = i as f64 - 23.5;
            assert!((u.abs() - (a * 2f64.sqrt()).abs()).abs() < 1e-6, "{i}: {u}");
            assert!((v.abs() - 2f64.sqrt()).abs() < 1e-6, "{i}: {v}");
        }
    }
}
