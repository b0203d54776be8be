//! Token sequences: a split of sentences as vocabulary ids, and their padded
//! batches (ids, a padding mask and the lengths).

use super::text::Vocab;
use crate::core::batch::TokenBatch;
use crate::core::rng::{Purpose, stream};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use std::sync::Arc;

/// Sentences as token ids.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSet {
    /// One id sequence per sentence.
    pub sequences: Vec<Vec<u32>>,
    /// Vocabulary size: every id is below it.
    pub vocab: usize,
    /// The id that fills positions past a sentence's end.
    pub pad: u32,
    /// The words of the ids, for text read from files or generated
    /// (`<s>` … `</s>` around each sentence); None for other token data.
    pub words: Option<Arc<Vocab>>,
}

impl TokenSet {
    /// Number of sentences.
    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    /// Whether the set holds no sentence.
    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// Length of the longest sentence.
    pub fn max_len(&self) -> usize {
        self.sequences.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Tokens a decoder predicts: every token of a sequence but its first
    /// (`<s>` is given, `</s>` is predicted). The denominator of perplexity.
    pub fn predicted_tokens(&self) -> usize {
        self.sequences
            .iter()
            .map(|s| s.len().saturating_sub(1))
            .sum()
    }

    /// The batches of one epoch, grouped by length so padding stays small:
    /// a seeded shuffle, cut into pools of 50 batches, each pool sorted by
    /// length (stable) and cut into batches, then the batches shuffled. Every
    /// pool but the last is a whole number of batches, so an epoch has
    /// ⌈n / batch_size⌉ batches, as for images.
    pub fn bucketed_batches(&self, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut stream(seed, Purpose::Shuffle, epoch as u64, 0));
        let mut batches: Vec<Vec<usize>> = Vec::new();
        for pool in order.chunks(batch_size * 50) {
            let mut pool = pool.to_vec();
            pool.sort_by_key(|&i| self.sequences[i].len());
            batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
        }
        batches.shuffle(&mut stream(seed, Purpose::Shuffle, epoch as u64, 1));
        batches
    }

    /// The sentences at `idx`, padded on the right to the longest of them:
    /// ids and mask `[idx.len(), T]`, and the lengths.
    pub fn batch(&self, idx: &[usize], device: &Device) -> TokenBatch {
        let lengths: Vec<usize> = idx.iter().map(|&i| self.sequences[i].len()).collect();
        let t = lengths.iter().copied().max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(idx.len() * t);
        let mut mask = Vec::with_capacity(idx.len() * t);
        for &i in idx {
            let s = &self.sequences[i];
            ids.extend(s.iter().map(|&v| v as i64));
            ids.extend(std::iter::repeat_n(self.pad as i64, t - s.len()));
            mask.extend(std::iter::repeat_n(1f32, s.len()));
            mask.extend(std::iter::repeat_n(0f32, t - s.len()));
        }
        TokenBatch {
            ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [idx.len(), t]), device),
            mask: Tensor::from_data(TensorData::new(mask, [idx.len(), t]), device),
            lengths,
            decoder_ids: None,
            noise_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_pad_on_the_right_and_mask_the_padding() {
        let set = TokenSet {
            sequences: vec![vec![5, 6, 7], vec![8], vec![9, 10]],
            vocab: 11,
            pad: 0,
            words: None,
        };
        let dev = Device::flex();
        let b = set.batch(&[1, 0], &dev);
        assert_eq!(b.lengths, vec![1, 3]);
        let ids: Vec<i64> = b.ids.into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(ids, vec![8, 0, 0, 5, 6, 7]);
        let mask = crate::core::host::read(b.mask);
        assert_eq!(mask, vec![1., 0., 0., 1., 1., 1.]);
        // The mask counts exactly the real tokens.
        assert_eq!(mask.iter().sum::<f32>() as usize, 4);
    }

    #[test]
    fn bucketed_batches_cover_every_sentence_once_with_little_padding() {
        let set = TokenSet {
            sequences: (0..1000).map(|i| vec![1; 2 + (i * 7919) % 40]).collect(),
            vocab: 2,
            pad: 0,
            words: None,
        };
        let batches = set.bucketed_batches(8, 3, 0);
        assert_eq!(batches.len(), 1000usize.div_ceil(8));
        let mut all: Vec<usize> = batches.concat();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(batches, set.bucketed_batches(8, 3, 0));
        assert_ne!(batches, set.bucketed_batches(8, 3, 1));
        // Padding: positions in padded batches vs real tokens.
        let padded = |bs: &[Vec<usize>]| -> usize {
            bs.iter()
                .map(|b| b.len() * b.iter().map(|&i| set.sequences[i].len()).max().unwrap())
                .sum()
        };
        let real: usize = set.sequences.iter().map(Vec::len).sum();
        // Shuffled without grouping (as images are), padding is far larger.
        let random: Vec<Vec<usize>> = crate::data::batches::epoch_order(1000, 3, 0)
            .chunks(8)
            .map(<[usize]>::to_vec)
            .collect();
        assert!(
            padded(&batches) * 100 < real * 105,
            "{} vs {real}",
            padded(&batches)
        );
        assert!(
            padded(&random) * 10 > real * 13,
            "{} vs {real}",
            padded(&random)
        );
    }
}
