//! Models. Every model speaks [`LatentModel`] to the trainer (and later the
//! monitor and the evaluator), so adding one touches this folder only.

pub mod vae;

use crate::objective::Terms;
use burn::module::Module;
use burn::tensor::Tensor;

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
}

/// Output of one forward pass: the objective terms plus what produced them.
#[derive(Clone, Debug)]
pub struct Forward {
    pub terms: Terms,
    pub posterior: GaussianPosterior,
}

/// What the trainer needs from a model, and nothing model-specific.
pub trait LatentModel: Module + Clone + std::fmt::Debug + Send + 'static {
    /// Number of latent dimensions (the width of the noise the trainer draws).
    fn latent_dim(&self) -> usize;

    /// Per-example terms for a batch `x` `[batch, dim]`, using the standard
    /// normal noise `eps` `[batch, latent_dim]` for the reparameterised sample.
    fn forward(&self, x: Tensor<2>, eps: Tensor<2>) -> Forward;

    /// The decoder's mean E[x|z] for latents `z` `[n, latent_dim]`, and its
    /// per-pixel σ for Gaussian decoders (`None` means Bernoulli).
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>);
}
