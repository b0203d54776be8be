//! The VAE with two stochastic layers of Burda, Grosse & Salakhutdinov
//! (2016, §5, the "2 layer" rows of Table 1):
//!
//! ```text
//! q(h1, h2 | x) = q(h1|x) q(h2|h1)          p(x, h1, h2) = p(x|h1) p(h1|h2) p(h2)
//! p(h2) = N(0, I)      q(h1|x), q(h2|h1), p(h1|h2): diagonal Gaussians
//! ```
//!
//! each Gaussian layer a deterministic MLP followed by a mean head and a
//! log σ head (σ = exp of a linear output, as in the authors' code,
//! `iwae.py`); p(x|h1) is `model.likelihood` after the `model.hidden` MLP.
//!
//! To the rest of vaekit the latent is the joint z = [h1, h2] (h1's columns
//! first; [`LatentModel::latent_layers`] gives the widths), and:
//!
//! - samples are drawn layer by layer ([`LatentModel::sample_latent`]):
//!   h1 = μ1(x) + σ1(x)·ε1, then h2 = μ2(h1) + σ2(h1)·ε2;
//! - log w = log p(x|h1) + log p(h1|h2) + log p(h2) − log q(h1|x) −
//!   log q(h2|h1) ([`LatentModel::log_weights`]), so L_k, the IWAE objective
//!   and `vaekit eval` are the bound over the joint latent;
//! - the KL term of the ELBO, per dimension: for h1,
//!   log q(h1_j|x) − log p(h1_j|h2) at the sample; for h2, the analytic
//!   KL(q(h2_j|h1) ‖ N(0, 1)) given the sampled h1. Its sum is the KL of
//!   the joint posterior to the joint prior in expectation, and
//!   `rec − Σ KL` an unbiased ELBO estimate;
//! - the posterior the monitor reads ([`Forward::posterior`]): q(h1|x) and
//!   q(h2|h1) at the sampled h1. Its mean is the one-sample reading of
//!   E[h2|x] with which the authors' code counts the top layer's active
//!   units (yburda/iwae `iwae.py`, the active-units measurement draws one
//!   sample per layer with `q_samplesIx_srng` and takes the mean of each
//!   layer's Gaussian at it). [`LatentModel::encode`], which has no noise,
//!   gives q(h2|h1) at h1 = μ1(x) instead.

use super::config::ModelConfig;
use super::nn::{LikelihoodHead, Mlp, dense};
use super::{Batch, Forward, GaussianPosterior, LatentModel, Posterior, standard_normal_log_prob};
use crate::core::fused::linear;
use crate::core::objective::{Terms, gaussian_kl};
use crate::core::posterior::HALF_LN_2PI;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, assert_shape};

/// A stochastic layer's network: an MLP, then the mean and log σ heads.
#[derive(Module, Debug)]
pub struct GaussianLayer {
    pub net: Mlp,
    pub mean: Linear,
    /// log σ (half the log-variance), as Burda et al.'s code parameterises σ.
    pub log_sigma: Linear,
}

impl GaussianLayer {
    /// `d_in` → the `hidden` widths (each with the config's activation) →
    /// `d_out` means and log σ.
    pub fn new(
        cfg: &ModelConfig,
        d_in: usize,
        hidden: &[usize],
        d_out: usize,
        device: &Device,
    ) -> Self {
        let mut sizes = vec![d_in];
        sizes.extend(hidden);
        let last = *sizes.last().expect("at least the input width");
        Self {
            net: Mlp::with_init(&sizes, cfg.activation, cfg.init, device),
            mean: dense(last, d_out, cfg.init, device),
            log_sigma: dense(last, d_out, cfg.init, device),
        }
    }

    /// The Gaussian's mean and log-variance (2·log σ).
    ///
    /// # Shapes
    /// - x: `[n, d_in]` -> mean, log_var `[n, d_out]`
    pub fn forward(&self, x: Tensor<2>) -> GaussianPosterior {
        let h = self.net.forward(x);
        GaussianPosterior {
            mean: linear(&self.mean, h.clone()),
            log_var: linear(&self.log_sigma, h).mul_scalar(2.0),
        }
    }
}

