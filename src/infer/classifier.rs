//! [`Classifier`]: an exported (or trained) encoder + linear classifier, ready to
//! classify images.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::error::InferError;
use super::preprocess::{self, InputSpec};
use super::source::{ModelDir, ModelKind};
use super::spec::ClassifierSpec;
use crate::data::{Image, ImageDataset};
use crate::train::features::Matrix;
use crate::train::supervised::SupervisedModel;

/// Default number of classes listed in [`Prediction::top_k`].
pub const DEFAULT_TOP_K: usize = 5;
/// Default number of images per forward pass.
pub const DEFAULT_BATCH_SIZE: usize = 256;

/// One class and its probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// Class index.
    pub class: usize,
    /// Class name.
    pub name: String,
    /// Softmax probability.
    pub probability: f32,
}

/// The classification of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The most probable class (the lowest index among equal scores).
    pub class: usize,
    /// Its name.
    pub name: String,
    /// Its softmax probability.
    pub probability: f32,
    /// The `k` most probable classes, most probable first (`k` = the classifier's
    /// `top_k`, at most the number of classes).
    pub top_k: Vec<ClassScore>,
}

/// Softmax of a row of logits, computed in `f64`.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let exp: Vec<f64> = logits.iter().map(|&v| (f64::from(v) - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|&e| (e / sum) as f32).collect()
}

/// An encoder + linear classifier with its preprocessing, in evaluation mode.
///
/// ```no_run
/// use supcon::infer::Classifier;
/// let classifier = Classifier::load("exported-model")?;
/// let p = classifier.predict_file("shoe.png")?;
/// println!("{} ({:.1}%)", p.name, 100.0 * p.probability);
/// # Ok::<(), supcon::infer::InferError>(())
/// ```
#[derive(Debug)]
pub struct Classifier {
    model: SupervisedModel,
    spec: ClassifierSpec,
    input: InputSpec,
    kind: ModelKind,
    dir: PathBuf,
    device: Device,
    top_k: usize,
    batch_size: usize,
}

