//! A fast IWAE evaluator for dense MLP VAEs on the CPU: the standard normal,
//! Gaussian-mixture and VampPrior priors, Bernoulli and Gaussian decoders.
//!
//! The generic path ([`super::iwae::evaluate`]) runs any model through burn;
//! for k in the thousands it spends its time allocating `k × pixels` logits
//! and in per-op overhead. This path computes the same log-weights with the
//! weights copied to the host once, and:
//!
//! - images are split across cores (rayon), one image per task;
//! - samples go through the decoder in blocks of [`BLOCK`] rows with the
//!   `gemm` crate's kernels (AVX-512 where the CPU has it), so the logits of
//!   a block stay in cache and the `k × 784` matrix never exists;
//! - `x·l` is folded into one matrix-vector product per image
//!   (`x·(hW + b) = h·(Wx) + b·x`), so the per-pixel work left is softplus,
//!   summed with a branch-free loop the compiler vectorises; a Gaussian
//!   decoder's Σ (x − μ)²/σ² is one such loop too;
//! - a mixture prior (GMM, or the VampPrior's q(z|u_k) computed once) is
//!   evaluated with its components transposed, so the loops over K
//!   vectorise, and a max-shifted logsumexp with the fast `exp`.
//!
//! The noise of image i is drawn from the same stream, in the same order, as
//! the generic path, so both paths compute the same log-weights up to f32
//! rounding (`tests` check it).

use super::ess::WeightSums;
use super::iwae::{IwaeOptions, PerExample};
use crate::core::rng::{Purpose, stream};
use crate::data::Dataset;
use crate::models::LatentModel;
use crate::models::config::Activation;
use crate::models::prior::HostMixture;
use burn::nn::Linear;
use rand::Rng;
use rayon::prelude::*;

/// Samples per decoder block.
pub const BLOCK: usize = 256;

const HALF_LN_2PI: f32 = 0.918_938_5;

/// A dense layer on the host: `y = x W + b`, W row-major `[inp, out]`.
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
}

impl Dense {
    fn from(l: &Linear) -> Self {
        let [inp, out] = l.weight.val().dims();
        Self {
            w: crate::core::host::read(l.weight.val()),
            b: l.bias
                .as_ref()
                .map(|b| crate::core::host::read(b.val()))
                .unwrap_or_else(|| vec![0.0; out]),
            inp,
        }
    }

    /// `y[rows, out] = x[rows, inp] W + b`, on this thread.
    fn forward(&self, x: &[f32], rows: usize, y: &mut Vec<f32>) {
        crate::core::fused::dense_into(x, &self.w, &self.b, rows, y, false);
    }
}

fn activate(v: &mut [f32], a: Activation) {
    match a {
        Activation::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::LeakyRelu => v
            .iter_mut()
            .for_each(|x| *x = if *x > 0.0 { *x } else { 0.01 * *x }),
        Activation::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
        Activation::Gelu => v
            .iter_mut()
            .for_each(|x| *x = 0.5 * *x * (1.0 + libm::erff(*x * std::f32::consts::FRAC_1_SQRT_2))),
    }
}

use crate::core::fastmath::softplus;

