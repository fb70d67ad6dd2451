//! The training commands: `pretrain`, `linear`, `train-ce`, and `run`, the main job.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::augment::AugmentConfig;
use supcon::train::{
    LinearConfig, LinearReport, Method, PretrainConfig, PretrainReport, RunOptions,
    SupervisedConfig, SupervisedReport, TrainError, linear_probe, pretrain as pretrain_stage,
    resume_linear, resume_pretrain, resume_supervised, train_supervised,
};

use crate::args::{
    DataArgs, InitArgs, LossArgs, ModelArgs, TrainArgs, TrainTargets, check_applies, given,
    read_config, refuse_with_resume, with_out,
};

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// supcon (labels) | simclr (no labels) [default: supcon]; the default temperature
    /// follows the method (0.1 | 0.5)
    #[arg(long)]
    method: Option<Method>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    init: InitArgs,
    #[command(flatten)]
    loss: LossArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Views per image
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    views: Option<usize>,
    /// Also train a linear classifier on stop-gradient features (SupCon + CE)
    #[arg(long)]
    joint: bool,
    /// Loss implementation: plain (autodiff, O(M^2) memory) | tiled (row blocks, exact)
    #[arg(long, value_name = "IMPL")]
    loss_impl: Option<supcon::train::LossImpl>,
    /// Embed and back-propagate N views at a time (gradient caching + tiled loss):
    /// exact large batches in bounded memory
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    chunk: Option<usize>,
    /// Data-parallel over these devices with one global batch, e.g. gpu:0,gpu:1 (cpu,cpu:
    /// threads acting as devices); the first holds the model
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    devices: Vec<supcon::device::DeviceChoice>,
    /// Memory bank of K past projections as extra contrast entries (paper: 8192)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "K")]
    memory_bank: Option<usize>,
    /// EMA key encoder (MoCo-style) with this momentum produces the queued projections
    #[arg(long, allow_negative_numbers = true, value_name = "M")]
    momentum_encoder: Option<f64>,
    /// Start from a configuration file (.toml or .json); flags override it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output run directory [default: runs/pretrain-<time>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in DIR from its last complete checkpoint (uses its config.json)
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Train one global batch over the processes of a job: mpi (launch with
    /// `mpirun -np N supcon pretrain --distributed mpi --out DIR ...`; needs a build with
    /// `--features mpi`)
    #[arg(long, value_name = "ENGINE")]
    distributed: Option<Distributed>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

/// How a command trains over several processes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distributed {
    /// MPI ranks (`mpirun`, Slurm's `srun --mpi=pmix`)
    Mpi,
}

impl PretrainArgs {
    fn config(&self) -> Result<PretrainConfig> {
        let mut c: PretrainConfig = match &self.config {
            Some(path) => read_config(path)?,
            None => PretrainConfig::default(),
        };
        if let Some(m) = self.method {
            c.method = m;
        }
        self.data.apply(&mut c.data);
        self.model.apply(&mut c.model.encoder);
        if self.init.init.is_some() {
            c.init.clone_from(&self.init.init);
        }
        let l = &self.loss;
        if let Some(t) = l.temperature {
            c.loss.temperature = t;
        } else if self.config.is_none() {
            c.loss.temperature = c.method.default_temperature();
        }
        if l.base_temperature.is_some() {
            c.loss.base_temperature = l.base_temperature;
        }
        if let Some(m) = l.contrast_mode {
            c.loss.contrast_mode = m;
        }
        if let Some(v) = l.variant {
            c.loss.variant = v;
        }
        if l.positives_cap.is_some() {
            c.loss.positives_cap = l.positives_cap;
        }
        if let Some(h) = l.head {
            c.model.head.kind = h;
        }
        if let Some(p) = l.proj_dim {
            c.model.head.output_dim = p;
        }
        if let Some(v) = self.views {
            c.views = v;
        }
        if self.joint {
            c.joint = true;
        }
        if let Some(i) = self.loss_impl {
            c.loss_impl = i;
        }
        if self.chunk.is_some() {
            c.chunk = self.chunk;
        }
        if let Some(k) = self.memory_bank {
            c.memory_bank = k;
        }
        if !self.devices.is_empty() {
            c.devices = self.devices.clone();
        }
        if self.momentum_encoder.is_some() {
            c.momentum_encoder = self.momentum_encoder;
        }
        self.train.apply(TrainTargets {
            epochs: &mut c.epochs,
            batch_size: &mut c.batch_size,
            schedule: &mut c.schedule,
            optimizer: &mut c.optimizer,
            augment: Some(&mut c.augment),
            seed: &mut c.seed,
            device: &mut c.device,
            checkpoint_every: Some(&mut c.checkpoint_every),
        });
        // The model lives on the first of several data-parallel devices.
        if let Some(first) = c.devices.first() {
            c.device = *first;
        }
        Ok(c)
    }

