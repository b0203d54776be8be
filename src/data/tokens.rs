//! Token sequences: a split of sentences as vocabulary ids, and their padded
//! batches (ids, a padding mask and the lengths).

use crate::core::batch::TokenBatch;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Sentences as token ids.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSet {
    /// One id sequence per sentence.
    pub sequences: Vec<Vec<u32>>,
    /// Vocabulary size: every id is below it.
    pub vocab: usize,
    /// The id that fills positions past a sentence's end.
    pub pad: u32,
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
}
