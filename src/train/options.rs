//! Run-time options of a training command that are not part of the experiment: how
//! verbose, and where a resumed run continues.

use serde::Serialize;

use super::TrainError;
use super::run_dir::RunDir;
use crate::device::DeviceChoice;

/// Run-time options that are not part of the experiment (where, how verbose).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Hide progress bars.
    pub quiet: bool,
    /// Resume on this device instead of the one in the run's `config.json` (a run whose
    /// GPU went away continues elsewhere); the run's `config.json` is updated to say so.
    /// A data-parallel pre-training run continues on this one device. Ignored by new runs.
    pub resume_device: Option<DeviceChoice>,
}

impl RunOptions {
    /// Moves a resumed run to [`Self::resume_device`] when one is set: `set` writes the
    /// device into `config`, which is saved again as the run's `config.json`.
    ///
    /// # Errors
    /// Writing `config.json`.
    pub(crate) fn apply_resume_device<C: Serialize>(
        &self,
        run: &RunDir,
        config: &mut C,
        set: impl FnOnce(&mut C, DeviceChoice),
    ) -> Result<(), TrainError> {
        if let Some(device) = self.resume_device {
            set(config, device);
            run.write_json("config.json", config)?;
        }
        Ok(())
    }
}
