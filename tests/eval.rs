//! Evaluation metrics against hand-computed values: top-k accuracy, confusion matrix,
//! calibration (ECE, MCE, NLL), corruption robustness (CE, mCE, relative mCE) and the
//! weighted k-NN classifier; plus the errors on bad input.

mod common;
use common::naive_knn;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use supcon::eval::{
    ConfusionMatrix, ErrorTable, EvalError, accuracy, calibration_report,
    calibration_report_from_logits, corruption_error, expected_calibration_error, knn_accuracy,
    knn_predict, mean_corruption_error, mean_error, negative_log_likelihood,
    negative_log_likelihood_from_logits, per_class_accuracy, predictions,
    relative_corruption_error, relative_mean_corruption_error, robustness_report, softmax,
    top_k_accuracies, top_k_accuracy,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn err_text<T: std::fmt::Debug>(r: Result<T, EvalError>) -> String {
    r.expect_err("expected an error").to_string()
}

// ----------------------------------------------------------------------------- accuracy

/// 6 classes, 3 samples.
/// row 0: label 2 has the 1st score            -> top-1 hit, top-5 hit
/// row 1: label 0 has the 3rd score            -> top-1 miss, top-5 hit
/// row 2: label 5 has the lowest (6th) score   -> top-1 miss, top-5 miss
const SCORES: [f32; 18] = [
    0.1, 0.2, 0.9, 0.0, 0.3, 0.4, //
    0.5, 0.9, 0.1, 0.7, 0.2, 0.0, //
    0.3, 0.6, 0.5, 0.4, 0.2, 0.1, //
];
const LABELS: [usize; 3] = [2, 0, 5];

#[test]
fn top1_and_top5_on_a_hand_made_example() {
    let top1 = top_k_accuracy(&SCORES, 6, &LABELS, 1).unwrap();
    let top5 = top_k_accuracy(&SCORES, 6, &LABELS, 5).unwrap();
    assert!(close(top1, 1.0 / 3.0, 1e-12), "{top1}");
    assert!(close(top5, 2.0 / 3.0, 1e-12), "{top5}");
    // top-3 includes row 1 (rank 2), top-6 everything.
    let all = top_k_accuracies(&SCORES, 6, &LABELS, &[1, 3, 5, 6]).unwrap();
    assert_eq!(all, vec![1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 1.0]);
    assert_eq!(predictions(&SCORES, 6).unwrap(), vec![2, 1, 1]);
}

#[test]
fn ties_go_to_the_lowest_class_index() {
    // Classes 0 and 1 tie: arg-max is 0, so label 0 is a top-1 hit and label 1 is not.
    let scores = [0.5f32, 0.5, 0.0, 0.5, 0.5, 0.0];
    assert_eq!(top_k_accuracy(&scores, 3, &[0, 1], 1).unwrap(), 0.5);
    assert_eq!(top_k_accuracy(&scores, 3, &[0, 1], 2).unwrap(), 1.0);
    assert_eq!(predictions(&scores, 3).unwrap(), vec![0, 0]);
}

#[test]
fn confusion_matrix_counts_and_per_class_accuracy() {
    let labels = [0, 0, 1, 1, 1, 2];
    let preds = [0, 1, 1, 1, 2, 2];
    let m = ConfusionMatrix::from_predictions(&preds, &labels, 4).unwrap();
    assert_eq!(
        m.counts(),
        &[
            vec![1, 1, 0, 0],
            vec![0, 2, 1, 0],
            vec![0, 0, 1, 0],
            vec![0, 0, 0, 0]
        ]
    );
    assert_eq!(m.total(), 6);
    assert_eq!(m.count(1, 2), Some(1));
    assert_eq!(m.count(4, 0), None);
    assert!(close(m.accuracy().unwrap(), 4.0 / 6.0, 1e-12));
    assert_eq!(
        m.per_class_accuracy(),
        vec![Some(0.5), Some(2.0 / 3.0), Some(1.0), None]
    );
    assert_eq!(
        per_class_accuracy(&preds, &labels, 4).unwrap(),
        m.per_class_accuracy()
    );
    assert!(close(accuracy(&preds, &labels).unwrap(), 4.0 / 6.0, 1e-12));

    let from_scores = ConfusionMatrix::from_scores(&SCORES, 6, &LABELS).unwrap();
    assert_eq!(from_scores.count(2, 2), Some(1));
    assert_eq!(from_scores.count(0, 1), Some(1));
    assert_eq!(from_scores.count(5, 1), Some(1));

    let mut r = ConfusionMatrix::new(2).unwrap();
    r.record(1, 0).unwrap();
    assert_eq!(r.count(1, 0), Some(1));
    assert!(err_text(r.record(2, 0)).contains("label 2"));

    // serde round trip, and a malformed matrix is rejected on load.
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<ConfusionMatrix>(&json).unwrap(), m);
    let bad = r#"{"num_classes":2,"counts":[[1,2],[3]]}"#;
    let e = serde_json::from_str::<ConfusionMatrix>(bad).unwrap_err();
    assert!(e.to_string().contains("row 1 has 1 columns"), "{e}");
}

