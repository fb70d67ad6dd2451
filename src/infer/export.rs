//! The deployable classifier: `model.safetensors` (encoder + linear classifier) and
//! `classifier.json` ([`ClassifierSpec`]).

use std::path::Path;

use super::error::InferError;
use crate::fsutil::write_atomic;
use crate::model::save_weights;
use crate::train::{MadeFrom, Manifest, RunKind, TrainError};

use super::source::ModelDir;
use super::spec::ClassifierSpec;

/// Exports the classifier of `model` (any directory [`ModelDir::open`] accepts) to
/// `out`: `out/model.safetensors` (encoder + linear classifier, loadable into a
/// [`SupervisedModel`](crate::train::supervised::SupervisedModel)) and
/// `out/classifier.json`, both written atomically (the JSON last). `out` is created;
/// an existing export there is replaced only with `force`. Any other non-empty `out`
/// (a training run, say) is refused even with `force`, so nothing there is overwritten.
///
/// # Errors
/// A model directory without a classifier, weights that do not fit, I/O errors, an
/// existing export without `force`, or an `out` that holds anything but an export.
pub fn export(model: &Path, out: &Path, force: bool) -> Result<ClassifierSpec, InferError> {
    check_out(out, force)?;
    let dir = ModelDir::open(model)?;
    let data = dir.data_config().and_then(|(d, _)| d.dataset_dir());
    crate::outputs::check_dir(
        out,
        &crate::outputs::Inputs::new([model.to_path_buf()], data),
    )?;
    let spec = dir.classifier_spec()?;
    let device = crate::device::DeviceChoice::Cpu.device();
    let net = dir.load_classifier(&device)?;
    let json_path = out.join("classifier.json");
    std::fs::create_dir_all(out).map_err(|e| InferError::io(out, e))?;
    save_weights(&net, out.join("model.safetensors"))?;
    let made_from = MadeFrom {
        data: dir.data_config().map(|(d, _)| d.spec),
        runs: vec![model.to_path_buf()],
        init: None,
    };
    Manifest::new(RunKind::Export, made_from)
        .write(out)
        .map_err(TrainError::from)?;
    let text = serde_json::to_string_pretty(&spec)
        .map_err(|e| InferError::Invalid(format!("serialising classifier.json: {e}")))?;
    write_atomic(&json_path, text.as_bytes()).map_err(|e| InferError::io(&json_path, e))?;
    Ok(spec)
}

/// How many entries of a refused `--out` folder its error lists.
const LISTED_ENTRIES: usize = 5;

/// Checks that `out` may receive an export: it does not exist, is an empty folder, or
/// holds an earlier export (`classifier.json`) and `force` is set.
///
/// # Errors
/// [`InferError::Invalid`] naming `out`: it is not a folder, it holds files but no
/// `classifier.json` (what it holds is listed), or it holds an export and `force` is
/// not set; [`InferError::Io`] when it cannot be listed.
fn check_out(out: &Path, force: bool) -> Result<(), InferError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(InferError::Invalid(format!(
            "--out {}: is not a folder; expected a new or empty folder, or an earlier export",
            out.display()
        )));
    }
    if out.join("classifier.json").exists() {
        if force {
            return Ok(());
        }
        return Err(InferError::Invalid(format!(
            "{}: already holds an exported model (classifier.json exists); pick another \
             --out or pass --force to replace it",
            out.display()
        )));
    }
    let mut names: Vec<String> = std::fs::read_dir(out)
        .map_err(|e| InferError::io(out, e))?
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(|e| InferError::io(out, e))
        })
        .collect::<Result<_, _>>()?;
    // The lock file of a run folder (crate::dirlock) is no content.
    names.retain(|n| n != crate::dirlock::LOCK_FILE);
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    let listed = crate::listing::listing(names.iter(), LISTED_ENTRIES);
    Err(InferError::Invalid(format!(
        "--out {}: is not empty and is not an earlier export (no classifier.json); it \
         holds {listed}. Refusing to write model.safetensors and classifier.json there, \
         even with --force; pick a new or empty folder",
        out.display()
    )))
}
