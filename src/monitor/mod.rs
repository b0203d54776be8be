//! The collapse monitor: statistics of the posteriors on held-out data that
//! show which latent dimensions are used, and an alarm when they all die.
//!
//! Definitions (see `docs/metrics.md` for formulas, citations and variants):
//! - activity A_u = Cov_x(E_q(z|x)[z_u]): the variance across examples of the
//!   posterior mean of dimension u; active when A_u > δ (Burda et al. 2015);
//! - mean posterior variance E_x[σ²_u(x)];
//! - KL per dimension averaged over the data;
//! - mutual information I(x;z) under the aggregate posterior (He et al. 2019).

use serde::{Deserialize, Serialize};

/// Posterior parameters of a set of examples, on the host.
#[derive(Clone, Debug, Default)]
pub struct Posteriors {
    /// `n * z` posterior means, row-major.
    pub mean: Vec<f32>,
    /// `n * z` posterior log-variances.
    pub log_var: Vec<f32>,
    pub n: usize,
    /// Latent width of `mean` and `log_var` (0 for one-hot posteriors).
    pub z: usize,
    /// One-hot posteriors (VQ-VAE): the code chosen at each position of each
    /// example, `n * positions`.
    pub codes: Vec<usize>,
    /// Codebook size K; 0 for Gaussian posteriors.
    pub n_codes: usize,
}

/// What the monitor reports at one evaluation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CollapseStats {
    /// Number of dimensions with A_u > δ.
    pub active_units: usize,
    /// δ.
    pub au_threshold: f64,
    /// A_u per dimension: variance over examples of the posterior mean.
    pub activity: Vec<f64>,
    /// E_x[σ²_u] per dimension: mean posterior variance.
    pub posterior_var: Vec<f64>,
    /// I(x;z) in nats, He et al. (2019) estimator over the held-out examples.
    pub mi: f64,
    /// Mixture priors only: usage ū_k of each component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_usage: Option<Vec<f64>>,
    /// Mixture priors only: exp(−Σ ū_k log ū_k), the effective number of
    /// components. For a VQ-VAE: the codebook perplexity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components_effective: Option<f64>,
    /// VQ-VAE only: codes chosen at least once on the held-out set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes_used: Option<usize>,
    /// VQ-VAE only: codes never chosen on the held-out set (K − codes_used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_codes: Option<usize>,
}

/// How the aggregate posterior uses a mixture prior's components.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentUsage {
    /// ū_k = mean over examples of p(k | z_n), z_n ~ q(z|x_n).
    pub usage: Vec<f64>,
    /// exp(H(ū)), between 1 (all mass on one component) and K.
    pub effective: f64,
}

impl ComponentUsage {
    /// From hard assignments (codes in `0..k`): p̄_k is the fraction of
    /// assignments to code k, and `effective` the codebook perplexity
    /// exp(−Σ p̄_k log p̄_k).
    pub fn from_codes(codes: &[usize], k: usize) -> Self {
        let mut counts = vec![0f64; k];
        for &c in codes {
            counts[c] += 1.0;
        }
        let n = (codes.len() as f64).max(1.0);
        Self::from_usage(counts.into_iter().map(|c| c / n).collect())
    }

    fn from_usage(usage: Vec<f64>) -> Self {
        let h: f64 = usage
            .iter()
            .filter(|&&u| u > 0.0)
            .map(|u| -u * u.ln())
            .sum();
        Self {
            usage,
            effective: h.exp(),
        }
    }

    /// From row-major `[n, k]` responsibilities.
    pub fn from_responsibilities(r: &[f32], k: usize) -> Self {
        let n = (r.len() / k.max(1)).max(1);
        let mut usage = vec![0f64; k];
        for row in r.chunks(k) {
            for (u, &p) in usage.iter_mut().zip(row) {
                *u += p as f64;
            }
        }
        usage.iter_mut().for_each(|u| *u /= n as f64);
        Self::from_usage(usage)
    }
}

/// Activity A_u (unbiased sample variance over examples, f64) per dimension.
pub fn activity(p: &Posteriors) -> Vec<f64> {
    let n = p.n as f64;
    (0..p.z)
        .map(|u| {
            let m = (0..p.n).map(|i| p.mean[i * p.z + u] as f64).sum::<f64>() / n;
            (0..p.n)
                .map(|i| (p.mean[i * p.z + u] as f64 - m).powi(2))
                .sum::<f64>()
                / (n - 1.0).max(1.0)
        })
        .collect()
}

