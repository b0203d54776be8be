//! The ELBO and its parts over a whole dataset, read in the same pass as
//! every example's posterior (for the collapse statistics).

use super::collapse::Posteriors;
use crate::core::host::upload;
use crate::core::posterior::Posterior;
use crate::core::rng::{Purpose, host_normal};
use crate::data::Dataset;
use crate::models::LatentModel;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Dataset means, in nats per example.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ElboStats {
    pub n_examples: usize,
    /// mean of log p(x|z) − Σ_j KL_j
    pub elbo: f64,
    /// mean of log p(x|z) at one posterior sample
    pub rec_ll: f64,
    /// mean total KL(q(z|x) ‖ p(z))
    pub kl: f64,
    /// mean KL per latent dimension (one entry, the total, for priors whose
    /// KL does not factorise over dimensions, such as mixtures)
    pub kl_per_dim: Vec<f64>,
    /// mean of the loss terms outside the bound (VQ-VAE: commitment, plus
    /// the codebook loss in `loss` mode), for models that have them
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<f64>,
}

/// ELBO over every example of `data` (already binarized if needed), with one
/// posterior sample per example drawn from the stream `(seed, Eval, batch)`:
/// the same noise every time it is called, so epochs are comparable.
/// Sums are read off the device once per batch and accumulated in f64.
pub fn elbo<M: LatentModel>(
    model: &M,
    data: &Dataset,
    batch: usize,
    seed: u64,
    device: &Device,
) -> ElboStats {
    elbo_and_posteriors(model, data, batch, seed, device).0
}

/// [`elbo`], also returning every example's posterior parameters (for the
/// collapse monitor), read in the same pass.
pub fn elbo_and_posteriors<M: LatentModel>(
    model: &M,
    data: &Dataset,
    batch: usize,
    seed: u64,
    device: &Device,
) -> (ElboStats, Posteriors) {
    let z = model.latent_dim();
    let noise = model.noise_dim();
    // `z` stays 0 for one-hot posteriors: they have no means or variances.
    let mut post = Posteriors {
        n: data.n(),
        ..Default::default()
    };
    let mut rec = 0f64;
    let mut penalty: Option<f64> = None;
    let mut kl: Vec<f64> = Vec::new();
    let all: Vec<usize> = (0..data.n()).collect();
    for (b, idx) in all.chunks(batch.max(1)).enumerate() {
        let x = data.batch(idx, None, device);
        let eps = upload(
            host_normal(idx.len(), noise, seed, Purpose::Eval, b as u64, 0),
            idx.len(),
            noise,
            device,
        );
        let f = model.forward(&x, eps);
        let b = idx.len();
        let g = f.terms.kl.dims()[1];
        kl.resize(g, 0.0);
        let mut parts = vec![
            f.terms.rec_ll.sum(),
            f.terms.kl.sum_dim(0).squeeze_dim::<1>(0),
        ];
        let has_penalty = f.terms.penalty.is_some();
        parts.extend(f.terms.penalty.map(|p| p.sum()));
        let g0 = g + has_penalty as usize;
        match &f.posterior {
            Posterior::Gaussian(q) => {
                post.z = z;
                parts.push(q.mean.clone().reshape([b * z]));
                parts.push(q.log_var.clone().reshape([b * z]));
            }
            Posterior::Codes(c) => {
                post.n_codes = c.codes;
                post.codes
                    .extend(crate::core::host::read_indices(c.index.clone()));
            }
        }
        let v = crate::core::host::read(Tensor::cat(parts, 0));
        rec += v[0] as f64;
        for (k, s) in kl.iter_mut().zip(&v[1..=g]) {
            *k += *s as f64;
        }
        if has_penalty {
            *penalty.get_or_insert(0.0) += v[1 + g] as f64;
        }
        if v.len() > 1 + g0 {
            post.mean.extend_from_slice(&v[1 + g0..1 + g0 + b * z]);
            post.log_var.extend_from_slice(&v[1 + g0 + b * z..]);
        }
    }
    let n = data.n().max(1) as f64;
    let kl_per_dim: Vec<f64> = kl.iter().map(|k| k / n).collect();
    let kl_total: f64 = kl_per_dim.iter().sum();
    let stats = ElboStats {
        n_examples: data.n(),
        elbo: rec / n - kl_total,
        rec_ll: rec / n,
        kl: kl_total,
        kl_per_dim,
        penalty: penalty.map(|p| p / n),
    };
    (stats, post)
}

use super::record::Value;
use super::registry::{Applies, Metric, Section};

/// Examples evaluated.
pub const N_EXAMPLES: Metric = Metric::new(
    "n_examples",
    "examples",
    "number of held-out examples evaluated",
    Applies::ALWAYS,
    Section::Elbo,
    |c| Some(Value::Count(c.elbo?.n_examples)),
);

/// Mean ELBO.
pub const ELBO: Metric = Metric::new(
    "elbo",
    "ELBO (nats)",
    "mean of log p(x|z) − KL(q(z|x) ‖ p(z)), one posterior sample per example",
    Applies::ALWAYS,
    Section::Elbo,
    |c| Some(Value::Number(c.elbo?.elbo)),
)
.headline()
.column();

/// Mean reconstruction log-likelihood.
pub const REC_LL: Metric = Metric::new(
    "rec_ll",
    "log p(x|z) (nats)",
    "mean log p(x|z) at one posterior sample, every normalising constant kept",
    Applies::ALWAYS,
    Section::Elbo,
    |c| Some(Value::Number(c.elbo?.rec_ll)),
)
.headline()
.column();

/// Mean total KL.
pub const KL: Metric = Metric::new(
    "kl",
    "KL (nats)",
    "mean KL(q(z|x) ‖ p(z)), the rate",
    Applies::ALWAYS,
    Section::Elbo,
    |c| Some(Value::Number(c.elbo?.kl)),
)
.headline()
.column();

/// Mean KL per latent dimension.
pub const KL_PER_DIM: Metric = Metric::new(
    "kl_per_dim",
    "KL per dimension (nats)",
    "mean KL per latent dimension (one entry, the total, when the prior does not factorise)",
    Applies::ALWAYS,
    Section::Elbo,
    |c| Some(Value::Vector(c.elbo?.kl_per_dim.clone())),
)
.headline();

/// Mean of the loss terms outside the bound.
pub const PENALTY: Metric = Metric::new(
    "penalty",
    "penalty",
    "mean of the loss terms outside the bound (VQ-VAE: commitment, and the codebook loss)",
    Applies::ALWAYS,
    Section::Elbo,
    |c| c.elbo?.penalty.map(Value::Number),
);
