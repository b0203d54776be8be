//! The synthetic text data of He et al. (2019, "Lagging inference networks
//! and posterior collapse in variational autoencoders", §6.1), generated
//! from a seed, together with the *exact* log p(x) of any sentence.
//!
//! Text VAEs are where posterior collapse was first reported, and real
//! corpora leave one question open: how much of the data's structure could a
//! latent code carry at all? Here the data come from a known latent-variable
//! model, so log p(x) is computable (by quadrature over the 2-D latent) and
//! the data's entropy −E log p(x) is the floor any model's NLL can reach.
//!
//! # The generator
//!
//! - z ∈ R² from a uniform mixture of four unit-variance Gaussians with
//!   means (±2, ±2) ([`Generator::log_prior`]).
//! - An LSTM language model without biases: embedding table E `[VOCAB,
//!   EMBED]`; at step t the LSTM reads `[E[x_t]; z]`; gates (PyTorch order
//!   i, f, g, o) are `W_ih·[E[x_t]; z] + W_hh·h`; `c' = f·c + i·g`,
//!   `h' = o·tanh(c')`. The state starts at `c₀ = W_c z`, `h₀ = tanh(c₀)`.
//!   Logits are `W1 h_t + W2 z`.
//! - Every parameter is U(−1, 1) except W2 ~ U(−5, 5): the large W2 makes
//!   each word strongly depend on z, so z is recoverable from a sentence
//!   (its posterior is a few tenths wide) and a model that ignores z pays
//!   for it in NLL.
//! - A sentence has [`LEN`] tokens: x₁ uniform over the vocabulary,
//!   independent of z; then the LSTM reads x_t and x_{t+1} ~
//!   softmax(logits). So log p(x|z) = −ln VOCAB + Σ_{t=1}^{9} log
//!   softmax(logits_t)[x_{t+1}].
//!
//! # Exact log p(x)
//!
//! log p(x) = log ∫ p(z) p(x|z) dz is computed on the log-integrand
//! f(z) = log p(z) + log p(x|z) by midpoint rules, with every sum a
//! log-sum-exp in f64 ([`Generator::exact_log_prob_with`]):
//!
//! 1. **Coarse grid.** Cells of width `coarse_step` (0.2) tile [−8, 8]²;
//!    f is evaluated at every cell centre. Its maximum M locates the
//!    posterior, wherever it is.
//! 2. **Refinement.** Every cell whose centre is within
//!    [`REFINE_WITHIN_NATS`] of M, and the 8 neighbours of each such cell,
//!    is re-integrated on a `refine`×`refine` midpoint sub-grid (default 6:
//!    spacing 0.033). Every other cell keeps its single centre value.
//! 3. The answer is the log-sum-exp of f + ln(area) over all pieces.
//!
//! All nodes of one level go through the LSTM together (blocks of rows,
//! `gemm` kernels, rayon over blocks); see [`Generator::log_likelihood_many`].
//!
//! ## Why this is accurate
//!
//! - **Domain.** For a mixture component with mean ±2 in a coordinate, the
//!   prior puts P(N(0,1) > 6) + P(N(0,1) > 10) ≈ 9.9·10⁻¹⁰ outside [−8, 8]
//!   in that coordinate; over both coordinates at most 2·10⁻⁹ ≈ e^−20 of
//!   the prior lies outside the square (< e^−18). The neglected part of
//!   p(x) is that mass times the likelihood out there, and p(x|z) is far
//!   smaller there than near the posterior, which sits in the prior's bulk.
//! - **Discretisation.** f is smooth (analytic), and on a uniform grid the
//!   midpoint rule for such an integrand converges geometrically in 1/h: the
//!   O(h²) errors of single cells cancel between neighbouring cells (the
//!   Euler–Maclaurin boundary terms vanish where the integrand does). log
//!   p(x|z) has ripples a few hundredths wide in z (the LSTM is chaotic
//!   under its large random weights), so spacing 0.2 alone is off by 4·10⁻⁴
//!   to 2·10⁻² nats, while spacings 0.05 / 0.033 / 0.025 are within 3·10⁻⁵ /
//!   10⁻⁶ / 10⁻⁷ nats of a 0.017-spaced answer (measured with an
//!   independent f64 re-implementation on six sentences of two generators
//!   built this way).
//! - **Where to refine.** Cancellation needs a uniform grid, so the fine
//!   region is one block of whole cells; its border lies ≥ 15 nats below the
//!   maximum, so the uncancelled error there is ≤ (≈100 border cells) ×
//!   e^−15 × (a coarse cell's relative error, a few %) ≈ 10⁻⁶ relative, and
//!   measured it is < 10⁻⁷: 15 and 30 nats give the same answer to 10⁻⁷,
//!   with 30 refining 2.3 times as many cells. The neighbour ring catches
//!   a peak that falls between coarse centres: a bump of width ≥ 0.05 whose
//!   top is within ~10 nats of M shows at a centre (≤ 0.14 away) within 15
//!   nats.
//! - **Early exit.** Every log-softmax term is ≤ 0, so the running sum after
//!   t steps bounds log p(x|z) from above. Coarse nodes whose bound falls
//!   50 nats under the best node of a first sparse pass stop there; all of
//!   them together hold < 6400·e^−50 ≈ 10⁻¹⁸ of p(x).
//! - **Arithmetic.** The LSTM runs in f32 (log p(x|z) agrees with a plain
//!   f64 evaluation to 10⁻⁴ relative or better, checked in the tests);
//!   log-softmax and every log-sum-exp accumulate in f64.
//!
//! The tests check the answer against brute-force importance sampling
//! (independent of the quadrature: a proposal built from the prior and the z
//! that generated the sentence), check convergence against a finer grid,
//! and check the batched LSTM against a plain f64 implementation.
//!
//! ## Cost
//!
//! A node costs 9 LSTM steps of 2·102·(400 + 1000) flops, ≈ 2.6 Mflop,
//! plus 9000 exponentials. The products run in `gemm`'s kernels; the
//! exponentials (log-sum-exp, gates) in loops compiled for the widest
//! vector unit the CPU has, chosen at run time, since the crate itself is
//! built for baseline x86-64. A sentence costs the 6400 coarse nodes (the
//! far ones exit after a few steps: ~40% of their full cost) plus 36 fine
//! nodes in each of the 200–550 refined cells: ≈ 10–20 thousand full node
//! evaluations, parallel over blocks of nodes. Measured on one Zen 4 core
//! (AVX-512): ~33 µs per node, 0.3–0.6 s per sentence.

