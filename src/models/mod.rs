//! Models. Every model speaks [`LatentModel`] to the trainer, the monitor and
//! the evaluator, so adding one touches this folder only.
//!
//! A model provides q(z|x) ([`LatentModel::encode`]), its decoder and
//! likelihood p(x|z) ([`LatentModel::log_likelihood`]) and, when it is not
//! the standard normal, its prior p(z) ([`LatentModel::log_prior`]) and KL.
//! The per-example objective terms and the importance weights are built from
//! these pieces in one place, here, for every model.

pub mod prior;
pub mod vae;

use crate::objective::{Terms, gaussian_kl};
use burn::module::Module;
use burn::tensor::Tensor;

/// ½·log(2π).
pub const HALF_LN_2PI: f64 = 0.918_938_533_204_672_7;

/// A Gaussian posterior q(z|x) = N(mean, exp(log_var)), per example.
#[derive(Clone, Debug)]
pub struct GaussianPosterior {
    /// `[batch, latent]`
    pub mean: Tensor<2>,
    /// `[batch, latent]`
    pub log_var: Tensor<2>,
}

impl GaussianPosterior {
    /// Reparameterised sample z = μ + σ·ε.
    ///
    /// # Shapes
    /// - eps: `[batch, latent]` -> `[batch, latent]`
    pub fn sample(&self, eps: Tensor<2>) -> Tensor<2> {
        self.mean.clone() + self.log_var.clone().mul_scalar(0.5).exp() * eps
    }

    /// log q(z|x) at z = μ + σ·ε, summed over dimensions:
    /// `Σ_j −½(log 2π + log σ_j² + ε_j²)`.
    ///
    /// # Shapes
    /// - eps: `[batch, latent]` -> `[batch]`
    pub fn log_prob_at_noise(&self, eps: Tensor<2>) -> Tensor<1> {
        (self.log_var.clone() + eps.square())
            .mul_scalar(-0.5)
            .sub_scalar(HALF_LN_2PI)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
    }

    /// log q(z|x) at any z, summed over dimensions.
    ///
    /// # Shapes
    /// - z: `[batch, latent]` -> `[batch]`
    pub fn log_prob(&self, z: Tensor<2>) -> Tensor<1> {
        let sq = (z - self.mean.clone()).square() * self.log_var.clone().neg().exp();
        (sq + self.log_var.clone())
            .mul_scalar(-0.5)
            .sub_scalar(HALF_LN_2PI)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
    }

    /// Each row repeated `k` times in place: `[b, z]` -> `[b·k, z]`, rows
    /// of example 0 first.
    pub fn repeat_rows(&self, k: usize) -> Self {
        Self {
            mean: repeat_rows(self.mean.clone(), k),
            log_var: repeat_rows(self.log_var.clone(), k),
        }
    }
}

/// `[b, d]` -> `[b·k, d]`, each row repeated `k` times consecutively.
pub fn repeat_rows(t: Tensor<2>, k: usize) -> Tensor<2> {
    let [b, d] = t.dims();
    t.unsqueeze_dim::<3>(1)
        .expand([b, k, d])
        .reshape([b * k, d])
}

/// Log-density of the standard normal, summed over dimensions.
///
/// # Shapes
/// - z: `[n, latent]` -> `[n]`
pub fn standard_normal_log_prob(z: Tensor<2>) -> Tensor<1> {
    z.square()
        .mul_scalar(-0.5)
        .sub_scalar(HALF_LN_2PI)
        .sum_dim(1)
        .squeeze_dim::<1>(1)
}

/// Output of one forward pass: the objective terms plus what produced them.
#[derive(Clone, Debug)]
pub struct Forward {
    pub terms: Terms,
    pub posterior: GaussianPosterior,
}

/// What the trainer, monitor and evaluator need from a model.
pub trait LatentModel: Module + Clone + std::fmt::Debug + Send + 'static {
    /// Number of latent dimensions (the width of the noise the trainer draws).
    fn latent_dim(&self) -> usize;

    /// Pixels per image.
    fn data_dim(&self) -> usize;

    /// q(z|x) for a batch `x` `[batch, data_dim]`.
    fn encode(&self, x: Tensor<2>) -> GaussianPosterior;

    /// log p(x|z) per row, every normalising constant kept.
    ///
    /// # Shapes
    /// - x: `[n, data_dim]`, z: `[n, latent]` -> `[n]`
    fn log_likelihood(&self, x: Tensor<2>, z: Tensor<2>) -> Tensor<1>;

    /// log p(z) per row; the standard normal unless the model says otherwise.
    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        standard_normal_log_prob(z)
    }

    /// KL(q(z|x) ‖ p(z)) per example and dimension. Analytic for the
    /// standard normal prior; `z` is the sample drawn, for models whose KL
    /// must be estimated by Monte Carlo.
    fn kl(&self, posterior: &GaussianPosterior, z: Tensor<2>) -> Tensor<2> {
        let _ = z;
        gaussian_kl(posterior.mean.clone(), posterior.log_var.clone())
    }

    /// For mixture priors, the responsibilities p(k | z) of the components,
    /// `[n, K]` (the monitor turns them into component usage); None otherwise.
    fn prior_responsibilities(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        let _ = z;
        None
    }

    /// `n` draws z ~ p(z), on the host from the stream `(seed, Eval, u64::MAX)`.
    fn sample_prior(&self, n: usize, seed: u64, device: &burn::tensor::Device) -> Tensor<2> {
        let z = self.latent_dim();
        let draws =
            crate::data::batches::host_normal(n, z, seed, crate::rng::Purpose::Eval, u64::MAX, 0);
        crate::host::upload(draws, n, z, device)
    }

    /// The decoder's mean E[x|z] for latents `z` `[n, latent_dim]`, and its
    /// per-pixel σ for Gaussian decoders (`None` means Bernoulli).
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>);

    /// Per-example terms for a batch `x`, with standard normal noise `eps`
    /// `[batch, latent_dim]` for the reparameterised sample.
    fn forward(&self, x: Tensor<2>, eps: Tensor<2>) -> Forward {
        let posterior = self.encode(x.clone());
        let z = posterior.sample(eps);
        let terms = Terms {
            rec_ll: self.log_likelihood(x, z.clone()),
            kl: self.kl(&posterior, z),
        };
        Forward { terms, posterior }
    }
}

/// Importance log-weights log w = log p(x|z) + log p(z) − log q(z|x) for
/// `k` samples per example, with every normalising constant kept.
///
/// Encodes each image once. `eps` holds the noise for all samples, example
/// 0's `k` rows first.
///
/// # Shapes
/// - x: `[b, data_dim]`, eps: `[b·k, latent]` -> log w `[b, k]`, log p(x|z) `[b, k]`
pub fn log_weights<M: LatentModel>(
    model: &M,
    posterior: &GaussianPosterior,
    x: Tensor<2>,
    eps: Tensor<2>,
    k: usize,
) -> (Tensor<2>, Tensor<2>) {
    let [b, _] = x.dims();
    let q = posterior.repeat_rows(k);
    let z = q.sample(eps.clone());
    let log_q = q.log_prob_at_noise(eps);
    let log_px = model.log_likelihood(repeat_rows(x, k), z.clone());
    let log_w = log_px.clone() + model.log_prior(z) - log_q;
    (log_w.reshape([b, k]), log_px.reshape([b, k]))
}
