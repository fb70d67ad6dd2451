//! Training stages: SupCon/SimCLR pre-training, the linear probe, the cross-entropy
//! baseline, schedules, optimisers and checkpoints.
//!
//! Every stage writes a run directory (see [`RunDir`]): `config.json` (complete and
//! reloadable), `data.json` (the data's shape, classes and normalisation, for inference),
//! `metrics.jsonl`, `checkpoints/`, the final weights and `report.json`.

pub mod applies;
pub mod checkpoint;
pub mod chunked;
pub mod data_drift;
pub mod distributed;
mod error;
pub mod features;
pub mod finetune;
pub mod init;
pub mod interrupt;
pub mod linear;
pub mod memory_bank;
pub mod metrics;
pub mod optim;
pub mod params;
pub mod pretrain;
mod progress;
pub mod run_dir;
pub mod schedule;
pub mod setup;
pub mod supervised;

pub use error::TrainError;
pub use finetune::{FinetuneConfig, finetune, resume_finetune};
pub use linear::{LinearConfig, LinearReport, linear_probe, resume_linear};
pub use metrics::ClassificationMetrics;
pub use optim::{OptimizerConfig, OptimizerKind};
pub use pretrain::{
    LossImpl, Method, PretrainConfig, PretrainReport, RunOptions, pretrain, resume_pretrain,
};
pub use progress::Progress;
pub use run_dir::{MetricsLog, RunDir, RunDirError};
pub use schedule::{Decay, ScheduleConfig};
pub use setup::DataConfig;
pub use supervised::{
    SupervisedConfig, SupervisedReport, resume_supervised, train_supervised, train_supervised_model,
};