mod block;
mod exact;
#[cfg(test)]
mod tests;

pub use exact::entropy;

use block::{Block, add_log_softmax, draw_tokens};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Vocabulary size: token ids are `0..VOCAB`.
pub const VOCAB: usize = 1000;
/// Word embedding width.
pub const EMBED: usize = 100;
/// LSTM hidden (and cell) width.
pub const HIDDEN: usize = 100;
/// Latent dimension.
pub const LATENT: usize = 2;
/// Tokens per sentence.
pub const LEN: usize = 10;

/// Default coarse cell width of [`Generator::exact_log_prob`]: small enough
/// that any posterior bump wider than ~0.05 shows at some cell centre.
pub const DEFAULT_COARSE_STEP: f64 = 0.2;
/// Default sub-grid factor: 0.2 / 6 ≈ 0.033 spacing, about 10⁻⁶ nats from
/// converged (see the module docs); 10 would cost 2.8× for no visible gain.
pub const DEFAULT_REFINE: usize = 6;
/// A coarse cell is refined (with its 8 neighbours) when its centre's
/// log-integrand is within this many nats of the largest one.
pub const REFINE_WITHIN_NATS: f64 = 15.0;

/// LSTM input width: embedding then z.
const INPUT: usize = EMBED + LATENT;
/// The four gates' pre-activations.
const GATES: usize = 4 * HIDDEN;
/// Row width of the left operand of both products: `[h; z]`.
const STATE: usize = HIDDEN + LATENT;
/// Rows run through the LSTM together: a `[BLOCK, VOCAB]` f32 logits block
/// (512 KB) stays in L2 between the product that writes it and the
/// log-sum-exp that reads it.
const BLOCK: usize = 128;
/// The prior's component means.
const MEANS: [[f64; 2]; 4] = [[2.0, 2.0], [2.0, -2.0], [-2.0, 2.0], [-2.0, -2.0]];
/// Quadrature domain: [−HALF_WIDTH, HALF_WIDTH]².
const HALF_WIDTH: f64 = 8.0;
/// Nodes stop early once their upper bound is this far under the best node
/// known so far (a node 50 nats down holds e^−50 of that node's mass).
const DROP_NATS: f64 = 50.0;
/// Spacing of the sparse first pass that finds a good best node before the
/// rest of the coarse grid runs with early exit.
const PROBE_SPACING: f64 = 0.8;
/// Fine nodes per batch: bounds memory whatever `refine` is.
const FINE_BATCH: usize = 1 << 15;
/// f32 lanes of the row reductions (one AVX-512 register).
const LANES: usize = 16;