/// log N(z; μ, σ²) per dimension, `[n, d]`.
fn log_density_dims(q: &GaussianPosterior, z: Tensor<2>) -> Tensor<2> {
    let sq = (z - q.mean.clone()).square() * q.log_var.clone().neg().exp();
    (sq + q.log_var.clone())
        .mul_scalar(-0.5)
        .sub_scalar(HALF_LN_2PI)
}

/// log q at z = μ + σ·ε per dimension, `[n, d]`: −½(log 2π + log σ² + ε²).
fn log_density_at_noise_dims(q: &GaussianPosterior, eps: Tensor<2>) -> Tensor<2> {
    (q.log_var.clone() + eps.square())
        .mul_scalar(-0.5)
        .sub_scalar(HALF_LN_2PI)
}

/// The two-layer VAE (`model.kind = "two_layer"`).
#[derive(Module, Debug)]
pub struct TwoLayerVae {
    /// q(h1|x): `model.hidden`, then h1.
    pub q1: GaussianLayer,
    /// q(h2|h1): `model.two_layer.hidden`, then h2.
    pub q2: GaussianLayer,
    /// p(h1|h2): the reversed `model.two_layer.hidden`, then h1.
    pub p1: GaussianLayer,
    /// p(x|h1)'s MLP: the reversed `model.hidden`.
    pub decoder: Mlp,
    pub out: Linear,
    pub likelihood: LikelihoodHead,
    #[module(skip)]
    pub data_dim: usize,
    #[module(skip)]
    pub h1: usize,
    #[module(skip)]
    pub h2: usize,
}

/// A sample of both layers, and the pieces of q it was drawn from.
struct Draw {
    h1: Tensor<2>,
    h2: Tensor<2>,
    q2: GaussianPosterior,
}

impl TwoLayerVae {
    /// Burda et al.'s shapes come from `model.hidden` (x ↔ h1),
    /// `model.latent_dim` (h1), `model.two_layer.hidden` (h1 ↔ h2) and
    /// `model.two_layer.latent_dim` (h2). Weights from the device's RNG.
    pub fn new(cfg: &ModelConfig, data_dim: usize, device: &Device) -> Self {
        let (h1, h2) = (cfg.latent_dim, cfg.two_layer.latent_dim);
        let rev = |v: &[usize]| v.iter().rev().copied().collect::<Vec<_>>();
        let mut dec_sizes = vec![h1];
        dec_sizes.extend(rev(&cfg.hidden));
        let last_dec = *dec_sizes.last().expect("at least h1");
        Self {
            q1: GaussianLayer::new(cfg, data_dim, &cfg.hidden, h1, device),
            q2: GaussianLayer::new(cfg, h1, &cfg.two_layer.hidden, h2, device),
            p1: GaussianLayer::new(cfg, h2, &rev(&cfg.two_layer.hidden), h1, device),
            decoder: Mlp::with_init(&dec_sizes, cfg.activation, cfg.init, device),
            out: dense(last_dec, data_dim, cfg.init, device),
            likelihood: LikelihoodHead::from_config(cfg, data_dim, device),
            data_dim,
            h1,
            h2,
        }
    }

    /// The decoder's raw output for h1 (Bernoulli logits or Gaussian means).
    ///
    /// # Shapes
    /// - h1: `[n, h1]` -> `[n, data_dim]`
    pub fn decode(&self, h1: Tensor<2>) -> Tensor<2> {
        assert_shape!(h1, [.., self.h1]);
        linear(&self.out, self.decoder.forward(h1))
    }

    /// (h1, h2) from the joint z.
    fn split(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        (
            z.clone().narrow(1, 0, self.h1),
            z.narrow(1, self.h1, self.h2),
        )
    }

    /// q(h1|x) from the joint posterior's first columns.
    fn q1_of(&self, posterior: &Posterior) -> GaussianPosterior {
        let q = posterior
            .gaussian()
            .expect("a two-layer VAE's posterior is Gaussian");
        GaussianPosterior {
            mean: q.mean.clone().narrow(1, 0, self.h1),
            log_var: q.log_var.clone().narrow(1, 0, self.h1),
        }
    }

    /// h1 ~ q(h1|x), then h2 ~ q(h2|h1), from `eps` = [ε1, ε2].
    fn draw(&self, q1: &GaussianPosterior, eps: Tensor<2>) -> Draw {
        let (e1, e2) = self.split(eps);
        let h1 = q1.sample(e1);
        let q2 = self.q2.forward(h1.clone());
        let h2 = q2.sample(e2);
        Draw { h1, h2, q2 }
    }

