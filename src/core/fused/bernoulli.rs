//! The Bernoulli log-likelihood Σ_d x·l − softplus(l) of data `x` under
//! logits `l`, row by row, with the vectorising softplus and σ of
//! [`crate::core::fastmath`]; its gradient is g·(x − σ(l)).

use super::{FlexFloat, contiguous, flex_tensor, slice};
use crate::core::fastmath::widest_simd;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

#[backend_extension(Flex, Autodiff)]
pub trait BernoulliOps: Backend {
    /// Σ_d x·l − softplus(l) per row: the Bernoulli log-likelihood of
    /// `x` `[B, D]` under logits `l` `[B, D]`, `[B]`. Gradient with respect
    /// to the logits: g_b·(x − σ(l)); `x` is data (no gradient).
    fn bernoulli_ll(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self>;
}

widest_simd! {
fn bern_forward_fast(l: &[f32], x: &[f32], out: &mut [f32], d: usize) => bern_forward_body
}

/// Σ_d x·l − softplus(l) for each row of `l` and `x` (16 lanes, then the rest).
#[inline(always)]
fn bern_forward_body(l: &[f32], x: &[f32], out: &mut [f32], d: usize) {
    use crate::core::fastmath::softplus;
    for ((lr, xr), o) in l.chunks_exact(d).zip(x.chunks_exact(d)).zip(out.iter_mut()) {
        let mut acc = [0f32; 16];
        let (mut lc, mut xc) = (lr.chunks_exact(16), xr.chunks_exact(16));
        for (a, b) in (&mut lc).zip(&mut xc) {
            for k in 0..16 {
                acc[k] += b[k] * a[k] - softplus(a[k]);
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for (a, b) in lc.remainder().iter().zip(xc.remainder()) {
            sum += b * a - softplus(*a);
        }
        *o = sum;
    }
}

widest_simd! {
fn bern_backward_fast(l: &[f32], x: &[f32], g: &[f32], out: &mut [f32], d: usize) => bern_backward_body
}

/// g_b·(x − σ(l)) for each row.
#[inline(always)]
fn bern_backward_body(l: &[f32], x: &[f32], g: &[f32], out: &mut [f32], d: usize) {
    use crate::core::fastmath::sigmoid;
    for (((lr, xr), gb), or) in l
        .chunks_exact(d)
        .zip(x.chunks_exact(d))
        .zip(g)
        .zip(out.chunks_exact_mut(d))
    {
        for i in 0..d {
            or[i] = gb * (xr[i] - sigmoid(lr[i]));
        }
    }
}

/// Rows per parallel block of the Bernoulli kernels.
const BERN_ROWS: usize = 32;

fn bern_forward(l: &[f32], x: &[f32], b: usize, d: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0f32; b];
    out.par_chunks_mut(BERN_ROWS)
        .zip(l.par_chunks(BERN_ROWS * d).zip(x.par_chunks(BERN_ROWS * d)))
        .for_each(|(o, (lb, xb))| bern_forward_fast(lb, xb, o, d));
    out
}

fn bern_backward(l: &[f32], x: &[f32], g: &[f32], d: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0f32; l.len()];
    out.par_chunks_mut(BERN_ROWS * d)
        .zip(l.par_chunks(BERN_ROWS * d).zip(x.par_chunks(BERN_ROWS * d)))
        .zip(g.par_chunks(BERN_ROWS))
        .for_each(|((o, (lb, xb)), gb)| bern_backward_fast(lb, xb, gb, o, d));
    out
}

impl BernoulliOps for Flex {
    fn bernoulli_ll(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (ls, l) = contiguous(&logits);
        let (_, xc) = contiguous(&x);
        let (b, d) = (ls[0], ls[1]);
        flex_tensor(bern_forward(slice(&l), slice(&xc), b, d), vec![b])
    }
}

#[derive(Debug)]
struct BernoulliBackward;

impl Backward<Flex, 1> for BernoulliBackward {
    /// The logits and the data.
    type State = (FlexFloat, FlexFloat);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node else {
            return;
        };
        let (logits, x) = ops.state;
        let (ls, l) = contiguous(&logits);
        let (_, xc) = contiguous(&x);
        let (_, g) = contiguous(&grad);
        let d = bern_backward(slice(&l), slice(&xc), slice(&g), ls[1]);
        grads.register::<Flex>(node.id, flex_tensor(d, vec![ls[0], ls[1]]));
    }
}

impl<C: CheckpointStrategy> BernoulliOps for Autodiff<Flex, C> {
    fn bernoulli_ll(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        let xp = x.into_primitive();
        match BernoulliBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let l = logits.primitive().clone();
                let out = Flex::bernoulli_ll(l.clone(), xp.clone());
                prep.finish((l, xp), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::bernoulli_ll(logits.into_primitive(), xp))
            }
        }
    }
}

/// [`BernoulliOps::bernoulli_ll`] on tensors, `[B]`.
pub fn bernoulli_ll(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as BernoulliOps>::bernoulli_ll(
        logits.into_dispatch(),
        x.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;
    use burn::tensor::{Device, Distribution};
    #[test]
    fn fused_bernoulli_equals_the_burn_graph_in_value_and_gradient() {
        use burn::tensor::activation::log_sigmoid;
        let dev = Device::flex().autodiff();
        // 70 rows (two parallel blocks and a part), 37 values (16-lane
        // chunks and a remainder), logits over a wide range.
        let (b, d) = (70, 37);
        dev.seed(7);
        let logits =
            Tensor::<2>::random([b, d], Distribution::Uniform(-30.0, 30.0), &dev).require_grad();
        let x = Tensor::<2>::random([b, d], Distribution::Uniform(0.0, 1.0), &dev);
        let w = Tensor::<1>::random([b], Distribution::Uniform(-1.0, 1.0), &dev);
        let fused = bernoulli_ll(logits.clone(), x.clone());
        let graph = (x * logits.clone() + log_sigmoid(logits.clone().neg()))
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        close(
            &crate::core::host::read(fused.clone()),
            &crate::core::host::read(graph.clone()),
            "value",
        );
        let gf = (fused * w.clone()).sum().backward();
        let gg = (graph * w).sum().backward();
        close(
            &crate::core::host::read(logits.grad(&gf).unwrap()),
            &crate::core::host::read(logits.grad(&gg).unwrap()),
            "gradient",
        );
    }
}
