//! t-SNE (van der Maaten & Hinton 2008) in two dimensions, with the
//! Barnes–Hut gradient of van der Maaten (2014, "Accelerating t-SNE using
//! tree-based algorithms", JMLR 15:3221–3245): a picture of real and
//! generated samples in feature space, to see which clusters the samples
//! cover and which they miss.
//!
//! ```text
//! N_i      the k = ⌊3·perplexity⌋ nearest neighbours of x_i (exact, brute force)
//! p_{j|i}  = exp(−β_i ‖x_i − x_j‖²) / Σ_{l∈N_i} exp(−β_i ‖x_i − x_l‖²)    j ∈ N_i
//!            β_i by bisection so that H(P_i) = −Σ_j p_{j|i} ln p_{j|i} = ln(perplexity)
//! p_ij     = (p_{j|i} + p_{i|j}) / 2n                                       sparse, symmetric, Σ p_ij = 1
//! w_ij     = (1 + ‖y_i − y_j‖²)⁻¹,   Z = Σ_{k≠l} w_kl,   q_ij = w_ij / Z
//! KL(P‖Q)  = Σ_{i≠j} p_ij ln(p_ij / q_ij)
//! ∂KL/∂y_i = 4 Σ_j (p_ij − q_ij) w_ij (y_i − y_j)
//!          = 4 [ Σ_j p_ij w_ij (y_i − y_j)  −  (1/Z) Σ_j w_ij² (y_i − y_j) ]
//!                attractive: over the sparse P    repulsive: Barnes–Hut, and Z with it
//! ```
//!
//! The repulsive sums (and Z) come from a quadtree over the embedding,
//! rebuilt every iteration: a cell of side r whose centre of mass is at
//! distance D from y_i stands for all its points when r/D < θ (sklearn's
//! criterion, `_quad_tree.pyx`; the paper's r is the cell's diagonal,
//! bhtsne's half its side) and the point is not inside it. Leaves hold one
//! point, or several at exactly the same place; a point never interacts
//! with itself. θ = 0 is the exact gradient.
//!
//! The optimiser is scikit-learn's (`sklearn.manifold.TSNE`, method
//! `barnes_hut`), which follows bhtsne (van der Maaten's reference code):
//! gradient descent with momentum and per-coordinate gains (delta-bar-delta:
//! +0.2 while the gradient still points against the last update, so that
//! the descent goes on the same way, ×0.8 when it turns, at least 0.01);
//! P multiplied by `early_exaggeration` and momentum 0.5 for
//! the first `exaggeration_iters` steps, then P itself and momentum 0.8,
//! the gains and the update restarting at the switch as sklearn's second
//! `_gradient_descent` call does (bhtsne keeps them). All `iterations` steps
//! are taken (no early stop on a small gradient). The factor 4 is in the
//! gradient, as in sklearn, so its learning rates apply unchanged.
//!
//! Deterministic: every sum has a fixed order, whatever the number of
//! threads (rows run in parallel with rayon, their results are added in
//! row order), so one input and one config give bit-identical output.
//!
//! Cost, for n points of dimension d: the neighbours O(n² d) once, then
//! per iteration O(n log n) for the tree walk and O(n·k) for the attractive
//! sums. 10,000 points of dimension 84 take about 16 s with the defaults
//! on 2 cores (timing in [`embed`]); sklearn 1.9.1 took 67 s for the same
//! points on the same machine and reached the same KL (2.688 against our
//! 2.694) and trustworthiness (0.9752 against 0.9749, k = 10).
//!
//! [`trustworthiness`] (Venna & Kaski 2001; `sklearn.manifold.trustworthiness`)
//! says how well an embedding keeps each point's input-space neighbours.

use rayon::prelude::*;
use std::cmp::Ordering;

/// How the embedding starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// The data's first two principal components, scaled so that the first
    /// has standard deviation 1e-4: sklearn's `init="pca"`, its default
    /// since 1.2 (Kobak & Berens 2019: it keeps more of the global layout
    /// than a random start). Deterministic — no seed is drawn from. Falls
    /// back to [`Init::Random`] when the data have fewer than two
    /// directions of variance (a second component of 0 would keep every
    /// point on a line for good).
    Pca,
    /// Every coordinate drawn from N(0, (1e-4)²) with the seed: sklearn's
    /// `init="random"` and bhtsne's start.
    Random,
}

/// What [`embed`] does.
#[derive(Clone, Debug)]
pub struct TsneConfig {
    /// The effective number of neighbours, exp H(P_i). 30: sklearn's
    /// default; van der Maaten & Hinton (2008) call 5–50 typical. Each point
    /// looks at its ⌊3·perplexity⌋ nearest neighbours (bhtsne's K), so
    /// there must be more than 3·perplexity points.
    pub perplexity: f64,
    /// Gradient steps in all, the exaggerated ones included. 1000: sklearn's
    /// `max_iter` and bhtsne's.
    pub iterations: usize,
    /// Barnes–Hut accuracy: a cell stands for its points when side /
    /// distance < θ; 0 is exact (and O(n²) per step). 0.5: sklearn's
    /// `angle`, bhtsne's and the paper's default.
    pub theta: f64,
    /// P's factor in the first [`exaggeration_iters`](Self::exaggeration_iters)
    /// steps. 12: sklearn's default and bhtsne's.
    pub early_exaggeration: f64,
    /// Steps with exaggeration and momentum 0.5. 250: sklearn's
    /// `_EXPLORATION_MAX_ITER`, bhtsne's `stop_lying_iter` and
    /// `mom_switch_iter`.
    pub exaggeration_iters: usize,
    /// The step size; `None` is sklearn's `learning_rate="auto"`,
    /// max(n / early_exaggeration / 4, 50) (Belkina et al. 2019; Kobak &
    /// Berens 2019 — the /4 because this gradient carries the factor 4 that
    /// theirs, like bhtsne's, leaves out).
    pub learning_rate: Option<f64>,
    /// [`Init::Pca`], as sklearn.
    pub init: Init,
    /// Draws the random start ([`Init::Random`], or the fallback of
    /// [`Init::Pca`]); nothing else is random.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            theta: 0.5,
            early_exaggeration: 12.0,
            exaggeration_iters: 250,
            learning_rate: None,
            init: Init::Pca,
            seed: 0,
        }
    }
}

impl TsneConfig {
    /// The step size used for `n` points.
    pub fn learning_rate_for(&self, n: usize) -> f64 {
        self.learning_rate
            .unwrap_or_else(|| (n as f64 / self.early_exaggeration / 4.0).max(50.0))
    }

    /// The settings in one line, for a figure's caption: `perplexity 30,
    /// 1000 iterations, θ = 0.5, PCA init` (`random init, seed 7` with
    /// [`Init::Random`]).
    pub fn describe(&self) -> String {
        let init = match self.init {
            Init::Pca => "PCA init".to_string(),
            Init::Random => format!("random init, seed {}", self.seed),
        };
        format!(
            "perplexity {}, {} iterations, θ = {}, {init}",
            self.perplexity, self.iterations, self.theta
        )
    }

