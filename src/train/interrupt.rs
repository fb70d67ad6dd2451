//! Graceful interruption: a SIGINT/SIGTERM (Ctrl-C) handler that asks the training loops to
//! stop at the next step boundary.
//!
//! [`install`] registers the handler (the `supcon` binary does so at start-up). The first
//! signal only sets a flag: every training loop checks [`requested`] after each optimiser
//! step, writes a checkpoint at exactly that point and returns
//! [`TrainError::Interrupted`], from which `--resume`
//! continues bit for bit. A second signal exits at once with status 130 (a checkpoint being
//! written then stays incomplete and is never loaded; the previous one is kept).
//!
//! Without [`install`] (a library user), signals keep their default action and the flag is
//! only set by [`request`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::TrainError;
use super::checkpoint::LoopState;

/// The exit status of a process stopped by SIGINT (128 + 2), by convention.
pub const EXIT_CODE: u8 = 130;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Errors installing the handler.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Ctrl-C handler: {0}")]
pub struct InterruptError(String);

/// Installs the SIGINT/SIGTERM/SIGHUP handler (idempotent).
///
/// # Errors
/// When another handler was already installed by other code, or the OS refuses.
pub fn install() -> Result<(), InterruptError> {
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            // Not eprintln!: after a hang-up (SIGHUP) stderr may be gone, and a panic here
            // would kill the handler thread.
            let _ = writeln!(std::io::stderr(), "\ninterrupted again: exiting now");
            std::process::exit(i32::from(EXIT_CODE));
        }
        let _ = writeln!(
            std::io::stderr(),
            "\ninterrupt: stopping after the current step and saving a checkpoint \
             (press Ctrl-C again to quit at once)"
        );
    })
    .map_err(|e| InterruptError(e.to_string()))?;
    *installed = true;
    Ok(())
}

/// Whether a stop was requested (a signal arrived, or [`request`] was called).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Requests a stop, as the first Ctrl-C does.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Withdraws a pending request (for instance before starting another stage).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// The error a loop returns after saving `checkpoint` at `state` on a stop request;
/// `command` is the CLI subcommand whose `--resume run` continues it.
pub(crate) fn stopped(
    state: &LoopState,
    checkpoint: PathBuf,
    command: &str,
    run: &Path,
) -> TrainError {
    TrainError::Interrupted {
        epoch: state.epoch + 1,
        step: state.step,
        checkpoint,
        resume: format!("supcon {command} --resume {}", run.display()),
    }
}
