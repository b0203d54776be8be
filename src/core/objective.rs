//! The training objective, kept as per-example, per-dimension terms until the
//! last moment so that the trainer, the monitor and the evaluator all read the
//! same numbers.
//!
//! Loss for a batch of size B with β = β(t) and free bits λ:
//!
//! ```text
//! loss = −(1/B) Σ_b log p(x_b|z_b)  +  β · Σ_j max(λ, (1/B) Σ_b KL_bj)
//! ```
//!
//! i.e. free bits in the per-dimension, batch-averaged form of Kingma et al.
//! (2016, eq. 15 with one group per latent dimension). With λ = 0 this is the
//! negative β-weighted ELBO. See `docs/objective.md`.

use burn::tensor::Tensor;

/// Analytic KL(N(μ, σ²) ‖ N(0, 1)) per example and dimension:
/// `½(μ² + σ² − log σ² − 1)`.
///
/// # Shapes
/// - mean, log_var: `[batch, latent]` -> `[batch, latent]`
pub fn gaussian_kl(mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<2> {
    (mean.square() + log_var.clone().exp() - log_var - 1.0).mul_scalar(0.5)
}

/// Per-example objective terms of one batch.
#[derive(Clone, Debug)]
pub struct Terms {
    /// log p(x|z) at one posterior sample, `[batch]`.
    pub rec_ll: Tensor<1>,
    /// KL(q(z|x) ‖ p(z)) per example and KL group, `[batch, groups]`: one
    /// group per latent dimension when the prior factorises (the standard
    /// normal), a single group holding the total otherwise (mixture priors,
    /// whose KL is a one-sample Monte-Carlo estimate). Free bits apply per group.
    pub kl: Tensor<2>,
    /// Per-example loss terms outside the bound (the VQ-VAE's commitment and
    /// codebook losses), `[batch]`, added to the loss unweighted by β.
    pub penalty: Option<Tensor<1>>,
}

impl Terms {
    /// The batch mean of the penalty, if any.
    fn penalty_mean(&self) -> Option<Tensor<1>> {
        self.penalty.clone().map(|p| p.mean())
    }

    /// `loss` plus the batch mean of the penalty, if any.
    fn add_penalty(&self, loss: Tensor<1>) -> Tensor<1> {
        match self.penalty_mean() {
            Some(p) => loss + p,
            None => loss,
        }
    }
}

/// The scalar loss and the pieces of it worth logging, all still on device.
#[derive(Clone, Debug)]
pub struct Loss {
    /// What the optimizer minimises, `[1]`.
    pub loss: Tensor<1>,
    /// Batch mean of log p(x|z), `[1]`.
    pub rec_ll: Tensor<1>,
    /// Batch mean KL per dimension (before free bits), `[latent]`.
    pub kl_per_dim: Tensor<1>,
    /// Batch mean of the terms outside the bound ([`Terms::penalty`]), `[1]`.
    pub penalty: Option<Tensor<1>>,
}

/// Where the free-bits hinge max(λ, ·) is applied (`docs/objective.md`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FreeBits {
    /// Kingma et al. 2016 (eq. 15): per KL group, on the batch mean:
    /// Σ_j max(λ, (1/B) Σ_b KL_bj).
    #[default]
    BatchDim,
    /// Li et al. 2019: per example, on its total KL:
    /// (1/B) Σ_b max(λ, Σ_j KL_bj).
    Example,
    /// Li et al. 2019, per dimension: per example and KL group:
    /// (1/B) Σ_b Σ_j max(λ, KL_bj).
    ExampleDim,
}

impl FreeBits {
    /// The form as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            FreeBits::BatchDim => "batch-dim",
            FreeBits::Example => "example",
            FreeBits::ExampleDim => "example-dim",
        }
    }
}

/// Weigh the terms: β(t) and free bits λ (nats; 0 = off) in the given form.
pub fn loss(terms: &Terms, beta: f64, free_bits: f64, form: FreeBits) -> Loss {
    let rec_ll = terms.rec_ll.clone().mean();
    let kl_per_dim = terms.kl.clone().mean_dim(0).squeeze_dim::<1>(0);
    let kl_term = if free_bits <= 0.0 {
        kl_per_dim.clone().sum()
    } else {
        match form {
            FreeBits::BatchDim => kl_per_dim.clone().clamp_min(free_bits).sum(),
            FreeBits::Example => terms
                .kl
                .clone()
                .sum_dim(1)
                .clamp_min(free_bits)
                .mean()
                .reshape([1]),
            FreeBits::ExampleDim => terms
                .kl
                .clone()
                .clamp_min(free_bits)
                .sum_dim(1)
                .mean()
                .reshape([1]),
        }
    };
    Loss {
        loss: terms.add_penalty(kl_term.mul_scalar(beta) - rec_ll.clone()),
        rec_ll,
        kl_per_dim,
        penalty: terms.penalty_mean(),
    }
}