#[test]
fn accuracy_rejects_bad_input_with_the_value_named() {
    let e = err_text(top_k_accuracy(&SCORES, 6, &[2, 0, 7], 1));
    assert!(e.contains("label 7") && e.contains("index 2"), "{e}");
    let e = err_text(top_k_accuracy(&SCORES[..17], 6, &LABELS, 1));
    assert!(e.contains("17"), "{e}");
    let e = err_text(top_k_accuracy(&SCORES, 6, &[2, 0], 1));
    assert!(e.contains("2 labels") && e.contains("3 rows"), "{e}");
    let e = err_text(top_k_accuracy(&[], 6, &[], 1));
    assert!(e.contains("empty"), "{e}");
    let e = err_text(top_k_accuracy(&SCORES, 6, &LABELS, 0));
    assert!(e.contains("k = 0"), "{e}");
    let e = err_text(top_k_accuracy(&SCORES, 6, &LABELS, 7));
    assert!(e.contains("k = 7"), "{e}");
    let e = err_text(top_k_accuracy(&SCORES, 0, &LABELS, 1));
    assert!(e.contains("num_classes"), "{e}");
    let mut nan = SCORES;
    nan[7] = f32::NAN;
    let e = err_text(top_k_accuracy(&nan, 6, &LABELS, 1));
    assert!(e.contains("NaN") && e.contains("row 1, column 1"), "{e}");
    let e = err_text(accuracy(&[1, 2], &[1]));
    assert!(e.contains("2 predictions but 1 labels"), "{e}");
    let e = err_text(accuracy(&[], &[]));
    assert!(e.contains("empty"), "{e}");
    let e = err_text(ConfusionMatrix::from_predictions(&[0, 9], &[0, 1], 3));
    assert!(e.contains("prediction 9"), "{e}");
}

// -------------------------------------------------------------------------- calibration

#[test]
fn ece_is_zero_when_confidence_equals_accuracy_in_every_bin() {
    // 10 samples at confidence 0.8 with 8 correct, 5 samples at confidence 0.6 with 3
    // correct: in each bin accuracy = confidence, so every gap and ECE are 0.
    let mut probs = Vec::new();
    let mut labels = Vec::new();
    for i in 0..10 {
        probs.extend([0.8f32, 0.2]);
        labels.push(usize::from(i >= 8)); // 8 correct (label 0), 2 wrong
    }
    for i in 0..5 {
        probs.extend([0.4f32, 0.6]);
        labels.push(usize::from(i < 3)); // prediction 1: 3 correct, 2 wrong
    }
    let r = calibration_report(&probs, 2, &labels, 15).unwrap();
    assert!(r.ece < 1e-6, "ECE {}", r.ece);
    assert!(r.mce < 1e-6, "MCE {}", r.mce);
    assert_eq!(r.bins.len(), 15);
    assert_eq!(r.bins.iter().map(|b| b.count).sum::<usize>(), 15);
    // 0.8 falls in (11/15, 12/15] = (0.733, 0.8], 0.6 in (8/15, 9/15] = (0.533, 0.6].
    assert_eq!(r.bins[11].count, 10);
    assert_eq!(r.bins[8].count, 5);
    assert!(close(r.bins[11].accuracy, 0.8, 1e-12));
    assert!(close(r.bins[11].confidence, 0.8, 1e-6));
}

