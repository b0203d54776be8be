//! A fast IWAE evaluator for the MLP VAE with a Bernoulli decoder, on the CPU.
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
//!   summed with a branch-free loop the compiler vectorises.
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
use burn::nn::Linear;
use rand::Rng;
use rayon::prelude::*;

/// Samples per decoder block.
pub const BLOCK: usize = 128;

const HALF_LN_2PI: f32 = 0.918_938_5;

/// A dense layer on the host: `y = x W + b`, W row-major `[inp, out]`.
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
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
            out,
        }
    }

    /// `y[rows, out] = x[rows, inp] W + b`.
    fn forward(&self, x: &[f32], rows: usize, y: &mut Vec<f32>) {
        assert_eq!(x.len(), rows * self.inp, "input does not match the layer");
        y.clear();
        for _ in 0..rows {
            y.extend_from_slice(&self.b);
        }
        // SAFETY: the slices hold rows×inp, inp×out and rows×out f32s in
        // row-major order, as the strides say; gemm reads and writes only those.
        unsafe {
            gemm::gemm(
                rows,
                self.out,
                self.inp,
                y.as_mut_ptr(),
                1,
                self.out as isize,
                true,
                x.as_ptr(),
                1,
                self.inp as isize,
                self.w.as_ptr(),
                1,
                self.out as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
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

/// Σ softplus over a row, with 16 independent accumulators so the loop
/// vectorises (a single f32 accumulator would force sequential adds).
#[inline(always)]
fn softplus_sum_body(row: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for j in 0..16 {
            acc[j] += softplus(c[j]);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&l| softplus(l)).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softplus_sum_avx512(row: &[f32]) -> f32 {
    softplus_sum_body(row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softplus_sum_avx2(row: &[f32]) -> f32 {
    softplus_sum_body(row)
}

/// Σ_d softplus(row[d]) with the widest vector unit the CPU has.
fn softplus_sum(row: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { softplus_sum_avx512(row) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { softplus_sum_avx2(row) };
        }
    }
    softplus_sum_body(row)
}

/// The host copy of a Bernoulli MLP VAE.
pub struct HostVae {
    encoder: Vec<Dense>,
    mean: Dense,
    log_var: Dense,
    decoder: Vec<Dense>,
    out: Dense,
    activation: Activation,
    z: usize,
    d: usize,
}

impl HostVae {
    /// None when the model has no fast path: it is not a plain MLP VAE
    /// ([`LatentModel::plain_mlp`]: a Gaussian decoder, a mixture prior,
    /// convolutions, a VQ-VAE).
    pub fn from<M: LatentModel>(model: &M) -> Option<Self> {
        let m = model.plain_mlp()?;
        Some(Self {
            encoder: m.encoder.iter().map(Dense::from).collect(),
            mean: Dense::from(m.mean),
            log_var: Dense::from(m.log_var),
            decoder: m.decoder.iter().map(Dense::from).collect(),
            out: Dense::from(m.out),
            activation: m.activation,
            z: m.latent,
            d: m.data_dim,
        })
    }

    /// Log-weights of image `x` for the `k` samples of stream `(seed, Eval, index, 1)`,
    /// pushed into `sink(log w, log p(x|z))`; returns the analytic KL.
    fn log_weights(
        &self,
        x: &[f32],
        index: usize,
        opts: &IwaeOptions,
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
        let kl: f64 = (0..zd)
            .map(|j| 0.5 * (mu[j] * mu[j] + lv[j].exp() - lv[j] - 1.0) as f64)
            .sum();
        // x·l = h·(W x) + b·x: one matrix-vector product per image.
        let h_out = self.out.inp;
        let wx: Vec<f32> = (0..h_out)
            .map(|r| {
                let row = &self.out.w[r * d..(r + 1) * d];
                row.iter().zip(x).map(|(w, x)| w * x).sum()
            })
            .collect();
        let bx: f32 = self.out.b.iter().zip(x).map(|(b, x)| b * x).sum();
        let log_q_const: f32 = lv.iter().map(|l| -HALF_LN_2PI - 0.5 * l).sum();

        let mut rng = stream(opts.seed, Purpose::Eval, index as u64, 1);
        let (mut eps, mut zs) = (Vec::new(), Vec::new());
        let (mut h, mut h2, mut logits) = (Vec::new(), Vec::new(), Vec::new());
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
            h.extend_from_slice(&zs);
            for layer in &self.decoder {
                layer.forward(&h, c, &mut h2);
                activate(&mut h2, self.activation);
                std::mem::swap(&mut h, &mut h2);
            }
            self.out.forward(&h, c, &mut logits);
            for s in 0..c {
                let row = &logits[s * d..(s + 1) * d];
                let sp = softplus_sum(row);
                let hx: f32 = h[s * h_out..(s + 1) * h_out]
                    .iter()
                    .zip(&wx)
                    .map(|(a, b)| a * b)
                    .sum();
                let log_px = hx + bx - sp;
                let e = &eps[s * zd..(s + 1) * zd];
                let z = &zs[s * zd..(s + 1) * zd];
                let log_q = log_q_const - 0.5 * e.iter().map(|v| v * v).sum::<f32>();
                let log_p = -(zd as f32) * HALF_LN_2PI - 0.5 * z.iter().map(|v| v * v).sum::<f32>();
                sink(log_px + log_p - log_q, log_px);
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
        .map(|i| {
            let mut sums = WeightSums::default();
            let mut rec = 0f64;
            let kl = host.log_weights(images.image(i), i, opts, |lw, lpx| {
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
    host.log_weights(x, index, opts, |lw, _| out.push(lw));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataKind, ImageSet};
    use crate::models::build_model;
    use crate::models::config::{Likelihood, ModelConfig};

    fn kind(d: usize) -> DataKind {
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
            let model = build_model(&cfg, 0, &kind(20), &dev);
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
        use crate::models::{LatentModel, log_weights};
        let cfg = ModelConfig {
            latent_dim: 4,
            hidden: vec![40],
            ..ModelConfig::default()
        };
        let dev = burn::tensor::Device::flex();
        let model = build_model(&cfg, 0, &kind(30), &dev);
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
        let (lw, _) = log_weights(
            &model,
            &post,
            &x,
            crate::core::host::upload(eps, 300, 4, &dev),
            300,
        );
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
        assert!((softplus_sum(&row) as f64 - want).abs() < 1e-6 * want);
    }

    #[test]
    fn gaussian_decoders_have_no_fast_path() {
        let cfg = ModelConfig {
            likelihood: Likelihood::Gaussian,
            ..ModelConfig::default()
        };
        let model = build_model(&cfg, 0, &kind(20), &burn::tensor::Device::flex());
        assert!(HostVae::from(&model).is_none());
    }
}
