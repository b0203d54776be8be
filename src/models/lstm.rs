//! An LSTM layer with its four gates in one matrix each way.
//!
//! burn's `Lstm` runs eight small matrix products per step (one per gate
//! and input). Here the input projection of every step is one product
//! `[B·T, d_in] × [d_in, 4h]` before the loop, and each step adds one
//! `[B, h] × [h, 4h]` product for the recurrence — the fused cell of burn's
//! `examples/modern-lstm`, with the input half hoisted out of the loop. Gate
//! order i, f, g, o (as PyTorch): c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c').
//!
//! Sequences are padded on the right, so a sequence's state at its last real
//! token never sees the padding after it: [`FusedLstm::last_hidden`] picks
//! that state for each sequence (what an encoder reads).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

/// The state (c, h), each `[batch, hidden]`.
#[derive(Clone, Debug)]
pub struct State {
    pub cell: Tensor<2>,
    pub hidden: Tensor<2>,
}

impl State {
    /// Zeros for `batch` rows.
    pub fn zeros(batch: usize, hidden: usize, device: &Device) -> Self {
        Self {
            cell: Tensor::zeros([batch, hidden], device),
            hidden: Tensor::zeros([batch, hidden], device),
        }
    }
}

/// One LSTM layer, `d_in → hidden`.
#[derive(Module, Debug)]
pub struct FusedLstm {
    /// Input to the four gates, with their bias: `[d_in, 4h]`.
    pub input: Linear,
    /// Hidden state to the four gates, no bias: `[h, 4h]`.
    pub recurrent: Linear,
    #[module(skip)]
    pub hidden: usize,
}

impl FusedLstm {
    /// Weights U(−1/√h, 1/√h), as PyTorch's `nn.LSTM`.
    pub fn new(d_in: usize, hidden: usize, device: &Device) -> Self {
        Self::uniform(d_in, hidden, 1.0 / (hidden as f64).sqrt(), device)
    }

    /// Weights and bias U(−a, a).
    pub fn uniform(d_in: usize, hidden: usize, a: f64, device: &Device) -> Self {
        let init = Initializer::Uniform { min: -a, max: a };
        Self {
            input: LinearConfig::new(d_in, 4 * hidden)
                .with_initializer(init.clone())
                .init(device),
            recurrent: LinearConfig::new(hidden, 4 * hidden)
                .with_bias(false)
                .with_initializer(init)
                .init(device),
            hidden,
        }
    }

    /// One step from pre-computed input gates `[B, 4h]`: on the CPU the
    /// fused cell of [`crate::core::fused::lstm_cell`], elsewhere burn's
    /// operations gate by gate.
    fn cell(&self, gates_x: Tensor<2>, s: State) -> State {
        let gates = gates_x + self.recurrent.forward(s.hidden);
        if crate::core::fused::on_flex(&gates) {
            let h = self.hidden;
            let both = crate::core::fused::lstm_cell(gates, s.cell);
            return State {
                cell: both.clone().narrow(1, 0, h),
                hidden: both.narrow(1, h, h),
            };
        }
        let mut g = gates.chunk(4, 1).into_iter();
        let (i, f, c, o) = (
            g.next().expect("4 gates"),
            g.next().expect("4 gates"),
            g.next().expect("4 gates"),
            g.next().expect("4 gates"),
        );
        let cell = sigmoid(f) * s.cell + sigmoid(i) * c.tanh();
        let hidden = sigmoid(o) * cell.clone().tanh();
        State { cell, hidden }
    }

    /// One step on input `x` `[B, d_in]` (step-by-step decoding).
    pub fn step(&self, x: Tensor<2>, s: State) -> State {
        self.cell(self.input.forward(x), s)
    }

