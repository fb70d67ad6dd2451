//! A loaded dataset (both splits plus normalisation statistics) and its one-line
//! JSON summary.

use serde::{Deserialize, Serialize};

use super::dataset::ImageDataset;

/// Both splits of a dataset, ready for training, as returned by
/// [`DatasetSpec::load`](super::DatasetSpec::load).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedDataset {
    /// The canonical spec string (`DatasetSpec`'s `Display`), so parsing `name`
    /// reloads the same data.
    pub name: String,
    /// Training split.
    pub train: ImageDataset,
    /// Test split (same shape and class names as `train`).
    pub test: ImageDataset,
    /// Per-channel mean in `[0, 1]` units, for input normalisation.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation in `[0, 1]` units (never 0).
    pub std: Vec<f32>,
    /// Number of undecodable images skipped while loading (image folders with
    /// `skip_bad=true`; 0 otherwise).
    pub skipped: usize,
}

impl LoadedDataset {
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.train.num_classes()
    }

    /// Image shape `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.train.channels, self.train.height, self.train.width]
    }

    /// A serialisable summary (no pixels).
    pub fn summary(&self) -> DataSummary {
        DataSummary {
            name: self.name.clone(),
            train_count: self.train.len(),
            test_count: self.test.len(),
            num_classes: self.num_classes(),
            shape: self.shape(),
            class_names: self.train.class_names.clone(),
            mean: self.mean.clone(),
            std: self.std.clone(),
            skipped: self.skipped,
        }
    }
}

/// What `supcon data --data SPEC` prints: a dataset's vital statistics.
///
/// Its `Display` is one line of JSON with the fields in declaration order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// The canonical spec string.
    pub name: String,
    /// Number of training images.
    pub train_count: usize,
    /// Number of test images.
    pub test_count: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Image shape `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Class names, by label.
    pub class_names: Vec<String>,
    /// Per-channel mean, `[0, 1]` units.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation, `[0, 1]` units.
    pub std: Vec<f32>,
    /// Undecodable images skipped while loading (0 when a recorded summary lacks it).
    #[serde(default)]
    pub skipped: usize,
}

impl DataSummary {
    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for DataSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}
