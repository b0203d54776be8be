//! Priors p(z): the standard normal, a learned Gaussian mixture, and the
//! VampPrior (Tomczak & Welling 2018).
//!
//! Mixture log-densities use a max-shifted logsumexp over components. Their
//! KL(q(z|x) ‖ p(z)) has no closed form and is estimated with the training
//! sample itself: KL ≈ log q(z|x) − log p(z) (one-sample Monte Carlo, unbiased,
//! and the estimator of Tomczak & Welling); see `docs/models.md`.

use super::HALF_LN_2PI;
use crate::core::objective::logsumexp;
use burn::module::{Module, Param};
use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::{Device, Distribution, Tensor};

/// log N(z_i; μ_k, diag σ²_k) for every row i and component k.
///
/// # Shapes
/// - z: `[n, d]`, means and log_vars: `[K, d]` -> `[n, K]`
pub fn diag_gaussian_log_prob_pairs(
    z: Tensor<2>,
    means: Tensor<2>,
    log_vars: Tensor<2>,
) -> Tensor<2> {
    let [n, d] = z.dims();
    let [k, _] = means.dims();
    let diff =
        z.unsqueeze_dim::<3>(1).expand([n, k, d]) - means.unsqueeze_dim::<3>(0).expand([n, k, d]);
    let inv = log_vars
        .clone()
        .neg()
        .exp()
        .unsqueeze_dim::<3>(0)
        .expand([n, k, d]);
    let quad = (diff.square() * inv).sum_dim(2).reshape([n, k]);
    let norm = log_vars.sum_dim(1).reshape([1, k]).expand([n, k]);
    (quad + norm)
        .mul_scalar(-0.5)
        .sub_scalar(HALF_LN_2PI * d as f64)
}

/// A learned mixture of K diagonal Gaussians: means, log-variances and
/// mixing logits are all trained.
#[derive(Module, Debug)]
pub struct GmmPrior {
    /// `[K, latent]`
    pub means: Param<Tensor<2>>,
    /// `[K, latent]`
    pub log_vars: Param<Tensor<2>>,
    /// `[K]`
    pub logits: Param<Tensor<1>>,
}

impl GmmPrior {
    /// Means drawn from N(0, 1) (the device RNG, seeded by the caller), unit
    /// variances, equal weights.
    pub fn new(k: usize, latent: usize, device: &Device) -> Self {
        Self {
            means: Param::from_tensor(Tensor::random(
                [k, latent],
                Distribution::Normal(0.0, 1.0),
                device,
            )),
            log_vars: Param::from_tensor(Tensor::zeros([k, latent], device)),
            logits: Param::from_tensor(Tensor::zeros([k], device)),
        }
    }

    /// log π_k + log N(z; μ_k, σ²_k), `[n, K]`.
    pub fn joint(&self, z: Tensor<2>) -> Tensor<2> {
        let [n, _] = z.dims();
        let k = self.logits.val().dims()[0];
        let log_pi = log_softmax(self.logits.val(), 0)
            .reshape([1, k])
            .expand([n, k]);
        diag_gaussian_log_prob_pairs(z, self.means.val(), self.log_vars.val()) + log_pi
    }
}

/// The VampPrior: p(z) = (1/K) Σ_k q(z | u_k) with K learned pseudo-inputs,
/// stored unconstrained and passed through a sigmoid so they are images in [0, 1].
#[derive(Module, Debug)]
pub struct VampPrior {
    /// `[K, data_dim]`, pre-sigmoid.
    pub pseudo: Param<Tensor<2>>,
}

impl VampPrior {
    /// Pseudo-inputs start near 0.5 grey with small noise (logits ~ N(0, 0.1)).
    pub fn new(k: usize, data_dim: usize, device: &Device) -> Self {
        Self {
            pseudo: Param::from_tensor(Tensor::random(
                [k, data_dim],
                Distribution::Normal(0.0, 0.1),
                device,
            )),
        }
    }

    /// The pseudo-inputs as images, `[K, data_dim]`.
    pub fn inputs(&self) -> Tensor<2> {
        sigmoid(self.pseudo.val())
    }
}

/// A mixture of K diagonal Gaussians on the host, for the fast CPU evaluator.
#[derive(Clone, Debug, PartialEq)]
pub struct HostMixture {
    /// `[K, d]`, row-major.
    pub means: Vec<f32>,
    /// `[K, d]`, row-major.
    pub log_vars: Vec<f32>,
    /// log π_k, `[K]`.
    pub log_weights: Vec<f32>,
}

impl HostMixture {
    /// A learned mixture's components and normalised log-weights.
    pub fn of_gmm(g: &GmmPrior) -> Self {
        Self {
            means: crate::core::host::read(g.means.val()),
            log_vars: crate::core::host::read(g.log_vars.val()),
            log_weights: crate::core::host::read(log_softmax(g.logits.val(), 0)),
        }
    }

