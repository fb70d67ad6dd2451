//! `supcon eval`: accuracy, calibration, corruption robustness, k-NN and few-shot.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct EvalArgs {}

pub fn run(_args: EvalArgs) -> Result<()> {
    bail!("supcon eval is not built yet")
}
