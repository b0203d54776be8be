//! The LSTM on the CPU: the single-step cell (decoding) and the whole
//! layer over time (training), with their kernels, the sequence's forward
//! tape and its backpropagation through time. Both share one cell kernel
//! pair (forward writing the activations the backward reads); the
//! recurrent products go through [`crate::core::matmul`].

use super::{FlexFloat, contiguous, flex_tensor, slice};
use crate::core::fastmath::{sigmoid, tanh, widest_simd};
use crate::core::matmul::{MatRef, Store, Threads, matmul};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

#[backend_extension(Flex, Autodiff)]
pub trait LstmOps: Backend {
    /// One LSTM step's elementwise half: from the pre-activation gates
    /// `[B, 4h]` (order i, f, g, o) and the cell `[B, h]`, the new cell and
    /// hidden state side by side, `[B, 2h]` = `[c' | h']`.
    fn lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self>;

    /// A whole LSTM layer over time: from the input's gate projections
    /// `xg` `[B, T, 4h]` (bias included), the recurrent weights `w` `[h, 4h]`
    /// and the initial state `c0`, `h0` `[B, h]`, the hidden states `[B, T, h]`.
    /// Its backward runs backpropagation through time with the recurrent
    /// weights' gradient as one matrix product over all steps.
    fn lstm_seq(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The single-step cell (decoding) on the host: `[c' | h']` per row, from
/// the sequence op's kernel.
fn cell_forward(gates: &[f32], cell: &[f32], b: usize, h: usize) -> Vec<f32> {
    let (_, c, hh, _) = cell_activations(gates, cell, b, h);
    let mut out = vec![0f32; b * 2 * h];
    for r in 0..b {
        out[r * 2 * h..r * 2 * h + h].copy_from_slice(&c[r * h..(r + 1) * h]);
        out[r * 2 * h + h..(r + 1) * 2 * h].copy_from_slice(&hh[r * h..(r + 1) * h]);
    }
    out
}

/// The activated gates, c', h' and tanh c' of one step.
fn cell_activations(
    gates: &[f32],
    cell: &[f32],
    b: usize,
    h: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut acts = vec![0f32; b * 4 * h];
    let (mut c, mut hh, mut tc) = (vec![0f32; b * h], vec![0f32; b * h], vec![0f32; b * h]);
    cell_forward_tape(gates, cell, &mut acts, &mut c, &mut hh, &mut tc, h);
    (acts, c, hh, tc)
}

widest_simd! {
/// The sequence op's cell: the activated gates (i, f, g, o after σ, σ,
/// tanh, σ: what the backward needs), c', h' and tanh c'. Each output is
/// its own slice and rows are indexed, not split: LLVM then knows no store
/// aliases a load and vectorises the loop over j.
fn cell_forward_tape(gates: &[f32], cell: &[f32], acts: &mut [f32], c_out: &mut [f32], h_out: &mut [f32], tc_out: &mut [f32], h: usize) => cell_forward_tape_body
}

#[inline(always)]
fn cell_forward_tape_body(
    gates: &[f32],
    cell: &[f32],
    acts: &mut [f32],
    c_out: &mut [f32],
    h_out: &mut [f32],
    tc_out: &mut [f32],
    h: usize,
) {
    let rows = cell.len() / h;
    assert!(gates.len() >= rows * 4 * h && acts.len() >= rows * 4 * h);
    assert!(c_out.len() >= rows * h && h_out.len() >= rows * h && tc_out.len() >= rows * h);
    for r in 0..rows {
        let (g, a) = (r * 4 * h, r * h);
        for j in 0..h {
            let i = sigmoid(gates[g + j]);
            let f = sigmoid(gates[g + h + j]);
            let gv = tanh(gates[g + 2 * h + j]);
            let o = sigmoid(gates[g + 3 * h + j]);
            acts[g + j] = i;
            acts[g + h + j] = f;
            acts[g + 2 * h + j] = gv;
            acts[g + 3 * h + j] = o;
            let c2 = f * cell[a + j] + i * gv;
            let t = tanh(c2);
            c_out[a + j] = c2;
            tc_out[a + j] = t;
            h_out[a + j] = o * t;
        }
    }
}

widest_simd! {
/// The sequence op's cell backward, from the activated gates and tanh c'
/// (no transcendental left): d gates (pre-activation) and d c_prev.
fn cell_backward_tape(acts: &[f32], cell: &[f32], tc: &[f32], dc_out: &[f32], dh: &[f32], dg: &mut [f32], dc_prev: &mut [f32], h: usize) => cell_backward_tape_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell_backward_tape_body(
    acts: &[f32],
    cell: &[f32],
    tc: &[f32],
    dc_out: &[f32],
    dh: &[f32],
    dg: &mut [f32],
    dc_prev: &mut [f32],
    h: usize,
) {
    let rows = cell.len() / h;
    assert!(acts.len() >= rows * 4 * h && dg.len() >= rows * 4 * h);
    assert!(
        tc.len() >= rows * h
            && dc_out.len() >= rows * h
            && dh.len() >= rows * h
            && dc_prev.len() >= rows * h
    );
    for r in 0..rows {
        let (g, a) = (r * 4 * h, r * h);
        for j in 0..h {
            let (i, f, gg, o) = (
                acts[g + j],
                acts[g + h + j],
                acts[g + 2 * h + j],
                acts[g + 3 * h + j],
            );
            let t = tc[a + j];
            let dc = dc_out[a + j] + dh[a + j] * o * (1.0 - t * t);
            dg[g + j] = dc * gg * i * (1.0 - i);
            dg[g + h + j] = dc * cell[a + j] * f * (1.0 - f);
            dg[g + 2 * h + j] = dc * i * (1.0 - gg * gg);
            dg[g + 3 * h + j] = dh[a + j] * t * o * (1.0 - o);
            dc_prev[a + j] = dc * f;
        }
    }
}

/// The single-step cell's backward: from the gradient of `[c' | h']`, the
/// gradients of the gates (pre-activation) and of the previous cell, by the
/// sequence op's kernels (the activations recomputed).
fn cell_backward(
    gates: &[f32],
    cell: &[f32],
    grad: &[f32],
    b: usize,
    h: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (acts, _, _, tc) = cell_activations(gates, cell, b, h);
    let (mut dc_out, mut dh) = (vec![0f32; b * h], vec![0f32; b * h]);
    for r in 0..b {
        dc_out[r * h..(r + 1) * h].copy_from_slice(&grad[r * 2 * h..r * 2 * h + h]);
        dh[r * h..(r + 1) * h].copy_from_slice(&grad[r * 2 * h + h..(r + 1) * 2 * h]);
    }
    let mut dg = vec![0f32; b * 4 * h];
    let mut dc_prev = vec![0f32; b * h];
    cell_backward_tape(&acts, cell, &tc, &dc_out, &dh, &mut dg, &mut dc_prev, h);
    (dg, dc_prev)
}

/// What the sequence forward keeps for its backward, time-major: the
/// activated gates `[T][B][4h]`, tanh of each new cell `[T][B][h]`, the
/// cells and hidden states `[T+1][B][h]` (index 0 the initial state).
struct SeqTape {
    gates: Vec<f32>,
    tanh_cells: Vec<f32>,
    cells: Vec<f32>,
    hiddens: Vec<f32>,
    b: usize,
    t: usize,
    h: usize,
}

impl std::fmt::Debug for SeqTape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeqTape[B={}, T={}, h={}]", self.b, self.t, self.h)
    }
}

/// The forward over time, and the hidden states `[B, T, h]`.
fn seq_forward(
    xg: &[f32],
    w: &[f32],
    c0: &[f32],
    h0: &[f32],
    b: usize,
    t: usize,
    h: usize,
) -> (SeqTape, Vec<f32>) {
    let g4 = 4 * h;
    let mut gates = vec![0f32; t * b * g4];
    let mut cells = vec![0f32; (t + 1) * b * h];
    let mut hiddens = vec![0f32; (t + 1) * b * h];
    cells[..b * h].copy_from_slice(c0);
    hiddens[..b * h].copy_from_slice(h0);
    let mut tanh_cells = vec![0f32; t * b * h];
    let mut pre = vec![0f32; b * g4];
    for s in 0..t {
        for r in 0..b {
            pre[r * g4..(r + 1) * g4].copy_from_slice(&xg[(r * t + s) * g4..(r * t + s + 1) * g4]);
        }
        let (done, rest) = hiddens.split_at_mut((s + 1) * b * h);
        let h_prev = &done[s * b * h..];
        matmul(
            &mut pre,
            MatRef::row_major(&h_prev[..b * h], b, h),
            MatRef::row_major(w, h, g4),
            Store::Accumulate,
            Threads::One,
        );
        let (c_done, c_rest) = cells.split_at_mut((s + 1) * b * h);
        cell_forward_tape(
            &pre,
            &c_done[s * b * h..(s + 1) * b * h],
            &mut gates[s * b * g4..(s + 1) * b * g4],
            &mut c_rest[..b * h],
            &mut rest[..b * h],
            &mut tanh_cells[s * b * h..(s + 1) * b * h],
            h,
        );
    }
    let mut out = vec![0f32; b * t * h];
    for s in 0..t {
        for r in 0..b {
            out[(r * t + s) * h..(r * t + s + 1) * h]
                .copy_from_slice(&hiddens[((s + 1) * b + r) * h..((s + 1) * b + r + 1) * h]);
        }
    }
    (
        SeqTape {
            gates,
            tanh_cells,
            cells,
            hiddens,
            b,
            t,
            h,
        },
        out,
    )
}

/// Rows of the batch per parallel part of the sequence op: the rows of an
/// LSTM are independent, so halves of the batch run on separate threads.
/// Two parts from 16 rows on — a constant, not the thread count, so the
/// numbers (the summed weight gradient) are the same on every machine.
fn seq_parts(b: usize) -> usize {
    if b >= 16 { 2 } else { 1 }
}

/// [`seq_forward`] on the batch's parts in parallel: the tapes, and the
/// hidden states `[B, T, h]`.
fn seq_forward_par(
    xg: &[f32],
    w: &[f32],
    c0: &[f32],
    h0: &[f32],
    b: usize,
    t: usize,
    h: usize,
) -> (Vec<SeqTape>, Vec<f32>) {
    use rayon::prelude::*;
    let parts = seq_parts(b);
    let rows: Vec<(usize, usize)> = (0..parts)
        .map(|p| (p * b / parts, (p + 1) * b / parts))
        .collect();
    let results: Vec<(SeqTape, Vec<f32>)> = rows
        .par_iter()
        .map(|&(r0, r1)| {
            seq_forward(
                &xg[r0 * t * 4 * h..r1 * t * 4 * h],
                w,
                &c0[r0 * h..r1 * h],
                &h0[r0 * h..r1 * h],
                r1 - r0,
                t,
                h,
            )
        })
        .collect();
    let mut out = Vec::with_capacity(b * t * h);
    let mut tapes = Vec::with_capacity(parts);
    for (tape, o) in results {
        out.extend(o);
        tapes.push(tape);
    }
    (tapes, out)
}

/// [`seq_backward`] on each part in parallel, gathered: the weight
/// gradient summed over the parts in order.
fn seq_backward_par(tapes: &[SeqTape], w: &[f32], d_out: &[f32]) -> [Vec<f32>; 4] {
    use rayon::prelude::*;
    let mut starts = Vec::with_capacity(tapes.len());
    let mut at = 0;
    for tp in tapes {
        starts.push(at);
        at += tp.b * tp.t * tp.h;
    }
    let parts: Vec<[Vec<f32>; 4]> = tapes
        .par_iter()
        .zip(starts.par_iter())
        .map(|(tp, &s)| seq_backward(tp, w, &d_out[s..s + tp.b * tp.t * tp.h]))
        .collect();
    let mut it = parts.into_iter();
    let [mut dxg, mut dw, mut dc0, mut dh0] = it.next().expect("one part at least");
    for [x, w2, c, hh] in it {
        dxg.extend(x);
        dw.iter_mut().zip(w2).for_each(|(a, b)| *a += b);
        dc0.extend(c);
        dh0.extend(hh);
    }
    [dxg, dw, dc0, dh0]
}

/// Backpropagation through time: from d hs `[B, T, h]`, the gradients of
/// xg `[B, T, 4h]`, w `[h, 4h]`, c0 and h0 `[B, h]`.
fn seq_backward(tape: &SeqTape, w: &[f32], d_out: &[f32]) -> [Vec<f32>; 4] {
    let (b, t, h) = (tape.b, tape.t, tape.h);
    let g4 = 4 * h;
    let mut dgates = vec![0f32; t * b * g4];
    let mut dh_next = vec![0f32; b * h];
    let mut dc_next = vec![0f32; b * h];
    let mut dh = vec![0f32; b * h];
    let mut dc_prev = vec![0f32; b * h];
    // wᵀ `[4h, h]` row-major, once: gemm packs a transposed operand on every call.
    let mut wt = vec![0f32; g4 * h];
    for i in 0..h {
        for j in 0..g4 {
            wt[j * h + i] = w[i * g4 + j];
        }
    }
    for s in (0..t).rev() {
        for r in 0..b {
            let src = &d_out[(r * t + s) * h..(r * t + s + 1) * h];
            let nx = &dh_next[r * h..(r + 1) * h];
            for (j, o) in dh[r * h..(r + 1) * h].iter_mut().enumerate() {
                *o = src[j] + nx[j];
            }
        }
        let dg = &mut dgates[s * b * g4..(s + 1) * b * g4];
        cell_backward_tape(
            &tape.gates[s * b * g4..(s + 1) * b * g4],
            &tape.cells[s * b * h..(s + 1) * b * h],
            &tape.tanh_cells[s * b * h..(s + 1) * b * h],
            &dc_next,
            &dh,
            dg,
            &mut dc_prev,
            h,
        );
        // d h_{s−1} = dG_s · wᵀ (the row-major copy wᵀ made above).
        matmul(
            &mut dh_next,
            MatRef::row_major(dg, b, g4),
            MatRef::row_major(&wt, g4, h),
            Store::Overwrite,
            Threads::One,
        );
        std::mem::swap(&mut dc_next, &mut dc_prev);
    }
    // d w = Σ_s h_{s−1}ᵀ dG_s: one product over all T·B rows.
    let rows = t * b;
    let mut ht = vec![0f32; h * rows];
    for (k, row) in tape.hiddens[..rows * h].chunks_exact(h).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            ht[i * rows + k] = v;
        }
    }
    let mut dw = vec![0f32; h * g4];
    matmul(
        &mut dw,
        MatRef::row_major(&ht, h, rows),
        MatRef::row_major(&dgates, rows, g4),
        Store::Overwrite,
        Threads::One,
    );
    let mut dxg = vec![0f32; b * t * g4];
    for s in 0..t {
        for r in 0..b {
            dxg[(r * t + s) * g4..(r * t + s + 1) * g4]
                .copy_from_slice(&dgates[(s * b + r) * g4..(s * b + r + 1) * g4]);
        }
    }
    [dxg, dw, dc_next, dh_next]
}

