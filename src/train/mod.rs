//! Training stages: SupCon/SimCLR pre-training, the linear probe, the cross-entropy
//! baseline, schedules, optimisers and checkpoints.
//!
//! Every stage writes a run directory (see [`RunDir`]): `config.json` (complete and
//! reloadable), `data.json` (the data's shape, classes and normalisation, for inference),
//! `metrics.jsonl`, `checkpoints/`, the final weights and `report.json`.

pub mod applies;
pub mod chance;
pub mod checkpoint;
pub mod chunked;
pub mod collective;
pub mod data_drift;
pub mod distributed;
mod error;
pub mod features;
pub mod finetune;
pub mod init;
pub mod interrupt;
pub mod json_files;
pub mod linear;
pub mod manifest;
pub mod memory_bank;
pub mod metrics;
pub mod metrics_log;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod optim;
pub mod options;
pub mod params;
pub mod pretrain;
pub mod pretrain_config;
pub mod pretrain_model;
mod progress;
pub mod ranked;
pub mod run_dir;
pub mod schedule;
pub mod setup;
pub mod supervised;
pub mod trainer;

pub use error::TrainError;
pub use finetune::{FinetuneConfig, finetune, resume_finetune};
pub use linear::{LinearConfig, LinearReport, linear_probe, resume_linear};
pub use manifest::{MANIFEST, MadeFrom, Manifest, RunKind, read_manifest};
pub use metrics::ClassificationMetrics;
pub use metrics_log::{MetricsLog, Record};
pub use optim::{OptimizerConfig, OptimizerKind};
pub use options::RunOptions;
pub use pretrain::{LossImpl, Method, PretrainConfig, PretrainReport, pretrain, resume_pretrain};
pub use progress::Progress;
pub use run_dir::{RunDir, RunDirError};
pub use schedule::{Decay, ScheduleConfig};
pub use setup::DataConfig;
pub use supervised::{
    SupervisedConfig, SupervisedReport, resume_supervised, train_supervised, train_supervised_model,
};
