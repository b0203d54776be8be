//! `[data]`: where the examples come from.

use serde::{Deserialize, Serialize};

/// Where the images come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `synthetic`, `idx:DIR` (MNIST-style IDX files, gzip or raw),
    /// `amat:DIR` (statically binarized MNIST `.amat` files) or `cifar:DIR`
    /// (CIFAR-10's binary batches, 32×32×3).
    pub spec: String,
    /// Fraction of the training set held out for validation (carved with the
    /// run's seed). Ignored for `amat:` data, which ships its own split.
    pub val_fraction: f64,
    /// Use at most this many training images (0 = all); handy for quick runs.
    pub limit: usize,
    /// Number of synthetic training images (the test set is a tenth of it).
    pub synthetic_size: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            spec: "synthetic".into(),
            val_fraction: 0.1,
            limit: 0,
            synthetic_size: 20_000,
        }
    }
}

impl DataConfig {
    /// The data specs [`super::load`] knows: a name, or a prefix before a folder.
    pub const SPECS: &'static str = "`synthetic`, `idx:DIR`, `amat:DIR` or `cifar:DIR`";

    /// Every invalid value, each naming its key.
    pub fn problems(&self, errs: &mut Vec<String>) {
        let d = self;
        if !(d.spec == "synthetic"
            || d.spec.starts_with("idx:")
            || d.spec.starts_with("amat:")
            || d.spec.starts_with("cifar:"))
        {
            errs.push(format!(
                "data.spec = {:?}: expected {}",
                d.spec,
                Self::SPECS
            ));
        } else if d.spec.ends_with(':') {
            errs.push(format!(
                "data.spec = {:?}: name the folder after the colon, e.g. {}/path/to/data",
                d.spec, d.spec
            ));
        }
        if !(0.0..1.0).contains(&d.val_fraction) {
            errs.push(format!(
                "data.val_fraction = {}: must be in [0, 1)",
                d.val_fraction
            ));
        }
        if d.synthetic_size < 10 {
            errs.push(format!(
                "data.synthetic_size = {}: must be at least 10",
                d.synthetic_size
            ));
        }
    }
}