    /// The joint Gaussian the monitor reads: q(h1|x) beside q(h2|h1).
    fn joint(q1: GaussianPosterior, q2: GaussianPosterior) -> Posterior {
        Posterior::Gaussian(GaussianPosterior {
            mean: Tensor::cat(vec![q1.mean, q2.mean], 1),
            log_var: Tensor::cat(vec![q1.log_var, q2.log_var], 1),
        })
    }

    /// KL terms per dimension of both layers at a draw, `[n, h1 + h2]`
    /// (see the module doc); `log_q1` is log q(h1_j|x) at the draw.
    fn kl_dims(&self, log_q1: Tensor<2>, d: &Draw) -> Tensor<2> {
        let p1 = self.p1.forward(d.h2.clone());
        let layer1 = log_q1 - log_density_dims(&p1, d.h1.clone());
        let layer2 = gaussian_kl(d.q2.mean.clone(), d.q2.log_var.clone());
        Tensor::cat(vec![layer1, layer2], 1)
    }
}

impl LatentModel for TwoLayerVae {
    /// q(h1|x) and q(h2|h1).
    fn encoder_params(&self) -> Vec<burn::module::ParamId> {
        let mut ids = burn::module::list_param_ids(&self.q1);
        ids.extend(burn::module::list_param_ids(&self.q2));
        ids
    }

    fn latent_dim(&self) -> usize {
        self.h1 + self.h2
    }

    fn latent_layers(&self) -> Vec<usize> {
        vec![self.h1, self.h2]
    }

    /// q(h1|x), and q(h2|h1) at h1 = μ1(x) (no noise here).
    fn encode(&self, x: &Batch) -> Posterior {
        let q1 = self.q1.forward(x.images().clone());
        let q2 = self.q2.forward(q1.mean.clone());
        Self::joint(q1, q2)
    }