    fn check(&self, n: usize) -> Result<(), String> {
        let p = self.perplexity;
        if !(p.is_finite() && p >= 1.0) {
            return Err(format!(
                "t-SNE: perplexity {p}; it is an effective number of neighbours and must be at least 1 (30 is usual)"
            ));
        }
        if (n as f64) - 1.0 < 3.0 * p {
            return Err(format!(
                "t-SNE: {n} points are too few for perplexity {p}: each point needs its ⌊3·perplexity⌋ = {} \
                 nearest neighbours, so at least {} points; lower the perplexity to at most {:.1} or embed more points",
                (3.0 * p).floor(),
                (3.0 * p).floor() as usize + 1,
                ((n as f64 - 1.0) / 3.0).max(0.0)
            ));
        }
        if !(self.theta.is_finite() && self.theta >= 0.0) {
            return Err(format!(
                "t-SNE: θ = {}; it must be 0 (exact) or more (0.5 is usual)",
                self.theta
            ));
        }
        if !(self.early_exaggeration.is_finite() && self.early_exaggeration > 0.0) {
            return Err(format!(
                "t-SNE: early exaggeration {}; it must be positive (12 is usual, 1 is none)",
                self.early_exaggeration
            ));
        }
        if let Some(lr) = self.learning_rate
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(format!(
                "t-SNE: learning rate {lr}; it must be positive (or leave it to the automatic choice)"
            ));
        }
        Ok(())
    }
}

/// What [`embed`] returns.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// One 2-D point per input row, in input order, centred on 0.
    pub y: Vec<[f64; 2]>,
    /// KL(P‖Q) at the end, with Z from the same Barnes–Hut sums (as
    /// sklearn's `kl_divergence_` and bhtsne's reported error).
    pub kl: f64,
    pub perplexity: f64,
    /// Neighbours per point, ⌊3·perplexity⌋.
    pub neighbours: usize,
    pub learning_rate: f64,
    pub iterations: usize,
    /// Whether [`Init::Pca`] fell back to the random start.
    pub random_start: bool,
}

/// Embed the `n` rows of `x` (`n × d`, row-major) in two dimensions.
///
/// Errors (as text) on sizes that disagree, non-finite values, a config
/// out of range, fewer than 3·perplexity + 1 points, or a layout that
/// diverged.
///
/// Timing (this file built with cargo's release profile, no target-cpu
/// flags, on an otherwise idle 2-core AMD EPYC with AVX-512): 10,000
/// points of dimension 84 (ten clusters) with the defaults in 16.0 s — the
/// neighbours, P, the PCA start and the final KL 1.5 s, each of the 1000
/// iterations about 14.5 ms (the repulsive tree walk is most of it);
/// [`trustworthiness`] of the result (k = 10) in 1.7 s.
pub fn embed(x: &[f64], n: usize, d: usize, cfg: &TsneConfig) -> Result<Embedding, String> {
    if x.len() != n * d {
        return Err(format!(
            "t-SNE: {} values for {n} points of dimension {d}",
            x.len()
        ));
    }
    if d == 0 {
        return Err("t-SNE: points of dimension 0".into());
    }
    if n > u32::MAX as usize {
        return Err(format!(
            "t-SNE: {n} points; at most {} are supported",
            u32::MAX
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "t-SNE: point {} has a non-finite value ({}) in dimension {}",
            i / d,
            x[i],
            i % d
        ));
    }
    cfg.check(n)?;
    let cond = Conditional::of(x, n, d, cfg.perplexity);
    let p = cond.joint();
    let (mut y, random_start) = match cfg.init {
        Init::Pca => match pca_init(x, n, d) {
            Some(y) => (y, false),
            None => (random_init(n, cfg.seed), true),
        },
        Init::Random => (random_init(n, cfg.seed), false),
    };
    let lr = cfg.learning_rate_for(n);
    let mut update = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    let mut grad = vec![[0.0f64; 2]; n];
    let mut work = Work::default();
    for it in 0..cfg.iterations {
        let exploring = it < cfg.exaggeration_iters;
        if it == cfg.exaggeration_iters && it > 0 {
            // sklearn's second `_gradient_descent` call starts afresh.
            update.fill([0.0; 2]);
            gains.fill([1.0; 2]);
        }
        let (exaggeration, momentum) = if exploring {
            (cfg.early_exaggeration, 0.5)
        } else {
            (1.0, 0.8)
        };
        gradient(&y, &p, exaggeration, cfg.theta, &mut work, &mut grad);
        for ((yi, (u, g)), gain) in y
            .iter_mut()
            .zip(update.iter_mut().zip(&grad))
            .zip(gains.iter_mut())
        {
            for c in 0..2 {
                gain[c] = if u[c] * g[c] < 0.0 {
                    gain[c] + 0.2
                } else {
                    gain[c] * 0.8
                }
                .max(MIN_GAIN);
                u[c] = momentum * u[c] - lr * gain[c] * g[c];
                yi[c] += u[c];
            }
        }
    }
    if let Some(i) = y
        .iter()
        .position(|p| !(p[0].is_finite() && p[1].is_finite()))
    {
        return Err(format!(
            "t-SNE diverged: point {i} is at ({}, {}) after {} iterations; try a smaller learning rate",
            y[i][0], y[i][1], cfg.iterations
        ));
    }
    let (mx, my) = y.iter().fold((0.0, 0.0), |(a, b), p| (a + p[0], b + p[1]));
    let (mx, my) = (mx / n as f64, my / n as f64);
    for p in &mut y {
        p[0] -= mx;
        p[1] -= my;
    }
    let z = gradient(&y, &p, 1.0, cfg.theta, &mut work, &mut grad);
    Ok(Embedding {
        kl: kl_divergence(&y, &p, z),
        y,
        perplexity: cfg.perplexity,
        neighbours: cond.k,
        learning_rate: lr,
        iterations: cfg.iterations,
        random_start,
    })
}

/// sklearn's `min_gain`.
const MIN_GAIN: f64 = 0.01;
/// Bisection steps for β and the entropy tolerance (nats): sklearn's
/// `_binary_search_perplexity` (bhtsne: 200 steps, the same tolerance).
const CALIBRATION_STEPS: usize = 100;
const ENTROPY_TOLERANCE: f64 = 1e-5;

/// Each point's nearest neighbours and conditional probabilities p_{j|i}.
struct Conditional {
    n: usize,
    k: usize,
    /// `n × k`: the neighbours of each point, nearest first (ties by index).
    neighbours: Vec<u32>,
    /// `n × k`: p_{j|i}, each row summing to 1.
    p: Vec<f64>,
}

impl Conditional {
    fn of(x: &[f64], n: usize, d: usize, perplexity: f64) -> Self {
        let k = ((3.0 * perplexity).floor() as usize).clamp(1, n - 1);
        let (neighbours, sq) = nearest(x, n, d, k);
        let mut p = vec![0.0; n * k];
        p.par_chunks_mut(k)
            .zip(sq.par_chunks(k))
            .for_each(|(p, sq)| {
                calibrate(sq, perplexity, p);
            });
        Self {
            n,
            k,
            neighbours,
            p,
        }
    }

