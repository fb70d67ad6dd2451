//! Opening any directory that holds a trained model, and loading its parts.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::error::InferError;
use super::preprocess::InputSpec;
use super::spec::{CLASSIFIER_FORMAT, CLASSIFIER_VERSION, ClassifierSpec, ExportSource};
use crate::data::DataSummary;
use crate::model::{Encoder, EncoderConfig, LinearClassifierConfig, ProjectionHead, load_weights};
use crate::train::finetune::FinetuneConfig;
use crate::train::supervised::SupervisedModel;
use crate::train::{
    DataConfig, LinearConfig, PretrainConfig, RunDir, RunDirError, RunKind, SupervisedConfig,
    TrainError, read_manifest,
};

/// What kind of directory a [`ModelDir`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// An exported model (`classifier.json` + `model.safetensors`).
    Export,
    /// A linear-probe run (`supcon linear`): a frozen pre-trained encoder + classifier.
    Linear,
    /// A cross-entropy run (`supcon train-ce`): encoder + classifier trained end to end.
    CrossEntropy,
    /// A fine-tuning run (`supcon finetune`): pre-trained encoder fine-tuned with a new
    /// classifier.
    Finetune,
    /// A pre-training run (`supcon pretrain`): encoder + projection head (and, with
    /// `--joint`, a classifier on stop-gradient features).
    Pretrain,
}

impl ModelKind {
    /// A short name: `export`, `linear`, `ce`, `finetune`, `pretrain`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Linear => "linear",
            Self::CrossEntropy => "ce",
            Self::Finetune => "finetune",
            Self::Pretrain => "pretrain",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug)]
enum Inner {
    Export(Box<ClassifierSpec>),
    Linear {
        config: LinearConfig,
        pretrain: Box<ModelDir>,
    },
    Supervised {
        encoder: EncoderConfig,
        data: DataConfig,
        seed: u64,
    },
    Pretrain(Box<PretrainConfig>),
}

/// A directory holding a trained model, opened (configuration read, nothing loaded yet).
#[derive(Clone, Debug)]
pub struct ModelDir {
    dir: PathBuf,
    kind: ModelKind,
    inner: Inner,
}

/// The error for a directory that holds no model.
fn not_a_model(dir: &Path, why: &str) -> InferError {
    InferError::BadModel {
        path: dir.to_path_buf(),
        reason: format!(
            "not a model directory ({why}); expected a run of pretrain, linear, train-ce or \
             finetune (config.json), a `supcon run` output (linear/), or an export \
             (classifier.json)"
        ),
    }
}

