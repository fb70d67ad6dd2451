//! The tiled loss (analytic gradient, bounded memory) against the reference vectors and
//! against the autodiff loss on random batches, for every option.

use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;
use supcon::loss::{ContrastMode, Positives, SupConLossConfig, Variant, tiled_supcon};

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    bsz: usize,
    n_views: usize,
    dim: usize,
    temperature: f64,
    base_temperature: f64,
    contrast_mode: String,
    variant: String,
    features: Vec<f64>,
    labels: Option<Vec<usize>>,
    mask: Option<Vec<f64>>,
    loss: f64,
    grad: Vec<f64>,
}

fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= abs.max(rel * want.abs())
}

#[test]
fn tiled_matches_every_reference_case_for_several_block_sizes() {
    // Fixture: float64 PyTorch autograd (see tests/loss_reference.rs for its provenance).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/supcon_vectors.json"
    );
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in &fixture.cases {
        let cfg = SupConLossConfig::default()
            .with_temperature(case.temperature)
            .with_base_temperature(Some(case.base_temperature))
            .with_contrast_mode(case.contrast_mode.parse().unwrap())
            .with_variant(case.variant.parse().unwrap());
        let x: Vec<f32> = case.features.iter().map(|&v| v as f32).collect();
        let mask: Option<Vec<f32>> = case
            .mask
            .as_ref()
            .map(|m| m.iter().map(|&v| v as f32).collect());
        let pos = match (&case.labels, &mask) {
            (Some(l), _) => Positives::Labels(l),
            (None, Some(m)) => Positives::Mask(m),
            _ => Positives::Instance,
        };
        for block in [1, 3, 7, 1000] {
            let out =
                tiled_supcon(&cfg, &x, [case.bsz, case.n_views, case.dim], pos, 0, block).unwrap();
            assert!(
                close(out.loss, case.loss, 1e-4, 1e-5),
                "{} block {block}: loss {} vs {}",
                case.name,
                out.loss,
                case.loss
            );
            for (i, (g, w)) in out.grad.iter().zip(&case.grad).enumerate() {
                assert!(
                    close(f64::from(*g), *w, 1e-4, 1e-5),
                    "{} block {block}: grad[{i}] {g} vs {w}",
                    case.name
                );
            }
        }
    }
}

fn autodiff(
    cfg: &SupConLossConfig,
    x: &[f32],
    shape: [usize; 3],
    pos: Positives<'_>,
) -> (f64, Vec<f32>) {
    let device = Device::flex().autodiff();
    let t = Tensor::<3>::from_data(TensorData::new(x.to_vec(), shape), &device).require_grad();
    let loss = cfg.init().unwrap().forward(t.clone(), pos).unwrap();
    let value = f64::from(loss.clone().into_scalar::<f32>());
    let grad = t
        .grad(&loss.backward())
        .unwrap()
        .try_into_vec_as::<f32>()
        .unwrap();
    (value, grad)
}

#[test]
fn tiled_equals_autodiff_on_random_batches_for_every_option() {
    let mut seed = 99u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let (b, v, d) = (24, 3, 16);
    let raw: Vec<f32> = (0..b * v * d).map(|_| next()).collect();
    // L2-normalise each embedding, as a projection head would.
    let mut x = raw.clone();
    for row in x.chunks_mut(d) {
        let n = row.iter().map(|e| e * e).sum::<f32>().sqrt();
        row.iter_mut().for_each(|e| *e /= n);
    }
    let labels: Vec<usize> = (0..b).map(|i| (i * 7) % 5).collect();
    let mask: Vec<f32> = (0..b * b)
        .map(|i| f32::from(u8::from((i * 13) % 4 == 0)))
        .collect();
    for mode in [ContrastMode::All, ContrastMode::One] {
        for variant in [Variant::Out, Variant::In] {
            for cap in [None, Some(2)] {
                for pos in [
                    Positives::Labels(&labels),
                    Positives::Mask(&mask),
                    Positives::Instance,
                ] {
                    let cfg = SupConLossConfig::default()
                        .with_temperature(0.1)
                        .with_base_temperature(Some(0.07))
                        .with_contrast_mode(mode)
                        .with_variant(variant)
                        .with_positives_cap(cap);
                    let (want, want_grad) = autodiff(&cfg, &x, [b, v, d], pos);
                    let got = tiled_supcon(&cfg, &x, [b, v, d], pos, 0, 10).unwrap();
                    let what = format!("{mode} {variant} cap {cap:?} {pos:?}");
                    assert!(
                        close(got.loss, want, 1e-5, 1e-5),
                        "{what}: {} vs {want}",
                        got.loss
                    );
                    for (g, w) in got.grad.iter().zip(&want_grad) {
                        assert!(
                            close(f64::from(*g), f64::from(*w), 1e-4, 1e-5),
                            "{what}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn tiled_rejects_bad_input() {
    let cfg = SupConLossConfig::default();
    let err = tiled_supcon(&cfg, &[0.0; 5], [2, 2, 2], Positives::Instance, 0, 4).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected batch x views x dim = 2 x 2 x 2"),
        "{err}"
    );
    let err = tiled_supcon(&cfg, &[f32::NAN; 8], [2, 2, 2], Positives::Instance, 0, 4).unwrap_err();
    assert_eq!(err.to_string(), "features contain NaN or infinite values");
}
