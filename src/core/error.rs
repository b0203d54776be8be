//! The library's error type. Every variant says what went wrong *and* names
//! the file or key involved, so the CLI can print it as-is without a backtrace.

use std::path::PathBuf;

/// Errors a user can cause (bad files, bad configs) or meet (a missing GPU).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data or checkpoint file that could not be read or is malformed.
    #[error("{path}: {what}")]
    BadFile { path: PathBuf, what: String },

    /// An I/O failure on a path we chose (run directory, metrics file...).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// One or more invalid configuration values; each line names its key.
    #[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<String>),

    /// The requested device cannot be used on this machine.
    #[error("{0}")]
    Device(String),

    /// Weights that do not fit the model they are loaded into (saved with
    /// another architecture or config), or that could not be collected;
    /// the caller adds the file.
    #[error("{0}")]
    Weights(String),

    /// Training produced a non-finite value.
    #[error("{0}")]
    NonFinite(String),

    /// Anything else that is the user's to fix (a bad argument, a missing run).
    #[error("{0}")]
    Usage(String),

    /// Training stopped at a step boundary on a signal (SIGTERM, SIGUSR1:
    /// a cluster's preemption or time-limit warning) after writing a
    /// checkpoint; `vaekit train --resume RUN` continues from it.
    #[error("stopped by {signal} at step {step}; checkpoint {} written, resume with `vaekit train --resume RUN`", checkpoint.display())]
    Stopped {
        signal: String,
        step: usize,
        checkpoint: PathBuf,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn bad_file(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
