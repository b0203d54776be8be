//! Layer 3, metrics: one registry ([`registry`]) of everything vaekit
//! measures on a model — the ELBO and its terms, the collapse statistics,
//! mixture and codebook usage, the importance-weighted bound and its
//! effective sample size — and the passes that compute their inputs
//! ([`elbo`], [`iwae`], [`fast_mlp`], [`held_out`]).
//!
//! A new metric is one file here plus one line in [`registry::all`].

pub mod alarm;
pub mod collapse;
pub mod config;
pub mod elbo;
pub mod ess;
pub mod fast_mlp;
pub mod grad_noise;
pub mod held_out;
pub mod iwae;
pub mod posterior_mean;
pub mod record;
pub mod registry;
pub mod samples;
pub mod usage;

pub use record::{Record, Value};
pub use registry::Metric;