/// `out[s] = Σ_d softplus(logits[s, d])` for each row of `logits`
/// (`[·, d]`), with 16 independent accumulators so the loop vectorises (a
/// single f32 accumulator would force sequential adds).
#[inline(always)]
fn softplus_rows_body(logits: &[f32], out: &mut [f32], d: usize) {
    for (row, o) in logits.chunks_exact(d).zip(out.iter_mut()) {
        let mut acc = [0f32; 16];
        let mut chunks = row.chunks_exact(16);
        for c in &mut chunks {
            for j in 0..16 {
                acc[j] += softplus(c[j]);
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|&l| softplus(l)).sum();
        *o = acc.iter().sum::<f32>() + tail;
    }
}

crate::core::fastmath::widest_simd! {
/// [`softplus_rows_body`] with the widest vector unit the CPU has.
fn softplus_rows(logits: &[f32], out: &mut [f32], d: usize) => softplus_rows_body
}

/// Σ_d (x_d − μ_d)² / σ²_d for each row of `mu` (`[rows, d]`), into `out`.
#[inline(always)]
fn weighted_sq_rows_body(mu: &[f32], x: &[f32], inv_var: &[f32], out: &mut [f32], d: usize) {
    for (row, o) in mu.chunks_exact(d).zip(out.iter_mut()) {
        let mut acc = [0f32; 16];
        let (mut r, mut xs, mut iv) = (
            row.chunks_exact(16),
            x.chunks_exact(16),
            inv_var.chunks_exact(16),
        );
        for ((r, x), iv) in (&mut r).zip(&mut xs).zip(&mut iv) {
            for j in 0..16 {
                let e = x[j] - r[j];
                acc[j] += e * e * iv[j];
            }
        }
        let tail: f32 = r
            .remainder()
            .iter()
            .zip(xs.remainder())
            .zip(iv.remainder())
            .map(|((r, x), iv)| (x - r) * (x - r) * iv)
            .sum();
        *o = acc.iter().sum::<f32>() + tail;
    }
}

crate::core::fastmath::widest_simd! {
/// [`weighted_sq_rows_body`] with the widest vector unit the CPU has.
fn weighted_sq_rows(mu: &[f32], x: &[f32], inv_var: &[f32], out: &mut [f32], d: usize) => weighted_sq_rows_body
}

/// log Σ_k exp(c_k − ½ Σ_j (z_j − μ_kj)²/σ²_kj) for each row of `z`
/// (`[rows, zd]`), with the components transposed (`[zd, K]`) so that the
/// inner loops run over components and vectorise. `acc` holds K values.
#[inline(always)]
fn mixture_rows_body(
    z: &[f32],
    means_t: &[f32],
    half_inv_t: &[f32],
    consts: &[f32],
    acc: &mut [f32],
    out: &mut [f32],
    zd: usize,
) {
    let k = consts.len();
    for (row, o) in z.chunks_exact(zd).zip(out.iter_mut()) {
        acc.copy_from_slice(consts);
        for (j, &zj) in row.iter().enumerate() {
            let (m, h) = (
                &means_t[j * k..(j + 1) * k],
                &half_inv_t[j * k..(j + 1) * k],
            );
            for ((a, m), h) in acc.iter_mut().zip(m).zip(h) {
                let e = zj - m;
                *a -= e * e * h;
            }
        }
        let mut mx = [f32::NEG_INFINITY; 16];
        let mut chunks = acc.chunks_exact(16);
        for c in &mut chunks {
            for j in 0..16 {
                mx[j] = mx[j].max(c[j]);
            }
        }
        let max = chunks
            .remainder()
            .iter()
            .chain(&mx)
            .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let sum: f32 = if max == f32::NEG_INFINITY {
            0.0
        } else {
            acc.iter().map(|&a| exp_nonpositive(a - max)).sum()
        };
        // f32::max skips NaN: a NaN component (a diverged prior) makes
        // log p(z) NaN, as in the generic path, rather than being dropped.
        *o = if acc.iter().any(|a| a.is_nan()) {
            f32::NAN
        } else {
            max + sum.ln()
        };
    }
}

crate::core::fastmath::widest_simd! {
/// [`mixture_rows_body`] with the widest vector unit the CPU has.
fn mixture_rows(z: &[f32], means_t: &[f32], half_inv_t: &[f32], consts: &[f32], acc: &mut [f32], out: &mut [f32], zd: usize) => mixture_rows_body
}

use crate::core::fastmath::exp_nonpositive;

/// `out[s] = Σ_j rows[s, j]·v[j]` for each row of `rows` (`[·, v.len()]`),
/// with 16 accumulators so the loop vectorises.
#[inline(always)]
fn dot_rows_body(rows: &[f32], v: &[f32], out: &mut [f32]) {
    for (row, o) in rows.chunks_exact(v.len()).zip(out.iter_mut()) {
        let mut acc = [0f32; 16];
        let (mut r, mut w) = (row.chunks_exact(16), v.chunks_exact(16));
        for (r, w) in (&mut r).zip(&mut w) {
            for j in 0..16 {
                acc[j] += r[j] * w[j];
            }
        }
        let tail: f32 = r
            .remainder()
            .iter()
            .zip(w.remainder())
            .map(|(a, b)| a * b)
            .sum();
        *o = acc.iter().sum::<f32>() + tail;
    }
}

crate::core::fastmath::widest_simd! {
/// [`dot_rows_body`] with the widest vector unit the CPU has.
fn dot_rows(rows: &[f32], v: &[f32], out: &mut [f32]) => dot_rows_body
}

/// One worker's buffers, reused from image to image (fresh ones would be
/// fresh pages from the OS for every image: the logits block alone is
/// `BLOCK × pixels` floats).
#[derive(Default)]
struct Scratch {
    eps: Vec<f32>,
    zs: Vec<f32>,
    h: Vec<f32>,
    h2: Vec<f32>,
    logits: Vec<f32>,
    log_pz: Vec<f32>,
    log_px: Vec<f32>,
    softplus: Vec<f32>,
    acc: Vec<f32>,
}

/// The prior's log-density on the host.
enum HostPrior {
    StandardNormal,
    /// Components transposed to `[zd, K]`: means, 1/(2σ²), and per
    /// component log π_k − zd·½ log 2π − ½ Σ_j log σ²_kj.
    Mixture {
        means_t: Vec<f32>,
        half_inv_t: Vec<f32>,
        consts: Vec<f32>,
    },
}

impl HostPrior {
    fn new(mixture: Option<HostMixture>, zd: usize) -> Self {
        let Some(m) = mixture else {
            return Self::StandardNormal;
        };
        let k = m.components();
        let (mut means_t, mut half_inv_t) = (vec![0f32; zd * k], vec![0f32; zd * k]);
        for c in 0..k {
            for j in 0..zd {
                means_t[j * k + c] = m.means[c * zd + j];
                half_inv_t[j * k + c] = 0.5 * (-m.log_vars[c * zd + j]).exp();
            }
        }
        let consts = (0..k)
            .map(|c| {
                m.log_weights[c]
                    - zd as f32 * HALF_LN_2PI
                    - 0.5 * m.log_vars[c * zd..(c + 1) * zd].iter().sum::<f32>()
            })
            .collect();
        Self::Mixture {
            means_t,
            half_inv_t,
            consts,
        }
    }

    /// log p(z) of each row of `z` (`[rows, zd]`) into `out`.
    fn log_prob(&self, z: &[f32], zd: usize, acc: &mut Vec<f32>, out: &mut [f32]) {
        match self {
            Self::StandardNormal => {
                for (row, o) in z.chunks_exact(zd).zip(out.iter_mut()) {
                    *o = -(zd as f32) * HALF_LN_2PI - 0.5 * row.iter().map(|v| v * v).sum::<f32>();
                }
            }
            Self::Mixture {
                means_t,
                half_inv_t,
                consts,
            } => {
                acc.resize(consts.len(), 0.0);
                mixture_rows(z, means_t, half_inv_t, consts, acc, out, zd);
            }
        }
    }
}

/// The decoder's density on the host.
enum HostLikelihood {
    /// `x·l − softplus(l)` from logits.
    Bernoulli,
    /// N(μ, σ²) per pixel: 1/σ² per pixel, and −½ Σ_d (log 2π + log σ²_d).
    Gaussian { inv_var: Vec<f32>, log_norm: f32 },
}

impl HostLikelihood {
    fn new(log_var: Option<Vec<f32>>, d: usize) -> Self {
        let Some(lv) = log_var else {
            return Self::Bernoulli;
        };
        // One shared value or one per pixel.
        let lv: Vec<f32> = (0..d)
            .map(|i| lv[if lv.len() == 1 { 0 } else { i }])
            .collect();
        Self::Gaussian {
            inv_var: lv.iter().map(|l| (-l).exp()).collect(),
            log_norm: lv.iter().map(|l| -HALF_LN_2PI - 0.5 * l).sum(),
        }
    }
}

/// The host copy of a dense MLP VAE ([`crate::models::PlainMlp`]).
pub struct HostVae {
    encoder: Vec<Dense>,
    mean: Dense,
    log_var: Dense,
    decoder: Vec<Dense>,
    out: Dense,
    activation: Activation,
    prior: HostPrior,
    likelihood: HostLikelihood,
    z: usize,
    d: usize,
}

impl HostVae {
    /// None when the model has no fast path ([`LatentModel::plain_mlp`]:
    /// convolutions, a VQ-VAE, a text model).
    pub fn from<M: LatentModel>(model: &M) -> Option<Self> {
        let m = model.plain_mlp()?;
        Some(Self {
            encoder: m.encoder.iter().map(Dense::from).collect(),
            mean: Dense::from(m.mean),
            log_var: Dense::from(m.log_var),
            decoder: m.decoder.iter().map(Dense::from).collect(),
            out: Dense::from(m.out),
            activation: m.activation,
            prior: HostPrior::new(m.mixture, m.latent),
            likelihood: HostLikelihood::new(m.gaussian_log_var, m.data_dim),
            z: m.latent,
            d: m.data_dim,
        })
    }

    /// Log-weights of image `x` for the `k` samples of stream `(seed, Eval, index, 1)`,
    /// pushed into `sink(log w, log p(x|z))`; returns the KL of the ELBO:
    /// analytic for the standard normal prior, else log q(z₁|x) − log p(z₁)
    /// at the first sample (as the generic path and training estimate it).
    fn log_weights(
        &self,
        x: &[f32],
        index: usize,
        opts: &IwaeOptions,
        scratch: &mut Scratch,
        mut sink: impl FnMut(f32, f32),
    ) -> f64 {
        let (zd, d) = (self.z, self.d);
        // Encoder, one row.
        let (mut a, mut b) = (x.to_vec(), Vec::new());
        for layer in &self.encoder {
            layer.forward(&a, 1, &mut b);
            activate(&mut b, self.activation);
            std::mem::swap(&mut a, &mut b);
        }
        let (mut mu, mut lv) = (Vec::new(), Vec::new());
        self.mean.forward(&a, 1, &mut mu);
        self.log_var.forward(&a, 1, &mut lv);
        let sd: Vec<f32> = lv.iter().map(|l| (0.5 * l).exp()).collect();
        let analytic_kl = matches!(self.prior, HostPrior::StandardNormal);
        let mut kl: f64 = if analytic_kl {
            (0..zd)
                .map(|j| 0.5 * (mu[j] * mu[j] + lv[j].exp() - lv[j] - 1.0) as f64)
                .sum()
        } else {
            0.0 // from the first sample, below
        };
        // Bernoulli: x·l = h·(W x) + b·x, one matrix-vector product per image.
        let h_out = self.out.inp;
        let (wx, bx): (Vec<f32>, f32) = match self.likelihood {
            HostLikelihood::Bernoulli => (
                (0..h_out)
                    .map(|r| {
                        let row = &self.out.w[r * d..(r + 1) * d];
                        row.iter().zip(x).map(|(w, x)| w * x).sum::<f32>()
                    })
                    .collect(),
                self.out.b.iter().zip(x).map(|(b, x)| b * x).sum(),
            ),
            HostLikelihood::Gaussian { .. } => (Vec::new(), 0.0),
        };
        let log_q_const: f32 = lv.iter().map(|l| -HALF_LN_2PI - 0.5 * l).sum();

        let mut rng = stream(opts.seed, Purpose::Eval, index as u64, 1);
        let Scratch {
            eps,
            zs,
            h,
            h2,
            logits,
            log_pz,
            log_px,
            softplus,
            acc,
        } = scratch;
        log_pz.resize(BLOCK, 0.0);
        log_px.resize(BLOCK, 0.0);
        softplus.resize(BLOCK, 0.0);
        let mut done = 0;
        while done < opts.k {
            let c = BLOCK.min(opts.k - done);
            eps.clear();
            eps.extend((0..c * zd).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)));
            zs.clear();
            zs.extend(
                eps.iter()
                    .enumerate()
                    .map(|(i, e)| mu[i % zd] + sd[i % zd] * e),
            );
            // Decoder hidden layers.
            h.clear();
            h.extend_from_slice(zs);
            for layer in &self.decoder {
                layer.forward(h, c, h2);
                activate(h2, self.activation);
                std::mem::swap(h, h2);
            }
            self.out.forward(h, c, logits);
            self.prior.log_prob(zs, zd, acc, &mut log_pz[..c]);
            // log p(x|z) of each sample: Bernoulli h·(W x) + b·x − Σ softplus(l);
            // Gaussian −½ Σ (x − μ)²/σ² + the normaliser.
            let (lpx, sp) = (&mut log_px[..c], &mut softplus[..c]);
            match &self.likelihood {
                HostLikelihood::Bernoulli => {
                    dot_rows(&h[..c * h_out], &wx, lpx);
                    softplus_rows(logits, sp, d);
                    lpx.iter_mut()
                        .zip(sp.iter())
                        .for_each(|(l, s)| *l += bx - s);
                }
                HostLikelihood::Gaussian { inv_var, log_norm } => {
                    weighted_sq_rows(logits, x, inv_var, lpx, d);
                    lpx.iter_mut().for_each(|l| *l = log_norm - 0.5 * *l);
                }
            }
            for s in 0..c {
                let log_px = lpx[s];
                let e = &eps[s * zd..(s + 1) * zd];
                let log_q = log_q_const - 0.5 * e.iter().map(|v| v * v).sum::<f32>();
                if !analytic_kl && done == 0 && s == 0 {
                    kl = (log_q - log_pz[s]) as f64;
                }
                sink(log_px + log_pz[s] - log_q, log_px);
            }
            done += c;
        }
        kl
    }
}

