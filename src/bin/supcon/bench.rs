//! `supcon bench`: reproducible speed and memory measurements, one JSON line each.
//! Build with `--release` before timing anything.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use clap::{Args, Subcommand, ValueEnum};
use supcon::augment::{Augment, AugmentConfig, measure_throughput};
use supcon::data::batcher::Batch;
use supcon::data::folder::FOLDER_MAX_SIZE;
use supcon::device::{DeviceChoice, MemoryUsage};
use supcon::loss::{
    ContrastMode, DEFAULT_BLOCK, Positives, SupConLossConfig, Variant, tiled_supcon,
};
use supcon::model::{EncoderKind, HeadConfig, SupConModelConfig};
use supcon::train::distributed::DataParallel;
use supcon::train::pretrain::{MAX_BANK_BYTES, MAX_VIEWS, PretrainModel};
use supcon::train::{DataConfig, OptimizerConfig};

use crate::rss::peak_rss_mb;

/// Largest host (or device) allocation a benchmark may plan: the memory-bank bound of
/// `pretrain`.
const MAX_BENCH_BYTES: f64 = MAX_BANK_BYTES;

fn gib(bytes: f64) -> f64 {
    bytes / (1u64 << 30) as f64
}

/// Bytes `bench loss` allocates for `m = batch x views` rows of `dim` floats, as the code
/// allocates them (f32 everywhere). Tiled: the features, the view-major copy, its
/// gradient and the returned gradient (4 x m x dim), one block of logits (block x m) and
/// each thread's weight and keep rows (5 bytes per column). Plain: the features, their
/// device copy and gradient (3 x m x dim) and the m x m matrices alive at the peak
/// (logits, masks, exponentials, log-probabilities, their gradients): five, which is
/// what the peak RSS at N = 4096 (1.2 GB, README) implies.
fn loss_bench_bytes(
    implementation: LossImpl,
    batch: usize,
    views: usize,
    dim: usize,
    block: usize,
    threads: usize,
) -> f64 {
    let m = batch as f64 * views as f64;
    let features = m * dim as f64 * 4.0;
    match implementation {
        LossImpl::Tiled => {
            4.0 * features + (block as f64).min(m) * m * 4.0 + threads as f64 * m * 5.0
        }
        LossImpl::Plain => 3.0 * features + 5.0 * m * m * 4.0,
    }
}

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// SupCon loss forward + backward: median ms, peak RSS, loss value
    Loss(LossBench),
    /// The loss reference cases (float64 PyTorch values) on a device, against the fixture
    /// and against the CPU: one JSON line per case, then a summary; fails on a mismatch
    LossRef(LossRefBench),
    /// One training step (forward + backward + SGD) of a model: views per second
    Step(StepBench),
    /// Augmentation + batching throughput: views per second
    Augment(AugmentBench),
    /// Data loading as training sees it (read + decode + augment on the loader's
    /// workers, behind its prefetch queue): images per second and peak RSS
    Data(crate::bench_data::DataBench),
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Loss(b) => loss(b),
        BenchCmd::LossRef(b) => loss_ref(b),
        BenchCmd::Step(b) => step(b),
        BenchCmd::Augment(b) => augment(b),
        BenchCmd::Data(b) => crate::bench_data::run(b),
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
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 4096)]
    batch: usize,
    /// Embedding dimension
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 128)]
    dim: usize,
    /// Views per sample
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 2)]
    views: usize,
    /// Number of classes of the random labels
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 100)]
    classes: usize,
    /// Implementation
    #[arg(long = "impl", value_enum, default_value_t = LossImpl::Tiled)]
    implementation: LossImpl,
    /// Anchor rows per block (tiled)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = DEFAULT_BLOCK)]
    block: usize,
    /// Timed repetitions (after one warm-up)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 5)]
    reps: usize,
    /// Device of the plain implementation: cpu | gpu[:N] (tiled is CPU code)
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Largest device-memory figures seen by [`Self::sample`] (GPU backends only).
#[derive(Default)]
struct DeviceMemory(Option<MemoryUsage>);

impl DeviceMemory {
    /// Waits for the device, then records what its allocator holds.
    fn sample(&mut self, device: &Device) -> Result<()> {
        sync(device)?;
        if let Some(now) = DeviceChoice::memory_usage(device) {
            self.0 = Some(self.0.map_or(now, |m| m.max(now)));
        }
        Ok(())
    }

