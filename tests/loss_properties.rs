//! Properties of the SupCon loss that must hold for any input, plus its input checks.

use burn::tensor::{Device, Tensor, TensorData};
use proptest::prelude::*;
use supcon::loss::{ContrastMode, LossError, Positives, SupConLossConfig, Variant};

fn device() -> Device {
    Device::flex()
}

fn tensor(values: &[f32], batch: usize, views: usize, dim: usize, device: &Device) -> Tensor<3> {
    Tensor::<3>::from_data(
        TensorData::new(values.to_vec(), [batch, views, dim]),
        device,
    )
}

/// Loss value for features laid out `[batch, views, dim]`.
fn loss(
    config: &SupConLossConfig,
    values: &[f32],
    batch: usize,
    views: usize,
    dim: usize,
    positives: Positives<'_>,
) -> f32 {
    let x = tensor(values, batch, views, dim, &device());
    config
        .init()
        .unwrap()
        .forward(x, positives)
        .unwrap()
        .into_scalar::<f32>()
}

fn rel_close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

/// A batch: (batch, views, dim, features, labels, temperature, variant, mode).
fn batch_strategy() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<usize>)> {
    (1usize..7, 1usize..4, 1usize..6).prop_flat_map(|(b, v, d)| {
        (
            Just(b),
            Just(v),
            Just(d),
            prop::collection::vec(-3.0f32..3.0, b * v * d),
            prop::collection::vec(0usize..3, b),
        )
    })
}

