//! Using trained models: classification of images and datasets, embeddings, and a
//! deployable export.
//!
//! - [`ModelDir`] opens anything that holds a trained model: a linear-probe run (its
//!   `encoder_run`'s encoder plus its classifier), a cross-entropy (`train-ce`) or
//!   fine-tuning run, a pre-training run (encoder and projection head; a classifier only
//!   with `--joint`), the output directory of `supcon run` (its `linear/` probe), or an
//!   exported model directory.
//! - [`export`] writes one deployable artifact: `model.safetensors` (encoder + linear
//!   classifier, the tensors of a [`SupervisedModel`](crate::train::supervised::SupervisedModel))
//!   and `classifier.json` ([`ClassifierSpec`]: encoder configuration, classes, input
//!   shape `[C, H, W]`, normalisation mean/std).
//! - [`Classifier`] loads an export (or any run with a classifier) and predicts
//!   [`Prediction`]s for [`Image`](crate::data::Image)s, image files, or a dataset split.
//!   It is the same encoder + linear layer as a cross-entropy model of that
//!   architecture, so inference costs the same whichever way it was trained.
//! - [`Embedder`] computes encoder (or projection-head) embeddings, and [`npy`] writes
//!   them as `.npy` (NPY 1.0) or `.safetensors`.
//!
//! # Preprocessing
//!
//! Inputs are prepared exactly as training data ([`InputSpec`]): converted to the trained
//! channel count (RGB to grayscale with the ITU-R BT.709 luma weights of the `image`
//! crate, grayscale to RGB by replication, alpha dropped), centre-cropped to a square and
//! resized to the trained size (bilinear, anti-aliased when shrinking; the same code as
//! the image-folder loader), scaled to `[0, 1]`, then normalised per channel with the
//! training data's mean and std. Images already of the trained shape are used as they
//! are. Training runs store the statistics in `data.json`; for older runs without it they
//! are recomputed from the run's data configuration.

mod classifier;
mod embed;
mod error;
mod export;
pub mod npy;
mod preprocess;
mod source;
mod spec;

pub use crate::data::image_from_u8;
pub use crate::model::encoder_input_shape;
pub use classifier::{ClassScore, Classifier, Prediction, softmax};
pub use embed::{Embedder, Layer, check_embeddings_out, write_embeddings};
pub use error::InferError;
pub use export::export;
pub use preprocess::{InputSpec, convert_dataset, convert_split};
pub use source::{ModelDir, ModelKind};
pub use spec::{CLASSIFIER_FORMAT, CLASSIFIER_VERSION, ClassifierSpec, ExportSource};
