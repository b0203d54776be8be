//! A mini-batch on a device, of whatever kind of data the model reads:
//! flat images or padded token sequences. Models take a [`Batch`], so the
//! trainer, the monitor and the evaluator move batches around without
//! knowing what is inside.

use burn::tensor::{Int, Tensor};

/// A mini-batch of `len()` examples.
#[derive(Clone, Debug)]
pub enum Batch {
    /// Images flattened channel after channel, each row-major:
    /// `[batch, pixels·channels]`, intensities in [0, 1] (or binarized).
    Images(Tensor<2>),
    /// Token sequences, padded to the longest in the batch.
    Tokens(TokenBatch),
}

/// Token sequences of one batch, padded on the right.
#[derive(Clone, Debug)]
pub struct TokenBatch {
    /// Token ids `[batch, T]`; positions past a sequence's length hold the
    /// padding id.
    pub ids: Tensor<2, Int>,
    /// 1 where a position holds a real token, 0 where it is padding, `[batch, T]`.
    pub mask: Tensor<2>,
    /// Real tokens per sequence (its length), on the host.
    pub lengths: Vec<usize>,
    /// The decoder's inputs when they differ from `ids` (word dropout
    /// replaces some with `<unk>` in training); None means `ids`.
    pub decoder_ids: Option<Tensor<2, Int>>,
    /// Key of the host random stream for this batch's training noise
    /// (dropout masks), set by the model's `prepare_batch` from `(seed,
    /// step)` so that resumed runs repeat it; None outside training (no dropout).
    pub noise_key: Option<u64>,
}

impl Batch {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Batch::Images(x) => x.dims()[0],
            Batch::Tokens(t) => t.lengths.len(),
        }
    }

    /// Whether the batch holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The images of an image batch.
    ///
    /// # Panics
    /// On a token batch: a model that reads images is only ever built for
    /// image data (its config's `check_data` refuses anything else before
    /// training starts), so reaching this is a bug in vaekit, not a user error.
    pub fn images(&self) -> &Tensor<2> {
        match self {
            Batch::Images(x) => x,
            Batch::Tokens(_) => panic!("an image model was given a token batch"),
        }
    }

    /// The sequences of a token batch.
    ///
    /// # Panics
    /// On an image batch: a token model is only built for token data (its
    /// config's `check_data` says so before training), so reaching this is a
    /// bug in vaekit, not a user error.
    pub fn tokens(&self) -> &TokenBatch {
        match self {
            Batch::Tokens(t) => t,
            Batch::Images(_) => panic!("a token model was given an image batch"),
        }
    }

    /// Each example repeated `k` times consecutively (example 0's `k` copies
    /// first), for the k samples of an importance-weighted bound.
    pub fn repeat_rows(&self, k: usize) -> Batch {
        match self {
            Batch::Images(x) => Batch::Images(crate::core::posterior::repeat_rows(x.clone(), k)),
            Batch::Tokens(t) => {
                let [b, len] = t.ids.dims();
                Batch::Tokens(TokenBatch {
                    ids: t
                        .ids
                        .clone()
                        .unsqueeze_dim::<3>(1)
                        .expand([b, k, len])
                        .reshape([b * k, len]),
                    mask: crate::core::posterior::repeat_rows(t.mask.clone(), k),
                    lengths: t
                        .lengths
                        .iter()
                        .flat_map(|&l| std::iter::repeat_n(l, k))
                        .collect(),
                    decoder_ids: t.decoder_ids.as_ref().map(|d| {
                        d.clone()
                            .unsqueeze_dim::<3>(1)
                            .expand([b, k, len])
                            .reshape([b * k, len])
                    }),
                    noise_key: t.noise_key,
                })
            }
        }
    }
}
