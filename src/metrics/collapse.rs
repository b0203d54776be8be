//! The collapse monitor: statistics of the posteriors on held-out data that
//! show which latent dimensions are used, and an alarm when they all die.
//!
//! Definitions (see `docs/metrics.md` for formulas, citations and variants):
//! - activity A_u = Cov_x(E_q(z|x)[z_u]): the variance across examples of the
//!   posterior mean of dimension u; active when A_u > δ (Burda et al. 2015);
//! - mean posterior variance E_x[σ²_u(x)];
//! - KL per dimension averaged over the data;
//! - mutual information I(x;z) under the aggregate posterior (He et al. 2019).

use super::record::Value;
use super::registry::{Applies, Metric, Section};
use crate::core::posterior::Family;

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

impl Posteriors {
    /// The family the posteriors were read from.
    pub fn family(&self) -> Family {
        if self.n_codes > 0 {
            Family::Codes
        } else {
            Family::Gaussian
        }
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

/// Number of dimensions with A_u > δ.
pub const ACTIVE_UNITS: Metric = Metric::new(
    "active_units",
    "active units",
    "latent dimensions whose activity A_u exceeds δ = monitor.au_threshold (Burda et al. 2015)",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| {
        let d = c.monitor.au_threshold;
        Some(Value::Count(
            c.activity()?.iter().filter(|&&a| a > d).count(),
        ))
    },
)
.headline()
.column()
.plot()
.brief(|r| {
    let z = r.vector("activity").map_or(0, |a| a.len());
    Some(format!("active units {}/{z}", r.count("active_units")?))
});

/// δ, the activity threshold the count used.
pub const AU_THRESHOLD: Metric = Metric::new(
    "au_threshold",
    "δ",
    "the activity threshold δ that active_units used",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| c.posteriors.map(|_| Value::Number(c.monitor.au_threshold)),
);

/// A_u per dimension.
pub const ACTIVITY: Metric = Metric::new(
    "activity",
    "activity A_u",
    "variance over examples of the posterior mean, per dimension",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| Some(Value::Vector(c.activity()?.to_vec())),
);

/// E_x[σ²_u] per dimension.
pub const POSTERIOR_VAR: Metric = Metric::new(
    "posterior_var",
    "posterior variance",
    "mean over examples of the posterior variance, per dimension",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| Some(Value::Vector(posterior_variance(c.posteriors?))),
);

/// I(x;z).
pub const MI: Metric = Metric::new(
    "mi",
    "I(x;z) (nats)",
    "mutual information under the aggregate posterior, He et al. (2019)'s estimator",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| Some(Value::Number(mutual_information(c.posteriors?, c.mi_noise))),
)
.headline()
.column()
.plot()
.brief(|r| Some(format!("MI {:>5.2}", r.float("mi")?)));

/// The columns `start..start + width` of every example's posterior (one
/// stochastic layer of a hierarchical model).
pub fn layer_columns(p: &Posteriors, start: usize, width: usize) -> Posteriors {
    let pick = |v: &[f32]| -> Vec<f32> {
        (0..p.n)
            .flat_map(|i| v[i * p.z + start..i * p.z + start + width].iter().copied())
            .collect()
    };
    Posteriors {
        mean: pick(&p.mean),
        log_var: pick(&p.log_var),
        n: p.n,
        z: width,
        ..Default::default()
    }
}

/// `[start, end)` of each stochastic layer's columns, when the model has
/// more than one layer and they cover the posterior's width.
fn layer_ranges(c: &super::registry::Ctx) -> Option<Vec<(usize, usize)>> {
    let z = c.posteriors?.z;
    if c.layers.len() < 2 || c.layers.iter().sum::<usize>() != z {
        return None;
    }
    let mut start = 0;
    Some(
        c.layers
            .iter()
            .map(|&w| {
                start += w;
                (start - w, start)
            })
            .collect(),
    )
}

/// Active units of each stochastic layer (models with more than one).
pub const ACTIVE_UNITS_BY_LAYER: Metric = Metric::new(
    "active_units_by_layer",
    "active units per layer",
    "active_units counted in each stochastic layer, the layer next to x first \
     (Burda et al. 2016's k1+k2)",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| {
        let d = c.monitor.au_threshold;
        let a = c.activity()?;
        let counts = layer_ranges(c)?
            .into_iter()
            .map(|(s, e)| a[s..e].iter().filter(|&&v| v > d).count() as f64)
            .collect();
        Some(Value::Vector(counts))
    },
)
.brief(|r| {
    let v = r.vector("active_units_by_layer")?;
    let parts: Vec<String> = v.iter().map(|c| format!("{c:.0}")).collect();
    Some(format!("by layer {}", parts.join("+")))
});

/// Total KL of each stochastic layer's dimensions.
pub const KL_BY_LAYER: Metric = Metric::new(
    "kl_by_layer",
    "KL per layer (nats)",
    "the KL terms of each stochastic layer's dimensions, summed, the layer next to x first",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| {
        let kl = &c.elbo?.kl_per_dim;
        let ranges = layer_ranges(c)?;
        (kl.len() == ranges.last()?.1)
            .then(|| Value::Vector(ranges.iter().map(|&(s, e)| kl[s..e].iter().sum()).collect()))
    },
);

/// I(x; h_l) for each stochastic layer, from that layer's posteriors.
pub const MI_BY_LAYER: Metric = Metric::new(
    "mi_by_layer",
    "I(x;z) per layer (nats)",
    "mutual_information of each stochastic layer alone, from its Gaussian posteriors \
     (for a layer above the first: q(h_l|h_{l-1}) at the sampled layer below)",
    Applies::GAUSSIAN,
    Section::Monitor,
    |c| {
        let p = c.posteriors?;
        let m = c.mi_noise.len() / p.z.max(1);
        let values = layer_ranges(c)?
            .into_iter()
            .map(|(s, e)| {
                let noise: Vec<f32> = (0..m)
                    .flat_map(|i| c.mi_noise[i * p.z + s..i * p.z + e].iter().copied())
                    .collect();
                mutual_information(&layer_columns(p, s, e - s), &noise)
            })
            .collect();
        Some(Value::Vector(values))
    },
);

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
        assert_eq!(posterior_variance(&p), vec![1.0, 1.0]);
    }

