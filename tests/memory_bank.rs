//! The memory bank: queued entries act exactly as extra contrast columns (checked against
//! a float64 brute-force reference), an empty queue is plain SupCon, SimCLR treats queued
//! entries as negatives, the key encoder follows the EMA rule without gradients, and a run
//! with a bank and a key encoder resumes exactly.

use std::fs;
use std::path::Path;
use std::process::Command;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use supcon::loss::{
    Positives, Queue, SupConLossConfig, Variant, tiled_supcon, tiled_supcon_with_queue,
};
use supcon::model::{EncoderConfig, EncoderKind, HeadConfig, SupConModelConfig};
use supcon::train::memory_bank::ema_update;

fn unit_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut x: Vec<f32> = (0..n * d)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    for r in x.chunks_mut(d) {
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        r.iter_mut().for_each(|v| *v /= n);
    }
    x
}

/// Float64 brute force of L_out (contrast mode all) with queued entries: the contrast set
/// is the batch's views followed by the queue; anchors are the batch's views only.
/// `labels = None` means SimCLR (queue entries are negatives).
#[allow(clippy::too_many_arguments)]
fn reference(
    x: &[f32],
    b: usize,
    v: usize,
    d: usize,
    labels: Option<&[usize]>,
    queue: &[f32],
    queue_labels: &[usize],
    tau: f64,
) -> f64 {
    let mut rows: Vec<(Vec<f64>, Option<usize>, usize)> = Vec::new(); // (z, label, sample)
    for view in 0..v {
        for i in 0..b {
            let z = x[(i * v + view) * d..(i * v + view + 1) * d]
                .iter()
                .map(|&e| e as f64)
                .collect();
            rows.push((z, labels.map(|l| l[i]), i));
        }
    }
    let anchors = rows.len();
    for (k, z) in queue.chunks(d).enumerate() {
        rows.push((
            z.iter().map(|&e| e as f64).collect(),
            labels.map(|_| queue_labels[k]),
            usize::MAX,
        ));
    }
    let dot = |a: &[f64], c: &[f64]| a.iter().zip(c).map(|(p, q)| p * q).sum::<f64>() / tau;
    let mut total = 0.0;
    for a in 0..anchors {
        let (za, la, sa) = &rows[a];
        let denom: f64 = (0..rows.len())
            .filter(|&k| k != a)
            .map(|k| dot(za, &rows[k].0).exp())
            .sum();
        let positives: Vec<usize> = (0..rows.len())
            .filter(|&k| k != a)
            .filter(|&k| match la {
                Some(l) => rows[k].1 == Some(*l),
                None => rows[k].2 == *sa,
            })
            .collect();
        if positives.is_empty() {
            continue;
        }
        let mean: f64 = positives
            .iter()
            .map(|&p| dot(za, &rows[p].0) - denom.ln())
            .sum::<f64>()
            / positives.len() as f64;
        total -= mean;
    }
    total / anchors as f64
}

fn autodiff_with_queue(
    cfg: &SupConLossConfig,
    x: &[f32],
    shape: [usize; 3],
    pos: Positives<'_>,
    queue: &[f32],
    queue_labels: Option<&[usize]>,
) -> (f64, Vec<f32>) {
    let device = Device::flex().autodiff();
    let t = Tensor::<3>::from_data(TensorData::new(x.to_vec(), shape), &device).require_grad();
    let k = queue.len() / shape[2];
    let q = Tensor::<2>::from_data(TensorData::new(queue.to_vec(), [k, shape[2]]), &device);
    let loss = cfg
        .init()
        .unwrap()
        .forward_with_queue(t.clone(), pos, Some((q, queue_labels)), 0)
        .unwrap()
        .mean();
    let value = f64::from(loss.clone().into_scalar::<f32>());
    let g = t
        .grad(&loss.backward())
        .unwrap()
        .try_into_vec_as::<f32>()
        .unwrap();
    (value, g)
}

