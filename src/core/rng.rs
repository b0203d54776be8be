//! Counter-based random streams.
//!
//! Every random draw in training (data order, binarization, reparameterisation
//! noise) comes from a stream keyed by `(seed, purpose, a, b)`, for example
//! `(seed, NOISE, step, 0)`. A run's randomness is therefore a pure function
//! of its seed and its position: resuming at step `t` needs no saved RNG
//! state, and the CPU and the GPU see the same draws because all noise is
//! drawn here, on the host, and uploaded.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a stream is for; keeps streams with equal counters independent.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Purpose {
    Init = 1,
    Split = 2,
    Shuffle = 3,
    Binarize = 4,
    Noise = 5,
    Synthetic = 6,
    Eval = 7,
    /// VQ-VAE dead-code restarts.
    Restart = 8,
    /// Text decoders: which input words become `<unk>`.
    WordDropout = 9,
    /// Dropout masks (and the per-step key they are drawn from).
    Dropout = 10,
    /// Aggressive encoder training's extra batches.
    Aggressive = 11,
    /// The gradient-noise monitor's extra estimates: `(seed, GradNoise,
    /// step, m)` for estimate m at `step` (the training noise is untouched).
    GradNoise = 12,
}

/// The named streams: the fixed counters of draws that are not indexed by
/// a training step (evaluation, sampling, fixed binarizations) and the
/// sub-streams that keep such draws apart. A stream is `(seed, purpose, a,
/// b)`; the doc line of each name gives its whole key and what draws from
/// it. The values are the ones the crate has always used (the numbers of a
/// run must not move), counted down from `u64::MAX` so that they never meet
/// the small step, epoch and batch counters of the same purpose.
///
/// Counters are shared between purposes and between draws that differ in
/// `b` or in the seed: a stream is only equal to another when all four
/// parts are.
pub mod key {
    // `Purpose::Eval`, counter `u64::MAX`: what `vaekit sample` draws, told
    // apart by the sub-stream.

    /// `(seed, Eval, SAMPLING, b)`: the draws of `vaekit sample` and of the
    /// sample metrics' generated set; `b` is one of the sub-streams below.
    pub const SAMPLING: u64 = u64::MAX;
    /// `(seed, Eval, SAMPLING, PRIOR_NORMAL)`: z ~ N(0, I) for a model whose
    /// prior is the standard normal. Shared on purpose by every such model
    /// (the trait's default, the VAE, the text VAE): the same seed gives the
    /// same latents whichever of them draws.
    pub const PRIOR_NORMAL: u64 = 0;
    /// `(seed, Eval, SAMPLING, PRIOR_MIXTURE)`: z from a diagonal Gaussian
    /// mixture prior (a component by its weight, then its Gaussian).
    pub const PRIOR_MIXTURE: u64 = 1;
    /// `(seed, Eval, SAMPLING, SAMPLE_PIXELS)`: the pixels `vaekit sample`
    /// draws from the decoder's distribution at the sampled latents.
    pub const SAMPLE_PIXELS: u64 = 2;
    /// `(seed, Eval, SAMPLING, PRIOR_CODES)`: a VQ-VAE's codes, uniform at
    /// each position.
    pub const PRIOR_CODES: u64 = 3;
    /// `(seed, Eval, SAMPLING, PRIOR_LAYER_BELOW)`: the noise of the lower
    /// layer of a hierarchical prior, h1 ~ p(h1|h2) once h2 is drawn from
    /// [`PRIOR_NORMAL`].
    pub const PRIOR_LAYER_BELOW: u64 = 4;

    // Other `Purpose::Eval` streams.

    /// `(seed, Eval, HELD_OUT_NOISE, 0)`: the posterior samples of the
    /// held-out metrics (I(x;z), aggregate posterior).
    pub const HELD_OUT_NOISE: u64 = u64::MAX - 1;
    /// `(REFERENCE_SEED, Eval, NDB_FIT, NDB_FIT_SUB)`: the subset of real
    /// images the NDB bins are fitted on. Same counter as
    /// [`HELD_OUT_NOISE`], other sub-stream and seed: an unrelated stream.
    pub const NDB_FIT: u64 = u64::MAX - 1;
    /// Sub-stream of [`NDB_FIT`].
    pub const NDB_FIT_SUB: u64 = 13;
    /// `(seed, Eval, TOKEN_SAMPLING, 0)`: the words a text decoder samples
    /// token by token.
    pub const TOKEN_SAMPLING: u64 = u64::MAX - 2;
    /// `(seed, Eval, REAL_SUBSET, REAL_SUBSET_SUB)`: the real images the
    /// sample metrics compare the generated ones with. Same counter as
    /// [`TOKEN_SAMPLING`], other sub-stream: an unrelated stream.
    pub const REAL_SUBSET: u64 = u64::MAX - 2;
    /// Sub-stream of [`REAL_SUBSET`].
    pub const REAL_SUBSET_SUB: u64 = 17;
    /// `(seed, Eval, KID_SUBSETS, KID_SUBSETS_SUB)`: the random subsets KID
    /// averages over.
    pub const KID_SUBSETS: u64 = u64::MAX - 3;
    /// Sub-stream of [`KID_SUBSETS`].
    pub const KID_SUBSETS_SUB: u64 = 19;
    /// `(seed, Eval, SWD_DIRECTIONS, 0 | 1)`: the sliced Wasserstein
    /// distance's directions in feature space (0) and on the values (1).
    pub const SWD_DIRECTIONS: u64 = u64::MAX - 4;
    /// `(seed, Eval, SCORE_NOISE, start)`: the posterior samples of `vaekit
    /// score`, one sub-stream per batch (`start` = its first example).
    pub const SCORE_NOISE: u64 = u64::MAX - 5;
    /// `(seed, Eval, TSNE_SUBSET, 0 | 1)`: the real points (0) and the
    /// samples (1) a t-SNE map shows when there are more than it takes.
    pub const TSNE_SUBSET: u64 = u64::MAX - 6;
    /// `(seed, Eval, JUDGE_TRIALS, block)`: `vaekit judge`'s order of the
    /// trial kinds and the 2AFC sides in one block of trials;
    /// `(seed, Eval, JUDGE_TRIALS, JUDGE_REAL_ORDER)`: the order in which
    /// it shows the real test images.
    pub const JUDGE_TRIALS: u64 = u64::MAX - 16;
    /// Sub-stream of [`JUDGE_TRIALS`] (blocks count up from 0 and never reach it).
    pub const JUDGE_REAL_ORDER: u64 = u64::MAX;

