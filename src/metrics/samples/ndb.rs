//! NDB and JS over K-means bins (Richardson & Weiss 2018, "On GANs and
//! GMMs"): cluster the real training data into K bins, then compare the
//! share of real points and of samples in each bin.
//!
//! - Bins: K-means (Lloyd's algorithm, k-means++ seeding from a fixed seed,
//!   at most 100 iterations or until no point changes bin) on the real set
//!   in pixel space, as in the paper (fitted on at most 10,000 of them, a
//!   seeded subset). The bins are cached with the
//!   classifier ([`super::cache`]).
//! - Per bin, a two-proportion z-test of P_k (real) against Q_k (samples):
//!   p̂ = (N P_k + M Q_k)/(N + M), z = (P_k − Q_k)/√(p̂(1 − p̂)(1/N + 1/M)),
//!   significant when |z| > 1.95996 (α = 0.05, two-sided).
//! - NDB = the number of significant bins, reported with NDB/K; JS = the
//!   Jensen–Shannon divergence between P and Q, in nats.

use super::pairwise::{Points, map_rows};
use rand::Rng;

/// Default number of bins (the paper's K = 100).
pub const DEFAULT_BINS: usize = 100;
/// Real points the bins are fitted on, at most (a seeded subset; every
/// real point is then assigned to its bin).
pub const MAX_FIT: usize = 10_000;
/// z for α = 0.05, two-sided.
pub const Z_CRIT: f64 = 1.959963984540054;

/// K-means centroids, `k × d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    pub centroids: Vec<f64>,
    pub k: usize,
    pub d: usize,
}

/// The index of each point's nearest centroid.
pub fn assign(points: &Points, bins: &Bins) -> Vec<usize> {
    let c = Points::from_f64(bins.centroids.clone(), bins.k, bins.d);
    map_rows(points, &c, |row| {
        let mut best = 0;
        for j in 1..row.sq.len() {
            if row.sq[j] < row.sq[best] {
                best = j;
            }
        }
        best
    })
}

/// K-means with k-means++ seeding from `rng`.
pub fn kmeans(points: &Points, k: usize, rng: &mut impl Rng) -> Bins {
    let (n, d) = (points.n, points.d);
    let k = k.min(n).max(1);
    // k-means++: each next centre drawn with probability ∝ D(x)².
    let mut centroids: Vec<f64> = points.row(rng.random_range(0..n)).to_vec();
    let mut nearest = vec![f64::INFINITY; n];
    for c in 1..k {
        let last = Points::from_f64(centroids[(c - 1) * d..c * d].to_vec(), 1, d);
        let dist = map_rows(points, &last, |row| row.sq[0]);
        nearest
            .iter_mut()
            .zip(dist)
            .for_each(|(m, v)| *m = m.min(v));
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let mut u = rng.random::<f64>() * total;
            let mut i = 0;
            while i + 1 < n && u >= nearest[i] {
                u -= nearest[i];
                i += 1;
            }
            i
        } else {
            rng.random_range(0..n)
        };
        centroids.extend_from_slice(points.row(pick));
    }
    let mut bins = Bins { centroids, k, d };
    let mut labels = vec![usize::MAX; n];
    for _ in 0..100 {
        let new = assign(points, &bins);
        if new == labels {
            break;
        }
        labels = new;
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            sums[l * d..(l + 1) * d]
                .iter_mut()
                .zip(points.row(i))
                .for_each(|(s, v)| *s += v);
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    bins.centroids[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            } // an empty bin keeps its centre
        }
    }
    bins
}

/// Shares of `labels` in each of `k` bins.
pub fn proportions(labels: &[usize], k: usize) -> Vec<f64> {
    let mut p = vec![0.0; k];
    for &l in labels {
        p[l] += 1.0;
    }
    p.iter_mut().for_each(|v| *v /= labels.len().max(1) as f64);
    p
}

