//! # vaekit
//!
//! A toolkit for research on **posterior collapse** in variational
//! autoencoders, built on [Burn](https://burn.dev).
//!
//! The crate is six layers; each imports only the ones below it (a test,
//! `tests/layering.rs`, fails otherwise; `docs/architecture.md` draws them):
//!
//! | layer | modules | what |
//! | --- | --- | --- |
//! | 5 | [`app`] | config and overrides, run directories, `eval`, sweeps, studies, reports |
//! | 4 | [`train`] | the training loop and its pieces, β(t), checkpoints, `metrics.jsonl` |
//! | 3 | [`metrics`] | one registry of metrics: ELBO terms, IWAE and ESS, collapse statistics |
//! | 2 | [`models`] | the model interface, VAE, mixture priors, VQ-VAE, each kind's config |
//! | 1 | [`data`] | datasets of any kind (images, token sequences), readers, batching |
//! | 0 | [`core`] | batches and posteriors on a device, objective terms, errors, files, rng |
//!
//! ```no_run
//! use vaekit::config::ExperimentConfig;
//! use vaekit::{device, run};
//!
//! # fn main() -> Result<(), vaekit::Error> {
//! // The defaults: a Bernoulli VAE on the built-in synthetic shapes.
//! let cfg = ExperimentConfig::load(None, &["model.latent_dim=8".into(), "train.epochs=2".into()])?;
//! let dev = device::resolve(cfg.device)?;
//! let dir = run::make_run_dir(&cfg, Some(std::path::Path::new("runs/example")))?;
//! let summary = run::train(&cfg, &dir, &dev, None)?;
//! println!("test ELBO {:.2}", summary.test.float("elbo").unwrap_or(f64::NAN));
//! # Ok(()) }
//! ```

pub mod app;
pub mod core;
pub mod data;
pub mod metrics;
pub mod models;
pub mod train;

// Short paths for users of the library (the crate itself uses the full ones).
pub use app::{
    config, evaluate, export, grad_snr, papers, report, run, sample, score, slurm, study, sweep,
};
pub use core::{device, error, fsutil, host, objective, rng};
pub use error::{Error, Result};
