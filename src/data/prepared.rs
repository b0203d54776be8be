//! Data prepared for a likelihood: a Bernoulli decoder sees binarized pixels
//! — a fresh draw every training batch, one fixed draw for validation and
//! test — and a Gaussian one the intensities.

use super::{DataConfig, Splits, load};
use crate::core::error::Result;

/// The three splits, ready for the trainer and the evaluator.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub splits: Splits,
    /// Whether training batches get a fresh Bernoulli draw.
    pub dynamic_binarize: bool,
}

impl Prepared {
    /// Load the data `cfg` names with the run's seed; `binarize` when the
    /// model's likelihood is over binary values.
    pub fn load(cfg: &DataConfig, seed: u64, binarize: bool) -> Result<Self> {
        let mut splits = load(cfg, seed)?;
        if binarize {
            splits.val = splits.val.binarize_fixed(seed, 1);
            splits.test = splits.test.binarize_fixed(seed, 2);
        }
        Ok(Self {
            dynamic_binarize: binarize && splits.train.needs_binarizing(),
            splits,
        })
    }

    /// A split by name (`train` gets one fixed draw when it is binarized
    /// dynamically in training): for evaluation.
    pub fn split(&self, name: &str, seed: u64) -> Option<super::Dataset> {
        match name {
            "test" => Some(self.splits.test.clone()),
            "val" => Some(self.splits.val.clone()),
            "train" if self.dynamic_binarize => Some(self.splits.train.binarize_fixed(seed, 0)),
            "train" => Some(self.splits.train.clone()),
            _ => None,
        }
    }
}
