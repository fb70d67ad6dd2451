//! `supcon report`: a self-contained HTML report with plots.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> Result<()> {
    bail!("supcon report is not built yet")
}
