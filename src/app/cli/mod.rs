//! The `vaekit` command line, one module per command: each holds the
//! command's arguments (a clap `Args` struct) and its `run`. The binary
//! (`src/bin/vaekit.rs`) only lists the commands and dispatches to them;
//! the option groups several commands share are in [`options`], so that a
//! flag such as `--device` parses the same everywhere, study binaries included.

pub mod config;
pub mod eval;
pub mod export;
pub mod judge;
pub mod metrics;
pub mod options;
pub mod plot;
pub mod report;
pub mod sample;
pub mod sweep;
pub mod train;

pub use config::ConfigCmdArgs;
pub use eval::EvalArgs;
pub use export::ExportArgs;
pub use judge::JudgeArgs;
pub use metrics::MetricsArgs;
pub use plot::PlotArgs;
pub use report::ReportArgs;
pub use sample::SampleArgs;
pub use sweep::SweepArgs;
pub use train::TrainArgs;
