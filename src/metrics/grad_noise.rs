//! Gradient noise: how much of a stochastic gradient is signal.
//!
//! The reparameterised objective's gradient is itself a random variable —
//! of the noise ε that draws z — and when its spread dwarfs its mean,
//! training stalls however long it runs (underfitting from high-variance
//! gradients, the third failure mode beside posterior and mixture
//! collapse). Rainforth et al. (2018, "Tighter variational bounds are not
//! necessarily better", ICML) measure it as the signal-to-noise ratio of
//! each parameter's gradient estimate,
//!
//!   SNR(θᵢ) = |E[Δᵢ]| / σ[Δᵢ],
//!
//! and show that under the IWAE bound with k samples the inference
//! network's SNR falls (as 1/√k) while the generative network's rises (as
//! √k).
//!
//! [`measure`] estimates it on one batch: M gradient estimates of the same
//! loss, each with its own noise, give each parameter element's mean and
//! standard deviation (Welford, in f64); the elements are grouped into the
//! encoder's and the rest (decoder and prior). Each group reports the mean
//! and the median over its elements of the per-element SNR, the total
//! variance Σᵢ Var[Δᵢ] (the trace of the gradient's covariance) and the
//! norm of the mean gradient. The formulas are in `docs/metrics.md`.

use super::record::{Record, Value};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// What one group of parameters' gradient estimates showed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupNoise {
    /// Mean over the group's elements of |mean| / std (elements whose
    /// estimates never vary — a gradient that is always 0 — are left out).
    pub snr: f64,
    /// Median of the same.
    pub snr_median: f64,
    /// Σᵢ Var[Δᵢ]: the expected squared distance of one estimate from the
    /// mean gradient (unbiased, M − 1).
    pub variance: f64,
    /// ‖E[Δ]‖: the norm of the mean gradient.
    pub mean_norm: f64,
    /// Elements in the group, and how many of them entered the SNR.
    pub elements: usize,
    pub varying: usize,
}

/// The encoder's and the decoder's (every other parameter's) gradient noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradNoise {
    /// None for a model without an encoder (a language model).
    pub encoder: Option<GroupNoise>,
    pub decoder: GroupNoise,
    /// M: the gradient estimates the statistics are over.
    pub estimates: usize,
}

impl GradNoise {
    /// As the fields of a `metrics.jsonl` line and of `summary.json`'s
    /// `grad_noise` section (the registry's names, [`ENCODER_SNR`] …).
    pub fn record(&self) -> Record {
        let mut r = Record::new();
        let mut put = |prefix: &str, g: &GroupNoise| {
            r.insert(&format!("{prefix}_grad_snr"), Value::Number(g.snr));
            r.insert(
                &format!("{prefix}_grad_snr_median"),
                Value::Number(g.snr_median),
            );
            r.insert(&format!("{prefix}_grad_var"), Value::Number(g.variance));
            r.insert(
                &format!("{prefix}_grad_mean_norm"),
                Value::Number(g.mean_norm),
            );
        };
        if let Some(e) = &self.encoder {
            put("encoder", e);
        }
        put("decoder", &self.decoder);
        r.insert("grad_estimates", Value::Count(self.estimates));
        r
    }
}

/// Per-element running mean and sum of squared deviations (Welford), in f64.
#[derive(Clone, Debug, Default)]
pub struct Moments {
    n: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Moments {
    /// Add one estimate (its elements in a fixed order).
    pub fn add(&mut self, g: &[f32]) {
        if self.n == 0 {
            self.mean = vec![0.0; g.len()];
            self.m2 = vec![0.0; g.len()];
        }
        assert_eq!(g.len(), self.mean.len(), "estimates of one shape");
        self.n += 1;
        let n = self.n as f64;
        for ((m, s), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(g) {
            let x = x as f64;
            let d = x - *m;
            *m += d / n;
            *s += d * (x - *m);
        }
    }

    /// The group's statistics (needs two estimates or more).
    pub fn summary(&self) -> GroupNoise {
        let var = |s: f64| s / (self.n.max(2) - 1) as f64;
        let mut snr: Vec<f64> = self
            .mean
            .iter()
            .zip(&self.m2)
            .filter(|&(_, &s)| s > 0.0)
            .map(|(&m, &s)| m.abs() / var(s).sqrt())
            .collect();
        snr.sort_by(f64::total_cmp);
        let median = match snr.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => snr[n / 2],
            n => 0.5 * (snr[n / 2 - 1] + snr[n / 2]),
        };
        GroupNoise {
            snr: if snr.is_empty() {
                f64::NAN
            } else {
                snr.iter().sum::<f64>() / snr.len() as f64
            },
            snr_median: median,
            variance: self.m2.iter().map(|&s| var(s)).sum(),
            mean_norm: self.mean.iter().map(|m| m * m).sum::<f64>().sqrt(),
            elements: self.mean.len(),
            varying: snr.len(),
        }
    }
}

/// Estimate the gradient noise of `loss` at `model`'s parameters:
/// `estimates` (M ≥ 2) backward passes of `loss(model, m)`, m = 0..M, each
/// of which must draw its own noise and keep everything else (the batch,
/// β) fixed. `encoder` names the encoder's parameters (empty: one group).
/// `model` must live on an autodiff device.
pub fn measure<M: Module>(
    model: &M,
    encoder: &[ParamId],
    estimates: usize,
    mut loss: impl FnMut(&M, usize) -> Tensor<1>,
) -> GradNoise {
    assert!(estimates >= 2, "a standard deviation needs two estimates");
    let (mut enc, mut dec) = (Moments::default(), Moments::default());
    for m in 0..estimates {
        let grads = GradientsParams::from_grads(loss(model, m).backward(), model);
        let mut split = Split {
            grads: &grads,
            encoder,
            enc: Vec::new(),
            dec: Vec::new(),
        };
        model.visit(&mut split);
        if !encoder.is_empty() {
            enc.add(&split.enc);
        }
        dec.add(&split.dec);
    }
    GradNoise {
        encoder: (!encoder.is_empty()).then(|| enc.summary()),
        decoder: dec.summary(),
        estimates,
    }
}

/// One estimate's gradients, flattened per group in the module's order (a
/// parameter without a gradient counts as zeros, so every estimate has the
/// same length).
struct Split<'a> {
    grads: &'a GradientsParams,
    encoder: &'a [ParamId],
    enc: Vec<f32>,
    dec: Vec<f32>,
}

