//! `supcon predict`, `embed`, `finetune`, `export`: use a trained model.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::data::folder::IMAGE_EXTENSIONS;
use supcon::data::{ImageDataset, LoadedDataset};
use supcon::infer::{
    Classifier, Embedder, Layer, ModelDir, Prediction, check_embeddings_out, write_embeddings,
};
use supcon::outputs::Inputs;
use supcon::train::data_drift::DataUse;
use supcon::train::{
    DataConfig, FinetuneConfig, RunOptions, finetune as finetune_stage, resume_finetune,
};

use crate::args::{DataArgs, InitArgs, ModelArgs, TrainArgs, TrainTargets, read_config, with_out};

/// Output format of `predict`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            _ => Err(format!("unknown format '{s}': expected table, json or csv")),
        }
    }
}

/// Which split of a dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    Train,
    #[default]
    Test,
}

impl FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Self::Train),
            "test" | "val" => Ok(Self::Test),
            _ => Err(format!("unknown split '{s}': expected train or test")),
        }
    }
}

impl Split {
    fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "test",
        }
    }

    fn of(self, data: &LoadedDataset) -> &ImageDataset {
        match self {
            Self::Train => &data.train,
            Self::Test => &data.test,
        }
    }
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model: a linear-probe, train-ce, finetune or joint pretrain run, a `supcon run`
    /// output directory (its linear probe), or an exported model directory
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    /// Image files (PNG/JPEG) or folders of them (searched recursively); with neither
    /// INPUT nor --data, the run's own data (--split, with the run's subsets)
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Dataset split: train | test [default: test]; only with the run's data or --data
    #[arg(long)]
    split: Option<Split>,
    /// Device: cpu | gpu[:N]
    #[arg(long, default_value = "cpu")]
    device: supcon::device::DeviceChoice,
    /// Classes listed per image
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = crate::args::count,
        default_value_t = 5,
        value_name = "K"
    )]
    top_k: usize,
    /// Output: table | json | csv
    #[arg(long, default_value = "table")]
    format: Format,
    /// Images per forward pass
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = crate::args::count,
        default_value_t = 256,
        value_name = "N"
    )]
    batch_size: usize,
}

/// One classified input.
///
/// Without INPUT and --data, `predict` classifies the run's own data (its --split, with
/// the run's --limit/--test-limit subsets), so its accuracy is the one training reported.
struct Row {
    input: String,
    label: Option<usize>,
    prediction: Prediction,
}

/// The data a `predict` or `embed` run reads: `--data` with its flags, else the run's
/// own data configuration (flags applied on top).
fn data_config(model: &ModelDir, args: &DataArgs) -> Result<(DataConfig, u64)> {
    if args.data.is_some() {
        let mut data = DataConfig::default();
        args.apply(&mut data);
        let seed = model.data_config().map_or(0, |(_, s)| s);
        return Ok((data, seed));
    }
    let Some((mut data, seed)) = model.data_config() else {
        bail!(
            "{} is an export and records no dataset; pass --data SPEC",
            model.dir().display()
        );
    };
    args.apply(&mut data);
    Ok((data, seed))
}

