//! `supcon`: Supervised Contrastive Learning from the command line.
//!
//! A thin layer over the library: parse flags into validated configurations, call the
//! library, print results. Errors print their whole cause chain and exit with status 1
//! (2 for bad flags, from clap). The training commands stop at a checkpoint on Ctrl-C
//! (SIGINT), SIGTERM or SIGHUP and exit with status 128 + the signal's number (130, 143,
//! 129), naming the checkpoint and the `--resume` command; in their other long phases
//! (data decoding, feature caching) they stop within about a second; a second signal exits
//! at once. Every other command exits at once on the first signal, with the same status.

mod args;
mod bench;
mod bench_data;
mod data;
mod evaluate;
mod infer;
mod report;
mod rss;
mod sweep;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use supcon::train::{TrainError, interrupt};

/// Supervised Contrastive Learning (Khosla et al., NeurIPS 2020) on burn.
#[derive(Parser, Debug)]
#[command(name = "supcon", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: SupCon pre-training + linear probe and the cross-entropy baseline
    /// with the same encoder and budget, then a side-by-side table
    Run(train::RunArgs),
    /// Stage 1: contrastive pre-training (SupCon or SimCLR)
    Pretrain(train::PretrainArgs),
    /// Stage 2: linear probe on a frozen pre-trained encoder
    Linear(train::LinearArgs),
    /// The cross-entropy baseline: encoder + classifier trained end to end
    TrainCe(train::SupervisedArgs),
    /// Evaluate a run: accuracy, calibration, corruption robustness, k-NN, few-shot
    Eval(evaluate::EvalArgs),
    /// Self-contained HTML report (inline SVG plots) of one or more runs
    Report(report::ReportArgs),
    /// Hyperparameter stability: the same method over a grid, mean/spread/worst accuracy
    Sweep(sweep::SweepArgs),
    /// Classify images or a dataset with a trained model
    Predict(infer::PredictArgs),
    /// Write encoder (or projection) embeddings to .npy or safetensors
    Embed(infer::EmbedArgs),
    /// Fine-tune a pre-trained encoder plus a new classifier end to end (transfer)
    Finetune(infer::FinetuneArgs),
    /// Export a deployable classifier (encoder + linear head, weights + config)
    Export(infer::ExportArgs),
    /// Print a one-line JSON summary of a dataset
    Data(data::DataCmd),
    /// Benchmarks: loss, training step, augmentation throughput (one JSON line each)
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

impl Command {
    /// Commands whose training loops stop cleanly at a checkpoint on Ctrl-C (`run` through
    /// the stage it is in). Others exit at once, with the same status.
    fn stops_at_checkpoints(&self) -> bool {
        matches!(
            self,
            Self::Run(_)
                | Self::Pretrain(_)
                | Self::Linear(_)
                | Self::TrainCe(_)
                | Self::Finetune(_)
        )
    }
}

/// The interruption in an error's cause chain, if that is what stopped the command.
fn interruption(err: &anyhow::Error) -> Option<&TrainError> {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<TrainError>())
        .find(|e| matches!(e, TrainError::Interrupted { .. }))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mode = if cli.command.stops_at_checkpoints() {
        interrupt::Mode::Graceful
    } else {
        interrupt::Mode::Immediate
    };
    if let Err(err) = interrupt::install_mode(mode) {
        eprintln!("warning: {err}; Ctrl-C will stop without a checkpoint");
    }
    let result = match cli.command {
        Command::Run(a) => train::run(a),
        Command::Pretrain(a) => train::pretrain(a),
        Command::Linear(a) => train::linear(a),
        Command::TrainCe(a) => train::supervised(a),
        Command::Eval(a) => evaluate::run(a),
        Command::Report(a) => report::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Predict(a) => infer::predict(a),
        Command::Embed(a) => infer::embed(a),
        Command::Finetune(a) => infer::finetune(a),
        Command::Export(a) => infer::export(a),
        Command::Data(a) => data::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(stop) = interruption(&err) {
                eprintln!("{stop}");
                return ExitCode::from(interrupt::exit_code());
            }
            if interrupt::requested() {
                // A long phase (decoding, feature caching) gave up on the signal.
                eprintln!("interrupted: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                return ExitCode::from(interrupt::exit_code());
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
