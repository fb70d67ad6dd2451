//! What `supcon eval` is asked to measure, and the parsing of its lists.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::data::DataOverride;
use super::error::RunEvalError;
use crate::augment::corrupt::Corruption;
use crate::device::DeviceChoice;
use crate::eval::knn::{DEFAULT_K, DEFAULT_TEMPERATURE};

/// Progress messages of a long evaluation.
pub type Log<'a> = &'a dyn Fn(&str);

/// The k-NN protocol.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnOptions {
    /// Neighbours. Default 200.
    pub k: usize,
    /// Temperature of the neighbour weights. Default 0.07.
    pub temperature: f32,
}

impl Default for KnnOptions {
    fn default() -> Self {
        Self {
            k: DEFAULT_K,
            temperature: DEFAULT_TEMPERATURE,
        }
    }
}

/// Everything `supcon eval` can measure, beyond clean accuracy and calibration.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Changes to the run's data.
    pub data: DataOverride,
    /// Corruptions to evaluate (none: skip robustness).
    pub corruptions: Vec<Corruption>,
    /// Severities of each corruption, in `1..=5`.
    pub severities: Vec<u8>,
    /// Seed of the corruptions' randomness.
    pub seed: u64,
    /// Normalising model of mCE: a run directory (evaluated on the same corrupted data)
    /// or an eval JSON file written by `supcon eval`.
    pub baseline: Option<PathBuf>,
    /// k-NN on frozen encoder features.
    pub knn: Option<KnnOptions>,
    /// Few-shot probes: samples per class (e.g. 1, 5, 10); empty to skip.
    pub few_shot: Vec<usize>,
    /// Few-shot subsets (seeds `0..n`) per shot count; results are averaged.
    pub few_shot_seeds: usize,
    /// Epochs of each few-shot probe.
    pub few_shot_epochs: usize,
    /// Evaluate on this device instead of the one the run was trained on.
    pub device: Option<DeviceChoice>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            data: DataOverride::default(),
            corruptions: Vec::new(),
            severities: (1..=5).collect(),
            seed: 0,
            baseline: None,
            knn: None,
            few_shot: Vec::new(),
            few_shot_seeds: 3,
            few_shot_epochs: 100,
            device: None,
        }
    }
}

impl EvalOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`RunEvalError::Invalid`] naming the option.
    pub fn validate(&self) -> Result<(), RunEvalError> {
        if let Some(&s) = self.severities.iter().find(|&&s| !(1..=5).contains(&s)) {
            return Err(RunEvalError::Invalid(format!(
                "--severities: severity {s} is outside 1..=5"
            )));
        }
        if !self.corruptions.is_empty() && self.severities.is_empty() {
            return Err(RunEvalError::Invalid(
                "--severities: no severity given".into(),
            ));
        }
        if let Some(k) = self.few_shot.iter().find(|&&k| k == 0) {
            return Err(RunEvalError::Invalid(format!(
                "--few-shot: {k} samples per class; expected at least 1"
            )));
        }
        if !self.few_shot.is_empty() && (self.few_shot_seeds == 0 || self.few_shot_epochs == 0) {
            return Err(RunEvalError::Invalid(
                "--few-shot-seeds and --few-shot-epochs must be at least 1".into(),
            ));
        }
        if let Some(knn) = self.knn
            && (knn.k == 0 || !(knn.temperature.is_finite() && knn.temperature > 0.0))
        {
            return Err(RunEvalError::Invalid(format!(
                "--knn-k {} / --knn-temperature {}: expected k >= 1 and a positive temperature",
                knn.k, knn.temperature
            )));
        }
        if self.baseline.is_some() && self.corruptions.is_empty() {
            return Err(RunEvalError::Invalid(
                "--baseline normalises corruption errors (mCE): it needs --corruptions".into(),
            ));
        }
        Ok(())
    }
}

/// Parses a severity list: `1-5` (a range), `1,3,5`, `2`, or `all`.
///
/// # Errors
/// [`RunEvalError::Invalid`] naming the bad item.
pub fn parse_severities(s: &str) -> Result<Vec<u8>, RunEvalError> {
    let bad = |item: &str, why: &str| {
        RunEvalError::Invalid(format!(
            "--severities '{s}': {item} {why} (expected 1-5 or a list such as 1,3,5)"
        ))
    };
    let one = |t: &str| -> Result<u8, RunEvalError> {
        let v: u8 = t.trim().parse().map_err(|_| bad(t, "is not a number"))?;
        if (1..=5).contains(&v) {
            Ok(v)
        } else {
            Err(bad(t, "is outside 1..=5"))
        }
    };
    if s.trim() == "all" {
        return Ok((1..=5).collect());
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        if item.trim().is_empty() {
            return Err(bad("an empty item", "is not a severity"));
        }
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                if a > b {
                    return Err(bad(item, "is a decreasing range"));
                }
                out.extend(a..=b);
            }
            None => out.push(one(item)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Parses a corruption list: `all`, `none`, or comma-separated names such as
/// `gaussian_noise,fog` (the names of [`Corruption`]).
///
/// # Errors
/// [`RunEvalError::Invalid`] naming the unknown corruption.
pub fn parse_corruptions(s: &str) -> Result<Vec<Corruption>, RunEvalError> {
    match s.trim() {
        "all" => return Ok(Corruption::ALL.to_vec()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    let mut out: Vec<Corruption> = Vec::new();
    for item in s.split(',') {
        let c: Corruption = item
            .trim()
            .parse()
            .map_err(|e: crate::augment::CorruptionError| {
                RunEvalError::Invalid(format!("--corruptions: {e}"))
            })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_ranges_lists_and_reject_bad_values() {
        assert_eq!(parse_severities("1-5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_severities("5,1,3,3").unwrap(), vec![1, 3, 5]);
        assert_eq!(parse_severities("2-3,5").unwrap(), vec![2, 3, 5]);
        for bad in ["0", "6", "1-6", "x", "3-1", "1,,2"] {
            let e = parse_severities(bad).unwrap_err().to_string();
            assert!(e.contains("--severities") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn corruptions_parse_names_and_reject_unknown_ones() {
        assert_eq!(parse_corruptions("all").unwrap().len(), 15);
        assert_eq!(
            parse_corruptions("fog, gaussian_noise,fog").unwrap(),
            vec![Corruption::Fog, Corruption::GaussianNoise]
        );
        let e = parse_corruptions("fog,gausian").unwrap_err().to_string();
        assert!(e.contains("--corruptions") && e.contains("gausian"), "{e}");
    }
}
