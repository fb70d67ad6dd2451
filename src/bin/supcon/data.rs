//! `supcon data`: load a dataset and print its one-line JSON summary.

use anyhow::Result;
use clap::Args;
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
}

/// Loads exactly what a training command given the same flags trains on
/// ([`DataConfig::load`]: `--shots`, then `--limit`, then `--test-limit`).
pub fn run(cmd: DataCmd) -> Result<()> {
    let mut config = DataConfig::default();
    cmd.data.apply(&mut config);
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