/// L_k and the ELBO for every example, as [`super::iwae::evaluate`] computes
/// them; None when the model has no fast path.
pub fn evaluate<M: LatentModel>(
    model: &M,
    data: &Dataset,
    opts: &IwaeOptions,
) -> Option<PerExample> {
    let images = data.images()?;
    let host = HostVae::from(model)?;
    let k = opts.k.max(1);
    let per: Vec<(f64, f64, f64)> = (0..images.n)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, i| {
            let mut sums = WeightSums::default();
            let mut rec = 0f64;
            let kl = host.log_weights(images.image(i), i, opts, scratch, |lw, lpx| {
                sums.push(lw as f64);
                rec += lpx as f64;
            });
            (
                rec / k as f64 - kl,
                sums.lse.value() - (k as f64).ln(),
                sums.ess(),
            )
        })
        .collect();
    Some(PerExample {
        elbo: per.iter().map(|p| p.0).collect(),
        log_px: per.iter().map(|p| p.1).collect(),
        ess: per.iter().map(|p| p.2).collect(),
        k,
        one_hot_kl: None,
        tokens: None,
    })
}

/// Log-weights of one image from the fast path (for tests).
pub fn log_weights_of<M: LatentModel>(
    model: &M,
    x: &[f32],
    index: usize,
    opts: &IwaeOptions,
) -> Option<Vec<f32>> {
    let host = HostVae::from(model)?;
    let mut out = Vec::with_capacity(opts.k);
    host.log_weights(x, index, opts, &mut Scratch::default(), |lw, _| {
        out.push(lw)
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataKind, ImageSet};
    use crate::models::build_model;
    use crate::models::config::{Likelihood, ModelConfig};

    fn kind_of(d: usize) -> DataKind {
        DataKind::Images {
            rows: 1,
            cols: d,
            channels: 1,
        }
    }

    fn data(n: usize, d: usize) -> ImageSet {
        ImageSet {
            images: (0..n * d)
                .map(|i| ((i * 31) % 7 < 3) as u8 as f32)
                .collect(),
            n,
            rows: 1,
            cols: d,
            channels: 1,
            labels: None,
            binary: true,
        }
    }

    #[test]
    fn fast_and_generic_paths_compute_the_same_bounds() {
        for (activation, hidden) in [
            (Activation::Gelu, vec![24, 16]),
            (Activation::Relu, vec![32]),
        ] {
            let cfg = ModelConfig {
                latent_dim: 3,
                hidden,
                activation,
                ..ModelConfig::default()
            };
            let dev = burn::tensor::Device::flex();
            let model = build_model(&cfg, 0, &kind_of(20), &dev);
            let d = Dataset::from(data(5, 20));
            // k not a multiple of the block, chunk not equal to the block.
            let opts = IwaeOptions {
                k: 600,
                chunk: 77,
                seed: 4,
            };
            let generic = super::super::iwae::evaluate(&model, &d, &opts, &dev);
            let fast = evaluate(&model, &d, &opts).unwrap();
            for i in 0..5 {
                assert!(
                    (generic.log_px[i] - fast.log_px[i]).abs() < 1e-4,
                    "{activation:?} L_k {} vs {}",
                    generic.log_px[i],
                    fast.log_px[i]
                );
                assert!(
                    (generic.elbo[i] - fast.elbo[i]).abs() < 1e-4,
                    "{activation:?} ELBO {} vs {}",
                    generic.elbo[i],
                    fast.elbo[i]
                );
                // The same weights give the same effective sample size.
                assert!(
                    (generic.ess[i] - fast.ess[i]).abs() < 1e-3 * generic.ess[i],
                    "{activation:?} ESS {} vs {}",
                    generic.ess[i],
                    fast.ess[i]
                );
            }
        }
    }

    #[test]
    fn each_log_weight_matches_the_generic_computation() {
        use crate::models::LatentModel;
        let cfg = ModelConfig {
            latent_dim: 4,
            hidden: vec![40],
            ..ModelConfig::default()
        };
        let dev = burn::tensor::Device::flex();
        let model = build_model(&cfg, 0, &kind_of(30), &dev);
        let d = data(2, 30);
        let opts = IwaeOptions {
            k: 300,
            chunk: 300,
            seed: 8,
        };
        let fast = log_weights_of(&model, d.image(1), 1, &opts).unwrap();
        let mut rng = stream(8, Purpose::Eval, 1, 1);
        let eps: Vec<f32> = (0..300 * 4)
            .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect();
        let x = crate::models::Batch::Images(crate::core::host::upload(
            d.image(1).to_vec(),
            1,
            30,
            &dev,
        ));
        let post = model.encode(&x);
        let (lw, _) =
            model.log_weights(&post, &x, crate::core::host::upload(eps, 300, 4, &dev), 300);
        let generic = crate::core::host::read(lw);
        for (i, (a, b)) in fast.iter().zip(&generic).enumerate() {
            assert!(
                (a - b).abs() < 1e-4 * b.abs().max(1.0),
                "sample {i}: fast {a} vs generic {b}"
            );
        }
    }

    #[test]
    fn vectorisable_softplus_matches_f64_reference() {
        let mut worst = 0f64;
        for i in -4000..=4000 {
            let l = i as f32 * 0.02; // [-80, 80]
            let want = (l as f64).max(0.0) + (-(l as f64).abs()).exp().ln_1p();
            let got = softplus(l) as f64;
            let err = (got - want).abs() / want.max(1e-30);
            worst = worst.max(err);
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        let row: Vec<f32> = (0..785).map(|i| (i as f32 - 392.0) * 0.05).collect();
        let want: f64 = row
            .iter()
            .map(|&l| (l as f64).max(0.0) + (-(l as f64).abs()).exp().ln_1p())
            .sum();
        let mut got = [0f32];
        softplus_rows(&row, &mut got, row.len());
        assert!((got[0] as f64 - want).abs() < 1e-6 * want);
    }

    /// Every prior and decoder of the fast path against the generic one.
    #[test]
    fn mixture_priors_and_gaussian_decoders_match_the_generic_path() {
        use crate::models::config::{MixtureConfig, ModelKind, VarianceSharing};
        let cases = [
            (
                ModelKind::Gmm,
                Likelihood::Bernoulli,
                VarianceSharing::Shared,
            ),
            (
                ModelKind::Vamp,
                Likelihood::Bernoulli,
                VarianceSharing::Shared,
            ),
            (
                ModelKind::Vae,
                Likelihood::Gaussian,
                VarianceSharing::Shared,
            ),
            (
                ModelKind::Gmm,
                Likelihood::Gaussian,
                VarianceSharing::PerPixel,
            ),
        ];
        for (kind, likelihood, variance) in cases {
            let cfg = ModelConfig {
                kind,
                likelihood,
                variance,
                latent_dim: 3,
                hidden: vec![24],
                gmm: MixtureConfig { components: 19 },
                vamp: MixtureConfig { components: 7 },
                ..ModelConfig::default()
            };
            let dev = burn::tensor::Device::flex();
            let model = build_model(&cfg, 1, &kind_of(20), &dev);
            let d = Dataset::from(data(4, 20));
            let opts = IwaeOptions {
                k: 300,
                chunk: 64,
                seed: 2,
            };
            let generic = super::super::iwae::evaluate(&model, &d, &opts, &dev);
            let fast = evaluate(&model, &d, &opts).expect("a dense MLP has the fast path");
            for i in 0..4 {
                for (what, g, f) in [
                    ("L_k", generic.log_px[i], fast.log_px[i]),
                    ("ELBO", generic.elbo[i], fast.elbo[i]),
                ] {
                    assert!(
                        (g - f).abs() < 1e-4 * g.abs().max(1.0),
                        "{kind:?}/{likelihood:?}/{variance:?} {what}: generic {g} vs fast {f}"
                    );
                }
                assert!((generic.ess[i] - fast.ess[i]).abs() < 1e-3 * generic.ess[i]);
            }
        }
    }

    /// The host mixture density against burn's prior with unequal weights,
    /// means and variances, far points included.
    #[test]
    fn host_mixture_density_matches_the_burn_prior() {
        use crate::models::prior::{GmmPrior, mixture_log_prob};
        use burn::module::Param;
        use burn::tensor::{Distribution, Tensor};
        let dev = burn::tensor::Device::flex();
        dev.seed(5);
        let (k, zd) = (37, 5);
        let g = GmmPrior {
            means: Param::from_tensor(Tensor::random(
                [k, zd],
                Distribution::Normal(0.0, 2.0),
                &dev,
            )),
            log_vars: Param::from_tensor(Tensor::random(
                [k, zd],
                Distribution::Uniform(-3.0, 1.0),
                &dev,
            )),
            logits: Param::from_tensor(Tensor::random([k], Distribution::Normal(0.0, 1.5), &dev)),
        };
        let z = Tensor::<2>::random([50, zd], Distribution::Normal(0.0, 3.0), &dev);
        let want = crate::core::host::read(mixture_log_prob(g.joint(z.clone())));
        let prior = HostPrior::new(Some(HostMixture::of_gmm(&g)), zd);
        let mut got = vec![0f32; 50];
        prior.log_prob(&crate::core::host::read(z), zd, &mut Vec::new(), &mut got);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4 * w.abs().max(1.0), "{g} vs {w}");
        }
        // A diverged component (NaN weight) gives NaN, as burn's graph does,
        // not a density with that component silently dropped.
        let mut bad = HostMixture::of_gmm(&g);
        bad.log_weights[3] = f32::NAN;
        let mut out = vec![0f32; 2];
        HostPrior::new(Some(bad), zd).log_prob(&[0.0; 10], zd, &mut Vec::new(), &mut out);
        assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
    }
}
