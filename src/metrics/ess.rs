//! Effective sample size of the importance weights (Kong 1992):
//! `ESS = (Σ_i w_i)² / Σ_i w_i²` over an example's k weights, between 1 (one
//! weight carries everything) and k (all equal, as when q(z|x) is the exact
//! posterior). A small ESS/k says that L_k rests on a few samples — typically
//! because q misses a mode of the posterior — so the example's log p(x) may
//! be badly underestimated even at large k.
//!
//! Computed in the same streaming pass as L_k, from log-weights:
//! `log ESS = 2·logsumexp(log w) − logsumexp(2·log w)`.

use super::iwae::StreamingLse;
use super::record::Value;
use super::registry::{Applies, Metric, Section};

/// Streaming log Σw and log Σw² of one example's log-weights.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightSums {
    /// log Σ w.
    pub lse: StreamingLse,
    /// log Σ w².
    pub lse_sq: StreamingLse,
    /// Weights pushed.
    pub n: usize,
}

impl WeightSums {
    pub fn push(&mut self, log_w: f64) {
        self.lse.push(log_w);
        self.lse_sq.push(2.0 * log_w);
        self.n += 1;
    }

    /// (Σw)² / Σw², at most the number of weights (equal weights give
    /// exactly that, up to rounding); NaN when the weights are not finite.
    pub fn ess(&self) -> f64 {
        let (a, b) = (self.lse.value(), self.lse_sq.value());
        if a.is_finite() && b.is_finite() {
            (2.0 * a - b).exp().min(self.n as f64)
        } else {
            f64::NAN
        }
    }
}

/// Mean over examples of ESS/k (finite values only).
pub fn mean_fraction(ess: &[f64], k: usize) -> f64 {
    let f: Vec<f64> = ess.iter().copied().filter(|e| e.is_finite()).collect();
    f.iter().map(|e| e / k as f64).sum::<f64>() / f.len().max(1) as f64
}

/// Examples whose ESS is below `threshold · k` (or not finite).
pub fn count_low(ess: &[f64], k: usize, threshold: f64) -> usize {
    ess.iter()
        .filter(|e| !e.is_finite() || **e < threshold * k as f64)
        .count()
}

/// The warning `vaekit eval` prints when `low` of `n` examples' bound rests
/// on a few weights; None when none does.
pub fn warning(low: usize, n: usize, k: usize, threshold: f64) -> Option<String> {
    (low > 0).then(|| {
        format!(
            "warning: {low} of {} examples have an importance-weight ESS below {} of k = {k} \
             ({:.1} samples): their L_k rests on a few weights and may lie well below log p(x) \
             (q(z|x) fits their posterior poorly). Per-example ESS: the `ess` column of the \
             CSV; a larger k, or a model whose q fits better, helps.",
            n,
            percent(threshold),
            threshold * k as f64
        )
    })
}

fn percent(f: f64) -> String {
    format!("{}%", (f * 1e4).round() / 1e2)
}

fn ess_of<'a>(c: &super::registry::Ctx<'a>) -> Option<(&'a [f64], usize)> {
    let w = c.weights?;
    Some((&w.ess, w.k))
}

/// Mean ESS/k.
pub const ESS_MEAN_FRAC: Metric = Metric::new(
    "ess_mean_frac",
    "mean ESS/k",
    "mean over examples of the importance weights' effective sample size over k (Kong 1992)",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| ess_of(c).map(|(e, k)| Value::Number(mean_fraction(e, k))),
)
.column()
.plot();

/// Examples with ESS below the threshold.
pub const ESS_LOW: Metric = Metric::new(
    "ess_low",
    "examples with ESS < threshold·k",
    "examples whose ESS is below monitor.ess_threshold · k: their L_k rests on a few weights",
    Applies::WEIGHTS,
    Section::Iwae,
    |c| ess_of(c).map(|(e, k)| Value::Count(count_low(e, k, c.monitor.ess_threshold))),
)
.column();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_ess_equals_the_definition() {
        // Brute force in f64 on weights spanning many orders of magnitude.
        let log_w: Vec<f64> = (0..37)
            .map(|i| -300.0 + (i as f64 * 1.7).sin() * 9.0)
            .collect();
        let m = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = log_w.iter().map(|l| (l - m).exp()).collect();
        let want = w.iter().sum::<f64>().powi(2) / w.iter().map(|x| x * x).sum::<f64>();
        let mut s = WeightSums::default();
        log_w.iter().for_each(|&l| s.push(l));
        assert!(
            (s.ess() - want).abs() < 1e-9 * want,
            "{} vs {want}",
            s.ess()
        );
    }

    #[test]
    fn equal_weights_give_k_and_one_dominant_weight_gives_one() {
        let mut eq = WeightSums::default();
        (0..50).for_each(|_| eq.push(-12.5 + 1e-13 * (eq.n % 3) as f64));
        assert!((eq.ess() - 50.0).abs() < 1e-9 && eq.ess() <= 50.0);
        let mut one = WeightSums::default();
        one.push(0.0);
        (0..49).for_each(|_| one.push(-200.0));
        assert!((one.ess() - 1.0).abs() < 1e-9);
        assert_eq!(count_low(&[50.0, 1.0, f64::NAN], 50, 0.05), 2);
        assert!(warning(count_low(&[50.0, 50.0], 50, 0.01), 2, 50, 0.01).is_none());
        let w = warning(count_low(&[50.0, 0.3], 50, 0.01), 2, 50, 0.01).unwrap();
        assert!(w.contains("1 of 2") && w.contains("1%"), "{w}");
    }
}
