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
        check(
            mo.alarm_patience > 0,
            "monitor.alarm_patience = 0: must be positive".into(),
        );
    }
}
