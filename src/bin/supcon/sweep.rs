//! `supcon sweep`: hyperparameter stability. Each method (SupCon: pre-training + linear
//! probe; CE: end-to-end cross-entropy) over the Cartesian product of `--grid` axes at a
//! small budget; per method the mean, spread, worst and best test top-1.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::eval::sweep::{GridAxis, SweepConfig, SweepMethod, SweepReport, run_sweep};
use supcon::train::{LinearConfig, PretrainConfig, RunOptions, SupervisedConfig};

use crate::args::{DataArgs, ModelArgs, with_out};

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// A grid axis KEY=V1,V2,... (repeatable; the points are the product of all axes).
    /// Keys: lr, temperature (contrastive methods only), optimizer, augment, batch_size,
    /// weight_decay, momentum, seed
    #[arg(long = "grid", value_name = "KEY=V1,V2,...", required = true)]
    grid: Vec<GridAxis>,
    /// Methods: supcon, simclr, ce
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "supcon,ce"
    )]
    methods: Vec<SweepMethod>,
    /// Epochs of pre-training and of the CE baseline at every point
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 2)]
    epochs: usize,
    /// Images per batch, unless the grid varies batch_size
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 128)]
    batch_size: usize,
    /// Linear-probe epochs (on cached features)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, default_value_t = 20)]
    linear_epochs: usize,
    /// Seed, unless the grid varies it
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::whole, default_value_t = 0)]
    seed: u64,
    /// Output directory: sweep.json and one run directory per point [default:
    /// runs/sweep-<time>]. Rerunning into the same directory reuses finished points
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

fn config(args: &SweepArgs) -> SweepConfig {
    let mut pre = PretrainConfig::default();
    args.data.apply(&mut pre.data);
    args.model.apply(&mut pre.model.encoder);
    pre.epochs = args.epochs;
    pre.batch_size = args.batch_size;
    pre.seed = args.seed;
    pre.checkpoint_every = args.epochs.max(1);
    let mut ce = SupervisedConfig {
        data: pre.data.clone(),
        encoder: pre.model.encoder.clone(),
        augment: pre.augment.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        checkpoint_every: args.epochs.max(1),
        ..SupervisedConfig::default()
    };
    ce.optimizer = pre.optimizer.clone();
    let linear = LinearConfig {
        epochs: args.linear_epochs,
        seed: args.seed,
        ..LinearConfig::default()
    };
    let mut methods: Vec<SweepMethod> = Vec::new();
    for m in &args.methods {
        if !methods.contains(m) {
            methods.push(*m);
        }
    }
    SweepConfig {
        pretrain: pre,
        linear,
        ce,
        methods,
        grid: args.grid.clone(),
    }
}

pub fn run(args: SweepArgs) -> Result<()> {
    let config = config(&args);
    let opts = RunOptions {
        quiet: args.quiet,
        ..RunOptions::default()
    };
    let log = |m: &str| eprintln!("{m}");
    let (report, out) = with_out(args.out.as_deref(), "sweep", |out| {
        let report = run_sweep(&config, out, &opts, &log).context("supcon sweep")?;
        Ok((report, out.to_path_buf()))
    })?;
    print_report(&report);
    println!("results in {}", out.join("sweep.json").display());
    let failed = report.points.iter().filter(|p| p.error.is_some()).count();
    if failed > 0 && failed == report.points.len() {
        bail!(
            "every grid point failed ({failed} of {failed}): the sweep has no result; see \
             the errors above and {}",
            out.join("sweep.json").display()
        );
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.2}%", 100.0 * v))
}

fn print_report(r: &SweepReport) {
    let c = &r.config;
    let grid: Vec<String> = c
        .grid
        .iter()
        .map(|a| format!("{}={}", a.key, a.values.join(",")))
        .collect();
    println!(
        "data {} | encoder {} | {} epochs | grid {}",
        c.pretrain.data.spec,
        c.pretrain.model.encoder.name,
        c.pretrain.epochs,
        grid.join(" ")
    );
    println!(
        "{:<8} {:<50} {:>8} {:>8} {:>7}",
        "method", "point", "top-1", "top-5", "ECE"
    );
    for p in &r.points {
        let label = &p.label;
        match &p.error {
            None => println!(
                "{:<8} {:<50} {:>8} {:>8} {:>7.4}",
                p.method.name(),
                label,
                pct(p.top1),
                pct(p.top5),
                p.ece.unwrap_or(f64::NAN)
            ),
            Some(e) => println!("{:<8} {:<50} failed: {e}", p.method.name(), label),
        }
    }
    println!();
    println!(
        "{:<8} {:>6} {:>6} {:>8} {:>8} {:>12} {:>8} {:>8}",
        "method", "points", "failed", "mean", "std", "min (worst)", "max", "range"
    );
    for s in &r.summary {
        println!(
            "{:<8} {:>6} {:>6} {:>8} {:>8} {:>12} {:>8} {:>8}",
            s.method.name(),
            s.points,
            s.failed,
            pct(s.mean),
            pct(s.std),
            pct(s.min),
            pct(s.max),
            pct(s.range)
        );
    }
}