impl ModuleVisitor for Split<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = match self.grads.get::<D>(param.id) {
            Some(g) => g
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("converted to f32"),
            None => vec![0.0; param.shape().num_elements()],
        };
        if self.encoder.contains(&param.id) {
            self.enc.extend(values);
        } else {
            self.dec.extend(values);
        }
    }
}

/// Every `grad_noise` line of `RUN/metrics.jsonl`, as (step, the
/// registry's gradient metrics); unreadable lines are skipped (a torn last
/// write), none when the monitor was off.
pub fn history(run: &std::path::Path) -> Vec<(usize, Record)> {
    let Ok(bytes) = std::fs::read(run.join("metrics.jsonl")) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["split"] == "grad_noise")
        .filter_map(|v| {
            let step = v["step"].as_u64()? as usize;
            let r = super::registry::section(
                &Record::from_json(&v),
                super::registry::Section::Gradients,
            );
            Some((step, r))
        })
        .collect()
}

/// The last measurement, with its step as `grad_noise_step` (empty when
/// there is none): what `summary.json` reports, whichever session made it.
pub fn last_line(run: &std::path::Path) -> Record {
    history(run)
        .pop()
        .map(|(step, mut r)| {
            r.insert("grad_noise_step", Value::Count(step));
            r
        })
        .unwrap_or_default()
}

/// The registry's entries: written by the trainer (`monitor.grad_noise_every`)
/// to the `grad_noise` lines of `metrics.jsonl` and `summary.json`'s
/// `grad_noise` section (the last measurement), never computed from a
/// held-out evaluation.
mod entries {
    use crate::metrics::registry::{Applies, Metric, Section};

    macro_rules! grad_metric {
        ($id:ident, $name:literal, $label:literal, $doc:literal) => {
            pub const $id: Metric = Metric::new(
                $name,
                $label,
                $doc,
                Applies::ALWAYS,
                Section::Gradients,
                |_| None,
            )
            .column();
        };
    }

