//! Shared by the benches: command-line flags and the canonical model.
#![allow(dead_code)]

use vaekit::config::ExperimentConfig;

/// The value after `--name` on the command line, if any.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A numeric flag, or `default`.
pub fn num_arg(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The canonical MLP VAE of `../shared/bench/torch_vae_ref.py`:
/// 784-400-20, ReLU, Bernoulli decoder, Adam 1e-3.
pub fn canonical() -> ExperimentConfig {
    canonical_with(&[])
}

/// [`canonical`] with `key=value` overrides on top (validated as
/// `--set` is: a bad value is a clear error, not a silent default).
pub fn canonical_with(overrides: &[String]) -> ExperimentConfig {
    let mut all: Vec<String> = [
        "model.hidden=[400]",
        "model.latent_dim=20",
        "model.activation=\"relu\"",
    ]
    .map(String::from)
    .to_vec();
    all.extend_from_slice(overrides);
    ExperimentConfig::load(None, &all).unwrap_or_else(|e| panic!("{e}"))
}
