//! Distances between every pair of two point sets, a block of rows at a
//! time: what the k-NN metrics and the kernel sums are made of.
//!
//! A block of 256 rows of `a` against all of `b` comes from one matrix
//! product (‖a‖² + ‖b‖² − 2 a·b, in f64 through [`crate::core::matmul`]), so
//! 10,000 × 10,000 pairs never sit in memory at once, and the blocks run
//! on every core (rayon). Entries the expansion puts within 1e-9 of zero,
//! relative to the norms, are recomputed directly as Σ (a − b)²: exact
//! duplicates — common among binarized digits — are then at distance
//! exactly 0, so ties in the `≤` membership tests are decided the same way
//! on every machine.

use crate::core::matmul::{MatRef, Store, Threads, matmul};
use rayon::prelude::*;

/// `n` points of dimension `d`, row-major, in f64.
#[derive(Clone, Debug)]
pub struct Points {
    pub x: Vec<f64>,
    pub n: usize,
    pub d: usize,
    /// ‖x_i‖² per row.
    norms: Vec<f64>,
}

impl Points {
    /// From `n × d` f32 values.
    pub fn new(x: &[f32], n: usize, d: usize) -> Self {
        assert_eq!(x.len(), n * d, "points: {} values for {n} × {d}", x.len());
        Self::from_f64(x.iter().map(|&v| v as f64).collect(), n, d)
    }

    pub fn from_f64(x: Vec<f64>, n: usize, d: usize) -> Self {
        assert_eq!(x.len(), n * d);
        let norms = x
            .chunks(d.max(1))
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        Self { x, n, d, norms }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Points {
        let mut x = Vec::with_capacity(idx.len() * self.d);
        for &i in idx {
            x.extend_from_slice(self.row(i));
        }
        Points::from_f64(x, idx.len(), self.d)
    }
}

/// Rows of `a` per block.
const BLOCK: usize = 256;

/// `out[i·b.n + j] = a_i · b_j` for rows `r0..r0+rows` of `a`.
fn dots(a: &Points, r0: usize, rows: usize, b: &Points, out: &mut [f64]) {
    let d = a.d;
    debug_assert_eq!(out.len(), rows * b.n);
    matmul(
        out,
        MatRef::row_major(&a.x[r0 * d..], rows, d),
        MatRef::row_major(&b.x, b.n, d).t(),
        Store::Overwrite,
        Threads::One,
    );
}

/// What a row visitor sees: row `i` of `a`, its squared distances to every
/// point of `b`, and its dot products with them.
pub struct Row<'a> {
    pub i: usize,
    pub sq: &'a [f64],
    pub dot: &'a [f64],
}

/// `f(row)` for every row of `a` against all of `b`, in blocks on every
/// core; the results in row order.
pub fn map_rows<T: Send>(a: &Points, b: &Points, f: impl Fn(Row) -> T + Sync) -> Vec<T> {
    assert_eq!(a.d, b.d, "points of different dimensions");
    let blocks: Vec<usize> = (0..a.n).step_by(BLOCK).collect();
    let per_block: Vec<Vec<T>> = blocks
        .par_iter()
        .map(|&r0| {
            let rows = BLOCK.min(a.n - r0);
            let mut dot = vec![0.0f64; rows * b.n];
            if a.d > 0 && b.n > 0 {
                dots(a, r0, rows, b, &mut dot);
            }
            let mut sq = vec![0.0f64; b.n];
            (0..rows)
                .map(|r| {
                    let i = r0 + r;
                    let drow = &dot[r * b.n..(r + 1) * b.n];
                    let na = a.norms[i];
                    for j in 0..b.n {
                        let nb = b.norms[j];
                        let v = na + nb - 2.0 * drow[j];
                        sq[j] = if v <= 1e-9 * (na + nb) {
                            a.row(i)
                                .iter()
                                .zip(b.row(j))
                                .map(|(x, y)| (x - y) * (x - y))
                                .sum()
                        } else {
                            v
                        };
                    }
                    f(Row {
                        i,
                        sq: &sq,
                        dot: drow,
                    })
                })
                .collect()
        })
        .collect();
    per_block.into_iter().flatten().collect()
}

