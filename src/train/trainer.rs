//! The one training loop. Every stage (contrastive pre-training in all its variants,
//! cross-entropy and fine-tuning, the linear probe) implements [`Stage`]: how one batch
//! becomes a loss and gradients, and what else it keeps. [`train`] owns everything around
//! that and does it the same way for all of them:
//!
//! - resume: model, optimiser and the stage's own state from a checkpoint, the records of
//!   `metrics.jsonl` written after it dropped, and the epoch continued at the batch where it
//!   stopped (batches are a pure function of seed, epoch and index, so the loss curve equals
//!   an uninterrupted run's bit for bit);
//! - the LR schedule, per optimiser step;
//! - the NaN/Inf check, naming the last good checkpoint;
//! - the typed records of `metrics.jsonl` ([`Record`]);
//! - the progress bar (images/s, and the share of the time the step waited for data);
//! - a batch whose image cannot be read (a streamed file gone bad): a checkpoint before
//!   it and [`TrainError::DataFailed`] naming the file and the command that resumes;
//! - Ctrl-C: a mid-epoch checkpoint and [`TrainError::Interrupted`] naming the command
//!   that resumes;
//! - checkpoints every `checkpoint_every` epochs and after the last.
//!
//! Only a process that writes the run ([`RunDir::writes`]) writes files: the other ranks
//! of an MPI job run the same loop through a [follower](RunDir::follower) `RunDir`.
//!
//! The shape follows burn-train's split of a `TrainStep` (here [`Stage::step`]) from the
//! `Learner` that drives it; burn-train itself is not used because its checkpointer and
//! data loaders cannot resume mid-epoch bit for bit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};

use super::checkpoint::{self, LoopState};
use super::interrupt;
use super::metrics_log::{
    EpochRecord, MetricsLog, Record, StepRecord, WarningRecord, truncate_metrics,
};
use super::run_dir::RunDir;
use super::{Progress, ScheduleConfig, TrainError};
use crate::data::batcher::{Batch, BatcherError, EpochLoader};
use crate::loss::LossError;

/// What one training step computed.
pub struct StepOutput {
    /// Gradients of the total loss with respect to the trained module's parameters.
    pub grads: GradientsParams,
    /// The loss logged and averaged (the contrastive loss of a joint step).
    pub loss: f64,
    /// The joint classifier's cross-entropy, logged next to it.
    pub ce_loss: Option<f64>,
    /// Images (views) the step consumed, for throughput.
    pub images: usize,
}

/// One training stage, as [`train`] drives it.
pub trait Stage {
    /// The module the optimiser updates.
    type Model: Module;
    /// One batch as [`Self::step`] consumes it.
    type Batch;

    /// The `stage` of its `metrics.jsonl` records (`pretrain`, `ce`, `finetune`, `linear`).
    fn name(&self) -> &str;

    /// The subcommand whose `--resume` continues it (`pretrain`, `train-ce`, ...).
    fn command(&self) -> &str;

    /// The progress bar's label before `epoch/epochs`. Default: [`Self::name`].
    fn label(&self) -> String {
        self.name().to_string()
    }

    /// Whether every step gets a record in `metrics.jsonl` (the linear probe logs epochs
    /// only). Default: yes.
    fn logs_steps(&self) -> bool {
        true
    }

    /// The loss and gradients of `batch` at optimiser step `step` (0-based). A loss error
    /// that reports non-finite values is turned into [`TrainError::NonFinite`].
    ///
    /// # Errors
    /// Whatever the stage's forward pass or loss reports.
    fn step(
        &mut self,
        model: &Self::Model,
        batch: &Self::Batch,
        step: usize,
    ) -> Result<StepOutput, TrainError>;

    /// Called after the optimiser updated `model` with `batch`'s gradients (the memory
    /// bank and the momentum encoder).
    ///
    /// # Errors
    /// Whatever the stage reports.
    fn after_update(&mut self, model: &Self::Model, batch: &Self::Batch) -> Result<(), TrainError> {
        let _ = (model, batch);
        Ok(())
    }

    /// A warning about the run at the end of an epoch, printed and recorded in
    /// `metrics.jsonl`. Default: none.
    fn epoch_warning(&self, end: &EpochEnd) -> Option<String> {
        let _ = end;
        None
    }

    /// Whether to stop at a checkpoint after the step just taken. Default: a stop request
    /// of this process (Ctrl-C, SIGTERM). A stage of several processes (MPI ranks)
    /// answers what they agreed on in the step, so that every rank stops at the same one.
    fn stop_requested(&self) -> bool {
        interrupt::requested()
    }