    /// Per-layer readings are the whole-code statistics of the layer's
    /// columns alone: counts add up to the total, and a layer that is
    /// independent of x (identical posteriors) has I = the noise term only.
    #[test]
    fn layer_statistics_are_those_of_the_layer_columns() {
        let (n, z) = (6, 3);
        // Columns 0, 1: layer 1 (column 1 constant); column 2: layer 2.
        let mean: Vec<f32> = (0..n)
            .flat_map(|i| [i as f32, 0.5, (i % 2) as f32 * 3.0])
            .collect();
        let p = post(mean, vec![-1.0; n * z], n, z);
        let top = layer_columns(&p, 2, 1);
        assert_eq!(top.z, 1);
        assert_eq!(activity(&top)[0], activity(&p)[2]);
        let monitor = crate::metrics::config::MonitorConfig::default();
        let kind = crate::data::DataKind::Images {
            rows: 1,
            cols: 1,
            channels: 1,
        };
        let mut ctx = super::super::registry::Ctx::new(Family::Gaussian, &kind, &monitor);
        ctx.posteriors = Some(&p);
        let eps: Vec<f32> = (0..n * z).map(|i| ((i as f32) * 0.9).cos()).collect();
        ctx.mi_noise = &eps;
        // One layer: nothing per layer.
        assert!((ACTIVE_UNITS_BY_LAYER.compute)(&ctx).is_none());
        ctx.layers = vec![2, 1];
        let Some(Value::Vector(counts)) = (ACTIVE_UNITS_BY_LAYER.compute)(&ctx) else {
            panic!("no per-layer count")
        };
        assert_eq!(counts, vec![1.0, 1.0]);
        let Some(Value::Vector(mi)) = (MI_BY_LAYER.compute)(&ctx) else {
            panic!("no per-layer MI")
        };
        let noise1: Vec<f32> = (0..n).flat_map(|i| [eps[i * 3], eps[i * 3 + 1]]).collect();
        let noise2: Vec<f32> = (0..n).map(|i| eps[i * 3 + 2]).collect();
        assert_eq!(mi[0], mutual_information(&layer_columns(&p, 0, 2), &noise1));
        assert_eq!(mi[1], mutual_information(&top, &noise2));
        // Layers that do not cover the code: no per-layer reading.
        ctx.layers = vec![1, 1];
        assert!((MI_BY_LAYER.compute)(&ctx).is_none());
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
}
