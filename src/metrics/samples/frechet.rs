//! The Fréchet distance between Gaussians fitted to two feature sets
//! (Heusel et al. 2017's FID, on whatever features are given):
//!
//! FD = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}
//!
//! in f64, with unbiased (n − 1) covariances. The last trace is computed
//! from two symmetric eigen-decompositions — Σ₁ = V Λ Vᵀ gives Σ₁^{1/2},
//! then the eigenvalues of the symmetric M = Σ₁^{1/2} Σ₂ Σ₁^{1/2} — with
//! eigenvalues below zero (rounding) set to zero. M is symmetric positive
//! semi-definite, so no complex square root can appear, unlike
//! `scipy.linalg.sqrtm(Σ₁Σ₂)`; tr (Σ₁Σ₂)^{1/2} equals tr M^{1/2} because the
//! two matrices are similar.

use nalgebra::DMatrix;

/// Mean and unbiased covariance of `n × d` rows.
pub struct Moments {
    pub mean: Vec<f64>,
    pub cov: DMatrix<f64>,
    pub n: usize,
}

impl Moments {
    pub fn of(x: &[f64], n: usize, d: usize) -> Self {
        assert!(n >= 2, "a covariance needs two points");
        let mut mean = vec![0.0; d];
        for r in x.chunks(d) {
            mean.iter_mut().zip(r).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centered = DMatrix::from_row_iterator(
            n,
            d,
            x.chunks(d)
                .flat_map(|r| r.iter().zip(&mean).map(|(v, m)| v - m).collect::<Vec<_>>()),
        );
        let cov = (centered.transpose() * &centered) / (n as f64 - 1.0);
        Self { mean, cov, n }
    }
}

/// Σ^{1/2} of a symmetric positive semi-definite matrix.
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let e = m.clone().symmetric_eigen();
    let roots = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose()
}

/// FD between two fitted Gaussians.
pub fn frechet(a: &Moments, b: &Moments) -> f64 {
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let s = sqrt_psd(&a.cov);
    let mut m = &s * &b.cov * &s;
    // Symmetrize away rounding before the symmetric solver.
    m = (&m + m.transpose()) * 0.5;
    let cross: f64 = m
        .symmetric_eigen()
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    (mean_term + a.cov.trace() + b.cov.trace() - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(mean: Vec<f64>, cov: DMatrix<f64>) -> Moments {
        Moments { mean, cov, n: 2 }
    }

    #[test]
    fn one_dimension_is_the_closed_form() {
        // FD(N(m1, s1²), N(m2, s2²)) = (m1 − m2)² + (s1 − s2)².
        let a = moments(vec![1.0], DMatrix::from_element(1, 1, 4.0));
        let b = moments(vec![-0.5], DMatrix::from_element(1, 1, 0.25));
        assert!((frechet(&a, &b) - (1.5f64.powi(2) + 1.5f64.powi(2))).abs() < 1e-12);
    }

    #[test]
    fn diagonal_covariances_are_the_closed_form() {
        // Σ_d (μ1−μ2)² + (σ1 − σ2)² per dimension.
        let (s1, s2) = ([1.0, 2.0, 0.5], [3.0, 0.1, 0.5]);
        let a = moments(
            vec![0.0, 1.0, 2.0],
            DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
                3,
                s1.iter().map(|s| s * s),
            )),
        );
        let b = moments(
            vec![1.0, 1.0, -1.0],
            DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
                3,
                s2.iter().map(|s| s * s),
            )),
        );
        let want: f64 = 1.0 + 0.0 + 9.0 + (0..3).map(|i| (s1[i] - s2[i]).powi(2)).sum::<f64>();
        assert!(
            (frechet(&a, &b) - want).abs() < 1e-10,
            "{} vs {want}",
            frechet(&a, &b)
        );
    }

    #[test]
    fn a_set_against_itself_is_zero_and_rotation_does_not_matter() {
        // Correlated, rank-deficient data (a duplicated column).
        let n = 400;
        let x: Vec<f64> = (0..n)
            .flat_map(|i| {
                let t = i as f64 * 0.37;
                [t.sin(), t.cos() * 2.0, t.sin()]
            })
            .collect();
        let m = Moments::of(&x, n, 3);
        assert!(frechet(&m, &m).abs() < 1e-9);
        // Two full-covariance Gaussians, same spectrum, rotated: FD =
        // tr Σ1 + tr Σ2 − 2 tr (Σ1^½ Σ2 Σ1^½)^½, checked against the 2×2
        // closed form tr sqrt(A) = sqrt(tr A + 2 sqrt(det A)).
        let s1 = DMatrix::from_row_slice(2, 2, &[2.0, 0.6, 0.6, 1.0]);
        let s2 = DMatrix::from_row_slice(2, 2, &[1.0, -0.3, -0.3, 0.5]);
        let prod = &s1 * &s2;
        let (tr, det): (f64, f64) = (prod.trace(), prod.determinant());
        let tr_sqrt = (tr + 2.0 * det.sqrt()).sqrt();
        let want = s1.trace() + s2.trace() - 2.0 * tr_sqrt;
        let got = frechet(&moments(vec![0.0; 2], s1), &moments(vec![0.0; 2], s2));
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
    }
}
