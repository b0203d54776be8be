//! The batched LSTM of the generator: a block of rows (one z each) runs
//! through the LSTM together, each step two matrix products
//! ([`crate::core::matmul`]) and one elementwise pass, then either the
//! log-softmax of the next token (scoring) or a draw from the softmax
//! (sampling). The elementwise loops run for the widest vector unit the
//! CPU has ([`widest_simd`]).

use super::{GATES, Generator, HIDDEN, LANES, LATENT, STATE, VOCAB};
use crate::core::fastmath::{exp, sigmoid_from_exp, tanh_from_sigmoid, widest_simd};
use crate::core::matmul::{MatRef, Store, Threads, matmul};

/// A block of rows (one z each) run through the LSTM together: the state of
/// all rows is one matrix, so each step is two matrix products.
pub(super) struct Block {
    pub(super) rows: usize,
    /// `[rows, HIDDEN + LATENT]`: h then z, the left operand of both products.
    pub(super) hz: Vec<f32>,
    /// `[rows, HIDDEN]`.
    pub(super) c: Vec<f32>,
    /// `[rows, 4·HIDDEN]` scratch.
    pub(super) gates: Vec<f32>,
    /// `[rows, VOCAB]`: the logits after the last [`Block::step`].
    pub(super) logits: Vec<f32>,
}

impl Block {
    /// The initial state c₀ = W_c z, h₀ = tanh(c₀) of each z (in f64, then
    /// rounded to f32).
    pub(super) fn start(g: &Generator, zs: &[[f64; 2]]) -> Self {
        let rows = zs.len();
        let mut hz = vec![0f32; rows * STATE];
        let mut c = vec![0f32; rows * HIDDEN];
        for ((z, hz), c) in zs
            .iter()
            .zip(hz.chunks_exact_mut(STATE))
            .zip(c.chunks_exact_mut(HIDDEN))
        {
            for (j, (cj, hj)) in c.iter_mut().zip(hz.iter_mut()).enumerate() {
                let c0 = g.w_c[j * LATENT] as f64 * z[0] + g.w_c[j * LATENT + 1] as f64 * z[1];
                *cj = c0 as f32;
                *hj = c0.tanh() as f32;
            }
            hz[HIDDEN] = z[0] as f32;
            hz[HIDDEN + 1] = z[1] as f32;
        }
        Self {
            rows,
            hz,
            c,
            gates: vec![0.0; rows * GATES],
            logits: vec![0.0; rows * VOCAB],
        }
    }

    /// Row r reads token `token(r)`: the state advances and `logits` holds
    /// the next-token logits of every row.
    pub(super) fn step(&mut self, g: &Generator, token: impl Fn(usize) -> usize) {
        let rows = self.rows;
        if rows == 0 {
            return;
        }
        let gates = &mut self.gates[..rows * GATES];
        for (r, row) in gates.chunks_exact_mut(GATES).enumerate() {
            let t = token(r);
            row.copy_from_slice(&g.tok_gates[t * GATES..(t + 1) * GATES]);
        }
        matmul(
            gates,
            MatRef::row_major(&self.hz[..rows * STATE], rows, STATE),
            MatRef::row_major(&g.rhs_gates, STATE, GATES),
            Store::Accumulate,
            Threads::One,
        );
        lstm_cells(
            gates,
            &mut self.c[..rows * HIDDEN],
            &mut self.hz[..rows * STATE],
        );
        matmul(
            &mut self.logits[..rows * VOCAB],
            MatRef::row_major(&self.hz[..rows * STATE], rows, STATE),
            MatRef::row_major(&g.rhs_out, STATE, VOCAB),
            Store::Overwrite,
            Threads::One,
        );
    }

    /// Keep the rows where `keep` holds, in order (the caller compacts its
    /// own per-row data the same way).
    pub(super) fn retain(&mut self, keep: &[bool]) {
        let mut w = 0;
        for (r, &k) in keep.iter().enumerate().take(self.rows) {
            if k {
                if w != r {
                    self.hz.copy_within(r * STATE..(r + 1) * STATE, w * STATE);
                    self.c.copy_within(r * HIDDEN..(r + 1) * HIDDEN, w * HIDDEN);
                }
                w += 1;
            }
        }
        self.rows = w;
    }
}

widest_simd! {
    /// The LSTM cell update of every row: `gates` `[rows, 4·HIDDEN]`, `c`
    /// `[rows, HIDDEN]`, and h written into the first HIDDEN columns of `hz`.
    fn lstm_cells(gates: &[f32], c: &mut [f32], hz: &mut [f32]) => lstm_cells_body
}

widest_simd! {
    /// `acc[r] += log softmax(logits row r)[next]` for every row.
    pub(super) fn add_log_softmax(logits: &[f32], next: usize, acc: &mut [f64]) => add_log_softmax_body
}

