//! The exact log p(x) by adaptive quadrature over z (the module docs of
//! [`super`] explain the grid and why it is accurate), and the entropy
//! estimate built on it.

use super::{
    DEFAULT_COARSE_STEP, DEFAULT_REFINE, DROP_NATS, FINE_BATCH, Generator, HALF_WIDTH,
    PROBE_SPACING, REFINE_WITHIN_NATS, VOCAB, check_sentence,
};
use rayon::prelude::*;

impl Generator {
    /// Exact log p(x) = log ∫ p(z) p(x|z) dz by adaptive quadrature (module
    /// docs: a 0.2 grid over [−8, 8]², then a 6×6 sub-grid wherever the
    /// integrand is within 15 nats of its peak). Accurate to about 10⁻⁶ nats.
    ///
    /// # Panics
    ///
    /// As [`Generator::log_likelihood_many`].
    pub fn exact_log_prob(&self, x: &[u32]) -> f64 {
        self.exact_log_prob_with(x, DEFAULT_COARSE_STEP, DEFAULT_REFINE)
    }

    /// [`Generator::exact_log_prob`] with its two resolutions chosen, so a
    /// test can check convergence (a finer grid agrees with the default).
    ///
    /// `coarse_step` is rounded so that a whole number of cells spans
    /// [−8, 8]; `refine` = 1 skips refinement (the coarse grid alone).
    /// Cost grows as 1/coarse_step² + (refined cells)·refine².
    ///
    /// # Panics
    ///
    /// As [`Generator::log_likelihood_many`]; also if `coarse_step` is not a
    /// positive number giving at most 4096 cells a side, or `refine` is 0.
    pub fn exact_log_prob_with(&self, x: &[u32], coarse_step: f64, refine: usize) -> f64 {
        check_sentence(x);
        assert!(
            coarse_step.is_finite() && coarse_step > 0.0,
            "coarse_step must be a positive number, not {coarse_step}"
        );
        assert!(refine >= 1, "refine must be at least 1");
        let n = ((2.0 * HALF_WIDTH / coarse_step).round() as usize).max(1);
        assert!(
            n <= 4096,
            "coarse_step {coarse_step} gives {n} cells a side (at most 4096)"
        );
        let h = 2.0 * HALF_WIDTH / n as f64;
        let centre = |i: usize| -HALF_WIDTH + (i as f64 + 0.5) * h;
        let node = |k: usize| [centre(k / n), centre(k % n)];

        // 1. Coarse grid: a sparse probe lattice in full, to learn roughly
        //    how high f gets, then the rest with early exit under that.
        let stride = ((PROBE_SPACING / h).round() as usize).clamp(1, n);
        let (probe, rest): (Vec<usize>, Vec<usize>) = (0..n * n)
            .partition(|&k| (k / n) % stride == stride / 2 && (k % n) % stride == stride / 2);
        let mut f = vec![f64::NEG_INFINITY; n * n];
        let zs: Vec<[f64; 2]> = probe.iter().map(|&k| node(k)).collect();
        let vals = self.log_joint(x, &zs, f64::NEG_INFINITY);
        let probe_max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (&k, v) in probe.iter().zip(vals) {
            f[k] = v;
        }
        let zs: Vec<[f64; 2]> = rest.iter().map(|&k| node(k)).collect();
        let vals = self.log_joint(x, &zs, probe_max - DROP_NATS);
        for (&k, v) in rest.iter().zip(vals) {
            f[k] = v;
        }
        let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);

        // 2. Cells to refine: near the peak, plus their neighbours.
        let mut refined = vec![false; n * n];
        if refine > 1 {
            for i in 0..n {
                for j in 0..n {
                    if f[i * n + j] >= m - REFINE_WITHIN_NATS {
                        for a in i.saturating_sub(1)..=(i + 1).min(n - 1) {
                            for b in j.saturating_sub(1)..=(j + 1).min(n - 1) {
                                refined[a * n + b] = true;
                            }
                        }
                    }
                }
            }
        }

        // 3. Sum of f + ln(area) over every piece.
        let mut total = LogSumExp::default();
        let coarse_area = 2.0 * h.ln();
        for (&v, _) in f.iter().zip(&refined).filter(|(_, r)| !**r) {
            total.add(v + coarse_area);
        }
        let sub = h / refine as f64;
        let fine_area = 2.0 * sub.ln();
        let cells: Vec<usize> = (0..n * n).filter(|&k| refined[k]).collect();
        let per_cell = refine * refine;
        for group in cells.chunks((FINE_BATCH / per_cell).max(1)) {
            let mut zs = Vec::with_capacity(group.len() * per_cell);
            for &k in group {
                let (x0, y0) = (
                    -HALF_WIDTH + (k / n) as f64 * h,
                    -HALF_WIDTH + (k % n) as f64 * h,
                );
                for a in 0..refine {
                    for b in 0..refine {
                        zs.push([x0 + (a as f64 + 0.5) * sub, y0 + (b as f64 + 0.5) * sub]);
                    }
                }
            }
            for v in self.log_joint(x, &zs, m - DROP_NATS) {
                total.add(v + fine_area);
            }
        }
        total.value()
    }

    /// log p(z) + log p(x|z) per z; nodes whose upper bound drops under
    /// `cutoff` come back as −∞.
    fn log_joint(&self, x: &[u32], zs: &[[f64; 2]], cutoff: f64) -> Vec<f64> {
        let ln_v = (VOCAB as f64).ln();
        let base: Vec<f64> = zs.iter().map(|&z| Self::log_prior(z) - ln_v).collect();
        self.score(x, zs, &base, cutoff)
    }
}

/// The entropy estimate over sentences: mean and standard error of −log p(x)
/// over the given sentences, nats per sentence. With sentences drawn from
/// the generator this is an unbiased estimate of the data's entropy, the
/// floor of any model's test NLL. Sentences run in parallel (rayon).
///
/// The standard error is the sample standard deviation over √n; it is NaN
/// for fewer than two sentences (and the mean is NaN for none).
///
/// # Panics
///
/// As [`Generator::exact_log_prob`].
pub fn entropy(generator: &Generator, sentences: &[Vec<u32>]) -> (f64, f64) {
    let nll: Vec<f64> = sentences
        .par_iter()
        .map(|x| -generator.exact_log_prob(x))
        .collect();
    let n = nll.len() as f64;
    let mean = nll.iter().sum::<f64>() / n;
    let var = nll.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Running log Σ exp(vᵢ), rescaled whenever a larger value arrives so that
/// nothing overflows or underflows; −∞ when empty.
#[derive(Clone, Copy)]
struct LogSumExp {
    max: f64,
    sum: f64,
}

impl Default for LogSumExp {
    fn default() -> Self {
        Self {
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
}

impl LogSumExp {
    fn add(&mut self, v: f64) {
        if v == f64::NEG_INFINITY {
            return;
        }
        if v > self.max {
            self.sum = self.sum * (self.max - v).exp() + 1.0;
            self.max = v;
        } else {
            // NaN lands here and poisons the sum, as it should.
            self.sum += (v - self.max).exp();
        }
    }

    fn value(&self) -> f64 {
        self.max + self.sum.ln()
    }
}