fn config_strategy() -> impl Strategy<Value = SupConLossConfig> {
    (
        0.05f64..1.0,
        prop::option::of(0.05f64..1.0),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(t, base, one, l_in)| {
            SupConLossConfig::default()
                .with_temperature(t)
                .with_base_temperature(base)
                .with_contrast_mode(if one {
                    ContrastMode::One
                } else {
                    ContrastMode::All
                })
                .with_variant(if l_in { Variant::In } else { Variant::Out })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn swapping_two_views_leaves_the_loss_unchanged(
        (b, _v, d, x, labels) in batch_strategy(), t in 0.05f64..1.0, l_in in any::<bool>()
    ) {
        // Two views; the swap exchanges view 0 and view 1 of every sample.
        let v = 2;
        let x: Vec<f32> = x.iter().cycle().take(b * v * d).copied().collect();
        let mut swapped = x.clone();
        for i in 0..b {
            for k in 0..d {
                swapped[(i * v) * d + k] = x[(i * v + 1) * d + k];
                swapped[(i * v + 1) * d + k] = x[(i * v) * d + k];
            }
        }
        let cfg = SupConLossConfig::default()
            .with_temperature(t)
            .with_variant(if l_in { Variant::In } else { Variant::Out });
        let a = loss(&cfg, &x, b, v, d, Positives::Labels(&labels));
        let s = loss(&cfg, &swapped, b, v, d, Positives::Labels(&labels));
        prop_assert!(rel_close(a, s), "{a} vs {s}");
    }

    #[test]
    fn permuting_the_batch_leaves_the_loss_unchanged(
        (b, v, d, x, labels) in batch_strategy(), cfg in config_strategy(), seed in any::<u64>()
    ) {
        // A seeded permutation of the samples, applied to features and labels together.
        let mut perm: Vec<usize> = (0..b).collect();
        let mut s = seed;
        for i in (1..b).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let row = v * d;
        let xp: Vec<f32> = perm.iter().flat_map(|&p| x[p * row..(p + 1) * row].to_vec()).collect();
        let lp: Vec<usize> = perm.iter().map(|&p| labels[p]).collect();
        let a = loss(&cfg, &x, b, v, d, Positives::Labels(&labels));
        let p = loss(&cfg, &xp, b, v, d, Positives::Labels(&lp));
        prop_assert!(rel_close(a, p), "{a} vs {p}");
    }

    #[test]
    fn with_distinct_labels_supcon_equals_simclr(
        (b, v, d, x, _labels) in batch_strategy(), cfg in config_strategy()
    ) {
        let distinct: Vec<usize> = (0..b).collect();
        let sup = loss(&cfg, &x, b, v, d, Positives::Labels(&distinct));
        let sim = loss(&cfg, &x, b, v, d, Positives::Instance);
        prop_assert!(rel_close(sup, sim), "{sup} vs {sim}");
    }

    #[test]
    fn identical_embeddings_give_ln_2n_minus_1(
        n in 1usize..12, d in 1usize..6, t in 0.05f64..1.0, base in 0.05f64..1.0
    ) {
        // Every logit is equal, so each anchor's one positive has probability 1/(2N-1).
        let x = vec![0.5f32; n * 2 * d];
        let labels: Vec<usize> = (0..n).collect();
        let cfg = SupConLossConfig::default().with_temperature(t).with_base_temperature(Some(base));
        let got = loss(&cfg, &x, n, 2, d, Positives::Labels(&labels));
        let want = ((2 * n - 1) as f64).ln() * t / base;
        prop_assert!(rel_close(got, want as f32), "{got} vs {want}");
    }

    #[test]
    fn finite_input_never_gives_nan(
        (b, v, d, x, labels) in batch_strategy(), cfg in config_strategy(), scale in 0.0f32..200.0
    ) {
        let x: Vec<f32> = x.iter().map(|e| e * scale).collect();
        let value = loss(&cfg, &x, b, v, d, Positives::Labels(&labels));
        prop_assert!(value.is_finite() && value >= 0.0, "{value}");
    }
}

#[test]
fn sgd_on_free_embeddings_lowers_the_loss() {
    let device = device().autodiff();
    let (b, v, d) = (8, 2, 4);
    let labels = [0, 0, 1, 1, 2, 2, 3, 3];
    // Deterministic pseudo-random start.
    let mut values = Vec::with_capacity(b * v * d);
    let mut s = 12345u64;
    for _ in 0..b * v * d {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        values.push(((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5);
    }
    let loss_fn = SupConLossConfig::default().init().unwrap();
    let mut losses = Vec::new();
    for _ in 0..20 {
        let x = tensor(&values, b, v, d, &device).require_grad();
        let l = loss_fn
            .forward(x.clone(), Positives::Labels(&labels))
            .unwrap();
        losses.push(l.clone().into_scalar::<f32>());
        let g = x
            .grad(&l.backward())
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        for (value, grad) in values.iter_mut().zip(g) {
            *value -= 0.05 * grad;
        }
    }
    assert!(
        losses[19] < 0.8 * losses[0],
        "loss did not fall enough: {losses:?}"
    );
    assert!(losses.windows(2).all(|w| w[1] <= w[0] + 1e-4), "{losses:?}");
}

#[test]
fn anchors_without_positives_contribute_zero() {
    // One view, all labels distinct: nobody has a positive, the loss is exactly 0.
    let x = [0.1, 0.2, 0.3, 0.4, -0.5, 0.6];
    let labels = [0, 1, 2];
    let cfg = SupConLossConfig::default();
    assert_eq!(loss(&cfg, &x, 3, 1, 2, Positives::Labels(&labels)), 0.0);
    // A single sample with a single view: nothing to contrast with at all.
    assert_eq!(loss(&cfg, &x[..2], 1, 1, 2, Positives::Instance), 0.0);
    // One anchor without positive among anchors with: it is counted in the mean as 0.
    let per = cfg
        .init()
        .unwrap()
        .forward_no_reduction(
            tensor(&x, 3, 1, 2, &device()),
            Positives::Labels(&[0, 0, 1]),
        )
        .unwrap()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(per[2], 0.0);
    assert!(per[0] > 0.0 && per[1] > 0.0, "{per:?}");
}

#[test]
fn bad_input_is_an_error_naming_the_problem() {
    let dev = device();
    let cfg = SupConLossConfig::default();
    let l = cfg.init().unwrap();
    let x = tensor(&[0.0; 12], 3, 2, 2, &dev);
    assert_eq!(
        l.forward(x.clone(), Positives::Labels(&[0, 1]))
            .unwrap_err(),
        LossError::LabelsLength {
            labels: 2,
            batch: 3
        }
    );
    assert_eq!(
        l.forward(x.clone(), Positives::Mask(&[1.0; 4]))
            .unwrap_err(),
        LossError::MaskShape { len: 4, batch: 3 }
    );
    let empty = Tensor::<3>::zeros([0, 2, 2], &dev);
    assert_eq!(
        l.forward(empty, Positives::Instance).unwrap_err(),
        LossError::EmptyBatch
    );
    let no_views = Tensor::<3>::zeros([3, 0, 2], &dev);
    assert_eq!(
        l.forward(no_views, Positives::Instance).unwrap_err(),
        LossError::ZeroViews
    );
    let nan = tensor(
        &[
            0.0,
            1.0,
            f32::NAN,
            0.0,
            1.0,
            0.0,
            0.0,
            0.0,
            1.0,
            1.0,
            0.0,
            0.0,
        ],
        3,
        2,
        2,
        &dev,
    );
    assert_eq!(
        l.forward(nan, Positives::Instance).unwrap_err(),
        LossError::NonFiniteFeatures
    );
    let inf = tensor(&[f32::INFINITY; 12], 3, 2, 2, &dev);
    assert_eq!(
        l.forward(inf, Positives::Instance).unwrap_err(),
        LossError::NonFiniteFeatures
    );
    for bad in [0.0, -0.1, f64::NAN, f64::INFINITY, 1e-39] {
        let err = cfg.clone().with_temperature(bad).init().unwrap_err();
        assert!(err.to_string().starts_with("temperature = "), "{err}");
    }
    let err = cfg
        .clone()
        .with_base_temperature(Some(0.0))
        .init()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "base_temperature = 0: expected a finite number > 0 whose reciprocal fits in f32 \
         (at least 3e-39)"
    );
}

#[test]
fn positives_cap_bounds_the_loss_terms() {
    // With every label equal and a cap of 0, only the anchor's own other view remains a
    // positive and all other samples leave the denominator: every anchor then sees one
    // positive and no negative, so its loss is exactly 0.
    let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
    let labels = [1; 6];
    let capped = SupConLossConfig::default().with_positives_cap(Some(0));
    assert!(loss(&capped, &x, 6, 2, 2, Positives::Labels(&labels)).abs() < 1e-6);
    // A cap at least as large as the positives changes nothing.
    let big = SupConLossConfig::default().with_positives_cap(Some(100));
    let plain = SupConLossConfig::default();
    assert_eq!(
        loss(&big, &x, 6, 2, 2, Positives::Labels(&labels)),
        loss(&plain, &x, 6, 2, 2, Positives::Labels(&labels))
    );
}

#[test]
fn config_round_trips_through_json_and_rejects_unknown_fields() {
    let cfg = SupConLossConfig::default()
        .with_variant(Variant::In)
        .with_contrast_mode(ContrastMode::One);
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(
        serde_json::from_str::<SupConLossConfig>(&json).unwrap(),
        cfg
    );
    let err = serde_json::from_str::<SupConLossConfig>(r#"{"temprature": 0.1}"#).unwrap_err();
    assert!(err.to_string().contains("temprature"), "{err}");
    assert_eq!("one".parse::<ContrastMode>().unwrap(), ContrastMode::One);
    assert!(
        "both"
            .parse::<ContrastMode>()
            .unwrap_err()
            .contains("'both'")
    );
    assert_eq!(Variant::In.to_string(), "in");
}
