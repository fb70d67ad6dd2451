//! Datasets: real on-disk formats (CIFAR binary, IDX, image folders), the embedded
//! default, and the multi-view batcher.
//!
//! Start from a spec string: `"cifar10:DIR".parse::<DatasetSpec>()?.load()?` gives a
//! [`LoadedDataset`] (see [`spec`] for the syntax of every format).

pub mod batcher;
pub mod builtin;
pub mod cache;
pub mod cifar;
mod complete;
pub mod convert;
pub mod dataset;
pub mod decode;
mod error;
pub mod folder;
mod fsio;
pub mod idx;
pub mod image;
pub mod loaded;
pub mod seeded;
pub mod shards;
pub mod spec;
pub mod stats;
pub mod streamed;
pub mod subset;
pub mod transform;

pub use batcher::{Batch, BatcherError, EpochIter, EpochLoader, MultiViewBatcher};
pub use builtin::load_builtin;
pub use cache::{CacheMode, DEFAULT_DATA_MEMORY, parse_memory};
pub use cifar::{Cifar100Labels, load_cifar10, load_cifar100, parse_cifar10, parse_cifar100};
pub use convert::{conform_pixels, convert_dataset, convert_split, image_from_u8};
pub use dataset::ImageDataset;
pub use error::DataError;
pub use folder::{FolderData, FolderOptions, decode_image_bytes, load_folder, load_folder_within};
pub use idx::{IdxNames, IdxOptions, load_idx};
pub use image::Image;
pub use loaded::{DataSummary, LoadedDataset};
pub use spec::DatasetSpec;
pub use stats::channel_mean_std;
pub use streamed::{SampleError, StreamedImages};
pub use subset::{class_counts, holdout, limit, shots, validate};
pub use transform::{Identity, Transform};
