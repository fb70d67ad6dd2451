//! Graceful interruption: a SIGINT/SIGTERM/SIGHUP handler that asks the training loops to
//! stop at the next step boundary.
//!
//! [`install`] registers the handler (the `supcon` binary does so at start-up). The first
//! signal only sets a flag: every training loop checks [`requested`] after each optimiser
//! step, writes a checkpoint at exactly that point and returns
//! [`TrainError::Interrupted`], from which `--resume` continues bit for bit; the binary
//! then exits with [`exit_code`], 128 + the signal's number (130 for Ctrl-C, 143 for
//! SIGTERM, 129 for SIGHUP), as shells and job schedulers expect. A second signal exits at
//! once with that status (a checkpoint being written then stays incomplete and is never
//! loaded; the previous one is kept).
//!
//! Without [`install`] (a library user), signals keep their default action and the flag is
//! only set by [`request`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::TrainError;
use super::checkpoint::LoopState;

/// The exit status after a stop requested without a signal ([`request`]): that of
/// SIGINT (128 + 2), by convention.
pub const EXIT_CODE: u8 = 130;

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// The first signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Errors installing the handler.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Ctrl-C handler: {0}")]
pub struct InterruptError(String);

/// The exit status of a process stopped by `signal`: 128 + its number.
fn status_of(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(EXIT_CODE)
}

/// The exit status for a stopped run: 128 + the number of the signal that stopped it
/// (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), or [`EXIT_CODE`] when no signal did.
pub fn exit_code() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => EXIT_CODE,
        signal => status_of(signal),
    }
}

/// Installs the SIGINT/SIGTERM/SIGHUP handler (idempotent): a thread that waits for them.
///
/// # Errors
/// When the OS refuses to register the handler.
pub fn install() -> Result<(), InterruptError> {
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|e| InterruptError(e.to_string()))?;
    std::thread::Builder::new()
        .name("supcon-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
                // Not eprintln!: after a hang-up (SIGHUP) stderr may be gone, and a panic
                // here would end the handler thread.
                if REQUESTED.swap(true, Ordering::SeqCst) {
                    let _ = writeln!(std::io::stderr(), "\ninterrupted again: exiting now");
                    std::process::exit(i32::from(exit_code()));
                }
                let _ = writeln!(
                    std::io::stderr(),
                    "\ninterrupt: stopping after the current step and saving a checkpoint \
                     (press Ctrl-C again to quit at once)"
                );
            }
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
