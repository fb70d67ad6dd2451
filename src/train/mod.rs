//! Training stages: SupCon/SimCLR pre-training, the linear probe, the cross-entropy
//! baseline, schedules, optimisers and checkpoints.
//!
//! Every stage writes a run directory (see [`RunDir`]): `config.json` (complete and
//! reloadable), `metrics.jsonl`, `checkpoints/`, the final weights and `report.json`.

pub mod checkpoint;
mod error;
pub mod features;
pub mod linear;
pub mod metrics;
pub mod optim;
pub mod pretrain;
mod progress;
pub mod run_dir;
pub mod schedule;
pub mod setup;
pub mod supervised;

pub use error::TrainError;
pub use linear::{LinearConfig, LinearReport, linear_probe};
pub use metrics::ClassificationMetrics;
pub use optim::{OptimizerConfig, OptimizerKind};
pub use pretrain::{
    Method, PretrainConfig, PretrainReport, RunOptions, pretrain, resume_pretrain,
};
pub use progress::Progress;
pub use run_dir::{MetricsLog, RunDir, RunDirError};
pub use schedule::{Decay, ScheduleConfig};
pub use setup::DataConfig;
pub use supervised::{SupervisedConfig, SupervisedReport, resume_supervised, train_supervised};
