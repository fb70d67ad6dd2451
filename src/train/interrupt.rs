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
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::Signals;

use super::TrainError;
use super::checkpoint::LoopState;

/// The exit status after a stop requested without a signal ([`request`]): that of
/// SIGINT (128 + 2), by convention.
pub const EXIT_CODE: u8 = 130;

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

/// What the first signal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Request a stop ([`requested`]): training loops checkpoint and return
    /// [`TrainError::Interrupted`], long phases give up within about a second; a second
    /// signal exits at once.
    Graceful,
    /// Exit at once (commands with nothing to save: `eval`, `predict`, `embed`, ...).
    Immediate,
}

/// Writes `message` to stderr from a helper thread (another thread may hold stderr's
/// lock, in which case the message is lost) and exits the process at once with `code`,
/// without running exit handlers or waiting for any lock.
fn exit_now(message: &str, code: u8) -> ! {
    let message = message.to_owned();
    let _ = std::thread::Builder::new().spawn(move || {
        let _ = std::io::stderr().write_all(message.as_bytes());
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    signal_hook::low_level::exit(i32::from(code))
}

/// Installs the SIGINT/SIGTERM/SIGHUP handler (idempotent) in [`Mode::Graceful`]: a
/// thread that waits for them.
///
/// # Errors
/// When the OS refuses to register the handler.
pub fn install() -> Result<(), InterruptError> {
    install_mode(Mode::Graceful)
}

/// Installs the SIGINT/SIGTERM/SIGHUP handler (idempotent) in `mode`. Either way the
/// process ends with the same status for the same signal: 128 + its number.
///
/// # Errors
/// When the OS refuses to register the handler.
pub fn install_mode(mode: Mode) -> Result<(), InterruptError> {
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    // SIGXFSZ (a write past `ulimit -f`) would kill the process without a word; with a
    // handler of its own the write fails with EFBIG instead, and the error names the file.
    signal_hook::flag::register(SIGXFSZ, std::sync::Arc::default())
        .map_err(|e| InterruptError(e.to_string()))?;
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|e| InterruptError(e.to_string()))?;
    std::thread::Builder::new()
        .name("supcon-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
                if mode == Mode::Immediate {
                    exit_now("\ninterrupted: exiting now\n", exit_code());
                }
                // Not eprintln!: after a hang-up (SIGHUP) stderr may be gone, and a panic
                // here would end the handler thread.
                if crate::stop::request() {
                    exit_now("\ninterrupted again: exiting now\n", exit_code());
                }
                let _ = writeln!(
                    std::io::stderr(),
                    "\ninterrupt: stopping after the current step and saving a checkpoint, \
                     or within a second in other phases (press Ctrl-C again to quit at once)"
                );
            }
        })
        .map_err(|e| InterruptError(e.to_string()))?;
    *installed = true;
    Ok(())
}

/// Whether a stop was requested (a signal arrived, or [`request`] was called).
pub fn requested() -> bool {
    crate::stop::requested()
}

/// Requests a stop, as the first Ctrl-C does.
pub fn request() {
    crate::stop::request();
}

/// Withdraws a pending request (for instance before starting another stage).
pub fn clear() {
    crate::stop::clear();
}

/// `err`, or — when it is a long phase giving up on a stop request ([`TrainError::Stopped`],
/// a data loader's stop) after the run directory `run` was written — the
/// [`TrainError::StoppedResumable`] that says how to continue the run. Whatever the run
/// holds (its configuration, any checkpoint) is left as it is: `--resume` continues from
/// its newest checkpoint, or starts its training over when it has none.
pub(crate) fn resumable(err: TrainError, run: &Path) -> TrainError {
    let stopped = match err {
        TrainError::Stopped(s) | TrainError::Data(crate::data::DataError::Stopped(s)) => s,
        other => return other,
    };
    TrainError::StoppedResumable {
        stopped,
        resume: super::run_dir::resume_command(run),
    }
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
