//! What every stage does before its loop: load the dataset a spec names, subset it, build
//! the multi-view loader, and turn batches into tensors.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::augment::AugmentConfig;
use crate::data::batcher::{Batch, EpochLoader, MultiViewBatcher};
use crate::data::{DatasetSpec, LoadedDataset, limit, shots, validate};

/// Which data a stage trains and tests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Dataset spec (`builtin`, `cifar10:DIR`, `idx:DIR`, `folder:DIR`, ...). Default
    /// `builtin`, the Fashion-MNIST subset shipped in the repository.
    pub spec: String,
    /// Keep at most this many training samples (class-stratified). Default: all.
    pub limit: Option<usize>,
    /// Keep exactly this many training samples per class (few-shot). Default: all.
    pub shots: Option<usize>,
    /// Keep at most this many test samples. Default: all.
    pub test_limit: Option<usize>,
    /// Data-loading threads; 0 = one per core. Default 0. Results do not depend on it.
    pub threads: usize,
    /// Memory budget in bytes for the decoded images of an image folder with
    /// `cache=auto`: above it the folder is streamed from disk. Default: 4 GiB.
    pub memory: Option<u64>,
    /// Hold out this fraction of the training set (class-stratified, always the same draw:
    /// [`crate::data::subset::HOLDOUT_SEED`]) and evaluate on it instead of the test split,
    /// for choosing settings without touching the test set. Taken after `shots` and
    /// `limit`, before `test_limit` (which then limits the held-out part); the
    /// normalisation is recomputed on the rest. Default: none (the test split).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_split: Option<f64>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            spec: "builtin".into(),
            limit: None,
            shots: None,
            test_limit: None,
            threads: 0,
            memory: None,
            val_split: None,
        }
    }
}

impl DataConfig {
    /// The dataset's folder, when its spec names one (and parses).
    pub fn dataset_dir(&self) -> Option<std::path::PathBuf> {
        self.spec
            .parse::<DatasetSpec>()
            .ok()
            .and_then(|s| s.dir().map(std::path::Path::to_path_buf))
    }

    /// Loads, subsets and validates the dataset.
    ///
    /// # Errors
    /// An invalid spec, unreadable files, a subset that cannot be drawn, or an empty split.
    pub fn load(&self, seed: u64) -> Result<LoadedDataset, TrainError> {
        require_positive(&[
            ("limit", self.limit.unwrap_or(1)),
            ("shots", self.shots.unwrap_or(1)),
            ("test_limit", self.test_limit.unwrap_or(1)),
        ])?;
        if self.threads > crate::data::batcher::MAX_THREADS {
            return Err(crate::data::batcher::BatcherError::TooManyThreads(self.threads).into());
        }
        let spec: DatasetSpec = self.spec.parse()?;
        let mut data = spec.load_within(self.memory.unwrap_or(crate::data::DEFAULT_DATA_MEMORY))?;
        if let Some(k) = self.shots {
            data.train = shots(&data.train, k, seed)?;
        }
        if let Some(n) = self.limit {
            data.train = limit(&data.train, n, seed);
        }
        if let Some(fraction) = self.val_split {
            let (rest, held_out) = crate::data::holdout(&data.train, fraction)?;
            (data.mean, data.std) = crate::data::channel_mean_std(&rest);
            (data.train, data.test) = (rest, held_out);
        }
        if let Some(n) = self.test_limit {
            data.test = limit(&data.test, n, seed);
        }
        validate(&data.train)?;
        validate(&data.test)?;
        Ok(data)
    }
}

/// The table settings of [`super::applies`] that an optimiser configuration sets
/// explicitly (a value other than the default that only some optimisers use).
pub fn explicit_settings(optimizer: &crate::train::OptimizerConfig) -> &'static [&'static str] {
    if optimizer.nesterov {
        &["--nesterov"]
    } else {
        &[]
    }
}

/// Checks counts that must be at least 1 (epochs, batch size, ...).
///
/// # Errors
/// [`TrainError::Config`] naming the first field that is 0.
pub fn require_positive(fields: &[(&str, usize)]) -> Result<(), TrainError> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) => Err(TrainError::Config(format!(
            "{name} = 0: expected at least 1"
        ))),
        None => Ok(()),
    }
}

/// A shuffling loader of `views` augmented views per sample.
///
/// # Errors
/// An invalid augmentation or batch size, or a batch size larger than the training set.
pub fn train_loader(
    data: &LoadedDataset,
    augment: &AugmentConfig,
    views: usize,
    batch_size: usize,
    seed: u64,
    threads: usize,
) -> Result<EpochLoader, TrainError> {
    if batch_size == 0 {
        return Err(TrainError::Config(
            "batch size 0: expected at least 1".into(),
        ));
    }
    check_batch(batch_size, data)?;
    let transform = streamed_augment(augment, &data.train).build()?;
    let batcher = MultiViewBatcher::new(transform, views, &data.mean, &data.std, seed, threads)?;
    Ok(EpochLoader::new(
        batcher,
        Arc::new(data.train.clone()),
        batch_size,
        true,
    )?)
}

/// The augmentation of a streamed split: one without a size of its own crops (or resizes)
/// to the split's size, since its images come at their original sizes.
pub fn streamed_augment(
    augment: &AugmentConfig,
    train: &crate::data::ImageDataset,
) -> AugmentConfig {
    let mut out = augment.clone();
    if train.is_streamed() && out.size.is_none() {
        out.size = Some(train.height);
    }
    out
}

/// An in-order, un-augmented loader over a split (for features and evaluation).
///
/// # Errors
/// Batcher errors.
pub fn eval_loader(
    data: &LoadedDataset,
    split: &crate::data::ImageDataset,
    batch_size: usize,
    threads: usize,
) -> Result<EpochLoader, TrainError> {
    let transform = AugmentConfig::new(crate::augment::Augment::None).build()?;
    let batcher = MultiViewBatcher::new(transform, 1, &data.mean, &data.std, 0, threads)?;
    Ok(
        EpochLoader::new(batcher, Arc::new(split.clone()), batch_size.max(1), false)?
            .with_shuffle(false),
    )
}

/// The images of a batch as a tensor.
///
/// # Shapes
/// - output: `[views * batch, C, H, W]`, view-major (row `v * batch + i`).
pub fn images(batch: &Batch, device: &Device) -> Tensor<4> {
    Tensor::<4>::from_data(TensorData::new(batch.images.clone(), batch.shape()), device)
}

/// The labels of a batch repeated for every view.
///
/// # Shapes
/// - output: `[views * batch]`.
pub fn labels_per_view(batch: &Batch, device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = (0..batch.views)
        .flat_map(|_| batch.labels.iter().map(|&l| l as i64))
        .collect();
    let n = data.len();
    Tensor::<1, Int>::from_data(TensorData::new(data, [n]), device)
}
/// Checks that a batch fits in the training set (batches drop the last partial one).
///
/// # Errors
/// [`TrainError::Config`] naming both sizes.
pub fn check_batch(batch_size: usize, data: &crate::data::LoadedDataset) -> Result<(), TrainError> {
    if batch_size > data.train.len() {
        return Err(TrainError::Config(format!(
            "batch size {batch_size} is larger than the training set ({} samples of {})",
            data.train.len(),
            data.name
        )));
    }
    Ok(())
}
