//! Models. Every model speaks [`LatentModel`] to the trainer, the monitor and
//! the evaluator, so adding one touches this folder only (see [`build`]).
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

pub mod build;
pub mod config;
pub mod lstm;
pub mod nn;
pub mod prior;
pub mod text;
pub mod two_layer;
pub mod vae;
pub mod vq;

pub use crate::core::batch::{Batch, TokenBatch};
pub use crate::core::posterior::{
    CodePosterior, Family, GaussianPosterior, HALF_LN_2PI, Posterior, repeat_rows,
    standard_normal_log_prob,
};
pub use build::{AnyModel, build_model};

use crate::core::objective::{Terms, gaussian_kl};
use burn::module::{Module, ParamId};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

/// Output of one forward pass: the objective terms plus what produced them.
#[derive(Clone, Debug)]
pub struct Forward {
    pub terms: Terms,
    pub posterior: Posterior,
}

/// What the trainer, monitor and evaluator need from a model.
///
/// A method added here must also be added to the forwarding list of
/// [`any_model!`](build::any_model) in `build.rs`, or [`AnyModel`] would
/// answer it with the default below instead of the model's own
/// (`tests/any_model.rs` fails until it is).
pub trait LatentModel: Module + Clone + std::fmt::Debug + Send + 'static {
    /// Number of latent dimensions (the width of z).
    fn latent_dim(&self) -> usize;

    /// Width of the standard normal noise the trainer and evaluator draw per
    /// sample: the latent width for Gaussian posteriors; 1 (unused) for a
    /// deterministic posterior.
    fn noise_dim(&self) -> usize {
        self.latent_dim()
    }

    /// The family of the posteriors [`LatentModel::encode`] returns.
    fn family(&self) -> Family {
        Family::Gaussian
    }

    /// q(z|x) for a batch of `b` examples.
    fn encode(&self, x: &Batch) -> Posterior;

    /// log p(x|z) per example, every normalising constant kept.
    ///
    /// # Shapes
    /// - x: `n` examples, z: `[n, latent]` -> `[n]`
    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1>;

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

    /// Hook on the training inputs, called by the trainer on every batch
    /// before the forward pass (a schedule on the inputs, such as word
    /// dropout); `step` counts from 0, randomness must come from `(seed,
    /// step)`. The batch as it is by default.
    fn prepare_batch(&self, batch: Batch, step: usize, seed: u64) -> Batch {
        let _ = (step, seed);
        batch
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

    /// `n` draws z ~ p(z), on the host from the stream
    /// [`PRIOR_NORMAL`](crate::core::rng::key::PRIOR_NORMAL).
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        let z = self.latent_dim();
        let draws = crate::data::batches::host_normal(
            n,
            z,
            seed,
            crate::core::rng::Purpose::Eval,
            crate::core::rng::key::SAMPLING,
            crate::core::rng::key::PRIOR_NORMAL,
        );
        crate::core::host::upload(draws, n, z, device)
    }

    /// The decoder's mean E[x|z] for latents `z` `[n, latent_dim]`, and its
    /// per-pixel σ for Gaussian decoders (`None` means Bernoulli).
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>);

    /// Sentences decoded from latents `z` `[n, latent_dim]` (token ids
    /// without `<s>`/`</s>`, at most `max_len` words): sampled token by
    /// token from p(x|z), or greedy. None for models of images.
    fn generate_tokens(
        &self,
        z: Tensor<2>,
        max_len: usize,
        greedy: bool,
        seed: u64,
    ) -> Option<Vec<Vec<u32>>> {
        let _ = (z, max_len, greedy, seed);
        None
    }

    /// The parameters of q(z|x), for encoder-only updates (aggressive
    /// training, He et al. 2019); empty when the model does not offer them.
    fn encoder_params(&self) -> Vec<ParamId> {
        Vec::new()
    }

    /// The model with its decoder re-initialised from `seed` and the rest
    /// kept (Li et al. 2019's pre-training then decoder reset); the model
    /// unchanged when it does not offer this.
    fn reset_decoder(self, seed: u64) -> Self {
        let _ = seed;
        self
    }

    /// Whether the model has a latent variable at all: false for a language
    /// model, whose "posterior" is the prior by construction (the collapse
    /// alarm has nothing to watch there).
    fn has_latent(&self) -> bool {
        true
    }

    /// Whether [`LatentModel::reset_decoder`] does anything.
    fn can_reset_decoder(&self) -> bool {
        false
    }

    /// The model as a dense MLP VAE — any prior whose components are
    /// diagonal Gaussians, a Bernoulli or Gaussian decoder — for the fast CPU
    /// evaluator; None when it is anything else.
    fn plain_mlp(&self) -> Option<PlainMlp<'_>> {
        None
    }

    /// Widths of the stochastic layers, in the order their columns fill z
    /// (the layer next to x first); they add up to
    /// [`LatentModel::latent_dim`]. One layer unless the model stacks
    /// several ([`two_layer`]): the monitor then also reports active units,
    /// KL and I(x;z) per layer.
    fn latent_layers(&self) -> Vec<usize> {
        vec![self.latent_dim()]
    }

    /// z ~ q(z|x) from standard normal noise `eps` `[batch, noise]`:
    /// `posterior.sample(eps)`, unless q is hierarchical and a layer's
    /// parameters depend on the sample of the layer below ([`two_layer`]).
    fn sample_latent(&self, posterior: &Posterior, eps: Tensor<2>) -> Tensor<2> {
        posterior.sample(eps)
    }

    /// Importance log-weights log w = log p(x, z) − log q(z|x) and log p(x|z)
    /// for `k` samples per example, `[b, k]` each ([`gaussian_log_weights`]
    /// unless the model's q or p is not one Gaussian layer and one prior).
    fn log_weights(
        &self,
        posterior: &Posterior,
        x: &Batch,
        eps: Tensor<2>,
        k: usize,
    ) -> (Tensor<2>, Tensor<2>) {
        gaussian_log_weights(self, posterior, x, eps, k)
    }

    /// Per-example terms for a batch `x`, with standard normal noise `eps`
    /// `[batch, latent_dim]` for the reparameterised sample.
    fn forward(&self, x: &Batch, eps: Tensor<2>) -> Forward {
        let posterior = self.encode(x);
        let z = posterior.sample(eps);
        let terms = Terms {
            rec_ll: self.log_likelihood(x, z.clone()),
            kl: self.kl(&posterior, z),
            penalty: self.penalty(&posterior),
        };
        Forward { terms, posterior }
    }
}

