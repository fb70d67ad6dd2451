//! Data that changed on disk since a run recorded it. A run's `data.json` records the
//! data it was trained on ([`DataSummary`]: spec, image counts, shape, classes,
//! normalisation). Every command that uses a run's model on the data of that same spec
//! again — `eval` and `report` (their evaluation data), `predict` and `embed` (the run's
//! own data or `--data` of the same spec), `linear` and `finetune` (the source run's data)
//! — compares what it loads now with that record, by one rule ([`check_run_data`]):
//!
//! - other classes (count, names or order) or another image shape: refused when the run's
//!   classifier answers ([`DataUse::Classifier`]: its outputs are the recorded classes, so
//!   every result would be silently wrong), a warning otherwise;
//! - other normalisation statistics, other image counts (when the command draws the same
//!   subsets as the run), other counts of skipped files: a warning naming the spec, the
//!   record and each difference;
//! - when the run's model is used as trained ([`DataUse::Classifier`],
//!   [`DataUse::Encoder`]), the images are normalised with the recorded statistics, as the
//!   model was trained and as `predict` normalises single files.
//!
//! Data of another spec (transfer, `--data` of other files) is not compared: the commands
//! check its classes and shape on their own.

use std::path::Path;

use super::run_dir::{RunDirError, read_json};
use super::setup::DataConfig;
use crate::data::{DataSummary, LoadedDataset};

/// How a command uses a run's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataUse {
    /// The run's classifier answers on the data (`eval`, `report`, `predict`).
    Classifier,
    /// The run's encoder maps the data as trained (`embed`, `eval` of a pre-training
    /// run's features).
    Encoder,
    /// A new model trains on the data (`linear`, `finetune` on the source run's data).
    Training,
}

/// Compares `data`, loaded now with `used`, with the `data.json` of the run in `run`
/// (whose own configuration is `run_data`, when known), when both name the same spec (see
/// the module docs for the rule). Image counts are compared only when `used` draws the
/// same subsets (`limit`, `shots`, `test_limit`) as `run_data`. Warnings go to stderr.
///
/// # Errors
/// [`RunDirError::DataDiffers`] for other classes or another shape under
/// [`DataUse::Classifier`]; an unreadable `data.json`, naming it.
pub fn check_run_data(
    run: &Path,
    run_data: Option<&DataConfig>,
    used: &DataConfig,
    data: &mut LoadedDataset,
    role: DataUse,
) -> Result<(), RunDirError> {
    let path = run.join("data.json");
    if !path.is_file() {
        return Ok(());
    }
    let recorded: DataSummary = read_json(&path)?;
    if recorded.name != data.name {
        return Ok(());
    }
    let subsets = |d: &DataConfig| (d.limit, d.shots, d.test_limit);
    let counts = run_data.is_some_and(|r| subsets(r) == subsets(used));
    let (essential, other) = differences(&recorded, &data.summary(), counts);
    if essential.is_empty() && other.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = essential.iter().chain(&other).cloned().collect();
    if role == DataUse::Classifier && !essential.is_empty() {
        return Err(RunDirError::DataDiffers {
            path,
            spec: data.name.clone(),
            differences: all.join("; "),
        });
    }
    let renormalise = role != DataUse::Training
        && (recorded.mean != data.mean || recorded.std != data.std)
        && recorded.mean.len() == data.mean.len()
        && recorded.std.len() == data.std.len();
    if renormalise {
        data.mean = recorded.mean;
        data.std = recorded.std;
    }
    eprintln!(
        "warning: the data {} has changed since {} recorded it: {}; {}",
        data.name,
        path.display(),
        all.join("; "),
        if renormalise {
            "the images are normalised with the recorded statistics, as the model was trained"
        } else {
            "it is used as it is now"
        }
    );
    Ok(())
}

/// What differs between the recorded summary and the one of the data loaded now, as
/// (classes and shape, the rest), each difference in words.
fn differences(
    recorded: &DataSummary,
    now: &DataSummary,
    counts: bool,
) -> (Vec<String>, Vec<String>) {
    let mut essential = Vec::new();
    let mut other = Vec::new();
    let list = |names: &[String]| crate::listing::listing(names.iter(), 5);
    if recorded.class_names != now.class_names {
        essential.push(format!(
            "classes: {} recorded ({}), {} now ({})",
            recorded.class_names.len(),
            list(&recorded.class_names),
            now.class_names.len(),
            list(&now.class_names)
        ));
    }
    if recorded.shape != now.shape {
        essential.push(format!(
            "image shape: {:?} recorded, {:?} now",
            recorded.shape, now.shape
        ));
    }
    let mut count = |what: &str, was: usize, is: usize| {
        if was != is {
            other.push(format!("{what}: {was} recorded, {is} now"));
        }
    };
    if counts {
        count("training images", recorded.train_count, now.train_count);
        count("test images", recorded.test_count, now.test_count);
    }
    count("undecodable images skipped", recorded.skipped, now.skipped);
    if recorded.mean != now.mean || recorded.std != now.std {
        other.push(format!(
            "normalisation: mean {:?}, std {:?} recorded; mean {:?}, std {:?} now",
            recorded.mean, recorded.std, now.mean, now.std
        ));
    }
    (essential, other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> DataSummary {
        DataSummary {
            name: "folder:/d".into(),
            train_count: 8,
            test_count: 2,
            num_classes: 2,
            shape: [1, 4, 4],
            class_names: vec!["a".into(), "b".into()],
            mean: vec![0.5],
            std: vec![0.25],
            skipped: 0,
        }
    }

    #[test]
    fn differences_are_named_and_sorted_by_what_they_break() {
        let was = summary();
        assert_eq!(differences(&was, &was, true), (vec![], vec![]));
        let now = DataSummary {
            train_count: 9,
            class_names: vec!["a".into(), "c".into()],
            mean: vec![0.4],
            ..summary()
        };
        let (essential, other) = differences(&was, &now, true);
        assert_eq!(essential, ["classes: 2 recorded (a, b), 2 now (a, c)"]);
        assert_eq!(other.len(), 2, "{other:?}");
        assert_eq!(other[0], "training images: 8 recorded, 9 now");
        assert!(
            other[1].starts_with("normalisation: mean [0.5]"),
            "{other:?}"
        );
        // Counts of other subsets are not compared.
        let (_, other) = differences(&was, &now, false);
        assert_eq!(other.len(), 1, "{other:?}");
    }
}
