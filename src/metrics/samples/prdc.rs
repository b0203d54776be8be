//! Improved precision and recall (Kynkäänniemi et al. 2019) and density and
//! coverage (Naeem et al. 2020), from k-nearest-neighbour balls.
//!
//! Each real point i has the radius r_i of its k-th nearest real neighbour
//! (itself excluded), each fake point j the radius s_j among fakes. With
//! d the Euclidean distance and `≤` in every membership test:
//!
//! - precision = (1/M) Σ_j 1[∃i: d(f_j, x_i) ≤ r_i]          (k = 3)
//! - recall    = (1/N) Σ_i 1[∃j: d(x_i, f_j) ≤ s_j]          (k = 3)
//! - density   = (1/(kM)) Σ_j Σ_i 1[d(f_j, x_i) ≤ r_i]       (k = 5)
//! - coverage  = (1/N) Σ_i 1[min_j d(x_i, f_j) ≤ r_i]        (k = 5)
//!
//! as in the reference implementation `prdc` (its radius is the (k+1)-th
//! smallest distance of a row that includes the point's own 0). Exact
//! duplicates are at distance exactly 0 ([`super::pairwise`]), so a real
//! digit with k copies in the real set has radius 0 and still holds a fake
//! that equals it.

use super::pairwise::{Points, kth_nn_sq, map_rows};

/// k for precision and recall (Kynkäänniemi et al.).
pub const K_PR: usize = 3;
/// k for density and coverage (Naeem et al.).
pub const K_DC: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

/// The four numbers for `real` and `fake` features (each set needs more than 5 points).
pub fn prdc(real: &Points, fake: &Points) -> Prdc {
    let real_r = kth_nn_sq(real, &[K_PR, K_DC]);
    let fake_r = kth_nn_sq(fake, &[K_PR]);
    let (r3, r5, s3) = (&real_r[0], &real_r[1], &fake_r[0]);
    // Per fake point: inside some real 3-ball; how many real 5-balls hold it.
    let per_fake = map_rows(fake, real, |row| {
        let inside = row.sq.iter().zip(r3).any(|(d, r)| d <= r);
        let count = row.sq.iter().zip(r5).filter(|(d, r)| d <= r).count();
        (inside, count)
    });
    // Per real point: inside some fake 3-ball; its nearest fake within its 5-radius.
    let per_real = map_rows(real, fake, |row| {
        let recalled = row.sq.iter().zip(s3).any(|(d, s)| d <= s);
        let nearest = row.sq.iter().copied().fold(f64::INFINITY, f64::min);
        (recalled, nearest <= r5[row.i])
    });
    let (m, n) = (fake.n as f64, real.n as f64);
    Prdc {
        precision: per_fake.iter().filter(|p| p.0).count() as f64 / m,
        recall: per_real.iter().filter(|p| p.0).count() as f64 / n,
        density: per_fake.iter().map(|p| p.1).sum::<usize>() as f64 / (K_DC as f64 * m),
        coverage: per_real.iter().filter(|p| p.1).count() as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::samples::pairwise::tests::gaussian;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// Brute force from the definitions, with sorted distance lists.
    fn brute(real: &Points, fake: &Points) -> Prdc {
        let dist = |a: &[f64], b: &[f64]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let radius = |s: &Points, i: usize, k: usize| {
            let mut d: Vec<f64> = (0..s.n)
                .filter(|&j| j != i)
                .map(|j| dist(s.row(i), s.row(j)))
                .collect();
            d.sort_by(f64::total_cmp);
            d[k - 1]
        };
        let r3: Vec<f64> = (0..real.n).map(|i| radius(real, i, 3)).collect();
        let r5: Vec<f64> = (0..real.n).map(|i| radius(real, i, 5)).collect();
        let s3: Vec<f64> = (0..fake.n).map(|j| radius(fake, j, 3)).collect();
        let (mut p, mut dn, mut rc, mut cv) = (0, 0, 0, 0);
        for j in 0..fake.n {
            p += (0..real.n).any(|i| dist(fake.row(j), real.row(i)) <= r3[i]) as usize;
            dn += (0..real.n)
                .filter(|&i| dist(fake.row(j), real.row(i)) <= r5[i])
                .count();
        }
        for i in 0..real.n {
            rc += (0..fake.n).any(|j| dist(real.row(i), fake.row(j)) <= s3[j]) as usize;
            cv += (0..fake.n).any(|j| dist(real.row(i), fake.row(j)) <= r5[i]) as usize;
        }
        Prdc {
            precision: p as f64 / fake.n as f64,
            recall: rc as f64 / real.n as f64,
            density: dn as f64 / (5.0 * fake.n as f64),
            coverage: cv as f64 / real.n as f64,
        }
    }

    #[test]
    fn equals_brute_force_from_the_definitions() {
        let (real, fake) = (gaussian(200, 4, 0.0, 1), gaussian(150, 4, 0.3, 2));
        let (a, b) = (prdc(&real, &fake), brute(&real, &fake));
        for (x, y) in [
            (a.precision, b.precision),
            (a.recall, b.recall),
            (a.density, b.density),
            (a.coverage, b.coverage),
        ] {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn a_set_against_itself_is_fully_precise_and_covered() {
        let real = gaussian(500, 8, 0.0, 3);
        let p = prdc(&real, &real);
        assert_eq!((p.precision, p.recall, p.coverage), (1.0, 1.0, 1.0));
        // Each point lies in its own 5-ball (distance 0) and, on average,
        // in k others' balls as often as its own ball holds k others: ≈ 1 + 1/k·…
        // Against itself the density is exactly (1/(kN)) Σ_i |ball_i| = (k+1)/k
        // when no distances tie (each ball holds its point and its k neighbours).
        assert!((p.density - 6.0 / 5.0).abs() < 1e-12, "{}", p.density);
    }

    #[test]
    fn two_draws_of_one_gaussian_give_prdcs_readme_values() {
        // prdc's README: N(0, I) in 64 dimensions, 10,000 real and fake,
        // k = 5: precision ≈ 0.7, recall ≈ 0.7 (k = 5 there), density ≈ 1.0,
        // coverage ≈ 0.97. Smaller sets here (2,000), which move precision
        // and recall a little; density and coverage are near-unbiased.
        let (real, fake) = (gaussian(2000, 64, 0.0, 4), gaussian(2000, 64, 0.0, 5));
        let p = prdc(&real, &fake);
        assert!((p.density - 1.0).abs() < 0.08, "density {}", p.density);
        assert!((p.coverage - 0.97).abs() < 0.03, "coverage {}", p.coverage);
        assert!(
            p.precision > 0.5 && p.precision < 0.85,
            "precision {}",
            p.precision
        );
        assert!(p.recall > 0.5 && p.recall < 0.85, "recall {}", p.recall);
    }

    #[test]
    fn disjoint_clusters_score_zero_and_a_subcluster_is_precise_not_recalled() {
        let real = gaussian(300, 3, 0.0, 6);
        let far = gaussian(300, 3, 50.0, 7);
        let p = prdc(&real, &far);
        assert_eq!(
            (p.precision, p.recall, p.density, p.coverage),
            (0.0, 0.0, 0.0, 0.0)
        );
        // Fakes only from a tight core of the real cloud: every fake is
        // realistic (precision ≈ 1) but most real points are not recalled.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let core: Vec<f64> = (0..300 * 3)
            .map(|_| 0.2 * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng))
            .collect();
        let p = prdc(&real, &Points::from_f64(core, 300, 3));
        assert!(p.precision > 0.95, "{p:?}");
        assert!(p.recall < 0.4 && p.coverage < 0.4, "{p:?}");
    }
}