impl LstmOps for Flex {
    fn lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self> {
        let (gs, g) = contiguous(&gates);
        let (_, c) = contiguous(&cell);
        let (b, h) = (gs[0], gs[1] / 4);
        flex_tensor(cell_forward(slice(&g), slice(&c), b, h), vec![b, 2 * h])
    }

    fn lstm_seq(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (xs, x) = contiguous(&xg);
        let (b, t, h) = (xs[0], xs[1], xs[2] / 4);
        let (_, w) = contiguous(&w);
        let (_, c) = contiguous(&c0);
        let (_, hh) = contiguous(&h0);
        let (_, out) = seq_forward_par(slice(&x), slice(&w), slice(&c), slice(&hh), b, t, h);
        flex_tensor(out, vec![b, t, h])
    }
}

#[derive(Debug)]
struct CellBackward;

impl Backward<Flex, 2> for CellBackward {
    type State = (FlexFloat, FlexFloat);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_gates, node_cell] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (gates, cell) = ops.state;
        let (gs, g) = contiguous(&gates);
        let (_, c) = contiguous(&cell);
        let (_, dout) = contiguous(&grad);
        let (b, h) = (gs[0], gs[1] / 4);
        let (dg, dc) = cell_backward(slice(&g), slice(&c), slice(&dout), b, h);
        if let Some(node) = node_gates {
            grads.register::<Flex>(node.id, flex_tensor(dg, vec![b, 4 * h]));
        }
        if let Some(node) = node_cell {
            grads.register::<Flex>(node.id, flex_tensor(dc, vec![b, h]));
        }
    }
}

