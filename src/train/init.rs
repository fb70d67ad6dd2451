//! `--init`: a new run's encoder starts from a file's weights (torchvision's ResNets, see
//! [`crate::model::init`]) instead of its random initialisation. A resumed run does not
//! read the file again: its checkpoint holds every weight.

use std::sync::OnceLock;

use burn::tensor::Device;

use super::TrainError;
use crate::model::{Encoder, EncoderConfig, EncoderInit, InitReport};

/// Checks, before the run directory is created, that `encoder` can take `init`'s weights
/// (reads the file's tensor names and shapes).
///
/// # Errors
/// [`TrainError::Model`] naming the file and what does not fit.
pub fn check_init(init: Option<&EncoderInit>, encoder: &EncoderConfig) -> Result<(), TrainError> {
    if let Some(init) = init {
        init.check(encoder)?;
    }
    Ok(())
}

/// `encoder` (built from `config` on `device`) with `init`'s weights loaded when `init`
/// is given; the first report is kept in `report` (the model may be built twice, on the
/// host and then on a GPU).
///
/// # Errors
/// [`TrainError::Model`] naming the file and the tensor at fault.
pub fn init_encoder(
    encoder: Encoder,
    config: &EncoderConfig,
    init: Option<&EncoderInit>,
    device: &Device,
    report: &OnceLock<InitReport>,
) -> Result<Encoder, TrainError> {
    let Some(init) = init else {
        return Ok(encoder);
    };
    let (encoder, loaded) = init.apply(encoder, config, device)?;
    let _ = report.set(loaded);
    Ok(encoder)
}

/// Prints what an initialisation loaded (unless `quiet`) and its warning (always).
pub fn announce_init(report: &OnceLock<InitReport>, quiet: bool) {
    let Some(report) = report.get() else {
        return;
    };
    if let Some(warning) = report.warning() {
        eprintln!("{warning}");
    } else if !quiet {
        eprintln!(
            "note: encoder initialised from {} ({} tensors)",
            report.file.display(),
            report.loaded
        );
    }
}