/// Two bins, [0, 0.5] and (0.5, 1], three classes:
///
/// | sample | probabilities       | label | pred | conf | correct | bin |
/// |--------|---------------------|-------|------|------|---------|-----|
/// | a      | 0.40, 0.30, 0.30    | 0     | 0    | 0.40 | yes     | 0   |
/// | b      | 0.20, 0.45, 0.35    | 2     | 1    | 0.45 | no      | 0   |
/// | c      | 0.90, 0.05, 0.05    | 0     | 0    | 0.90 | yes     | 1   |
/// | d      | 0.10, 0.80, 0.10    | 0     | 1    | 0.80 | no      | 1   |
/// | e      | 0.15, 0.15, 0.70    | 2     | 2    | 0.70 | yes     | 1   |
///
/// bin 0: acc = 1/2 = 0.5, conf = (0.40 + 0.45) / 2 = 0.425, gap = 0.075
/// bin 1: acc = 2/3,       conf = (0.9 + 0.8 + 0.7) / 3 = 0.8, gap = 0.8 - 2/3 = 0.1333..
/// ECE = (2/5) 0.075 + (3/5) 0.1333.. = 0.03 + 0.08 = 0.11
/// MCE = max(0.075, 0.1333..) = 0.1333..
/// NLL = -(ln 0.40 + ln 0.35 + ln 0.90 + ln 0.10 + ln 0.70) / 5
///     = (0.916291 + 1.049822 + 0.105361 + 2.302585 + 0.356675) / 5 = 4.730734 / 5
///     = 0.946147
#[test]
fn ece_mce_and_nll_match_a_hand_computed_two_bin_case() {
    let probs = [
        0.40f32, 0.30, 0.30, //
        0.20, 0.45, 0.35, //
        0.90, 0.05, 0.05, //
        0.10, 0.80, 0.10, //
        0.15, 0.15, 0.70, //
    ];
    let labels = [0, 2, 0, 0, 2];
    let r = calibration_report(&probs, 3, &labels, 2).unwrap();
    assert!(close(r.ece, 0.11, 1e-6), "ECE {}", r.ece);
    assert!(close(r.mce, 0.8 - 2.0 / 3.0, 1e-6), "MCE {}", r.mce);
    assert!(close(r.nll, 0.946_147, 1e-5), "NLL {}", r.nll);
    assert!(close(r.accuracy, 0.6, 1e-12));
    assert_eq!((r.bins[0].count, r.bins[1].count), (2, 3));
    assert!(close(r.bins[0].accuracy, 0.5, 1e-12) && close(r.bins[0].confidence, 0.425, 1e-6));
    assert!(close(r.bins[1].accuracy, 2.0 / 3.0, 1e-12) && close(r.bins[1].confidence, 0.8, 1e-6));
    assert_eq!(
        (r.bins[0].lower, r.bins[0].upper, r.bins[1].upper),
        (0.0, 0.5, 1.0)
    );
    assert!(close(
        expected_calibration_error(&probs, 3, &labels, 2).unwrap(),
        0.11,
        1e-6
    ));
    assert!(close(
        negative_log_likelihood(&probs, 3, &labels).unwrap(),
        0.946_147,
        1e-5
    ));
    // The report serialises for reliability diagrams.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["bins"][1]["count"], 3);
}

/// NLL from logits: row 1 logits (0, 0), label 0: p = 1/2, -ln p = ln 2 = 0.693147;
/// row 2 logits (0, ln 3), label 1: p = 3/4, -ln p = 0.287682; mean = 0.490415.
#[test]
fn nll_of_a_known_case_and_stable_softmax() {
    let logits = [0.0f32, 0.0, 0.0, 3f32.ln()];
    let nll = negative_log_likelihood_from_logits(&logits, 2, &[0, 1]).unwrap();
    assert!(
        close(nll, (2f64.ln() + (4.0f64 / 3.0).ln()) / 2.0, 1e-6),
        "{nll}"
    );
    assert!(close(nll, 0.490_415, 1e-6));
    let p = softmax(&logits, 2).unwrap();
    assert!(
        p.iter()
            .zip([0.5, 0.5, 0.25, 0.75])
            .all(|(a, b)| (a - b).abs() < 1e-6)
    );
    // Huge logits neither overflow nor lose the answer.
    let r = calibration_report_from_logits(&[1e4, 0.0, 0.0, 1e4], 2, &[0, 0], 15).unwrap();
    assert!(close(r.nll, 5e3, 1e-3), "{}", r.nll); // (0 + 1e4) / 2
    assert_eq!(r.bins[14].count, 2);
    assert!(close(r.ece, 0.5, 1e-9));
    // A zero probability on the true class is floored, not infinite.
    let floored = negative_log_likelihood(&[1.0, 0.0], 2, &[1]).unwrap();
    assert!(close(floored, -(1e-12f64).ln(), 1e-9));
}

