//! One evaluation on a held-out set: the ELBO pass (which also reads every
//! example's posterior), the mixture responsibilities, the importance
//! weights when asked, then every registered metric that applies.

use super::config::MonitorConfig;
use super::elbo::elbo_and_posteriors;
use super::iwae::{self, IwaeOptions};
use super::record::Record;
use super::registry::{self, Ctx};
use crate::core::host::{read, upload};
use crate::core::rng::{Purpose, host_normal};
use crate::data::Dataset;
use crate::models::LatentModel;
use burn::tensor::Device;

/// What to compute besides the ELBO pass.
#[derive(Clone, Debug)]
pub struct HeldOutOptions<'a> {
    pub monitor: &'a MonitorConfig,
    /// Samples of the importance-weighted bound (0 = none).
    pub iwae_k: usize,
    /// Noise streams: the same seed gives the same numbers.
    pub seed: u64,
}

/// Every metric the registry has for `model` on `set`: the ELBO terms and
/// the collapse statistics over every example (I(x;z) and the mixture usage
/// on the first `monitor.max_examples`), and the IWAE bound with its ESS
/// when `opts.iwae_k > 0`.
pub fn evaluate<M: LatentModel>(
    model: &M,
    set: &Dataset,
    opts: &HeldOutOptions,
    device: &Device,
) -> Record {
    let seed = opts.seed;
    let (stats, post) = elbo_and_posteriors(model, set, 500, seed, device);
    // I(x;z) is O(n²): it uses the first `monitor.max_examples`.
    let n = post.n.min(opts.monitor.max_examples.max(2));
    let eps = host_normal(
        n,
        post.z,
        seed,
        Purpose::Eval,
        crate::core::rng::key::HELD_OUT_NOISE,
        0,
    );
    // Mixture priors: how the aggregate posterior spreads over the components.
    let responsibilities = (post.z > 0)
        .then(|| {
            let zs: Vec<f32> = (0..n * post.z)
                .map(|i| post.mean[i] + (0.5 * post.log_var[i]).exp() * eps[i])
                .collect();
            model.prior_responsibilities(upload(zs, n, post.z, device))
        })
        .flatten()
        .map(|r| {
            let k = r.dims()[1];
            (read(r), k)
        });
    let weights = (opts.iwae_k > 0).then(|| {
        let k = opts.iwae_k;
        let o = IwaeOptions {
            k,
            chunk: k.min(500),
            seed,
        };
        iwae::evaluate(model, set, &o, device)
    });
    let kind = set.kind();
    let mut ctx = Ctx::new(post.family(), &kind, opts.monitor);
    ctx.elbo = Some(&stats);
    ctx.posteriors = Some(&post);
    ctx.mi_noise = &eps;
    ctx.responsibilities = responsibilities.as_ref().map(|(r, k)| (r.as_slice(), *k));
    ctx.weights = weights.as_ref();
    ctx.layers = model.latent_layers();
    registry::evaluate(&ctx)
}
