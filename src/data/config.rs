//! `[data]`: where the examples come from.

use super::canonical::Canonical;
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
    /// The canonical dataset the folder must hold, checked file by file
    /// against its SHA-256 as it is read (`"mnist"` for `idx:`, `"ptb"` for
    /// `text:`; `""` = no check): [`super::canonical`].
    pub expect: String,
    /// Fraction of the training set held out for validation (carved with the
    /// run's seed). Ignored for `amat:` data, which ships its own split, and
    /// when `val_last` is set.
    pub val_fraction: f64,
    /// Images: hold out the last `val_last` training examples, in file
    /// order, for validation, and train on the rest, unshuffled (Burda et
    /// al. 2016: MNIST's last 400, 59,600/400). 0 = the seeded
    /// `val_fraction` split. Not for sources with their own validation
    /// split (`amat:`, text).
    pub val_last: usize,
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
            expect: String::new(),
            val_fraction: 0.1,
            val_last: 0,
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

    /// The canonical dataset `expect` names (`None` for `""`), or what is
    /// wrong with it: an unknown name, or a source that is not `idx:`.
    pub fn canonical(&self) -> Result<Option<Canonical>, String> {
        if self.expect.is_empty() {
            return Ok(None);
        }
        let Some(c) = Canonical::from_name(&self.expect) else {
            return Err(format!(
                "data.expect = {:?}: unknown dataset; known: {} (or \"\" for no check)",
                self.expect,
                Canonical::known()
            ));
        };
        let (fits, kind) = if c.is_text() {
            (matches!(self.spec, DataSpec::Text(_)), "text")
        } else {
            (matches!(self.spec, DataSpec::Idx(_)), "idx")
        };
        if !fits {
            return Err(format!(
                "data.expect = {:?} checks the files of a `{kind}:DIR` folder, and data.spec = \
                 {} is not one; point data.spec at the folder ({kind}:DIR) or remove data.expect",
                self.expect, self.spec
            ));
        }
        Ok(Some(c))
    }

    /// What is wrong with `val_last` for this source, whose training file
    /// holds `n_train` examples where that is known without reading it
    /// (`synthetic`; the loader checks `idx:` and `cifar:` once read).
    pub fn val_last_problem(&self, n_train: Option<usize>) -> Option<String> {
        let v = self.val_last;
        if v == 0 {
            return None;
        }
        let own = match &self.spec {
            DataSpec::Amat(_) => Some("binarized_mnist_valid.amat"),
            DataSpec::Text(_) => Some("valid.txt"),
            DataSpec::SyntheticText => Some("sentences drawn for it"),
            DataSpec::Synthetic | DataSpec::Idx(_) | DataSpec::Cifar(_) => None,
        };
        if let Some(own) = own {
            return Some(format!(
                "data.val_last = {v}: {} has its own validation split ({own}); \
                 remove data.val_last",
                self.spec
            ));
        }
        match n_train {
            Some(n) if v >= n => Some(format!(
                "data.val_last = {v}: must be less than the {n} training examples of {}, \
                 to leave some to train on; hold out fewer (Burda et al. hold out the last \
                 400 of MNIST's 60,000), or set data.val_last = 0 for the data.val_fraction split",
                self.spec
            )),
            _ => None,
        }
    }

    /// Every invalid value, each naming its key (`data.spec` is checked as
    /// it is parsed: see [`DataSpec`]).
    pub fn problems(&self, errs: &mut Vec<String>) {
        let d = self;
        errs.extend(d.canonical().err());
        let n_train = matches!(d.spec, DataSpec::Synthetic).then_some(d.synthetic_size);
        errs.extend(d.val_last_problem(n_train));
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
