//! Embeddings: encoder features (what the linear probe sees) or projection-head outputs
//! (what the contrastive loss compares) of a dataset split, and writing them to disk.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::error::InferError;
use super::npy::{Array, npy_bytes, safetensors_bytes};
use super::preprocess::{self, InputSpec};
use super::source::ModelDir;
use crate::data::ImageDataset;
use crate::fsutil::write_atomic;
use crate::model::{Encoder, ProjectionHead};
use crate::train::features::Matrix;

/// Which activation to embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layer {
    /// The encoder's features `[n, D]` (the representation the paper evaluates).
    #[default]
    Encoder,
    /// The projection head's output before its L2 normalisation `[n, P]` (pass
    /// `normalize` for the unit-norm vectors the loss compares).
    Projection,
}

impl FromStr for Layer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "encoder" => Ok(Self::Encoder),
            "projection" | "head" => Ok(Self::Projection),
            _ => Err(format!(
                "unknown layer '{s}': expected encoder or projection"
            )),
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Encoder => "encoder",
            Self::Projection => "projection",
        })
    }
}

/// An encoder (and optionally its projection head) with its preprocessing, in
/// evaluation mode.
#[derive(Debug)]
pub struct Embedder {
    encoder: Encoder,
    head: Option<ProjectionHead>,
    input: InputSpec,
    layer: Layer,
    device: Device,
    batch_size: usize,
}

impl Embedder {
    /// Loads the encoder of any model directory ([`ModelDir::open`]) and, for
    /// [`Layer::Projection`], its projection head, on the CPU.
    ///
    /// # Errors
    /// A missing or inconsistent directory, a model without a projection head for
    /// [`Layer::Projection`], or weights that do not fit.
    pub fn load(dir: impl AsRef<Path>, layer: Layer) -> Result<Self, InferError> {
        Self::load_on(dir, layer, &crate::device::DeviceChoice::Cpu.device())
    }

    /// [`load`](Self::load) onto `device` (a plain, non-autodiff device).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_on(
        dir: impl AsRef<Path>,
        layer: Layer,
        device: &Device,
    ) -> Result<Self, InferError> {
        let source = ModelDir::open(dir.as_ref())?;
        let device = device.clone();
        let (encoder, head) = match layer {
            Layer::Encoder => (source.load_encoder(&device)?, None),
            Layer::Projection => {
                let (encoder, head) = source.load_projection(&device)?;
                (encoder, Some(head.valid()))
            }
        };
        Ok(Self {
            encoder: encoder.valid(),
            head,
            input: source.input_spec()?,
            layer,
            device,
            batch_size: 256,
        })
    }

    /// Sets how many images go through the network at once.
    ///
    /// # Errors
    /// [`InferError::Invalid`] when `n` is 0 (at least 1 is expected).
    pub fn with_batch_size(mut self, n: usize) -> Result<Self, InferError> {
        self.batch_size = preprocess::batch_size(n)?;
        Ok(self)
    }

    /// The preprocessing applied to every image.
    pub fn input_spec(&self) -> &InputSpec {
        &self.input
    }

    /// The embedded layer.
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// Embeddings `[n, D]` (or `[n, P]`) of every image of `split`, in order, converted
    /// to the model's input when needed; rows L2-normalised with `normalize`.
    ///
    /// # Errors
    /// Images that cannot be converted.
    pub fn embed_split(&self, split: &ImageDataset, normalize: bool) -> Result<Matrix, InferError> {
        let split = self.input.conform_split(split)?;
        let [c, h, w] = self.input.shape;
        let len = self.input.image_len();
        let mut values = Vec::new();
        let mut cols = 0;
        let indices: Vec<usize> = (0..split.len()).collect();
        for chunk in indices.chunks(self.batch_size) {
            let mut x = vec![0.0f32; chunk.len() * len];
            for (&i, out) in chunk.iter().zip(x.chunks_exact_mut(len)) {
                self.input.normalize_into(&split.try_image(i)?, out);
            }
            let x =
                Tensor::<4>::from_data(TensorData::new(x, [chunk.len(), c, h, w]), &self.device);
            let features = self.encoder.forward(x); // [B, D]
            let out = match &self.head {
                Some(head) => head.forward_unnormalized(features), // [B, P]
                None => features,
            };
            cols = out.dims()[1];
            values.extend(
                out.try_into_vec_as::<f32>()
                    .map_err(|e| InferError::Invalid(format!("reading embeddings: {e:?}")))?,
            );
        }
        if normalize && cols > 0 {
            for row in values.chunks_exact_mut(cols) {
                let norm = row
                    .iter()
                    .map(|v| f64::from(*v).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let norm = norm.max(crate::model::heads::NORM_EPS) as f32;
                row.iter_mut().for_each(|v| *v /= norm);
            }
        }
        Ok(Matrix {
            rows: split.len(),
            cols,
            values,
        })
    }
}

/// Checks, before any work, that the files [`write_embeddings`] would write to `path`
/// (for `.npy`, also `STEM.labels.npy`) obey the output rule of [`crate::outputs`].
///
/// # Errors
/// [`InferError::Output`] naming the refused file.
pub fn check_embeddings_out(
    path: &Path,
    inputs: &crate::outputs::Inputs,
) -> Result<(), InferError> {
    let mut files = vec![path.to_path_buf()];
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push(path.with_file_name(format!("{stem}.labels.npy")));
    }
    for file in files {
        crate::outputs::check_file(&file, inputs)?;
    }
    Ok(())
}

/// Writes embeddings and their labels, chosen by the extension of `path`:
/// - `.npy`: the embeddings as `<f4` `[n, D]` to `path` and the labels as `<i8` `[n]` to
///   the sibling `STEM.labels.npy` (`emb.npy` -> `emb.labels.npy`);
/// - `.safetensors`: tensors `embeddings` (F32 `[n, D]`) and `labels` (I64 `[n]`).
///
/// Every file is written atomically. Returns the files written.
///
/// # Errors
/// Another extension, a label count that differs from the rows, or I/O errors.
pub fn write_embeddings(
    path: &Path,
    embeddings: &Matrix,
    labels: &[usize],
) -> Result<Vec<PathBuf>, InferError> {
    if labels.len() != embeddings.rows {
        return Err(InferError::Invalid(format!(
            "{} labels for {} embeddings",
            labels.len(),
            embeddings.rows
        )));
    }
    let x = Array::f32(&[embeddings.rows, embeddings.cols], &embeddings.values);
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let y = Array::i64(&[labels.len()], &labels);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| InferError::io(dir, e))?;
    }
    let write = |p: &Path, bytes: &[u8]| write_atomic(p, bytes).map_err(|e| InferError::io(p, e));
    match ext.as_str() {
        "npy" => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let label_path = path.with_file_name(format!("{stem}.labels.npy"));
            write(path, &npy_bytes(&x))?;
            write(&label_path, &npy_bytes(&y))?;
            Ok(vec![path.to_path_buf(), label_path])
        }
        "safetensors" => {
            write(
                path,
                &safetensors_bytes(&[("embeddings", &x), ("labels", &y)]),
            )?;
            Ok(vec![path.to_path_buf()])
        }
        _ => Err(InferError::Invalid(format!(
            "{}: unsupported output format; use a .npy or .safetensors file name",
            path.display()
        ))),
    }
}
