//! Posteriors q(z|x) of the two families vaekit knows — Gaussian (VAE,
//! β-VAE, mixture priors) and one-hot over a codebook (VQ-VAE) — and the
//! standard-normal prior they are most often scored against.

use burn::tensor::{Int, Tensor};

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

/// A deterministic posterior: q(z|x) puts all its mass on one code at each
/// of P positions (the VQ-VAE's nearest-neighbour assignment).
#[derive(Clone, Debug)]
pub struct CodePosterior {
    /// Index of the chosen code at each position, `[batch, positions]`.
    pub index: Tensor<2, Int>,
    /// The chosen code vectors, flattened `[batch, positions·code_dim]`: the
    /// decoder's input z (with straight-through gradients in training).
    pub z: Tensor<2>,
    /// The encoder outputs z_e, one row per position, detached
    /// `[batch·positions, code_dim]` (for the codebook's moving averages).
    pub encoded: Tensor<2>,
    /// Codebook size K.
    pub codes: usize,
    /// The commitment (and codebook) loss per example, `[batch]`, with the
    /// gradients each term is meant to have.
    pub penalty: Tensor<1>,
}

/// The two posterior families; metrics say which they apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// q(z|x) = N(μ(x), diag σ²(x)).
    Gaussian,
    /// One-hot over a codebook at each position.
    Codes,
}

/// q(z|x) of either family.
#[derive(Clone, Debug)]
pub enum Posterior {
    Gaussian(GaussianPosterior),
    Codes(CodePosterior),
}

impl Posterior {
    /// z ~ q(z|x) from standard normal noise `eps` (one row per example);
    /// the chosen codes for a one-hot posterior, whatever `eps`.
    pub fn sample(&self, eps: Tensor<2>) -> Tensor<2> {
        match self {
            Posterior::Gaussian(q) => q.sample(eps),
            Posterior::Codes(c) => c.z.clone(),
        }
    }

    /// Which family this posterior is.
    pub fn family(&self) -> Family {
        match self {
            Posterior::Gaussian(_) => Family::Gaussian,
            Posterior::Codes(_) => Family::Codes,
        }
    }

    /// The Gaussian parameters, if this is a Gaussian posterior.
    pub fn gaussian(&self) -> Option<&GaussianPosterior> {
        match self {
            Posterior::Gaussian(q) => Some(q),
            Posterior::Codes(_) => None,
        }
    }
}