    /// The VampPrior's components q(z|u_k) = N(means, exp(log_vars)), each
    /// of weight 1/K.
    pub fn equal_weights(means: Tensor<2>, log_vars: Tensor<2>) -> Self {
        let k = means.dims()[0];
        Self {
            means: crate::core::host::read(means),
            log_vars: crate::core::host::read(log_vars),
            log_weights: vec![-(k as f32).ln(); k],
        }
    }

    pub fn components(&self) -> usize {
        self.log_weights.len()
    }
}

/// `n` draws from a Gaussian mixture given on the host — `means` and
/// `log_vars` `[K, d]`, `weights` `[K]` summing to 1 — from the stream
/// [`PRIOR_MIXTURE`](crate::core::rng::key::PRIOR_MIXTURE): a component by
/// its weight, then N(μ_k, σ_k²).
pub fn sample_host_mixture(
    means: &[f32],
    log_vars: &[f32],
    weights: &[f32],
    n: usize,
    seed: u64,
) -> Vec<f32> {
    use rand::Rng;
    let zd = means.len() / weights.len().max(1);
    let mut rng = crate::core::rng::stream(
        seed,
        crate::core::rng::Purpose::Eval,
        crate::core::rng::key::SAMPLING,
        crate::core::rng::key::PRIOR_MIXTURE,
    );
    let mut out = Vec::with_capacity(n * zd);
    for _ in 0..n {
        let mut u: f32 = rng.random();
        let mut k = weights.len() - 1;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                k = i;
                break;
            }
            u -= w;
        }
        for j in 0..zd {
            let e: f32 = rng.sample(rand_distr::StandardNormal);
            out.push(means[k * zd + j] + (0.5 * log_vars[k * zd + j]).exp() * e);
        }
    }
    out
}

/// `n` draws from a learned mixture prior ([`sample_host_mixture`]).
pub fn sample_diag_mixture(g: &GmmPrior, n: usize, seed: u64) -> Vec<f32> {
    let w = crate::core::host::read(burn::tensor::activation::softmax(g.logits.val(), 0));
    sample_host_mixture(
        &crate::core::host::read(g.means.val()),
        &crate::core::host::read(g.log_vars.val()),
        &w,
        n,
        seed,
    )
}

/// log p(z) of a mixture from its `[n, K]` joint log-densities.
pub fn mixture_log_prob(joint: Tensor<2>) -> Tensor<1> {
    logsumexp(joint, 1)
}

/// Responsibilities p(k | z) from the joint, `[n, K]`.
pub fn responsibilities(joint: Tensor<2>) -> Tensor<2> {
    let [n, k] = joint.dims();
    let lse = logsumexp(joint.clone(), 1).reshape([n, 1]).expand([n, k]);
    (joint - lse).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmm_log_density_matches_brute_force() {
        let dev = Device::flex();
        let p = GmmPrior {
            means: Param::from_tensor(Tensor::from_floats(
                [[0.0, 1.0], [-2.0, 0.5], [3.0, -1.0]],
                &dev,
            )),
            log_vars: Param::from_tensor(Tensor::from_floats(
                [[0.0, -1.0], [0.5, 0.2], [-0.3, 0.0]],
                &dev,
            )),
            logits: Param::from_tensor(Tensor::from_floats([0.2, -1.0, 0.7], &dev)),
        };
        let zs = [[0.3f32, -0.2], [-1.5, 2.0], [10.0, -10.0]];
        let z = Tensor::<2>::from_floats(zs, &dev);
        let got = crate::core::host::read(mixture_log_prob(p.joint(z.clone())));
        let means = [[0.0, 1.0], [-2.0, 0.5], [3.0, -1.0f64]];
        let lvs = [[0.0, -1.0], [0.5, 0.2], [-0.3, 0.0f64]];
        let logits = [0.2, -1.0, 0.7f64];
        let zsum: f64 = logits.iter().map(|l| l.exp()).sum();
        for (i, zi) in zs.iter().enumerate() {
            let mut dens = 0.0f64;
            for k in 0..3 {
                let mut log_n = 0.0;
                for j in 0..2 {
                    let v = lvs[k][j].exp();
                    log_n += -0.5
                        * ((2.0 * std::f64::consts::PI * v).ln()
                            + (zi[j] as f64 - means[k][j]).powi(2) / v);
                }
                dens += logits[k].exp() / zsum * log_n.exp();
            }
            // The far point underflows in f64 too; compare in log space where finite.
            let want = dens.ln();
            if want.is_finite() {
                assert!(
                    (got[i] as f64 - want).abs() < 1e-4,
                    "z{i}: {} vs {want}",
                    got[i]
                );
            } else {
                assert!(
                    got[i].is_finite() && got[i] < -50.0,
                    "logsumexp keeps it finite: {}",
                    got[i]
                );
            }
        }
        // Responsibilities sum to one.
        let r = crate::core::host::read(responsibilities(p.joint(z)));
        for row in r.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}
