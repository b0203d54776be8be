//! Kernel two-sample statistics: the unbiased MMD² (Gretton et al. 2012)
//! under three kernels, summed a block at a time ([`super::pairwise`]).
//!
//! MMD²_u = 1/(m(m−1)) Σ_{i≠i'} k(x_i, x_i') + 1/(n(n−1)) Σ_{j≠j'} k(y_j, y_j')
//!          − 2/(mn) Σ_{i,j} k(x_i, y_j)
//!
//! - [`Kernel::Gaussian`]: exp(−‖x − y‖² / (2s²)), s the median distance
//!   between real points (the median heuristic, on the first 1,000).
//! - [`Kernel::Cubic`]: (x·y/d + 1)³, the KID kernel (Bińkowski et al.
//!   2018); KID is MMD²_u averaged over random subsets ([`kid`]).
//! - [`Kernel::Imq`]: Σ_s C_s / (C_s + ‖x − y‖²), C_s = 2·d·s for s in
//!   {0.1, 0.2, 0.5, 1, 2, 5, 10}: the multi-scale inverse multiquadratic
//!   kernel of WAE (Tolstikhin et al. 2018) for latents against N(0, I).

use super::pairwise::{Points, map_rows};
use rand::seq::index::sample;

#[derive(Clone, Copy, Debug)]
pub enum Kernel {
    Gaussian { bandwidth: f64 },
    Cubic,
    Imq,
}

/// The IMQ scales of WAE's code.
const IMQ_SCALES: [f64; 7] = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

impl Kernel {
    fn eval(self, sq: f64, dot: f64, d: usize) -> f64 {
        match self {
            Kernel::Gaussian { bandwidth } => (-sq / (2.0 * bandwidth * bandwidth)).exp(),
            Kernel::Cubic => (dot / d as f64 + 1.0).powi(3),
            Kernel::Imq => IMQ_SCALES
                .iter()
                .map(|s| {
                    let c = 2.0 * d as f64 * s;
                    c / (c + sq)
                })
                .sum(),
        }
    }
}

/// Σ_{i,j} k(a_i, b_j), leaving out i = j when `a` and `b` are one set.
fn kernel_sum(a: &Points, b: &Points, k: Kernel, same: bool) -> f64 {
    map_rows(a, b, |row| {
        let mut s = 0.0;
        for j in 0..row.sq.len() {
            if !(same && j == row.i) {
                s += k.eval(row.sq[j], row.dot[j], a.d);
            }
        }
        s
    })
    .iter()
    .sum()
}

/// The unbiased MMD² between `x` and `y` (each of two or more points).
pub fn mmd2(x: &Points, y: &Points, k: Kernel) -> f64 {
    let (m, n) = (x.n as f64, y.n as f64);
    kernel_sum(x, x, k, true) / (m * (m - 1.0)) + kernel_sum(y, y, k, true) / (n * (n - 1.0))
        - 2.0 * kernel_sum(x, y, k, false) / (m * n)
}

/// The median Euclidean distance between distinct points among the first
/// 1,000 of `x`: the Gaussian kernel's bandwidth.
pub fn median_distance(x: &Points) -> f64 {
    let head = x.subset(&(0..x.n.min(1000)).collect::<Vec<_>>());
    let mut d: Vec<f64> = map_rows(&head, &head, |row| {
        row.sq[row.i + 1..]
            .iter()
            .map(|v| v.sqrt())
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    if d.is_empty() {
        return 1.0;
    }
    let mid = d.len() / 2;
    let (_, m, _) = d.select_nth_unstable_by(mid, f64::total_cmp);
    if *m > 0.0 { *m } else { 1.0 }
}

/// KID: the cubic-kernel MMD²_u over `subsets` random subsets of
/// `size` points of each set (drawn without replacement within a subset,
/// from `rng`), as mean and population standard deviation — torch-fidelity's
/// defaults are 100 subsets of 1,000.
pub fn kid(
    x: &Points,
    y: &Points,
    subsets: usize,
    size: usize,
    rng: &mut impl rand::Rng,
) -> (f64, f64) {
    let size = size.min(x.n).min(y.n);
    let v: Vec<f64> = (0..subsets)
        .map(|_| {
            let xi = sample(rng, x.n, size).into_vec();
            let yi = sample(rng, y.n, size).into_vec();
            mmd2(&x.subset(&xi), &y.subset(&yi), Kernel::Cubic)
        })
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::samples::pairwise::tests::gaussian;
    use rand::SeedableRng;

    /// MMD²_u by the formula, pair by pair.
    fn brute(x: &Points, y: &Points, k: Kernel) -> f64 {
        let kv = |a: &[f64], b: &[f64]| {
            let sq: f64 = a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum();
            let dot: f64 = a.iter().zip(b).map(|(p, q)| p * q).sum();
            k.eval(sq, dot, a.len())
        };
        let (m, n) = (x.n, y.n);
        let mut xx = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    xx += kv(x.row(i), x.row(j));
                }
            }
        }
        let mut yy = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    yy += kv(y.row(i), y.row(j));
                }
            }
        }
        let mut xy = 0.0;
        for i in 0..m {
            for j in 0..n {
                xy += kv(x.row(i), y.row(j));
            }
        }
        xx / (m * (m - 1)) as f64 + yy / (n * (n - 1)) as f64 - 2.0 * xy / (m * n) as f64
    }

    #[test]
    fn blocked_sums_equal_the_formula_for_every_kernel() {
        let (x, y) = (gaussian(70, 6, 0.0, 1), gaussian(50, 6, 0.5, 2));
        for k in [
            Kernel::Gaussian { bandwidth: 1.7 },
            Kernel::Cubic,
            Kernel::Imq,
        ] {
            let (a, b) = (mmd2(&x, &y, k), brute(&x, &y, k));
            assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{k:?}: {a} vs {b}");
        }
    }

    #[test]
    fn one_distribution_gives_mmd_near_zero_and_kid_is_unbiased() {
        let (x, y) = (gaussian(1000, 8, 0.0, 3), gaussian(1000, 8, 0.0, 4));
        let same = mmd2(
            &x,
            &y,
            Kernel::Gaussian {
                bandwidth: median_distance(&x),
            },
        );
        let shifted = mmd2(
            &x,
            &gaussian(1000, 8, 0.3, 5),
            Kernel::Gaussian {
                bandwidth: median_distance(&x),
            },
        );
        assert!(
            same.abs() < 5e-3 && shifted > 20.0 * same.abs().max(1e-4),
            "{same} vs {shifted}"
        );
        // Unbiased: over subsets of one distribution the mean is within a
        // few standard errors of 0 (and takes both signs).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let (mean, std) = kid(&x, &y, 100, 200, &mut rng);
        assert!(mean.abs() < 4.0 * std / 10.0 + 1e-6, "KID {mean} ± {std}");
    }

    #[test]
    fn median_distance_of_a_line_is_known() {
        // Points 0..5 on a line: pairwise distances 1,1,1,1,2,2,2,3,3,4 → median 2.
        let p = Points::from_f64((0..5).map(|v| v as f64).collect(), 5, 1);
        assert_eq!(median_distance(&p), 2.0);
    }
}