#[derive(Debug)]
struct SeqBackward;

impl Backward<Flex, 4> for SeqBackward {
    /// The tape and the recurrent weights.
    type State = (std::sync::Arc<Vec<SeqTape>>, FlexFloat);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (tapes, w) = ops.state;
        let (_, d) = contiguous(&grad);
        let (t, h) = (tapes[0].t, tapes[0].h);
        let b: usize = tapes.iter().map(|tp| tp.b).sum();
        let [dxg, dw, dc0, dh0] = seq_backward_par(&tapes, slice(&w), slice(&d));
        let shapes = [vec![b, t, 4 * h], vec![h, 4 * h], vec![b, h], vec![b, h]];
        for ((node, g), shape) in ops.parents.into_iter().zip([dxg, dw, dc0, dh0]).zip(shapes) {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex_tensor(g, shape));
            }
        }
    }
}

impl<C: CheckpointStrategy> LstmOps for Autodiff<Flex, C> {
    fn lstm_cell(gates: FloatTensor<Self>, cell: FloatTensor<Self>) -> FloatTensor<Self> {
        match CellBackward
            .prepare::<C>([gates.node(), cell.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (g, c) = (gates.primitive().clone(), cell.primitive().clone());
                let out = Flex::lstm_cell(g.clone(), c.clone());
                prep.finish((g, c), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::lstm_cell(
                gates.into_primitive(),
                cell.into_primitive(),
            )),
        }
    }

    fn lstm_seq(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match SeqBackward
            .prepare::<C>([xg.node(), w.node(), c0.node(), h0.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xs, x) = contiguous(xg.primitive());
                let (b, t, h) = (xs[0], xs[1], xs[2] / 4);
                let (_, wc) = contiguous(w.primitive());
                let (_, c) = contiguous(c0.primitive());
                let (_, hh) = contiguous(h0.primitive());
                let (tape, out) =
                    seq_forward_par(slice(&x), slice(&wc), slice(&c), slice(&hh), b, t, h);
                prep.finish(
                    (std::sync::Arc::new(tape), wc),
                    flex_tensor(out, vec![b, t, h]),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::lstm_seq(
                xg.into_primitive(),
                w.into_primitive(),
                c0.into_primitive(),
                h0.into_primitive(),
            )),
        }
    }
}

/// [`LstmOps::lstm_cell`] on tensors: `[c' | h']`, `[B, 2h]`.
pub fn lstm_cell(gates: Tensor<2>, cell: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as LstmOps>::lstm_cell(
        gates.into_dispatch(),
        cell.into_dispatch(),
    ))
}

