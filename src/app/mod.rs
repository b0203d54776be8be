//! Layer 5, the application: the experiment config with its overrides, run
//! directories (train, resume, open), `vaekit eval`, sampling, export,
//! sweeps, studies and reports, people's judgement of samples (`vaekit
//! judge`), and the commands of the command line ([`cli`]). The binary
//! (`src/bin/vaekit.rs`) and the study binaries call it; nothing in the
//! library imports it.

pub mod cli;
pub mod config;
pub mod evaluate;
pub mod export;
pub mod grad_snr;
pub mod judge;
pub mod papers;
pub mod report;
pub mod run;
pub mod sample;
pub mod score;
pub mod slurm;
pub mod study;
pub mod sweep;