#[test]
fn calibration_rejects_bad_input_with_the_value_named() {
    let e = err_text(calibration_report(&[0.5, 0.5], 2, &[3], 15));
    assert!(e.contains("label 3"), "{e}");
    let e = err_text(calibration_report(&[0.5, 0.7], 2, &[0], 15));
    assert!(e.contains("row 0 sum to 1.200000"), "{e}");
    let e = err_text(calibration_report(&[1.5, -0.5], 2, &[0], 15));
    assert!(e.contains("1.5"), "{e}");
    let e = err_text(calibration_report(&[0.5, 0.5], 2, &[0], 0));
    assert!(e.contains("num_bins"), "{e}");
    let e = err_text(calibration_report(&[], 2, &[], 15));
    assert!(e.contains("empty"), "{e}");
    let e = err_text(negative_log_likelihood_from_logits(
        &[0.0, 1.0, 2.0],
        2,
        &[0],
    ));
    assert!(e.contains("length 3"), "{e}");
    let e = err_text(softmax(&[0.0, f32::INFINITY], 2));
    assert!(e.contains("inf"), "{e}");
}

// --------------------------------------------------------------------------- robustness

/// Baseline: clean 0.4, gaussian_noise {1: 0.6, 2: 0.8}, fog {1: 0.5, 2: 0.7}.
/// Model:    clean 0.1, gaussian_noise {1: 0.3, 2: 0.5}, fog {1: 0.2, 2: 0.3}.
fn tables() -> (ErrorTable, ErrorTable) {
    let mut base = ErrorTable::with_clean(0.4);
    base.insert("gaussian_noise", 1, 0.6);
    base.insert("gaussian_noise", 2, 0.8);
    base.insert("fog", 1, 0.5);
    base.insert("fog", 2, 0.7);
    let mut model = ErrorTable::with_clean(0.1);
    model.insert("gaussian_noise", 1, 0.3);
    model.insert("gaussian_noise", 2, 0.5);
    model.insert("fog", 1, 0.2);
    model.insert("fog", 2, 0.3);
    (model, base)
}

/// CE_gauss = (0.3 + 0.5) / (0.6 + 0.8) = 0.8 / 1.4 = 0.571429
/// CE_fog   = (0.2 + 0.3) / (0.5 + 0.7) = 0.5 / 1.2 = 0.416667
/// mCE      = (0.571429 + 0.416667) / 2 = 0.494048
/// relCE_gauss = ((0.3-0.1) + (0.5-0.1)) / ((0.6-0.4) + (0.8-0.4)) = 0.6 / 0.6 = 1.0
/// relCE_fog   = ((0.2-0.1) + (0.3-0.1)) / ((0.5-0.4) + (0.7-0.4)) = 0.3 / 0.4 = 0.75
/// relative mCE = (1.0 + 0.75) / 2 = 0.875
/// unnormalised mean error = ((0.3+0.5)/2 + (0.2+0.3)/2) / 2 = (0.4 + 0.25) / 2 = 0.325
#[test]
fn mce_and_relative_mce_match_the_definitions() {
    let (model, base) = tables();
    assert!(close(
        corruption_error(&model, &base, "gaussian_noise").unwrap(),
        0.8 / 1.4,
        1e-12
    ));
    assert!(close(
        corruption_error(&model, &base, "fog").unwrap(),
        0.5 / 1.2,
        1e-12
    ));
    let mce = mean_corruption_error(&model, &base).unwrap();
    assert!(close(mce, (0.8 / 1.4 + 0.5 / 1.2) / 2.0, 1e-12));
    assert!(close(mce, 0.494_048, 1e-6));
    assert!(close(
        relative_corruption_error(&model, &base, "gaussian_noise").unwrap(),
        1.0,
        1e-12
    ));
    assert!(close(
        relative_corruption_error(&model, &base, "fog").unwrap(),
        0.75,
        1e-12
    ));
    assert!(close(
        relative_mean_corruption_error(&model, &base).unwrap(),
        0.875,
        1e-12
    ));
    assert!(close(mean_error(&model).unwrap(), 0.325, 1e-12));

    let r = robustness_report(&model, Some(&base)).unwrap();
    assert!(close(r.mce.unwrap(), mce, 1e-12));
    assert!(close(r.relative_mce.unwrap(), 0.875, 1e-12));
    assert!(close(r.mean_error, 0.325, 1e-12));
    assert_eq!(r.clean_error, Some(0.1));
    assert!(close(r.corruptions["fog"].mean_error, 0.25, 1e-12));
    let alone = robustness_report(&model, None).unwrap();
    assert_eq!((alone.mce, alone.relative_mce), (None, None));
    assert!(close(alone.mean_error, 0.325, 1e-12));
    // Without clean errors the relative scores are left out of the report.
    let mut no_clean = base.clone();
    no_clean.clean = None;
    let partial = robustness_report(&model, Some(&no_clean)).unwrap();
    assert!(partial.mce.is_some() && partial.relative_mce.is_none());

    // Tables load from JSON with integer severities as keys.
    let json = serde_json::to_string(&model).unwrap();
    assert_eq!(serde_json::from_str::<ErrorTable>(&json).unwrap(), model);
}