widest_simd! {
    /// `tokens[r]` = the token of logits row r whose softmax CDF first
    /// exceeds `us[r]` ∈ [0, 1).
    pub(super) fn draw_tokens(logits: &[f32], us: &[f64], tokens: &mut [u32]) => draw_tokens_body
}

#[inline(always)]
fn lstm_cells_body(gates: &[f32], c: &mut [f32], hz: &mut [f32]) {
    for ((g, c), hz) in gates
        .chunks_exact(GATES)
        .zip(c.chunks_exact_mut(HIDDEN))
        .zip(hz.chunks_exact_mut(STATE))
    {
        lstm_cell(g, c, &mut hz[..HIDDEN]);
    }
}

#[inline(always)]
fn add_log_softmax_body(logits: &[f32], next: usize, acc: &mut [f64]) {
    for (row, a) in logits.chunks_exact(VOCAB).zip(acc) {
        *a += row[next] as f64 - log_sum_exp_row(row);
    }
}

#[inline(always)]
fn draw_tokens_body(logits: &[f32], us: &[f64], tokens: &mut [u32]) {
    for ((row, &u), t) in logits.chunks_exact(VOCAB).zip(us).zip(tokens) {
        *t = draw_token(row, u);
    }
}

/// One LSTM cell update for one row: `gates` in order i, f, g, o.
#[inline(always)]
fn lstm_cell(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    let (gi, rest) = gates.split_at(HIDDEN);
    let (gf, rest) = rest.split_at(HIDDEN);
    let (gg, go) = rest.split_at(HIDDEN);
    let go = &go[..HIDDEN];
    let (c, h) = (&mut c[..HIDDEN], &mut h[..HIDDEN]);
    for j in 0..HIDDEN {
        let cj =
            sigmoid_from_exp(gf[j]) * c[j] + sigmoid_from_exp(gi[j]) * tanh_from_sigmoid(gg[j]);
        c[j] = cj;
        h[j] = sigmoid_from_exp(go[j]) * tanh_from_sigmoid(cj);
    }
}

/// Largest value of a row, [`LANES`] at a time so that it vectorises. The
/// compare-and-select is one `maxps`; `f32::max` would add a NaN fix-up to
/// every step of the chain and run ten times slower (logits are finite).
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let (chunks, rest) = row.as_chunks::<LANES>();
    let mut m = [f32::NEG_INFINITY; LANES];
    for ch in chunks {
        for l in 0..LANES {
            m[l] = if ch[l] > m[l] { ch[l] } else { m[l] };
        }
    }
    m.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

/// `w[i] = e^(row[i] − shift)`: a plain map, which vectorises whatever the
/// width of the vector unit.
#[inline(always)]
fn exp_shifted(row: &[f32], shift: f32, w: &mut [f32]) {
    for (w, &l) in w.iter_mut().zip(row) {
        *w = exp(l - shift);
    }
}

/// log Σ exp(row) in f64: the exponentials in f32 (relative error < 10⁻⁷,
/// vectorised), their sum and logarithm in f64. At least `max(row)`,
/// because the largest term is exp(0) = 1 exactly.
#[inline(always)]
fn log_sum_exp_row(row: &[f32]) -> f64 {
    let mx = row_max(row);
    let mut w = [0f32; VOCAB];
    exp_shifted(row, mx, &mut w[..row.len()]);
    let (chunks, rest) = w[..row.len()].as_chunks::<LANES>();
    let mut acc = [0f64; LANES];
    for ch in chunks {
        for l in 0..LANES {
            acc[l] += ch[l] as f64;
        }
    }
    let sum: f64 = acc.iter().sum::<f64>() + rest.iter().map(|&v| v as f64).sum::<f64>();
    mx as f64 + sum.ln()
}

/// The token whose softmax CDF first exceeds `u` ∈ [0, 1): sums over
/// groups of [`LANES`] weights find the group, a walk inside it the token.
#[inline(always)]
fn draw_token(logits: &[f32], u: f64) -> u32 {
    const GROUPS: usize = VOCAB.div_ceil(LANES);
    let n = logits.len().min(VOCAB);
    let mx = row_max(logits);
    let mut w = [0f32; VOCAB];
    exp_shifted(&logits[..n], mx, &mut w[..n]);
    let mut sums = [0f64; GROUPS];
    for (s, g) in sums.iter_mut().zip(w[..n].chunks(LANES)) {
        *s = g.iter().map(|&v| v as f64).sum();
    }
    let target = u * sums.iter().sum::<f64>();
    let mut cum = 0.0;
    for (k, (&s, g)) in sums.iter().zip(w[..n].chunks(LANES)).enumerate() {
        if cum + s > target {
            for (j, &v) in g.iter().enumerate() {
                cum += v as f64;
                if cum > target {
                    return (k * LANES + j) as u32;
                }
            }
            // Rounding between the group's sum and this walk: its last token.
            return (k * LANES + g.len() - 1) as u32;
        }
        cum += s;
    }
    // Only when u·total rounds up to total: the last token.
    (n - 1) as u32
}