/// Image files named by `inputs`: files as given, folders searched recursively for
/// `.png`/`.jpg`/`.jpeg` files (sorted; hidden entries skipped). Symbolic links are
/// followed, but a folder already searched for the same input (by canonical path, as
/// in a symlink cycle) is not searched again; a note says so.
///
/// # Errors
/// A missing input, a folder without images, or a folder or entry that cannot be read
/// (named, with the reason).
fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    /// Searches `dir` (whose canonical path is `real`) unless `visited` holds `real`.
    fn walk(
        dir: &Path,
        real: PathBuf,
        visited: &mut HashSet<PathBuf>,
        out: &mut Vec<PathBuf>,
    ) -> Result<()> {
        if !visited.insert(real.clone()) {
            eprintln!(
                "note: {}: the same folder as {}, which is already searched; not searched again",
                dir.display(),
                real.display()
            );
            return Ok(());
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot list the folder", dir.display()))?
        {
            let entry = entry.with_context(|| {
                format!("{}: cannot read an entry of this folder", dir.display())
            })?;
            let p = entry.path();
            if !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                entries.push(p);
            }
        }
        entries.sort();
        for p in entries {
            // Follows symbolic links; a dangling link or a link loop is an error.
            let meta = std::fs::metadata(&p).with_context(|| {
                format!(
                    "{}: cannot read this entry (a broken symbolic link?); expected an \
                     image file or a folder",
                    p.display()
                )
            })?;
            if meta.is_dir() {
                let real = std::fs::canonicalize(&p)
                    .with_context(|| format!("{}: cannot resolve the folder", p.display()))?;
                walk(&p, real, visited, out)?;
            } else if p.extension().is_some_and(|e| {
                IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
            }) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let before = files.len();
            let real = std::fs::canonicalize(input)
                .with_context(|| format!("{}: cannot resolve the folder", input.display()))?;
            walk(input, real, &mut HashSet::new(), &mut files)?;
            if files.len() == before {
                bail!(
                    "{}: no .png/.jpg/.jpeg image in this folder",
                    input.display()
                );
            }
        } else if input.exists() {
            files.push(input.clone());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    Ok(files)
}

/// Refuses `--batch-size 0`.
fn check_batch_size(n: usize) -> Result<()> {
    if n == 0 {
        bail!("--batch-size 0: expected at least 1 image per forward pass");
    }
    Ok(())
}

pub fn predict(args: PredictArgs) -> Result<()> {
    check_predict(&args)?;
    let split = args.split.unwrap_or_default();
    args.device.check()?;
    let classifier = Classifier::load_on(&args.model, &args.device.device())
        .with_context(|| format!("loading the model in {}", args.model.display()))?
        .with_top_k(args.top_k)
        .with_batch_size(args.batch_size)?;
    let mut rows = Vec::new();
    let files = collect_images(&args.inputs)?;
    if !files.is_empty() {
        let predictions = classifier.predict_files(&files)?;
        rows.extend(files.iter().zip(predictions).map(|(f, prediction)| Row {
            input: f.display().to_string(),
            label: None,
            prediction,
        }));
    }
    let mut dataset = None;
    if args.inputs.is_empty() || args.data.data.is_some() {
        let (name, dataset_rows) = predict_dataset(&args, &classifier, split)?;
        rows.extend(dataset_rows);
        dataset = Some(name);
    }
    let labelled: Vec<&Row> = rows.iter().filter(|r| r.label.is_some()).collect();
    let correct = labelled
        .iter()
        .filter(|r| r.label == Some(r.prediction.class))
        .count();
    let accuracy = (!labelled.is_empty()).then(|| correct as f64 / labelled.len() as f64);
    let names = classifier.class_names();
    let label_name = |l: Option<usize>| l.map(|l| names[l].clone());
    let mut text = String::new();
    match args.format {
        Format::Json => {
            let predictions: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({"input": r.input, "label": r.label,
                        "label_name": label_name(r.label), "class": r.prediction.class,
                        "name": r.prediction.name, "probability": r.prediction.probability,
                        "top_k": r.prediction.top_k})
                })
                .collect();
            let doc = serde_json::json!({"model": classifier.dir(),
                "kind": classifier.kind().name(), "data": dataset,
                "split": dataset.as_ref().map(|_| split.name()),
                "samples": rows.len(), "labelled": labelled.len(), "correct": correct,
                "accuracy": accuracy, "predictions": predictions});
            text = serde_json::to_string_pretty(&doc)?;
            text.push('\n');
        }
        Format::Csv => {
            text.push_str("input,label,class,name,probability,top_k\n");
            for r in &rows {
                let top: Vec<String> = r
                    .prediction
                    .top_k
                    .iter()
                    .map(|s| format!("{}={:.6}", s.name, s.probability))
                    .collect();
                let _ = writeln!(
                    text,
                    "{},{},{},{},{:.6},{}",
                    csv_field(&r.input),
                    csv_field(&label_name(r.label).unwrap_or_default()),
                    r.prediction.class,
                    csv_field(&r.prediction.name),
                    r.prediction.probability,
                    csv_field(&top.join(";"))
                );
            }
        }
        Format::Table => {
            text = table_text(&rows, names, args.top_k, accuracy, correct, labelled.len());
        }
    }
    print!("{text}");
    Ok(())
}

/// Refuses `--top-k 0`, `--batch-size 0`, and dataset flags given with INPUT files alone.
fn check_predict(args: &PredictArgs) -> Result<()> {
    if args.top_k == 0 {
        bail!("--top-k 0: expected at least 1");
    }
    check_batch_size(args.batch_size)?;
    if !args.inputs.is_empty() && args.data.data.is_none() {
        // Only INPUT files: the dataset flags select nothing.
        let mut flags: Vec<&str> = args
            .data
            .given()
            .into_iter()
            .filter(|f| *f != "--data")
            .collect();
        if args.split.is_some() {
            flags.insert(0, "--split");
        }
        if !flags.is_empty() {
            bail!(
                "{}: these flags select or load dataset images (the run's own data, or --data SPEC) \
                 and do not apply to INPUT files; drop them, or add --data SPEC to classify \
                 a dataset as well",
                flags.join(", ")
            );
        }
    }
    Ok(())
}

