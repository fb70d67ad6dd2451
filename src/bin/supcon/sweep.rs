//! `supcon sweep`: hyperparameter stability of SupCon vs cross-entropy.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct SweepArgs {}

pub fn run(_args: SweepArgs) -> Result<()> {
    bail!("supcon sweep is not built yet")
}
