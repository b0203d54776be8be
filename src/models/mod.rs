//! Models. Every model speaks [`LatentModel`] to the trainer, the monitor and
//! the evaluator, so adding one touches this folder only.
//!
//! A model provides q(z|x) ([`LatentModel::encode`]), its decoder and
//! likelihood p(x|z) ([`LatentModel::log_likelihood`]) and, when it is not
//! the standard normal, its prior p(z) ([`LatentModel::log_prior`]) and KL.
//! The per-example objective terms and the importance weights are built from
//! these pieces in one place, here, for every model.
//!
//! Posteriors come in two families ([`Posterior`]): Gaussian (VAE, β-VAE,
//! mixture priors) and one-hot over a codebook (VQ-VAE). The monitor and the
//! evaluator read whichever the model returns; a model that learns outside
//! the optimizer (the VQ-VAE's moving-average codebook) does so in
//! [`LatentModel::after_step`].

pub mod prior;
pub mod vae;
pub mod vq;

use crate::objective::{Terms, gaussian_kl};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

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

    /// The Gaussian parameters, if this is a Gaussian posterior.
    pub fn gaussian(&self) -> Option<&GaussianPosterior> {
        match self {
            Posterior::Gaussian(q) => Some(q),
            Posterior::Codes(_) => None,
        }
    }
}

/// Output of one forward pass: the objective terms plus what produced them.
#[derive(Clone, Debug)]
pub struct Forward {
    pub terms: Terms,
    pub posterior: Posterior,
}

/// What the trainer, monitor and evaluator need from a model.
pub trait LatentModel: Module + Clone + std::fmt::Debug + Send + 'static {
    /// Number of latent dimensions (the width of z).
    fn latent_dim(&self) -> usize;

    /// Width of the standard normal noise the trainer and evaluator draw per
    /// sample: the latent width for Gaussian posteriors; 1 (unused) for a
    /// deterministic posterior.
    fn noise_dim(&self) -> usize {
        self.latent_dim()
    }

    /// Pixels per image.
    fn data_dim(&self) -> usize;

    /// q(z|x) for a batch `x` `[batch, data_dim]`.
    fn encode(&self, x: Tensor<2>) -> Posterior;

    /// log p(x|z) per row, every normalising constant kept.
    ///
    /// # Shapes
    /// - x: `[n, data_dim]`, z: `[n, latent]` -> `[n]`
    fn log_likelihood(&self, x: Tensor<2>, z: Tensor<2>) -> Tensor<1>;

    /// log p(z) per row; the standard normal unless the model says otherwise.
    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        standard_normal_log_prob(z)
    }

    /// KL(q(z|x) ‖ p(z)) per example and KL group, `[batch, groups]`.
    /// Analytic per dimension for a Gaussian posterior and the standard
    /// normal prior; `z` is the sample drawn, for models whose KL must be
    /// estimated by Monte Carlo.
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2>;

    /// Extra per-example loss terms that are not part of the bound (the
    /// VQ-VAE's commitment and codebook losses), `[batch]`; None for most models.
    fn penalty(&self, posterior: &Posterior) -> Option<Tensor<1>> {
        let _ = posterior;
        None
    }

    /// Called by the trainer after each optimizer step with the posterior of
    /// the batch just used: for updates outside the optimizer (moving-average
    /// codebooks, dead-code restarts). `step` counts from 1; randomness must
    /// come from `(seed, step)` so resumed runs repeat it.
    fn after_step(self, posterior: &Posterior, step: usize, seed: u64) -> Self {
        let _ = (posterior, step, seed);
        self
    }

    /// For mixture priors, the responsibilities p(k | z) of the components,
    /// `[n, K]` (the monitor turns them into component usage); None otherwise.
    fn prior_responsibilities(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        let _ = z;
        None
    }

    /// `n` draws z ~ p(z), on the host from the stream `(seed, Eval, u64::MAX)`.
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
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
            penalty: self.penalty(&posterior),
        };
        Forward { terms, posterior }
    }
}

/// The analytic KL to the standard normal, per dimension, for a Gaussian
/// posterior (the default of most models).
pub fn standard_normal_kl(posterior: &GaussianPosterior) -> Tensor<2> {
    gaussian_kl(posterior.mean.clone(), posterior.log_var.clone())
}

