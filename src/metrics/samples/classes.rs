//! Metrics on the classifier's predicted classes, and the samples'
//! diversity.
//!
//! - Classifier score, the Inception score's analogue (Salimans et al.
//!   2016): exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean of p(y|x) over the
//!   samples of a split; mean and standard deviation over 10 splits.
//! - Modes covered: a class counts when the samples predicted as it reach a
//!   tenth of what the data's share of it would give (count_c ≥ 0.1 · M ·
//!   p_data(c)), so the classifier's rare mistakes do not cover a dropped
//!   class. p_data is the classifier's predictions on the real set (its
//!   bias cancels). Mode KL = KL(p_gen ‖ p_data) over predicted classes.
//! - Component histograms (mixture priors): each sample's component is the
//!   argmax of p(k | z) for its z; the table counts predicted classes per
//!   component.
//! - Diversity: the fraction of distinct samples (values quantised to 8
//!   bits: binary samples compare exactly) and the mean Euclidean distance
//!   between distinct samples' features.

use super::pairwise::{Points, map_rows};
use std::collections::HashSet;

/// The argmax of each row of `probs` (`n × c`).
pub fn argmax_rows(probs: &[f32], c: usize) -> Vec<usize> {
    probs
        .chunks(c)
        .map(|r| {
            let mut best = 0;
            for j in 1..c {
                if r[j] > r[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// Classifier score over `splits` equal splits: (mean, std).
pub fn classifier_score(probs: &[f32], c: usize, splits: usize) -> (f64, f64) {
    let n = probs.len() / c;
    let splits = splits.clamp(1, n.max(1));
    let scores: Vec<f64> = (0..splits)
        .map(|s| {
            let rows = &probs[s * n / splits * c..(s + 1) * n / splits * c];
            let m = rows.len() / c;
            let mut marginal = vec![0.0f64; c];
            for r in rows.chunks(c) {
                marginal
                    .iter_mut()
                    .zip(r)
                    .for_each(|(a, &p)| *a += p as f64 / m as f64);
            }
            let kl: f64 = rows
                .chunks(c)
                .map(|r| {
                    r.iter()
                        .zip(&marginal)
                        .filter(|(p, _)| **p > 0.0)
                        .map(|(&p, q)| p as f64 * ((p as f64).ln() - q.ln()))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / m as f64;
            kl.exp()
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let var = scores.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / scores.len() as f64;
    (mean, var.sqrt())
}

/// Shares of each of `c` classes among `labels`.
pub fn shares(labels: &[usize], c: usize) -> Vec<f64> {
    let mut s = vec![0.0; c];
    labels.iter().for_each(|&l| s[l] += 1.0);
    s.iter_mut().for_each(|v| *v /= labels.len().max(1) as f64);
    s
}

/// Modes covered (of the classes the data has) and KL(p_gen ‖ p_data).
pub fn modes(fake_labels: &[usize], data_shares: &[f64]) -> (usize, usize, f64) {
    let c = data_shares.len();
    let generated = shares(fake_labels, c);
    let m = fake_labels.len() as f64;
    let total = data_shares.iter().filter(|p| **p > 0.0).count();
    let covered = (0..c)
        .filter(|&k| {
            data_shares[k] > 0.0 && generated[k] * m >= (0.1 * m * data_shares[k]).max(1.0)
        })
        .count();
    let kl = generated
        .iter()
        .zip(data_shares)
        .filter(|(g, _)| **g > 0.0)
        .map(|(g, d)| g * (g / d.max(1e-12)).ln())
        .sum();
    (covered, total, kl)
}

/// `[components × classes]` counts of predicted class per component.
pub fn component_classes(
    components: &[usize],
    labels: &[usize],
    k: usize,
    c: usize,
) -> Vec<Vec<usize>> {
    let mut t = vec![vec![0; c]; k];
    for (&comp, &l) in components.iter().zip(labels) {
        t[comp][l] += 1;
    }
    t
}

/// Distinct classes among the components' majority classes (components
/// that drew no sample left out): fewer than the classes means components
/// share modes.
pub fn component_modes(table: &[Vec<usize>]) -> usize {
    let mut majority: Vec<usize> = table
        .iter()
        .filter(|row| row.iter().sum::<usize>() > 0)
        .map(|row| {
            (0..row.len())
                .max_by_key(|&j| (row[j], usize::MAX - j))
                .unwrap_or(0)
        })
        .collect();
    majority.sort();
    majority.dedup();
    majority.len()
}

/// The fraction of distinct samples, after quantising values in [0, 1] to 8 bits.
pub fn unique_fraction(values: &[f32], dim: usize) -> f64 {
    let n = values.len() / dim.max(1);
    let distinct: HashSet<Vec<u8>> = values
        .chunks(dim.max(1))
        .map(|r| {
            r.iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect()
        })
        .collect();
    distinct.len() as f64 / n.max(1) as f64
}

/// Mean Euclidean distance over pairs i < j of `x`.
pub fn mean_pairwise_distance(x: &Points) -> f64 {
    if x.n < 2 {
        return f64::NAN;
    }
    let total: f64 = map_rows(x, x, |row| {
        row.sq[row.i + 1..].iter().map(|v| v.sqrt()).sum::<f64>()
    })
    .iter()
    .sum();
    total / (x.n * (x.n - 1) / 2) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_score_spans_one_to_the_number_of_classes() {
        // Confident and uniform over 4 classes: exp(ln 4) = 4.
        let confident: Vec<f32> = (0..400)
            .flat_map(|i| {
                let mut r = [0.0; 4];
                r[i % 4] = 1.0;
                r
            })
            .collect();
        let (s, sd) = classifier_score(&confident, 4, 10);
        assert!((s - 4.0).abs() < 1e-9 && sd < 1e-9);
        // Every sample the same distribution: KL = 0, score 1.
        let (s, _) = classifier_score(&[0.25f32; 400 * 4], 4, 10);
        assert!((s - 1.0).abs() < 1e-9);
    }

    #[test]
    fn dropped_classes_are_not_covered_and_kl_is_known() {
        let data = vec![0.1; 10];
        // Samples only of classes 0..5, plus a few mistakes into class 9.
        let mut fake: Vec<usize> = (0..1000).map(|i| i % 5).collect();
        fake.extend([9, 9, 9]);
        let (covered, total, kl) = modes(&fake, &data);
        assert_eq!((covered, total), (5, 10));
        // KL = Σ g ln(g/0.1) with g = 200/1003 five times and 3/1003 once.
        let (a, b) = (200.0 / 1003.0, 3.0 / 1003.0);
        let want = 5.0 * a * (a / 0.1f64).ln() + b * (b / 0.1f64).ln();
        assert!((kl - want).abs() < 1e-12);
        let all: Vec<usize> = (0..1000).map(|i| i % 10).collect();
        assert_eq!(modes(&all, &data).0, 10);
    }

    #[test]
    fn exact_duplicates_make_an_exact_unique_fraction() {
        let a = [0.0f32, 1.0, 1.0, 0.0];
        let b = [1.0f32, 1.0, 1.0, 0.0];
        let v: Vec<f32> = [a, a, a, b, a, b, [0.0; 4], a].concat();
        assert_eq!(unique_fraction(&v, 4), 3.0 / 8.0);
    }

    #[test]
    fn component_tables_show_shared_modes() {
        let comps = [0, 0, 1, 1, 2, 2, 2];
        let labels = [3, 3, 3, 3, 5, 5, 1];
        let t = component_classes(&comps, &labels, 4, 6);
        assert_eq!(t[0][3], 2);
        assert_eq!(t[2][5], 2);
        // Components 0 and 1 both hold class 3; component 3 drew nothing.
        assert_eq!(component_modes(&t), 2);
    }

    #[test]
    fn mean_pairwise_distance_of_a_square() {
        let p = Points::from_f64(vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 4, 2);
        let want = (4.0 + 2.0 * 2f64.sqrt()) / 6.0;
        assert!((mean_pairwise_distance(&p) - want).abs() < 1e-12);
    }
}