/// NDB's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Ndb {
    /// Bins where the samples' share differs significantly.
    pub different: usize,
    pub k: usize,
    /// Jensen–Shannon divergence of the two histograms (nats).
    pub js: f64,
    /// Real and sample shares per bin, and which bins differ.
    pub real: Vec<f64>,
    pub fake: Vec<f64>,
    pub significant: Vec<bool>,
}

/// The test for real shares `p` of `n` points and sample shares `q` of `m`.
pub fn ndb(p: &[f64], n: usize, q: &[f64], m: usize) -> Ndb {
    let (nf, mf) = (n as f64, m as f64);
    let significant: Vec<bool> = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let pooled = (nf * a + mf * b) / (nf + mf);
            let se = (pooled * (1.0 - pooled) * (1.0 / nf + 1.0 / mf)).sqrt();
            se > 0.0 && ((a - b) / se).abs() > Z_CRIT
        })
        .collect();
    Ndb {
        different: significant.iter().filter(|s| **s).count(),
        k: p.len(),
        js: js_divergence(p, q),
        real: p.to_vec(),
        fake: q.to_vec(),
        significant,
    }
}

/// JS(P‖Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = ½(P + Q), in nats (0 log 0 = 0).
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).ln())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| 0.5 * (a + b)).collect();
    0.5 * kl(p, &m) + 0.5 * kl(q, &m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn kmeans_finds_separated_clusters() {
        // Four tight clusters at the corners of a square.
        let corners = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f64> = (0..400)
            .flat_map(|i| {
                let (a, b) = corners[i % 4];
                [a + rng.random::<f64>() * 0.1, b + rng.random::<f64>() * 0.1]
            })
            .collect();
        let pts = Points::from_f64(x, 400, 2);
        let bins = kmeans(&pts, 4, &mut rng);
        let labels = assign(&pts, &bins);
        // Points of one corner share a bin, and different corners differ.
        for i in 0..400 {
            assert_eq!(labels[i], labels[i % 4]);
        }
        let mut distinct = labels[..4].to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn z_test_and_js_match_hand_computed_values() {
        // Bin 0: 0.5 of 1000 vs 0.3 of 1000: pooled 0.4, se = √(0.24·0.002)
        // = 0.0219, z = 9.1 → significant. Bin 1: 0.5 vs 0.52: z = 0.89.
        let r = ndb(&[0.5, 0.5, 0.0], 1000, &[0.3, 0.52, 0.18], 1000);
        assert_eq!(r.significant, vec![true, false, true]);
        assert_eq!(r.different, 2);
        // JS of identical histograms is 0; of disjoint ones, ln 2.
        assert_eq!(js_divergence(&[0.2, 0.8], &[0.2, 0.8]), 0.0);
        assert!((js_divergence(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn samples_that_skip_clusters_flag_exactly_those_bins() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let point = |c: usize, rng: &mut rand_chacha::ChaCha8Rng| {
            [c as f64 * 10.0 + rng.random::<f64>(), rng.random::<f64>()]
        };
        let real: Vec<f64> = (0..2000).flat_map(|i| point(i % 5, &mut rng)).collect();
        let real = Points::from_f64(real, 2000, 2);
        let bins = kmeans(&real, 5, &mut rng);
        // Samples from clusters 0, 1, 2 only.
        let fake: Vec<f64> = (0..2000).flat_map(|i| point(i % 3, &mut rng)).collect();
        let fake = Points::from_f64(fake, 2000, 2);
        let (p, q) = (
            proportions(&assign(&real, &bins), 5),
            proportions(&assign(&fake, &bins), 5),
        );
        let r = ndb(&p, 2000, &q, 2000);
        // Every bin differs: the kept clusters are over-represented (1/3 vs
        // 1/5), the dropped ones empty.
        assert_eq!(r.different, 5);
        let dropped: Vec<usize> = (0..5).filter(|&b| q[b] == 0.0).collect();
        assert_eq!(dropped.len(), 2);
        // The same samples as the data: no bin differs.
        let r = ndb(&p, 2000, &p, 2000);
        assert_eq!(r.different, 0);
    }
}
