//! `supcon data`: load a dataset and print its one-line JSON summary, or write it as
//! WebDataset tar shards (`--to-shards`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use supcon::data::{CacheMode, DatasetSpec};
use supcon::train::DataConfig;

use crate::args::DataArgs;

#[derive(Args, Debug)]
pub struct DataCmd {
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the subsetting (--limit, --shots)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::whole, default_value_t = 0)]
    seed: u64,
    /// Write the dataset (a folder: or shards: spec) as tar shards in WebDataset layout
    /// into this new folder: OUT/train/shard-000000.tar, ..., OUT/val/..., OUT/classes.txt
    #[arg(long, value_name = "OUT")]
    to_shards: Option<PathBuf>,
    /// Images per shard written by --to-shards
    #[arg(long, value_parser = crate::args::count, value_name = "N",
        default_value_t = supcon::data::shards::DEFAULT_SHARD_IMAGES)]
    shard_images: usize,
}

/// Loads exactly what a training command given the same flags trains on
/// ([`DataConfig::load`]: `--shots`, then `--limit`, then `--test-limit`).
pub fn run(cmd: DataCmd) -> Result<()> {
    let mut config = DataConfig::default();
    cmd.data.apply(&mut config);
    if let Some(out) = &cmd.to_shards {
        return to_shards(&config, cmd.seed, out, cmd.shard_images);
    }
    let data = config.load(cmd.seed)?;
    if let Some(note) = shots_and_limit_note(&config, data.train.len(), data.num_classes()) {
        eprintln!("{note}");
    }
    println!("{}", serde_json::to_string(&data.summary())?);
    Ok(())
}

/// With both `--shots K` and `--limit N`, says what training does with them (`--limit`
/// applies after `--shots`) and what it changed, given the `train` count that resulted.
fn shots_and_limit_note(config: &DataConfig, train: usize, classes: usize) -> Option<String> {
    let (k, n) = (config.shots?, config.limit?);
    let few_shot = k * classes;
    Some(if train < few_shot {
        format!(
            "note: --limit {n} applies after --shots {k}, as in training: {train} of the \
             {few_shot} few-shot training images are kept (class-stratified), so classes \
             no longer have exactly {k} each"
        )
    } else {
        format!(
            "note: --limit {n} applies after --shots {k}, as in training: it keeps all \
             {few_shot} few-shot training images ({k} per class) and has no effect"
        )
    })
}

/// `--to-shards`: the dataset streamed (its files are copied, not re-encoded) into shards.
fn to_shards(config: &DataConfig, seed: u64, out: &std::path::Path, per: usize) -> Result<()> {
    if per == 0 {
        bail!("--shard-images 0: expected at least 1 image per shard");
    }
    let mut spec: DatasetSpec = config.spec.parse()?;
    match &mut spec {
        DatasetSpec::Folder { options, .. } => options.cache = CacheMode::None,
        DatasetSpec::Shards { options, .. } => options.cache = CacheMode::None,
        other => bail!(
            "--to-shards writes an image folder or tar shards, but --data is '{other}'; \
             expected a folder:DIR or shards:DIR spec"
        ),
    }
    let config = DataConfig {
        spec: spec.to_string(),
        ..config.clone()
    };
    let data = config.load(seed)?;
    let total = data.train.len() + data.test.len();
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>16} [{bar:28}] {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("writing shards");
    let (train, val) = supcon::data::shards::write_shards(&data.train, &data.test, out, per, |n| {
        bar.inc(n as u64)
    })
    .with_context(|| format!("writing shards into {}", out.display()))?;
    bar.finish_and_clear();
    println!(
        "{}",
        serde_json::json!({"out": out, "train_images": data.train.len(),
            "val_images": data.test.len(), "train_shards": train, "val_shards": val,
            "spec": format!("shards:{}", out.display())})
    );
    Ok(())
}