/// The model's parameters as drawn, each matrix row-major.
struct Params {
    /// E, `[VOCAB, EMBED]`.
    embed: Vec<f32>,
    /// W_ih, `[4·HIDDEN, EMBED + LATENT]`; rows in gate order i, f, g, o.
    w_ih: Vec<f32>,
    /// W_hh, `[4·HIDDEN, HIDDEN]`.
    w_hh: Vec<f32>,
    /// W_c, `[HIDDEN, LATENT]`: c₀ = W_c z.
    w_c: Vec<f32>,
    /// W1, `[VOCAB, HIDDEN]`.
    w1: Vec<f32>,
    /// W2, `[VOCAB, LATENT]`, U(−5, 5).
    w2: Vec<f32>,
}

impl Params {
    /// The draw documented on [`Generator::new`].
    fn draw(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |len: usize, a: f32| -> Vec<f32> {
            (0..len).map(|_| rng.random_range(-a..a)).collect()
        };
        let embed = uniform(VOCAB * EMBED, 1.0);
        let w_ih = uniform(GATES * INPUT, 1.0);
        let w_hh = uniform(GATES * HIDDEN, 1.0);
        let w_c = uniform(HIDDEN * LATENT, 1.0);
        let w1 = uniform(VOCAB * HIDDEN, 1.0);
        let w2 = uniform(VOCAB * LATENT, 5.0);
        Self {
            embed,
            w_ih,
            w_hh,
            w_c,
            w1,
            w2,
        }
    }
}

/// He et al.'s generator with fixed parameters: samples sentences and scores
/// them exactly.
///
/// Parameters are drawn once in [`Generator::new`] and kept in the layout
/// the batched forward pass wants; everything is a pure function of the
/// seed, so two generators from one seed are identical.
#[derive(Clone)]
pub struct Generator {
    /// W_c, `[HIDDEN, LATENT]`: c₀ = W_c z.
    w_c: Vec<f32>,
    /// `W_ih[:, :EMBED]·E[v]` for every token v, `[VOCAB, 4·HIDDEN]`: the
    /// token's share of the gates is one row copy instead of a product.
    tok_gates: Vec<f32>,
    /// `[W_hh | W_ih[:, EMBED..]]ᵀ`, `[HIDDEN + LATENT, 4·HIDDEN]`:
    /// `gates = tok_gates[x_t] + [h; z]·rhs_gates`.
    rhs_gates: Vec<f32>,
    /// `[W1 | W2]ᵀ`, `[HIDDEN + LATENT, VOCAB]`: `logits = [h; z]·rhs_out`.
    rhs_out: Vec<f32>,
}