    /// Writes the stage's own state into a checkpoint directory, before it is marked
    /// complete; the error names the file.
    ///
    /// # Errors
    /// I/O, as a message naming the file.
    fn save_extra(&self, dir: &Path) -> Result<(), String> {
        let _ = dir;
        Ok(())
    }

    /// Restores that state from a checkpoint directory on resume.
    ///
    /// # Errors
    /// A missing or unreadable file, named.
    fn load_extra(&mut self, dir: &Path) -> Result<(), TrainError> {
        let _ = dir;
        Ok(())
    }
}

/// Where the loop stands at the end of an epoch, for [`Stage::epoch_warning`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochEnd {
    /// Epochs complete, 1-based.
    pub epoch: usize,
    /// Optimiser steps taken in all.
    pub steps: usize,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: usize,
    /// The epoch's mean loss.
    pub loss: f64,
}

/// An epoch's remaining batches.
pub type Batches<'a, B> = Box<dyn Iterator<Item = Result<B, TrainError>> + 'a>;

/// Where a stage's batches come from: a pure function of (epoch, batch index), so that a
/// resumed epoch continues with the batches it had not done.
pub trait BatchSource {
    /// One batch.
    type Batch;

    /// Batches per epoch.
    fn steps_per_epoch(&self) -> usize;

    /// The batches of epoch `epoch` (0-based) from index `skip` on.
    fn batches(&self, epoch: usize, skip: usize) -> Batches<'_, Self::Batch>;
}

/// The multi-view loader of pre-training and cross-entropy training.
impl BatchSource for EpochLoader {
    type Batch = Batch;

    fn steps_per_epoch(&self) -> usize {
        self.num_batches()
    }

    fn batches(&self, epoch: usize, skip: usize) -> Batches<'_, Batch> {
        Box::new(
            self.iter_from(epoch as u64, skip)
                .map(|b| b.map_err(TrainError::from)),
        )
    }
}

/// The loop's own settings, taken from the stage's configuration.
#[derive(Clone, Debug)]
pub struct LoopSettings<'a> {
    /// Epochs in all.
    pub epochs: usize,
    /// The batch size the LR schedule scales with.
    pub batch_size: usize,
    /// The LR schedule.
    pub schedule: &'a ScheduleConfig,
    /// Checkpoint every this many epochs and after the last; `None`: only on Ctrl-C.
    pub checkpoint_every: Option<usize>,
    /// Hide progress bars.
    pub quiet: bool,
}

/// Where a finished loop stands.
pub struct Trained<M> {
    /// The trained module (on the training device, in training state).
    pub model: M,
    /// Epochs completed.
    pub epochs: usize,
    /// Mean loss of the last epoch.
    pub final_loss: f64,
    /// Images per second of the last epoch trained by this invocation (0 when none was).
    pub images_per_second: f64,
}