/// [`LstmOps::lstm_seq`] on tensors: the hidden states `[B, T, h]`.
pub fn lstm_seq(xg: Tensor<3>, w: Tensor<2>, c0: Tensor<2>, h0: Tensor<2>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as LstmOps>::lstm_seq(
        xg.into_dispatch(),
        w.into_dispatch(),
        c0.into_dispatch(),
        h0.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;
    use burn::tensor::activation::sigmoid as sig;
    use burn::tensor::{Device, Distribution};
    #[test]
    fn fused_lstm_cell_equals_the_burn_graph_in_value_and_gradient() {
        let dev = Device::flex().autodiff();
        dev.seed(11);
        let (b, h) = (5, 7);
        let gates =
            Tensor::<2>::random([b, 4 * h], Distribution::Normal(0.0, 3.0), &dev).require_grad();
        let cell = Tensor::<2>::random([b, h], Distribution::Normal(0.0, 2.0), &dev).require_grad();
        let w = Tensor::<2>::random([b, 2 * h], Distribution::Normal(0.0, 1.0), &dev);
        // The graph: the gate-by-gate cell of burn's operations.
        let graph = {
            let g: Vec<Tensor<2>> = gates.clone().chunk(4, 1);
            let c2 = sig(g[1].clone()) * cell.clone() + sig(g[0].clone()) * g[2].clone().tanh();
            let h2 = sig(g[3].clone()) * c2.clone().tanh();
            Tensor::cat(vec![c2, h2], 1)
        };
        let fused = lstm_cell(gates.clone(), cell.clone());
        let read = |t: Tensor<2>| crate::core::host::read(t);
        close(&read(fused.clone()), &read(graph.clone()), "value");
        let gf = (fused * w.clone()).sum().backward();
        let gg = (graph * w).sum().backward();
        close(
            &read(gates.grad(&gf).unwrap()),
            &read(gates.grad(&gg).unwrap()),
            "d gates",
        );
        close(
            &read(cell.grad(&gf).unwrap()),
            &read(cell.grad(&gg).unwrap()),
            "d cell",
        );
    }

    #[test]
    fn fused_lstm_layer_equals_the_step_by_step_graph_in_value_and_gradient() {
        // 3 rows run in one part, 17 in two parallel parts.
        for b in [3, 17] {
            lstm_layer_case(b);
        }
    }

    fn lstm_layer_case(b: usize) {
        let dev = Device::flex().autodiff();
        dev.seed(13);
        let (t, h) = (6, 5);
        let xg =
            Tensor::<3>::random([b, t, 4 * h], Distribution::Normal(0.0, 1.5), &dev).require_grad();
        let w =
            Tensor::<2>::random([h, 4 * h], Distribution::Normal(0.0, 0.5), &dev).require_grad();
        let c0 = Tensor::<2>::random([b, h], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let h0 = Tensor::<2>::random([b, h], Distribution::Normal(0.0, 0.5), &dev).require_grad();
        let weights = Tensor::<3>::random([b, t, h], Distribution::Normal(0.0, 1.0), &dev);
        // The graph: burn's matmul and gate-by-gate cell, one step at a time.
        let graph = {
            let (mut c, mut hh) = (c0.clone(), h0.clone());
            let mut outs = Vec::new();
            for s in 0..t {
                let g =
                    xg.clone().narrow(1, s, 1).reshape([b, 4 * h]) + hh.clone().matmul(w.clone());
                let g: Vec<Tensor<2>> = g.chunk(4, 1);
                c = sig(g[1].clone()) * c + sig(g[0].clone()) * g[2].clone().tanh();
                hh = sig(g[3].clone()) * c.clone().tanh();
                outs.push(hh.clone());
            }
            Tensor::stack::<3>(outs, 1)
        };
        let fused = lstm_seq(xg.clone(), w.clone(), c0.clone(), h0.clone());
        let read3 = |x: Tensor<3>| crate::core::host::read(x.reshape([b * t, h]));
        close(&read3(fused.clone()), &read3(graph.clone()), "value");
        let gf = (fused * weights.clone()).sum().backward();
        let gg = (graph * weights).sum().backward();
        let read = |x: Tensor<2>| crate::core::host::read(x);
        close(
            &read(xg.grad(&gf).unwrap().reshape([b * t, 4 * h])),
            &read(xg.grad(&gg).unwrap().reshape([b * t, 4 * h])),
            "d xg",
        );
        close(
            &read(w.grad(&gf).unwrap()),
            &read(w.grad(&gg).unwrap()),
            "d w",
        );
        close(
            &read(c0.grad(&gf).unwrap()),
            &read(c0.grad(&gg).unwrap()),
            "d c0",
        );
        close(
            &read(h0.grad(&gf).unwrap()),
            &read(h0.grad(&gg).unwrap()),
            "d h0",
        );
    }
}
