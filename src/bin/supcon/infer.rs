//! `supcon predict`, `embed`, `finetune`, `export`: use a trained model.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct PredictArgs {}
#[derive(Args, Debug)]
pub struct EmbedArgs {}
#[derive(Args, Debug)]
pub struct FinetuneArgs {}
#[derive(Args, Debug)]
pub struct ExportArgs {}

pub fn predict(_args: PredictArgs) -> Result<()> {
    bail!("supcon predict is not built yet")
}
pub fn embed(_args: EmbedArgs) -> Result<()> {
    bail!("supcon embed is not built yet")
}
pub fn finetune(_args: FinetuneArgs) -> Result<()> {
    bail!("supcon finetune is not built yet")
}
pub fn export(_args: ExportArgs) -> Result<()> {
    bail!("supcon export is not built yet")
}
