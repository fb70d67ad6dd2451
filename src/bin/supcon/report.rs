//! `supcon report`: a self-contained HTML report (inline SVG plots) of one or more runs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::eval::report::{ReportOptions, write_report};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directories: training runs, `supcon run` outputs (their supcon/linear/ce runs),
    /// `supcon sweep` outputs. A run's RUN_DIR/eval.json (from `supcon eval`) adds
    /// corruption robustness, k-NN, few-shot and confusion matrices
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<PathBuf>,
    /// Output HTML file
    #[arg(long, value_name = "FILE.html", default_value = "report.html")]
    pub out: PathBuf,
    /// Page title
    #[arg(long, default_value = "SupCon report")]
    pub title: String,
    /// Skip the PCA of test-set embeddings (which loads each encoder and the test split)
    #[arg(long)]
    pub no_embeddings: bool,
    /// At most N test images in the PCA plots
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = crate::args::count,
        value_name = "N",
        default_value_t = 1000
    )]
    pub pca_points: usize,
    /// No progress messages
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    if args.pca_points == 0 {
        bail!("--pca-points 0: expected at least 1 (or --no-embeddings to skip the PCA plots)");
    }
    let opts = ReportOptions {
        title: args.title.clone(),
        embeddings: !args.no_embeddings,
        pca_points: args.pca_points,
    };
    let quiet = args.quiet;
    let log = move |m: &str| {
        // Warnings (a malformed metrics.jsonl line, say) show even with --quiet.
        if !quiet || m.starts_with("warning:") {
            eprintln!("{m}");
        }
    };
    let summary = write_report(&args.runs, &args.out, &opts, &log).context("supcon report")?;
    println!(
        "wrote {} ({} runs, {} plots; sections: {})",
        args.out.display(),
        summary.runs,
        summary.plots,
        summary.sections.join(", ")
    );
    Ok(())
}
