//! The dense layer `x W + b` on the CPU: the bias rows written into the
//! output, then one product accumulating onto them, split by rows across
//! the threads ([`crate::core::matmul::matmul_split_rows`]); the backward
//! is two more products (dx = dy Wᵀ, dW = xᵀ dy) and a column sum (db).

use super::{FlexFloat, contiguous, flex_tensor, on_flex, slice};
use crate::core::matmul::{MatRef, Store, Threads, matmul, matmul_split_rows};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

#[backend_extension(Flex, Autodiff)]
pub trait DenseOps: Backend {
    /// A dense layer, `x W + b`: x `[B, in]`, w `[in, out]`, b `[out]` →
    /// `[B, out]`. Gradients: dx = dy Wᵀ, dW = xᵀ dy, db = Σ_rows dy.
    fn linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `y = x W + b` into `y` (cleared first), with row-major x `[rows, in]`,
/// W `[in, out]`, b `[out]`: the bias rows are written, then the product
/// accumulates onto them. `threaded` splits large products across the
/// pool's threads ([`matmul_split_rows`]); callers that already run one task
/// per thread (the IWAE fast path) pass false.
pub(crate) fn dense_into(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    rows: usize,
    y: &mut Vec<f32>,
    threaded: bool,
) {
    let (inp, out) = (w.len() / b.len().max(1), b.len());
    assert_eq!(x.len(), rows * inp, "input does not match the layer");
    y.clear();
    for _ in 0..rows {
        y.extend_from_slice(b);
    }
    let (x, w) = (
        MatRef::row_major(x, rows, inp),
        MatRef::row_major(w, inp, out),
    );
    if threaded {
        matmul_split_rows(y, x, w, Store::Accumulate);
    } else {
        matmul(y, x, w, Store::Accumulate, Threads::One);
    }
}

impl DenseOps for Flex {
    fn linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (xs, x) = contiguous(&x);
        let (ws, w) = contiguous(&w);
        let (_, b) = contiguous(&b);
        let (rows, inp, out) = (xs[0], ws[0], ws[1]);
        assert_eq!(xs[1], inp, "linear: input width does not match the weights");
        assert_eq!(
            slice(&b).len(),
            out,
            "linear: bias length does not match the weights"
        );
        let mut y = Vec::new();
        dense_into(slice(&x), slice(&w), slice(&b), rows, &mut y, true);
        flex_tensor(y, vec![rows, out])
    }
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// The input and the weights, contiguous.
    type State = (FlexFloat, FlexFloat);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [nx, nw, nb] = ops.parents;
        let (x, w) = ops.state;
        let (xs, ws) = (x.layout().shape().to_vec(), w.layout().shape().to_vec());
        let (rows, inp, out) = (xs[0], ws[0], ws[1]);
        let (_, dy) = contiguous(&grad);
        let (x, w, dy) = (slice(&x), slice(&w), slice(&dy));
        if let Some(node) = nx {
            // dx [B, in] = dy [B, out] · Wᵀ [out, in]
            let mut dx = vec![0f32; rows * inp];
            matmul_split_rows(
                &mut dx,
                MatRef::row_major(dy, rows, out),
                MatRef::row_major(w, inp, out).t(),
                Store::Overwrite,
            );
            grads.register::<Flex>(node.id, flex_tensor(dx, vec![rows, inp]));
        }
        if let Some(node) = nw {
            // dW [in, out] = xᵀ [in, B] · dy [B, out]
            let mut dw = vec![0f32; inp * out];
            matmul_split_rows(
                &mut dw,
                MatRef::row_major(x, rows, inp).t(),
                MatRef::row_major(dy, rows, out),
                Store::Overwrite,
            );
            grads.register::<Flex>(node.id, flex_tensor(dw, vec![inp, out]));
        }
        if let Some(node) = nb {
            let mut db = vec![0f32; out];
            for row in dy.chunks_exact(out.max(1)) {
                db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
            }
            grads.register::<Flex>(node.id, flex_tensor(db, vec![out]));
        }
    }
}

impl<C: CheckpointStrategy> DenseOps for Autodiff<Flex, C> {
    fn linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match LinearBackward
            .prepare::<C>([x.node(), w.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (_, xc) = contiguous(x.primitive());
                let (_, wc) = contiguous(w.primitive());
                let out = Flex::linear(xc.clone(), wc.clone(), b.into_primitive());
                prep.finish((xc, wc), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::linear(
                x.into_primitive(),
                w.into_primitive(),
                b.into_primitive(),
            )),
        }
    }
}

/// A dense layer on a batch of rows, `[B, in]` → `[B, out]`: on the CPU one
/// fused operation ([`DenseOps::linear`]: the bias written into the output
/// before the product accumulates onto it, products split by rows across
/// the threads, a hand-written backward); elsewhere, and for a layer
/// without bias, burn's `Linear::forward`.
pub fn linear(layer: &burn::nn::Linear, x: Tensor<2>) -> Tensor<2> {
    match &layer.bias {
        Some(b) if on_flex(&x) => Tensor::from_dispatch(<Dispatch as DenseOps>::linear(
            x.into_dispatch(),
            layer.weight.val().into_dispatch(),
            b.val().into_dispatch(),
        )),
        _ => layer.forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;
    use burn::tensor::{Device, Distribution};
    #[test]
    fn fused_linear_equals_burns_linear_in_value_and_gradient() {
        use crate::core::host::read;
        use burn::nn::LinearConfig;
        let dev = Device::flex().autodiff();
        dev.seed(11);
        // One product below the threading threshold, one above it with a
        // row count that does not split evenly; input tracked or data.
        for (rows, inp, out, track_x) in [
            (5, 7, 3, true),
            (301, 197, 131, true),
            (130, 300, 90, false),
        ] {
            let layer = LinearConfig::new(inp, out).init(&dev);
            let x0 = Tensor::<2>::random([rows, inp], Distribution::Normal(0.0, 1.0), &dev);
            let r = Tensor::<2>::random([rows, out], Distribution::Normal(0.0, 1.0), &dev);
            let run = |fused: bool| {
                let x = if track_x {
                    x0.clone().require_grad()
                } else {
                    x0.clone()
                };
                let y = if fused {
                    linear(&layer, x.clone())
                } else {
                    layer.forward(x.clone())
                };
                // A loss that weighs every output differently.
                let grads = (y.clone() * r.clone()).sum().backward();
                let gx = track_x.then(|| read(x.grad(&grads).unwrap()));
                let gw = read(layer.weight.grad(&grads).unwrap());
                let gb = read(layer.bias.as_ref().unwrap().grad(&grads).unwrap());
                (read(y.inner()), gx, gw, gb)
            };
            let (y, gx, gw, gb) = run(true);
            let (y0, gx0, gw0, gb0) = run(false);
            close(&y, &y0, "y");
            if let (Some(a), Some(b)) = (gx, gx0) {
                close(&a, &b, "dx");
            }
            close(&gw, &gw0, "dW");
            close(&gb, &gb0, "db");
        }
    }
}