    /// `(max live tensors, max reserved by the pool)` in MiB, `null` where not reported.
    fn json(&self) -> (serde_json::Value, serde_json::Value) {
        let mb = |b: u64| serde_json::json!(b as f64 / (1024.0 * 1024.0));
        match self.0 {
            Some(m) => (mb(m.in_use), mb(m.reserved)),
            None => (serde_json::Value::Null, serde_json::Value::Null),
        }
    }
}

/// Waits until the device has run everything queued on it.
fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("device error: {e:?}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Unit-norm pseudo-random features `[batch, views, dim]` and labels, from a fixed seed.
fn random_batch(batch: usize, views: usize, dim: usize, classes: usize) -> (Vec<f32>, Vec<usize>) {
    let mut s = 0x5EEDu64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut x: Vec<f32> = (0..batch * views * dim).map(|_| next()).collect();
    for row in x.chunks_mut(dim) {
        let n = row.iter().map(|e| e * e).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|e| *e /= n);
    }
    let labels = (0..batch).map(|i| (i * 7919) % classes).collect();
    (x, labels)
}

fn loss(b: LossBench) -> Result<()> {
    require_flags_positive(&[
        ("--batch", b.batch),
        ("--dim", b.dim),
        ("--views", b.views),
        ("--classes", b.classes),
        ("--block", b.block),
        ("--reps", b.reps),
    ])?;
    let bytes = loss_bench_bytes(
        b.implementation,
        b.batch,
        b.views,
        b.dim,
        b.block,
        rayon::current_num_threads(),
    );
    if bytes > MAX_BENCH_BYTES {
        bail!(
            "--batch {} --views {} --dim {}: the {} loss needs about {:.1} GiB; expected at \
             most {} GiB",
            b.batch,
            b.views,
            b.dim,
            format!("{:?}", b.implementation).to_lowercase(),
            gib(bytes),
            gib(MAX_BENCH_BYTES)
        );
    }
    if b.device.is_gpu() && matches!(b.implementation, LossImpl::Tiled) {
        bail!(
            "--impl tiled runs on the CPU only; use --impl plain with --device {}",
            b.device
        );
    }
    b.device.check()?;
    let device = b.device.autodiff_device();
    let (x, labels) = random_batch(b.batch, b.views, b.dim, b.classes);
    let config = SupConLossConfig::default();
    let shape = [b.batch, b.views, b.dim];
    let mut times = Vec::new();
    let mut value = 0.0;
    let mut memory = DeviceMemory::default();
    for rep in 0..=b.reps {
        let t = Instant::now();
        value = match b.implementation {
            LossImpl::Tiled => {
                tiled_supcon(&config, &x, shape, Positives::Labels(&labels), 0, b.block)?.loss
            }
            LossImpl::Plain => {
                let f = Tensor::<3>::from_data(TensorData::new(x.clone(), shape), &device)
                    .require_grad();
                let l = config
                    .init()?
                    .forward(f.clone(), Positives::Labels(&labels))?;
                let v = f64::from(l.clone().into_scalar::<f32>());
                let g = f.grad(&l.backward()).expect("features require grad");
                let _ = g.try_into_vec_as::<f32>();
                sync(&device)?;
                v
            }
        };
        if rep > 0 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if matches!(b.implementation, LossImpl::Plain) {
            memory.sample(&device)?;
        }
    }
    let (device_in_use_mb, device_reserved_mb) = memory.json();
    println!(
        "{}",
        serde_json::json!({"bench": "loss", "impl": format!("{:?}", b.implementation).to_lowercase(),
            "batch": b.batch, "views": b.views, "dim": b.dim, "block": b.block,
            "ms": median(times), "peak_rss_mb": peak_rss_mb(), "loss": value,
            "threads": rayon::current_num_threads(),
            "device": match b.implementation {
                LossImpl::Tiled => "cpu".to_string(),
                LossImpl::Plain => b.device.describe(),
            },
            "device_in_use_mb": device_in_use_mb, "device_reserved_mb": device_reserved_mb})
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct LossRefBench {
    /// The reference file (written by a float64 PyTorch-autograd script)
    #[arg(long, default_value = "tests/fixtures/supcon_vectors.json")]
    fixture: PathBuf,
    /// Device: cpu | gpu[:N]
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

#[derive(serde::Deserialize)]
struct RefFixture {
    cases: Vec<RefCase>,
}

#[derive(serde::Deserialize)]
struct RefCase {
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

/// Loss and `d loss / d features` of one reference case on `device` (autodiff enabled).
fn run_ref_case(case: &RefCase, device: &Device) -> Result<(f64, Vec<f64>)> {
    let features: Vec<f32> = case.features.iter().map(|&v| v as f32).collect();
    let x = Tensor::<3>::from_data(
        TensorData::new(features, [case.bsz, case.n_views, case.dim]),
        device,
    )
    .require_grad();
    let mode: ContrastMode = case.contrast_mode.parse().map_err(anyhow::Error::msg)?;
    let variant: Variant = case.variant.parse().map_err(anyhow::Error::msg)?;
    let loss_fn = SupConLossConfig::default()
        .with_temperature(case.temperature)
        .with_base_temperature(Some(case.base_temperature))
        .with_contrast_mode(mode)
        .with_variant(variant)
        .init()?;
    let mask: Option<Vec<f32>> = case
        .mask
        .as_ref()
        .map(|m| m.iter().map(|&v| v as f32).collect());
    let positives = match (&case.labels, &mask) {
        (Some(labels), _) => Positives::Labels(labels),
        (None, Some(mask)) => Positives::Mask(mask),
        (None, None) => Positives::Instance,
    };
    let loss = loss_fn.forward(x.clone(), positives)?;
    let value = f64::from(loss.clone().into_scalar::<f32>());
    let grad = x
        .grad(&loss.backward())
        .ok_or_else(|| anyhow::anyhow!("{}: features have no gradient", case.name))?
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{}: reading the gradient: {e:?}", case.name))?;
    Ok((value, grad.into_iter().map(f64::from).collect()))
}

/// The tests' tolerance: relative 1e-4, absolute 1e-5 near zero.
fn ref_close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-5_f64.max(1e-4 * want.abs())
}

fn loss_ref(b: LossRefBench) -> Result<()> {
    b.device.check()?;
    let text = std::fs::read_to_string(&b.fixture)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", b.fixture.display()))?;
    let fixture: RefFixture = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("parsing {}: {e}", b.fixture.display()))?;
    let device = b.device.autodiff_device();
    let cpu = DeviceChoice::Cpu.autodiff_device();
    let (mut passed, mut worst_ref, mut worst_cpu) = (0, 0.0_f64, 0.0_f64);
    for case in &fixture.cases {
        let (loss, grad) = run_ref_case(case, &device)?;
        let (cpu_loss, cpu_grad) = run_ref_case(case, &cpu)?;
        if grad.len() != case.grad.len() {
            bail!(
                "{}: gradient has {} values, the fixture {}",
                case.name,
                grad.len(),
                case.grad.len()
            );
        }
        // Largest absolute differences from the fixture and from the CPU (loss and grads).
        let diff_ref = std::iter::once((loss, case.loss))
            .chain(grad.iter().copied().zip(case.grad.iter().copied()))
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f64::max);
        let diff_cpu = std::iter::once((loss, cpu_loss))
            .chain(grad.iter().copied().zip(cpu_grad.iter().copied()))
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f64::max);
        let ok = ref_close(loss, case.loss)
            && grad.iter().zip(&case.grad).all(|(g, w)| ref_close(*g, *w));
        passed += usize::from(ok);
        worst_ref = worst_ref.max(diff_ref);
        worst_cpu = worst_cpu.max(diff_cpu);
        println!(
            "{}",
            serde_json::json!({"bench": "loss-ref", "case": case.name, "ok": ok,
                "loss": loss, "loss_ref": case.loss, "loss_cpu": cpu_loss,
                "max_abs_diff_ref": diff_ref, "max_abs_diff_cpu": diff_cpu})
        );
    }
    let all = fixture.cases.len();
    println!(
        "{}",
        serde_json::json!({"bench": "loss-ref", "device": b.device.describe(),
            "cases": all, "passed": passed, "max_abs_diff_ref": worst_ref,
            "max_abs_diff_cpu": worst_cpu})
    );
    if passed != all {
        bail!(
            "{} of {all} reference cases do not match on {}",
            all - passed,
            b.device
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct StepBench {
    /// Encoder
    #[arg(long, default_value = "resnet18")]
    model: EncoderKind,
    /// Images per batch (each gives two views)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 128)]
    batch: usize,
    /// Image side (square)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 32)]
    size: usize,
    /// Image channels
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 3)]
    channels: usize,
    /// Views per image (2 for SupCon; the JSON counts views)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 2)]
    views: usize,
    /// Timed steps (after two warm-up steps)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 5)]
    steps: usize,
    /// Device: cpu | gpu[:N]
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Gradient caching: embed and back-propagate N views at a time with the tiled loss
    /// (what `pretrain --chunk N` does) [default: one autodiff graph over the batch]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    chunk: Option<usize>,
    /// Convolution and BatchNorm implementation on the CPU: the project's kernels, or
    /// burn's own operations (for comparison)
    #[arg(long, default_value = "project")]
    kernels: KernelChoice,
    /// Print, after the JSON line, a table of where a step's time goes: forward, loss,
    /// backward, optimiser, and each kernel by shape with its GFLOP/s and fraction of the
    /// machine's single-threaded-gemm peak
    #[arg(long)]
    profile: bool,
    /// Time the no-grad forward pass of the evaluation model (what `embed`, `predict` and
    /// the cached linear probe run) instead of a training step
    #[arg(long)]
    forward_only: bool,
}

/// Which convolution and BatchNorm implementation a benchmark uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelChoice {
    /// The project's CPU kernels (`supcon::kernels`)
    Project,
    /// burn's own operations
    Burn,
}

