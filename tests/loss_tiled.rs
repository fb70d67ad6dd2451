//! The tiled loss (analytic gradient, bounded memory) against the reference vectors and
//! against the autodiff loss on random batches, for every option. (Against the float64
//! reference vectors, at several block sizes: `tests/loss_reference.rs`.)

use burn::tensor::{Device, Tensor, TensorData};
use supcon::loss::{ContrastMode, Positives, SupConLossConfig, Variant, tiled_supcon};

fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= abs.max(rel * want.abs())
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

/// Edge cases where the tiled loss used to disagree with the plain one: logits that leave
/// the f32 range, tiny mask weights, a temperature whose reciprocal overflows, a shape
/// whose product overflows, a NaN memory-bank entry.
#[test]
fn tiled_and_plain_agree_on_edge_cases() {
    let cfg = SupConLossConfig::default();
    let plain = |cfg: &SupConLossConfig, x: &[f32], shape: [usize; 3], pos: Positives<'_>| {
        let t = Tensor::<3>::from_data(TensorData::new(x.to_vec(), shape), &Device::flex());
        cfg.init()
            .unwrap()
            .forward(t, pos)
            .map(|l| f64::from(l.into_scalar::<f32>()))
    };

    // z0 . z1 = 1e40 - 1e40 = inf - inf in f32: both report the overflow (the tiled loss
    // used to return 0 with a zero gradient).
    let huge = [1e20f32, 1e20, 1e20, -1e20];
    let p = plain(&cfg, &huge, [2, 1, 2], Positives::Labels(&[0, 0]));
    assert!(p.unwrap_err().to_string().contains("not finite"));
    let t = tiled_supcon(&cfg, &huge, [2, 1, 2], Positives::Labels(&[0, 0]), 0, 256);
    assert!(t.unwrap_err().to_string().contains("not finite"));

    // Positives weighted 1e-7 (the other view): the loss is invariant to the weights'
    // scale, so it equals the instance loss (it used to be 0 below a 1e-6 threshold).
    let v = [
        1.0f32, 0.0, 0.6, 0.8, 0.0, 1.0, 0.8, 0.6, -1.0, 0.0, -0.6, -0.8,
    ]; // [3, 2, 2]
    let want = plain(&cfg, &v, [3, 2, 2], Positives::Instance).unwrap();
    assert!(want > 1.0, "{want}");
    for w in [1.0f32, 1e-3, 1e-7, 1e-30] {
        let mask = [w, 0., 0., 0., w, 0., 0., 0., w];
        let p = plain(&cfg, &v, [3, 2, 2], Positives::Mask(&mask)).unwrap();
        let t = tiled_supcon(&cfg, &v, [3, 2, 2], Positives::Mask(&mask), 0, 256).unwrap();
        assert!(close(p, want, 1e-5, 1e-6), "w {w}: plain {p} vs {want}");
        assert!(
            close(t.loss, want, 1e-5, 1e-6),
            "w {w}: tiled {} vs {want}",
            t.loss
        );
    }

    // 1 / 1e-39 overflows f32: refused by the configuration (both implementations).
    let tiny = SupConLossConfig::default().with_temperature(1e-39);
    assert!(
        tiny.init()
            .unwrap_err()
            .to_string()
            .contains("temperature = ")
    );
    let err = tiled_supcon(&tiny, &v, [3, 2, 2], Positives::Instance, 0, 256).unwrap_err();
    assert!(err.to_string().contains("reciprocal fits in f32"), "{err}");

    // A shape whose element count overflows usize: a shape error, not a panic.
    let cfg_one = SupConLossConfig::default().with_contrast_mode(ContrastMode::One);
    let err = tiled_supcon(
        &cfg_one,
        &[],
        [usize::MAX / 2 + 1, 2, 1],
        Positives::Instance,
        0,
        8,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("expected batch x views x dim"),
        "{err}"
    );

    // A NaN memory-bank entry: the same diagnosis from both.
    let q = Tensor::<2>::from_data(
        TensorData::new(vec![f32::NAN, 0.0], [1, 2]),
        &Device::flex(),
    );
    let x = Tensor::<3>::from_data(
        TensorData::new(vec![1.0f32, 0., 0., 1.], [2, 1, 2]),
        &Device::flex(),
    );
    let err = cfg
        .init()
        .unwrap()
        .forward_with_queue(x, Positives::Labels(&[0, 0]), Some((q, Some(&[0]))), 0)
        .unwrap_err();
    assert!(err.to_string().contains("memory bank: NaN"), "{err}");
}

