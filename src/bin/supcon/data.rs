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
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
}

pub fn run(cmd: DataCmd) -> Result<()> {
    let mut config = DataConfig::default();
    cmd.data.apply(&mut config);
    let data = config.load(cmd.seed)?;
    println!("{}", serde_json::to_string(&data.summary())?);
    Ok(())
}