/// E_x[σ²_u] per dimension.
pub fn posterior_variance(p: &Posteriors) -> Vec<f64> {
    (0..p.z)
        .map(|u| {
            (0..p.n)
                .map(|i| (p.log_var[i * p.z + u] as f64).exp())
                .sum::<f64>()
                / p.n.max(1) as f64
        })
        .collect()
}

/// I(x;z) as He et al. (2019) compute it (their `calc_mi`):
///
/// ```text
/// I = E_x[ E_q(z|x) log q(z|x) ] − E_x E_q(z|x)[ log q(z) ],
/// E_q(z|x) log q(z|x) = −½ Z log 2π − ½ Σ_u (1 + log σ²_u)      (exact)
/// log q(z_i) ≈ logsumexp_j log q(z_i | x_j) − log N               (one z_i per x_i)
/// ```
///
/// with the aggregate posterior q(z) approximated by the mixture of all N
/// posteriors given (the example's own posterior included, as in their code).
/// `eps` holds `m * z` standard normal draws for z_i = μ_i + σ_i ε_i: the
/// estimate uses the first m examples (the O(m²) part bounds m).
/// The estimate cannot exceed log N, so with few examples it is biased down
/// for an informative code; see `docs/metrics.md`.
pub fn mutual_information(p: &Posteriors, eps: &[f32]) -> f64 {
    let z = p.z;
    let n = (eps.len() / z.max(1)).min(p.n);
    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let mut neg_entropy = 0.0;
    for i in 0..n {
        neg_entropy += (0..z)
            .map(|u| -half_ln_2pi - 0.5 * (1.0 + p.log_var[i * z + u] as f64))
            .sum::<f64>();
    }
    neg_entropy /= n as f64;
    let zs: Vec<f64> = (0..n * z)
        .map(|k| p.mean[k] as f64 + (0.5 * p.log_var[k] as f64).exp() * eps[k] as f64)
        .collect();
    let inv_var: Vec<f64> = p.log_var[..n * z]
        .iter()
        .map(|&l| (-(l as f64)).exp())
        .collect();
    let log_norm: Vec<f64> = (0..n)
        .map(|j| {
            (0..z)
                .map(|u| -half_ln_2pi - 0.5 * p.log_var[j * z + u] as f64)
                .sum()
        })
        .collect();
    use rayon::prelude::*;
    // Per-example terms in parallel, summed in order: the same bits on every run.
    let log_qz: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let zi = &zs[i * z..(i + 1) * z];
            let dens: Vec<f64> = (0..n)
                .map(|j| {
                    let mut q = log_norm[j];
                    for u in 0..z {
                        let d = zi[u] - p.mean[j * z + u] as f64;
                        q -= 0.5 * d * d * inv_var[j * z + u];
                    }
                    q
                })
                .collect();
            let m = dens.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            m + dens.iter().map(|d| (d - m).exp()).sum::<f64>().ln() - (n as f64).ln()
        })
        .collect();
    let sum_log_qz: f64 = log_qz.iter().sum();
    neg_entropy - sum_log_qz / n as f64
}

/// All statistics at once: activity and posterior variance over every
/// example, I(x;z) over the first `eps.len() / z` (see [`mutual_information`]).
///
/// One-hot posteriors (VQ-VAE) get codebook statistics instead: usage p̄_k,
/// perplexity, codes used and dead; no activity, and no I(x;z) (NaN, written
/// as `null`: the Gaussian estimator does not apply).
pub fn collapse_stats(p: &Posteriors, eps: &[f32], threshold: f64) -> CollapseStats {
    if p.n_codes > 0 {
        let usage = ComponentUsage::from_codes(&p.codes, p.n_codes);
        let used = usage.usage.iter().filter(|&&u| u > 0.0).count();
        return CollapseStats {
            active_units: 0,
            au_threshold: threshold,
            activity: Vec::new(),
            posterior_var: Vec::new(),
            mi: f64::NAN,
            components_effective: Some(usage.effective),
            component_usage: Some(usage.usage),
            codes_used: Some(used),
            dead_codes: Some(p.n_codes - used),
        };
    }
    let activity = activity(p);
    CollapseStats {
        active_units: activity.iter().filter(|&&a| a > threshold).count(),
        au_threshold: threshold,
        posterior_var: posterior_variance(p),
        mi: mutual_information(p, eps),
        activity,
        component_usage: None,
        components_effective: None,
        codes_used: None,
        dead_codes: None,
    }
}

/// Watches successive evaluations and raises the alarm once when the code
/// has stayed collapsed for `patience` evaluations in a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollapseAlarm {
    pub patience: usize,
    /// Total KL (nats) below which the posterior counts as collapsed.
    pub kl_floor: f64,
    streak: usize,
    raised: bool,
    /// Mixture priors: warn when fewer than this many components are effectively used.
    #[serde(default = "default_min_components")]
    pub min_components: f64,
    #[serde(default)]
    mixture_streak: usize,
    #[serde(default)]
    mixture_raised: bool,
}

