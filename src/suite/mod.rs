//! `supcon run`, the main job: SupCon pre-training, a linear probe on its encoder, and the
//! cross-entropy baseline with the same encoder and budget, in one output directory
//! (`supcon/`, `linear/`, `ce/`), then a side-by-side summary (`summary.json`).
//!
//! The plan of the three stages is saved first as `run.json`, so that [`resume_suite`]
//! continues the same stages: a finished stage is kept (its `report.json`), a started
//! one resumes from its checkpoint, the others start. It sits above training and
//! evaluation: `data -> augment -> model -> loss -> train -> infer/eval -> suite`.

mod error;
mod plan;
mod run;

pub use error::SuiteError;
pub use plan::{SuitePlan, SuiteSettings};
pub use run::{SuiteResult, SuiteSummary, resume_suite, run_suite};