/// Importance log-weights log w = log p(x|z) + log p(z) − log q(z|x) for
/// `k` samples per example, with every normalising constant kept.
///
/// Encodes each image once. `eps` holds the noise for all samples, example
/// 0's `k` rows first. A one-hot posterior has a single z with log q = 0, so
/// its `k` weights are equal and computed once.
///
/// # Shapes
/// - x: `[b, data_dim]`, eps: `[b·k, noise]` -> log w `[b, k]`, log p(x|z) `[b, k]`
pub fn log_weights<M: LatentModel>(
    model: &M,
    posterior: &Posterior,
    x: Tensor<2>,
    eps: Tensor<2>,
    k: usize,
) -> (Tensor<2>, Tensor<2>) {
    let [b, _] = x.dims();
    let posterior = match posterior {
        Posterior::Gaussian(q) => q,
        Posterior::Codes(c) => {
            let log_px = model.log_likelihood(x, c.z.clone());
            let log_w = log_px.clone() + model.log_prior(c.z.clone());
            let widen = |t: Tensor<1>| t.reshape([b, 1]).expand([b, k]);
            return (widen(log_w), widen(log_px));
        }
    };
    let q = posterior.repeat_rows(k);
    let z = q.sample(eps.clone());
    let log_q = q.log_prob_at_noise(eps);
    let log_px = model.log_likelihood(repeat_rows(x, k), z.clone());
    let log_w = log_px.clone() + model.log_prior(z) - log_q;
    (log_w.reshape([b, k]), log_px.reshape([b, k]))
}

/// Every model vaekit builds from a config: what the trainer, checkpoints,
/// `vaekit eval`, `sample` and `export` hold.
#[derive(Module, Debug)]
pub enum AnyModel {
    /// `model.kind` = `vae`, `gmm` or `vamp`.
    Vae(vae::Vae),
    /// `model.kind = "vq_vae"`.
    VqVae(vq::VqVae),
}

impl AnyModel {
    /// The model `cfg` names, for images of `data_dim` pixels, weights drawn
    /// from the device's RNG.
    pub fn new(cfg: &crate::config::ModelConfig, data_dim: usize, device: &Device) -> Self {
        match cfg.kind.as_str() {
            "vq_vae" => AnyModel::VqVae(vq::VqVae::new(cfg, data_dim, device)),
            _ => AnyModel::Vae(vae::Vae::new(cfg, data_dim, device)),
        }
    }

    /// The Gaussian VAE inside; panics for other models (tests and benches).
    pub fn into_vae(self) -> vae::Vae {
        match self {
            AnyModel::Vae(m) => m,
            AnyModel::VqVae(_) => panic!("expected a Gaussian VAE, found a VQ-VAE"),
        }
    }

    /// The VQ-VAE inside; panics for other models (tests).
    pub fn into_vq(self) -> vq::VqVae {
        match self {
            AnyModel::VqVae(m) => m,
            AnyModel::Vae(_) => panic!("expected a VQ-VAE, found a Gaussian VAE"),
        }
    }

    /// The config setting that makes the model convolutional, which needs
    /// square images whose side is a multiple of 4; None for MLP models.
    pub fn conv_setting(cfg: &crate::config::ModelConfig) -> Option<&'static str> {
        if cfg.kind == "vq_vae" {
            Some("model.kind = \"vq_vae\"")
        } else if cfg.arch == "conv" {
            Some("model.arch = \"conv\"")
        } else {
            None
        }
    }
}

/// Forward every method to the variant.
macro_rules! each {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyModel::Vae($m) => $e,
            AnyModel::VqVae($m) => $e,
        }
    };
}

impl LatentModel for AnyModel {
    fn latent_dim(&self) -> usize {
        each!(self, m => m.latent_dim())
    }
    fn noise_dim(&self) -> usize {
        each!(self, m => m.noise_dim())
    }
    fn data_dim(&self) -> usize {
        each!(self, m => LatentModel::data_dim(m))
    }
    fn encode(&self, x: Tensor<2>) -> Posterior {
        each!(self, m => LatentModel::encode(m, x))
    }
    fn log_likelihood(&self, x: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
        each!(self, m => m.log_likelihood(x, z))
    }
    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        each!(self, m => m.log_prior(z))
    }
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        each!(self, m => m.kl(posterior, z))
    }
    fn penalty(&self, posterior: &Posterior) -> Option<Tensor<1>> {
        each!(self, m => m.penalty(posterior))
    }
    fn after_step(self, posterior: &Posterior, step: usize, seed: u64) -> Self {
        match self {
            AnyModel::Vae(m) => AnyModel::Vae(m.after_step(posterior, step, seed)),
            AnyModel::VqVae(m) => AnyModel::VqVae(m.after_step(posterior, step, seed)),
        }
    }
    fn prior_responsibilities(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        each!(self, m => m.prior_responsibilities(z))
    }
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        each!(self, m => m.sample_prior(n, seed, device))
    }
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        each!(self, m => m.decode_mean(z))
    }
}