impl Generator {
    /// The generator vaekit's `synthetic-text` data uses: parameters from
    /// `seed`, so every run (and every entropy estimate) sees the same
    /// distribution while the sentences come from the run's own streams.
    ///
    /// All parameters come from one `ChaCha8Rng::seed_from_u64(seed)`, each
    /// value `random_range(-a..a)` on f32 (a = 1, or 5 for W2), matrix after
    /// matrix in the order E `[VOCAB, EMBED]`, W_ih `[4·HIDDEN, EMBED +
    /// LATENT]` (gate rows i, f, g, o), W_hh `[4·HIDDEN, HIDDEN]`, W_c
    /// `[HIDDEN, LATENT]`, W1 `[VOCAB, HIDDEN]`, W2 `[VOCAB, LATENT]`, each
    /// row-major. Changing that order changes the data.
    pub fn new(seed: u64) -> Self {
        let Params {
            embed,
            w_ih,
            w_hh,
            w_c,
            w1,
            w2,
        } = Params::draw(seed);
        let mut tok_gates = vec![0f32; VOCAB * GATES];
        tok_gates
            .par_chunks_mut(GATES)
            .enumerate()
            .for_each(|(v, row)| {
                let e = &embed[v * EMBED..(v + 1) * EMBED];
                for (r, out) in row.iter_mut().enumerate() {
                    let w = &w_ih[r * INPUT..r * INPUT + EMBED];
                    *out = w
                        .iter()
                        .zip(e)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>() as f32;
                }
            });
        let mut rhs_gates = vec![0f32; STATE * GATES];
        for r in 0..GATES {
            for k in 0..HIDDEN {
                rhs_gates[k * GATES + r] = w_hh[r * HIDDEN + k];
            }
            for l in 0..LATENT {
                rhs_gates[(HIDDEN + l) * GATES + r] = w_ih[r * INPUT + EMBED + l];
            }
        }
        let mut rhs_out = vec![0f32; STATE * VOCAB];
        for v in 0..VOCAB {
            for k in 0..HIDDEN {
                rhs_out[k * VOCAB + v] = w1[v * HIDDEN + k];
            }
            for l in 0..LATENT {
                rhs_out[(HIDDEN + l) * VOCAB + v] = w2[v * LATENT + l];
            }
        }
        Self {
            w_c,
            tok_gates,
            rhs_gates,
            rhs_out,
        }
    }