#[test]
fn queued_entries_add_terms_exactly_as_extra_contrast_rows() {
    let (b, v, d, k) = (6, 2, 5, 9);
    let x = unit_rows(b * v, d, 1);
    let queue = unit_rows(k, d, 2);
    let labels = [0, 1, 2, 0, 1, 2];
    let queue_labels = [2, 2, 1, 0, 3, 3, 0, 1, 2];
    let cfg = SupConLossConfig::default();
    let want = reference(&x, b, v, d, Some(&labels), &queue, &queue_labels, 0.1);
    let (got, grad) = autodiff_with_queue(
        &cfg,
        &x,
        [b, v, d],
        Positives::Labels(&labels),
        &queue,
        Some(&queue_labels),
    );
    assert!(
        (got - want).abs() < 1e-5 * want.abs().max(1.0),
        "autodiff {got} vs reference {want}"
    );
    for block in [1, 4, 100] {
        let tiled = tiled_supcon_with_queue(
            &cfg,
            &x,
            [b, v, d],
            Positives::Labels(&labels),
            Some(Queue {
                embeddings: &queue,
                labels: Some(&queue_labels),
            }),
            0,
            block,
        )
        .unwrap();
        assert!(
            (tiled.loss - want).abs() < 1e-5 * want.abs().max(1.0),
            "tiled {} vs {want}",
            tiled.loss
        );
        for (a, c) in tiled.grad.iter().zip(&grad) {
            assert!(
                (a - c).abs() <= 1e-5_f32.max(1e-4 * c.abs()),
                "grad {a} vs {c}"
            );
        }
    }
    // L_in with a queue: the two implementations agree as well.
    let cfg_in = SupConLossConfig::default().with_variant(Variant::In);
    let (a, _) = autodiff_with_queue(
        &cfg_in,
        &x,
        [b, v, d],
        Positives::Labels(&labels),
        &queue,
        Some(&queue_labels),
    );
    let t = tiled_supcon_with_queue(
        &cfg_in,
        &x,
        [b, v, d],
        Positives::Labels(&labels),
        Some(Queue {
            embeddings: &queue,
            labels: Some(&queue_labels),
        }),
        0,
        3,
    )
    .unwrap();
    assert!((a - t.loss).abs() < 1e-5 * a.abs().max(1.0));
}

#[test]
fn an_empty_queue_is_plain_supcon_and_simclr_treats_queued_entries_as_negatives() {
    let (b, v, d) = (5, 2, 4);
    let x = unit_rows(b * v, d, 3);
    let labels = [0, 0, 1, 1, 2];
    let cfg = SupConLossConfig::default();
    let plain = tiled_supcon(&cfg, &x, [b, v, d], Positives::Labels(&labels), 0, 8).unwrap();
    let empty = tiled_supcon_with_queue(
        &cfg,
        &x,
        [b, v, d],
        Positives::Labels(&labels),
        Some(Queue {
            embeddings: &[],
            labels: Some(&[]),
        }),
        0,
        8,
    )
    .unwrap();
    assert_eq!(plain.loss, empty.loss);
    assert_eq!(plain.grad, empty.grad);
    let (with_empty, _) = autodiff_with_queue(
        &cfg,
        &x,
        [b, v, d],
        Positives::Labels(&labels),
        &[],
        Some(&[]),
    );
    assert!((with_empty - plain.loss).abs() < 1e-6);

    let queue = unit_rows(7, d, 4);
    let sim = tiled_supcon_with_queue(
        &cfg,
        &x,
        [b, v, d],
        Positives::Instance,
        Some(Queue {
            embeddings: &queue,
            labels: None,
        }),
        0,
        8,
    )
    .unwrap();
    let want = reference(&x, b, v, d, None, &queue, &[0; 7], 0.1);
    assert!(
        (sim.loss - want).abs() < 1e-5 * want,
        "{} vs {want}",
        sim.loss
    );
    let no_queue = tiled_supcon(&cfg, &x, [b, v, d], Positives::Instance, 0, 8).unwrap();
    assert!(
        sim.loss > no_queue.loss,
        "extra negatives raise the SimCLR loss"
    );
    // SupCon needs the queue's labels; an explicit mask cannot describe queued entries.
    let err = tiled_supcon_with_queue(
        &cfg,
        &x,
        [b, v, d],
        Positives::Labels(&labels),
        Some(Queue {
            embeddings: &queue,
            labels: None,
        }),
        0,
        8,
    )
    .unwrap_err();
    assert!(err.to_string().contains("labels are required"), "{err}");
    let mask = vec![1.0; b * b];
    let err = tiled_supcon_with_queue(
        &cfg,
        &x,
        [b, v, d],
        Positives::Mask(&mask),
        Some(Queue {
            embeddings: &queue,
            labels: Some(&[0; 7]),
        }),
        0,
        8,
    )
    .unwrap_err();
    assert!(err.to_string().contains("explicit positive mask"), "{err}");
}