#[test]
fn robustness_errors_name_what_is_missing() {
    let (mut model, base) = tables();
    model.insert("snow", 1, 0.2);
    let e = mean_corruption_error(&model, &base).unwrap_err();
    assert!(
        matches!(e, EvalError::Missing(_)) && e.to_string().contains("'snow'"),
        "{e}"
    );

    let (mut model, base) = tables();
    model.insert("fog", 3, 0.4);
    let e = err_text(corruption_error(&model, &base, "fog"));
    assert!(e.contains("severity 3") && e.contains("'fog'"), "{e}");
    let e = err_text(corruption_error(&model, &base, "frost"));
    assert!(e.contains("'frost'") && e.contains("model"), "{e}");

    let (model, mut base) = tables();
    base.insert("fog", 1, 0.0);
    base.insert("fog", 2, 0.0);
    let e = corruption_error(&model, &base, "fog").unwrap_err();
    assert!(
        matches!(e, EvalError::DivisionByZero(_)) && e.to_string().contains("'fog'"),
        "{e}"
    );

    // Baseline degradation sums to zero: (0.5 - 0.6) + (0.7 - 0.6) = 0.
    let (model, mut base) = tables();
    base.clean = Some(0.6);
    let e = relative_corruption_error(&model, &base, "fog").unwrap_err();
    assert!(matches!(e, EvalError::DivisionByZero(_)), "{e}");

    let (mut model, base) = tables();
    model.clean = None;
    let e = err_text(relative_mean_corruption_error(&model, &base));
    assert!(e.contains("clean"), "{e}");

    let (mut model, base) = tables();
    model.insert("fog", 2, -0.1);
    let e = err_text(corruption_error(&model, &base, "fog"));
    assert!(e.contains("-0.1"), "{e}");
    let e = err_text(mean_error(&ErrorTable::new()));
    assert!(e.contains("no corruption"), "{e}");
}

// ------------------------------------------------------------------------------ k-NN

#[test]
fn knn_on_a_tiny_hand_made_embedding_set() {
    // Class 0 near 0 degrees, class 1 near 90 degrees, class 2 at 180 degrees.
    let train = [1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9, -1.0, 0.0];
    let labels = [0, 0, 1, 1, 2];
    let test = [1.0f32, 0.2, 0.2, 1.0, -1.0, -0.1];
    let preds = knn_predict(&train, &labels, &test, 2, 3, 3, 0.07).unwrap();
    assert_eq!(preds, vec![0, 1, 2]);
    // k larger than the training set is reduced to it; unnormalised inputs are fine.
    let scaled: Vec<f32> = test.iter().map(|v| v * 10.0).collect();
    assert_eq!(
        knn_predict(&train, &labels, &scaled, 2, 3, 200, 0.07).unwrap(),
        preds
    );
    assert_eq!(
        knn_accuracy(&train, &labels, &test, &[0, 1, 1], 2, 3, 3, 0.07).unwrap(),
        2.0 / 3.0
    );
}