    grad_metric!(
        ENCODER_SNR,
        "encoder_grad_snr",
        "encoder gradient SNR (mean over elements)",
        "Mean over the encoder's parameter elements of |E[g]| / std[g] over M gradient estimates on one batch (Rainforth et al. 2018)."
    );
    grad_metric!(
        ENCODER_SNR_MEDIAN,
        "encoder_grad_snr_median",
        "encoder gradient SNR (median)",
        "Median over the encoder's parameter elements of |E[g]| / std[g]."
    );
    grad_metric!(
        ENCODER_VAR,
        "encoder_grad_var",
        "encoder gradient variance (trace)",
        "Σ Var[g] over the encoder's parameter elements: the expected squared distance of one gradient estimate from the mean."
    );
    grad_metric!(
        ENCODER_MEAN_NORM,
        "encoder_grad_mean_norm",
        "‖E[g]‖ of the encoder",
        "Norm of the encoder's mean gradient over the M estimates."
    );
    grad_metric!(
        DECODER_SNR,
        "decoder_grad_snr",
        "decoder gradient SNR (mean over elements)",
        "Mean over the decoder's (and prior's) parameter elements of |E[g]| / std[g] over M gradient estimates on one batch."
    );
    grad_metric!(
        DECODER_SNR_MEDIAN,
        "decoder_grad_snr_median",
        "decoder gradient SNR (median)",
        "Median over the decoder's parameter elements of |E[g]| / std[g]."
    );
    grad_metric!(
        DECODER_VAR,
        "decoder_grad_var",
        "decoder gradient variance (trace)",
        "Σ Var[g] over the decoder's parameter elements."
    );
    grad_metric!(
        DECODER_MEAN_NORM,
        "decoder_grad_mean_norm",
        "‖E[g]‖ of the decoder",
        "Norm of the decoder's mean gradient over the M estimates."
    );
    grad_metric!(
        ESTIMATES,
        "grad_estimates",
        "gradient estimates M",
        "Gradient estimates (backward passes on one batch, each with its own noise) the SNR is over."
    );
}
pub use entries::*;

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::{Device, TensorData};

    /// Two parameter vectors: θ the "encoder", φ the "decoder".
    #[derive(Module, Debug)]
    struct Toy {
        theta: Param<Tensor<1>>,
        phi: Param<Tensor<1>>,
    }

    /// L(θ, φ) = Σᵢ ½(θᵢ − σᵢ εᵢ)² + Σⱼ aⱼ ηⱼ φⱼ with ε, η ~ N(0, 1): the
    /// gradient is θᵢ − σᵢ εᵢ (mean θᵢ, std σᵢ, SNR |θᵢ|/σᵢ) and aⱼ ηⱼ
    /// (mean 0, std |aⱼ|, SNR 0) — in closed form. The estimates, from M
    /// draws, must agree within their sampling error.
    #[test]
    fn snr_and_variance_match_the_closed_form() {
        let device = Device::flex().autodiff();
        let theta = [0.5f32, -1.0, 2.0, 0.0];
        let sigma = [1.0f32, 0.5, 4.0, 2.0];
        let a = [1.0f32, 3.0];
        let toy = Toy {
            theta: Param::from_tensor(Tensor::from_data(TensorData::from(theta), &device)),
            phi: Param::from_tensor(Tensor::from_data(TensorData::from([0.3f32, 0.7]), &device)),
        };
        let m = 4000;
        let noise: Vec<Vec<f32>> = (0..m)
            .map(|i| {
                crate::core::rng::host_normal(1, 6, 9, crate::core::rng::Purpose::Eval, 1, i as u64)
            })
            .collect();
        let encoder = vec![toy.theta.id];
        let g = measure(&toy, &encoder, m, |t, i| {
            let eps = Tensor::<1>::from_data(TensorData::new(noise[i][..4].to_vec(), [4]), &device)
                * Tensor::from_data(TensorData::from(sigma), &device);
            let eta = Tensor::<1>::from_data(TensorData::new(noise[i][4..].to_vec(), [2]), &device)
                * Tensor::from_data(TensorData::from(a), &device);
            (t.theta.val() - eps).powi_scalar(2).sum().mul_scalar(0.5) + (eta * t.phi.val()).sum()
        });
        let e = g.encoder.as_ref().unwrap();
        // Closed form: SNRs 0.5, 2, 0.5, 0 → mean 0.75; variance Σσ² = 21.25; ‖mean‖ = ‖θ‖.
        let se = 1.0 / (m as f64).sqrt();
        // Sampling errors: an SNR estimate's is about √((1 + SNR²/2)/M),
        // a variance's √(2/M)·σ².
        assert!((e.snr - 0.75).abs() < 0.05, "encoder SNR {}", e.snr);
        let var_se = |s: &[f32]| {
            (2.0 / m as f64 * s.iter().map(|x| (*x as f64).powi(4)).sum::<f64>()).sqrt()
        };
        assert!(
            (e.variance - 21.25).abs() < 4.0 * var_se(&sigma),
            "{}",
            e.variance
        );
        let norm = theta
            .iter()
            .map(|t| (*t as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            (e.mean_norm - norm).abs() < 4.0 * 4.0 * se,
            "{}",
            e.mean_norm
        );
        // The decoder's gradient has mean 0: its SNR is the sampling noise |Z|/√M.
        assert!(g.decoder.snr < 4.0 * se, "decoder SNR {}", g.decoder.snr);
        assert!(
            (g.decoder.variance - 10.0).abs() < 4.0 * var_se(&a),
            "{}",
            g.decoder.variance
        );
        assert_eq!((e.elements, e.varying, g.decoder.elements), (4, 4, 2));
    }

    /// Welford's running moments equal the two-pass mean and the unbiased
    /// variance on the host.
    #[test]
    fn running_moments_equal_the_two_pass_ones() {
        let rows: Vec<Vec<f32>> = (0..7)
            .map(|i| crate::core::rng::host_normal(1, 3, 4, crate::core::rng::Purpose::Eval, 2, i))
            .collect();
        let mut m = Moments::default();
        rows.iter().for_each(|r| m.add(r));
        let s = m.summary();
        let mut total_var = 0.0;
        let mut snr = Vec::new();
        for j in 0..3 {
            let col: Vec<f64> = rows.iter().map(|r| r[j] as f64).collect();
            let mean = col.iter().sum::<f64>() / 7.0;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 6.0;
            total_var += var;
            snr.push(mean.abs() / var.sqrt());
        }
        assert!((s.variance - total_var).abs() < 1e-12);
        assert!((s.snr - snr.iter().sum::<f64>() / 3.0).abs() < 1e-12);
        snr.sort_by(f64::total_cmp);
        assert!((s.snr_median - snr[1]).abs() < 1e-12);
    }
}
