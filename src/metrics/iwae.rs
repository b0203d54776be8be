//! The importance-weighted bound L_k (Burda et al. 2015) and the NLL report.
//!
//! For each image x, draw z_1..z_k ~ q(z|x) and form
//! `log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x)` with every
//! normalising constant kept; then `log p̂(x) = logsumexp_i log w_i − log k`.
//! Samples are processed in chunks, and the chunks are combined by an exact
//! streaming logsumexp over all k log-weights in f64 (never by averaging
//! per-chunk estimates). The noise of image i comes from its own stream
//! `(seed, Eval, i)`, so results do not depend on the chunk or batch sizes.

use super::ess::WeightSums;
use super::record::Value;
use super::registry::{Applies, Metric, Section};
use crate::core::host::{read, upload};
use crate::core::posterior::Posterior;
use crate::core::rng::{Purpose, stream};
use crate::data::Dataset;
use crate::models::LatentModel;
use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct IwaeOptions {
    /// Importance samples per image.
    pub k: usize,
    /// Samples per image per pass (memory: images × chunk × pixels floats).
    pub chunk: usize,
    pub seed: u64,
}

/// Per-example results.
#[derive(Clone, Debug, Default)]
pub struct PerExample {
    /// ELBO estimate: mean over the k samples of log p(x|z) minus the model's
    /// KL (analytic for a standard-normal prior).
    pub elbo: Vec<f64>,
    /// log p̂(x) = L_k.
    pub log_px: Vec<f64>,
    /// Effective sample size (Σw)²/Σw² of each example's k weights.
    pub ess: Vec<f64>,
    /// Samples per example.
    pub k: usize,
    /// One-hot posteriors (VQ-VAE): the KL to the uniform code prior,
    /// P·ln K nats, the same for every image.
    pub one_hot_kl: Option<f64>,
    /// Token data: the tokens each example's decoder predicts (its length
    /// minus the given `<s>`), for per-token NLL and perplexity.
    pub tokens: Option<Vec<usize>>,
}

/// An exact streaming log Σ exp in f64.
#[derive(Clone, Copy, Debug)]
pub struct StreamingLse {
    max: f64,
    sum: f64,
    nan: bool,
}

impl Default for StreamingLse {
    fn default() -> Self {
        Self {
            max: f64::NEG_INFINITY,
            sum: 0.0,
            nan: false,
        }
    }
}

impl StreamingLse {
    pub fn push(&mut self, v: f64) {
        if v.is_nan() || v == f64::INFINITY {
            self.nan = true;
        } else if v > self.max {
            self.sum = self.sum * (self.max - v).exp() + 1.0;
            self.max = v;
        } else if v > f64::NEG_INFINITY {
            self.sum += (v - self.max).exp();
        }
    }

    /// log Σ exp of everything pushed (NaN if any value was NaN or +∞,
    /// −∞ if all were −∞).
    pub fn value(&self) -> f64 {
        if self.nan {
            f64::NAN
        } else if self.sum == 0.0 {
            f64::NEG_INFINITY
        } else {
            self.max + self.sum.ln()
        }
    }
}

/// Images per pass so that one pass holds about 4M floats of pixels.
fn images_per_pass(chunk: usize, dim: usize) -> usize {
    (4_000_000 / (chunk * dim).max(1)).clamp(1, 256)
}

