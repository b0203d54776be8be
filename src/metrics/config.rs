//! `[monitor]`: the collapse monitor's settings.

use serde::{Deserialize, Serialize};

/// The collapse monitor (see `docs/metrics.md`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Also evaluate on the validation set every this many steps (0 = only at epoch ends).
    pub every: usize,
    /// δ: a dimension is active when its activity A_u exceeds this.
    pub au_threshold: f64,
    /// Held-out examples used for the O(N²) mutual-information estimate.
    pub max_examples: usize,
    /// Warn after this many evaluations in a row with collapsed posteriors.
    pub alarm_patience: usize,
    /// Total KL (nats) below which the posterior counts as collapsed.
    pub alarm_kl: f64,
    /// An example's importance weights are unconverged when their effective
    /// sample size is below this fraction of k (`ess_low`, and `vaekit eval`'s warning).
    pub ess_threshold: f64,
    /// Every this many steps (and before the first), the posterior-mean
    /// space of He et al. (2019): E_{p(z|x)}[z] by quadrature against the
    /// encoder's μ(x) for the first `posterior_mean_points` training
    /// examples, appended to `posterior_means.jsonl` (0 = off; models with
    /// a 1- or 2-D latent).
    pub posterior_mean_every: usize,
    /// Examples in each posterior-mean snapshot (He et al.: 500).
    pub posterior_mean_points: usize,
    /// The quadrature grid covers [−range, range] on each axis (He et al.: 20).
    pub posterior_mean_range: f64,
    /// The grid's step (He et al.: 0.1, for a 1-D latent).
    pub posterior_mean_step: f64,
    /// Every this many steps, the gradient's signal-to-noise ratio for the
    /// encoder and the decoder (Rainforth et al. 2018) on that step's batch,
    /// as a `grad_noise` line of `metrics.jsonl` (0 = off: it costs
    /// `grad_noise_estimates` extra backward passes).
    pub grad_noise_every: usize,
    /// M: gradient estimates, each with its own noise, per measurement.
    pub grad_noise_estimates: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            every: 0,
            au_threshold: 0.01,
            max_examples: 2000,
            alarm_patience: 3,
            alarm_kl: 0.1,
            ess_threshold: 0.01,
            posterior_mean_every: 0,
            posterior_mean_points: 500,
            posterior_mean_range: 20.0,
            posterior_mean_step: 0.1,
            grad_noise_every: 0,
            grad_noise_estimates: 50,
        }
    }
}

impl MonitorConfig {
    /// Every invalid value, each naming its key.
    pub fn problems(&self, errs: &mut Vec<String>) {
        let mut check = |ok: bool, msg: String| {
            if !ok {
                errs.push(msg);
            }
        };
        let mo = self;
        check(
            mo.au_threshold >= 0.0,
            format!("monitor.au_threshold = {}: must be ≥ 0", mo.au_threshold),
        );
        check(
            mo.max_examples >= 2,
            format!(
                "monitor.max_examples = {}: need at least 2",
                mo.max_examples
            ),
        );
        check(
            mo.ess_threshold > 0.0 && mo.ess_threshold <= 1.0,
            format!(
                "monitor.ess_threshold = {}: must be in (0, 1] (a fraction of k)",
                mo.ess_threshold
            ),
        );
        if mo.posterior_mean_every > 0 {
            check(
                mo.posterior_mean_points > 0
                    && mo.posterior_mean_range > 0.0
                    && mo.posterior_mean_step > 0.0
                    && mo.posterior_mean_step <= 2.0 * mo.posterior_mean_range,
                format!(
                    "monitor.posterior_mean_points = {}, posterior_mean_range = {}, \
                     posterior_mean_step = {}: need positive numbers, the step at most twice \
                     the range",
                    mo.posterior_mean_points, mo.posterior_mean_range, mo.posterior_mean_step
                ),
            );
        }
        if mo.grad_noise_every > 0 {
            check(
                mo.grad_noise_estimates >= 2,
                format!(
                    "monitor.grad_noise_estimates = {}: a standard deviation needs at least 2 \
                     estimates (50 is a good start)",
                    mo.grad_noise_estimates
                ),
            );
        }
        check(
            mo.alarm_patience > 0,
            "monitor.alarm_patience = 0: must be positive".into(),
        );
    }
}
