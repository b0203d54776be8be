//! Rainforth et al.'s measurement (2018, "Tighter variational bounds are
//! not necessarily better"): the signal-to-noise ratio of the encoder's and
//! the decoder's gradient under the IWAE bound, as k grows, on one model and
//! one batch. Their result: the inference network's SNR falls like 1/√k,
//! the generative network's rises like √k — a tighter bound starves the
//! encoder of signal.
//!
//! [`snr_against_k`] loads a run's model twice — as it was initialised (the
//! run's seed) and as its last checkpoint left it — and for each k draws M
//! gradient estimates of the k-sample IWAE loss on the same test examples
//! ([`crate::metrics::grad_noise::measure`]). The `grad_snr` study
//! (`experiments/grad_snr.rs`) tabulates and plots them.

use super::run::{load_config, load_run_data};
use crate::core::error::{Error, Result};
use crate::core::host::upload;
use crate::core::rng::{Purpose, host_normal};
use crate::metrics::grad_noise::{GradNoise, measure};
use crate::models::LatentModel;
use crate::models::build::build_model;
use crate::train::checkpoint;
use crate::train::config::ObjectiveKind;
use crate::train::step::batch_loss;
use burn::tensor::Device;
use std::path::Path;

/// One model state and one k.
#[derive(Clone, Debug)]
pub struct SnrRow {
    /// `init` (the run's initial weights) or `trained` (its last checkpoint).
    pub state: &'static str,
    pub k: usize,
    pub noise: GradNoise,
    pub seconds: f64,
}

/// The gradient SNR of the IWAE-k loss for every k in `ks`, at the run's
/// initial and trained weights, on its first `examples` test examples,
/// over `estimates` gradient estimates each. The noise of estimate m for k
/// is the stream `(seed, GradNoise, k, m)`.
pub fn snr_against_k(
    run: &Path,
    ks: &[usize],
    estimates: usize,
    examples: usize,
    seed: u64,
    device: &Device,
    say: &mut dyn FnMut(&str),
) -> Result<Vec<SnrRow>> {
    if estimates < 2 {
        return Err(Error::Usage(format!(
            "{estimates} gradient estimates: a standard deviation needs at least 2"
        )));
    }
    let cfg = load_config(run)?;
    let ckpt = checkpoint::latest(run)?;
    let state = checkpoint::load_state(&ckpt)?;
    let data = load_run_data(&cfg, run)?;
    let autodiff = device.clone().autodiff();
    let init = build_model(&cfg.model, cfg.seed, &state.data, &autodiff);
    if init.encoder_params().is_empty() {
        return Err(Error::Usage(format!(
            "{}: the gradient SNR compares the encoder's and the decoder's gradients; this \
             model has no encoder",
            run.display()
        )));
    }
    let trained = checkpoint::load_model(&ckpt, init.clone())?;
    let test = &data.splits.test;
    let idx: Vec<usize> = (0..examples.min(test.n())).collect();
    let x = test.batch(&idx, None, &autodiff);
    let mut rows = Vec::new();
    for (name, model) in [("init", &init), ("trained", &trained)] {
        let encoder = model.encoder_params();
        for &k in ks {
            let t0 = std::time::Instant::now();
            let mut objective = cfg.objective.clone();
            objective.kind = ObjectiveKind::Iwae;
            objective.k = k;
            let (b, zd) = (idx.len(), model.noise_dim());
            let noise = measure(model, &encoder, estimates, |m, i| {
                let eps = upload(
                    host_normal(b * k, zd, seed, Purpose::GradNoise, k as u64, i as u64),
                    b * k,
                    zd,
                    &autodiff,
                );
                batch_loss(m, &x, eps, 1.0, &objective, 0.0).0.loss
            });
            let seconds = t0.elapsed().as_secs_f64();
            say(&format!(
                "{name:>7} k = {k:>4}: encoder SNR {:.4}, decoder SNR {:.4} ({estimates} estimates, {seconds:.1} s)",
                noise.encoder.as_ref().map_or(f64::NAN, |e| e.snr),
                noise.decoder.snr,
            ));
            rows.push(SnrRow {
                state: name,
                k,
                noise,
                seconds,
            });
        }
    }
    Ok(rows)
}

/// The least-squares slope of log SNR against log k: Rainforth et al.'s
/// rates are −½ (encoder) and +½ (decoder).
pub fn log_log_slope(points: &[(usize, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(k, s)| *k > 0 && s.is_finite() && *s > 0.0)
        .map(|&(k, s)| ((k as f64).ln(), s.ln()))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on c·k^a give back a, whatever c.
    #[test]
    fn slope_of_a_power_law_is_its_exponent() {
        for a in [-0.5, 0.5, 1.3] {
            let pts: Vec<(usize, f64)> = [1usize, 5, 50, 500]
                .iter()
                .map(|&k| (k, 3.0 * (k as f64).powf(a)))
                .collect();
            assert!((log_log_slope(&pts) - a).abs() < 1e-12);
        }
    }
}