/// Evaluate L_k and the ELBO on every example of `data` (already binarized
/// if the decoder is Bernoulli).
pub fn evaluate<M: LatentModel>(
    model: &M,
    data: &Dataset,
    opts: &IwaeOptions,
    device: &Device,
) -> PerExample {
    let (k, zd) = (opts.k.max(1), model.noise_dim());
    // Memory of one pass: examples × chunk × (pixels, or positions × vocabulary logits).
    let dim = match data.kind() {
        crate::data::DataKind::Tokens { vocab, max_len } => vocab * max_len,
        kind => kind.width(),
    };
    let chunk = opts.chunk.clamp(1, k).min((4_000_000 / dim.max(1)).max(1));
    let per_pass = images_per_pass(chunk, dim);
    let mut out = PerExample {
        k,
        tokens: data.predicted_tokens(),
        ..Default::default()
    };
    let all: Vec<usize> = (0..data.n()).collect();
    for idx in all.chunks(per_pass) {
        let b = idx.len();
        let x = data.batch(idx, None, device);
        let posterior = model.encode(&x);
        // A one-hot posterior's k weights are equal: one pass computes them all.
        let chunk = if matches!(posterior, Posterior::Codes(_)) {
            k
        } else {
            chunk
        };
        let mut rngs: Vec<ChaCha8Rng> = idx
            .iter()
            .map(|&i| stream(opts.seed, Purpose::Eval, i as u64, 1))
            .collect();
        let mut lse = vec![WeightSums::default(); b];
        let mut rec_sum = vec![0f64; b];
        let mut kl = vec![0f64; b];
        let mut done = 0;
        while done < k {
            let c = chunk.min(k - done);
            let mut eps = Vec::with_capacity(b * c * zd);
            for rng in rngs.iter_mut() {
                eps.extend((0..c * zd).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)));
            }
            let eps = upload(eps, b * c, zd, device);
            let (log_w, log_px) = model.log_weights(&posterior, &x, eps.clone(), c);
            let mut parts = vec![
                log_w.reshape([b * c]),
                log_px.sum_dim(1).squeeze_dim::<1>(1),
            ];
            if done == 0 {
                // KL from the first sample (analytic models ignore z).
                let z0 = model.sample_latent(
                    &posterior,
                    eps.reshape([b, c, zd]).narrow(1, 0, 1).reshape([b, zd]),
                );
                parts.push(model.kl(&posterior, z0).sum_dim(1).squeeze_dim::<1>(1));
            }
            let v = read(Tensor::cat(parts, 0));
            for i in 0..b {
                for j in 0..c {
                    lse[i].push(v[i * c + j] as f64);
                }
                rec_sum[i] += v[b * c + i] as f64;
                if done == 0 {
                    kl[i] = v[b * c + b + i] as f64;
                }
            }
            done += c;
        }
        if matches!(posterior, Posterior::Codes(_)) {
            out.one_hot_kl = kl.first().copied();
        }
        for i in 0..b {
            out.log_px.push(lse[i].lse.value() - (k as f64).ln());
            out.ess.push(lse[i].ess());
            out.elbo.push(rec_sum[i] / k as f64 - kl[i]);
        }
    }
    out
}

/// The NLL table a paper needs, as written to `eval-k{K}.json`: what was
/// evaluated and how, and the registry's importance-sampled metrics
/// (`nll_nats`, `bits_per_dim`, `elbo_nats` with their standard errors,
/// `ess_mean_frac`, ...) at the top level of the file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub k: usize,
    pub split: String,
    pub n_examples: usize,
    /// Every importance-sampled metric of the registry.
    #[serde(flatten)]
    pub metrics: super::record::Record,
    /// Values per example behind bits/dim (0 where it has no meaning).
    pub data_dim: usize,
    pub seed: u64,
    pub seconds: f64,
    pub device: String,
    /// The checkpoint evaluated.
    pub checkpoint: String,
    /// `fast-mlp` (host evaluator for Bernoulli MLP models on the CPU) or `generic` (burn).
    pub path: String,
    /// The fraction of k below which an example's ESS counts as low.
    #[serde(default)]
    pub ess_threshold: f64,
    /// What the bound means for this model, when it is not the usual IWAE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Which fixed Bernoulli draw binarized the evaluated images, when they
    /// were grey-level images binarized for a binary likelihood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binarization: Option<String>,
}

/// Mean and standard error of the mean over the finite values (f64).
pub fn mean_se(v: &[f64]) -> (f64, f64, usize) {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, v.len());
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    (mean, (var / n as f64).sqrt(), v.len() - n)
}

impl EvalReport {
    /// Summarise per-example values through the registry.
    ///
    /// `monitor` gives the ESS threshold; `data` the dimensions per example
    /// for bits/dim (NaN for data without a fixed number of dimensions).
    pub fn new(
        per: &PerExample,
        split: &str,
        data: &crate::data::DataKind,
        family: crate::core::posterior::Family,
        monitor: &super::config::MonitorConfig,
        seed: u64,
    ) -> Self {
        let mut ctx = super::registry::Ctx::new(family, data, monitor);
        ctx.weights = Some(per);
        Self {
            k: per.k,
            split: split.into(),
            n_examples: per.log_px.len(),
            metrics: super::registry::evaluate(&ctx),
            data_dim: data.dims_per_example().unwrap_or(0),
            seed,
            seconds: 0.0,
            device: String::new(),
            checkpoint: String::new(),
            path: String::new(),
            ess_threshold: monitor.ess_threshold,
            note: per.one_hot_kl.map(|kl| {
                format!(
                    "q(z|x) is one-hot, so L_k = ELBO for every k. The bound uses a uniform \
                     prior over the codes at each grid position: KL = P·ln K = {kl:.3} nats \
                     per example. A learned prior over codes would give a lower NLL."
                )
            }),
            binarization: None,
        }
    }