/// A model's weights when it is a dense MLP VAE — dense layers with one
/// activation, a Gaussian posterior, a prior of diagonal Gaussian components,
/// a Bernoulli or Gaussian decoder — for the fast CPU evaluator of the
/// metrics layer.
pub struct PlainMlp<'a> {
    pub encoder: &'a [Linear],
    pub mean: &'a Linear,
    pub log_var: &'a Linear,
    pub decoder: &'a [Linear],
    pub out: &'a Linear,
    pub activation: config::Activation,
    pub latent: usize,
    /// Values per input image.
    pub data_dim: usize,
    /// The prior: None for the standard normal, else its components on the
    /// host (a learned mixture, or the VampPrior's q(z|u_k) with weights 1/K).
    pub mixture: Option<prior::HostMixture>,
    /// A Gaussian decoder's log σ² as its density uses it (clamped at
    /// `min_log_var`): one value, or one per pixel. None: Bernoulli.
    pub gaussian_log_var: Option<Vec<f32>>,
}

/// The analytic KL to the standard normal, per dimension, for a Gaussian
/// posterior (the default of most models).
pub fn standard_normal_kl(posterior: &GaussianPosterior) -> Tensor<2> {
    gaussian_kl(posterior.mean.clone(), posterior.log_var.clone())
}

/// Importance log-weights log w = log p(x|z) + log p(z) − log q(z|x) for
/// `k` samples per example, with every normalising constant kept: the
/// default of [`LatentModel::log_weights`], for a single Gaussian (or
/// one-hot) posterior and the model's prior.
///
/// Encodes each image once. `eps` holds the noise for all samples, example
/// 0's `k` rows first. A one-hot posterior has a single z with log q = 0, so
/// its `k` weights are equal and computed once.
///
/// # Shapes
/// - x: `[b, data_dim]`, eps: `[b·k, noise]` -> log w `[b, k]`, log p(x|z) `[b, k]`
pub fn gaussian_log_weights<M: LatentModel + ?Sized>(
    model: &M,
    posterior: &Posterior,
    x: &Batch,
    eps: Tensor<2>,
    k: usize,
) -> (Tensor<2>, Tensor<2>) {
    let b = x.len();
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
    let log_px = model.log_likelihood(&x.repeat_rows(k), z.clone());
    let log_w = log_px.clone() + model.log_prior(z) - log_q;
    (log_w.reshape([b, k]), log_px.reshape([b, k]))
}
