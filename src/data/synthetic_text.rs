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

use crate::core::fastmath::widest_simd;
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

    /// Exact log p(x) = log ∫ p(z) p(x|z) dz by adaptive quadrature (module
    /// docs: a 0.2 grid over [−8, 8]², then a 6×6 sub-grid wherever the
    /// integrand is within 15 nats of its peak). Accurate to about 10⁻⁶ nats.
    ///
    /// # Panics
    ///
    /// As [`Generator::log_likelihood_many`].
    pub fn exact_log_prob(&self, x: &[u32]) -> f64 {
        self.exact_log_prob_with(x, DEFAULT_COARSE_STEP, DEFAULT_REFINE)
    }

    /// [`Generator::exact_log_prob`] with its two resolutions chosen, so a
    /// test can check convergence (a finer grid agrees with the default).
    ///
    /// `coarse_step` is rounded so that a whole number of cells spans
    /// [−8, 8]; `refine` = 1 skips refinement (the coarse grid alone).
    /// Cost grows as 1/coarse_step² + (refined cells)·refine².
    ///
    /// # Panics
    ///
    /// As [`Generator::log_likelihood_many`]; also if `coarse_step` is not a
    /// positive number giving at most 4096 cells a side, or `refine` is 0.
    pub fn exact_log_prob_with(&self, x: &[u32], coarse_step: f64, refine: usize) -> f64 {
        check_sentence(x);
        assert!(
            coarse_step.is_finite() && coarse_step > 0.0,
            "coarse_step must be a positive number, not {coarse_step}"
        );
        assert!(refine >= 1, "refine must be at least 1");
        let n = ((2.0 * HALF_WIDTH / coarse_step).round() as usize).max(1);
        assert!(
            n <= 4096,
            "coarse_step {coarse_step} gives {n} cells a side (at most 4096)"
        );
        let h = 2.0 * HALF_WIDTH / n as f64;
        let centre = |i: usize| -HALF_WIDTH + (i as f64 + 0.5) * h;
        let node = |k: usize| [centre(k / n), centre(k % n)];

        // 1. Coarse grid: a sparse probe lattice in full, to learn roughly
        //    how high f gets, then the rest with early exit under that.
        let stride = ((PROBE_SPACING / h).round() as usize).clamp(1, n);
        let (probe, rest): (Vec<usize>, Vec<usize>) = (0..n * n)
            .partition(|&k| (k / n) % stride == stride / 2 && (k % n) % stride == stride / 2);
        let mut f = vec![f64::NEG_INFINITY; n * n];
        let zs: Vec<[f64; 2]> = probe.iter().map(|&k| node(k)).collect();
        let vals = self.log_joint(x, &zs, f64::NEG_INFINITY);
        let probe_max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (&k, v) in probe.iter().zip(vals) {
            f[k] = v;
        }
        let zs: Vec<[f64; 2]> = rest.iter().map(|&k| node(k)).collect();
        let vals = self.log_joint(x, &zs, probe_max - DROP_NATS);
        for (&k, v) in rest.iter().zip(vals) {
            f[k] = v;
        }
        let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);

        // 2. Cells to refine: near the peak, plus their neighbours.
        let mut refined = vec![false; n * n];
        if refine > 1 {
            for i in 0..n {
                for j in 0..n {
                    if f[i * n + j] >= m - REFINE_WITHIN_NATS {
                        for a in i.saturating_sub(1)..=(i + 1).min(n - 1) {
                            for b in j.saturating_sub(1)..=(j + 1).min(n - 1) {
                                refined[a * n + b] = true;
                            }
                        }
                    }
                }
            }
        }

        // 3. Sum of f + ln(area) over every piece.
        let mut total = LogSumExp::default();
        let coarse_area = 2.0 * h.ln();
        for (&v, _) in f.iter().zip(&refined).filter(|(_, r)| !**r) {
            total.add(v + coarse_area);
        }
        let sub = h / refine as f64;
        let fine_area = 2.0 * sub.ln();
        let cells: Vec<usize> = (0..n * n).filter(|&k| refined[k]).collect();
        let per_cell = refine * refine;
        for group in cells.chunks((FINE_BATCH / per_cell).max(1)) {
            let mut zs = Vec::with_capacity(group.len() * per_cell);
            for &k in group {
                let (x0, y0) = (
                    -HALF_WIDTH + (k / n) as f64 * h,
                    -HALF_WIDTH + (k % n) as f64 * h,
                );
                for a in 0..refine {
                    for b in 0..refine {
                        zs.push([x0 + (a as f64 + 0.5) * sub, y0 + (b as f64 + 0.5) * sub]);
                    }
                }
            }
            for v in self.log_joint(x, &zs, m - DROP_NATS) {
                total.add(v + fine_area);
            }
        }
        total.value()
    }

    /// log p(z) + log p(x|z) per z; nodes whose upper bound drops under
    /// `cutoff` come back as −∞.
    fn log_joint(&self, x: &[u32], zs: &[[f64; 2]], cutoff: f64) -> Vec<f64> {
        let ln_v = (VOCAB as f64).ln();
        let base: Vec<f64> = zs.iter().map(|&z| Self::log_prior(z) - ln_v).collect();
        self.score(x, zs, &base, cutoff)
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

/// The entropy estimate over sentences: mean and standard error of −log p(x)
/// over the given sentences, nats per sentence. With sentences drawn from
/// the generator this is an unbiased estimate of the data's entropy, the
/// floor of any model's test NLL. Sentences run in parallel (rayon).
///
/// The standard error is the sample standard deviation over √n; it is NaN
/// for fewer than two sentences (and the mean is NaN for none).
///
/// # Panics
///
/// As [`Generator::exact_log_prob`].
pub fn entropy(generator: &Generator, sentences: &[Vec<u32>]) -> (f64, f64) {
    let nll: Vec<f64> = sentences
        .par_iter()
        .map(|x| -generator.exact_log_prob(x))
        .collect();
    let n = nll.len() as f64;
    let mean = nll.iter().sum::<f64>() / n;
    let var = nll.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
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

/// Running log Σ exp(vᵢ), rescaled whenever a larger value arrives so that
/// nothing overflows or underflows; −∞ when empty.
#[derive(Clone, Copy)]
struct LogSumExp {
    max: f64,
    sum: f64,
}

impl Default for LogSumExp {
    fn default() -> Self {
        Self {
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
}

impl LogSumExp {
    fn add(&mut self, v: f64) {
        if v == f64::NEG_INFINITY {
            return;
        }
        if v > self.max {
            self.sum = self.sum * (self.max - v).exp() + 1.0;
            self.max = v;
        } else {
            // NaN lands here and poisons the sum, as it should.
            self.sum += (v - self.max).exp();
        }
    }

    fn value(&self) -> f64 {
        self.max + self.sum.ln()
    }
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

/// A block of rows (one z each) run through the LSTM together: the state of
/// all rows is one matrix, so each step is two matrix products.
struct Block {
    rows: usize,
    /// `[rows, HIDDEN + LATENT]`: h then z, the left operand of both products.
    hz: Vec<f32>,
    /// `[rows, HIDDEN]`.
    c: Vec<f32>,
    /// `[rows, 4·HIDDEN]` scratch.
    gates: Vec<f32>,
    /// `[rows, VOCAB]`: the logits after the last [`Block::step`].
    logits: Vec<f32>,
}

impl Block {
    /// The initial state c₀ = W_c z, h₀ = tanh(c₀) of each z (in f64, then
    /// rounded to f32).
    fn start(g: &Generator, zs: &[[f64; 2]]) -> Self {
        let rows = zs.len();
        let mut hz = vec![0f32; rows * STATE];
        let mut c = vec![0f32; rows * HIDDEN];
        for ((z, hz), c) in zs
            .iter()
            .zip(hz.chunks_exact_mut(STATE))
            .zip(c.chunks_exact_mut(HIDDEN))
        {
            for (j, (cj, hj)) in c.iter_mut().zip(hz.iter_mut()).enumerate() {
                let c0 = g.w_c[j * LATENT] as f64 * z[0] + g.w_c[j * LATENT + 1] as f64 * z[1];
                *cj = c0 as f32;
                *hj = c0.tanh() as f32;
            }
            hz[HIDDEN] = z[0] as f32;
            hz[HIDDEN + 1] = z[1] as f32;
        }
        Self {
            rows,
            hz,
            c,
            gates: vec![0.0; rows * GATES],
            logits: vec![0.0; rows * VOCAB],
        }
    }

    /// Row r reads token `token(r)`: the state advances and `logits` holds
    /// the next-token logits of every row.
    fn step(&mut self, g: &Generator, token: impl Fn(usize) -> usize) {
        let rows = self.rows;
        if rows == 0 {
            return;
        }
        let gates = &mut self.gates[..rows * GATES];
        for (r, row) in gates.chunks_exact_mut(GATES).enumerate() {
            let t = token(r);
            row.copy_from_slice(&g.tok_gates[t * GATES..(t + 1) * GATES]);
        }
        matmul(
            gates,
            &self.hz[..rows * STATE],
            &g.rhs_gates,
            rows,
            STATE,
            GATES,
            true,
        );
        lstm_cells(
            gates,
            &mut self.c[..rows * HIDDEN],
            &mut self.hz[..rows * STATE],
        );
        matmul(
            &mut self.logits[..rows * VOCAB],
            &self.hz[..rows * STATE],
            &g.rhs_out,
            rows,
            STATE,
            VOCAB,
            false,
        );
    }

    /// Keep the rows where `keep` holds, in order (the caller compacts its
    /// own per-row data the same way).
    fn retain(&mut self, keep: &[bool]) {
        let mut w = 0;
        for (r, &k) in keep.iter().enumerate().take(self.rows) {
            if k {
                if w != r {
                    self.hz.copy_within(r * STATE..(r + 1) * STATE, w * STATE);
                    self.c.copy_within(r * HIDDEN..(r + 1) * HIDDEN, w * HIDDEN);
                }
                w += 1;
            }
        }
        self.rows = w;
    }
}

/// `dst[m, n] = lhs[m, k]·rhs[k, n]`, or `dst += …` when `accumulate`; all
/// row-major and contiguous. One thread: the callers parallelise over blocks.
fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(
        dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n,
        "matmul shapes"
    );
    if m == 0 {
        return;
    }
    // SAFETY: the asserts above make the slices exactly m×n, m×k and k×n
    // f32s, row-major as the strides say (column stride 1, row stride = row
    // width); gemm reads lhs and rhs and writes dst only within those.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

widest_simd! {
    /// The LSTM cell update of every row: `gates` `[rows, 4·HIDDEN]`, `c`
    /// `[rows, HIDDEN]`, and h written into the first HIDDEN columns of `hz`.
    fn lstm_cells(gates: &[f32], c: &mut [f32], hz: &mut [f32]) => lstm_cells_body
}

widest_simd! {
    /// `acc[r] += log softmax(logits row r)[next]` for every row.
    fn add_log_softmax(logits: &[f32], next: usize, acc: &mut [f64]) => add_log_softmax_body
}

widest_simd! {
    /// `tokens[r]` = the token of logits row r whose softmax CDF first
    /// exceeds `us[r]` ∈ [0, 1).
    fn draw_tokens(logits: &[f32], us: &[f64], tokens: &mut [u32]) => draw_tokens_body
}

#[inline(always)]
fn lstm_cells_body(gates: &[f32], c: &mut [f32], hz: &mut [f32]) {
    for ((g, c), hz) in gates
        .chunks_exact(GATES)
        .zip(c.chunks_exact_mut(HIDDEN))
        .zip(hz.chunks_exact_mut(STATE))
    {
        lstm_cell(g, c, &mut hz[..HIDDEN]);
    }
}

#[inline(always)]
fn add_log_softmax_body(logits: &[f32], next: usize, acc: &mut [f64]) {
    for (row, a) in logits.chunks_exact(VOCAB).zip(acc) {
        *a += row[next] as f64 - log_sum_exp_row(row);
    }
}

#[inline(always)]
fn draw_tokens_body(logits: &[f32], us: &[f64], tokens: &mut [u32]) {
    for ((row, &u), t) in logits.chunks_exact(VOCAB).zip(us).zip(tokens) {
        *t = draw_token(row, u);
    }
}

/// One LSTM cell update for one row: `gates` in order i, f, g, o.
#[inline(always)]
fn lstm_cell(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    let (gi, rest) = gates.split_at(HIDDEN);
    let (gf, rest) = rest.split_at(HIDDEN);
    let (gg, go) = rest.split_at(HIDDEN);
    let go = &go[..HIDDEN];
    let (c, h) = (&mut c[..HIDDEN], &mut h[..HIDDEN]);
    for j in 0..HIDDEN {
        let cj = sigmoid(gf[j]) * c[j] + sigmoid(gi[j]) * tanh_f32(gg[j]);
        c[j] = cj;
        h[j] = sigmoid(go[j]) * tanh_f32(cj);
    }
}

/// Largest value of a row, [`LANES`] at a time so that it vectorises. The
/// compare-and-select is one `maxps`; `f32::max` would add a NaN fix-up to
/// every step of the chain and run ten times slower (logits are finite).
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let (chunks, rest) = row.as_chunks::<LANES>();
    let mut m = [f32::NEG_INFINITY; LANES];
    for ch in chunks {
        for l in 0..LANES {
            m[l] = if ch[l] > m[l] { ch[l] } else { m[l] };
        }
    }
    m.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

/// `w[i] = e^(row[i] − shift)`: a plain map, which vectorises whatever the
/// width of the vector unit.
#[inline(always)]
fn exp_shifted(row: &[f32], shift: f32, w: &mut [f32]) {
    for (w, &l) in w.iter_mut().zip(row) {
        *w = exp_f32(l - shift);
    }
}

/// log Σ exp(row) in f64: the exponentials in f32 (relative error < 10⁻⁷,
/// vectorised), their sum and logarithm in f64. At least `max(row)`,
/// because the largest term is exp(0) = 1 exactly.
#[inline(always)]
fn log_sum_exp_row(row: &[f32]) -> f64 {
    let mx = row_max(row);
    let mut w = [0f32; VOCAB];
    exp_shifted(row, mx, &mut w[..row.len()]);
    let (chunks, rest) = w[..row.len()].as_chunks::<LANES>();
    let mut acc = [0f64; LANES];
    for ch in chunks {
        for l in 0..LANES {
            acc[l] += ch[l] as f64;
        }
    }
    let sum: f64 = acc.iter().sum::<f64>() + rest.iter().map(|&v| v as f64).sum::<f64>();
    mx as f64 + sum.ln()
}

/// The token whose softmax CDF first exceeds `u` ∈ [0, 1): sums over
/// groups of [`LANES`] weights find the group, a walk inside it the token.
#[inline(always)]
fn draw_token(logits: &[f32], u: f64) -> u32 {
    const GROUPS: usize = VOCAB.div_ceil(LANES);
    let n = logits.len().min(VOCAB);
    let mx = row_max(logits);
    let mut w = [0f32; VOCAB];
    exp_shifted(&logits[..n], mx, &mut w[..n]);
    let mut sums = [0f64; GROUPS];
    for (s, g) in sums.iter_mut().zip(w[..n].chunks(LANES)) {
        *s = g.iter().map(|&v| v as f64).sum();
    }
    let target = u * sums.iter().sum::<f64>();
    let mut cum = 0.0;
    for (k, (&s, g)) in sums.iter().zip(w[..n].chunks(LANES)).enumerate() {
        if cum + s > target {
            for (j, &v) in g.iter().enumerate() {
                cum += v as f64;
                if cum > target {
                    return (k * LANES + j) as u32;
                }
            }
            // Rounding between the group's sum and this walk: its last token.
            return (k * LANES + g.len() - 1) as u32;
        }
        cum += s;
    }
    // Only when u·total rounds up to total: the last token.
    (n - 1) as u32
}

/// e^x in f32 without branches, so loops over it vectorise: x = n·ln2 + r
/// with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its degree-7 Taylor
/// polynomial, 2ⁿ by writing the exponent bits. Relative error < 10⁻⁷; x is
/// clamped to [−87, 87] (e^±87 is still a normal f32), e^0 = 1 exactly, and
/// NaN stays NaN.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75; // few mantissa bits: n·LN2_HI is exact
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2²³: adding it rounds to an integer, which then sits in the low
    // mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 87.0);
    let t = x * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let exponent = t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127) << 23;
    p * f32::from_bits(exponent)
}

/// σ(x) = 1 / (1 + e^−x); saturates cleanly at both ends.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// tanh x = 2σ(2x) − 1 (absolute error ~10⁻⁷, which is what the LSTM sees).
#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator seed vaekit's `synthetic-text` data uses.
    const SEED: u64 = 2019;

    #[test]
    fn sample_is_deterministic_and_well_formed() {
        let g = Generator::new(SEED);
        let draw = |s: u64| g.sample(50, &mut ChaCha8Rng::seed_from_u64(s));
        let (a, za) = draw(1);
        let (b, zb) = draw(1);
        let (c, _) = draw(2);
        assert_eq!(a, b);
        assert_eq!(za, zb);
        assert_ne!(a, c);
        assert_eq!(a.len(), 50);
        assert_eq!(za.len(), 50);
        for (s, z) in a.iter().zip(&za) {
            assert_eq!(s.len(), LEN);
            assert!(s.iter().all(|&t| (t as usize) < VOCAB), "{s:?}");
            assert!(z[0].is_finite() && z[1].is_finite());
        }
        // Parameters are a pure function of the seed.
        let g2 = Generator::new(SEED);
        assert_eq!(g.rhs_out, g2.rhs_out);
        assert_eq!(g.tok_gates, g2.tok_gates);
        assert_eq!(g2.sample(50, &mut ChaCha8Rng::seed_from_u64(1)).0, a);
        assert_ne!(Generator::new(SEED + 1).rhs_out, g.rhs_out);
    }

    fn p(v: &[f32], i: usize) -> f64 {
        v[i] as f64
    }

    /// log p(x|z) written plainly in f64, one z at a time, from the raw
    /// parameters (not the derived matrices the fast path uses).
    fn reference_log_likelihood(g: &Params, x: &[u32], z: [f64; 2]) -> f64 {
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut c: Vec<f64> = (0..HIDDEN)
            .map(|j| p(&g.w_c, 2 * j) * z[0] + p(&g.w_c, 2 * j + 1) * z[1])
            .collect();
        let mut h: Vec<f64> = c.iter().map(|v| v.tanh()).collect();
        let mut ll = -(VOCAB as f64).ln();
        for t in 0..LEN - 1 {
            let tok = x[t] as usize;
            let mut input: Vec<f64> = (0..EMBED).map(|e| p(&g.embed, tok * EMBED + e)).collect();
            input.extend(z);
            let gates: Vec<f64> = (0..4 * HIDDEN)
                .map(|r| {
                    (0..INPUT)
                        .map(|k| p(&g.w_ih, r * INPUT + k) * input[k])
                        .sum::<f64>()
                        + (0..HIDDEN)
                            .map(|k| p(&g.w_hh, r * HIDDEN + k) * h[k])
                            .sum::<f64>()
                })
                .collect();
            for j in 0..HIDDEN {
                let i = sig(gates[j]);
                let f = sig(gates[HIDDEN + j]);
                let gg = gates[2 * HIDDEN + j].tanh();
                let o = sig(gates[3 * HIDDEN + j]);
                c[j] = f * c[j] + i * gg;
                h[j] = o * c[j].tanh();
            }
            let logits: Vec<f64> = (0..VOCAB)
                .map(|v| {
                    (0..HIDDEN)
                        .map(|k| p(&g.w1, v * HIDDEN + k) * h[k])
                        .sum::<f64>()
                        + p(&g.w2, 2 * v) * z[0]
                        + p(&g.w2, 2 * v + 1) * z[1]
                })
                .collect();
            let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
            ll += logits[x[t + 1] as usize] - lse;
        }
        ll
    }

    #[test]
    fn likelihood_matches_scalar_reference() {
        let g = Generator::new(SEED);
        let params = Params::draw(SEED);
        let (mut xs, ztrue) = g.sample(3, &mut ChaCha8Rng::seed_from_u64(3));
        // A sentence the model would hardly write: very low likelihoods.
        xs.push(
            (0..LEN as u32)
                .map(|i| (i * 997 + 13) % VOCAB as u32)
                .collect(),
        );
        let mut zs = vec![
            [0.0, 0.0],
            [6.5, -7.0],
            [-1.5, 2.5],
            [0.05, -0.02],
            [-7.9, 7.9],
        ];
        zs.extend_from_slice(&ztrue);
        for x in &xs {
            let fast = g.log_likelihood_many(x, &zs);
            for (&z, &a) in zs.iter().zip(&fast) {
                let b = reference_log_likelihood(&params, x, z);
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs(),
                    "x {x:?} z {z:?}: fast {a} vs reference {b}"
                );
            }
        }
        // A sentence is far more likely under the z that generated it than
        // under a z 4 away.
        for (x, z) in xs.iter().zip(&ztrue) {
            let own = g.log_likelihood_many(x, &[*z])[0];
            let far = g.log_likelihood_many(x, &[[z[0] + 3.0, z[1] - 3.0]])[0];
            assert!(own > far, "{own} vs {far}");
        }
        assert!(g.log_likelihood_many(&xs[0], &[[f64::NAN, 0.0]])[0].is_nan());
    }

    #[test]
    fn sampler_draws_from_the_model_softmax() {
        let g = Generator::new(SEED);
        let z = [1.0, -0.5];
        let first = 17u32;
        let n = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let uniforms: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let sents = g.sample_given(&vec![z; n], &vec![first; n], &uniforms, 2);
        let mut counts = vec![0usize; VOCAB];
        for s in &sents {
            assert_eq!(s[0], first);
            counts[s[1] as usize] += 1;
        }
        // p(x₂ = v | x₁, z) through the scoring path.
        let probs: Vec<f64> = (0..VOCAB as u32)
            .map(|v| g.score(&[first, v], &[z], &[0.0], f64::NEG_INFINITY)[0].exp())
            .collect();
        let total: f64 = probs.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "softmax sums to {total}");
        let mut order: Vec<usize> = (0..VOCAB).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        for &v in &order[..5] {
            let p = probs[v];
            let freq = counts[v] as f64 / n as f64;
            let tol = 5.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-4;
            assert!(
                (freq - p).abs() < tol,
                "token {v}: frequency {freq} vs probability {p}"
            );
        }
    }

    #[test]
    fn log_prior_is_normalised_and_stable() {
        // Midpoint rule on [−8, 8]² (exact to ~10⁻⁹ for these Gaussians).
        let n = 320;
        let h = 16.0 / n as f64;
        let mut mass = 0.0;
        for i in 0..n {
            for j in 0..n {
                let z = [-8.0 + (i as f64 + 0.5) * h, -8.0 + (j as f64 + 0.5) * h];
                mass += Generator::log_prior(z).exp() * h * h;
            }
        }
        assert!((mass - 1.0).abs() < 1e-7, "prior mass {mass}");
        // Direct formula where it is safe.
        let z = [0.3, -1.2];
        let direct = (MEANS
            .iter()
            .map(|m| (-0.5 * ((z[0] - m[0]).powi(2) + (z[1] - m[1]).powi(2))).exp())
            .sum::<f64>()
            / (8.0 * std::f64::consts::PI))
            .ln();
        assert!((Generator::log_prior(z) - direct).abs() < 1e-12);
        // Far away: finite, dominated by the nearest mean (2, −2).
        let far = Generator::log_prior([40.0, -40.0]);
        let expect = -(8.0 * std::f64::consts::PI).ln() - 0.5 * (38.0f64.powi(2) * 2.0);
        assert!((far - expect).abs() < 1e-9, "{far} vs {expect}");
    }

    #[test]
    fn exp_f32_is_accurate() {
        let mut worst = 0f64;
        for i in 0..=174_000 {
            // Within the clamp (f32 rounding can step just past 87).
            let x = (-87.0 + i as f32 * 1e-3).min(87.0);
            let rel = (exp_f32(x) as f64 / (x as f64).exp() - 1.0).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) < 1e-37 && exp_f32(-1000.0) >= 0.0);
    }

    /// log of the importance-sampling estimate of p(x) and its standard
    /// error (delta method: se(p̂)/p̂), with the proposal half prior, half
    /// N(z_true, 0.3² I). Independent of the quadrature.
    fn importance_sampled_log_prob(
        g: &Generator,
        x: &[u32],
        zt: [f64; 2],
        draws: usize,
        seed: u64,
    ) -> (f64, f64) {
        const S: f64 = 0.3;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Alternating halves: stratified, still unbiased for the mixture.
        let zs: Vec<[f64; 2]> = (0..draws)
            .map(|i| {
                let mean = MEANS[rng.random_range(0..4u32) as usize];
                let (e0, e1) = standard_normal_pair(&mut rng);
                if i % 2 == 0 {
                    [mean[0] + e0, mean[1] + e1]
                } else {
                    [zt[0] + S * e0, zt[1] + S * e1]
                }
            })
            .collect();
        let ll = g.log_likelihood_many(x, &zs);
        let log_w: Vec<f64> = zs
            .iter()
            .zip(&ll)
            .map(|(&z, &l)| {
                let lp = Generator::log_prior(z);
                let d2 = (z[0] - zt[0]).powi(2) + (z[1] - zt[1]).powi(2);
                let lg = -(std::f64::consts::TAU * S * S).ln() - d2 / (2.0 * S * S);
                let (hi, lo) = if lp > lg { (lp, lg) } else { (lg, lp) };
                let lq = hi + (lo - hi).exp().ln_1p() - std::f64::consts::LN_2;
                lp + l - lq
            })
            .collect();
        let m = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = log_w.iter().map(|&v| (v - m).exp()).collect();
        let n = w.len() as f64;
        let mean = w.iter().sum::<f64>() / n;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (m + mean.ln(), (var / n).sqrt() / mean)
    }

    #[test]
    fn quadrature_matches_importance_sampling() {
        let g = Generator::new(SEED);
        let (xs, zs) = g.sample(2, &mut ChaCha8Rng::seed_from_u64(5));
        for (k, (x, zt)) in xs.iter().zip(&zs).enumerate() {
            let (est, se) = importance_sampled_log_prob(&g, x, *zt, 40_000, 100 + k as u64);
            let exact = g.exact_log_prob(x);
            eprintln!(
                "sentence {k}: quadrature {exact:.6}, importance sampling {est:.6} ± {se:.6}"
            );
            assert!(
                se < 0.2,
                "importance sampling too noisy to test anything (se {se})"
            );
            assert!(
                (est - exact).abs() < 4.0 * se + 1e-3,
                "quadrature {exact} vs IS {est} ± {se}"
            );
        }
    }

    #[test]
    fn quadrature_converges() {
        let g = Generator::new(SEED);
        let (xs, _) = g.sample(1, &mut ChaCha8Rng::seed_from_u64(6));
        let x = &xs[0];
        let default = g.exact_log_prob(x);
        // Finer everywhere: half the coarse step (a different lattice, so a
        // different refined region) and 0.025 fine spacing instead of 0.033.
        let finer = g.exact_log_prob_with(x, 0.1, 4);
        let coarse_only = g.exact_log_prob_with(x, DEFAULT_COARSE_STEP, 1);
        eprintln!("default {default:.8}, finer {finer:.8}, coarse grid alone {coarse_only:.8}");
        assert!(default.is_finite() && default < 0.0);
        assert!(
            (default - finer).abs() < 1e-4,
            "default {default} vs finer {finer}"
        );
    }

    #[test]
    fn entropy_is_mean_and_standard_error() {
        let g = Generator::new(SEED);
        let (xs, _) = g.sample(2, &mut ChaCha8Rng::seed_from_u64(7));
        let (h, se) = entropy(&g, &xs);
        let a = -g.exact_log_prob(&xs[0]);
        let b = -g.exact_log_prob(&xs[1]);
        assert!(
            (h - (a + b) / 2.0).abs() < 1e-12,
            "{h} vs {}",
            (a + b) / 2.0
        );
        // Two values: sd = |a − b|/√2, se = sd/√2.
        assert!((se - (a - b).abs() / 2.0).abs() < 1e-9, "{se}");
        let (h0, se0) = entropy(&g, &[]);
        assert!(h0.is_nan() && se0.is_nan());
        // At least the uniform first token's ln 1000.
        assert!(h > (VOCAB as f64).ln());
    }

    /// FNV-1a (64-bit) over the little-endian bytes of every token id.
    fn token_hash(sentences: &[Vec<u32>]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in sentences.iter().flatten().flat_map(|t| t.to_le_bytes()) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    /// Regression pin of the generator's output: the tokens of 400
    /// sentences of `synthetic-text`'s generator (the seed
    /// [`crate::data::SYNTHETIC_TEXT_GENERATOR_SEED`] the crate builds it
    /// with), hashed, and a few log p(x|z) and exact log p(x) values.
    ///
    /// The hash and values were computed with the code as it stood before
    /// issue 22 moved the generator's matrix products onto the crate's one
    /// `core::matmul` entry and its exponentials into `core::fastmath`. The
    /// point is to prove such moves change no generated token: a different
    /// rounding of σ, tanh or exp (or a different product kernel) would move
    /// some softmax CDF across a uniform and change a token somewhere in
    /// these 3600 draws. The likelihoods are pinned tightly too (they may
    /// legitimately move by float rounding if the arithmetic changes, the
    /// tokens must not). Computed on x86-64 with AVX-512: gemm picks its
    /// kernels by instruction set, so another ISA could round the products
    /// differently.
    #[test]
    fn generated_tokens_and_likelihoods_are_pinned() {
        let g = Generator::new(crate::data::SYNTHETIC_TEXT_GENERATOR_SEED);
        let (xs, zs) = g.sample(400, &mut ChaCha8Rng::seed_from_u64(22));
        let hash = token_hash(&xs);
        let ll = g.log_likelihood_many(&xs[0], &[zs[0], [0.0, 0.0], [1.5, -2.5], [-6.0, 7.0]]);
        let exact = [g.exact_log_prob(&xs[0]), g.exact_log_prob(&xs[1])];
        eprintln!("hash {hash:#018x}\nlog p(x|z) {ll:?}\nlog p(x) {exact:?}");
        assert_eq!(hash, PINNED_HASH, "the generated tokens changed");
        for (got, want) in ll
            .iter()
            .chain(&exact)
            .zip(PINNED_LL.iter().chain(&PINNED_EXACT))
        {
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "pinned likelihood moved: {got:e} vs {want:e} (by {:e})",
                got - want
            );
        }
    }

    /// What [`generated_tokens_and_likelihoods_are_pinned`] saw before the
    /// move (see there).
    const PINNED_HASH: u64 = 0x3b58_51cc_d5b5_4066;
    const PINNED_LL: [f64; 4] = [
        -28.353807415760727,
        -73.97712192482113,
        -176.2788278255047,
        -622.1181179427068,
    ];
    const PINNED_EXACT: [f64; 2] = [-28.71914246978827, -37.19568530192828];
}
