//! Evaluation of a trained model on a whole dataset: the ELBO and its parts
//! ([`elbo`]), and the importance-weighted bound with its NLL report ([`iwae`]).

pub mod fast_mlp;
pub mod iwae;

use crate::data::Dataset;
use crate::data::batches::{gather, host_normal};
use crate::host::upload;
use crate::models::{LatentModel, Posterior};
use crate::monitor::Posteriors;
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
        n: data.n,
        ..Default::default()
    };
    let mut rec = 0f64;
    let mut penalty: Option<f64> = None;
    let mut kl: Vec<f64> = Vec::new();
    let all: Vec<usize> = (0..data.n).collect();
    for (b, idx) in all.chunks(batch.max(1)).enumerate() {
        let x = upload(gather(data, idx, None), idx.len(), data.dim(), device);
        let eps = upload(
            host_normal(idx.len(), noise, seed, Purpose::Eval, b as u64, 0),
            idx.len(),
            noise,
            device,
        );
        let f = model.forward(x, eps);
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
                    .extend(crate::models::vq::read_indices(c.index.clone()));
            }
        }
        let v = crate::host::read(Tensor::cat(parts, 0));
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
    let n = data.n.max(1) as f64;
    let kl_per_dim: Vec<f64> = kl.iter().map(|k| k / n).collect();
    let kl_total: f64 = kl_per_dim.iter().sum();
    let stats = ElboStats {
        n_examples: data.n,
        elbo: rec / n - kl_total,
        rec_ll: rec / n,
        kl: kl_total,
        kl_per_dim,
        penalty: penalty.map(|p| p / n),
    };
    (stats, post)
}

/// File name stem of an evaluation report: `eval-k{K}` for the test split,
/// `eval-k{K}-{split}` otherwise.
pub fn report_stem(k: usize, split: &str) -> String {
    if split == "test" {
        format!("eval-k{k}")
    } else {
        format!("eval-k{k}-{split}")
    }
}

/// `vaekit eval`: evaluate a run's newest checkpoint on a split with the
/// k-sample bound, write `eval-k{K}.json` and `eval-k{K}.csv` into the run
/// directory, and return the report.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_run(
    run: &std::path::Path,
    k: usize,
    split: &str,
    chunk: Option<usize>,
    seed: u64,
    device: &Device,
    device_name: &str,
    force_generic: bool,
) -> crate::Result<iwae::EvalReport> {
    use crate::error::Error;
    use crate::train::PreparedData;
    let t0 = std::time::Instant::now();
    if k == 0 {
        return Err(Error::Usage(
            "--k 0: the bound needs at least one sample".into(),
        ));
    }
    let loaded = crate::run::open(run, device)?;
    let data = PreparedData::load(&loaded.config)?;
    let set = match split {
        "test" => data.splits.test,
        "val" => data.splits.val,
        "train" if data.dynamic_binarize => {
            crate::data::batches::binarize_fixed(&data.splits.train, loaded.config.seed, 0)
        }
        "train" => data.splits.train,
        other => {
            return Err(Error::Usage(format!(
                "--split {other}: expected test, val or train"
            )));
        }
    };
    let [rows, cols] = loaded.image_shape;
    if set.dim() != rows * cols * loaded.channels {
        return Err(Error::Usage(format!(
            "{}: the model was trained on {rows}×{cols}×{} images but {} now gives {}; \
             evaluate it on the data it was trained on",
            run.display(),
            loaded.channels,
            loaded.config.data.spec,
            set.shape_text()
        )));
    }
    let opts = iwae::IwaeOptions {
        k,
        chunk: chunk.unwrap_or(k.min(500)),
        seed,
    };
    // The fast path for Bernoulli MLP models on the CPU; the generic one otherwise.
    let fast = (device_name == "cpu" && !force_generic)
        .then(|| fast_mlp::evaluate(&loaded.model, &set, &opts))
        .flatten();
    let (per, path) = match fast {
        Some(per) => (per, "fast-mlp"),
        None => (
            iwae::evaluate(&loaded.model, &set, &opts, device),
            "generic",
        ),
    };
    let mut report = iwae::EvalReport::new(&per, k, split, set.dim(), seed);
    report.path = path.into();
    report.seconds = t0.elapsed().as_secs_f64();
    report.device = device_name.into();
    report.checkpoint = loaded.checkpoint.display().to_string();
    let stem = report_stem(k, split);
    let mut csv = String::from("index,elbo,log_px\n");
    for (i, (e, l)) in per.elbo.iter().zip(&per.log_px).enumerate() {
        csv.push_str(&format!("{i},{e},{l}\n"));
    }
    crate::fsutil::write_atomic(&run.join(format!("{stem}.csv")), csv.as_bytes())?;
    crate::fsutil::write_atomic(
        &run.join(format!("{stem}.json")),
        serde_json::to_string_pretty(&report).unwrap().as_bytes(),
    )?;
    Ok(report)
}
