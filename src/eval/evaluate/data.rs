//! The evaluation data of a run: its data configuration with overrides, normalised as
//! it was trained, with its classes checked.

use super::error::{RunEvalError, run_err};
use super::inspect::RunInfo;
use crate::data::LoadedDataset;
use crate::train::DataConfig;
use crate::train::data_drift::{DataUse, check_run_data};
use crate::train::run_dir::{recorded_class_names, recorded_shape};

/// Overrides of a run's data for evaluation (`None` keeps the run's value).
#[derive(Clone, Debug, Default)]
pub struct DataOverride {
    /// Another dataset spec (same classes and image shape).
    pub spec: Option<String>,
    /// At most this many training samples (k-NN bank, few-shot pool).
    pub limit: Option<usize>,
    /// At most this many test samples.
    pub test_limit: Option<usize>,
    /// Data-loading threads.
    pub threads: Option<usize>,
}

impl DataOverride {
    /// `base` with the overrides applied.
    pub fn apply(&self, base: &DataConfig) -> DataConfig {
        let mut d = base.clone();
        if let Some(s) = &self.spec {
            d.spec = s.clone();
        }
        if self.limit.is_some() {
            d.limit = self.limit;
        }
        if self.test_limit.is_some() {
            d.test_limit = self.test_limit;
        }
        if let Some(t) = self.threads {
            d.threads = t;
        }
        d
    }
}

/// Loads the evaluation data of a run: its data config with `over` applied, subset with
/// the run's seed, normalised with the statistics of the spec the run was trained on.
///
/// # Errors
/// Unloadable data, or data whose image shape or classes (number, names, order) differ
/// from the training data's (the classes recorded in the run's `data.json`, else those of
/// its data spec).
pub fn load_eval_data(info: &RunInfo, over: &DataOverride) -> Result<LoadedDataset, RunEvalError> {
    let trained = info.data.as_ref().ok_or_else(|| {
        run_err(
            &info.dir,
            format!("{} has no data configuration", info.kind.describe()),
        )
    })?;
    let config = over.apply(trained);
    let mut data = config.load(info.data_seed).map_err(|e| match &over.spec {
        Some(spec) => RunEvalError::Invalid(format!("--data {spec}: {e}")),
        None => e.into(),
    })?;
    // The shape the model saw: a fine-tuning run or a probe on other data converted its
    // images to the encoder's input (recorded in its data.json).
    let recorded = recorded_shape(&info.dir)?;
    let convert = |data: &mut LoadedDataset, spec: &str| -> Result<(), RunEvalError> {
        if let Some(shape) = recorded {
            crate::infer::convert_dataset(data, shape).map_err(|e| {
                RunEvalError::Invalid(format!("data {spec}: {e} (the run's data.json)"))
            })?;
        }
        Ok(())
    };
    let recorded_names = recorded_class_names(&info.dir)?;
    if config.spec != trained.spec {
        let mut train_data = trained.load(info.data_seed)?;
        if train_data.shape() != data.shape() {
            return Err(RunEvalError::Invalid(format!(
                "--data {}: images of shape {:?}, but the run was trained on {} with shape {:?}",
                config.spec,
                data.shape(),
                trained.spec,
                train_data.shape()
            )));
        }
        // The classifier's outputs are the run's classes: other data must have the same
        // classes in the same order (a corrupted copy or another split of them).
        let names = recorded_names.unwrap_or_else(|| train_data.train.class_names.clone());
        check_classes(
            &format!("--data {}", config.spec),
            &data.train.class_names,
            &format!("the run was trained on {}", trained.spec),
            &names,
        )?;
        convert(&mut train_data, &trained.spec)?;
        // Normalised as recorded, should the run's own data have changed since.
        check_run_data(
            &info.dir,
            Some(trained),
            trained,
            &mut train_data,
            DataUse::Encoder,
        )?;
        convert(&mut data, &config.spec)?;
        data.mean = train_data.mean;
        data.std = train_data.std;
    } else {
        convert(&mut data, &config.spec)?;
        // The same spec, but its files may have changed since the run was trained.
        let role = if info.has_classifier {
            DataUse::Classifier
        } else {
            DataUse::Encoder
        };
        check_run_data(&info.dir, Some(trained), &config, &mut data, role)?;
    }
    Ok(data)
}

/// Checks that evaluation data has the classes a run was trained on, in the same order.
///
/// # Errors
/// [`RunEvalError::Invalid`] starting with `what` (e.g. `--data SPEC`): another number of
/// classes, or the first class whose name differs.
fn check_classes(
    what: &str,
    got: &[String],
    run: &str,
    expected: &[String],
) -> Result<(), RunEvalError> {
    let list = |names: &[String]| crate::listing::listing(names.iter(), 10);
    if got.len() != expected.len() {
        return Err(RunEvalError::Invalid(format!(
            "{what}: {} classes, but {run} with {} ({}); evaluate on data with the run's \
             classes",
            got.len(),
            expected.len(),
            list(expected)
        )));
    }
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        return Err(RunEvalError::Invalid(format!(
            "{what}: class {i} is '{}', but {run} whose class {i} is '{}' (its classes: {}); \
             evaluate on data with the run's classes, in the same order",
            got[i],
            expected[i],
            list(expected)
        )));
    }
    Ok(())
}