/// Capacity annealing (Burgess et al. 2018, eq. 8):
/// `loss = −mean log p(x|z) + γ·|mean Σ_j KL_j − C|`.
pub fn capacity_loss(terms: &Terms, gamma: f64, capacity: f64) -> Loss {
    let rec_ll = terms.rec_ll.clone().mean();
    let kl_per_dim = terms.kl.clone().mean_dim(0).squeeze_dim::<1>(0);
    let gap = kl_per_dim.clone().sum().sub_scalar(capacity).abs();
    Loss {
        loss: terms.add_penalty(gap.mul_scalar(gamma) - rec_ll.clone()),
        rec_ll,
        kl_per_dim,
        penalty: terms.penalty_mean(),
    }
}

/// Max-shifted log Σ exp along `dim` (burn 0.22 has none built in): the
/// maximum is subtracted first so that no `exp` overflows, and detached, since
/// the result does not depend on it.
///
/// # Shapes
/// - x: `[b, k]`, dim 1 -> `[b]`
pub fn logsumexp(x: Tensor<2>, dim: usize) -> Tensor<1> {
    let m = x.clone().max_dim(dim).detach();
    let s = (x - m.clone()).exp().sum_dim(dim).log();
    (m + s).squeeze_dim::<1>(dim)
}

/// The importance-weighted bound per example (Burda et al. 2015):
/// `L_k = log Σ_i w_i − log k` from log-weights `[b, k]`.
pub fn iwae_bound(log_w: Tensor<2>) -> Tensor<1> {
    let [_, k] = log_w.dims();
    logsumexp(log_w, 1).sub_scalar((k as f64).ln())
}