    fn sample_latent(&self, posterior: &Posterior, eps: Tensor<2>) -> Tensor<2> {
        let d = self.draw(&self.q1_of(posterior), eps);
        Tensor::cat(vec![d.h1, d.h2], 1)
    }

    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        let (h1, _) = self.split(z);
        self.likelihood
            .log_prob(x.images().clone(), self.decode(h1))
    }

    /// log p(h1|h2) + log p(h2).
    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        let (h1, h2) = self.split(z);
        self.p1.forward(h2.clone()).log_prob(h1) + standard_normal_log_prob(h2)
    }

    /// Per dimension at the joint sample `z` (see the module doc).
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        let q1 = self.q1_of(posterior);
        let (h1, h2) = self.split(z);
        let q2 = self.q2.forward(h1.clone());
        let log_q1 = log_density_dims(&q1, h1.clone());
        self.kl_dims(log_q1, &Draw { h1, h2, q2 })
    }

    fn log_weights(
        &self,
        posterior: &Posterior,
        x: &Batch,
        eps: Tensor<2>,
        k: usize,
    ) -> (Tensor<2>, Tensor<2>) {
        let b = x.len();
        let q1 = self.q1_of(posterior).repeat_rows(k);
        let (e1, e2) = self.split(eps.clone());
        let d = self.draw(&q1, eps);
        let log_q = q1.log_prob_at_noise(e1) + d.q2.log_prob_at_noise(e2);
        let log_px = self
            .likelihood
            .log_prob(x.repeat_rows(k).images().clone(), self.decode(d.h1.clone()));
        let log_joint = log_px.clone()
            + self.p1.forward(d.h2.clone()).log_prob(d.h1)
            + standard_normal_log_prob(d.h2);
        ((log_joint - log_q).reshape([b, k]), log_px.reshape([b, k]))
    }

    fn forward(&self, x: &Batch, eps: Tensor<2>) -> Forward {
        let q1 = self.q1.forward(x.images().clone());
        let (e1, _) = self.split(eps.clone());
        let d = self.draw(&q1, eps);
        let kl = self.kl_dims(log_density_at_noise_dims(&q1, e1), &d);
        let terms = Terms {
            rec_ll: self
                .likelihood
                .log_prob(x.images().clone(), self.decode(d.h1.clone())),
            kl,
            penalty: None,
        };
        Forward {
            terms,
            posterior: Self::joint(q1, d.q2),
        }
    }

    /// h2 ~ N(0, I) from the stream every standard-normal prior shares, then
    /// h1 ~ p(h1|h2) from [`PRIOR_LAYER_BELOW`](crate::core::rng::key::PRIOR_LAYER_BELOW).
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        use crate::core::rng::{Purpose, host_normal, key};
        let draw = |width: usize, sub: u64| {
            let v = host_normal(n, width, seed, Purpose::Eval, key::SAMPLING, sub);
            crate::core::host::upload(v, n, width, device)
        };
        let h2 = draw(self.h2, key::PRIOR_NORMAL);
        let h1 = self
            .p1
            .forward(h2.clone())
            .sample(draw(self.h1, key::PRIOR_LAYER_BELOW));
        Tensor::cat(vec![h1, h2], 1)
    }

    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        let (h1, _) = self.split(z);
        (self.likelihood.mean(self.decode(h1)), self.likelihood.std())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::config::{ModelKind, TwoLayerConfig};

    fn small(device: &Device) -> TwoLayerVae {
        let cfg = ModelConfig {
            kind: ModelKind::TwoLayer,
            latent_dim: 4,
            hidden: vec![12],
            two_layer: TwoLayerConfig {
                latent_dim: 3,
                hidden: vec![5],
            },
            ..ModelConfig::default()
        };
        TwoLayerVae::new(&cfg, 9, device)
    }

    fn binary(n: usize, d: usize, device: &Device) -> Batch {
        let v: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7 + 3) % 5 < 2) as u8 as f32)
            .collect();
        Batch::Images(crate::core::host::upload(v, n, d, device))
    }

    /// The ELBO's pieces and the k = 1 log-weight are two readings of one
    /// sample: rec − Σ KL differs from log w exactly by the analytic-vs-
    /// sampled KL of the top layer, computed here from its definition.
    #[test]
    fn elbo_terms_and_log_weight_agree_on_one_sample() {
        let dev = Device::flex();
        dev.seed(1);
        let m = small(&dev);
        let x = binary(6, 9, &dev);
        let eps = crate::core::host::upload(
            (0..6 * 7).map(|i| ((i as f32) * 0.61).sin()).collect(),
            6,
            7,
            &dev,
        );
        let f = m.forward(&x, eps.clone());
        let elbo = f.terms.rec_ll.clone() - f.terms.kl.clone().sum_dim(1).squeeze_dim::<1>(1);
        let (lw, lpx) = m.log_weights(&m.encode(&x), &x, eps.clone(), 1);
        // Same rec term.
        let (a, b) = (
            crate::core::host::read(f.terms.rec_ll),
            crate::core::host::read(lpx),
        );
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        // log w − ELBO = KL2(analytic) − [log q(h2|h1) − log p(h2)] at the sample.
        let q1 = m.q1.forward(x.images().clone());
        let d = m.draw(&q1, eps.clone());
        let (_, e2) = m.split(eps);
        let sampled_kl2 = d.q2.log_prob_at_noise(e2) - standard_normal_log_prob(d.h2.clone());
        let analytic_kl2 = gaussian_kl(d.q2.mean.clone(), d.q2.log_var.clone())
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        let want = crate::core::host::read(analytic_kl2 - sampled_kl2);
        let got = crate::core::host::read(lw.reshape([6]) - elbo);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-3, "{g} vs {w}");
        }
    }

    #[test]
    fn layers_and_shapes() {
        let dev = Device::flex();
        dev.seed(2);
        let m = small(&dev);
        assert_eq!(m.latent_layers(), vec![4, 3]);
        assert_eq!(m.latent_dim(), 7);
        let x = binary(5, 9, &dev);
        let f = m.forward(&x, Tensor::zeros([5, 7], &dev));
        assert_eq!(f.terms.kl.dims(), [5, 7]);
        let q = f.posterior.gaussian().unwrap();
        assert_eq!(q.mean.dims(), [5, 7]);
        let z = m.sample_prior(8, 0, &dev);
        assert_eq!(z.dims(), [8, 7]);
        assert_eq!(m.decode_mean(z).0.dims(), [8, 9]);
        let (lw, lpx) = m.log_weights(&m.encode(&x), &x, Tensor::zeros([15, 7], &dev), 3);
        assert_eq!((lw.dims(), lpx.dims()), ([5, 3], [5, 3]));
    }
}
