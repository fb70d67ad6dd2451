//! Evaluations on frozen encoder features: weighted k-NN, and few-shot linear probes on
//! class-balanced subsets (with their mean and spread).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::error::RunEvalError;
use super::options::{EvalOptions, KnnOptions};
use super::results::{FewShotResult, KnnResult};
use crate::data::LoadedDataset;
use crate::device::DeviceChoice;
use crate::eval::knn::knn_accuracy;
use crate::train::features::Matrix;
use crate::train::linear::{classifier_logits, fit_classifier_on_features};
use crate::train::metrics::classification_metrics;
use crate::train::{LinearConfig, ScheduleConfig};

/// Weighted k-NN accuracy of the test features `[n, D]` against the training features
/// `[m, D]` as the neighbour bank.
pub(super) fn knn_result(
    train: &Matrix,
    data: &LoadedDataset,
    test: &Matrix,
    k: KnnOptions,
) -> Result<KnnResult, RunEvalError> {
    let top1 = knn_accuracy(
        &train.values,
        &data.train.labels,
        &test.values,
        &data.test.labels,
        train.cols,
        data.num_classes(),
        k.k,
        k.temperature,
    )?;
    Ok(KnnResult {
        // k-NN uses every training sample when k exceeds their number.
        k: k.k.min(train.rows),
        temperature: k.temperature,
        train_samples: train.rows,
        top1,
    })
}

/// `shots` per class drawn from `labels` with `seed`: indices in increasing order.
///
/// # Errors
/// A class with fewer than `shots` samples (naming it); a label `>= num_classes`.
pub fn few_shot_indices(
    labels: &[usize],
    num_classes: usize,
    class_names: &[String],
    shots: usize,
    seed: u64,
) -> Result<Vec<usize>, RunEvalError> {
    use rand::seq::SliceRandom;
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        let Some(g) = by_class.get_mut(l) else {
            return Err(RunEvalError::Invalid(format!(
                "--few-shot: training label {l} at index {i} is out of range for \
                 {num_classes} classes"
            )));
        };
        g.push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6665_7773_686F_7421); // "fewshot!"
    let mut chosen = Vec::with_capacity(shots * num_classes);
    for (c, mut g) in by_class.into_iter().enumerate() {
        if g.len() < shots {
            return Err(RunEvalError::Invalid(format!(
                "--few-shot {shots}: class '{}' has only {} training image(s)",
                class_names.get(c).map_or("?", String::as_str),
                g.len()
            )));
        }
        g.shuffle(&mut rng);
        chosen.extend_from_slice(&g[..shots]);
    }
    chosen.sort_unstable();
    Ok(chosen)
}

pub(super) fn few_shot_probe(
    train: &Matrix,
    data: &LoadedDataset,
    test: &Matrix,
    shots: usize,
    opts: &EvalOptions,
    device: DeviceChoice,
) -> Result<FewShotResult, RunEvalError> {
    let num_classes = data.num_classes();
    let mut top1 = Vec::new();
    let seeds: Vec<u64> = (0..opts.few_shot_seeds as u64).collect();
    for &seed in &seeds {
        let idx = few_shot_indices(
            &data.train.labels,
            num_classes,
            &data.train.class_names,
            shots,
            seed,
        )?;
        let x = Matrix {
            rows: idx.len(),
            cols: train.cols,
            values: idx.iter().flat_map(|&i| train.row(i).to_vec()).collect(),
        };
        let y: Vec<usize> = idx.iter().map(|&i| data.train.labels[i]).collect();
        let settings = LinearConfig {
            epochs: opts.few_shot_epochs,
            batch_size: x.rows.min(256),
            schedule: ScheduleConfig {
                base_lr: 0.1,
                ..ScheduleConfig::default()
            },
            seed,
            device,
            ..LinearConfig::default()
        };
        let classifier = fit_classifier_on_features(&x, &y, num_classes, &settings)?;
        let logits = classifier_logits(&classifier, test, &device.device())?;
        top1.push(classification_metrics(&logits, &data.test.labels)?.top1);
    }
    let (mean, std) = mean_std(&top1);
    Ok(FewShotResult {
        shots,
        seeds,
        top1,
        mean,
        std,
    })
}

/// Mean and sample standard deviation (`n - 1` in the denominator; 0 for one value).
/// An empty slice gives `(NaN, NaN)`.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_shot_indices_take_k_per_class() {
        let labels = vec![0, 1, 0, 1, 0, 1, 2, 2];
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let idx = few_shot_indices(&labels, 3, &names, 2, 7).unwrap();
        assert_eq!(idx.len(), 6);
        for c in 0..3 {
            assert_eq!(idx.iter().filter(|&&i| labels[i] == c).count(), 2);
        }
        assert_eq!(idx, few_shot_indices(&labels, 3, &names, 2, 7).unwrap());
        let e = few_shot_indices(&labels, 3, &names, 3, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'c'") && e.contains("--few-shot 3"), "{e}");
        // A label outside the classes is an error, not silently left out.
        let e = few_shot_indices(&[0, 1, 5, 5, 7], 2, &names[..2], 1, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("label 5 at index 2") && e.contains("2 classes"),
            "{e}"
        );
    }

    #[test]
    fn mean_std_uses_the_sample_deviation() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
    }
}
