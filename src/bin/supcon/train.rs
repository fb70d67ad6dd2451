//! The training commands: `pretrain`, `linear`, `train-ce`, and `run`, the main job
//! ([`supcon::suite`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::augment::AugmentConfig;
use supcon::suite::{SuiteError, SuiteSettings, resume_suite, run_suite};
use supcon::train::{
    LinearConfig, Method, PretrainConfig, RunOptions, SupervisedConfig, linear_probe,
    pretrain as pretrain_stage, resume_linear, resume_pretrain, resume_supervised,
    train_supervised,
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

/// Refuses `--distributed` for a command that trains in one process.
///
/// # Errors
/// Naming the flag, the command and the one that trains over MPI ranks.
pub fn single_process(command: &str, distributed: Option<Distributed>) -> Result<()> {
    if distributed.is_some() {
        anyhow::bail!(
            "--distributed mpi is not offered for `supcon {command}`: it trains in one process \
             (run it without mpirun); over MPI ranks only `supcon pretrain --distributed mpi` \
             trains, one global contrastive batch"
        );
    }
    Ok(())
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
    /// The encoder to probe: a pre-training run, a `supcon run` output (its pre-training
    /// run), or an export (`supcon export`; then --data is required)
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
    /// Not offered here: only `pretrain` trains over MPI ranks (refused with a message)
    #[arg(long, value_name = "ENGINE", hide = true)]
    distributed: Option<Distributed>,
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
        // Flags refine the pre-training run's data, or describe other data from scratch
        // (--data). Without --data and a readable pre-training run (an export records no
        // data) they are left to the probe, which asks for --data.
        let base = match d.data {
            Some(_) => Some(supcon::train::DataConfig::default()),
            None => supcon::train::RunDir::open(encoder)
                .and_then(|r| r.read_json::<PretrainConfig>("config.json"))
                .ok()
                .map(|pre| pre.data),
        };
        if let Some(mut data) = base {
            d.apply(&mut data);
            c.data = Some(data);
        }
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
    single_process("linear", args.distributed)?;
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
    /// Not offered here: only `pretrain` trains over MPI ranks (refused with a message)
    #[arg(long, value_name = "ENGINE", hide = true)]
    distributed: Option<Distributed>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

pub fn supervised(args: SupervisedArgs) -> Result<()> {
    single_process("train-ce", args.distributed)?;
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

    /// The run's settings: the defaults with the given flags applied.
    fn settings(&self) -> SuiteSettings {
        let mut s = SuiteSettings::default();
        self.data.apply(&mut s.data);
        self.model.apply(&mut s.encoder);
        s.epochs = self.epochs.unwrap_or(s.epochs);
        s.batch_size = self.batch_size.unwrap_or(s.batch_size);
        s.linear_epochs = self.linear_epochs.unwrap_or(s.linear_epochs);
        s.seed = self.seed.unwrap_or(s.seed);
        s.device = self.device.unwrap_or(s.device);
        s
    }
}

pub fn run(args: RunArgs) -> Result<()> {
    let opts = RunOptions {
        quiet: args.quiet,
        ..RunOptions::default()
    };
    let log = |m: &str| eprintln!("{m}");
    let (out, summary) = match &args.resume {
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
            (dir.clone(), resume_suite(dir, &opts, &log))
        }
        None => {
            let out = match &args.out {
                Some(out) => out.clone(),
                None => supcon::dirlock::unique_dir(Path::new("runs"), "run")
                    .context("creating runs/run-<time>")?,
            };
            let summary = run_suite(&args.settings(), &out, &opts, &log);
            (out, summary)
        }
    };
    let summary = summary.map_err(|e| match e {
        // Unwrapped, so that main sees the interruption in the cause chain.
        SuiteError::Train(e) => anyhow::Error::from(e),
        other => other.into(),
    })?;
    let split = match summary.val_split {
        Some(f) => format!(" | scores on the validation split ({f} of the training set)"),
        None => String::new(),
    };
    println!(
        "data {} | encoder {} | {} epochs, batch {}{split}",
        summary.data, summary.encoder, summary.epochs, summary.batch_size
    );
    println!(
        "{:<18} {:>7} {:>7} {:>7} {:>9}",
        "method", "top-1", "top-5", "ECE", "time (s)"
    );
    for r in &summary.results {
        println!(
            "{:<18} {:>6.2}% {:>6.2}% {:>7.4} {:>9.1}",
            r.method,
            100.0 * r.top1,
            100.0 * r.top5,
            r.ece,
            r.seconds
        );
    }
    println!("results in {}", out.display());
    Ok(())
}
