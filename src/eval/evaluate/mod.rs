//! Evaluation of trained runs: load the model a run directory describes, then measure
//! clean accuracy and calibration, corruption robustness (Hendrycks & Dietterich, ICLR
//! 2019), weighted k-NN accuracy on frozen encoder features (Wu et al., CVPR 2018) and
//! few-shot linear probes: the evaluations of SupCon (Khosla et al., NeurIPS 2020,
//! Sec. 4).
//!
//! # Run directories
//! [`inspect_run`] tells the kinds apart by their files:
//! - a linear-probe run (`config.json` with `encoder_run`): its pre-training run's
//!   encoder plus its `classifier.safetensors`;
//! - a cross-entropy run (`config.json` with `encoder`): `model.safetensors` holds encoder
//!   and classifier;
//! - a pre-training run (`config.json` with `model`): its encoder, and its joint
//!   classifier when it was trained with `--joint` (otherwise it cannot classify);
//! - a `supcon run` output (`summary.json` and `linear/`, `ce/` sub-runs): both sub-runs;
//! - a `supcon sweep` output (`sweep.json`), which is not evaluated as such.
//!
//! # Preprocessing
//! Evaluation images go through the training pipeline's un-augmented path
//! ([`map_split`](crate::train::features::map_split)): `u8` pixels to `[0, 1]`, then per-channel normalisation with the
//! statistics of the dataset the run was *trained* on (when the evaluation data is
//! another spec, that spec's own statistics are replaced by the training spec's).
//!
//! # Corruptions
//! Each corruption and severity is applied to every test image with its own RNG, derived
//! from `(seed, corruption, severity, image index)`, so results depend neither on the
//! number of threads nor on which other corruptions are evaluated. Corrupted images are
//! quantised to `u8`, as the published CIFAR-10-C / ImageNet-C files are.

mod corruption;
mod data;
mod error;
mod frozen;
mod inspect;
mod load;
mod options;
mod results;
mod run;

pub use corruption::corrupt_split;
pub use data::{DataOverride, load_eval_data};
pub use error::RunEvalError;
pub use frozen::{few_shot_indices, mean_std};
pub use inspect::{RunInfo, RunKind, classifier_runs, inspect_run};
pub use load::{
    EVAL_BATCH, EvalModel, check_probe_encoder, encoder_features, load_eval_model, load_run_encoder,
};
pub use options::{EvalOptions, KnnOptions, Log, parse_corruptions, parse_severities};
pub use results::{
    BaselineErrors, CorruptionCell, CorruptionResults, EvalFile, EvalReport, FewShotResult,
    KnnResult,
};
pub use run::{evaluate_dir, evaluate_run, evaluate_to_file};