    /// Every configuration flag that was given.
    fn given(&self) -> Vec<&'static str> {
        let mut g = given(&[
            ("--method", self.method.is_some()),
            ("--views", self.views.is_some()),
            ("--joint", self.joint),
            ("--loss-impl", self.loss_impl.is_some()),
            ("--chunk", self.chunk.is_some()),
            ("--devices", !self.devices.is_empty()),
            ("--memory-bank", self.memory_bank.is_some()),
            ("--momentum-encoder", self.momentum_encoder.is_some()),
            ("--config", self.config.is_some()),
        ]);
        g.extend(self.data.given());
        g.extend(self.model.given());
        g.extend(self.init.given());
        g.extend(self.loss.given());
        g.extend(self.train.given());
        g
    }
}

pub fn pretrain(args: PretrainArgs) -> Result<()> {
    let opts = RunOptions {
        quiet: args.quiet,
        resume_device: args.train.device,
    };
    refuse_with_resume(args.resume.as_deref(), &args.given())?;
    if args.distributed == Some(Distributed::Mpi) {
        return pretrain_mpi(&args, &opts);
    }
    let report = match &args.resume {
        Some(dir) => {
            resume_pretrain(dir, &opts).with_context(|| format!("resuming {}", dir.display()))?
        }
        None => {
            let config = args.config()?;
            check_applies(
                &args.given(),
                &config.optimizer,
                &config.schedule,
                Some(config.method),
            )?;
            with_out(args.out.as_deref(), "pretrain", |out| {
                Ok(pretrain_stage(&config, out, &opts)?)
            })?
        }
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// `supcon pretrain --distributed mpi`: this process is one rank of an MPI job; rank 0
/// prints the report.
#[cfg(feature = "mpi")]
fn pretrain_mpi(args: &PretrainArgs, opts: &RunOptions) -> Result<()> {
    let report = match &args.resume {
        Some(dir) => supcon::train::mpi::run(|ranks| {
            supcon::train::pretrain::resume_pretrain_job(dir, opts, Some(ranks))
        })
        .with_context(|| format!("resuming {}", dir.display()))?,
        None => {
            let Some(out) = args.out.as_deref() else {
                bail!(
                    "--distributed mpi needs --out DIR (or --resume DIR): every rank must name \
                     the same run directory"
                );
            };
            let mut config = args.config()?;
            check_applies(
                &args.given(),
                &config.optimizer,
                &config.schedule,
                Some(config.method),
            )?;
            supcon::train::mpi::run(|ranks| {
                config.mpi_ranks = Some(supcon::train::collective::Collective::size(ranks));
                supcon::train::pretrain::pretrain_job(&config, out, opts, Some(ranks))
            })?
        }
    };
    if let Some(report) = report {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// Without the `mpi` feature, `--distributed mpi` says how to get it.
#[cfg(not(feature = "mpi"))]
fn pretrain_mpi(_: &PretrainArgs, _: &RunOptions) -> Result<()> {
    bail!(
        "--distributed mpi: this supcon was built without MPI; install OpenMPI \
         (openmpi-bin libopenmpi-dev) and libclang-dev, then build with \
         `cargo build --release --features mpi`"
    )
}

#[derive(Args, Debug)]
pub struct LinearArgs {
    /// The pre-training run whose encoder is probed
    #[arg(long, value_name = "RUN_DIR", required_unless_present = "resume")]
    encoder: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Output run directory [default: runs/linear-<time>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the interrupted probe in DIR from its checkpoint (uses its config.json)
    #[arg(long, value_name = "DIR", conflicts_with = "encoder")]
    resume: Option<PathBuf>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

fn linear_config(args: &LinearArgs, encoder: &Path) -> LinearConfig {
    let encoder = &supcon::train::linear::pretraining_run(encoder);
    let mut c = LinearConfig {
        encoder_run: encoder.to_path_buf(),
        ..LinearConfig::default()
    };
    let d = &args.data;
    if !d.given().is_empty() {
        let mut data = supcon::train::DataConfig::default();
        // Flags refine the pre-training run's data (when it can be read), or describe
        // other data from scratch (--data).
        if d.data.is_none()
            && let Ok(pre) = supcon::train::RunDir::open(encoder)
                .and_then(|r| r.read_json::<PretrainConfig>("config.json"))
        {
            data = pre.data;
        }
        d.apply(&mut data);
        c.data = Some(data);
    }
    args.train.apply(TrainTargets {
        epochs: &mut c.epochs,
        batch_size: &mut c.batch_size,
        schedule: &mut c.schedule,
        optimizer: &mut c.optimizer,
        augment: None,
        seed: &mut c.seed,
        device: &mut c.device,
        checkpoint_every: None,
    });
    // `--augment none` is the default: cached features of un-augmented images.
    c.augment = args
        .train
        .augment
        .filter(|a| a.is_random())
        .map(AugmentConfig::new);
    c.checkpoint_every = args.train.checkpoint_every;
    c
}

pub fn linear(args: LinearArgs) -> Result<()> {
    let mut flags = args.data.given();
    flags.extend(args.train.given());
    refuse_with_resume(args.resume.as_deref(), &flags)?;
    let report = match (&args.resume, &args.encoder) {
        (Some(dir), _) => {
            let opts = RunOptions {
                quiet: args.quiet,
                resume_device: args.train.device,
            };
            resume_linear(dir, &opts).with_context(|| format!("resuming {}", dir.display()))?
        }
        (None, Some(encoder)) => {
            let config = linear_config(&args, encoder);
            check_applies(
                &args.train.given(),
                &config.optimizer,
                &config.schedule,
                None,
            )?;
            with_out(args.out.as_deref(), "linear", |out| {
                Ok(linear_probe(&config, out, args.quiet)?)
            })?
        }
        (None, None) => bail!("--encoder RUN_DIR or --resume DIR is required"),
    };
    println!(
        "{}",
        serde_json::json!({"run": report.run, "top1": report.test.top1,
            "top5": report.test.top5, "ece": report.test.calibration.ece,
            "train_top1": report.train_top1, "seconds": report.seconds})
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SupervisedArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    init: InitArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Start from a configuration file (.toml or .json); flags override it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output run directory [default: runs/ce-<time>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in DIR from its last complete checkpoint
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

pub fn supervised(args: SupervisedArgs) -> Result<()> {
    let opts = RunOptions {
        quiet: args.quiet,
        resume_device: args.train.device,
    };
    let mut flags = given(&[("--config", args.config.is_some())]);
    flags.extend(args.data.given());
    flags.extend(args.model.given());
    flags.extend(args.init.given());
    flags.extend(args.train.given());
    refuse_with_resume(args.resume.as_deref(), &flags)?;
    let report = match &args.resume {
        Some(dir) => {
            resume_supervised(dir, &opts).with_context(|| format!("resuming {}", dir.display()))?
        }
        None => {
            let mut c: SupervisedConfig = match &args.config {
                Some(path) => read_config(path)?,
                None => SupervisedConfig::default(),
            };
            args.data.apply(&mut c.data);
            args.model.apply(&mut c.encoder);
            if args.init.init.is_some() {
                c.init.clone_from(&args.init.init);
            }
            args.train.apply(TrainTargets {
                epochs: &mut c.epochs,
                batch_size: &mut c.batch_size,
                schedule: &mut c.schedule,
                optimizer: &mut c.optimizer,
                augment: Some(&mut c.augment),
                seed: &mut c.seed,
                device: &mut c.device,
                checkpoint_every: Some(&mut c.checkpoint_every),
            });
            check_applies(&flags, &c.optimizer, &c.schedule, None)?;
            with_out(args.out.as_deref(), "ce", |out| {
                Ok(train_supervised(&c, out, &opts)?)
            })?
        }
    };
    println!(
        "{}",
        serde_json::json!({"run": report.run, "top1": report.test.top1,
            "top5": report.test.top5, "ece": report.test.calibration.ece,
            "seconds": report.seconds})
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Epochs of SupCon pre-training and of the cross-entropy baseline (same budget)
    /// [default: 20]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    epochs: Option<usize>,
    /// Images per batch (both methods) [default: 128]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    batch_size: Option<usize>,
    /// Linear-probe epochs (on cached features) [default: 40]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    linear_epochs: Option<usize>,
    /// Seed [default: 0]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::whole)]
    seed: Option<u64>,
    /// Device of all three stages: cpu | gpu[:N] [default: cpu]
    #[arg(long)]
    device: Option<supcon::device::DeviceChoice>,
    /// Output directory [default: runs/run-<time>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in DIR where it stopped (its run.json decides: stages already
    /// finished are kept, the interrupted one resumes from its checkpoint)
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

impl RunArgs {
    /// The settings flags that were given, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut flags = self.data.given();
        flags.extend(self.model.given());
        flags.extend(given(&[
            ("--epochs", self.epochs.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--linear-epochs", self.linear_epochs.is_some()),
            ("--seed", self.seed.is_some()),
            ("--device", self.device.is_some()),
        ]));
        flags
    }

    /// The three stages' configurations for output directory `out`.
    fn plan(&self, out: &Path) -> RunPlan {
        let epochs = self.epochs.unwrap_or(20);
        let batch_size = self.batch_size.unwrap_or(128);
        let seed = self.seed.unwrap_or(0);
        let device = self.device.unwrap_or_default();
        let mut pre = PretrainConfig::default();
        self.data.apply(&mut pre.data);
        self.model.apply(&mut pre.model.encoder);
        pre.epochs = epochs;
        pre.batch_size = batch_size;
        pre.seed = seed;
        pre.checkpoint_every = epochs;
        pre.device = device;
        let ce = SupervisedConfig {
            data: pre.data.clone(),
            encoder: pre.model.encoder.clone(),
            augment: pre.augment.clone(),
            epochs,
            batch_size,
            seed,
            checkpoint_every: epochs,
            device,
            optimizer: pre.optimizer.clone(),
            ..SupervisedConfig::default()
        };
        let linear = LinearConfig {
            encoder_run: out.join("supcon"),
            epochs: self.linear_epochs.unwrap_or(40),
            seed,
            device,
            ..LinearConfig::default()
        };
        RunPlan {
            pretrain: pre,
            linear,
            ce,
        }
    }
}

/// What `supcon run` trains, saved as its `run.json` so that `--resume` continues the same
/// three stages (in `supcon/`, `linear/` and `ce/`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunPlan {
    pretrain: PretrainConfig,
    linear: LinearConfig,
    ce: SupervisedConfig,
}

/// A stage of `run` in `dir`: its report when it finished, a resume when it started,
/// otherwise a fresh start. An interruption names `supcon run --resume out`.
fn run_stage<R: serde::de::DeserializeOwned>(
    dir: &Path,
    out: &Path,
    start: impl FnOnce() -> Result<R, TrainError>,
    resume: impl FnOnce() -> Result<R, TrainError>,
) -> Result<R> {
    let report = dir.join("report.json");
    if report.is_file() {
        return supcon::train::RunDir::open(dir)
            .and_then(|run| run.read_json("report.json"))
            .with_context(|| format!("reading {}", report.display()));
    }
    let result = if dir.join("config.json").is_file() {
        resume()
    } else {
        start()
    };
    result.map_err(|e| match e {
        TrainError::Interrupted {
            epoch,
            step,
            checkpoint,
            ..
        } => TrainError::Interrupted {
            epoch,
            step,
            checkpoint,
            resume: format!("supcon run --resume {}", out.display()),
        }
        .into(),
        other => other.into(),
    })
}

pub fn run(args: RunArgs) -> Result<()> {
    let opts = RunOptions {
        quiet: args.quiet,
        ..RunOptions::default()
    };
    // Held for the whole run: a second `supcon run` into the same folder fails at once
    // (each stage also locks its own folder).
    let _lock;
    let (out, plan) = match &args.resume {
        Some(dir) => {
            let flags = args.given();
            if !flags.is_empty() {
                bail!(
                    "--resume {} continues the run as its run.json says; {} cannot be changed \
                     on resume",
                    dir.display(),
                    flags.join(", ")
                );
            }
            _lock = dir
                .is_dir()
                .then(|| supcon::dirlock::DirLock::acquire(dir))
                .transpose()?;
            if dir.join("summary.json").exists() {
                bail!(
                    "{}: the run already finished; nothing to resume",
                    dir.join("summary.json").display()
                );
            }
            let plan_file = dir.join("run.json");
            if !plan_file.is_file() {
                bail!(
                    "{}: not a `supcon run` directory (no run.json)",
                    plan_file.display()
                );
            }
            let text = std::fs::read_to_string(&plan_file)
                .with_context(|| format!("reading {}", plan_file.display()))?;
            let plan: RunPlan = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a valid run.json", plan_file.display()))?;
            (dir.clone(), plan)
        }
        None => {
            let out = match &args.out {
                Some(out) => out.clone(),
                None => supcon::dirlock::unique_dir(Path::new("runs"), "run")
                    .context("creating runs/run-<time>")?,
            };
            _lock = Some(supcon::dirlock::DirLock::create(&out)?);
            if out.join("summary.json").exists() {
                bail!(
                    "{}: already holds a finished run; pick another --out",
                    out.display()
                );
            }
            if out.join("run.json").exists() {
                bail!(
                    "{}: holds an unfinished `supcon run`; continue it with `supcon run --resume \
                     {}`, or pick another --out",
                    out.display(),
                    out.display()
                );
            }
            let started: Vec<&str> = ["supcon", "linear", "ce"]
                .into_iter()
                .filter(|stage| out.join(stage).join("config.json").exists())
                .collect();
            if !started.is_empty() {
                bail!(
                    "{}: already holds runs ({}); pick another --out",
                    out.display(),
                    started.join(", ")
                );
            }
            let plan = args.plan(&out);
            // Checked before the hours of stage 1, not after.
            if plan.linear.epochs == 0 {
                bail!("--linear-epochs 0: expected at least 1");
            }
            plan.pretrain.validate()?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let text = serde_json::to_string_pretty(&plan)?;
            supcon::fsutil::write_atomic(&out.join("run.json"), text.as_bytes())
                .with_context(|| format!("writing {}", out.join("run.json").display()))?;
            (out, plan)
        }
    };

    let stage_dir = |name: &str| out.join(name);
    eprintln!(
        "[1/3] SupCon pre-training -> {}",
        stage_dir("supcon").display()
    );
    let p: PretrainReport = run_stage(
        &stage_dir("supcon"),
        &out,
        || pretrain_stage(&plan.pretrain, &stage_dir("supcon"), &opts),
        || resume_pretrain(&stage_dir("supcon"), &opts),
    )?;
    eprintln!("[2/3] linear probe -> {}", stage_dir("linear").display());
    let l: LinearReport = run_stage(
        &stage_dir("linear"),
        &out,
        || linear_probe(&plan.linear, &stage_dir("linear"), args.quiet),
        || resume_linear(&stage_dir("linear"), &opts),
    )?;
    let supcon_secs = p.seconds + l.seconds;
    eprintln!(
        "[3/3] cross-entropy baseline -> {}",
        stage_dir("ce").display()
    );
    let c: SupervisedReport = run_stage(
        &stage_dir("ce"),
        &out,
        || train_supervised(&plan.ce, &stage_dir("ce"), &opts),
        || resume_supervised(&stage_dir("ce"), &opts),
    )?;
    let pre = &plan.pretrain;

    let rows = [
        ("SupCon + linear", &l.test, supcon_secs),
        ("cross-entropy", &c.test, c.seconds),
    ];
    println!(
        "data {} | encoder {} | {} epochs, batch {}",
        pre.data.spec, pre.model.encoder.name, pre.epochs, pre.batch_size
    );
    println!(
        "{:<18} {:>7} {:>7} {:>7} {:>9}",
        "method", "top-1", "top-5", "ECE", "time (s)"
    );
    let mut summary = Vec::new();
    for (name, m, secs) in rows {
        println!(
            "{:<18} {:>6.2}% {:>6.2}% {:>7.4} {:>9.1}",
            name,
            100.0 * m.top1,
            100.0 * m.top5,
            m.calibration.ece,
            secs
        );
        summary.push(
            serde_json::json!({"method": name, "top1": m.top1, "top5": m.top5,
            "ece": m.calibration.ece, "nll": m.calibration.nll, "seconds": secs}),
        );
    }
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "data": pre.data.spec, "encoder": pre.model.encoder.name.to_string(),
        "epochs": pre.epochs, "batch_size": pre.batch_size, "results": summary}))?;
    supcon::fsutil::write_atomic(&out.join("summary.json"), text.as_bytes())
        .with_context(|| format!("writing {}", out.join("summary.json").display()))?;
    println!("results in {}", out.display());
    Ok(())
}
