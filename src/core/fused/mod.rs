//! Fused CPU operations with their own backward, for the models' hot
//! loops, one file per operation:
//!
//! - [`dense`]: the dense layer `x W + b` ([`linear`], and [`dense_into`] on
//!   plain slices for the IWAE fast path);
//! - [`bernoulli`]: the Bernoulli log-likelihood of binary data under logits
//!   ([`bernoulli_ll`]);
//! - [`lstm`]: the LSTM cell ([`lstm_cell`], decoding) and the whole layer
//!   over time ([`lstm_seq`], training, with backpropagation through time);
//! - [`cross_entropy`]: the masked log-softmax cross-entropy over a
//!   vocabulary ([`masked_log_softmax_at`]).
//!
//! Each is written as one pass over memory each way, with the vectorising
//! transcendentals of [`super::fastmath`] and the matrix products of
//! [`super::matmul`]; together they replace dozens of burn operations per
//! step (each with its own allocation, autodiff node and scalar `expf`).
//! burn runs each inside its autodiff graph through its own
//! `#[backend_extension(Flex, Autodiff)]` trait: the forward is the `Flex`
//! impl, the gradient a hand-written `Backward` of the `Autodiff<Flex>` impl.
//!
//! On other devices (wgpu) the callers run the unfused burn graph instead
//! ([`on_flex`]); each op's tests check that both give the same values and
//! gradients.
//!
//! Adding an op: a file here with its kernels, its extension trait, the two
//! impls, a public function on tensors and a test against burn's graph; a
//! `mod` line and a re-export below.

pub mod bernoulli;
pub mod cross_entropy;
pub mod dense;
pub mod lstm;

pub use bernoulli::{BernoulliOps, bernoulli_ll};
pub use cross_entropy::{CrossEntropyOps, masked_log_softmax_at};
pub(crate) use dense::dense_into;
pub use dense::{DenseOps, linear};
pub use lstm::{LstmOps, lstm_cell, lstm_seq};

use burn::backend::{DispatchDevice, Flex};
use burn::tensor::{Tensor, TensorData};

type FlexFloat = <Flex as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// Whether `t` lives on the CPU backend (with or without autodiff), where
/// the fused operations run.
pub fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    matches!(
        t.device().as_dispatch().clone().inner(),
        DispatchDevice::Flex(_)
    )
}

/// A flex tensor made contiguous (a no-op when it is), with its shape.
fn contiguous(t: &FlexFloat) -> (Vec<usize>, FlexFloat) {
    let c = if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    };
    (c.layout().shape().to_vec(), c)
}

/// The values of a contiguous flex tensor.
fn slice(t: &FlexFloat) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

fn flex_tensor(v: Vec<f32>, shape: Vec<usize>) -> FlexFloat {
    burn::backend::flex::FlexTensor::from_data(TensorData::new(v, shape))
}

/// Asserts that a fused result matches burn's graph to 10⁻⁵ of the
/// reference's largest value.
#[cfg(test)]
fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|x| x.abs()).fold(0f32, f32::max).max(1e-6);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * scale,
            "{what}[{i}]: fused {x} vs graph {y}"
        );
    }
}