    /// p_ij = (p_{j|i} + p_{i|j}) / 2n, as a sparse symmetric matrix.
    fn joint(&self) -> Joint {
        let (n, k) = (self.n, self.k);
        let mut t: Vec<(u64, f64)> = Vec::with_capacity(2 * n * k);
        for i in 0..n {
            for e in i * k..(i + 1) * k {
                let (j, v) = (self.neighbours[e] as u64, self.p[e]);
                if v > 0.0 {
                    t.push(((i as u64) << 32 | j, v));
                    t.push((j << 32 | i as u64, v));
                }
            }
        }
        // Each (i, j) appears at most twice (from i's row and from j's), and
        // a + b = b + a exactly: the merge is the same whatever the order.
        t.sort_unstable_by_key(|e| e.0);
        let scale = 1.0 / (2.0 * n as f64);
        let mut start = vec![0usize; n + 1];
        let mut col = Vec::with_capacity(t.len());
        let mut val: Vec<f64> = Vec::with_capacity(t.len());
        let mut last = u64::MAX;
        for (key, v) in t {
            if key == last {
                *val.last_mut().expect("merged onto an entry") += v;
            } else {
                start[(key >> 32) as usize + 1] += 1;
                col.push((key & 0xffff_ffff) as u32);
                val.push(v);
                last = key;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        val.iter_mut().for_each(|v| *v *= scale);
        Joint { start, col, val }
    }
}

/// The joint P, CSR: row i's columns `col[start[i]..start[i+1]]`.
struct Joint {
    start: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f64>,
}

/// ‖a − b‖², in eight lanes so that the compiler vectorises it (the same
/// order of additions every time).
#[inline]
fn sqdist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += (x - y) * (x - y);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Order by (squared distance, index): a total order, so ties go the same
/// way on every run.
fn by_distance(a: &(f64, u32), b: &(f64, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// The `k` nearest neighbours of every row (itself excluded) and their
/// squared distances, nearest first, by brute force: blocks of 16 rows
/// against blocks of 128 columns (which stay in cache), blocks of rows on
/// every core.
fn nearest(x: &[f64], n: usize, d: usize, k: usize) -> (Vec<u32>, Vec<f64>) {
    const ROWS: usize = 16;
    const COLS: usize = 128;
    let mut nbr = vec![0u32; n * k];
    let mut sq = vec![0.0f64; n * k];
    nbr.par_chunks_mut(ROWS * k)
        .zip(sq.par_chunks_mut(ROWS * k))
        .enumerate()
        .for_each(|(b, (nb, sb))| {
            let r0 = b * ROWS;
            let rows = nb.len() / k;
            let mut dist = vec![0.0f64; rows * n];
            for c0 in (0..n).step_by(COLS) {
                let c1 = (c0 + COLS).min(n);
                for r in 0..rows {
                    let xi = &x[(r0 + r) * d..(r0 + r + 1) * d];
                    let out = &mut dist[r * n..(r + 1) * n];
                    for j in c0..c1 {
                        out[j] = sqdist(xi, &x[j * d..(j + 1) * d]);
                    }
                }
            }
            let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(n);
            for r in 0..rows {
                let i = r0 + r;
                pairs.clear();
                pairs.extend(
                    dist[r * n..(r + 1) * n]
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(j, &v)| (v, j as u32)),
                );
                if k < pairs.len() {
                    pairs.select_nth_unstable_by(k - 1, by_distance);
                    pairs.truncate(k);
                }
                pairs.sort_unstable_by(by_distance);
                for (e, &(v, j)) in pairs.iter().enumerate() {
                    nb[r * k + e] = j;
                    sb[r * k + e] = v;
                }
            }
        });
    (nbr, sq)
}

/// p_{j|i} ∝ exp(−β ‖x_i − x_j‖²) over one row's neighbours (`sq`, their
/// squared distances) into `out`, with β found by bisection so that the
/// entropy is ln(perplexity) within [`ENTROPY_TOLERANCE`]: sklearn's
/// `_binary_search_perplexity` (β from 1, doubled or halved until bracketed,
/// then halved intervals), except that the distances are shifted by the
/// row's smallest, which leaves p unchanged and keeps the largest term at
/// exp(0) = 1 (no underflow to an all-zero row however far the neighbours
/// are). Returns β.
fn calibrate(sq: &[f64], perplexity: f64, out: &mut [f64]) -> f64 {
    let dmin = sq.iter().copied().fold(f64::INFINITY, f64::min);
    let target = perplexity.ln();
    let (mut beta, mut lo, mut hi) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
    for _ in 0..CALIBRATION_STEPS {
        let mut sum = 0.0;
        for (o, &s) in out.iter_mut().zip(sq) {
            *o = (-(s - dmin) * beta).exp();
            sum += *o;
        }
        let mut mean = 0.0;
        for (o, &s) in out.iter_mut().zip(sq) {
            *o /= sum;
            mean += (s - dmin) * *o;
        }
        // H = −Σ p ln p = ln Σ e + β Σ p (d − d_min)
        let diff = sum.ln() + beta * mean - target;
        if diff.abs() <= ENTROPY_TOLERANCE {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_infinite() {
                beta * 2.0
            } else {
                (beta + hi) / 2.0
            };
        } else {
            hi = beta;
            beta = if lo.is_infinite() {
                beta / 2.0
            } else {
                (beta + lo) / 2.0
            };
        }
    }
    beta
}

/// A quadtree over the embedding, rebuilt every iteration. Cells are
/// squares; each holds the points `order[start..end]`.
#[derive(Default)]
struct QuadTree {
    cells: Vec<Cell>,
    order: Vec<u32>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    /// Centre of mass of the cell's points.
    com: [f64; 2],
    /// Lower-left corner and side.
    corner: [f64; 2],
    side: f64,
    count: u32,
    start: u32,
    end: u32,
    /// Children `first_child..first_child + children` (non-empty quadrants
    /// only); none for a leaf.
    first_child: u32,
    children: u32,
}

/// Deeper than this a cell stops splitting and keeps its points (summed
/// exactly): 2⁻⁴⁸ of the layout's width is at the end of f64's precision.
const MAX_DEPTH: usize = 48;

/// Move the entries for which `pred` holds to the front; returns how many.
fn partition(v: &mut [u32], pred: impl Fn(u32) -> bool) -> usize {
    let mut i = 0;
    for j in 0..v.len() {
        if pred(v[j]) {
            v.swap(i, j);
            i += 1;
        }
    }
    i
}

impl QuadTree {
    fn build(&mut self, y: &[[f64; 2]]) {
        let n = y.len();
        self.cells.clear();
        self.order.clear();
        self.order.extend(0..n as u32);
        if n == 0 {
            return;
        }
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y {
            for c in 0..2 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
            }
        }
        let side = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        self.cells.push(Cell {
            corner: lo,
            side: if side > 0.0 { side } else { 1.0 },
            start: 0,
            end: n as u32,
            ..Cell::default()
        });
        build_cell(&mut self.cells, &mut self.order, y, 0, 0);
    }

    /// Σ_{j≠i} w_ij² (y_i − y_j) and Σ_{j≠i} w_ij, the Barnes–Hut way.
    fn repulsion(&self, i: usize, y: &[[f64; 2]], theta2: f64) -> [f64; 3] {
        let mut acc = [0.0; 3];
        if !self.cells.is_empty() {
            self.visit(0, i as u32, y[i], y, theta2, &mut acc);
        }
        acc
    }

    fn visit(
        &self,
        c: usize,
        i: u32,
        yi: [f64; 2],
        y: &[[f64; 2]],
        theta2: f64,
        acc: &mut [f64; 3],
    ) {
        let cell = &self.cells[c];
        if cell.children == 0 {
            for &j in &self.order[cell.start as usize..cell.end as usize] {
                if j != i {
                    let yj = y[j as usize];
                    let (dx, dy) = (yi[0] - yj[0], yi[1] - yj[1]);
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    acc[2] += w;
                    acc[0] += w * w * dx;
                    acc[1] += w * w * dy;
                }
            }
            return;
        }
        let (dx, dy) = (yi[0] - cell.com[0], yi[1] - cell.com[1]);
        let d2 = dx * dx + dy * dy;
        let inside = yi[0] >= cell.corner[0]
            && yi[0] <= cell.corner[0] + cell.side
            && yi[1] >= cell.corner[1]
            && yi[1] <= cell.corner[1] + cell.side;
        if !inside && cell.side * cell.side < theta2 * d2 {
            let w = 1.0 / (1.0 + d2);
            let m = cell.count as f64;
            acc[2] += m * w;
            acc[0] += m * w * w * dx;
            acc[1] += m * w * w * dy;
            return;
        }
        let first = cell.first_child as usize;
        for ch in first..first + cell.children as usize {
            self.visit(ch, i, yi, y, theta2, acc);
        }
    }
}

fn build_cell(cells: &mut Vec<Cell>, order: &mut [u32], y: &[[f64; 2]], c: usize, depth: usize) {
    let Cell {
        corner,
        side,
        start,
        end,
        ..
    } = cells[c];
    let (s, e) = (start as usize, end as usize);
    let m = e - s;
    let pts = &mut order[s..e];
    let p0 = y[pts[0] as usize];
    if m == 1 || depth >= MAX_DEPTH || pts.iter().all(|&j| y[j as usize] == p0) {
        let (mut sx, mut sy) = (0.0, 0.0);
        for &j in pts.iter() {
            sx += y[j as usize][0];
            sy += y[j as usize][1];
        }
        let cell = &mut cells[c];
        cell.com = [sx / m as f64, sy / m as f64];
        cell.count = m as u32;
        return;
    }
    let h = side / 2.0;
    let mid = [corner[0] + h, corner[1] + h];
    // Lower half (y below the middle) first, each half left then right.
    let a = partition(pts, |j| y[j as usize][1] < mid[1]);
    let b = partition(&mut pts[..a], |j| y[j as usize][0] < mid[0]);
    let c2 = a + partition(&mut pts[a..], |j| y[j as usize][0] < mid[0]);
    let quadrants = [
        (0, b, 0.0, 0.0),
        (b, a, h, 0.0),
        (a, c2, 0.0, h),
        (c2, m, h, h),
    ];
    let first = cells.len();
    for (lo, hi, ox, oy) in quadrants {
        if hi > lo {
            cells.push(Cell {
                corner: [corner[0] + ox, corner[1] + oy],
                side: h,
                start: (s + lo) as u32,
                end: (s + hi) as u32,
                ..Cell::default()
            });
        }
    }
    let children = cells.len() - first;
    for ch in first..first + children {
        build_cell(cells, order, y, ch, depth + 1);
    }
    let (mut sx, mut sy) = (0.0, 0.0);
    for ch in &cells[first..first + children] {
        sx += ch.count as f64 * ch.com[0];
        sy += ch.count as f64 * ch.com[1];
    }
    let cell = &mut cells[c];
    cell.com = [sx / m as f64, sy / m as f64];
    cell.count = m as u32;
    cell.first_child = first as u32;
    cell.children = children as u32;
}

/// Buffers reused across iterations.
#[derive(Default)]
struct Work {
    tree: QuadTree,
    /// Per point: the repulsive sums and its share of Z.
    rep: Vec<[f64; 3]>,
}

/// The gradient of KL(exaggeration·P ‖ Q) into `grad`; returns Z (its
/// Barnes–Hut estimate, exact with θ = 0).
fn gradient(
    y: &[[f64; 2]],
    p: &Joint,
    exaggeration: f64,
    theta: f64,
    work: &mut Work,
    grad: &mut [[f64; 2]],
) -> f64 {
    let n = y.len();
    work.tree.build(y);
    work.rep.resize(n, [0.0; 3]);
    let tree = &work.tree;
    let theta2 = theta * theta;
    grad.par_iter_mut()
        .zip(work.rep.par_iter_mut())
        .enumerate()
        .with_min_len(64)
        .for_each(|(i, (g, r))| {
            let yi = y[i];
            let (mut ax, mut ay) = (0.0, 0.0);
            for e in p.start[i]..p.start[i + 1] {
                let yj = y[p.col[e] as usize];
                let (dx, dy) = (yi[0] - yj[0], yi[1] - yj[1]);
                let m = p.val[e] / (1.0 + dx * dx + dy * dy);
                ax += m * dx;
                ay += m * dy;
            }
            *g = [exaggeration * ax, exaggeration * ay];
            *r = tree.repulsion(i, y, theta2);
        });
    // Z in row order: the same sum on any number of threads.
    let z = work
        .rep
        .iter()
        .map(|r| r[2])
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    for (g, r) in grad.iter_mut().zip(&work.rep) {
        g[0] = 4.0 * (g[0] - r[0] / z);
        g[1] = 4.0 * (g[1] - r[1] / z);
    }
    z
}

/// KL(P‖Q) = Σ p_ij ln(p_ij Z (1 + ‖y_i − y_j‖²)) over P's entries.
fn kl_divergence(y: &[[f64; 2]], p: &Joint, z: f64) -> f64 {
    let mut kl = 0.0;
    for i in 0..y.len() {
        for e in p.start[i]..p.start[i + 1] {
            let yj = y[p.col[e] as usize];
            let (dx, dy) = (y[i][0] - yj[0], y[i][1] - yj[1]);
            let v = p.val[e];
            kl += v * (v * z * (1.0 + dx * dx + dy * dy)).ln();
        }
    }
    kl
}

/// SplitMix64 (Steele, Lea & Flood 2014; the seeder of xoshiro and Java's
/// `SplittableRandom`) with Box–Muller normals: a seeded stream with no
/// dependency, enough for a starting layout.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1), 53 bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// N(0, 1): Box–Muller's cosine half, from two uniforms.
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// N(0, (1e-4)²) coordinates from `seed`.
fn random_init(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let a = rng.normal();
            [1e-4 * a, 1e-4 * rng.normal()]
        })
        .collect()
}