fn default_min_components() -> f64 {
    2.0
}

impl CollapseAlarm {
    pub fn new(patience: usize, kl_floor: f64) -> Self {
        Self {
            patience,
            kl_floor,
            streak: 0,
            raised: false,
            min_components: default_min_components(),
            mixture_streak: 0,
            mixture_raised: false,
        }
    }

    /// Feed the effective number of a mixture prior's components
    /// (`codebook = false`) or a VQ-VAE's codebook perplexity (None for
    /// other models); returns the warning the first time usage stays collapsed.
    pub fn observe_usage(&mut self, effective: Option<f64>, codebook: bool) -> Option<String> {
        let e = effective?;
        if e < self.min_components {
            self.mixture_streak += 1;
        } else {
            self.mixture_streak = 0;
        }
        if self.mixture_streak >= self.patience && !self.mixture_raised {
            self.mixture_raised = true;
            if codebook {
                return Some(format!(
                    "warning: codebook collapse — the encoder's codes have perplexity {e:.2} for \
                     the last {} evaluations: nearly every position maps to one or a few codes. \
                     Remedies: --set model.dead_code_restart=true, or model.codebook_update=ema. \
                     Training continues.",
                    self.mixture_streak
                ));
            }
            return Some(format!(
                "warning: mixture posterior collapse — the aggregate posterior effectively uses \
                 {e:.2} prior components for the last {} evaluations: the data has fallen onto \
                 one or a few of them. Training continues.",
                self.mixture_streak
            ));
        }
        None
    }

