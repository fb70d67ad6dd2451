//! `supcon eval`: accuracy, calibration, corruption robustness, k-NN and few-shot.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::augment::corrupt::Corruption;
use supcon::eval::evaluate::{
    DataOverride, EvalOptions, EvalReport, KnnOptions, RunKind, evaluate_to_file,
    parse_corruptions, parse_severities,
};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Run to evaluate: a linear-probe run, a cross-entropy run, a pre-training run with a
    /// joint classifier, or a `supcon run` output directory (both of its classifiers)
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// Evaluate on another dataset spec (same classes and image shape) [default: the run's]
    #[arg(long, value_name = "SPEC")]
    pub data: Option<String>,
    /// At most N training samples for the k-NN bank and few-shot pools [default: the run's]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub limit: Option<usize>,
    /// At most N test samples [default: the run's]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Data-loading threads (0 = one per core)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub threads: Option<usize>,
    /// Corruptions: all | none | comma-separated names (gaussian_noise,fog,...)
    #[arg(long, value_name = "all|LIST", default_value = "none", value_parser = corruption_list)]
    pub corruptions: CorruptionList,
    /// Severities of each corruption: 1-5 | a list such as 1,3,5 (needs --corruptions)
    /// [default: 1-5]
    #[arg(long, value_name = "1-5|LIST", value_parser = severity_list)]
    pub severities: Option<SeverityList>,
    /// Seed of the corruptions' randomness (needs --corruptions) [default: 0]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::whole)]
    pub seed: Option<u64>,
    /// Normalise corruption errors (mCE, relative mCE) by this run (normally the
    /// cross-entropy run) or by an eval JSON file of it [default for a `supcon run`
    /// directory: its ce/ run]
    #[arg(long, value_name = "RUN_DIR|FILE")]
    pub baseline: Option<PathBuf>,
    /// Evaluate on this device: cpu | gpu[:N] [default: the run's]
    #[arg(long)]
    pub device: Option<supcon::device::DeviceChoice>,
    /// Weighted k-NN accuracy on frozen encoder features (cosine)
    #[arg(long)]
    pub knn: bool,
    /// k-NN neighbours (needs --knn) [default: 200]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "K")]
    pub knn_k: Option<usize>,
    /// k-NN temperature (needs --knn) [default: 0.07]
    #[arg(long, allow_negative_numbers = true, value_name = "T")]
    pub knn_temperature: Option<f32>,
    /// Few-shot linear probes with K samples per class, e.g. 1,5,10
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = crate::args::count,
        value_name = "K,...",
        value_delimiter = ','
    )]
    pub few_shot: Vec<usize>,
    /// Few-shot subsets (seeds) per K; accuracies are averaged (needs --few-shot)
    /// [default: 3]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub few_shot_seeds: Option<usize>,
    /// Epochs of each few-shot probe (needs --few-shot) [default: 100]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub few_shot_epochs: Option<usize>,
    /// Output JSON [default: RUN_DIR/eval.json]
    #[arg(long, value_name = "FILE.json")]
    pub out: Option<PathBuf>,
    /// No progress messages
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Debug)]
pub struct CorruptionList(pub Vec<Corruption>);

#[derive(Clone, Debug)]
pub struct SeverityList(pub Vec<u8>);

fn corruption_list(s: &str) -> Result<CorruptionList, String> {
    parse_corruptions(s)
        .map(CorruptionList)
        .map_err(|e| e.to_string())
}

fn severity_list(s: &str) -> Result<SeverityList, String> {
    parse_severities(s)
        .map(SeverityList)
        .map_err(|e| e.to_string())
}

/// Settings of an evaluation that was not asked for would be silently ignored: refused,
/// as `--baseline` without `--corruptions` is.
fn check_dependent_flags(args: &EvalArgs) -> Result<()> {
    let groups = [
        (
            args.corruptions.0.is_empty(),
            "--corruptions",
            "corruption",
            &[
                ("--severities", args.severities.is_some()),
                ("--seed", args.seed.is_some()),
            ][..],
        ),
        (
            !args.knn,
            "--knn",
            "k-NN",
            &[
                ("--knn-k", args.knn_k.is_some()),
                ("--knn-temperature", args.knn_temperature.is_some()),
            ],
        ),
        (
            args.few_shot.is_empty(),
            "--few-shot",
            "few-shot",
            &[
                ("--few-shot-seeds", args.few_shot_seeds.is_some()),
                ("--few-shot-epochs", args.few_shot_epochs.is_some()),
            ],
        ),
    ];
    for (off, needed, what, flags) in groups {
        if let Some((flag, _)) = flags.iter().find(|(_, given)| off && *given) {
            bail!("{flag} is a {what} setting: it needs {needed}");
        }
    }
    Ok(())
}