fn floats<M: Module>(m: &M) -> Vec<(Vec<f32>, bool)> {
    struct C(Vec<(Vec<f32>, bool)>);
    impl ModuleVisitor for C {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val();
            self.0.push((
                t.clone().try_into_vec_as::<f32>().unwrap(),
                t.is_require_grad(),
            ));
        }
    }
    let mut c = C(Vec::new());
    m.visit(&mut c);
    c.0
}

#[test]
fn the_key_encoder_follows_the_ema_rule_without_gradients() {
    let device = Device::flex().autodiff();
    let mut enc = EncoderConfig::new(EncoderKind::Mlp);
    enc.input_dim = Some(12);
    enc.mlp_hidden_dims = vec![8, 6];
    let cfg = SupConModelConfig {
        encoder: enc,
        head: HeadConfig::default(),
    };
    device.seed(1);
    let online = cfg.try_init(&device).unwrap();
    device.seed(2);
    let key = cfg.try_init(&device).unwrap().no_grad();
    let (o, k0) = (floats(&online), floats(&key));
    let key = ema_update(key, &online, 0.9).unwrap();
    let k1 = floats(&key);
    assert_eq!(k1.len(), o.len());
    for ((new, requires), ((old, _), (on, _))) in k1.iter().zip(k0.iter().zip(&o)) {
        assert!(!requires, "key parameters must not require gradients");
        for ((n, a), b) in new.iter().zip(old).zip(on) {
            assert!(
                (n - (0.9 * a + 0.1 * b)).abs() < 1e-6,
                "{n} != 0.9*{a} + 0.1*{b}"
            );
        }
    }
    // A different architecture is refused.
    let mut other = EncoderConfig::new(EncoderKind::Mlp);
    other.input_dim = Some(12);
    other.mlp_hidden_dims = vec![8];
    let small = SupConModelConfig {
        encoder: other,
        head: HeadConfig::default(),
    }
    .try_init(&device)
    .unwrap();
    assert!(ema_update(small, &online, 0.9).is_err());
}

fn write_idx(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", 48usize), ("t10k", 16)] {
        let mut images = vec![0, 0, 8, 3];
        for v in [n as u32, 10, 10] {
            images.extend(v.to_be_bytes());
        }
        let mut labels = vec![0, 0, 8, 1];
        labels.extend((n as u32).to_be_bytes());
        for i in 0..n {
            labels.push((i % 4) as u8);
            images.extend((0..100).map(|p| {
                if p / 25 == i % 4 {
                    220
                } else {
                    ((p * 7 + i) % 40) as u8
                }
            }));
        }
        fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

fn losses(run: &Path) -> Vec<f64> {
    fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("loss")?
                .as_f64()
        })
        .collect()
}

#[test]
fn a_run_with_a_bank_and_a_key_encoder_checkpoints_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    write_idx(&tmp.path().join("d"));
    let spec = format!("idx:{}", tmp.path().join("d").display());
    let full = tmp.path().join("full");
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "pretrain",
            "--data",
            &spec,
            "--epochs",
            "3",
            "--batch-size",
            "12",
            "--lr",
            "0.05",
            "--memory-bank",
            "40",
            "--momentum-encoder",
            "0.9",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let o = out.to_str().unwrap().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_supcon"));
        if extra.is_empty() {
            cmd.args(&args).args(["--out", &o]);
        } else {
            cmd.args(extra);
        }
        let res = cmd.output().unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
    };
    run(&full, &[]);
    let ckpt = full.join("checkpoints/epoch-0003");
    for f in ["bank.f32", "bank.json", "key.bpk", "state.json"] {
        assert!(ckpt.join(f).is_file(), "{f}");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(ckpt.join("bank.json")).unwrap()).unwrap();
    assert_eq!(meta["labels"].as_array().unwrap().len(), 40);

    // Crash after epoch 2, resume: same curve.
    let crashed = tmp.path().join("crashed");
    let status = Command::new("cp")
        .args(["-r", full.to_str().unwrap(), crashed.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_dir_all(crashed.join("checkpoints/epoch-0003")).unwrap();
    fs::remove_file(crashed.join("report.json")).unwrap();
    run(
        &crashed,
        &["pretrain", "--resume", crashed.to_str().unwrap(), "--quiet"],
    );
    let (a, b) = (losses(&full), losses(&crashed));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b);
}