    /// A metric of the report (NaN when absent).
    pub fn get(&self, name: &str) -> f64 {
        self.metrics.float(name).unwrap_or(f64::NAN)
    }

    /// A readable table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "split {}  ({} examples, k = {}, seed {}, {:.1} s on {}, {} path)\n\
             | metric            | value      | std. err. |\n\
             |-------------------|------------|-----------|\n\
             | ELBO (nats)       | {:>10.3} | {:>9.3} |\n\
             | NLL ≤ −L_k (nats) | {:>10.3} | {:>9.3} |\n",
            self.split,
            self.n_examples,
            self.k,
            self.seed,
            self.seconds,
            self.device,
            self.path,
            self.get("elbo_nats"),
            self.get("elbo_std_err"),
            self.get("nll_nats"),
            self.get("nll_std_err"),
        );
        if let Some(b) = self.metrics.float("bits_per_dim") {
            s.push_str(&format!(
                "| bits/dim          | {:>10.5} | {:>9.5} |\n",
                b,
                self.get("bits_per_dim_std_err")
            ));
        }
        if let (Some(t), Some(p)) = (
            self.metrics.float("nll_per_token"),
            self.metrics.float("ppl"),
        ) {
            s.push_str(&format!(
                "| NLL/token (nats)  | {:>10.4} |           |\n",
                t
            ));
            s.push_str(&format!(
                "| perplexity        | {:>10.3} |           |\n",
                p
            ));
        }
        if let Some(e) = self.metrics.float("ess_mean_frac") {
            s.push_str(&format!(
                "| mean ESS / k      | {:>10.4} |           |\n",
                e
            ));
        }
        if let Some(r) = self.metrics.float("reconstruction_nats") {
            s.push_str(&format!(
                "| −log p(x|z_q)     | {:>10.3} |           |\n",
                r
            ));
        }
        if let Some(n) = &self.note {
            s.push_str(&format!("note: {n}\n"));
        }
        if let Some(b) = &self.binarization {
            s.push_str(&format!("binarized: {b}\n"));
        }
        if let Some(bad) = self.metrics.count("n_nonfinite").filter(|&b| b > 0) {
            s.push_str(&format!(
                "WARNING: {bad} of {} examples had no finite log-weight and are excluded from the means\n",
                self.n_examples
            ));
        }
        if let Some(w) = self
            .metrics
            .count("ess_low")
            .and_then(|low| super::ess::warning(low, self.n_examples, self.k, self.ess_threshold))
        {
            s.push_str(&w);
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_lse_equals_direct_lse_in_any_chunking() {
        let v: Vec<f64> = (0..1000)
            .map(|i| ((i * 37 % 101) as f64) * 3.1 - 150.0)
            .collect();
        let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let direct = m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        let mut s = StreamingLse::default();
        for &x in &v {
            s.push(x);
        }
        assert!((s.value() - direct).abs() < 1e-10);
        let mut r = StreamingLse::default();
        for &x in v.iter().rev() {
            r.push(x);
        }
        assert!((r.value() - direct).abs() < 1e-10);
        let mut e = StreamingLse::default();
        e.push(f64::NEG_INFINITY);
        assert_eq!(e.value(), f64::NEG_INFINITY);
        e.push(f64::NAN);
        assert!(e.value().is_nan());
    }

    #[test]
    fn mean_and_standard_error() {
        let (m, se, bad) = mean_se(&[1.0, 2.0, 3.0, 4.0, f64::NAN]);
        assert_eq!(m, 2.5);
        assert!((se - (1.666_666_666_666_666_7f64 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(bad, 1);
    }
}

fn weights<'a>(c: &super::registry::Ctx<'a>) -> Option<&'a PerExample> {
    c.weights
}

/// 1 / (dimensions · ln 2): nats per example to bits per dimension; None
/// for data without a fixed number of dimensions (tokens: see `ppl`).
fn to_bits(c: &super::registry::Ctx) -> Option<f64> {
    c.data
        .dims_per_example()
        .map(|d| 1.0 / (d as f64 * std::f64::consts::LN_2))
}

/// −mean L_k.
pub const NLL_NATS: Metric = Metric::new(
    "nll_nats",
    "NLL ≤ −L_k (nats)",
    "−mean over examples of L_k: an upper bound on the NLL in expectation",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(-mean_se(&weights(c)?.log_px).0)),
)
.column_as("nll");