/// The loss over a partition of the anchor rows (one part per MPI rank) adds up to the
/// whole batch's loss and gradient, in both contrast modes; rows beyond the anchors are
/// refused.
#[test]
fn anchor_row_parts_add_up_to_the_whole_batch() {
    use supcon::loss::{anchor_count, tiled_supcon_rows};
    let (batch, views, dim) = (7, 2, 5);
    let features: Vec<f32> = (0..batch * views * dim)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    let labels: Vec<usize> = (0..batch).map(|i| i % 3).collect();
    for mode in [ContrastMode::All, ContrastMode::One] {
        let config = SupConLossConfig {
            contrast_mode: mode,
            ..SupConLossConfig::default()
        };
        let shape = [batch, views, dim];
        let whole =
            tiled_supcon(&config, &features, shape, Positives::Labels(&labels), 0, 3).unwrap();
        let anchors = anchor_count(&config, batch, views);
        let cuts = [0, anchors / 3, anchors / 2 + 1, anchors];
        let (mut loss, mut grad) = (0.0, vec![0.0f32; features.len()]);
        for part in cuts.windows(2) {
            let out = tiled_supcon_rows(
                &config,
                &features,
                shape,
                Positives::Labels(&labels),
                None,
                0,
                3,
                Some(part[0]..part[1]),
            )
            .unwrap();
            loss += out.loss;
            grad.iter_mut().zip(&out.grad).for_each(|(g, x)| *g += x);
        }
        assert!(
            close(loss, whole.loss, 1e-12, 1e-12),
            "{loss} vs {}",
            whole.loss
        );
        for (a, b) in grad.iter().zip(&whole.grad) {
            assert!(
                close(f64::from(*a), f64::from(*b), 1e-5, 1e-7),
                "{a} vs {b}"
            );
        }
        let err = tiled_supcon_rows(
            &config,
            &features,
            shape,
            Positives::Labels(&labels),
            None,
            0,
            3,
            Some(0..anchors + 1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("anchor rows"), "{err}");
    }
}

/// The loss and gradient are the same bits on any number of threads, and from run to run:
/// the rows' loss terms are added in row order, not by a parallel reduction whose order
/// follows the thread count and work stealing. Blocks of 64 rows over 320 anchors make
/// several parallel passes, each with rows split across threads.
#[test]
fn tiled_is_bit_identical_on_any_thread_count() {
    let (b, v, d) = (160, 2, 32);
    let mut state = 7u64;
    let x: Vec<f32> = (0..b * v * d)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let labels: Vec<usize> = (0..b).map(|i| (i * 7) % 10).collect();
    let cfg = SupConLossConfig::default().with_temperature(0.1);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| tiled_supcon(&cfg, &x, [b, v, d], Positives::Labels(&labels), 0, 64))
            .unwrap()
    };
    let one = run(1);
    assert!(one.loss.is_finite() && one.loss > 0.0, "loss {}", one.loss);
    for threads in [2, 3, 4, 2, 3, 4] {
        let other = run(threads);
        assert_eq!(
            other.loss.to_bits(),
            one.loss.to_bits(),
            "loss on {threads} threads: {} against {} on one",
            other.loss,
            one.loss
        );
        assert!(
            other
                .grad
                .iter()
                .zip(&one.grad)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "gradient on {threads} threads differs from one thread's"
        );
    }
}