fn step(b: StepBench) -> Result<()> {
    check_step(&b)?;
    let device = b.device.autodiff_device();
    let mut config = SupConModelConfig {
        head: HeadConfig::default(),
        ..SupConModelConfig::default()
    };
    config.encoder.name = b.model;
    config.encoder.in_channels = b.channels;
    config.encoder.input_dim = Some(b.channels * b.size * b.size);
    let mut model = config.try_init(&device)?;
    if b.forward_only {
        return forward_only(&b, model.valid());
    }
    let mut optim = OptimizerConfig::default().init();
    let loss_config = SupConLossConfig::default();
    let loss_fn = loss_config.init()?;
    let mut chunked: Option<DataParallel> = None;
    let n = b.views * b.batch;
    let labels: Vec<usize> = (0..b.batch).map(|i| i % 10).collect();
    let mut times = Vec::new();
    let mut memory = DeviceMemory::default();
    let mut phases = [0.0f64; 4];
    for i in 0..b.steps + 2 {
        let x = step_input(&b, i, &device)?;
        if let Some(chunk) = b.chunk {
            // The images as the data loader hands them over (host memory, view-major).
            let images = x
                .try_into_vec_as::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let batch = Batch {
                images,
                labels: labels.clone(),
                indices: (0..b.batch).collect(),
                views: b.views,
                batch_size: b.batch,
                channels: b.channels,
                height: b.size,
                width: b.size,
            };
            let t = Instant::now();
            let net = PretrainModel {
                net: model,
                classifier: None,
            };
            // The chunked step exactly as `pretrain --chunk` takes it on one device.
            let stepper = match chunked.as_mut() {
                Some(stepper) => stepper,
                None => chunked.insert(DataParallel::new(std::slice::from_ref(&device), |d| {
                    Ok(PretrainModel {
                        net: config.try_init(d)?,
                        classifier: None,
                    })
                })?),
            };
            let (grads, _) = stepper.gradients(
                &net,
                &batch,
                Positives::Labels(&labels),
                None,
                &loss_config,
                0,
                Some(chunk),
            )?;
            model = optim.step(0.01, net.net, grads);
            sync(&device)?;
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64());
            }
            continue;
        }
        // The second warm-up step stops at each stage to read the device's memory (the
        // activations peak between forward and backward); timed steps never stop early.
        let probe = i == 1;
        let t = Instant::now();
        let z = model.project(x); // [V*B, P]
        let p = z.dims()[1];
        let z = z.reshape([b.views, b.batch, p]).swap_dims(0, 1);
        // Phase marks are read only when profiling (on the GPU they would wait for the
        // device); the CPU backend runs each operation when it is called.
        let t_forward = t.elapsed().as_secs_f64();
        let l = loss_fn.forward(z, Positives::Labels(&labels))?;
        let t_loss = t.elapsed().as_secs_f64();
        if probe {
            memory.sample(&device)?;
        }
        let grads = l.backward();
        let t_backward = t.elapsed().as_secs_f64();
        if probe {
            memory.sample(&device)?;
        }
        let grads = GradientsParams::from_grads(grads, &model);
        model = optim.step(0.01, model, grads);
        // Reading a value and waiting for the device (the optimiser's updates too) before
        // the clock stops.
        let _ = l.into_scalar::<f32>();
        sync(&device)?;
        if probe {
            memory.sample(&device)?;
        }
        if i >= 2 {
            let total = t.elapsed().as_secs_f64();
            times.push(total);
            for (acc, v) in phases.iter_mut().zip([
                t_forward,
                t_loss - t_forward,
                t_backward - t_loss,
                total - t_backward,
            ]) {
                *acc += v;
            }
        }
    }
    memory.sample(&device)?;
    print_step(&b, n, times, &memory, phases)
}

