//! The sliced Wasserstein distance between two point sets (Rabin et al.
//! 2011; Bonneel et al. 2015): the p-Wasserstein distance of their 1-D
//! projections, averaged over random directions,
//!
//! ```text
//! SW_p(μ, ν) = ( (1/L) Σ_l W_p^p(θ_l#μ, θ_l#ν) )^{1/p},   θ_l uniform on the sphere S^{d−1}
//! ```
//!
//! the estimator of POT's `ot.sliced_wasserstein_distance` (Flamary et al.
//! 2021), with p = 2. Between empirical measures with uniform weights, the
//! 1-D distance is exact: the quantile functions' L_p distance, computed by
//! sorting both projections and merging their steps
//! ([`wasserstein_1d_pp`]), so the sets may differ in size. The directions
//! are normalised Gaussian vectors drawn from the stream the caller gives
//! (seeded: the same directions for every model scored with one seed).

use rand::Rng;
use rand_distr::StandardNormal;

/// W_p^p between the empirical measures of `a` and `b` (uniform weights):
/// ∫₀¹ |F_a⁻¹(t) − F_b⁻¹(t)|^p dt. Sorts both in place.
pub fn wasserstein_1d_pp(a: &mut [f64], b: &mut [f64], p: f64) -> f64 {
    let (n, m) = (a.len(), b.len());
    assert!(
        n > 0 && m > 0,
        "the Wasserstein distance needs points on both sides"
    );
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    // Walk the steps of both quantile functions: a's i-th value holds on
    // [i/n, (i+1)/n), b's j-th on [j/m, (j+1)/m). Breakpoints compared
    // in integers, so equal sizes pair index with index exactly.
    let (mut i, mut j) = (0usize, 0usize);
    let mut t = 0.0f64;
    let mut total = 0.0f64;
    while i < n && j < m {
        let (next_a, next_b) = ((i + 1) * m, (j + 1) * n);
        let next = next_a.min(next_b) as f64 / (n * m) as f64;
        total += (next - t) * (a[i] - b[j]).abs().powf(p);
        t = next;
        if next_a <= next_b {
            i += 1;
        }
        if next_b <= next_a {
            j += 1;
        }
    }
    total
}

/// SW_p between the rows of `real` (`n_real × d`) and `fake` (`n_fake ×
/// d`), row-major, over `projections` directions from `rng`.
pub fn sliced_wasserstein(
    real: &[f64],
    fake: &[f64],
    d: usize,
    projections: usize,
    p: f64,
    rng: &mut impl Rng,
) -> f64 {
    assert!(d > 0 && projections > 0);
    assert!(real.len() % d == 0 && fake.len() % d == 0);
    let project = |x: &[f64], theta: &[f64]| -> Vec<f64> {
        x.chunks(d)
            .map(|row| row.iter().zip(theta).map(|(a, b)| a * b).sum())
            .collect()
    };
    let mut sum = 0.0;
    for _ in 0..projections {
        let mut theta: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        let norm = theta.iter().map(|v| v * v).sum::<f64>().sqrt();
        theta.iter_mut().for_each(|v| *v /= norm);
        sum += wasserstein_1d_pp(&mut project(real, &theta), &mut project(fake, &theta), p);
    }
    (sum / projections as f64).powf(1.0 / p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Every pairing of two 5-point sets (5! couplings): the sorted one,
    /// which the quantile walk takes, is the cheapest.
    #[test]
    fn the_1d_distance_is_the_best_pairing_by_brute_force() {
        let a: [f64; 5] = [0.3, -1.2, 2.5, 0.0, 0.7];
        let b: [f64; 5] = [1.1, -0.4, 0.2, 3.0, -2.0];
        fn perms(rest: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if rest.is_empty() {
                out.push(Vec::new());
                return;
            }
            for idx in 0..rest.len() {
                let v = rest.remove(idx);
                let mut sub = Vec::new();
                perms(rest, &mut sub);
                rest.insert(idx, v);
                for mut s in sub {
                    s.insert(0, v);
                    out.push(s);
                }
            }
        }
        let mut all = Vec::new();
        perms(&mut (0..5).collect(), &mut all);
        assert_eq!(all.len(), 120);
        for p in [1.0, 2.0] {
            let best = all
                .iter()
                .map(|s| {
                    s.iter()
                        .enumerate()
                        .map(|(i, &j)| (a[i] - b[j]).abs().powf(p))
                        .sum::<f64>()
                        / 5.0
                })
                .fold(f64::INFINITY, f64::min);
            let got = wasserstein_1d_pp(&mut a.to_vec(), &mut b.to_vec(), p);
            assert!((got - best).abs() < 1e-12, "p = {p}: {got} vs {best}");
        }
    }

    /// Sets of different sizes, by hand: {0, 1} against {0, 1, 2}. The
    /// quantile functions differ by 1 on [1/3, 1/2) and on [2/3, 1).
    #[test]
    fn sets_of_different_sizes_follow_the_quantile_functions() {
        let w1 = wasserstein_1d_pp(&mut [1.0, 0.0], &mut [2.0, 0.0, 1.0], 1.0);
        assert!((w1 - (1.0 / 6.0 + 1.0 / 3.0)).abs() < 1e-12, "{w1}");
        // A point mass against two points: the mean distance.
        let w2 = wasserstein_1d_pp(&mut [0.0], &mut [1.0, 3.0], 2.0);
        assert!((w2 - 5.0).abs() < 1e-12, "{w2}");
    }

    /// In one dimension every direction is ±1: SW is W itself.
    #[test]
    fn in_one_dimension_sliced_is_the_exact_distance() {
        let real = [0.5, 2.0, -1.0, 4.0];
        let fake = [1.0, 1.5, 0.0];
        let exact = wasserstein_1d_pp(&mut real.to_vec(), &mut fake.to_vec(), 2.0).sqrt();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let sw = sliced_wasserstein(&real, &fake, 1, 7, 2.0, &mut rng);
        assert!((sw - exact).abs() < 1e-12, "{sw} vs {exact}");
    }

    /// A set against itself shifted by m: every projection's W_2² is
    /// (θ·m)², whose mean over the sphere is |m|²/d. With many
    /// directions SW_2² is |m|²/d within the Monte Carlo error.
    #[test]
    fn a_shifted_copy_is_at_the_spheres_mean_squared_projection() {
        let (n, d) = (200, 8);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let real: Vec<f64> = (0..n * d).map(|_| rng.sample(StandardNormal)).collect();
        let m: Vec<f64> = (0..d).map(|k| 0.5 * k as f64 - 1.0).collect();
        let fake: Vec<f64> = real
            .chunks(d)
            .flat_map(|r| r.iter().zip(&m).map(|(a, b)| a + b).collect::<Vec<_>>())
            .collect();
        let want = m.iter().map(|v| v * v).sum::<f64>() / d as f64;
        let sw = sliced_wasserstein(&real, &fake, d, 4000, 2.0, &mut rng);
        assert!((sw * sw / want - 1.0).abs() < 0.05, "{} vs {want}", sw * sw);
        // The same set: 0 exactly.
        assert_eq!(sliced_wasserstein(&real, &real, d, 10, 2.0, &mut rng), 0.0);
    }
}