    // `Purpose::Binarize`.

    /// `(seed, Binarize, FIXED_BINARIZE - split, 0)`: the one fixed Bernoulli
    /// draw of a split (0 train, 1 validation, 2 test).
    pub const FIXED_BINARIZE: u64 = u64::MAX;
    /// `(REFERENCE_SEED, Binarize, REFERENCE_BINARIZE, REFERENCE_BINARIZE_SUB)`:
    /// the binarized real images of the sample metrics' reference. Same
    /// counter as the training split's [`FIXED_BINARIZE`], other sub-stream
    /// and seed: an unrelated stream.
    pub const REFERENCE_BINARIZE: u64 = u64::MAX;
    /// Sub-stream of [`REFERENCE_BINARIZE`].
    pub const REFERENCE_BINARIZE_SUB: u64 = 11;
    /// `(seed, Binarize, AGGRESSIVE_BINARIZE, position)`: the dynamic
    /// binarization of aggressive training's extra batches, one sub-stream
    /// per inner step (`step · max_inner + i`). Below the three
    /// [`FIXED_BINARIZE`] counters.
    pub const AGGRESSIVE_BINARIZE: u64 = u64::MAX - 7;
    /// `(seed, Binarize, JUDGE_BINARIZE, i)`: the Bernoulli draw that
    /// binarizes real test image `i` on `vaekit judge`'s page for a binary
    /// model.
    pub const JUDGE_BINARIZE: u64 = u64::MAX - 16;

    // `Purpose::Dropout`.

    /// `(seed, Dropout, step, STEP_DROPOUT_KEY)`: the key a text decoder's
    /// dropout masks of one training step are drawn from (the masks are
    /// then `(key, Dropout, which, 0)`).
    pub const STEP_DROPOUT_KEY: u64 = u64::MAX;
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fresh ChaCha8 stream for `(seed, purpose, a, b)`.
pub fn stream(seed: u64, purpose: Purpose, a: u64, b: u64) -> ChaCha8Rng {
    let k = mix(mix(mix(seed ^ 0x9e37_79b9_7f4a_7c15) ^ purpose as u64) ^ a);
    ChaCha8Rng::seed_from_u64(mix(k ^ b.wrapping_mul(0x2545_f491_4f6c_dd1d)))
}

/// Standard-normal noise of shape `[rows, cols]` drawn on the host from
/// the stream `(seed, purpose, a, b)`, so every device sees the same draws.
pub fn host_normal(
    rows: usize,
    cols: usize,
    seed: u64,
    purpose: Purpose,
    a: u64,
    b: u64,
) -> Vec<f32> {
    let mut rng = stream(seed, purpose, a, b);
    (0..rows * cols)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(stream(1, Purpose::Noise, 3, 0), |r, _: u32| {
                Some(r.random())
            })
            .collect();
        let b: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(stream(1, Purpose::Noise, 3, 0), |r, _: u32| {
                Some(r.random())
            })
            .collect();
        let c: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(stream(1, Purpose::Noise, 4, 0), |r, _: u32| {
                Some(r.random())
            })
            .collect();
        let d: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(stream(1, Purpose::Shuffle, 3, 0), |r, _: u32| {
                Some(r.random())
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    /// The named streams keep the numbers they had before they were named:
    /// a change here changes every run's evaluation and samples.
    #[test]
    fn named_streams_keep_their_values() {
        use key::*;
        let m = u64::MAX;
        assert_eq!(
            [
                SAMPLING,
                PRIOR_NORMAL,
                PRIOR_MIXTURE,
                SAMPLE_PIXELS,
                PRIOR_CODES,
                PRIOR_LAYER_BELOW
            ],
            [m, 0, 1, 2, 3, 4]
        );
        assert_eq!(
            [HELD_OUT_NOISE, NDB_FIT, NDB_FIT_SUB, TOKEN_SAMPLING],
            [m - 1, m - 1, 13, m - 2]
        );
        assert_eq!(
            [REAL_SUBSET, REAL_SUBSET_SUB, KID_SUBSETS, KID_SUBSETS_SUB],
            [m - 2, 17, m - 3, 19]
        );
        assert_eq!(
            [SCORE_NOISE, TSNE_SUBSET, JUDGE_TRIALS, JUDGE_REAL_ORDER],
            [m - 5, m - 6, m - 16, m]
        );
        assert_eq!(
            [FIXED_BINARIZE, REFERENCE_BINARIZE, REFERENCE_BINARIZE_SUB],
            [m, m, 11]
        );
        assert_eq!(
            [AGGRESSIVE_BINARIZE, JUDGE_BINARIZE, STEP_DROPOUT_KEY],
            [m - 7, m - 16, m]
        );
    }
}
