//! `[data]`: where the examples come from.

use super::spec::DataSpec;
use super::text::LongSentences;
use serde::{Deserialize, Serialize};

/// Where the images come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `synthetic`, `idx:DIR` (MNIST-style IDX files, gzip or raw),
    /// `amat:DIR` (statically binarized MNIST `.amat` files), `cifar:DIR`
    /// (CIFAR-10's binary batches, 32×32×3), `text:DIR` (sentences in
    /// `train.txt`, `valid.txt`, `test.txt`) or `synthetic-text` (He et
    /// al. 2019's LSTM generator, built in); a string in the file.
    pub spec: DataSpec,
    /// Fraction of the training set held out for validation (carved with the
    /// run's seed). Ignored for `amat:` data, which ships its own split.
    pub val_fraction: f64,
    /// Use at most this many training images (0 = all); handy for quick runs.
    pub limit: usize,
    /// Number of synthetic training images or sentences (the test set is a
    /// tenth of it).
    pub synthetic_size: usize,
    /// Text: keep at most this many words in the vocabulary, the most
    /// frequent of the training split (0 = all).
    pub max_vocab: usize,
    /// Text: a word enters the vocabulary when the training split has it at
    /// least this many times; rarer words read as `<unk>`.
    pub min_count: usize,
    /// Text: the longest sentence kept, in words (`<s>`, `</s>` not counted).
    pub max_len: usize,
    /// Text: `drop` or `truncate` sentences longer than `max_len` (either
    /// way, how many is printed).
    pub long_sentences: LongSentences,
    /// The seed of the one Bernoulli draw that binarizes the validation and
    /// test images for a binary likelihood: a property of the data, not of
    /// the run, so every seed and every setting is scored on the same binary
    /// images ([`SHARED_BINARIZE_SEED`] unless set). Training batches are
    /// still drawn afresh from the run's seed. Runs written before this key
    /// existed drew with their own `seed`, and keep doing so when reopened.
    pub binarize_seed: u64,
}

/// The default `data.binarize_seed`, shared by every run. It is 0 so that
/// the runs of seed 0 written before the key existed (which drew from their
/// run seed) were already scored on these very images.
pub const SHARED_BINARIZE_SEED: u64 = 0;

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            spec: DataSpec::Synthetic,
            val_fraction: 0.1,
            limit: 0,
            synthetic_size: 20_000,
            max_vocab: 10_000,
            min_count: 1,
            max_len: 100,
            long_sentences: LongSentences::Drop,
            binarize_seed: SHARED_BINARIZE_SEED,
        }
    }
}

impl DataConfig {
    /// Whether the spec names token data (sentences).
    pub fn is_text(&self) -> bool {
        self.spec.is_text()
    }

    /// The text reader's options from these keys.
    pub fn text_options(&self) -> super::text::TextOptions {
        super::text::TextOptions {
            max_vocab: self.max_vocab,
            min_count: self.min_count,
            max_len: self.max_len,
            long_sentences: self.long_sentences,
        }
    }

    /// Every invalid value, each naming its key (`data.spec` is checked as
    /// it is parsed: see [`DataSpec`]).
    pub fn problems(&self, errs: &mut Vec<String>) {
        let d = self;
        if !(0.0..1.0).contains(&d.val_fraction) {
            errs.push(format!(
                "data.val_fraction = {}: must be in [0, 1)",
                d.val_fraction
            ));
        }
        if d.max_len == 0 {
            errs.push("data.max_len = 0: sentences need at least one word".into());
        }
        if d.synthetic_size < 10 {
            errs.push(format!(
                "data.synthetic_size = {}: must be at least 10",
                d.synthetic_size
            ));
        }
    }
}