/// Refuses a step benchmark whose sizes are not positive or too large, or whose flags do
/// not go together; checks the device and turns the kernels on or off.
fn check_step(b: &StepBench) -> Result<()> {
    require_flags_positive(&[
        ("--batch", b.batch),
        ("--size", b.size),
        ("--channels", b.channels),
        ("--views", b.views),
        ("--steps", b.steps),
        ("--chunk", b.chunk.unwrap_or(1)),
    ])?;
    if b.views > MAX_VIEWS {
        bail!("--views {}: expected at most {MAX_VIEWS}", b.views);
    }
    if b.size > FOLDER_MAX_SIZE {
        bail!("--size {}: expected at most {FOLDER_MAX_SIZE}", b.size);
    }
    // The input batch alone (the activations need several times more).
    let input_bytes =
        b.views as f64 * b.batch as f64 * b.channels as f64 * (b.size * b.size) as f64 * 4.0;
    if input_bytes > MAX_BENCH_BYTES {
        bail!(
            "--batch {} --views {} --channels {} --size {}: the input batch alone needs {:.1} \
             GiB; expected at most {} GiB",
            b.batch,
            b.views,
            b.channels,
            b.size,
            gib(input_bytes),
            gib(MAX_BENCH_BYTES)
        );
    }
    b.device.check()?;
    supcon::kernels::set_enabled(b.kernels == KernelChoice::Project);
    if b.chunk.is_some() && (b.forward_only || b.profile) {
        bail!(
            "--chunk times the gradient-cached step, which --forward-only and --profile do \
             not measure: drop --chunk or them"
        );
    }
    Ok(())
}