/// Its standard error over examples.
pub const NLL_STD_ERR: Metric = Metric::new(
    "nll_std_err",
    "std. err. of NLL (nats)",
    "standard error of the mean of L_k over examples (the spread of the data)",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(mean_se(&weights(c)?.log_px).1)),
);

/// nll_nats in bits per dimension.
pub const BITS_PER_DIM: Metric = Metric::new(
    "bits_per_dim",
    "bits/dim",
    "nll_nats / (values per example · ln 2); images only (token data has ppl)",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(-mean_se(&weights(c)?.log_px).0 * to_bits(c)?)),
)
.column();

/// Its standard error.
pub const BITS_PER_DIM_STD_ERR: Metric = Metric::new(
    "bits_per_dim_std_err",
    "std. err. of bits/dim",
    "nll_std_err in bits per dimension",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(mean_se(&weights(c)?.log_px).1 * to_bits(c)?)),
);

/// Mean ELBO of the importance-sampled pass.
pub const ELBO_NATS: Metric = Metric::new(
    "elbo_nats",
    "ELBO (nats), k samples",
    "mean over examples of the mean over the k samples of log p(x|z), minus the model's KL",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(mean_se(&weights(c)?.elbo).0)),
);

/// Its standard error.
pub const ELBO_STD_ERR: Metric = Metric::new(
    "elbo_std_err",
    "std. err. of ELBO (nats)",
    "standard error of elbo_nats over examples",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(mean_se(&weights(c)?.elbo).1)),
);

/// Examples without a finite bound.
pub const N_NONFINITE: Metric = Metric::new(
    "n_nonfinite",
    "examples with no finite L_k",
    "examples with a NaN or +∞ log-weight, or every log-weight −∞; excluded from the means",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Count(mean_se(&weights(c)?.log_px).2)),
);

/// Σ −L_k over Σ predicted tokens, over the examples whose bound is finite
/// (as `nll_nats` excludes the others: `n_nonfinite` counts them).
fn nll_per_token(c: &super::registry::Ctx) -> Option<f64> {
    let w = weights(c)?;
    let tokens = w.tokens.as_ref()?;
    let (nll, total) = w
        .log_px
        .iter()
        .zip(tokens)
        .filter(|(l, _)| l.is_finite())
        .fold((0.0, 0usize), |(s, n), (l, t)| (s - l, n + t));
    (total > 0).then(|| nll / total as f64)
}

/// Per-token NLL of token data.
pub const NLL_PER_TOKEN: Metric = Metric::new(
    "nll_per_token",
    "NLL per token (nats)",
    "token data: Σ −L_k over Σ predicted tokens (every token but <s>, </s> included)",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| nll_per_token(c).map(Value::Number),
);

/// Perplexity of token data.
pub const PPL: Metric = Metric::new(
    "ppl",
    "perplexity exp(NLL / tokens)",
    "token data: exp(nll_per_token), from the importance-sampled bound (an upper bound in expectation)",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| nll_per_token(c).map(|n| Value::Number(n.exp())),
)
.column()
.plot();

/// A one-hot posterior's reconstruction term alone.
pub const RECONSTRUCTION_NATS: Metric = Metric::new(
    "reconstruction_nats",
    "−log p(x|z_q) (nats)",
    "one-hot posteriors: −mean log p(x|z_q), the bound without its constant KL P·ln K",
    Applies::CODES_WEIGHTS,
    Section::Iwae,
    |c| {
        let w = weights(c)?;
        Some(Value::Number(-(mean_se(&w.elbo).0 + w.one_hot_kl?)))
    },
);

/// Mean L_k over the held-out examples with a finite bound.
pub const IWAE: Metric = Metric::new(
    "iwae",
    "L_k (nats)",
    "mean importance-weighted bound L_k (Burda et al. 2015)",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Number(mean_se(&c.weights?.log_px).0)),
)
.plot();

/// k of L_k.
pub const IWAE_K: Metric = Metric::new(
    "iwae_k",
    "k",
    "importance samples per example of the bound",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| Some(Value::Count(c.weights?.k)),
);
