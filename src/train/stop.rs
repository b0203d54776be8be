//! Stopping on a signal without losing anything: SIGTERM (a cluster's
//! preemption, `scancel`, `scontrol requeue`) and SIGUSR1 (SLURM's
//! `--signal=USR1@T` warning before a time limit) set a flag; the trainer
//! reads it at the next step boundary, writes a checkpoint there (into a
//! temporary folder renamed into place, so a second signal or a SIGKILL
//! during the write leaves the previous checkpoint whole) and returns
//! [`Error::Stopped`](crate::core::error::Error::Stopped). The resumed run
//! then finishes with the numbers of a run that was never interrupted.
//!
//! The handlers are installed by [`install`] — the `vaekit train` command
//! does; a library user who wants the default behaviour (die on SIGTERM)
//! simply does not call it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The signal that asked to stop (0: none).
static REQUESTED: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

fn flag() -> &'static Arc<AtomicUsize> {
    REQUESTED.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Catch SIGTERM and SIGUSR1 (Unix); idempotent.
pub fn install() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGTERM, SIGUSR1};
        static DONE: std::sync::Once = std::sync::Once::new();
        let mut result = Ok(());
        DONE.call_once(|| {
            for sig in [SIGTERM, SIGUSR1] {
                if let Err(e) =
                    signal_hook::flag::register_usize(sig, Arc::clone(flag()), sig as usize)
                {
                    result = Err(e);
                }
            }
        });
        result
    }
    #[cfg(not(unix))]
    Ok(())
}

/// The name of the signal that asked to stop, if one did.
pub fn requested() -> Option<&'static str> {
    match flag().load(Ordering::SeqCst) {
        0 => None,
        #[cfg(unix)]
        s if s == signal_hook::consts::SIGUSR1 as usize => Some("SIGUSR1"),
        _ => Some("SIGTERM"),
    }
}

/// Ask to stop as a signal would (tests, and embedders with their own
/// signal handling).
pub fn request(signal_number: usize) {
    flag().store(signal_number, Ordering::SeqCst);
}