/// Predictions on the dataset split `predict` reads (`--data`, else the run's own data):
/// the dataset's name and a row per image, labelled when it has the model's classes.
fn predict_dataset(
    args: &PredictArgs,
    classifier: &Classifier,
    split: Split,
) -> Result<(String, Vec<Row>)> {
    let model = ModelDir::open(&args.model)?;
    let (config, seed) = data_config(&model, &args.data)?;
    let mut data = config.load(seed)?;
    model.check_data(&config, &mut data, DataUse::Classifier)?;
    let split_data = split.of(&data);
    let predictions = classifier.predict_split(split_data)?;
    // Labels count only when the dataset has the model's classes.
    let same_classes = split_data.class_names == classifier.class_names();
    if !same_classes {
        eprintln!(
            "note: {} has other classes than the model; no accuracy is computed",
            data.name
        );
    }
    let rows = predictions
        .into_iter()
        .enumerate()
        .map(|(i, prediction)| Row {
            input: format!("{}[{i}]", split.name()),
            label: same_classes.then_some(split_data.labels[i]),
            prediction,
        })
        .collect();
    Ok((data.name.clone(), rows))
}

/// The `table` format: a line per row, then the accuracy over the labelled rows.
fn table_text(
    rows: &[Row],
    names: &[String],
    top_k: usize,
    accuracy: Option<f64>,
    correct: usize,
    labelled: usize,
) -> String {
    let label_name = |l: Option<usize>| l.map(|l| names[l].clone());
    let mut text = String::new();
    let width = rows.iter().map(|r| r.input.len()).max().unwrap_or(5).max(5);
    let name_width = names.iter().map(String::len).max().unwrap_or(5).max(5);
    let pred_width = name_width.max(10);
    let _ = writeln!(
        text,
        "{:<width$}  {:<name_width$}  {:<pred_width$}  {:>6}  top-{}",
        "input",
        "label",
        "prediction",
        "prob",
        top_k.min(names.len())
    );
    for r in rows {
        let top: Vec<String> = r
            .prediction
            .top_k
            .iter()
            .map(|s| format!("{} {:.2}", s.name, s.probability))
            .collect();
        let _ = writeln!(
            text,
            "{:<width$}  {:<name_width$}  {:<pred_width$}  {:>6.3}  {}",
            r.input,
            label_name(r.label).unwrap_or_else(|| "-".into()),
            r.prediction.name,
            r.prediction.probability,
            top.join(", ")
        );
    }
    if let Some(acc) = accuracy {
        let _ = writeln!(text, "accuracy: {:.2}% ({correct}/{labelled})", 100.0 * acc);
    }
    text
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Model: a pretrain, linear-probe, train-ce or finetune run, a `supcon run` output,
    /// or an export
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Output file: .npy (labels go to STEM.labels.npy) or .safetensors
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Dataset split: train | test
    #[arg(long, default_value = "test")]
    split: Split,
    /// encoder (features, D) | projection (projection head before normalisation, P)
    #[arg(long, default_value = "encoder")]
    layer: Layer,
    /// Device: cpu | gpu[:N]
    #[arg(long, default_value = "cpu")]
    device: supcon::device::DeviceChoice,
    /// L2-normalise every embedding
    #[arg(long)]
    normalize: bool,
    /// Images per forward pass
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = crate::args::count,
        default_value_t = 256,
        value_name = "N"
    )]
    batch_size: usize,
}

pub fn embed(args: EmbedArgs) -> Result<()> {
    let ext = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("npy" | "safetensors")) {
        bail!(
            "--out {}: expected a .npy or .safetensors file name",
            args.out.display()
        );
    }
    check_batch_size(args.batch_size)?;
    let model = ModelDir::open(&args.model)
        .with_context(|| format!("opening the model in {}", args.model.display()))?;
    args.device.check()?;
    let embedder = Embedder::load_on(&args.model, args.layer, &args.device.device())
        .with_context(|| format!("loading the model in {}", args.model.display()))?
        .with_batch_size(args.batch_size)?;
    let (config, seed) = data_config(&model, &args.data)?;
    check_embeddings_out(
        &args.out,
        &Inputs::new([args.model.clone()], config.dataset_dir()),
    )?;
    let mut data = config.load(seed)?;
    model.check_data(&config, &mut data, DataUse::Encoder)?;
    let split = args.split.of(&data);
    let embeddings = embedder.embed_split(split, args.normalize)?;
    let files = write_embeddings(&args.out, &embeddings, &split.labels)?;
    println!(
        "{}",
        serde_json::json!({"files": files, "rows": embeddings.rows, "dim": embeddings.cols,
            "layer": args.layer.to_string(), "normalized": args.normalize,
            "data": data.name, "split": args.split.name(), "model": model.dir(),
            "kind": model.kind().name()})
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// The run holding the pre-trained encoder (a pretrain run, a linear probe or
    /// `supcon run` output, a train-ce/finetune run, or an export)
    #[arg(long, value_name = "RUN_DIR", required_unless_present_any = ["resume", "init"])]
    encoder: Option<PathBuf>,
    #[command(flatten)]
    init: InitArgs,
    // With --init only: the architecture the torchvision weights load into.
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Start from a configuration file (.toml or .json); flags override it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output run directory [default: runs/finetune-<time>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in DIR from its last complete checkpoint (uses its config.json)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["encoder", "config"])]
    resume: Option<PathBuf>,
    /// Not offered here: only `pretrain` trains over MPI ranks (refused with a message)
    #[arg(long, value_name = "ENGINE", hide = true)]
    distributed: Option<crate::train::Distributed>,
    /// No progress bars
    #[arg(long, short)]
    quiet: bool,
}

