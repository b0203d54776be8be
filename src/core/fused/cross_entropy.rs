//! The masked cross-entropy of the text models: mask_r · log
//! softmax(logits_r)[target_r] per row, one pass for the row's log Σ exp
//! (kept for the backward) and one for the gradient w_r·(onehot − softmax).

use super::{FlexFloat, contiguous, flex_tensor, slice};
use crate::core::fastmath::{exp_nonpositive, widest_simd};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Int, Tensor};

#[backend_extension(Flex, Autodiff)]
pub trait CrossEntropyOps: Backend {
    /// mask_r · log softmax(logits_r)[target_r] per row: logits `[N, V]`,
    /// targets `[N]`, mask `[N]` (a constant) → `[N]`.
    fn masked_log_softmax_at(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Per row: log Σ exp of the logits (max-shifted), `[N]`.
fn row_lse(logits: &[f32], n: usize, v: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0f32; n];
    // Rows are independent: blocks of 64 on the thread pool.
    out.par_chunks_mut(64)
        .zip(logits.par_chunks(64 * v))
        .for_each(|(o, l)| row_lse_fast(l, o, v));
    out
}

widest_simd! {
fn row_lse_fast(logits: &[f32], out: &mut [f32], v: usize) => row_lse_body
}

#[inline(always)]
fn row_lse_body(logits: &[f32], out: &mut [f32], v: usize) {
    for (row, o) in logits.chunks_exact(v).zip(out.iter_mut()) {
        let mut mx = [f32::NEG_INFINITY; 16];
        let mut chunks = row.chunks_exact(16);
        for ch in &mut chunks {
            for k in 0..16 {
                mx[k] = mx[k].max(ch[k]);
            }
        }
        let m = chunks.remainder().iter().copied().fold(
            mx.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            f32::max,
        );
        let mut acc = [0f32; 16];
        let mut chunks = row.chunks_exact(16);
        for ch in &mut chunks {
            for k in 0..16 {
                acc[k] += exp_nonpositive(ch[k] - m);
            }
        }
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|&l| exp_nonpositive(l - m))
            .sum();
        *o = m + (acc.iter().sum::<f32>() + tail).ln();
    }
}

widest_simd! {
/// d logits = w_r · (onehot(t_r) − softmax(l_r)) per row, with w_r = grad_r · mask_r.
fn ce_backward_fast(logits: &[f32], lse: &[f32], w: &[f32], out: &mut [f32], v: usize) => ce_backward_body
}

#[inline(always)]
fn ce_backward_body(logits: &[f32], lse: &[f32], w: &[f32], out: &mut [f32], v: usize) {
    for (((row, o), &m), &wr) in logits
        .chunks_exact(v)
        .zip(out.chunks_exact_mut(v))
        .zip(lse)
        .zip(w)
    {
        if wr == 0.0 {
            continue;
        }
        for k in 0..v {
            o[k] = -wr * exp_nonpositive(row[k] - m);
        }
    }
}

/// Targets as row indices.
fn targets_of(t: IntTensor<Flex>) -> Vec<usize> {
    let d = t.into_data();
    d.convert::<i64>()
        .try_into_vec::<i64>()
        .expect("integer targets")
        .into_iter()
        .map(|i| i as usize)
        .collect()
}

fn ce_forward(logits: &[f32], lse: &[f32], targets: &[usize], mask: &[f32], v: usize) -> Vec<f32> {
    (0..targets.len())
        .map(|r| {
            if mask[r] == 0.0 {
                0.0
            } else {
                mask[r] * (logits[r * v + targets[r]] - lse[r])
            }
        })
        .collect()
}

impl CrossEntropyOps for Flex {
    fn masked_log_softmax_at(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (ls, l) = contiguous(&logits);
        let (_, m) = contiguous(&mask);
        let t = targets_of(targets);
        let (n, v) = (ls[0], ls[1]);
        let lse = row_lse(slice(&l), n, v);
        flex_tensor(ce_forward(slice(&l), &lse, &t, slice(&m), v), vec![n])
    }
}