    /// Draw `n` sentences (and the z each came from) with randomness from
    /// `rng`: the z's are returned so tests and diagnostics can compare a
    /// posterior with the truth.
    ///
    /// All draws happen first, sentence by sentence: the mixture component
    /// (`random_range(0..4u32)`), two uniforms for a Box–Muller pair of
    /// standard normals, x₁ (`random_range(0..VOCAB as u32)`), then nine
    /// uniforms that pick x₂ … x₁₀ by inverting the softmax's CDF. The
    /// sentences are then computed in parallel, so the result depends on
    /// `rng` alone, not on threads.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> (Vec<Vec<u32>>, Vec<[f64; 2]>) {
        let mut zs = Vec::with_capacity(n);
        let mut first = Vec::with_capacity(n);
        let mut uniforms = Vec::with_capacity(n * (LEN - 1));
        for _ in 0..n {
            let mean = MEANS[rng.random_range(0..4u32) as usize];
            let (e0, e1) = standard_normal_pair(&mut *rng);
            zs.push([mean[0] + e0, mean[1] + e1]);
            first.push(rng.random_range(0..VOCAB as u32));
            uniforms.extend((0..LEN - 1).map(|_| rng.random::<f64>()));
        }
        let sentences = self.sample_given(&zs, &first, &uniforms, LEN);
        (sentences, zs)
    }

    /// log p(x|z) for many z at once, one value per z. This is the hot path
    /// of the quadrature, so it is batched: blocks of z's share every matrix
    /// product, and blocks run in parallel.
    ///
    /// Runs in f32 (within 10⁻⁴ relative of f64, usually far closer); a
    /// non-finite z gives NaN.
    ///
    /// # Panics
    ///
    /// If `x` does not have [`LEN`] tokens or a token is not below [`VOCAB`].
    pub fn log_likelihood_many(&self, x: &[u32], zs: &[[f64; 2]]) -> Vec<f64> {
        check_sentence(x);
        let base = vec![-(VOCAB as f64).ln(); zs.len()];
        let mut out = self.score(x, zs, &base, f64::NEG_INFINITY);
        for (o, z) in out.iter_mut().zip(zs) {
            if !(z[0].is_finite() && z[1].is_finite()) {
                *o = f64::NAN;
            }
        }
        out
    }

    /// log p(z) = log((1/4) Σ_k N(z; μ_k, I)), as a log-sum-exp over the four
    /// components so that it stays finite and exact far from every mean.
    pub fn log_prior(z: [f64; 2]) -> f64 {
        let a = MEANS.map(|m| -0.5 * ((z[0] - m[0]).powi(2) + (z[1] - m[1]).powi(2)));
        let mx = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = a.iter().map(|&v| (v - mx).exp()).sum();
        // 1/4 · 1/(2π) = 1/(8π)
        mx + s.ln() - (8.0 * std::f64::consts::PI).ln()
    }

    /// `base[r] + Σ_t log softmax(logits_t)[x_{t+1}]` for each z (any
    /// `x.len() ≥ 1`), in parallel over blocks of [`BLOCK`] z's.
    ///
    /// Every log-softmax term is ≤ 0 (the log-sum-exp is at least the largest
    /// logit), so a row's running value bounds its final value from above;
    /// rows whose bound falls under `cutoff` stop and come back as −∞.
    fn score(&self, x: &[u32], zs: &[[f64; 2]], base: &[f64], cutoff: f64) -> Vec<f64> {
        assert_eq!(zs.len(), base.len(), "one base value per z");
        let mut out = vec![f64::NEG_INFINITY; zs.len()];
        out.par_chunks_mut(BLOCK)
            .zip(zs.par_chunks(BLOCK).zip(base.par_chunks(BLOCK)))
            .for_each(|(o, (z, b))| self.score_block(x, z, b, cutoff, o));
        out
    }

    /// [`Generator::score`] for one block, rows dropped as they fall under
    /// `cutoff` so later products shrink.
    fn score_block(&self, x: &[u32], zs: &[[f64; 2]], base: &[f64], cutoff: f64, out: &mut [f64]) {
        out.fill(f64::NEG_INFINITY);
        let mut block = Block::start(self, zs);
        let mut acc = base.to_vec();
        let mut index: Vec<usize> = (0..zs.len()).collect();
        let mut keep = Vec::with_capacity(zs.len());
        for t in 0..x.len().saturating_sub(1) {
            keep.clear();
            // NaN rows stay: they must not pass for −∞.
            keep.extend(acc.iter().map(|&a| a >= cutoff || a.is_nan()));
            if keep.contains(&false) {
                block.retain(&keep);
                retain_by(&mut acc, &keep);
                retain_by(&mut index, &keep);
            }
            if block.rows == 0 {
                return;
            }
            let (cur, next) = (x[t] as usize, x[t + 1] as usize);
            block.step(self, |_| cur);
            add_log_softmax(&block.logits[..block.rows * VOCAB], next, &mut acc);
        }
        for (&i, &a) in index.iter().zip(&acc) {
            out[i] = a;
        }
    }

    /// Sentences of `len` tokens from given z's and first tokens, with
    /// `len − 1` uniforms per sentence (sentence-major) choosing the rest.
    fn sample_given(
        &self,
        zs: &[[f64; 2]],
        first: &[u32],
        uniforms: &[f64],
        len: usize,
    ) -> Vec<Vec<u32>> {
        assert!(len >= 1 && first.len() == zs.len());
        let steps = len - 1;
        assert_eq!(
            uniforms.len(),
            zs.len() * steps,
            "len − 1 uniforms per sentence"
        );
        let mut out: Vec<Vec<u32>> = first
            .iter()
            .map(|&t| {
                let mut s = Vec::with_capacity(len);
                s.push(t);
                s
            })
            .collect();
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, sents)| {
                let (lo, rows) = (b * BLOCK, sents.len());
                let mut block = Block::start(self, &zs[lo..lo + rows]);
                let mut us = vec![0.0; rows];
                let mut tokens = vec![0u32; rows];
                for t in 0..steps {
                    block.step(self, |r| sents[r][t] as usize);
                    for (r, u) in us.iter_mut().enumerate() {
                        *u = uniforms[(lo + r) * steps + t];
                    }
                    draw_tokens(&block.logits[..rows * VOCAB], &us, &mut tokens);
                    for (s, &tok) in sents.iter_mut().zip(&tokens) {
                        s.push(tok);
                    }
                }
            });
        out
    }
}

/// A sentence's tokens must be exactly what the model can score.
fn check_sentence(x: &[u32]) {
    assert_eq!(x.len(), LEN, "a synthetic-text sentence has {LEN} tokens");
    assert!(
        x.iter().all(|&t| (t as usize) < VOCAB),
        "synthetic-text token ids are below {VOCAB}: {x:?}"
    );
}

/// Two independent standard normals (Box–Muller), from two uniforms.
fn standard_normal_pair(rng: &mut impl Rng) -> (f64, f64) {
    let u1 = 1.0 - rng.random::<f64>(); // in (0, 1]: ln u1 is finite
    let u2 = rng.random::<f64>();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// Keep `v[r]` where `keep[r]`, in order.
fn retain_by<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
    let mut w = 0;
    for r in 0..v.len() {
        if keep[r] {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
}