impl Classifier {
    /// Loads an exported model directory, or any run directory with a classifier that
    /// [`ModelDir::open`] accepts, on the CPU.
    ///
    /// # Errors
    /// A missing or inconsistent directory, or weights that do not fit the architecture
    /// `classifier.json` (or the run's configuration) describes.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, InferError> {
        Self::load_on(dir, &crate::device::DeviceChoice::Cpu.device())
    }

    /// [`load`](Self::load) onto `device` (a plain, non-autodiff device).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_on(dir: impl AsRef<Path>, device: &Device) -> Result<Self, InferError> {
        let source = ModelDir::open(dir.as_ref())?;
        let spec = source.classifier_spec()?;
        let model = source.load_classifier(device)?.valid();
        Ok(Self {
            input: spec.input(),
            model,
            spec,
            kind: source.kind(),
            dir: source.dir().to_path_buf(),
            device: device.clone(),
            top_k: DEFAULT_TOP_K,
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }

    /// Sets how many classes each [`Prediction::top_k`] lists (at least 1; capped at
    /// the number of classes).
    pub fn with_top_k(mut self, k: usize) -> Self {
        self.top_k = k.max(1);
        self
    }

    /// Sets how many images go through the network at once.
    ///
    /// # Errors
    /// [`InferError::Invalid`] when `n` is 0 (at least 1 is expected).
    pub fn with_batch_size(mut self, n: usize) -> Result<Self, InferError> {
        self.batch_size = preprocess::batch_size(n)?;
        Ok(self)
    }

    /// The model description (`classifier.json`).
    pub fn spec(&self) -> &ClassifierSpec {
        &self.spec
    }

    /// Class names by index.
    pub fn class_names(&self) -> &[String] {
        &self.spec.class_names
    }

    /// The preprocessing applied to every input.
    pub fn input_spec(&self) -> &InputSpec {
        &self.input
    }

    /// What kind of directory it was loaded from.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The directory it was loaded from (for a `supcon run` output, its `linear/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The network (encoder + linear classifier, evaluation mode).
    pub fn model(&self) -> &SupervisedModel {
        &self.model
    }

    /// Classifies one image (any size and channel count: it is converted as training
    /// images were).
    ///
    /// # Errors
    /// An image that cannot be converted to the model's input.
    pub fn predict(&self, image: &Image) -> Result<Prediction, InferError> {
        Ok(self
            .predict_batch(std::slice::from_ref(image))?
            .pop()
            .expect("one prediction per image"))
    }

    /// Classifies an image file (PNG or JPEG).
    ///
    /// # Errors
    /// [`InferError::Image`] naming the file when it is missing or undecodable.
    pub fn predict_file(&self, path: impl AsRef<Path>) -> Result<Prediction, InferError> {
        let image = self.input.load_file(path.as_ref())?;
        self.predict(&image)
    }

    /// Classifies image files, in order.
    ///
    /// # Errors
    /// The first file that is missing or undecodable, by name.
    pub fn predict_files<P: AsRef<Path>>(
        &self,
        paths: &[P],
    ) -> Result<Vec<Prediction>, InferError> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(self.batch_size) {
            let images = chunk
                .iter()
                .map(|p| self.input.load_file(p.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            out.extend(self.predict_batch(&images)?);
        }
        Ok(out)
    }

    /// Classifies images, in order, `batch_size` at a time.
    ///
    /// # Errors
    /// An image that cannot be converted to the model's input.
    pub fn predict_batch(&self, images: &[Image]) -> Result<Vec<Prediction>, InferError> {
        let logits = self.logits(images)?;
        (0..logits.rows)
            .map(|i| self.prediction(logits.row(i)))
            .collect()
    }

    /// Classifies every image of a dataset split, in order (converted to the model's
    /// input when its images have another shape).
    ///
    /// # Errors
    /// Images that cannot be converted.
    pub fn predict_split(&self, split: &ImageDataset) -> Result<Vec<Prediction>, InferError> {
        let logits = self.split_logits(split)?;
        (0..logits.rows)
            .map(|i| self.prediction(logits.row(i)))
            .collect()
    }

    /// Class logits `[n, K]` of images.
    ///
    /// # Errors
    /// An image that cannot be converted to the model's input.
    pub fn logits(&self, images: &[Image]) -> Result<Matrix, InferError> {
        let mut values = Vec::with_capacity(images.len() * self.spec.num_classes);
        for chunk in images.chunks(self.batch_size) {
            let x = self.input.batch(chunk)?;
            values.extend(self.forward(x, chunk.len())?);
        }
        Ok(Matrix {
            rows: images.len(),
            cols: self.spec.num_classes,
            values,
        })
    }

    /// Class logits `[n, K]` of every image of a split, in order.
    ///
    /// # Errors
    /// Images that cannot be converted.
    pub fn split_logits(&self, split: &ImageDataset) -> Result<Matrix, InferError> {
        let split = self.input.conform_split(split)?;
        let len = self.input.image_len();
        let mut values = Vec::with_capacity(split.len() * self.spec.num_classes);
        let indices: Vec<usize> = (0..split.len()).collect();
        for chunk in indices.chunks(self.batch_size) {
            let mut x = vec![0.0f32; chunk.len() * len];
            for (&i, out) in chunk.iter().zip(x.chunks_exact_mut(len)) {
                self.input.normalize_into(&split.try_image(i)?, out);
            }
            values.extend(self.forward(x, chunk.len())?);
        }
        Ok(Matrix {
            rows: split.len(),
            cols: self.spec.num_classes,
            values,
        })
    }

    /// The network on `n` normalised images `[n, C, H, W]`; logits row-major.
    fn forward(&self, x: Vec<f32>, n: usize) -> Result<Vec<f32>, InferError> {
        let [c, h, w] = self.input.shape;
        let x = Tensor::<4>::from_data(TensorData::new(x, [n, c, h, w]), &self.device);
        let logits = self.model.forward(x); // [n, K]
        logits
            .try_into_vec_as::<f32>()
            .map_err(|e| InferError::Invalid(format!("reading logits: {e:?}")))
    }

    /// The prediction of one row of logits (one per class).
    ///
    /// # Errors
    /// [`InferError::Invalid`] when the row does not have one logit per class or holds a
    /// NaN or infinite value.
    pub fn prediction(&self, logits: &[f32]) -> Result<Prediction, InferError> {
        let classes = self.spec.class_names.len();
        if logits.len() != classes {
            return Err(InferError::Invalid(format!(
                "{} logits for a model of {classes} classes",
                logits.len()
            )));
        }
        if logits.iter().any(|v| !v.is_finite()) {
            return Err(InferError::Invalid(
                "the logits hold NaN or infinite values".into(),
            ));
        }
        let probs = softmax(logits);
        let mut order: Vec<usize> = (0..probs.len()).collect();
        // Descending score, ties (-0.0 and 0.0 too) by ascending index (the rule of
        // `eval::accuracy`); the values are finite, so they compare.
        order.sort_by(|&a, &b| {
            logits[b]
                .partial_cmp(&logits[a])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        let score = |class: usize| ClassScore {
            class,
            name: self.spec.class_names[class].clone(),
            probability: probs[class],
        };
        let best = order[0];
        Ok(Prediction {
            class: best,
            name: self.spec.class_names[best].clone(),
            probability: probs[best],
            top_k: order.iter().take(self.top_k).map(|&c| score(c)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_a_distribution() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
        let p = softmax(&[1000.0, 1000.0]);
        assert_eq!(p, vec![0.5, 0.5]);
    }
}