#[derive(Debug)]
struct SoftmaxCeBackward;

impl Backward<Flex, 1> for SoftmaxCeBackward {
    /// The logits, each row's log Σ exp, the targets and the mask.
    type State = (FlexFloat, Vec<f32>, Vec<usize>, Vec<f32>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node else {
            return;
        };
        let (logits, lse, targets, mask) = ops.state;
        let (ls, l) = contiguous(&logits);
        let (_, g) = contiguous(&grad);
        let (n, v) = (ls[0], ls[1]);
        let mut d = vec![0f32; n * v];
        let w: Vec<f32> = slice(&g).iter().zip(&mask).map(|(g, m)| g * m).collect();
        {
            use rayon::prelude::*;
            d.par_chunks_mut(64 * v)
                .zip(slice(&l).par_chunks(64 * v))
                .zip(lse.par_chunks(64).zip(w.par_chunks(64)))
                .for_each(|((dd, ll), (ls, ww))| ce_backward_fast(ll, ls, ww, dd, v));
        }
        for r in 0..n {
            d[r * v + targets[r]] += w[r];
        }
        grads.register::<Flex>(node.id, flex_tensor(d, vec![n, v]));
    }
}

impl<C: CheckpointStrategy> CrossEntropyOps for Autodiff<Flex, C> {
    fn masked_log_softmax_at(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let m = mask.into_primitive();
        match SoftmaxCeBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (ls, lp) = contiguous(logits.primitive());
                let (_, mc) = contiguous(&m);
                let mv = slice(&mc).to_vec();
                let t = targets_of(targets);
                let (n, v) = (ls[0], ls[1]);
                let lse = row_lse(slice(&lp), n, v);
                let out = flex_tensor(ce_forward(slice(&lp), &lse, &t, &mv, v), vec![n]);
                prep.finish((lp, lse, t, mv), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::masked_log_softmax_at(
                logits.into_primitive(),
                targets,
                m,
            )),
        }
    }
}

/// [`CrossEntropyOps::masked_log_softmax_at`] on tensors, `[N]`.
pub fn masked_log_softmax_at(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    mask: Tensor<1>,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as CrossEntropyOps>::masked_log_softmax_at(
        logits.into_dispatch(),
        targets.into_dispatch(),
        mask.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;
    use burn::tensor::activation::log_softmax;
    use burn::tensor::{Device, Distribution, TensorData};
    #[test]
    fn fused_cross_entropy_equals_the_burn_graph_in_value_and_gradient() {
        let dev = Device::flex().autodiff();
        dev.seed(12);
        let (n, v) = (9, 37);
        let logits =
            Tensor::<2>::random([n, v], Distribution::Normal(0.0, 4.0), &dev).require_grad();
        let targets: Vec<i64> = (0..n as i64).map(|i| (i * 13) % v as i64).collect();
        let t = Tensor::<1, Int>::from_data(TensorData::new(targets.clone(), [n]), &dev);
        let mask_v: Vec<f32> = (0..n).map(|i| if i % 4 == 3 { 0.0 } else { 1.0 }).collect();
        let mask = Tensor::<1>::from_data(TensorData::new(mask_v.clone(), [n]), &dev);
        let graph = log_softmax(logits.clone(), 1)
            .gather(1, t.clone().reshape([n, 1]))
            .reshape([n])
            * mask.clone();
        let fused = masked_log_softmax_at(logits.clone(), t, mask);
        let read = |t: Tensor<1>| crate::core::host::read(t);
        close(&read(fused.clone()), &read(graph.clone()), "value");
        let w = Tensor::<1>::from_data(
            TensorData::new((0..n).map(|i| 0.5 + i as f32).collect::<Vec<f32>>(), [n]),
            &dev,
        );
        let gf = (fused * w.clone()).sum().backward();
        let gg = (graph * w).sum().backward();
        close(
            &crate::core::host::read(logits.grad(&gf).unwrap()),
            &crate::core::host::read(logits.grad(&gg).unwrap()),
            "d logits",
        );
    }
}