pub fn run(args: EvalArgs) -> Result<()> {
    check_dependent_flags(&args)?;
    let defaults = EvalOptions::default();
    let knn_defaults = KnnOptions::default();
    let opts = EvalOptions {
        data: DataOverride {
            spec: args.data.clone(),
            limit: args.limit,
            test_limit: args.test_limit,
            threads: args.threads,
        },
        corruptions: args.corruptions.0.clone(),
        severities: args
            .severities
            .as_ref()
            .map_or(defaults.severities, |s| s.0.clone()),
        seed: args.seed.unwrap_or(defaults.seed),
        baseline: args.baseline.clone(),
        knn: args.knn.then_some(KnnOptions {
            k: args.knn_k.unwrap_or(knn_defaults.k),
            temperature: args.knn_temperature.unwrap_or(knn_defaults.temperature),
        }),
        few_shot: args.few_shot.clone(),
        few_shot_seeds: args.few_shot_seeds.unwrap_or(defaults.few_shot_seeds),
        few_shot_epochs: args.few_shot_epochs.unwrap_or(defaults.few_shot_epochs),
        device: args.device,
    };
    let quiet = args.quiet;
    let log = move |m: &str| {
        if !quiet {
            eprintln!("{m}");
        }
    };
    let (reports, out) = evaluate_to_file(&args.model, args.out.as_deref(), &opts, &log)
        .with_context(|| format!("supcon eval --model {}", args.model.display()))?;
    for r in &reports {
        print_report(r);
    }
    println!("wrote {}", out.display());
    Ok(())
}

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(
        || "-".into(),
        |v| {
            // No minus sign on a value that rounds to zero.
            let v = if (v * 10f64.powi(digits as i32)).round() == 0.0 {
                0.0
            } else {
                v
            };
            format!("{v:.digits$}")
        },
    )
}

fn print_report(r: &EvalReport) {
    let kind = match r.kind {
        RunKind::Linear => format!(
            "linear probe on {}",
            r.encoder_run
                .as_ref()
                .map_or("?".into(), |p| p.display().to_string())
        ),
        RunKind::Ce => "cross-entropy".into(),
        RunKind::Finetune => "fine-tuned".into(),
        RunKind::Pretrain => "joint classifier".into(),
        k => k.describe().into(),
    };
    let c = &r.clean;
    println!();
    println!("== {} ({kind})", r.run.display());
    println!(
        "data {} | {} test images | {} classes",
        r.data.spec, c.samples, r.num_classes
    );
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "", "top-1", "top-5", "ECE", "MCE", "NLL"
    );
    println!(
        "{:<10} {:>8} {:>8} {:>8.4} {:>8.4} {:>8.4}",
        "clean",
        pct(c.top1),
        pct(c.top5),
        c.calibration.ece,
        c.calibration.mce,
        c.calibration.nll
    );
    let per_class: Vec<String> = r
        .per_class_accuracy
        .iter()
        .zip(&r.class_names)
        .map(|(a, n)| {
            format!(
                "{n} {}",
                a.map_or("-".into(), |a| format!("{:.0}%", 100.0 * a))
            )
        })
        .collect();
    println!("per class: {}", per_class.join(", "));
    if let Some(k) = &r.knn {
        println!(
            "k-NN (k={}, T={}, {} train): top-1 {}",
            k.k,
            k.temperature,
            k.train_samples,
            pct(k.top1)
        );
    }
    for f in &r.few_shot {
        println!(
            "{}-shot linear probe: top-1 {} ± {:.2} ({} seeds)",
            f.shots,
            pct(f.mean),
            100.0 * f.std,
            f.seeds.len()
        );
    }
    if let Some(cr) = &r.corruptions {
        let mut header = format!("{:<18}", "corruption");
        for s in &cr.severities {
            header += &format!(" {:>14}", format!("s{s} acc/ECE"));
        }
        header += &format!(" {:>8} {:>7} {:>7}", "mean err", "CE", "rel CE");
        println!("{header}");
        for (name, score) in &cr.robustness.corruptions {
            let mut line = format!("{name:<18}");
            for s in &cr.severities {
                let cell = cr
                    .cells
                    .iter()
                    .find(|x| &x.corruption == name && x.severity == *s);
                line += &match cell {
                    Some(x) => format!(" {:>7.2}%/{:.3}", 100.0 * x.top1, x.ece),
                    None => format!(" {:>14}", "-"),
                };
            }
            line += &format!(
                " {:>8} {:>7} {:>7}",
                pct(score.mean_error),
                opt(score.ce, 3),
                opt(score.relative_ce, 3)
            );
            println!("{line}");
        }
        let rb = &cr.robustness;
        print!("mean corruption error {}", pct(rb.mean_error));
        match &cr.baseline {
            Some(b) => println!(
                " | mCE {} | relative mCE {} (baseline {})",
                opt(rb.mce, 3),
                opt(rb.relative_mce, 3),
                b.source.display()
            ),
            None => println!(" (no --baseline: no mCE)"),
        }
        for n in &cr.notes {
            println!("note: {n}");
        }
    }
}
