//! What kind of examples a dataset holds, and the dataset itself as one type
//! over every kind, so the trainer and the metrics take any of them.

use super::batches::gather;
use super::{ImageSet, TokenSet};
use crate::core::batch::Batch;
use crate::core::host::upload;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// The kind and shape of a dataset's examples. Recorded in every checkpoint
/// (`state.json`) and in `summary.json`, so a run says what it was trained on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataKind {
    /// Images of `rows × cols × channels` values.
    Images {
        rows: usize,
        cols: usize,
        channels: usize,
    },
    /// Token sequences over a vocabulary of `vocab` ids, at most `max_len` long.
    Tokens { vocab: usize, max_len: usize },
}

impl DataKind {
    /// Images of one row of `dim` values: a model built by input width
    /// alone (tests, benches); the convolutional models read their square
    /// grid off the width.
    pub fn flat(dim: usize) -> Self {
        DataKind::Images {
            rows: 1,
            cols: dim,
            channels: 1,
        }
    }

    /// Whether a model built for `self` can read data of kind `other`:
    /// images of the same shape; token sequences over the same vocabulary
    /// (of any length: each split has its own longest sentence).
    pub fn fits(&self, other: &DataKind) -> bool {
        match (self, other) {
            (DataKind::Tokens { vocab: a, .. }, DataKind::Tokens { vocab: b, .. }) => a == b,
            _ => self == other,
        }
    }

    /// Values per example as a model's input layer sees them: pixels ×
    /// channels for images, the longest sequence for tokens.
    pub fn width(&self) -> usize {
        match *self {
            DataKind::Images {
                rows,
                cols,
                channels,
            } => rows * cols * channels,
            DataKind::Tokens { max_len, .. } => max_len,
        }
    }

    /// `rows×cols` or `rows×cols×channels` for images; `tokens (vocabulary V,
    /// at most T long)` for sequences. For messages.
    pub fn describe(&self) -> String {
        match *self {
            DataKind::Images {
                rows,
                cols,
                channels: 1,
            } => format!("{rows}×{cols}"),
            DataKind::Images {
                rows,
                cols,
                channels,
            } => format!("{rows}×{cols}×{channels}"),
            DataKind::Tokens { vocab, max_len } => {
                format!("token sequences (vocabulary {vocab}, at most {max_len} long)")
            }
        }
    }

    /// Bits-per-dimension divisor: pixels × channels for images; for tokens
    /// None (per-token figures need each sequence's length).
    pub fn dims_per_example(&self) -> Option<usize> {
        match self {
            DataKind::Images { .. } => Some(self.width()),
            DataKind::Tokens { .. } => None,
        }
    }
}

/// One split's examples, of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Dataset {
    Images(ImageSet),
    Tokens(TokenSet),
}

impl From<ImageSet> for Dataset {
    fn from(s: ImageSet) -> Self {
        Dataset::Images(s)
    }
}

impl From<TokenSet> for Dataset {
    fn from(s: TokenSet) -> Self {
        Dataset::Tokens(s)
    }
}

impl Dataset {
    /// Number of examples.
    pub fn n(&self) -> usize {
        match self {
            Dataset::Images(s) => s.n,
            Dataset::Tokens(s) => s.len(),
        }
    }

    /// The kind and shape of the examples.
    pub fn kind(&self) -> DataKind {
        match self {
            Dataset::Images(s) => DataKind::Images {
                rows: s.rows,
                cols: s.cols,
                channels: s.channels,
            },
            Dataset::Tokens(s) => DataKind::Tokens {
                vocab: s.vocab,
                max_len: s.max_len(),
            },
        }
    }

    /// The images, for code that only reads images (the fast CPU evaluator).
    pub fn images(&self) -> Option<&ImageSet> {
        match self {
            Dataset::Images(s) => Some(s),
            Dataset::Tokens(_) => None,
        }
    }

    /// Token data: the tokens a decoder predicts per example (length − 1:
    /// `<s>` is given); None for images.
    pub fn predicted_tokens(&self) -> Option<Vec<usize>> {
        match self {
            Dataset::Images(_) => None,
            Dataset::Tokens(s) => Some(
                s.sequences
                    .iter()
                    .map(|q| q.len().saturating_sub(1))
                    .collect(),
            ),
        }
    }

    /// For messages: the shape of the examples.
    pub fn shape_text(&self) -> String {
        self.kind().describe()
    }

    /// Whether examples still need a Bernoulli draw for a binary likelihood
    /// (images in [0, 1] that are not already 0/1).
    pub fn needs_binarizing(&self) -> bool {
        matches!(self, Dataset::Images(s) if !s.binary)
    }

    /// The examples at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        match self {
            Dataset::Images(s) => Dataset::Images(s.subset(idx)),
            Dataset::Tokens(s) => Dataset::Tokens(TokenSet {
                sequences: idx.iter().map(|&i| s.sequences[i].clone()).collect(),
                ..s.clone()
            }),
        }
    }

    /// The batches of `epoch`, keyed by `(seed, epoch)`: the shuffled order
    /// cut into batches for images; sentences of similar length together for
    /// tokens ([`TokenSet::bucketed_batches`]).
    pub fn epoch_batches(&self, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
        match self {
            Dataset::Images(s) => super::batches::epoch_order(s.n, seed, epoch)
                .chunks(batch_size)
                .map(<[usize]>::to_vec)
                .collect(),
            Dataset::Tokens(s) => s.bucketed_batches(batch_size, seed, epoch),
        }
    }

    /// One fixed Bernoulli draw of an image set (validation and test of a
    /// Bernoulli decoder); token sets are returned as they are.
    pub fn binarize_fixed(&self, seed: u64, split: u64) -> Dataset {
        match self {
            Dataset::Images(s) => Dataset::Images(super::batches::binarize_fixed(s, seed, split)),
            Dataset::Tokens(_) => self.clone(),
        }
    }

    /// The examples at `idx`, in that order, as a batch on `device`; image
    /// pixels are binarized from the stream key `binarize` when given.
    pub fn batch(
        &self,
        idx: &[usize],
        binarize: Option<(u64, u64, u64)>,
        device: &Device,
    ) -> Batch {
        match self {
            Dataset::Images(s) => {
                Batch::Images(upload(gather(s, idx, binarize), idx.len(), s.dim(), device))
            }
            Dataset::Tokens(s) => Batch::Tokens(s.batch(idx, device)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_models_fit_any_length_of_their_vocabulary_and_images_their_shape() {
        let t = |vocab, max_len| DataKind::Tokens { vocab, max_len };
        assert!(t(100, 30).fits(&t(100, 52)));
        assert!(!t(100, 30).fits(&t(101, 30)));
        let img = DataKind::Images {
            rows: 28,
            cols: 28,
            channels: 1,
        };
        assert!(img.fits(&img.clone()));
        assert!(!img.fits(&DataKind::flat(784)));
        assert!(!img.fits(&t(784, 1)));
        // Both kinds serialize with a tag, as state.json stores them.
        let j = serde_json::to_string(&t(5, 3)).unwrap();
        assert_eq!(j, r#"{"kind":"tokens","vocab":5,"max_len":3}"#);
    }
}
