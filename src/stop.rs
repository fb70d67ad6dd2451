//! The process-wide stop request (Ctrl-C, SIGTERM, SIGHUP through
//! [`crate::train::interrupt`], or [`request`]). Every long phase polls [`requested`] at
//! a fine grain and gives up with a [`Stopped`] error, so that a stop takes effect within
//! about a second wherever the process is: training steps (which checkpoint first),
//! feature caching, folder decoding, corruption evaluation, embedding.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// A long phase that gave up on a stop request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stopped on request during {phase}")]
pub struct Stopped {
    /// What was under way, in words.
    pub phase: String,
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Requests a stop; returns whether one was already requested.
pub fn request() -> bool {
    REQUESTED.swap(true, Ordering::SeqCst)
}

/// Withdraws a pending request.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// `Err(Stopped)` naming `phase` when a stop was requested.
///
/// # Errors
/// [`Stopped`] after a request.
pub fn check(phase: &str) -> Result<(), Stopped> {
    if requested() {
        Err(Stopped {
            phase: phase.to_string(),
        })
    } else {
        Ok(())
    }
}