    /// Run over `x` `[B, T, d_in]` from `s`: the hidden states `[B, T, h]`
    /// (see [`FusedLstm::last_hidden`] for each sequence's last one). On the
    /// CPU the whole layer is one fused operation
    /// ([`crate::core::fused::lstm_seq`]: its backward computes the
    /// recurrent weights' gradient as one product over all steps, as
    /// PyTorch's does); elsewhere burn's operations step by step.
    pub fn forward(&self, x: Tensor<3>, mut s: State) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let h = self.hidden;
        let gates = self.input.forward(x);
        if crate::core::fused::on_flex(&s.cell) {
            return crate::core::fused::lstm_seq(
                gates,
                self.recurrent.weight.val(),
                s.cell,
                s.hidden,
            );
        }
        let mut outs = Vec::with_capacity(t);
        for step in 0..t {
            let g = gates.clone().narrow(1, step, 1).reshape([b, 4 * h]);
            s = self.cell(g, s);
            outs.push(s.hidden.clone());
        }
        Tensor::stack(outs, 1)
    }

    /// The hidden state at each sequence's last real position: row r of
    /// `outs` `[B, T, h]` at `lengths[r] − 1`. Padding sits on the right, so
    /// what follows a sequence's end never reaches its state.
    pub fn last_hidden(outs: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let [b, t, h] = outs.dims();
        let idx: Vec<i64> = lengths
            .iter()
            .enumerate()
            .map(|(r, &l)| (r * t + l.clamp(1, t) - 1) as i64)
            .collect();
        let device = outs.device();
        outs.reshape([b * t, h]).select(
            0,
            Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [b]), &device),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain f64 LSTM step from the same weights, gate by gate.
    fn reference(
        w_x: &[f32],
        b_x: &[f32],
        w_h: &[f32],
        xs: &[Vec<f64>],
        d: usize,
        h: usize,
    ) -> Vec<f64> {
        let (mut c, mut hs) = (vec![0.0; h], vec![0.0; h]);
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        for x in xs {
            let mut g = vec![0.0; 4 * h];
            for (j, gj) in g.iter_mut().enumerate() {
                *gj = b_x[j] as f64;
                for k in 0..d {
                    *gj += x[k] * w_x[k * 4 * h + j] as f64;
                }
                for k in 0..h {
                    *gj += hs[k] * w_h[k * 4 * h + j] as f64;
                }
            }
            for j in 0..h {
                c[j] = sig(g[h + j]) * c[j] + sig(g[j]) * g[2 * h + j].tanh();
                hs[j] = sig(g[3 * h + j]) * c[j].tanh();
            }
        }
        hs
    }

    #[test]
    fn lstm_equals_the_gate_by_gate_reference_and_ends_where_each_sequence_does() {
        let dev = Device::flex();
        dev.seed(4);
        let (d, h, t) = (3, 5, 4);
        let lstm = FusedLstm::new(d, h, &dev);
        let w_x = crate::core::host::read(lstm.input.weight.val());
        let b_x = crate::core::host::read(lstm.input.bias.as_ref().unwrap().val());
        let w_h = crate::core::host::read(lstm.recurrent.weight.val());
        let xs: Vec<Vec<f64>> = (0..t)
            .map(|s| {
                (0..d)
                    .map(|k| ((s * 7 + k * 3) % 5) as f64 * 0.4 - 0.8)
                    .collect()
            })
            .collect();
        let flat: Vec<f32> = xs.iter().flatten().map(|&v| v as f32).collect();
        // Two rows: the full sequence, and the same one masked after 2 steps.
        let x = Tensor::<3>::from_data(
            TensorData::new([flat.clone(), flat].concat(), [2, t, d]),
            &dev,
        );
        let outs = lstm.forward(x, State::zeros(2, h, &dev));
        let got = crate::core::host::read(FusedLstm::last_hidden(outs, &[4, 2]));
        let full = reference(&w_x, &b_x, &w_h, &xs, d, h);
        let short = reference(&w_x, &b_x, &w_h, &xs[..2], d, h);
        for j in 0..h {
            assert!(
                (got[j] as f64 - full[j]).abs() < 1e-5,
                "{} vs {}",
                got[j],
                full[j]
            );
            assert!((got[h + j] as f64 - short[j]).abs() < 1e-5);
        }
    }
}