/// Trains `model` with `optim` on `data`'s batches for the epochs `settings` gives, starting
/// from the checkpoint `resume_from` when there is one (its model, optimiser and stage
/// state replace the given ones), logging into and checkpointing `run`. Without a run
/// directory (the few-shot probes of an evaluation) nothing is logged or checkpointed, and
/// stop requests are left to the caller.
///
/// # Errors
/// The stage's, batching, I/O, a diverging loss ([`TrainError::NonFinite`]) or a stop
/// request ([`TrainError::Interrupted`], after a checkpoint).
pub fn train<S: Stage, D: BatchSource<Batch = S::Batch>>(
    stage: &mut S,
    data: &D,
    model: S::Model,
    optim: ModuleOptimizer,
    run: Option<&RunDir>,
    resume_from: Option<PathBuf>,
    settings: &LoopSettings<'_>,
) -> Result<Trained<S::Model>, TrainError> {
    let mut model = model;
    let mut optim = optim;
    let mut at = LoopState::epoch_end(0, 0, f64::NAN);
    let mut last_checkpoint = None;
    if let (Some(run), Some(dir)) = (run, resume_from) {
        let (m, o, state) = checkpoint::load(&dir, model, optim)?;
        (model, optim) = (m, o);
        stage.load_extra(&dir)?;
        if run.writes() {
            truncate_metrics(&run.file("metrics.jsonl"), state.epoch, state.step)?;
        }
        at = state;
        last_checkpoint = Some(dir);
    }
    let mut metrics = run.map(RunDir::metrics).transpose()?;
    let steps_per_epoch = data.steps_per_epoch();
    let mut throughput = 0.0;
    while at.epoch < settings.epochs {
        let epoch = at.epoch;
        let epoch_started = Instant::now();
        let mut progress = Progress::new(
            &format!("{} {}/{}", stage.label(), epoch + 1, settings.epochs),
            steps_per_epoch,
            settings.quiet,
        );
        // A mid-epoch checkpoint continues with the batches it had not done.
        let (done, sum) = (at.batch, at.epoch_loss_sum);
        let (mut count, mut sum) = (done, sum);
        let mut batches = data.batches(epoch, done);
        loop {
            let asked = Instant::now();
            let Some(batch) = batches.next() else { break };
            let waited = asked.elapsed();
            let batch = match (batch, run) {
                (Ok(batch), _) => batch,
                (Err(TrainError::Batcher(e @ BatcherError::Sample { .. })), Some(run)) => {
                    drop(batches);
                    let dir = save(stage, run, &model, &optim, &at)?;
                    progress.finish();
                    return Err(TrainError::DataFailed {
                        reason: e.to_string(),
                        epoch: epoch + 1,
                        step: at.step,
                        checkpoint: dir,
                        resume: format!(
                            "supcon {} --resume {}",
                            stage.command(),
                            run.path().display()
                        ),
                    });
                }
                (Err(e), _) => return Err(e),
            };
            let step = at.step;
            let lr = settings.schedule.lr_at(
                step,
                steps_per_epoch,
                settings.epochs,
                settings.batch_size,
            );
            let diverged = |value: f64, checkpoint: Option<PathBuf>| TrainError::NonFinite {
                value,
                epoch: epoch + 1,
                step: step + 1,
                checkpoint,
            };
            let out = match stage.step(&model, &batch, step) {
                Ok(out) => out,
                Err(TrainError::Loss(
                    LossError::NonFiniteLoss { .. } | LossError::NonFiniteFeatures,
                )) => return Err(diverged(f64::NAN, last_checkpoint)),
                Err(e) => return Err(e),
            };
            if !out.loss.is_finite() {
                return Err(diverged(out.loss, last_checkpoint));
            }
            model = optim.step(lr, model, out.grads);
            stage.after_update(&model, &batch)?;
            if let Some(metrics) = metrics.as_mut().filter(|_| stage.logs_steps()) {
                log(
                    metrics,
                    Record::Step(StepRecord {
                        ce_loss: out.ce_loss,
                        epoch: epoch + 1,
                        loss: out.loss,
                        lr,
                        stage: stage.name().to_string(),
                        step: step + 1,
                    }),
                )?;
            }
            progress.step(out.images, out.loss, lr, waited);
            sum += out.loss;
            count += 1;
            at = LoopState::within_epoch(epoch, step + 1, at.loss, count, sum);
            if let Some(run) = run
                && stage.stop_requested()
            {
                let dir = save(stage, run, &model, &optim, &at)?;
                progress.finish();
                return Err(interrupt::stopped(&at, dir, stage.command(), run.path()));
            }
        }
        progress.finish();
        throughput = progress.images_per_second();
        let epoch_loss = sum / count.max(1) as f64;
        at = LoopState::epoch_end(epoch + 1, at.step, epoch_loss);
        let (Some(run), Some(metrics)) = (run, metrics.as_mut()) else {
            continue;
        };
        log(
            metrics,
            Record::Epoch(EpochRecord {
                epoch: at.epoch,
                epoch_loss,
                images_per_second: Some(throughput),
                seconds: Some(epoch_started.elapsed().as_secs_f64()),
                stage: stage.name().to_string(),
            }),
        )?;
        let end = EpochEnd {
            epoch: at.epoch,
            steps: at.step,
            steps_per_epoch,
            loss: epoch_loss,
        };
        if let Some(warning) = stage.epoch_warning(&end) {
            if run.writes() {
                eprintln!("warning: {warning}");
            }
            log(
                metrics,
                Record::Warning(WarningRecord {
                    epoch: at.epoch,
                    stage: stage.name().to_string(),
                    warning,
                }),
            )?;
        }
        if let Some(every) = settings.checkpoint_every
            && (at.epoch.is_multiple_of(every) || at.epoch == settings.epochs)
        {
            last_checkpoint = Some(save(stage, run, &model, &optim, &at)?);
        }
    }
    Ok(Trained {
        model,
        epochs: at.epoch,
        final_loss: at.loss,
        images_per_second: throughput,
    })
}

/// Appends `record` to `metrics.jsonl`.
///
/// # Errors
/// I/O, naming the file.
pub fn log(metrics: &mut MetricsLog, record: Record) -> Result<(), TrainError> {
    Ok(metrics.record(&record)?)
}

/// A checkpoint at `state`: model, optimiser, and the stage's own state.
fn save<S: Stage>(
    stage: &S,
    run: &RunDir,
    model: &S::Model,
    optim: &ModuleOptimizer,
    state: &LoopState,
) -> Result<PathBuf, TrainError> {
    Ok(checkpoint::save(run, model, optim, state, &|dir| {
        stage.save_extra(dir)
    })?)
}