/// The squared distance from each point of `a` to its `k`-th nearest
/// neighbour in `a` itself, the point excluded (prdc's radius: the
/// (k+1)-th smallest of the row with the point's own 0 in it). Duplicates
/// of a point count as neighbours at distance 0.
pub fn kth_nn_sq(a: &Points, ks: &[usize]) -> Vec<Vec<f64>> {
    let kmax = ks.iter().copied().max().unwrap_or(1);
    assert!(
        kmax < a.n,
        "k = {kmax} needs more than {kmax} points, have {}",
        a.n
    );
    let rows = map_rows(a, a, |row| {
        let mut v: Vec<f64> = row.sq.to_vec();
        v[row.i] = f64::INFINITY;
        v.select_nth_unstable_by(kmax - 1, f64::total_cmp);
        let mut head = v[..kmax].to_vec();
        head.sort_by(f64::total_cmp);
        ks.iter().map(|&k| head[k - 1]).collect::<Vec<f64>>()
    });
    (0..ks.len())
        .map(|c| rows.iter().map(|r| r[c]).collect())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    /// `n` draws of N(shift, I) in `d` dimensions (the metrics' tests share it).
    pub(crate) fn gaussian(n: usize, d: usize, shift: f64, seed: u64) -> Points {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * d)
            .map(|_| {
                <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng) + shift
            })
            .collect();
        Points::from_f64(x, n, d)
    }

    fn random(n: usize, d: usize, seed: u64) -> Points {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<f32> = (0..n * d)
            .map(|_| rng.random::<f32>() * 4.0 - 2.0)
            .collect();
        Points::new(&x, n, d)
    }

    #[test]
    fn blocked_distances_equal_direct_ones() {
        let (a, b) = (random(600, 7, 1), random(300, 7, 2));
        let got = map_rows(&a, &b, |r| r.sq.to_vec());
        for i in (0..600).step_by(37) {
            for j in (0..300).step_by(11) {
                let direct: f64 = a
                    .row(i)
                    .iter()
                    .zip(b.row(j))
                    .map(|(x, y)| (x - y).powi(2))
                    .sum();
                assert!((got[i][j] - direct).abs() < 1e-9 * (1.0 + direct));
            }
        }
    }

    #[test]
    fn duplicates_are_at_distance_exactly_zero() {
        let a = random(40, 784, 3);
        let twice = a.subset(&(0..40).chain(0..40).collect::<Vec<_>>());
        let rows = map_rows(&twice, &twice, |r| r.sq.to_vec());
        for i in 0..40 {
            assert_eq!(rows[i][i + 40], 0.0);
            assert_eq!(rows[i][i], 0.0);
        }
        // Each point has exactly one duplicate: its 1st neighbour is at 0,
        // its 2nd is not.
        let r = kth_nn_sq(&twice, &[1, 2]);
        assert!(r[0].iter().all(|&v| v == 0.0));
        assert!(r[1].iter().all(|&v| v > 0.0));
    }

    #[test]
    fn kth_neighbour_matches_brute_force() {
        let a = random(300, 5, 4);
        let r = kth_nn_sq(&a, &[3, 5]);
        for i in (0..300).step_by(17) {
            let mut d: Vec<f64> = (0..300)
                .filter(|&j| j != i)
                .map(|j| {
                    a.row(i)
                        .iter()
                        .zip(a.row(j))
                        .map(|(x, y)| (x - y).powi(2))
                        .sum()
                })
                .collect();
            d.sort_by(f64::total_cmp);
            assert!((r[0][i] - d[2]).abs() < 1e-9);
            assert!((r[1][i] - d[4]).abs() < 1e-9);
        }
    }
}