    /// Feed one evaluation; returns the warning the first time the alarm trips.
    pub fn observe(&mut self, kl: f64, active: usize, z: usize) -> Option<String> {
        if kl < self.kl_floor || active == 0 {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if self.streak >= self.patience && !self.raised {
            self.raised = true;
            return Some(format!(
                "warning: posterior collapse — total KL {kl:.4} nats and {active} of {z} active units \
                 for the last {} evaluations: the decoder is ignoring z. Remedies the trainer offers: \
                 KL annealing (--set schedule.kind=linear, or sigmoid), cyclical β \
                 (--set schedule.kind=cyclical), free bits (--set objective.free_bits=0.5). \
                 Training continues.",
                self.streak
            ));
        }
        None
    }

    /// Feed one held-out evaluation to both alarms; the warnings raised now.
    pub fn observe_all(
        &mut self,
        elbo: &crate::eval::ElboStats,
        stats: &CollapseStats,
    ) -> Vec<String> {
        let z = stats.activity.len();
        let codebook = stats.codes_used.is_some();
        [
            // A one-hot posterior has no latent dimensions to go inactive.
            (!codebook)
                .then(|| self.observe(elbo.kl, stats.active_units, z))
                .flatten(),
            self.observe_usage(stats.components_effective, codebook),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn raised(&self) -> bool {
        self.raised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(mean: Vec<f32>, log_var: Vec<f32>, n: usize, z: usize) -> Posteriors {
        Posteriors {
            mean,
            log_var,
            n,
            z,
            ..Default::default()
        }
    }

    #[test]
    fn activity_is_the_sample_variance_of_means() {
        // dim 0 means: 1, 2, 3, 6 → mean 3, unbiased var (4+1+0+9)/3; dim 1 constant.
        let p = post(vec![1., 5., 2., 5., 3., 5., 6., 5.], vec![0.0; 8], 4, 2);
        let a = activity(&p);
        assert!((a[0] - 14.0 / 3.0).abs() < 1e-12);
        assert_eq!(a[1], 0.0);
        let s = collapse_stats(&p, &[0.0; 8], 0.01);
        assert_eq!(s.active_units, 1);
        assert_eq!(s.posterior_var, vec![1.0, 1.0]);
    }

    #[test]
    fn mi_is_zero_when_every_posterior_is_the_same() {
        let p = post(vec![0.3; 20], vec![-0.5; 20], 10, 2);
        // q(z) is then exactly q(z|x): only the sampled-vs-exact entropy
        // term remains, mean_i Σ_u ½(ε² − 1), which is 0 in expectation.
        let eps: Vec<f32> = (0..20).map(|i| (i as f32 * 0.37).sin()).collect();
        let want: f64 = eps
            .iter()
            .map(|&e| 0.5 * ((e as f64).powi(2) - 1.0))
            .sum::<f64>()
            / 10.0;
        assert!((mutual_information(&p, &eps) - want).abs() < 1e-9);
    }

    #[test]
    fn mi_approaches_log_n_for_well_separated_posteriors() {
        // Posteriors far apart and narrow: each z_i belongs to its own x_i,
        // so log q(z_i) = log q(z_i|x_i) − log N, and the estimate is
        // log N + mean_i ½(ε_i² − 1) (the sampled vs exact entropy term).
        let n = 8;
        let p = post(
            (0..n).map(|i| i as f32 * 100.0).collect(),
            vec![-2.0; n],
            n,
            1,
        );
        let eps: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).cos()).collect();
        let mi = mutual_information(&p, &eps);
        let noise: f64 = eps
            .iter()
            .map(|&e| 0.5 * ((e as f64).powi(2) - 1.0))
            .sum::<f64>()
            / n as f64;
        assert!((mi - ((n as f64).ln() + noise)).abs() < 1e-9, "{mi}");
    }

    #[test]
    fn mi_matches_a_brute_force_monte_carlo_computation() {
        // Recompute the estimator's definition literally, per pair, in f64.
        let (n, z) = (5, 2);
        let mean: Vec<f32> = vec![0.1, -0.3, 0.5, 0.2, -0.4, 0.0, 0.9, -0.8, 0.3, 0.3];
        let lv: Vec<f32> = vec![-0.2, 0.1, -1.0, 0.0, 0.3, -0.5, -0.1, -0.2, 0.0, 0.4];
        let eps: Vec<f32> = vec![0.5, -1.0, 0.2, 0.3, -0.7, 1.1, 0.0, 0.4, -0.2, 0.9];
        let p = post(mean.clone(), lv.clone(), n, z);
        let logn = |x: f64, m: f64, l: f64| {
            -0.5 * ((2.0 * std::f64::consts::PI).ln() + l + (x - m).powi(2) / l.exp())
        };
        let mut total = 0.0;
        for i in 0..n {
            let zi: Vec<f64> = (0..z)
                .map(|u| {
                    mean[i * z + u] as f64
                        + (0.5 * lv[i * z + u] as f64).exp() * eps[i * z + u] as f64
                })
                .collect();
            let h: f64 = (0..z)
                .map(|u| -0.5 * ((2.0 * std::f64::consts::PI).ln() + 1.0 + lv[i * z + u] as f64))
                .sum();
            let qz: f64 = (0..n)
                .map(|j| {
                    (0..z)
                        .map(|u| logn(zi[u], mean[j * z + u] as f64, lv[j * z + u] as f64))
                        .sum::<f64>()
                        .exp()
                })
                .sum::<f64>()
                / n as f64;
            total += h - qz.ln();
        }
        let want = total / n as f64;
        assert!((mutual_information(&p, &eps) - want).abs() < 1e-10);
    }

    #[test]
    fn component_usage_from_hand_made_responsibilities() {
        // Two examples, three components.
        let u = ComponentUsage::from_responsibilities(&[1.0, 0.0, 0.0, 0.0, 0.5, 0.5], 3);
        assert_eq!(u.usage, vec![0.5, 0.25, 0.25]);
        let h: f64 = -(0.5f64 * 0.5f64.ln() + 2.0 * 0.25 * 0.25f64.ln());
        assert!((u.effective - h.exp()).abs() < 1e-12);
        // All mass on one component: exactly one effective component.
        let one = ComponentUsage::from_responsibilities(&[0.0, 1.0, 0.0, 1.0], 2);
        assert!((one.effective - 1.0).abs() < 1e-12);
        let mut a = CollapseAlarm::new(2, 0.1);
        assert!(a.observe_usage(Some(1.0), false).is_none());
        assert!(
            a.observe_usage(Some(1.1), false)
                .unwrap()
                .contains("mixture posterior collapse")
        );
        assert!(a.observe_usage(None, false).is_none());
    }

    #[test]
    fn alarm_trips_once_after_patience() {
        let mut a = CollapseAlarm::new(3, 0.1);
        assert!(a.observe(0.01, 0, 10).is_none());
        assert!(
            a.observe(5.0, 3, 10).is_none(),
            "recovery resets the streak"
        );
        assert!(a.observe(0.01, 0, 10).is_none());
        assert!(a.observe(0.02, 0, 10).is_none());
        let msg = a
            .observe(0.03, 0, 10)
            .expect("third collapsed evaluation in a row");
        assert!(msg.contains("free_bits") && msg.contains("cyclical"));
        assert!(a.observe(0.01, 0, 10).is_none(), "only once");
        assert!(a.raised());
    }
}
