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
    /// Load the data `cfg` names with the run's seed (which carves the
    /// validation split); `binarize` when the model's likelihood is over
    /// binary values. Validation and test images are binarized once, with
    /// `cfg.binarize_seed` — the data's draw, shared by every run — not
    /// with the run's seed.
    pub fn load(cfg: &DataConfig, seed: u64, binarize: bool) -> Result<Self> {
        let mut splits = load(cfg, seed)?;
        if binarize {
            splits.val = splits.val.binarize_fixed(cfg.binarize_seed, 1);
            splits.test = splits.test.binarize_fixed(cfg.binarize_seed, 2);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::spec::DataSpec;

    /// The grey-level MNIST subset that comes with the project.
    fn mnist(binarize_seed: u64) -> DataConfig {
        DataConfig {
            spec: DataSpec::Idx(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist-10k"),
            ),
            binarize_seed,
            ..DataConfig::default()
        }
    }

    fn images(d: &crate::data::Dataset) -> Vec<f32> {
        match d {
            crate::data::Dataset::Images(s) => s.images.clone(),
            crate::data::Dataset::Tokens(_) => panic!("images expected"),
        }
    }

    /// Issue 28: two runs that differ only in `seed` are scored on the same
    /// binary test images (and validation images, where the split is the
    /// same); another `data.binarize_seed` is another draw.
    #[test]
    fn the_fixed_binarization_is_the_datas_not_the_runs() {
        let a = Prepared::load(&mnist(0), 0, true).unwrap();
        let b = Prepared::load(&mnist(0), 1, true).unwrap();
        let (ta, tb) = (images(&a.splits.test), images(&b.splits.test));
        assert!(ta.iter().all(|&p| p == 0.0 || p == 1.0), "binary");
        assert!(ta.iter().any(|&p| p == 1.0), "not all zero");
        assert_eq!(ta, tb, "seeds 0 and 1 see the same test images");
        // The grey source is really redrawn by another binarize_seed.
        let c = Prepared::load(&mnist(7), 0, true).unwrap();
        let tc = images(&c.splits.test);
        let differ = ta.iter().zip(&tc).filter(|(x, y)| x != y).count();
        assert!(differ > ta.len() / 100, "{differ} pixels differ");
        // Training stays the run's: dynamic binarization from its seed.
        assert!(a.dynamic_binarize && b.dynamic_binarize);
    }
}