/// Cosine similarity does not depend on the scale of the embeddings, even where a raw
/// dot product would overflow (1e20) or underflow (1e-25) f32.
#[test]
fn knn_is_scale_invariant_over_the_f32_range() {
    let (train, labels, test) = ([1.0f32, 0.0, 0.0, 1.0], [0usize, 1], [0.1f32, 1.0]);
    for scale in [1.0f32, 1e18, 1e20, 1e30, 1e-20, 1e-25] {
        let tr: Vec<f32> = train.iter().map(|v| v * scale).collect();
        let te: Vec<f32> = test.iter().map(|v| v * scale).collect();
        assert_eq!(
            knn_predict(&tr, &labels, &te, 2, 2, 2, 0.07).unwrap(),
            vec![1],
            "scale {scale}"
        );
    }
}

#[test]
fn knn_weights_favour_close_neighbours_at_low_temperature() {
    // One exact match of class 0 (sim 1) and two class-1 points at sim 0.6, k = 3.
    // T = 0.07: weights 1 vs 2 exp(-0.4 / 0.07) = 0.0066 -> class 0.
    // T = 100:  weights ~1 vs ~2 -> class 1 (majority).
    let train = [1.0f32, 0.0, 0.6, 0.8, 0.6, -0.8];
    let labels = [0, 1, 1];
    let test = [1.0f32, 0.0];
    assert_eq!(
        knn_predict(&train, &labels, &test, 2, 2, 3, 0.07).unwrap(),
        vec![0]
    );
    assert_eq!(
        knn_predict(&train, &labels, &test, 2, 2, 3, 100.0).unwrap(),
        vec![1]
    );
}

#[test]
fn knn_matches_a_plain_reference_on_random_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (dim, c, n_train, n_test) = (37, 5, 300, 70);
    let train: Vec<f32> = (0..n_train * dim)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let labels: Vec<usize> = (0..n_train).map(|_| rng.random_range(0..c)).collect();
    let test: Vec<f32> = (0..n_test * dim)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    for (k, t) in [(1, 0.07f32), (10, 0.07), (50, 0.5)] {
        let fast = knn_predict(&train, &labels, &test, dim, c, k, t).unwrap();
        let slow = naive_knn(&train, &labels, &test, dim, c, k, t);
        let agree = fast.iter().zip(&slow).filter(|(a, b)| a == b).count();
        // Rounding differences may flip a near-tie; allow at most one.
        assert!(agree + 1 >= n_test, "k = {k}: {agree} / {n_test} agree");
    }
}

#[test]
fn knn_rejects_bad_input_with_the_value_named() {
    let train = [1.0f32, 0.0, 0.0, 1.0];
    let test = [1.0f32, 0.0];
    let e = err_text(knn_predict(&train, &[0, 5], &test, 2, 3, 1, 0.07));
    assert!(e.contains("label 5"), "{e}");
    let e = err_text(knn_predict(&train, &[0], &test, 2, 3, 1, 0.07));
    assert!(
        e.contains("1 training labels") && e.contains("2 training embeddings"),
        "{e}"
    );
    let e = err_text(knn_predict(
        &train,
        &[0, 1],
        &[1.0, 0.0, 1.0],
        2,
        3,
        1,
        0.07,
    ));
    assert!(e.contains("length 3"), "{e}");
    let e = err_text(knn_predict(&[], &[], &test, 2, 3, 1, 0.07));
    assert!(e.contains("empty"), "{e}");
    let e = err_text(knn_predict(&train, &[0, 1], &test, 2, 3, 0, 0.07));
    assert!(e.contains("k must be at least 1"), "{e}");
    let e = err_text(knn_predict(&train, &[0, 1], &test, 2, 3, 1, 0.0));
    assert!(e.contains("temperature") && e.contains('0'), "{e}");
    let e = err_text(knn_predict(
        &[1.0, 0.0, 0.0, 0.0],
        &[0, 1],
        &test,
        2,
        3,
        1,
        0.07,
    ));
    assert!(e.contains("row 1 has zero norm"), "{e}");
    let e = err_text(knn_accuracy(&train, &[0, 1], &test, &[0, 1], 2, 3, 1, 0.07));
    assert!(e.contains("2 test labels but 1 test embeddings"), "{e}");
    let e = err_text(knn_accuracy(&train, &[0, 1], &test, &[4], 2, 3, 1, 0.07));
    assert!(e.contains("label 4"), "{e}");
    assert_eq!(
        knn_predict(&train, &[0, 1], &[], 2, 3, 1, 0.07).unwrap(),
        Vec::<usize>::new()
    );
}