/// The IWAE training loss: the negative batch mean of L_k. `rec_ll` and
/// `kl_per_dim` are logged alongside, from the k samples and the posterior.
pub fn iwae_loss(log_w: Tensor<2>, log_px: Tensor<2>, kl: Tensor<2>) -> Loss {
    Loss {
        loss: iwae_bound(log_w).mean().neg(),
        rec_ll: log_px.mean(),
        kl_per_dim: kl.mean_dim(0).squeeze_dim::<1>(0),
        penalty: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::{Purpose, stream};
    use burn::tensor::{Device, TensorData};
    use rand::Rng;

    fn t2(v: Vec<f32>, r: usize, c: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [r, c]), &Device::flex())
    }

    #[test]
    fn analytic_kl_matches_monte_carlo() {
        // KL = E_q[log q(z) − log p(z)], estimated with 400k draws in f64.
        let cases = [(0.0f64, 0.0f64), (1.5, -1.0), (-0.7, 0.8), (0.2, -3.0)];
        let mut rng = stream(0, Purpose::Eval, 0, 0);
        let (means, lvs): (Vec<f32>, Vec<f32>) =
            cases.iter().map(|&(m, l)| (m as f32, l as f32)).unzip();
        let kl = crate::core::host::read(gaussian_kl(t2(means, 1, 4), t2(lvs, 1, 4)));
        for (j, &(m, lv)) in cases.iter().enumerate() {
            let s = (0.5 * lv).exp();
            let n = 400_000;
            let (mut sum, mut sumsq) = (0.0, 0.0);
            for _ in 0..n {
                let e: f64 = rng.sample(rand_distr::StandardNormal);
                let z = m + s * e;
                let v = -0.5 * e * e - 0.5 * lv + 0.5 * z * z;
                sum += v;
                sumsq += v * v;
            }
            let mean = sum / n as f64;
            let se = ((sumsq / n as f64 - mean * mean) / n as f64).sqrt();
            assert!(
                (kl[j] as f64 - mean).abs() < 5.0 * se + 1e-5,
                "dim {j}: analytic {} vs MC {mean} ± {se}",
                kl[j]
            );
        }
    }

    #[test]
    fn free_bits_clamps_each_dimension_below() {
        // KL per dim (batch means): [0.1, 2.0]; λ = 0.5 → 0.5 + 2.0.
        let terms = Terms {
            rec_ll: Tensor::from_floats([-10.0, -20.0], &Device::flex()),
            kl: t2(vec![0.0, 1.0, 0.2, 3.0], 2, 2),
            penalty: None,
        };
        let plain = loss(&terms, 1.0, 0.0, FreeBits::BatchDim)
            .loss
            .into_scalar::<f32>();
        assert!((plain - (15.0 + 2.1)).abs() < 1e-5, "{plain}");
        let fb = loss(&terms, 1.0, 0.5, FreeBits::BatchDim)
            .loss
            .into_scalar::<f32>();
        assert!((fb - (15.0 + 2.5)).abs() < 1e-5, "{fb}");
        let weighted = loss(&terms, 0.25, 0.5, FreeBits::BatchDim)
            .loss
            .into_scalar::<f32>();
        assert!((weighted - (15.0 + 0.25 * 2.5)).abs() < 1e-5, "{weighted}");
    }

    #[test]
    fn li_et_al_free_bits_hinge_per_example_and_per_example_dimension() {
        // KL rows: [0.0, 1.0] and [0.2, 3.0]; λ = 0.5, then λ = 1.5.
        let terms = Terms {
            rec_ll: Tensor::from_floats([-10.0, -20.0], &Device::flex()),
            kl: t2(vec![0.0, 1.0, 0.2, 3.0], 2, 2),
            penalty: None,
        };
        let l = |fb, form| loss(&terms, 1.0, fb, form).loss.into_scalar::<f32>() as f64 - 15.0;
        // By hand, from the definitions in docs/objective.md.
        let by_hand = |fb: f64, form: FreeBits| -> f64 {
            let rows = [[0.0, 1.0], [0.2, 3.0f64]];
            match form {
                FreeBits::BatchDim => (0..2)
                    .map(|j| ((rows[0][j] + rows[1][j]) / 2.0).max(fb))
                    .sum(),
                FreeBits::Example => rows.iter().map(|r| (r[0] + r[1]).max(fb)).sum::<f64>() / 2.0,
                FreeBits::ExampleDim => rows.iter().flatten().map(|k| k.max(fb)).sum::<f64>() / 2.0,
            }
        };
        for fb in [0.5, 1.5] {
            for form in [FreeBits::BatchDim, FreeBits::Example, FreeBits::ExampleDim] {
                let (got, want) = (l(fb, form), by_hand(fb, form));
                assert!(
                    (got - want).abs() < 1e-5,
                    "{form:?} λ={fb}: {got} vs {want}"
                );
            }
        }
        // The three differ: λ = 1.5 gives 3.1 (batch-dim), 2.35 (example), 3.6 (example-dim).
        assert!((l(1.5, FreeBits::Example) - 2.35).abs() < 1e-5);
    }

    #[test]
    fn penalty_is_added_unweighted_by_beta() {
        let terms = Terms {
            rec_ll: Tensor::from_floats([-10.0, -20.0], &Device::flex()),
            kl: t2(vec![1.0, 3.0], 2, 1),
            penalty: Some(Tensor::from_floats([4.0, 6.0], &Device::flex())),
        };
        // 15 (−rec) + β·2 (KL) + 5 (mean penalty).
        let l = loss(&terms, 0.5, 0.0, FreeBits::BatchDim)
            .loss
            .into_scalar::<f32>();
        assert!((l - (15.0 + 1.0 + 5.0)).abs() < 1e-5, "{l}");
    }

    #[test]
    fn logsumexp_is_exact_and_does_not_overflow() {
        let x = t2(vec![1000.0, 1000.0, -1000.0, 0.0, 0.5, -3.0], 2, 3);
        let got = crate::core::host::read(logsumexp(x, 1));
        let row2 = (0f64.exp() + 0.5f64.exp() + (-3f64).exp()).ln();
        assert!(
            (got[0] as f64 - (1000.0 + 2f64.ln())).abs() < 1e-3,
            "{got:?}"
        );
        assert!((got[1] as f64 - row2).abs() < 1e-5, "{got:?}");
    }

    #[test]
    fn capacity_loss_is_gamma_times_the_gap() {
        let terms = Terms {
            rec_ll: Tensor::from_floats([-10.0, -20.0], &Device::flex()),
            kl: t2(vec![1.0, 2.0, 3.0, 4.0], 2, 2),
            penalty: None,
        };
        // mean KL total = 5; C = 2 → |5 − 2| = 3; C = 8 → 3 as well.
        for c in [2.0, 8.0] {
            let l = capacity_loss(&terms, 10.0, c).loss.into_scalar::<f32>();
            assert!((l - (15.0 + 30.0)).abs() < 1e-4, "{l}");
        }
    }

    #[test]
    fn free_bits_stops_gradient_of_dimensions_below_lambda() {
        let device = Device::flex().autodiff();
        let kl = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, 2.0], [1, 2]), &device)
            .require_grad();
        let terms = Terms {
            rec_ll: Tensor::zeros([1], &device),
            kl: kl.clone(),
            penalty: None,
        };
        let grads = loss(&terms, 1.0, 0.5, FreeBits::BatchDim).loss.backward();
        let g = crate::core::host::read(kl.grad(&grads).unwrap());
        assert_eq!(g, vec![0.0, 1.0]);
    }
}