/// Prints the step benchmark's JSON line (median time of `times`) and, with `--profile`,
/// where a step's time went (`phases`: forward, loss, backward, optimiser, summed).
fn print_step(
    b: &StepBench,
    n: usize,
    times: Vec<f64>,
    memory: &DeviceMemory,
    phases: [f64; 4],
) -> Result<()> {
    let (device_in_use_mb, device_reserved_mb) = memory.json();
    let secs = median(times);
    println!(
        "{}",
        serde_json::json!({"bench": "step", "model": b.model.to_string(), "batch": b.batch,
            "views": b.views, "size": b.size, "chunk": b.chunk, "imgs_per_s": n as f64 / secs,
            "ms_per_step": secs * 1000.0, "peak_rss_mb": peak_rss_mb(),
            "device": b.device.describe(), "kernels": b.kernels.to_possible_value()
                .map(|v| v.get_name().to_string()),
            "device_in_use_mb": device_in_use_mb, "device_reserved_mb": device_reserved_mb})
    );
    if b.profile {
        let steps = b.steps as f64;
        let step_ms = phases.iter().sum::<f64>() / steps * 1e3;
        let rows: Vec<(String, f64)> =
            ["forward (encoder + head)", "loss", "backward", "optimiser"]
                .iter()
                .zip(phases)
                .map(|(name, s)| (name.to_string(), s / steps * 1e3))
                .collect();
        print_profile(step_ms, &rows, steps)?;
    }
    Ok(())
}