pub fn finetune(args: FinetuneArgs) -> Result<()> {
    crate::train::single_process("finetune", args.distributed)?;
    let opts = RunOptions {
        quiet: args.quiet,
        resume_device: args.train.device,
    };
    let mut flags = args.data.given();
    flags.extend(args.train.given());
    flags.extend(args.init.given());
    flags.extend(args.model.given());
    crate::args::refuse_with_resume(args.resume.as_deref(), &flags)?;
    if args.encoder.is_some() && args.init.init.is_some() {
        anyhow::bail!(
            "--encoder and --init are alternatives: fine-tune a run's encoder, or torchvision \
             weights"
        );
    }
    let model_flags = args.model.given();
    if args.init.init.is_none() && !model_flags.is_empty() {
        anyhow::bail!(
            "{}: the architecture comes from the pre-trained run (--encoder); these flags \
             choose it only for torchvision weights (--init)",
            model_flags.join(", ")
        );
    }
    let report = match (&args.resume, &args.encoder, &args.init.init) {
        (Some(dir), _, _) => {
            resume_finetune(dir, &opts).with_context(|| format!("resuming {}", dir.display()))?
        }
        (None, Some(encoder), _) => finetune_new(&args, Some(encoder), &opts)?,
        (None, None, Some(_)) => finetune_new(&args, None, &opts)?,
        (None, None, None) => {
            anyhow::bail!("--encoder RUN_DIR, --init torchvision:FILE or --resume DIR is required")
        }
    };
    println!(
        "{}",
        serde_json::json!({"run": report.run, "top1": report.test.top1,
            "top5": report.test.top5, "ece": report.test.calibration.ece,
            "final_loss": report.final_loss, "seconds": report.seconds})
    );
    Ok(())
}

/// A new fine-tuning run of the encoder in `encoder`, or (`None`) of `--init`'s weights.
fn finetune_new(
    args: &FinetuneArgs,
    encoder: Option<&Path>,
    opts: &RunOptions,
) -> Result<supcon::train::SupervisedReport> {
    let mut c: FinetuneConfig = match &args.config {
        Some(path) => read_config(path)?,
        None => FinetuneConfig::default(),
    };
    match encoder {
        Some(encoder) => c.pretrained_run = encoder.to_path_buf(),
        None => {
            c.init.clone_from(&args.init.init);
            let mut model = c.encoder.clone().unwrap_or_default();
            args.model.apply(&mut model);
            c.encoder = Some(model);
            // The target data: the configured one, or the default (builtin) when no flag
            // names any.
            c.data.get_or_insert_with(DataConfig::default);
        }
    }
    let d = &args.data;
    if !d.given().is_empty() {
        // Flags refine the configured data, else the pre-trained run's.
        let mut data = c.data.clone().unwrap_or_else(|| {
            encoder
                .and_then(|e| ModelDir::open(e).ok())
                .and_then(|m| m.data_config())
                .map(|(d, _)| d)
                .unwrap_or_default()
        });
        if d.data.is_some() {
            data = DataConfig::default();
        }
        d.apply(&mut data);
        c.data = Some(data);
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
    crate::args::check_applies(&args.train.given(), &c.optimizer, &c.schedule, None)?;
    with_out(args.out.as_deref(), "finetune", |out| {
        Ok(finetune_stage(&c, out, opts)?)
    })
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Model: a linear-probe, train-ce, finetune or joint pretrain run, a `supcon run`
    /// output directory (its linear probe), or an export
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    /// Output directory (model.safetensors + classifier.json)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace an existing export in --out
    #[arg(long)]
    force: bool,
}

pub fn export(args: ExportArgs) -> Result<()> {
    let spec = supcon::infer::export(&args.model, &args.out, args.force)
        .with_context(|| format!("exporting {}", args.model.display()))?;
    println!(
        "{}",
        serde_json::json!({"out": args.out, "encoder": spec.encoder.name.to_string(),
            "num_classes": spec.num_classes, "input_shape": spec.input_shape,
            "source": spec.source})
    );
    Ok(())
}
