//! Mini-batches on the host: the epoch's order, and pixels prepared for the
//! decoder (dynamic binarization for Bernoulli decoders).
//!
//! Dynamic binarization draws x̃ ~ Bernoulli(x) afresh for every training
//! batch, from the stream `(seed, Binarize, epoch, batch)`. Validation and
//! test sets get one fixed seeded draw ([`binarize_fixed`]) so that their
//! numbers are comparable across epochs and runs.

use super::ImageSet;
use crate::core::rng::{Purpose, stream};
use rand::Rng;
use rand::seq::SliceRandom;

/// The order of training examples in `epoch`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut stream(seed, Purpose::Shuffle, epoch as u64, 0));
    idx
}

/// Number of batches in an epoch of `n` examples (the last may be short).
pub fn batches_per_epoch(n: usize, batch_size: usize) -> usize {
    n.div_ceil(batch_size)
}

/// Gather the examples `idx` into a row-major `[idx.len(), dim]` buffer,
/// binarizing with the given stream key when asked.
pub fn gather(data: &ImageSet, idx: &[usize], binarize: Option<(u64, u64, u64)>) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * data.dim());
    for &i in idx {
        out.extend_from_slice(data.image(i));
    }
    if let Some((seed, a, b)) = binarize {
        let mut rng = stream(seed, Purpose::Binarize, a, b);
        for p in &mut out {
            *p = (rng.random::<f32>() < *p) as u8 as f32;
        }
    }
    out
}

/// One fixed Bernoulli draw of a whole dataset (for validation and test).
pub fn binarize_fixed(data: &ImageSet, seed: u64, split: u64) -> ImageSet {
    if data.binary {
        return data.clone();
    }
    let all: Vec<usize> = (0..data.n).collect();
    ImageSet {
        images: gather(
            data,
            &all,
            Some((seed, crate::core::rng::key::FIXED_BINARIZE - split, 0)),
        ),
        binary: true,
        ..data.clone()
    }
}

pub use crate::core::rng::host_normal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binarization_is_bernoulli_with_the_pixel_as_probability() {
        let d = ImageSet {
            images: vec![0.0, 0.25, 0.5, 1.0],
            n: 1,
            rows: 1,
            cols: 4,
            channels: 1,
            labels: None,
            binary: false,
        };
        let trials = 20_000u64;
        let mut ones = [0f64; 4];
        for t in 0..trials {
            let b = gather(&d, &[0], Some((1, 0, t)));
            for (o, v) in ones.iter_mut().zip(b) {
                assert!(v == 0.0 || v == 1.0);
                *o += v as f64;
            }
        }
        for (o, p) in ones.iter().zip([0.0, 0.25, 0.5, 1.0]) {
            let freq = o / trials as f64;
            // 5 binomial standard errors.
            let se = (p * (1.0 - p) / trials as f64).sqrt();
            assert!((freq - p).abs() <= 5.0 * se + 1e-12, "{freq} vs {p}");
        }
    }

    #[test]
    fn fixed_binarization_is_reproducible() {
        let d = ImageSet {
            images: vec![0.5; 64],
            n: 4,
            rows: 4,
            cols: 4,
            channels: 1,
            labels: None,
            binary: false,
        };
        assert_eq!(binarize_fixed(&d, 3, 0), binarize_fixed(&d, 3, 0));
        assert_ne!(binarize_fixed(&d, 3, 0), binarize_fixed(&d, 3, 1));
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let mut a = epoch_order(100, 1, 2);
        assert_eq!(a, epoch_order(100, 1, 2));
        assert_ne!(a, epoch_order(100, 1, 3));
        a.sort();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }
}
