//! Log-likelihoods log p(x | decoder output), per example, every
//! normalising constant kept: the Bernoulli and Gaussian densities of image
//! decoders, and the categorical of token decoders with padding masked out.
//! Models own the parameters (logits, a learned variance); these are the
//! densities.

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor};

/// Σ_i x_i·l_i + log σ(−l_i) (= x·l − softplus(l)): Bernoulli from logits,
/// one transcendental per value.
///
/// # Shapes
/// - x, logits: `[batch, dim]` -> `[batch]`
///
/// On the CPU this runs as one fused operation with its own backward
/// (`core::fused::bernoulli_ll`: vectorised softplus, gradient x − σ(l));
/// elsewhere, burn's graph.
pub fn bernoulli(x: Tensor<2>, logits: Tensor<2>) -> Tensor<1> {
    if crate::core::fused::on_flex(&logits) {
        return crate::core::fused::bernoulli_ll(logits, x);
    }
    bernoulli_graph(x, logits)
}

/// [`bernoulli`] as burn's graph (every device; the reference of the fused op).
pub fn bernoulli_graph(x: Tensor<2>, logits: Tensor<2>) -> Tensor<1> {
    (x * logits.clone() + log_sigmoid(logits.neg()))
        .sum_dim(1)
        .squeeze_dim::<1>(1)
}

/// Σ_i −½(log 2π + log σ²_i + (x_i − μ_i)²/σ²_i).
///
/// # Shapes
/// - x, mean: `[batch, dim]`, log_var: `[1, dim]` or `[1, 1]` -> `[batch]`
pub fn gaussian(x: Tensor<2>, mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let sq = (x - mean).square() * log_var.clone().neg().exp();
    (sq + log_var + (2.0 * std::f64::consts::PI).ln())
        .mul_scalar(-0.5)
        .sum_dim(1)
        .squeeze_dim::<1>(1)
}

/// Σ_t mask_t · log softmax(logits_t)[id_t]: the log-probability of each
/// sequence's real tokens; padded positions count for nothing (unlike a
/// cross-entropy averaged over every row, padding included).
///
/// # Shapes
/// - ids: `[batch, T]`, mask: `[batch, T]`, logits: `[batch, T, vocab]` -> `[batch]`
///
/// On the CPU this runs as one fused operation with its own backward
/// ([`super::fused::masked_log_softmax_at`]); elsewhere as burn's graph.
pub fn categorical(ids: Tensor<2, Int>, mask: Tensor<2>, logits: Tensor<3>) -> Tensor<1> {
    let [b, t] = ids.dims();
    if super::fused::on_flex(&mask) {
        let v = logits.dims()[2];
        return super::fused::masked_log_softmax_at(
            logits.reshape([b * t, v]),
            ids.reshape([b * t]),
            mask.reshape([b * t]),
        )
        .reshape([b, t])
        .sum_dim(1)
        .squeeze_dim::<1>(1);
    }
    categorical_graph(ids, mask, logits)
}

/// [`categorical`] as burn's operations (any device; the fused op's reference).
pub fn categorical_graph(ids: Tensor<2, Int>, mask: Tensor<2>, logits: Tensor<3>) -> Tensor<1> {
    let [b, t] = ids.dims();
    let per_token = log_softmax(logits, 2)
        .gather(2, ids.reshape([b, t, 1]))
        .reshape([b, t]);
    (per_token * mask).sum_dim(1).squeeze_dim::<1>(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn categorical_sums_the_log_softmax_of_real_tokens_only() {
        let dev = Device::flex();
        // Two sequences over a vocabulary of 3, the second one token long.
        let l: [[[f32; 3]; 2]; 2] = [
            [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]],
            [[2.0, 2.0, 2.0], [9.0, -9.0, 0.0]],
        ];
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 0, 0], [2, 2]), &dev);
        let mask = Tensor::<2>::from_floats([[1.0, 1.0], [1.0, 0.0]], &dev);
        let got = crate::core::host::read(categorical(ids, mask, Tensor::from_floats(l, &dev)));
        // By hand, in f64: log softmax at the chosen id.
        let ls = |row: [f32; 3], k: usize| {
            let m = row
                .iter()
                .map(|&v| v as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            row[k] as f64 - m - z.ln()
        };
        let want = [ls(l[0][0], 1) + ls(l[0][1], 2), ls(l[1][0], 0)];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-5, "{g} vs {w}");
        }
        // The padded position's huge logit gap changed nothing: −ln 3 alone.
        assert!((got[1] as f64 + 3f64.ln()).abs() < 1e-5);
        // The graph (other devices) gives the same.
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 0, 0], [2, 2]), &dev);
        let mask = Tensor::<2>::from_floats([[1.0, 1.0], [1.0, 0.0]], &dev);
        let graph =
            crate::core::host::read(categorical_graph(ids, mask, Tensor::from_floats(l, &dev)));
        for (g, w) in graph.iter().zip(&got) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
    }
}