/// Step `i`'s input, `[views * batch, channels, size, size]` standard-normal images on the
/// device (ready before the clock starts); kernel profiling starts with the first timed step.
fn step_input(b: &StepBench, i: usize, device: &Device) -> Result<Tensor<4>> {
    if i == 2 && b.profile {
        supcon::kernels::profile::start();
    }
    let x = Tensor::<4>::random(
        [b.views * b.batch, b.channels, b.size, b.size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    sync(device)?;
    Ok(x)
}

/// The no-grad forward of the evaluation model, `--forward-only`.
fn forward_only(b: &StepBench, model: supcon::model::SupConModel) -> Result<()> {
    let device = b.device.device();
    let n = b.views * b.batch;
    let mut times = Vec::new();
    let mut total = 0.0;
    for i in 0..b.steps + 2 {
        let x = step_input(b, i, &device)?;
        let t = Instant::now();
        let features = model.encode(x); // [V*B, D]
        let _ = features.into_data();
        if i >= 2 {
            let secs = t.elapsed().as_secs_f64();
            times.push(secs);
            total += secs;
        }
    }
    let secs = median(times);
    println!(
        "{}",
        serde_json::json!({"bench": "forward", "model": b.model.to_string(), "batch": n,
            "size": b.size, "imgs_per_s": n as f64 / secs, "ms_per_batch": secs * 1000.0,
            "peak_rss_mb": peak_rss_mb(), "device": b.device.describe(),
            "kernels": b.kernels.to_possible_value().map(|v| v.get_name().to_string())})
    );
    if b.profile {
        let steps = b.steps as f64;
        let ms = total / steps * 1e3;
        print_profile(ms, &[("forward (encoder)".to_string(), ms)], steps)?;
    }
    Ok(())
}

/// The `--profile` table: phases, then each kernel by shape with its GFLOP/s and its fraction
/// of the machine's gemm peak. A closed standard output (`| head`) ends the table quietly.
fn print_profile(step_ms: f64, phases: &[(String, f64)], steps: f64) -> Result<()> {
    use std::fmt::Write as _;
    let records = supcon::kernels::profile::take();
    let peak = supcon::kernels::profile::sgemm_peak_gflops();
    let mut out = String::new();
    writeln!(
        out,
        "\nper step: {step_ms:.1} ms; gemm peak of this machine ({} threads): {peak:.0} GFLOP/s",
        rayon::current_num_threads()
    )?;
    writeln!(out, "{:<44} {:>9} {:>7}", "phase", "ms/step", "share")?;
    for (name, ms) in phases {
        writeln!(out, "{name:<44} {ms:>9.1} {:>6.1}%", 100.0 * ms / step_ms)?;
    }
    writeln!(
        out,
        "\n{:<18} {:<30} {:>6} {:>9} {:>7} {:>8} {:>7}",
        "kernel", "shape", "calls", "ms/step", "share", "GFLOP/s", "of peak"
    )?;
    let mut kernel_ms = 0.0;
    for (op, shape, t) in &records {
        let ms = t.seconds / steps * 1e3;
        kernel_ms += ms;
        let (rate, frac) = if t.flops > 0.0 {
            let rate = t.flops / t.seconds / 1e9;
            (format!("{rate:.0}"), format!("{:.0}%", 100.0 * rate / peak))
        } else {
            ("-".to_string(), "-".to_string())
        };
        writeln!(
            out,
            "{:<18} {:<30} {:>6.0} {:>9.1} {:>6.1}% {:>8} {:>7}",
            op.name(),
            shape,
            t.calls as f64 / steps,
            ms,
            100.0 * ms / step_ms,
            rate,
            frac
        )?;
    }
    for (name, what, ms) in [
        ("all kernels", "", kernel_ms),
        (
            "the rest",
            "(burn ops, loss, optimiser)",
            step_ms - kernel_ms,
        ),
    ] {
        writeln!(
            out,
            "{name:<18} {what:<30} {:>6} {ms:>9.1} {:>6.1}%",
            "",
            100.0 * ms / step_ms
        )?;
    }
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, out.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
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
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 256)]
    batch: usize,
    /// Views per image
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 2)]
    views: usize,
    /// Loader threads (0 = one per core)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 0)]
    threads: usize,
    /// Batches to time
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 20)]
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

/// Counts given by flags that must be at least 1.
///
/// # Errors
/// The first flag that is 0, by name.
fn require_flags_positive(flags: &[(&str, usize)]) -> Result<()> {
    match flags.iter().find(|(_, v)| *v == 0) {
        Some((flag, _)) => bail!("{flag} 0: expected at least 1"),
        None => Ok(()),
    }
}
