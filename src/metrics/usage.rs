//! How the aggregate posterior spreads over a mixture prior's components,
//! and how a VQ-VAE's encoder uses its codebook: usage, perplexity, codes
//! used and dead codes.

use super::record::Value;
use super::registry::{Applies, Ctx, Metric, Section};

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

/// Codebook statistics of a one-hot posterior's held-out assignments.
fn codebook(c: &Ctx) -> Option<ComponentUsage> {
    let p = c.posteriors?;
    Some(ComponentUsage::from_codes(&p.codes, p.n_codes))
}

/// Mixture components' usage, from the responsibilities of posterior samples.
fn mixture(c: &Ctx) -> Option<ComponentUsage> {
    let (r, k) = c.responsibilities?;
    Some(ComponentUsage::from_responsibilities(r, k))
}

/// ū_k per mixture component.
pub const COMPONENT_USAGE: Metric = Metric::new(
    "component_usage",
    "component usage (mean responsibility)",
    "mean over held-out examples of the prior responsibilities p(k | z), z ~ q(z|x)",
    Applies::MIXTURE,
    Section::Monitor,
    |c| mixture(c).map(|u| Value::Vector(u.usage)),
);

/// exp(H(ū)) of a mixture prior.
pub const COMPONENTS_EFFECTIVE: Metric = Metric::new(
    "components_effective",
    "effective components exp(H(usage))",
    "exp of the entropy of the component usage: between 1 (one component used) and K",
    Applies::MIXTURE,
    Section::Monitor,
    |c| mixture(c).map(|u| Value::Number(u.effective)),
)
.column()
.plot()
.brief(|r| {
    Some(format!(
        "components {:.2}",
        r.float("components_effective")?
    ))
});

/// p̄_k per code.
pub const CODEBOOK_USAGE: Metric = Metric::new(
    "codebook_usage",
    "codebook usage (fraction per code)",
    "fraction of held-out grid positions assigned to each code",
    Applies::CODES,
    Section::Monitor,
    |c| Some(Value::Vector(codebook(c)?.usage)),
)
.also_as(&["component_usage"])
.legacy(|r| {
    r.count("codes_used")?;
    r.get("component_usage").cloned()
});

/// exp(H(p̄)) of a codebook.
pub const CODEBOOK_PERPLEXITY: Metric = Metric::new(
    "codebook_perplexity",
    "codebook perplexity exp(H(usage))",
    "exp of the entropy of the codebook usage: between 1 and K",
    Applies::CODES,
    Section::Monitor,
    |c| Some(Value::Number(codebook(c)?.effective)),
)
.column()
.plot()
.also_as(&["components_effective"])
.brief(|r| {
    Some(format!(
        "perplexity {:>6.1}",
        r.float("codebook_perplexity")?
    ))
})
.legacy(|r| {
    r.count("codes_used")?;
    r.get("components_effective").cloned()
});

/// Codes chosen at least once.
pub const CODES_USED: Metric = Metric::new(
    "codes_used",
    "codes used",
    "codes chosen at least once on the held-out set",
    Applies::CODES,
    Section::Monitor,
    |c| {
        Some(Value::Count(
            codebook(c)?.usage.iter().filter(|&&u| u > 0.0).count(),
        ))
    },
)
.column()
.brief(|r| {
    let k = r.vector("codebook_usage").map_or(0, |u| u.len());
    Some(format!("codes used {}/{k}", r.count("codes_used")?))
});

/// Codes never chosen.
pub const DEAD_CODES: Metric = Metric::new(
    "dead_codes",
    "dead codes",
    "codes never chosen on the held-out set (K − codes_used)",
    Applies::CODES,
    Section::Monitor,
    |c| {
        Some(Value::Count(
            codebook(c)?.usage.iter().filter(|&&u| u == 0.0).count(),
        ))
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::posterior::Family;
    use crate::metrics::collapse::Posteriors;

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
    }

    #[test]
    fn perplexity_and_usage_on_hand_made_assignments() {
        let u = ComponentUsage::from_codes(&[0, 0, 1, 1], 4);
        assert_eq!(u.usage, vec![0.5, 0.5, 0.0, 0.0]);
        assert!((u.effective - 2.0).abs() < 1e-12);
        let all: Vec<usize> = (0..400).map(|i| i % 8).collect();
        assert!((ComponentUsage::from_codes(&all, 8).effective - 8.0).abs() < 1e-9);
        assert!((ComponentUsage::from_codes(&[3; 50], 8).effective - 1.0).abs() < 1e-12);
        // Skewed: p = (3/4, 1/4) → exp(−¾ ln ¾ − ¼ ln ¼).
        let p = ComponentUsage::from_codes(&[1, 1, 1, 0], 2).effective;
        let want = (-(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln())).exp();
        assert!((p - want).abs() < 1e-12);
        // Through the registry: a codebook's perplexity under its own name,
        // and under the old one for earlier readers; no Gaussian statistics.
        let post = Posteriors {
            n: 2,
            codes: vec![0, 0, 1, 1, 5, 5],
            n_codes: 8,
            ..Default::default()
        };
        let elbo = crate::metrics::elbo::ElboStats {
            n_examples: 2,
            elbo: 0.0,
            rec_ll: 0.0,
            kl: 0.0,
            kl_per_dim: vec![0.0],
            penalty: None,
        };
        let kind = crate::data::DataKind::Images {
            rows: 8,
            cols: 8,
            channels: 1,
        };
        let monitor = crate::metrics::config::MonitorConfig::default();
        let mut ctx = Ctx::new(Family::Codes, &kind, &monitor);
        ctx.elbo = Some(&elbo);
        ctx.posteriors = Some(&post);
        let r = crate::metrics::registry::evaluate(&ctx);
        assert_eq!(
            (r.count("codes_used"), r.count("dead_codes")),
            (Some(3), Some(5))
        );
        assert!((r.float("codebook_perplexity").unwrap() - 3.0).abs() < 1e-12);
        assert!(r.get("active_units").is_none() && r.get("components_effective").is_none());
        let stored = crate::metrics::registry::stored(&r);
        assert!((stored.float("components_effective").unwrap() - 3.0).abs() < 1e-12);
    }
}
