//! # vaekit
//!
//! A toolkit for research on **posterior collapse** in variational
//! autoencoders, built on [Burn](https://burn.dev).
//!
//! Data flows one way: a dataset ([`data`]) gives batches; a model
//! ([`models`]) turns them into per-example, per-dimension objective terms
//! ([`objective`]); one trainer ([`train`]) weighs them with β(t)
//! ([`schedule`]) and free bits, steps the optimizer, and writes a run
//! directory (config, `metrics.jsonl`, checkpoints, `summary.json`).
//!
//! ```no_run
//! use vaekit::config::ExperimentConfig;
//! use vaekit::{device, train};
//!
//! # fn main() -> Result<(), vaekit::Error> {
//! // The defaults: a Bernoulli VAE on the built-in synthetic shapes.
//! let cfg = ExperimentConfig::load(None, &["model.latent_dim=8".into(), "train.epochs=2".into()])?;
//! let dev = device::resolve(cfg.device)?;
//! let run = train::make_run_dir(&cfg, Some(std::path::Path::new("runs/example")))?;
//! let summary = train::train(&cfg, &run, &dev, None)?;
//! println!("test ELBO {:.2}, KL per dim {:?}", summary.elbo, summary.kl_per_dim);
//! # Ok(()) }
//! ```

pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod export;
pub mod fsutil;
pub mod host;
pub mod models;
pub mod monitor;
pub mod nn;
pub mod objective;
pub mod report;
pub mod rng;
pub mod run;
pub mod sample;
pub mod schedule;
pub mod study;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
