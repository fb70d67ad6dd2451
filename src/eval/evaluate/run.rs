//! Evaluating a run directory: clean metrics, then the evaluations asked for, written
//! as an eval JSON file by `supcon eval`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::corruption::{assemble_robustness, baseline_errors, corruption_table};
use super::data::{DataOverride, load_eval_data};
use super::error::{RunEvalError, run_err};
use super::frozen::{few_shot_indices, few_shot_probe, knn_result};
use super::inspect::{RunInfo, RunKind, classifier_runs, inspect_run};
use super::load::{EvalModel, load_eval_model};
use super::options::{EvalOptions, Log};
use super::results::{
    BaselineErrors, CorruptionResults, EvalFile, EvalReport, FewShotResult, KnnResult,
};
use crate::data::LoadedDataset;
use crate::eval::accuracy::ConfusionMatrix;
use crate::train::DataConfig;
use crate::train::features::Matrix;
use crate::train::linear::classifier_logits;
use crate::train::metrics::classification_metrics;
use crate::train::run_dir::RunDirError;

/// Evaluates every classifier a directory stands for (a suite gives its linear probe and
/// CE baseline). In a suite with no explicit baseline, the CE run normalises mCE for
/// both (so its own mCE is 1).
///
/// # Errors
/// As [`inspect_run`], [`load_eval_model`] and the evaluations.
pub fn evaluate_dir(
    dir: &Path,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<Vec<EvalReport>, RunEvalError> {
    opts.validate()?;
    let info = inspect_run(dir)?;
    if let Some(baseline) = &opts.baseline {
        // Checked before the corruption run, whose results a bad baseline would waste.
        check_baseline(baseline)?;
    }
    match info.kind {
        RunKind::Run => {
            let ce_dir = dir.join("ce");
            let mut ce_opts = opts.clone();
            if ce_opts.baseline.is_none() && !ce_opts.corruptions.is_empty() {
                ce_opts.baseline = Some(ce_dir.clone());
            }
            let ce = evaluate_run(&inspect_run(&ce_dir)?, &ce_opts, None, log)?;
            let given = opts.baseline.is_some();
            let ce_table = (!given).then(|| {
                ce.corruptions.as_ref().map(|c| BaselineErrors {
                    source: ce_dir.clone(),
                    errors: c.errors.clone(),
                })
            });
            let lin = evaluate_run(
                &inspect_run(&dir.join("linear"))?,
                opts,
                ce_table.flatten(),
                log,
            )?;
            Ok(vec![lin, ce])
        }
        _ => Ok(vec![evaluate_run(&info, opts, None, log)?]),
    }
}

/// `supcon eval`: evaluates `dir` as [`evaluate_dir`] does and writes the results to
/// `out` (default `dir/eval.json`), returning them and the file written. The run folder is
/// locked ([`crate::dirlock`]) from start to end, and a given `out` is checked against
/// the output rule ([`crate::outputs`]) before any work.
///
/// # Errors
/// As [`evaluate_dir`]; a locked run; a refused `out`; I/O errors naming the file.
pub fn evaluate_to_file(
    dir: &Path,
    out: Option<&Path>,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<(Vec<EvalReport>, PathBuf), RunEvalError> {
    let file = match out {
        Some(out) => {
            let mut inputs = vec![dir.to_path_buf()];
            inputs.extend(opts.baseline.clone());
            let data = inspect_run(dir)
                .ok()
                .and_then(|i| i.data)
                .map(|d| opts.data.apply(&d))
                .and_then(|d| d.dataset_dir());
            crate::outputs::check_file(out, &crate::outputs::Inputs::new(inputs, data))?;
            out.to_path_buf()
        }
        None => dir.join("eval.json"),
    };
    // The run (or output) folder `file` goes into: checked free at once (a training or
    // resume writing there fails this command before any work), locked while written.
    let folder = crate::dirlock::output_folder(&file);
    if let Some(folder) = &folder {
        drop(crate::dirlock::DirLock::acquire(folder).map_err(RunDirError::from)?);
    }
    let reports = evaluate_dir(dir, opts, log)?;
    let value = if reports.len() == 1 {
        EvalFile::One(Box::new(reports[0].clone()))
    } else {
        EvalFile::Many {
            runs: reports.clone(),
        }
    };
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| RunDirError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let _lock = folder
        .map(|f| crate::dirlock::DirLock::acquire(&f))
        .transpose()
        .map_err(RunDirError::from)?;
    crate::train::run_dir::write_json(&file, &value)?;
    Ok((reports, file))
}

/// Cheap checks of `--baseline` made before any work: an eval file with corruption
/// results, or a folder holding a classifier run.
fn check_baseline(path: &Path) -> Result<(), RunEvalError> {
    if path.is_file() {
        let file = EvalFile::read(path)?;
        let reports = file.reports();
        if reports.is_empty() {
            return Err(run_err(path, "--baseline: the eval file holds no run"));
        }
        if reports.iter().all(|r| r.corruptions.is_none()) {
            return Err(run_err(
                path,
                "--baseline: this eval file has no corruption results (run `supcon eval \
                 --corruptions ...` on the baseline)",
            ));
        }
        return Ok(());
    }
    classifier_runs(path)
        .map(|_| ())
        .map_err(|e| RunEvalError::Invalid(format!("--baseline {}: {e}", path.display())))
}

/// Evaluates one classifier run. `baseline` (already measured errors) takes precedence
/// over `opts.baseline`.
///
/// # Errors
/// As [`load_eval_model`], [`load_eval_data`], and the metrics.
pub fn evaluate_run(
    info: &RunInfo,
    opts: &EvalOptions,
    baseline: Option<BaselineErrors>,
    log: Log<'_>,
) -> Result<EvalReport, RunEvalError> {
    opts.validate()?;
    let started = Instant::now();
    let info = &on_device(info, opts)?;
    check_evaluable(info)?;
    let data = load_eval_data(info, &opts.data)?;
    let num_classes = data.num_classes();
    if let Some(&most) = opts.few_shot.iter().max() {
        // Fail before the long part when a class is too small.
        few_shot_indices(
            &data.train.labels,
            num_classes,
            &data.train.class_names,
            most,
            0,
        )?;
    }
    let model = load_eval_model(info, num_classes)?;
    log(&format!(
        "evaluating {} ({}) on {} test images of {}",
        info.dir.display(),
        info.kind.describe(),
        data.test.len(),
        data.name
    ));

    let test_features = model.features(&data, &data.test)?;
    let device = info.device.device();
    let logits = classifier_logits(&model.classifier, &test_features, &device)?;
    let labels = &data.test.labels;
    let clean = classification_metrics(&logits, labels)?;
    let confusion_matrix = ConfusionMatrix::from_scores(&logits.values, logits.cols, labels)?;
    let per_class_accuracy = confusion_matrix.per_class_accuracy();

    let corruptions = if opts.corruptions.is_empty() {
        None
    } else {
        Some(corruption_results(
            &model, &data, opts, clean.top1, baseline, log,
        )?)
    };
    let (knn, few_shot) = frozen_results(&model, &data, &test_features, opts, log)?;

    Ok(EvalReport {
        run: info.dir.clone(),
        kind: info.kind,
        encoder_run: info.encoder_run.clone(),
        data: over_data(info, &opts.data),
        num_classes,
        class_names: data.test.class_names.clone(),
        clean,
        per_class_accuracy,
        confusion_matrix,
        corruptions,
        knn,
        few_shot,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `info` on the device `opts` asks for (checked), else as it is.
fn on_device(info: &RunInfo, opts: &EvalOptions) -> Result<RunInfo, RunEvalError> {
    match opts.device {
        Some(device) => {
            device
                .check()
                .map_err(|e| RunEvalError::Invalid(format!("--device: {e}")))?;
            Ok(RunInfo {
                device,
                ..info.clone()
            })
        }
        None => Ok(info.clone()),
    }
}

/// Refuses, before any data is loaded, a run that is not one classifier: a suite or
/// sweep, an unfinished run, a pre-training run without a classifier.
fn check_evaluable(info: &RunInfo) -> Result<(), RunEvalError> {
    if matches!(info.kind, RunKind::Run | RunKind::Sweep) {
        return Err(run_err(
            &info.dir,
            format!(
                "{} holds several runs; evaluate one of them",
                info.kind.describe()
            ),
        ));
    }
    crate::train::run_dir::check_finished(
        &info.dir,
        if info.kind == RunKind::Linear {
            "classifier.safetensors"
        } else {
            "model.safetensors"
        },
    )?;
    if info.kind == RunKind::Pretrain && !info.has_classifier {
        // Same message as load_eval_model, before loading any data.
        load_eval_model(info, 1)?;
    }
    Ok(())
}

/// The corruption results of `model`, normalised by `baseline` (already measured), else
/// by `opts.baseline` (the run itself, another run evaluated here, or an eval file).
fn corruption_results(
    model: &EvalModel,
    data: &LoadedDataset,
    opts: &EvalOptions,
    clean_top1: f64,
    baseline: Option<BaselineErrors>,
    log: Log<'_>,
) -> Result<CorruptionResults, RunEvalError> {
    let (cells, errors) = corruption_table(model, data, opts, clean_top1, log)?;
    let baseline = match baseline {
        Some(b) => Some(b),
        None => match &opts.baseline {
            None => None,
            Some(path) if same_dir(path, &model.info.dir) => Some(BaselineErrors {
                source: path.clone(),
                errors: errors.clone(),
            }),
            Some(path) => Some(baseline_errors(path, data, opts, log)?),
        },
    };
    assemble_robustness(cells, errors, baseline, opts)
}

/// k-NN accuracy and few-shot probes on frozen encoder features, as `opts` asks;
/// `test_features` are the test set's `[n, D]`.
fn frozen_results(
    model: &EvalModel,
    data: &LoadedDataset,
    test_features: &Matrix,
    opts: &EvalOptions,
    log: Log<'_>,
) -> Result<(Option<KnnResult>, Vec<FewShotResult>), RunEvalError> {
    if opts.knn.is_none() && opts.few_shot.is_empty() {
        return Ok((None, Vec::new()));
    }
    log(&format!(
        "encoding {} training images for k-NN / few-shot",
        data.train.len()
    ));
    let train = model.features(data, &data.train)?;
    let knn = match opts.knn {
        Some(k) => Some(knn_result(&train, data, test_features, k)?),
        None => None,
    };
    let mut few_shot = Vec::new();
    for &shots in &opts.few_shot {
        log(&format!(
            "few-shot probe: {shots} per class x {} seeds",
            opts.few_shot_seeds
        ));
        few_shot.push(few_shot_probe(
            &train,
            data,
            test_features,
            shots,
            opts,
            model.info.device,
        )?);
    }
    Ok((knn, few_shot))
}

fn over_data(info: &RunInfo, over: &DataOverride) -> DataConfig {
    info.data
        .as_ref()
        .map(|d| over.apply(d))
        .unwrap_or_default()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
