//! Training stages: SupCon/SimCLR pre-training, the linear probe, the cross-entropy
//! baseline, schedules, optimisers and checkpoints.

pub mod checkpoint;
pub mod optim;
pub mod run_dir;
pub mod schedule;

pub use optim::{OptimizerConfig, OptimizerKind};
pub use run_dir::{MetricsLog, RunDir, RunDirError};
pub use schedule::{Decay, ScheduleConfig};
