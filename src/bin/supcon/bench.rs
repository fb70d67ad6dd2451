//! `supcon bench`: reproducible speed and memory measurements, one JSON line each.
//! Build with `--release` before timing anything.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use clap::{Args, Subcommand, ValueEnum};
use supcon::augment::{Augment, AugmentConfig, measure_throughput};
use supcon::device::DeviceChoice;
use supcon::loss::{Positives, SupConLossConfig, tiled_supcon, DEFAULT_BLOCK};
use supcon::model::{EncoderKind, HeadConfig, SupConModelConfig};
use supcon::train::{DataConfig, OptimizerConfig};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// SupCon loss forward + backward: median ms, peak RSS, loss value
    Loss(LossBench),
    /// One training step (forward + backward + SGD) of a model: views per second
    Step(StepBench),
    /// Augmentation + batching throughput: views per second
    Augment(AugmentBench),
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Loss(b) => loss(b),
        BenchCmd::Step(b) => step(b),
        BenchCmd::Augment(b) => augment(b),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LossImpl {
    /// Row blocks with the analytic gradient, O(M x block) memory
    Tiled,
    /// burn autodiff over the full similarity matrix, O(M^2) memory
    Plain,
}

#[derive(Args, Debug)]
pub struct LossBench {
    /// Samples per batch (N)
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Embedding dimension
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Views per sample
    #[arg(long, default_value_t = 2)]
    views: usize,
    /// Number of classes of the random labels
    #[arg(long, default_value_t = 100)]
    classes: usize,
    /// Implementation
    #[arg(long = "impl", value_enum, default_value_t = LossImpl::Tiled)]
    implementation: LossImpl,
    /// Anchor rows per block (tiled)
    #[arg(long, default_value_t = DEFAULT_BLOCK)]
    block: usize,
    /// Timed repetitions (after one warm-up)
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`), 0 when unknown.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Unit-norm pseudo-random features `[batch, views, dim]` and labels, from a fixed seed.
fn random_batch(batch: usize, views: usize, dim: usize, classes: usize) -> (Vec<f32>, Vec<usize>) {
    let mut s = 0x5EEDu64;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut x: Vec<f32> = (0..batch * views * dim).map(|_| next()).collect();
    for row in x.chunks_mut(dim) {
        let n = row.iter().map(|e| e * e).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|e| *e /= n);
    }
    let labels = (0..batch).map(|i| (i * 7919) % classes.max(1)).collect();
    (x, labels)
}

fn loss(b: LossBench) -> Result<()> {
    if b.batch == 0 || b.dim == 0 || b.views == 0 || b.reps == 0 {
        bail!("--batch, --dim, --views and --reps must be at least 1");
    }
    let (x, labels) = random_batch(b.batch, b.views, b.dim, b.classes);
    let config = SupConLossConfig::default();
    let shape = [b.batch, b.views, b.dim];
    let mut times = Vec::new();
    let mut value = 0.0;
    for rep in 0..=b.reps {
        let t = Instant::now();
        value = match b.implementation {
            LossImpl::Tiled => {
                tiled_supcon(&config, &x, shape, Positives::Labels(&labels), 0, b.block)?.loss
            }
            LossImpl::Plain => {
                let device = Device::flex().autodiff();
                let f = Tensor::<3>::from_data(TensorData::new(x.clone(), shape), &device)
                    .require_grad();
                let l = config.init()?.forward(f.clone(), Positives::Labels(&labels))?;
                let v = f64::from(l.clone().into_scalar::<f32>());
                let g = f.grad(&l.backward()).expect("features require grad");
                let _ = g.try_into_vec_as::<f32>();
                v
            }
        };
        if rep > 0 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!(
        "{}",
        serde_json::json!({"bench": "loss", "impl": format!("{:?}", b.implementation).to_lowercase(),
            "batch": b.batch, "views": b.views, "dim": b.dim, "block": b.block,
            "ms": median(times), "peak_rss_mb": peak_rss_mb(), "loss": value,
            "threads": rayon::current_num_threads()})
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct StepBench {
    /// Encoder
    #[arg(long, default_value = "resnet18")]
    model: EncoderKind,
    /// Images per batch (each gives two views)
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Image side (square)
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Image channels
    #[arg(long, default_value_t = 3)]
    channels: usize,
    /// Views per image (2 for SupCon; the JSON counts views)
    #[arg(long, default_value_t = 2)]
    views: usize,
    /// Timed steps (after two warm-up steps)
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Device
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

fn step(b: StepBench) -> Result<()> {
    if b.batch == 0 || b.steps == 0 || b.views == 0 {
        bail!("--batch, --views and --steps must be at least 1");
    }
    let device = b.device.autodiff_device();
    let mut config = SupConModelConfig {
        head: HeadConfig::default(),
        ..SupConModelConfig::default()
    };
    config.encoder.name = b.model;
    config.encoder.in_channels = b.channels;
    config.encoder.input_dim = Some(b.channels * b.size * b.size);
    let mut model = config.try_init(&device)?;
    let mut optim = OptimizerConfig::default().init();
    let loss_fn = SupConLossConfig::default().init()?;
    let n = b.views * b.batch;
    let labels: Vec<usize> = (0..b.batch).map(|i| i % 10).collect();
    let mut times = Vec::new();
    for i in 0..b.steps + 2 {
        let x = Tensor::<4>::random([n, b.channels, b.size, b.size], Distribution::Normal(0.0, 1.0), &device);
        let t = Instant::now();
        let z = model.project(x); // [V*B, P]
        let p = z.dims()[1];
        let z = z.reshape([b.views, b.batch, p]).swap_dims(0, 1);
        let l = loss_fn.forward(z, Positives::Labels(&labels))?;
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(0.01, model, grads);
        // Reading a value synchronises the device before the clock stops.
        let _ = l.into_scalar::<f32>();
        if i >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let secs = median(times);
    println!(
        "{}",
        serde_json::json!({"bench": "step", "model": b.model.to_string(), "batch": b.batch,
            "views": b.views, "size": b.size, "imgs_per_s": n as f64 / secs,
            "ms_per_step": secs * 1000.0, "peak_rss_mb": peak_rss_mb(),
            "device": b.device.to_string()})
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct AugmentBench {
    /// Dataset spec
    #[arg(long, default_value = "builtin")]
    data: String,
    /// Policy
    #[arg(long, default_value = "sim")]
    policy: Augment,
    /// Images per batch
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Views per image
    #[arg(long, default_value_t = 2)]
    views: usize,
    /// Loader threads (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Batches to time
    #[arg(long, default_value_t = 20)]
    batches: usize,
}

fn augment(b: AugmentBench) -> Result<()> {
    let data = DataConfig {
        spec: b.data.clone(),
        ..DataConfig::default()
    }
    .load(0)?;
    let cfg = AugmentConfig::new(b.policy);
    let rate = measure_throughput(&data.train, &cfg, b.views, b.batch, b.threads, b.batches)?;
    println!(
        "{}",
        serde_json::json!({"bench": "augment", "data": b.data, "policy": b.policy.to_string(),
            "shape": data.shape(), "views": b.views, "batch": b.batch, "imgs_per_s": rate,
            "threads": if b.threads == 0 { rayon::current_num_threads() } else { b.threads }})
    );
    Ok(())
}
