//! Corruption robustness of a model: every test image corrupted with its own RNG, the
//! error table, the baseline's errors, and the robustness scores.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::error::{RunEvalError, run_err};
use super::inspect::{RunKind, classifier_runs};
use super::load::{EvalModel, load_eval_model};
use super::options::{EvalOptions, Log};
use super::results::{BaselineErrors, CorruptionCell, CorruptionResults, EvalFile};
use crate::augment::corrupt::Corruption;
use crate::data::{ImageDataset, LoadedDataset};
use crate::eval::EvalError;
use crate::eval::robustness::{
    CorruptionScore, ErrorTable, RobustnessReport, corruption_error, mean_error,
    relative_corruption_error, robustness_report,
};
use crate::train::metrics::classification_metrics;

/// RNG of one corrupted image.
fn corruption_rng(seed: u64, corruption: Corruption, severity: u8, index: usize) -> ChaCha8Rng {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let id = Corruption::ALL
        .iter()
        .position(|&c| c == corruption)
        .unwrap_or(0) as u64;
    let mut h = mix(0x636F_7272_7570_7421 ^ mix(seed)); // "corrupt!"
    for part in [id, u64::from(severity), index as u64] {
        h = mix(h ^ mix(part));
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// `split` with `corruption` at `severity` applied to every image (in parallel,
/// deterministically per `seed`), quantised back to `u8`.
///
/// # Errors
/// A corruption that rejects an image.
pub fn corrupt_split(
    split: &ImageDataset,
    corruption: Corruption,
    severity: u8,
    seed: u64,
) -> Result<ImageDataset, EvalError> {
    let images: Vec<Vec<u8>> = (0..split.len())
        .into_par_iter()
        .map(|i| {
            let mut rng = corruption_rng(seed, corruption, severity, i);
            let img = split
                .try_image(i)
                .map_err(|e| EvalError::Invalid(e.to_string()))?;
            Ok(corruption
                .apply(&img, severity, &mut rng)
                .map(|img| img.to_u8_chw())?)
        })
        .collect::<Result<_, EvalError>>()?;
    Ok(ImageDataset {
        channels: split.channels,
        height: split.height,
        width: split.width,
        pixels: images.concat(),
        labels: split.labels.clone(),
        class_names: split.class_names.clone(),
        stream: None,
    })
}

/// The model's cells and error table over `opts.corruptions x opts.severities`.
pub(super) fn corruption_table(
    model: &EvalModel,
    data: &LoadedDataset,
    opts: &EvalOptions,
    clean_top1: f64,
    log: Log<'_>,
) -> Result<(Vec<CorruptionCell>, ErrorTable), RunEvalError> {
    let mut cells = Vec::new();
    let mut table = ErrorTable::with_clean(1.0 - clean_top1);
    for &c in &opts.corruptions {
        for &s in &opts.severities {
            let split = corrupt_split(&data.test, c, s, opts.seed)?;
            let logits = model.logits(data, &split)?;
            let m = classification_metrics(&logits, &split.labels)?;
            log(&format!(
                "  {:<18} severity {s}: top-1 {:6.2}%  ECE {:.4}",
                c.name(),
                100.0 * m.top1,
                m.calibration.ece
            ));
            table.insert(c.name(), s, 1.0 - m.top1);
            cells.push(CorruptionCell {
                corruption: c.name().to_string(),
                severity: s,
                top1: m.top1,
                error: 1.0 - m.top1,
                ece: m.calibration.ece,
                nll: m.calibration.nll,
            });
        }
    }
    Ok((cells, table))
}

/// The baseline's errors: from an eval JSON file, or by evaluating a run directory on
/// the same test images.
pub(super) fn baseline_errors(
    path: &Path,
    data: &LoadedDataset,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<BaselineErrors, RunEvalError> {
    if path.is_file() {
        let file = EvalFile::read(path)?;
        let reports = file.reports();
        let report = reports
            .iter()
            .find(|r| r.kind == RunKind::Ce)
            .or_else(|| reports.first())
            .ok_or_else(|| run_err(path, "--baseline: the eval file holds no run"))?;
        let c = report.corruptions.as_ref().ok_or_else(|| {
            run_err(
                path,
                "--baseline: this eval file has no corruption results (run `supcon eval \
                 --corruptions ...` on the baseline)",
            )
        })?;
        if c.seed != opts.seed || report.clean.samples != data.test.len() {
            log(&format!(
                "warning: baseline {} was evaluated on {} test images with corruption seed {} \
                 (this evaluation: {} images, seed {})",
                path.display(),
                report.clean.samples,
                c.seed,
                data.test.len(),
                opts.seed
            ));
        }
        return Ok(BaselineErrors {
            source: path.to_path_buf(),
            errors: c.errors.clone(),
        });
    }
    let mut infos = classifier_runs(path)
        .map_err(|e| RunEvalError::Invalid(format!("--baseline {}: {e}", path.display())))?;
    // In a suite, the cross-entropy run is the baseline.
    let info = match infos.iter().position(|i| i.kind == RunKind::Ce) {
        Some(i) => infos.swap_remove(i),
        None => infos.swap_remove(0),
    };
    let model = load_eval_model(&info, data.num_classes())
        .map_err(|e| RunEvalError::Invalid(format!("--baseline {}: {e}", path.display())))?;
    let trained = info.data.clone().unwrap_or_default();
    let mut base_data = data.clone();
    if trained.spec != data.name {
        // Normalise as the baseline was trained.
        if let Ok(t) = trained.load(info.data_seed) {
            base_data.mean = t.mean;
            base_data.std = t.std;
        }
    }
    log(&format!("baseline {}:", info.dir.display()));
    let logits = model.logits(&base_data, &base_data.test)?;
    let clean = classification_metrics(&logits, &base_data.test.labels)?;
    let (_, errors) = corruption_table(&model, &base_data, opts, clean.top1, log)?;
    Ok(BaselineErrors {
        source: info.dir,
        errors,
    })
}

/// Robustness scores; scores that are undefined are left out with a note.
pub(super) fn assemble_robustness(
    cells: Vec<CorruptionCell>,
    errors: ErrorTable,
    baseline: Option<BaselineErrors>,
    opts: &EvalOptions,
) -> Result<CorruptionResults, RunEvalError> {
    let base = baseline.as_ref().map(|b| &b.errors);
    let mut failures = Vec::new();
    let robustness = match robustness_report(&errors, base) {
        Ok(r) => r,
        Err(first) => {
            // Score corruption by corruption, keeping what is defined.
            let mut corruptions = std::collections::BTreeMap::new();
            for (name, errs) in &errors.corruptions {
                let mean = errs.values().sum::<f64>() / errs.len() as f64;
                let (mut ce, mut rel) = (None, None);
                if let Some(b) = base {
                    match corruption_error(&errors, b, name) {
                        Ok(v) => ce = Some(v),
                        Err(e) => failures.push(("CE", name.clone(), e)),
                    }
                    match relative_corruption_error(&errors, b, name) {
                        Ok(v) => rel = Some(v),
                        Err(e) => failures.push(("relative CE", name.clone(), e)),
                    }
                }
                corruptions.insert(
                    name.clone(),
                    CorruptionScore {
                        mean_error: mean,
                        ce,
                        relative_ce: rel,
                    },
                );
            }
            if failures.is_empty() {
                return Err(first.into());
            }
            let all = |f: fn(&CorruptionScore) -> Option<f64>| {
                let v: Option<Vec<f64>> = corruptions.values().map(f).collect();
                v.map(|v| v.iter().sum::<f64>() / v.len() as f64)
            };
            RobustnessReport {
                clean_error: errors.clean,
                mean_error: mean_error(&errors)?,
                mce: all(|s| s.ce),
                relative_mce: all(|s| s.relative_ce),
                corruptions,
            }
        }
    };
    let notes = group_notes(failures);
    Ok(CorruptionResults {
        seed: opts.seed,
        severities: opts.severities.clone(),
        cells,
        errors,
        robustness,
        baseline,
        notes,
    })
}

/// One note per distinct reason a score is undefined, with the count and names of the
/// corruptions it concerns, in the order the reasons first occur: "relative CE undefined
/// for 3 corruptions (fog, frost, snow): ...". A reason of one corruption keeps its full
/// message, numbers included.
fn group_notes(failures: Vec<(&str, String, EvalError)>) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>, String)> = Vec::new();
    for (score, corruption, error) in failures {
        let reason = match &error {
            EvalError::DivisionByZero(_) => format!(
                "{score} undefined: the baseline's {} sums to zero, so the ratio divides by zero",
                if score == "CE" {
                    "corrupted error"
                } else {
                    "degradation (corrupted minus clean error)"
                }
            ),
            EvalError::Undefined(_) => format!(
                "{score} undefined: the baseline's corrupted errors are below its clean error, \
                 so the ratio, which divides by that degradation, is meaningless (a \
                 near-chance baseline?)"
            ),
            other => format!("{score}: {other}"),
        };
        let single = format!("{score} of {corruption}: {error}");
        match groups.iter_mut().find(|g| g.0 == reason) {
            Some(group) => group.1.push(corruption),
            None => groups.push((reason, vec![corruption], single)),
        }
    }
    groups
        .into_iter()
        .map(|(reason, corruptions, single)| match corruptions.len() {
            1 => single,
            n => {
                let (head, rest) = reason.split_once(':').unwrap_or((reason.as_str(), ""));
                format!(
                    "{head} for {n} corruptions ({}):{rest}",
                    corruptions.join(", ")
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The same reason for several corruptions is one note with their count and names
    /// (not one note per corruption); another reason is a note of its own.
    #[test]
    fn one_note_per_distinct_reason_with_a_count() {
        let mut errors = ErrorTable::with_clean(0.2);
        let mut base = ErrorTable::with_clean(0.8);
        for (name, b) in [
            ("fog", 0.7),
            ("frost", 0.6),
            ("snow", 0.75),
            ("zoom_blur", 0.8),
        ] {
            for severity in 1..=5 {
                errors.insert(name, severity, 0.4);
                base.insert(name, severity, b);
            }
        }
        errors.insert("gaussian_noise", 1, 0.5);
        base.insert("gaussian_noise", 1, 0.9);
        let baseline = BaselineErrors {
            source: PathBuf::from("base"),
            errors: base,
        };
        let r = assemble_robustness(Vec::new(), errors, Some(baseline), &EvalOptions::default())
            .unwrap();
        assert_eq!(r.notes.len(), 2, "{:#?}", r.notes);
        assert!(
            r.notes[0].starts_with(
                "relative CE undefined for 3 corruptions (fog, frost, snow): the baseline's \
                 corrupted errors are below its clean error"
            ),
            "{}",
            r.notes[0]
        );
        assert!(
            r.notes[1].starts_with("relative CE of zoom_blur: division by zero:"),
            "{}",
            r.notes[1]
        );
        assert!(
            r.robustness.corruptions["gaussian_noise"]
                .relative_ce
                .is_some()
        );
    }

    /// A baseline whose corrupted error is below its clean error makes relative CE
    /// meaningless: left out with a note, as a zero denominator is; CE is kept.
    #[test]
    fn a_negative_baseline_degradation_is_noted_not_scored() {
        let mut errors = ErrorTable::with_clean(0.2);
        errors.insert("fog", 1, 0.4);
        errors.insert("gaussian_noise", 1, 0.5);
        let mut base = ErrorTable::with_clean(0.8);
        base.insert("fog", 1, 0.7); // degradation -0.1
        base.insert("gaussian_noise", 1, 0.9); // degradation +0.1
        let baseline = BaselineErrors {
            source: PathBuf::from("base"),
            errors: base,
        };
        let r = assemble_robustness(Vec::new(), errors, Some(baseline), &EvalOptions::default())
            .unwrap();
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert!(
            r.notes[0].starts_with("relative CE of fog: undefined:")
                && r.notes[0].contains("below its clean error"),
            "{}",
            r.notes[0]
        );
        let rb = &r.robustness;
        assert_eq!(rb.relative_mce, None);
        assert_eq!(rb.corruptions["fog"].relative_ce, None);
        let noise = rb.corruptions["gaussian_noise"].relative_ce.unwrap();
        assert!((noise - 0.3 / 0.1).abs() < 1e-9, "{noise}");
        let mce = rb.mce.unwrap();
        assert!((mce - (0.4 / 0.7 + 0.5 / 0.9) / 2.0).abs() < 1e-12, "{mce}");
    }

    #[test]
    fn corruption_rngs_differ_per_cell_and_repeat_per_seed() {
        use rand::Rng;
        let draw = |s, c, v, i| corruption_rng(s, c, v, i).random::<u64>();
        let a = draw(0, Corruption::Fog, 1, 0);
        assert_eq!(a, draw(0, Corruption::Fog, 1, 0));
        assert_ne!(a, draw(1, Corruption::Fog, 1, 0));
        assert_ne!(a, draw(0, Corruption::Snow, 1, 0));
        assert_ne!(a, draw(0, Corruption::Fog, 2, 0));
        assert_ne!(a, draw(0, Corruption::Fog, 1, 1));
    }
}
