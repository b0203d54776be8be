//! Evaluation of a trained model on a whole dataset: the ELBO and its parts.

use crate::data::Dataset;
use crate::data::batches::{gather, host_normal};
use crate::host::upload;
use crate::models::LatentModel;
use crate::rng::Purpose;
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
    /// mean KL per latent dimension
    pub kl_per_dim: Vec<f64>,
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
    let z = model.latent_dim();
    let mut rec = 0f64;
    let mut kl = vec![0f64; z];
    let all: Vec<usize> = (0..data.n).collect();
    for (b, idx) in all.chunks(batch.max(1)).enumerate() {
        let x = upload(gather(data, idx, None), idx.len(), data.dim(), device);
        let eps = upload(
            host_normal(idx.len(), z, seed, Purpose::Eval, b as u64, 0),
            idx.len(),
            z,
            device,
        );
        let f = model.forward(x, eps);
        let sums = Tensor::cat(
            vec![
                f.terms.rec_ll.sum(),
                f.terms.kl.sum_dim(0).squeeze_dim::<1>(0),
            ],
            0,
        );
        let v = crate::host::read(sums);
        rec += v[0] as f64;
        for (k, s) in kl.iter_mut().zip(&v[1..]) {
            *k += *s as f64;
        }
    }
    let n = data.n.max(1) as f64;
    let kl_per_dim: Vec<f64> = kl.iter().map(|k| k / n).collect();
    let kl_total: f64 = kl_per_dim.iter().sum();
    ElboStats {
        n_examples: data.n,
        elbo: rec / n - kl_total,
        rec_ll: rec / n,
        kl: kl_total,
        kl_per_dim,
    }
}