/// Subspace iterations of the PCA start, and when they have converged
/// (1 − |cos| between successive directions; a start needs no more).
const PCA_ITERATIONS: usize = 100;
const PCA_TOLERANCE: f64 = 1e-10;

/// The first two principal components' scores, scaled so that the first
/// has standard deviation 1e-4 (sklearn's `init="pca"`), each direction's
/// sign set so that its largest loading is positive. Orthogonal iteration
/// on XᵀX from a fixed start, so no d × d matrix is formed. `None` when
/// the data have fewer than two directions of variance.
fn pca_init(x: &[f64], n: usize, d: usize) -> Option<Vec<[f64; 2]>> {
    if d < 2 || n < 3 {
        return None;
    }
    let mut mean = vec![0.0; d];
    for row in x.chunks(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let xc: Vec<f64> = x
        .chunks(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    // Gram–Schmidt; None if a direction vanishes.
    let orthonormal = |mut v: [Vec<f64>; 2]| -> Option<[Vec<f64>; 2]> {
        let n0 = dot(&v[0], &v[0]).sqrt();
        if !(n0 > 0.0 && n0.is_finite()) {
            return None;
        }
        v[0].iter_mut().for_each(|a| *a /= n0);
        let proj = dot(&v[0], &v[1]);
        let (v0, v1) = v.split_at_mut(1);
        v1[0]
            .iter_mut()
            .zip(&v0[0])
            .for_each(|(a, b)| *a -= proj * b);
        let n1 = dot(&v[1], &v[1]).sqrt();
        if !(n1 > 1e-12 * n0 && n1.is_finite()) {
            return None;
        }
        v[1].iter_mut().for_each(|a| *a /= n1);
        Some(v)
    };
    let scores = |v: &[Vec<f64>; 2]| -> Vec<[f64; 2]> {
        xc.par_chunks(d)
            .map(|r| [dot(r, &v[0]), dot(r, &v[1])])
            .collect()
    };
    let mut rng = SplitMix64(0x7C5E_91A3);
    let mut v = orthonormal([
        (0..d).map(|_| rng.normal()).collect(),
        (0..d).map(|_| rng.normal()).collect(),
    ])?;
    const CHUNK: usize = 256;
    for _ in 0..PCA_ITERATIONS {
        let w = scores(&v);
        // Xᵀ W in fixed blocks of rows, added in block order.
        let parts: Vec<Vec<f64>> = xc
            .par_chunks(d * CHUNK)
            .zip(w.par_chunks(CHUNK))
            .map(|(rows, ws)| {
                let mut u = vec![0.0; 2 * d];
                for (r, wr) in rows.chunks(d).zip(ws) {
                    for j in 0..d {
                        u[j] += r[j] * wr[0];
                        u[d + j] += r[j] * wr[1];
                    }
                }
                u
            })
            .collect();
        let mut u = vec![0.0; 2 * d];
        for part in &parts {
            u.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        let next = orthonormal([u[..d].to_vec(), u[d..].to_vec()])?;
        let done = (0..2).all(|c| 1.0 - dot(&next[c], &v[c]).abs() < PCA_TOLERANCE);
        v = next;
        if done {
            break;
        }
    }
    for col in &mut v {
        let big = col
            .iter()
            .copied()
            .fold(0.0f64, |b, a| if a.abs() > b.abs() { a } else { b });
        if big < 0.0 {
            col.iter_mut().for_each(|a| *a = -*a);
        }
    }
    let mut y = scores(&v);
    let sd = |c: usize| {
        let m = y.iter().map(|p| p[c]).sum::<f64>() / n as f64;
        (y.iter().map(|p| (p[c] - m).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let (s0, s1) = (sd(0), sd(1));
    if !(s0 > 0.0 && s0.is_finite() && s1 > 1e-12 * s0) {
        return None;
    }
    for p in &mut y {
        p[0] *= 1e-4 / s0;
        p[1] *= 1e-4 / s0;
    }
    Some(y)
}

/// One row's input distances, (distance, index) pairs and candidates.
type RowBuffers = (Vec<f64>, Vec<(f64, u32)>, Vec<(f64, u32)>);

/// Trustworthiness of an embedding (Venna & Kaski 2001), as
/// `sklearn.manifold.trustworthiness` with the Euclidean metric:
///
/// ```text
/// T(k) = 1 − 2 / (n k (2n − 3k − 1)) Σ_i Σ_{j ∈ U_i(k)} (r(i, j) − k)
/// ```
///
/// where U_i(k) are the points among i's k nearest in the embedding but
/// not among its k nearest in the input, and r(i, j) is j's rank among i's
/// input-space neighbours (1 = nearest). 1 when every embedded
/// neighbourhood is an input neighbourhood; about 0.5 for a random layout.
/// Ties in either space go to the lower index (sklearn leaves them to its
/// sort). Exact, O(n² (d + log k)), rows on every core.
///
/// Panics unless 1 ≤ k < n/2 (sklearn's condition) and the sizes agree.
pub fn trustworthiness(x: &[f64], y: &[[f64; 2]], n: usize, d: usize, k: usize) -> f64 {
    assert_eq!(
        x.len(),
        n * d,
        "trustworthiness: {} values for {n} × {d}",
        x.len()
    );
    assert_eq!(
        y.len(),
        n,
        "trustworthiness: {} embedded points for {n}",
        y.len()
    );
    assert!(
        k >= 1 && 2 * k < n,
        "trustworthiness needs 1 ≤ k < n/2: k = {k}, n = {n}"
    );
    let penalties: Vec<u64> = (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0.0f64; n], Vec::with_capacity(n), Vec::new()),
            |(dx, pairs, cand): &mut RowBuffers, i| {
                let xi = &x[i * d..(i + 1) * d];
                for (j, v) in dx.iter_mut().enumerate() {
                    *v = sqdist(xi, &x[j * d..(j + 1) * d]);
                }
                // The k-th nearest in the input: its key bounds the input neighbourhood.
                pairs.clear();
                pairs.extend((0..n).filter(|&j| j != i).map(|j| (dx[j], j as u32)));
                pairs.select_nth_unstable_by(k - 1, by_distance);
                let kth = pairs[k - 1];
                // The k nearest in the embedding.
                pairs.clear();
                pairs.extend((0..n).filter(|&j| j != i).map(|j| {
                    let (a, b) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
                    (a * a + b * b, j as u32)
                }));
                pairs.select_nth_unstable_by(k - 1, by_distance);
                // Those not among the input's k nearest, by input key.
                cand.clear();
                cand.extend(
                    pairs[..k]
                        .iter()
                        .map(|&(_, j)| (dx[j as usize], j))
                        .filter(|c| by_distance(c, &kth) == Ordering::Greater),
                );
                if cand.is_empty() {
                    return 0;
                }
                cand.sort_unstable_by(by_distance);
                // below[t]: points nearer (in the input) than candidate t.
                let mut hist = vec![0u64; cand.len() + 1];
                for l in (0..n).filter(|&l| l != i) {
                    let key = (dx[l], l as u32);
                    let pos = cand.partition_point(|c| by_distance(c, &key) != Ordering::Greater);
                    hist[pos] += 1;
                }
                let mut below = 0u64;
                let mut penalty = 0u64;
                for h in hist.iter().take(cand.len()) {
                    below += h;
                    // rank = below + 1 > k
                    penalty += below + 1 - k as u64;
                }
                penalty
            },
        )
        .collect();
    let total: u64 = penalties.iter().sum();
    let (n, k) = (n as f64, k as f64);
    1.0 - 2.0 * total as f64 / (n * k * (2.0 * n - 3.0 * k - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n × d` uniform values in [0, 1) from SplitMix64(seed), row-major
    /// (replayed in Python for the sklearn references below).
    fn uniform_data(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64(seed);
        (0..n * d).map(|_| rng.uniform()).collect()
    }

    /// `clusters × per` points in `d` dimensions: centres N(0, 10² I),
    /// points centre + N(0, I), cluster by cluster; and each point's cluster.
    fn gaussian_clusters(
        clusters: usize,
        per: usize,
        d: usize,
        seed: u64,
    ) -> (Vec<f64>, Vec<usize>) {
        let mut rng = SplitMix64(seed);
        let centres: Vec<f64> = (0..clusters * d).map(|_| 10.0 * rng.normal()).collect();
        let mut x = Vec::with_capacity(clusters * per * d);
        let mut label = Vec::with_capacity(clusters * per);
        for c in 0..clusters {
            for _ in 0..per {
                x.extend((0..d).map(|j| centres[c * d + j] + rng.normal()));
                label.push(c);
            }
        }
        (x, label)
    }

    fn dense(p: &Joint, n: usize) -> Vec<f64> {
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for e in p.start[i]..p.start[i + 1] {
                m[i * n + p.col[e] as usize] = p.val[e];
            }
        }
        m
    }

    fn w(y: &[[f64; 2]], i: usize, j: usize) -> f64 {
        let (a, b) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
        1.0 / (1.0 + a * a + b * b)
    }

    fn z_exact(y: &[[f64; 2]]) -> f64 {
        let n = y.len();
        let mut z = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    z += w(y, i, j);
                }
            }
        }
        z
    }

    /// The dense textbook gradient: 4 Σ_j (p_ij − q_ij) q_ij Z (y_i − y_j).
    fn exact_gradient(y: &[[f64; 2]], pd: &[f64]) -> Vec<[f64; 2]> {
        let n = y.len();
        let z = z_exact(y);
        (0..n)
            .map(|i| {
                let mut g = [0.0; 2];
                for j in (0..n).filter(|&j| j != i) {
                    let wij = w(y, i, j);
                    let m = 4.0 * (pd[i * n + j] - wij / z) * wij;
                    g[0] += m * (y[i][0] - y[j][0]);
                    g[1] += m * (y[i][1] - y[j][1]);
                }
                g
            })
            .collect()
    }

    /// KL(P‖Q) from the dense P and every pair's q.
    fn kl_exact(y: &[[f64; 2]], pd: &[f64]) -> f64 {
        let n = y.len();
        let z = z_exact(y);
        let mut kl = 0.0;
        for i in 0..n {
            for j in 0..n {
                let p = pd[i * n + j];
                if i != j && p > 0.0 {
                    kl += p * (p / (w(y, i, j) / z)).ln();
                }
            }
        }
        kl
    }

    fn random_layout(n: usize, scale: f64, seed: u64) -> Vec<[f64; 2]> {
        let mut rng = SplitMix64(seed);
        (0..n)
            .map(|_| {
                let a = rng.normal();
                [scale * a, scale * rng.normal()]
            })
            .collect()
    }

    /// (a) Every row's conditional distribution, from the returned
    /// probabilities: entropy −Σ p ln p = ln(perplexity) to the bisection's
    /// tolerance, sum 1, over the true k nearest neighbours (brute force).
    #[test]
    fn each_rows_entropy_is_ln_perplexity() {
        let (n, d) = (300, 6);
        let x = uniform_data(n, d, 11);
        for perplexity in [5.0, 12.5, 30.0] {
            let c = Conditional::of(&x, n, d, perplexity);
            let k = (3.0 * perplexity).floor() as usize;
            assert_eq!(c.k, k);
            for i in 0..n {
                let p = &c.p[i * k..(i + 1) * k];
                let h: f64 = -p
                    .iter()
                    .filter(|&&v| v > 0.0)
                    .map(|v| v * v.ln())
                    .sum::<f64>();
                assert!(
                    (h - perplexity.ln()).abs() <= ENTROPY_TOLERANCE + 1e-9,
                    "row {i}, perplexity {perplexity}: entropy {h} vs {}",
                    perplexity.ln()
                );
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                let mut all: Vec<(f64, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let s: f64 = (0..d).map(|t| (x[i * d + t] - x[j * d + t]).powi(2)).sum();
                        (s, j as u32)
                    })
                    .collect();
                all.sort_by(by_distance);
                let want: Vec<u32> = all[..k].iter().map(|a| a.1).collect();
                assert_eq!(&c.neighbours[i * k..(i + 1) * k], &want[..], "row {i}");
            }
        }
    }

    /// The conditional probabilities against sklearn 1.9.1's
    /// `_binary_search_perplexity` on the same neighbours, for
    /// `uniform_data(60, 4, 3)` with perplexity 5 (k = 15). Computed by
    /// replaying SplitMix64 in Python, taking each row's 15 nearest
    /// neighbours (squared distances, float32 as sklearn takes them) and
    /// calling `sklearn.manifold._utils._binary_search_perplexity(D, 5.0, 0)`;
    /// the values are p_{j|i} for the rows and neighbour ranks listed.
    /// sklearn's distances are float32; the two agree to 2e-7 relative.
    #[test]
    fn conditional_probabilities_match_sklearn() {
        let x = uniform_data(60, 4, 3);
        let c = Conditional::of(&x, 60, 4, 5.0);
        assert_eq!(c.k, 15);
        // (row, rank among its neighbours, sklearn's p_{j|i})
        let reference: [(usize, usize, f64); 6] = SKLEARN_CONDITIONAL;
        for (i, r, want) in reference {
            let got = c.p[i * 15 + r];
            assert!(
                (got - want).abs() < 1e-6 * want,
                "p[{i}][{r}] = {got}, sklearn {want}"
            );
        }
    }

    const SKLEARN_CONDITIONAL: [(usize, usize, f64); 6] = [
        (0, 0, 0.31985941550359176),
        (0, 14, 0.0003206769222417416),
        (17, 3, 0.05286023120418614),
        (33, 7, 0.0103477109344445),
        (59, 0, 0.4927603171879885),
        (59, 10, 0.002552978960257064),
    ];

    /// P is symmetric, sums to 1, and is (p_{j|i} + p_{i|j}) / 2n entry by
    /// entry (from the conditional rows, looked up independently).
    #[test]
    fn joint_probabilities_are_the_symmetrised_conditionals() {
        let (n, d) = (200, 5);
        let x = uniform_data(n, d, 5);
        let c = Conditional::of(&x, n, d, 10.0);
        let p = c.joint();
        let pd = dense(&p, n);
        let cond = |i: usize, j: usize| -> f64 {
            (0..c.k)
                .find(|&e| c.neighbours[i * c.k + e] as usize == j)
                .map_or(0.0, |e| c.p[i * c.k + e])
        };
        let mut total = 0.0;
        for i in 0..n {
            assert_eq!(pd[i * n + i], 0.0);
            for j in 0..n {
                assert_eq!(pd[i * n + j], pd[j * n + i]);
                let want = (cond(i, j) + cond(j, i)) / (2.0 * n as f64);
                assert!((pd[i * n + j] - want).abs() <= 1e-15 * (1.0 + want));
                total += pd[i * n + j];
            }
        }
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    /// (b) Barnes–Hut with θ = 0 is the dense gradient to 1e-10 (relative
    /// to the largest component), Z included; with θ = 0.5 it is within a
    /// few percent.
    #[test]
    fn barnes_hut_gradient_is_the_exact_gradient_at_theta_zero() {
        let (n, d) = (400, 8);
        let x = uniform_data(n, d, 21);
        let p = Conditional::of(&x, n, d, 10.0).joint();
        let pd = dense(&p, n);
        let y = random_layout(n, 5.0, 4);
        let want = exact_gradient(&y, &pd);
        let scale = want
            .iter()
            .flat_map(|g| g.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let mut work = Work::default();
        let mut got = vec![[0.0; 2]; n];
        let z = gradient(&y, &p, 1.0, 0.0, &mut work, &mut got);
        assert!((z / z_exact(&y) - 1.0).abs() < 1e-12);
        for (a, b) in got.iter().zip(&want) {
            for c in 0..2 {
                assert!((a[c] - b[c]).abs() <= 1e-10 * scale, "{a:?} vs {b:?}");
            }
        }
        gradient(&y, &p, 1.0, 0.5, &mut work, &mut got);
        let norm = |g: &[[f64; 2]]| {
            g.iter()
                .map(|v| v[0] * v[0] + v[1] * v[1])
                .sum::<f64>()
                .sqrt()
        };
        let diff: Vec<[f64; 2]> = got
            .iter()
            .zip(&want)
            .map(|(a, b)| [a[0] - b[0], a[1] - b[1]])
            .collect();
        let rel = norm(&diff) / norm(&want);
        assert!(rel < 0.03, "θ = 0.5: relative error {rel}");
        assert!(rel > 0.0, "θ = 0.5 should approximate");
    }

    /// (c) The dense gradient formula is the derivative of KL(P‖Q): central
    /// differences of the KL itself, coordinate by coordinate.
    #[test]
    fn the_exact_gradient_is_the_derivative_of_kl() {
        let (n, d) = (40, 5);
        let x = uniform_data(n, d, 31);
        let pd = dense(&Conditional::of(&x, n, d, 5.0).joint(), n);
        let mut y = random_layout(n, 2.0, 8);
        let g = exact_gradient(&y, &pd);
        let scale = g
            .iter()
            .flat_map(|g| g.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let h = 1e-6;
        for i in (0..n).step_by(3) {
            for c in 0..2 {
                let y0 = y[i][c];
                y[i][c] = y0 + h;
                let up = kl_exact(&y, &pd);
                y[i][c] = y0 - h;
                let down = kl_exact(&y, &pd);
                y[i][c] = y0;
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (fd - g[i][c]).abs() < 1e-6 * scale,
                    "y[{i}][{c}]: finite difference {fd}, formula {}",
                    g[i][c]
                );
            }
        }
    }

    fn neighbour_purity(y: &[[f64; 2]], label: &[usize], k: usize) -> f64 {
        let n = y.len();
        let mut same = 0;
        for i in 0..n {
            let mut d: Vec<(f64, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let (a, b) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
                    (a * a + b * b, j as u32)
                })
                .collect();
            d.sort_by(by_distance);
            same += d[..k]
                .iter()
                .filter(|p| label[p.1 as usize] == label[i])
                .count();
        }
        same as f64 / (n * k) as f64
    }

    /// (d) Four well-separated Gaussian clusters in 50-D come out
    /// separated: each point's 10 nearest embedded neighbours are from its
    /// cluster; the final KL is the exact KL of the layout (Barnes–Hut's Z
    /// against the dense one); the embedding keeps neighbourhoods
    /// (trustworthiness); and the same seed gives bit-identical output,
    /// also on one thread.
    #[test]
    fn separated_clusters_stay_separated_and_runs_repeat() {
        let (x, label) = gaussian_clusters(4, 100, 50, 1);
        let n = label.len();
        for init in [Init::Pca, Init::Random] {
            let cfg = TsneConfig {
                init,
                seed: 3,
                ..TsneConfig::default()
            };
            let e = embed(&x, n, 50, &cfg).unwrap();
            assert!(!e.random_start);
            assert_eq!(e.neighbours, 90);
            assert_eq!(e.learning_rate, 50.0);
            let purity = neighbour_purity(&e.y, &label, 10);
            assert!(purity > 0.99, "{init:?}: 10-NN purity {purity}");
            let p = Conditional::of(&x, n, 50, 30.0).joint();
            let exact = kl_exact(&e.y, &dense(&p, n));
            assert!(
                (e.kl / exact - 1.0).abs() < 0.01,
                "KL {} vs exact {exact}",
                e.kl
            );
            let t = trustworthiness(&x, &e.y, n, 50, 10);
            assert!(t > 0.9, "trustworthiness {t}");
            let again = embed(&x, n, 50, &cfg).unwrap();
            assert_eq!(e.y, again.y);
            let single = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| embed(&x, n, 50, &cfg).unwrap());
            assert_eq!(e.y, single.y, "{init:?}: one thread differs");
        }
        // sklearn 1.9.1 on the same points (SplitMix64 replayed in Python):
        // `TSNE(perplexity=30, init="pca", random_state=0)` (Barnes–Hut,
        // angle 0.5, learning rate auto = 50) ends at kl_divergence_
        // 0.76610, and `trustworthiness(X, Y, n_neighbors=10)` of its
        // layout is 0.94681. Ours (PCA start): KL 0.7717, T 0.9486.
        let e = embed(&x, n, 50, &TsneConfig::default()).unwrap();
        assert!(
            (e.kl / 0.76610 - 1.0).abs() < 0.02,
            "KL {} vs sklearn's 0.76610",
            e.kl
        );
        let t = trustworthiness(&x, &e.y, n, 50, 10);
        assert!(
            (t - 0.94681).abs() < 0.01,
            "trustworthiness {t} vs sklearn's layout's 0.94681"
        );
        // Another seed, another random start, another layout.
        let cfg = |seed| TsneConfig {
            init: Init::Random,
            seed,
            iterations: 50,
            ..TsneConfig::default()
        };
        assert_ne!(
            embed(&x, n, 50, &cfg(1)).unwrap().y,
            embed(&x, n, 50, &cfg(2)).unwrap().y
        );
    }

    /// The PCA start lies along the data's two directions of largest
    /// variance (axes 2 and 0 here, standard deviations 5 and 3), the first
    /// at standard deviation 1e-4.
    #[test]
    fn pca_start_follows_the_principal_axes() {
        let (n, d) = (500, 4);
        let mut rng = SplitMix64(9);
        let sd = [3.0, 1.0, 5.0, 0.5];
        let x: Vec<f64> = (0..n * d).map(|t| sd[t % d] * rng.normal()).collect();
        let y = pca_init(&x, n, d).unwrap();
        let corr = |c: usize, axis: usize| {
            let a: Vec<f64> = y.iter().map(|p| p[c]).collect();
            let b: Vec<f64> = x.chunks(d).map(|r| r[axis]).collect();
            let (ma, mb) = (
                a.iter().sum::<f64>() / n as f64,
                b.iter().sum::<f64>() / n as f64,
            );
            let cov: f64 = a.iter().zip(&b).map(|(u, v)| (u - ma) * (v - mb)).sum();
            let va: f64 = a.iter().map(|u| (u - ma).powi(2)).sum();
            let vb: f64 = b.iter().map(|v| (v - mb).powi(2)).sum();
            cov / (va * vb).sqrt()
        };
        assert!(corr(0, 2).abs() > 0.99, "{}", corr(0, 2));
        assert!(corr(1, 0).abs() > 0.97, "{}", corr(1, 0));
        let m = y.iter().map(|p| p[0]).sum::<f64>() / n as f64;
        let s = (y.iter().map(|p| (p[0] - m).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((s / 1e-4 - 1.0).abs() < 1e-9);
        // Points on a line have one direction: the random start instead.
        let line: Vec<f64> = (0..50).flat_map(|i| [i as f64, 2.0 * i as f64]).collect();
        assert!(pca_init(&line, 50, 2).is_none());
        let e = embed(
            &line,
            50,
            2,
            &TsneConfig {
                perplexity: 5.0,
                iterations: 20,
                ..TsneConfig::default()
            },
        )
        .unwrap();
        assert!(e.random_start);
    }

    #[test]
    fn too_few_points_for_the_perplexity_is_an_error_that_says_what_to_do() {
        let x = uniform_data(90, 3, 1);
        let err = embed(&x, 90, 3, &TsneConfig::default()).unwrap_err();
        assert!(
            err.contains("90 points are too few for perplexity 30"),
            "{err}"
        );
        assert!(err.contains("at most 29.7"), "{err}");
        // 91 points: each has the 90 others as neighbours.
        let x = uniform_data(91, 3, 1);
        let cfg = TsneConfig {
            iterations: 10,
            ..TsneConfig::default()
        };
        assert_eq!(embed(&x, 91, 3, &cfg).unwrap().neighbours, 90);
        let mut bad = uniform_data(91, 3, 1);
        bad[7] = f64::NAN;
        assert!(embed(&bad, 91, 3, &cfg).unwrap_err().contains("point 2"));
    }

    /// By hand, k = 1: five points on a line at 0, 1, 3, 7, 15 (input
    /// nearest neighbours 0→1, 1→0, 3→1, 7→3, 15→7), embedded with 15 moved
    /// to 0.5. Embedded nearest neighbours: 0→15 (input rank 4), 1→15
    /// (rank 4), 3→1 (rank 1), 7→3 (rank 1), 15→0 (rank 4: 7, 3, 1 are
    /// nearer). Penalties (r − k): 3 + 3 + 0 + 0 + 3 = 9; T = 1 − 2·9 /
    /// (5·1·(10 − 3 − 1)) = 1 − 18/30 = 0.4.
    #[test]
    fn trustworthiness_by_hand() {
        let x = [0.0, 1.0, 3.0, 7.0, 15.0];
        let y = [[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0], [0.5, 0.0]];
        assert!((trustworthiness(&x, &y, 5, 1, 1) - 0.4).abs() < 1e-15);
        // The embedding that is the input: 1.
        let y: Vec<[f64; 2]> = x.iter().map(|&v| [v, 0.0]).collect();
        assert_eq!(trustworthiness(&x, &y, 5, 1, 1), 1.0);
    }

    /// Against the definition by brute force: full sorts for every rank.
    #[test]
    fn trustworthiness_is_the_definition() {
        let (n, d) = (120, 7);
        let x = uniform_data(n, d, 17);
        let y = random_layout(n, 1.0, 2);
        for k in [1, 5, 12] {
            let mut total = 0usize;
            for i in 0..n {
                let order = |f: &dyn Fn(usize) -> f64| {
                    let mut v: Vec<(f64, u32)> = (0..n)
                        .filter(|&j| j != i)
                        .map(|j| (f(j), j as u32))
                        .collect();
                    v.sort_by(by_distance);
                    v.into_iter().map(|p| p.1 as usize).collect::<Vec<_>>()
                };
                let input = order(&|j| sqdist(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]));
                let emb = order(&|j| (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2));
                for &j in &emb[..k] {
                    let rank = input.iter().position(|&l| l == j).unwrap() + 1;
                    if rank > k {
                        total += rank - k;
                    }
                }
            }
            let want = 1.0
                - 2.0 * total as f64
                    / (n as f64 * k as f64 * (2.0 * n as f64 - 3.0 * k as f64 - 1.0));
            let got = trustworthiness(&x, &y, n, d, k);
            assert!((got - want).abs() < 1e-14, "k = {k}: {got} vs {want}");
        }
    }

    /// Against sklearn 1.9.1: `trustworthiness(X, Y, n_neighbors=5)` with X
    /// = `uniform_data(50, 6, 7)` (SplitMix64 replayed in Python) and Y =
    /// X's first two columns plus 0.3 × `random_layout(50, 1.0, 13)`.
    #[test]
    fn trustworthiness_matches_sklearn() {
        let (n, d) = (50, 6);
        let x = uniform_data(n, d, 7);
        let noise = random_layout(n, 1.0, 13);
        let y: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                [
                    x[i * d] + 0.3 * noise[i][0],
                    x[i * d + 1] + 0.3 * noise[i][1],
                ]
            })
            .collect();
        let t = trustworthiness(&x, &y, n, d, 5);
        assert!(
            (t - SKLEARN_TRUSTWORTHINESS).abs() < 1e-12,
            "{t} vs sklearn {SKLEARN_TRUSTWORTHINESS}"
        );
    }

    const SKLEARN_TRUSTWORTHINESS: f64 = 0.6225714285714286;
}