impl ModelDir {
    /// Opens `dir`: an export (`classifier.json`), a run directory (its `config.json`
    /// says which stage wrote it), or a `supcon run` output directory (its `linear/`
    /// probe is used).
    ///
    /// A linear probe's `encoder_run` is looked up as written and, when that path does
    /// not exist (a relative path from another working directory, a moved run), as a
    /// sibling of the probe run with the same folder name.
    ///
    /// # Errors
    /// A missing directory, one that holds no model, or an unreadable configuration.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, InferError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(not_a_model(dir, "no such directory"));
        }
        // The one reader of what a directory holds (its manifest, or for an older
        // directory its files).
        let manifest = read_manifest(dir).map_err(|e| match e {
            RunDirError::Io { .. } => not_a_model(dir, "no config.json or classifier.json"),
            RunDirError::Json { ref path, .. } if path.ends_with("config.json") => {
                not_a_model(dir, "config.json of no known stage")
            }
            other => InferError::from(TrainError::from(other)),
        })?;
        match manifest.kind {
            RunKind::Export => {
                let spec = ClassifierSpec::read(dir)?;
                return Ok(Self {
                    dir: dir.to_path_buf(),
                    kind: ModelKind::Export,
                    inner: Inner::Export(Box::new(spec)),
                });
            }
            RunKind::Run if dir.join("linear").join("config.json").is_file() => {
                return Self::open(dir.join("linear"));
            }
            RunKind::Run => {
                return Err(not_a_model(
                    dir,
                    "an unfinished `supcon run`: its linear probe has not started",
                ));
            }
            RunKind::Sweep => {
                return Err(not_a_model(
                    dir,
                    "a `supcon sweep` output; pass one of its runs",
                ));
            }
            RunKind::Pretrain | RunKind::Linear | RunKind::Ce | RunKind::Finetune => {}
        }
        let run = RunDir::open(dir).map_err(TrainError::from)?;
        let (kind, inner) = if manifest.kind == RunKind::Finetune {
            let c: FinetuneConfig = run.read_json("config.json").map_err(TrainError::from)?;
            let (Some(encoder), Some(data)) = (c.encoder, c.data) else {
                return Err(not_a_model(dir, "an unfinished fine-tuning configuration"));
            };
            (
                ModelKind::Finetune,
                Inner::Supervised {
                    encoder,
                    data,
                    seed: c.seed,
                },
            )
        } else if manifest.kind == RunKind::Linear {
            let config: LinearConfig = run.read_json("config.json").map_err(TrainError::from)?;
            let mut pre = config.encoder_run.clone();
            if !pre.join("config.json").is_file()
                && !pre.join("classifier.json").is_file()
                && let (Some(parent), Some(name)) = (dir.parent(), pre.file_name())
                && parent.join(name).join("config.json").is_file()
            {
                pre = parent.join(name);
            }
            let pretrain = Self::open(&pre).map_err(|e| InferError::BadModel {
                path: dir.to_path_buf(),
                reason: format!("the linear probe's encoder_run: {e}"),
            })?;
            if !matches!(pretrain.kind, ModelKind::Pretrain | ModelKind::Export) {
                return Err(InferError::BadModel {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "its encoder_run {} is a {} model, not a pre-training run or an export",
                        pre.display(),
                        pretrain.kind
                    ),
                });
            }
            (
                ModelKind::Linear,
                Inner::Linear {
                    config,
                    pretrain: Box::new(pretrain),
                },
            )
        } else if manifest.kind == RunKind::Pretrain {
            let c: PretrainConfig = run.read_json("config.json").map_err(TrainError::from)?;
            (ModelKind::Pretrain, Inner::Pretrain(Box::new(c)))
        } else {
            let c: SupervisedConfig = run.read_json("config.json").map_err(TrainError::from)?;
            (
                ModelKind::CrossEntropy,
                Inner::Supervised {
                    encoder: c.encoder,
                    data: c.data,
                    seed: c.seed,
                },
            )
        };
        let weights = match kind {
            ModelKind::Linear => "classifier.safetensors",
            _ => "model.safetensors",
        };
        crate::train::run_dir::check_finished(dir, weights).map_err(TrainError::from)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            kind,
            inner,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What kind of model directory it is.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The encoder architecture.
    pub fn encoder_config(&self) -> &EncoderConfig {
        match &self.inner {
            Inner::Export(spec) => &spec.encoder,
            Inner::Linear { pretrain, .. } => pretrain.encoder_config(),
            Inner::Supervised { encoder, .. } => encoder,
            Inner::Pretrain(c) => &c.model.encoder,
        }
    }

    /// The data the model's classifier (or, for a pre-training run, its encoder) was
    /// trained on, with the seed that drew its subsets; `None` for an export.
    pub fn data_config(&self) -> Option<(DataConfig, u64)> {
        match &self.inner {
            Inner::Export(_) => None,
            Inner::Linear { config, pretrain } => match &config.data {
                Some(d) => Some((d.clone(), config.seed)),
                None => pretrain.data_config().map(|(d, _)| (d, config.seed)),
            },
            Inner::Supervised { data, seed, .. } => Some((data.clone(), *seed)),
            Inner::Pretrain(c) => Some((c.data.clone(), c.seed)),
        }
    }

    /// Shape, classes and normalisation of the training data: `data.json` of the run,
    /// recomputed from its data configuration for runs written before it existed, or
    /// taken from `classifier.json` for an export.
    ///
    /// # Errors
    /// An unreadable `data.json`, or data that cannot be loaded.
    pub fn data_summary(&self) -> Result<DataSummary, InferError> {
        if let Inner::Export(spec) = &self.inner {
            return Ok(DataSummary {
                name: spec
                    .source
                    .as_ref()
                    .map(|s| s.data.clone())
                    .unwrap_or_default(),
                train_count: 0,
                test_count: 0,
                num_classes: spec.num_classes,
                shape: spec.input_shape,
                class_names: spec.class_names.clone(),
                mean: spec.mean.clone(),
                std: spec.std.clone(),
                skipped: 0,
            });
        }
        let path = self.dir.join("data.json");
        if path.is_file() {
            return Ok(crate::train::run_dir::read_json(&path)?);
        }
        let (data, seed) = self
            .data_config()
            .ok_or_else(|| not_a_model(&self.dir, "no data configuration"))?;
        Ok(data.load(seed)?.summary())
    }

    /// Compares `data`, loaded now with `used` for a `role` of this model, with the data
    /// its run recorded ([`crate::train::data_drift`]): another spec, or an export, is not
    /// compared; a change is a warning, or an error for other classes or another shape
    /// where the classifier answers.
    ///
    /// # Errors
    /// [`crate::train::RunDirError::DataDiffers`] naming the run's `data.json`; an
    /// unreadable `data.json`.
    pub fn check_data(
        &self,
        used: &DataConfig,
        data: &mut crate::data::LoadedDataset,
        role: crate::train::data_drift::DataUse,
    ) -> Result<(), InferError> {
        let run_data = self.data_config().map(|(d, _)| d);
        crate::train::data_drift::check_run_data(&self.dir, run_data.as_ref(), used, data, role)
            .map_err(|e| InferError::Train(e.into()))
    }

    /// The preprocessing the model expects.
    ///
    /// # Errors
    /// As [`data_summary`](Self::data_summary), or invalid statistics.
    pub fn input_spec(&self) -> Result<InputSpec, InferError> {
        if let Inner::Export(spec) = &self.inner {
            return Ok(spec.input());
        }
        let input = InputSpec::from_summary(&self.data_summary()?);
        input.validate()?;
        Ok(input)
    }

    /// Whether the directory holds a classifier (every kind but a pre-training run
    /// without `--joint`).
    pub fn has_classifier(&self) -> bool {
        match &self.inner {
            Inner::Pretrain(c) => c.joint && self.dir.join("classifier.safetensors").is_file(),
            _ => true,
        }
    }

    /// The `classifier.json` describing this model's classifier.
    ///
    /// # Errors
    /// No classifier, or training data that cannot be described.
    pub fn classifier_spec(&self) -> Result<ClassifierSpec, InferError> {
        if let Inner::Export(spec) = &self.inner {
            return Ok((**spec).clone());
        }
        self.require_classifier()?;
        let summary = self.data_summary()?;
        let spec = ClassifierSpec {
            format: CLASSIFIER_FORMAT.into(),
            version: CLASSIFIER_VERSION,
            encoder: self.encoder_config().clone(),
            num_classes: summary.num_classes,
            class_names: summary.class_names.clone(),
            input_shape: summary.shape,
            mean: summary.mean.clone(),
            std: summary.std.clone(),
            source: Some(ExportSource {
                kind: self.kind.name().into(),
                // Absolute: an export is read from anywhere, a relative path means nothing.
                run: crate::outputs::resolve(&self.dir),
                data: summary.name.clone(),
            }),
        };
        spec.validate(&self.dir.join("data.json"))?;
        Ok(spec)
    }

    fn require_classifier(&self) -> Result<(), InferError> {
        if self.has_classifier() {
            return Ok(());
        }
        Err(InferError::BadModel {
            path: self.dir.clone(),
            reason: "a pre-training run without a classifier; train a linear probe \
                     (`supcon linear --encoder DIR`) and use that run, or fine-tune it \
                     (`supcon finetune --encoder DIR`)"
                .into(),
        })
    }

    fn num_classes(&self) -> Result<usize, InferError> {
        Ok(match &self.inner {
            Inner::Export(spec) => spec.num_classes,
            _ => self.data_summary()?.num_classes,
        })
    }

    /// Encoder + linear classifier, weights loaded, on `device` (in training state on an
    /// autodiff device, as built; call `valid()` for inference).
    ///
    /// # Errors
    /// No classifier, missing weights, or weights of another architecture.
    pub fn load_classifier(&self, device: &Device) -> Result<SupervisedModel, InferError> {
        self.require_classifier()?;
        let classes = self.num_classes()?;
        match &self.inner {
            Inner::Export(_) | Inner::Supervised { .. } => {
                let encoder = self.encoder_config().try_init(device)?;
                let classifier =
                    LinearClassifierConfig::new(encoder.output_dim(), classes).init(device);
                let model = SupervisedModel {
                    encoder,
                    classifier,
                };
                Ok(load_weights(model, self.dir.join("model.safetensors"))?)
            }
            Inner::Linear { .. } => {
                let encoder = self.load_encoder(device)?;
                self.attach_classifier(encoder, classes, device)
            }
            Inner::Pretrain(_) => {
                let encoder = self.load_encoder(device)?;
                self.attach_classifier(encoder, classes, device)
            }
        }
    }

    fn attach_classifier(
        &self,
        encoder: Encoder,
        classes: usize,
        device: &Device,
    ) -> Result<SupervisedModel, InferError> {
        let classifier = LinearClassifierConfig::new(encoder.output_dim(), classes).init(device);
        let classifier = load_weights(classifier, self.dir.join("classifier.safetensors"))?;
        Ok(SupervisedModel {
            encoder,
            classifier,
        })
    }

    /// The encoder, weights loaded, on `device`.
    ///
    /// # Errors
    /// Missing weights or weights of another architecture.
    pub fn load_encoder(&self, device: &Device) -> Result<Encoder, InferError> {
        match &self.inner {
            Inner::Linear { pretrain, .. } => {
                // A pre-training run's encoder or an export's.
                let encoder = pretrain.load_encoder(device)?;
                // The encoder there must still be the probe's.
                crate::train::linear::verify_encoder(&self.dir, &encoder)?;
                Ok(encoder)
            }
            Inner::Pretrain(_) => Ok(self.load_projection(device)?.0),
            Inner::Export(_) | Inner::Supervised { .. } => {
                let encoder = self.encoder_config().try_init(device)?;
                let classes = self.num_classes()?;
                let classifier =
                    LinearClassifierConfig::new(encoder.output_dim(), classes).init(device);
                let model = SupervisedModel {
                    encoder,
                    classifier,
                };
                Ok(load_weights(model, self.dir.join("model.safetensors"))?.encoder)
            }
        }
    }

    /// The encoder and the projection head of the contrastive model (pre-training runs,
    /// and linear probes through their pre-training run).
    ///
    /// # Errors
    /// A model without a projection head, missing weights, or another architecture.
    pub fn load_projection(
        &self,
        device: &Device,
    ) -> Result<(Encoder, ProjectionHead), InferError> {
        match &self.inner {
            Inner::Pretrain(c) => {
                let net = c.model.try_init(device)?;
                let net = load_weights(net, self.dir.join("model.safetensors"))?;
                Ok((net.encoder, net.head))
            }
            Inner::Linear { pretrain, .. } if pretrain.kind == ModelKind::Export => {
                Err(InferError::BadModel {
                    path: self.dir.clone(),
                    reason: format!(
                        "the linear probe's encoder comes from the export {}, which has no \
                         projection head; use --layer encoder",
                        pretrain.dir.display()
                    ),
                })
            }
            Inner::Linear { pretrain, .. } => {
                let (encoder, head) = pretrain.load_projection(device)?;
                // The encoder in the pre-training run must still be the probe's.
                crate::train::linear::verify_encoder(&self.dir, &encoder)?;
                Ok((encoder, head))
            }
            _ => Err(InferError::BadModel {
                path: self.dir.clone(),
                reason: format!(
                    "a {} model has no projection head; use --layer encoder, or a \
                     pre-training run (or its linear probe)",
                    self.kind
                ),
            }),
        }
    }
}
