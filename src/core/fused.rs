//! Fused CPU operations with their own backward, for the text models' hot
//! loops: the LSTM cell's elementwise half and the masked log-softmax
//! cross-entropy over a vocabulary.
//!
//! Written as one pass over memory each way with the vectorising
//! transcendentals of [`super::fastmath`], they replace a dozen burn
//! operations per LSTM step (each with its own allocation, autodiff node and
//! scalar `expf`) and the log-softmax, gather and mask of the likelihood.
//! burn runs them inside its autodiff graph through
//! `#[backend_extension(Flex, Autodiff)]`: the forward is the `Flex` impl,
//! the gradient a hand-written `Backward` of the `Autodiff<Flex>` impl.
//!
//! On other devices (wgpu) the callers run the unfused burn graph instead
//! ([`on_flex`]); the tests below check that both give the same values and
//! gradients.

use super::fastmath::{exp_nonpositive, sigmoid, tanh, widest_simd};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::tensor::{Int, Tensor, TensorData};

type FlexFloat = <Flex as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// Whether `t` lives on the CPU backend (with or without autodiff), where
/// the fused operations run.
pub fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    matches!(
        t.device().as_dispatch().clone().inner(),
        DispatchDevice::Flex(_)
    )
}

#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
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

    /// mask_r · log softmax(logits_r)[target_r] per row: logits `[N, V]`,
    /// targets `[N]`, mask `[N]` (a constant) → `[N]`.
    /// Σ_d x·l − softplus(l) per row: the Bernoulli log-likelihood of
    /// `x` `[B, D]` under logits `l` `[B, D]`, `[B]`. Gradient with respect
    /// to the logits: g_b·(x − σ(l)); `x` is data (no gradient).
    fn bernoulli_ll(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self>;

    fn masked_log_softmax_at(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// A dense layer, `x W + b`: x `[B, in]`, w `[in, out]`, b `[out]` →
    /// `[B, out]`. Gradients: dx = dy Wᵀ, dW = xᵀ dy, db = Σ_rows dy.
    fn linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
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

/// `dst[m×n] (+)= A[m×k] · B[k×n]`, row-major `dst`; A and B given by
/// pointer and (column, row) strides so either may be a transpose.
#[allow(clippy::too_many_arguments)]
fn mm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    (a_cs, a_rs): (isize, isize),
    b: &[f32],
    (b_cs, b_rs): (isize, isize),
) {
    assert!(dst.len() >= m * n);
    let reach = |cs: isize, rs: isize, rows: usize, cols: usize| {
        (rows.max(1) - 1) as isize * rs + (cols.max(1) - 1) as isize * cs
    };
    assert!(
        reach(a_cs, a_rs, m, k) < a.len() as isize && reach(b_cs, b_rs, k, n) < b.len() as isize
    );
    // SAFETY: the asserts above keep every element gemm touches (row i ≤ m−1,
    // column j ≤ k−1 at i·rs + j·cs) inside the slices; dst is m×n row-major.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
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
        mm(
            b,
            g4,
            h,
            &mut pre,
            true,
            h_prev,
            (1, h as isize),
            w,
            (1, g4 as isize),
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
        // d h_{s−1} = dG_s · wᵀ (w is [h, 4h] row-major; wᵀ read by strides).
        mm(
            b,
            h,
            g4,
            &mut dh_next,
            false,
            dg,
            (1, g4 as isize),
            &wt,
            (1, h as isize),
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
    mm(
        h,
        g4,
        rows,
        &mut dw,
        false,
        &ht,
        (1, rows as isize),
        &dgates,
        (1, g4 as isize),
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

/// Below this many multiply-adds a product runs on one thread (as burn's
/// own matmul decides).
const PARALLEL_MADDS: usize = 192 * 192 * 192;

/// `dst[m×n] (+)= A·B` ([`mm`]) with the m rows of `dst` (and of A) split
/// into one contiguous part per thread. gemm's own threading splits the
/// other way and, for the weight gradient's transposed operand, ran about
/// a fifth slower on two cores.
#[allow(clippy::too_many_arguments)]
fn mm_rows(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    (a_cs, a_rs): (isize, isize),
    b: &[f32],
    b_strides: (isize, isize),
) {
    use rayon::prelude::*;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: the product adds nothing.
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let parts = if m * n * k >= PARALLEL_MADDS {
        rayon::current_num_threads().clamp(1, m.max(1))
    } else {
        1
    };
    let rows = m.div_ceil(parts).max(1);
    dst[..m * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(i, d)| {
            let r0 = i * rows;
            let mi = d.len() / n;
            let a = &a[(r0 as isize * a_rs) as usize..];
            mm(mi, n, k, d, accumulate, a, (a_cs, a_rs), b, b_strides);
        });
}

/// `y = x W + b` into `y` (cleared first), with row-major x `[rows, in]`,
/// W `[in, out]`, b `[out]`: the bias rows are written, then the product
/// accumulates onto them. `threaded` splits large products across the
/// pool's threads ([`mm_rows`]); callers that already run one task per
/// thread (the IWAE fast path) pass false.
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
    let (xs, ws) = ((1, inp as isize), (1, out as isize));
    if threaded {
        mm_rows(rows, out, inp, y, true, x, xs, w, ws);
    } else if rows > 0 && out > 0 && inp > 0 {
        mm(rows, out, inp, y, true, x, xs, w, ws);
    }
}

impl FusedOps for Flex {
    fn bernoulli_ll(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (ls, l) = contiguous(&logits);
        let (_, xc) = contiguous(&x);
        let (b, d) = (ls[0], ls[1]);
        flex_tensor(bern_forward(slice(&l), slice(&xc), b, d), vec![b])
    }

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
            mm_rows(
                rows,
                inp,
                out,
                &mut dx,
                false,
                dy,
                (1, out as isize),
                w,
                (out as isize, 1),
            );
            grads.register::<Flex>(node.id, flex_tensor(dx, vec![rows, inp]));
        }
        if let Some(node) = nw {
            // dW [in, out] = xᵀ [in, B] · dy [B, out]
            let mut dw = vec![0f32; inp * out];
            mm_rows(
                inp,
                out,
                rows,
                &mut dw,
                false,
                x,
                (inp as isize, 1),
                dy,
                (1, out as isize),
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

impl<C: CheckpointStrategy> FusedOps for Autodiff<Flex, C> {
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

/// [`FusedOps::lstm_cell`] on tensors: `[c' | h']`, `[B, 2h]`.
pub fn lstm_cell(gates: Tensor<2>, cell: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::lstm_cell(
        gates.into_dispatch(),
        cell.into_dispatch(),
    ))
}

/// [`FusedOps::lstm_seq`] on tensors: the hidden states `[B, T, h]`.
pub fn lstm_seq(xg: Tensor<3>, w: Tensor<2>, c0: Tensor<2>, h0: Tensor<2>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::lstm_seq(
        xg.into_dispatch(),
        w.into_dispatch(),
        c0.into_dispatch(),
        h0.into_dispatch(),
    ))
}

/// A dense layer on a batch of rows, `[B, in]` → `[B, out]`: on the CPU one
/// fused operation ([`FusedOps::linear`]: the bias written into the output
/// before the product accumulates onto it, products split by rows across
/// the threads, a hand-written backward); elsewhere, and for a layer
/// without bias, burn's `Linear::forward`.
pub fn linear(layer: &burn::nn::Linear, x: Tensor<2>) -> Tensor<2> {
    match &layer.bias {
        Some(b) if on_flex(&x) => Tensor::from_dispatch(<Dispatch as FusedOps>::linear(
            x.into_dispatch(),
            layer.weight.val().into_dispatch(),
            b.val().into_dispatch(),
        )),
        _ => layer.forward(x),
    }
}

/// [`FusedOps::bernoulli_ll`] on tensors, `[B]`.
pub fn bernoulli_ll(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::bernoulli_ll(
        logits.into_dispatch(),
        x.into_dispatch(),
    ))
}

/// [`FusedOps::masked_log_softmax_at`] on tensors, `[N]`.
pub fn masked_log_softmax_at(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    mask: Tensor<1>,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::masked_log_softmax_at(
        logits.into_dispatch(),
        targets.into_dispatch(),
        mask.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::{log_softmax, sigmoid as sig};
    use burn::tensor::{Device, Distribution};

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
