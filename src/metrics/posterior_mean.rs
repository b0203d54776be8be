//! The posterior-mean space of He et al. (2019, Figures 1–2): for each of a
//! few hundred examples, the *model's* posterior mean E_{p(z|x)}[z] against
//! the inference network's mean μ_φ(x).
//!
//! Points on the diagonal: the encoder has caught up with the model's
//! posterior. Points spread along the model axis but flat on the encoder
//! axis: the encoder lags. All points at zero on both axes: the posterior
//! has collapsed onto the prior.
//!
//! E_{p(z|x)}[z] = ∫ z p(z) p(x|z) dz / ∫ p(z) p(x|z) dz is computed by
//! quadrature, as the authors' `calc_model_posterior_mean` does: the
//! integrand is evaluated at the midpoints of a regular grid over
//! [−range, range]^d (they use range 20, step 0.1, d = 1), and each
//! integral is the sum over the grid (the cell volume cancels). Sums are
//! log-sum-exps in f64. For d = 2 the grid is the product grid, so the step
//! must be coarser or the range smaller (`monitor.posterior_mean_*`).

use crate::core::error::{Error, Result};
use crate::core::posterior::Posterior;
use crate::data::Dataset;
use crate::models::LatentModel;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The file a run's snapshots are appended to.
pub const FILE: &str = "posterior_means.jsonl";

/// Grid points above which a snapshot would take minutes: refused with a
/// message that names the keys.
pub const MAX_GRID_POINTS: usize = 40_000;

/// Decoder rows evaluated together.
const ROWS: usize = 16_384;

/// A regular grid of cell midpoints over [−range, range]^dim.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub dim: usize,
    /// The midpoints along one axis.
    pub axis: Vec<f64>,
}

impl Grid {
    pub fn new(dim: usize, range: f64, step: f64) -> Self {
        let cells = ((2.0 * range / step).round() as usize).max(1);
        let axis = (0..cells)
            .map(|i| -range + (i as f64 + 0.5) * step)
            .collect();
        Self { dim, axis }
    }

    /// Points in the grid.
    pub fn len(&self) -> usize {
        self.axis.len().pow(self.dim as u32)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, `[len, dim]` row-major (the last coordinate fastest).
    pub fn points(&self) -> Vec<f64> {
        let (n, g) = (self.len(), self.axis.len());
        let mut out = Vec::with_capacity(n * self.dim);
        for i in 0..n {
            let mut rest = i;
            let mut p = vec![0.0; self.dim];
            for d in (0..self.dim).rev() {
                p[d] = self.axis[rest % g];
                rest /= g;
            }
            out.extend(p);
        }
        out
    }
}

/// Posterior means from the log joint log p(z_g) + log p(x|z_g) of `n`
/// examples at every grid point (`log_joint` is `[n, G]`): the
/// self-normalised weighted mean of the points, `[n, dim]`.
pub fn means_from_log_joint(points: &[f64], dim: usize, log_joint: &[f64], n: usize) -> Vec<f64> {
    let g = points.len() / dim;
    let mut out = vec![0.0; n * dim];
    for i in 0..n {
        let row = &log_joint[i * g..(i + 1) * g];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for (j, &l) in row.iter().enumerate() {
            let w = (l - m).exp();
            total += w;
            for d in 0..dim {
                out[i * dim + d] += w * points[j * dim + d];
            }
        }
        for d in 0..dim {
            out[i * dim + d] /= total;
        }
    }
    out
}

/// One snapshot: the model's and the encoder's posterior means of the same
/// examples, `[n, dim]` each, row-major.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub step: usize,
    pub epoch: usize,
    pub dim: usize,
    /// E_{p(z|x)}[z] by quadrature.
    pub model_mean: Vec<f64>,
    /// μ_φ(x).
    pub encoder_mean: Vec<f64>,
}

/// E_{p(z|x)}[z] by quadrature on `grid`, and μ_φ(x), for the examples
/// `idx` of `set` (the model on the non-autodiff `device`).
pub fn posterior_means<M: LatentModel>(
    model: &M,
    set: &Dataset,
    idx: &[usize],
    grid: &Grid,
    device: &Device,
) -> (Vec<f64>, Vec<f64>) {
    let n = idx.len();
    let x = set.batch(idx, None, device);
    let dim = grid.dim;
    let points = grid.points();
    let g = grid.len();
    let encoder_mean = match model.encode(&x) {
        Posterior::Gaussian(q) => host(q.mean),
        Posterior::Codes(_) => vec![f64::NAN; n * dim],
    };
    let z_all = Tensor::<2>::from_data(
        TensorData::new(
            points.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
            [g, dim],
        ),
        device,
    );
    let log_prior = host(model.log_prior(z_all.clone()));
    let mut log_joint = vec![0.0; n * g];
    // Chunks of grid points for one example at a time when the grid is
    // large, or of examples when it is small.
    let per = (ROWS / g).max(1);
    let chunk = g.min(ROWS);
    let mut i = 0;
    while i < n {
        let k = per.min(n - i);
        let xs = set.batch(&idx[i..i + k], None, device);
        let mut j = 0;
        while j < g {
            let c = chunk.min(g - j);
            let z = z_all.clone().narrow(0, j, c);
            // Rows: each example repeated c times, against the chunk's points.
            let rows = xs.repeat_rows(c);
            let zs = z
                .unsqueeze_dim::<3>(0)
                .expand([k, c, dim])
                .reshape([k * c, dim]);
            let ll = host(model.log_likelihood(&rows, zs));
            for a in 0..k {
                for b in 0..c {
                    log_joint[(i + a) * g + j + b] = ll[a * c + b] + log_prior[j + b];
                }
            }
            j += c;
        }
        i += k;
    }
    (
        means_from_log_joint(&points, dim, &log_joint, n),
        encoder_mean,
    )
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 tensor")
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

/// Append a snapshot to `RUN/posterior_means.jsonl` (one line, flushed).
pub fn append(run: &Path, s: &Snapshot) -> Result<()> {
    let path = run.join(FILE);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let line = serde_json::to_string(s).expect("json") + "\n";
    f.write_all(line.as_bytes())
        .and_then(|_| f.flush())
        .map_err(|e| Error::io(&path, e))
}

/// Every snapshot of a run (none when the file is absent); a line that is
/// not a snapshot is an error naming the file and line.
pub fn read(run: &Path) -> Result<Vec<Snapshot>> {
    Ok(lines(run)?.into_iter().map(|(_, s)| s).collect())
}

/// Every line of the file with its snapshot; a line that is not a snapshot
/// is an error naming the file and line.
fn lines(run: &Path) -> Result<Vec<(String, Snapshot)>> {
    let path = run.join(FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let s = serde_json::from_str(l).map_err(|e| {
                Error::bad_file(
                    &path,
                    format!("line {}: not a posterior-mean snapshot: {e}", i + 1),
                )
            })?;
            Ok((l.to_string(), s))
        })
        .collect()
}

/// A resumed run drops the snapshots past the checkpoint it resumes from
/// (they are taken again), rewriting the file whole.
pub fn truncate_after(run: &Path, step: usize) -> Result<()> {
    let path = run.join(FILE);
    if !path.is_file() {
        return Ok(());
    }
    // The lines themselves are kept (a float printed, parsed and printed
    // again may change in its last digit).
    let text: String = lines(run)?
        .into_iter()
        .filter(|(_, s)| s.step <= step)
        .map(|(l, _)| format!("{l}\n"))
        .collect();
    crate::core::fsutil::write_atomic(&path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The linear-Gaussian model x = w z + b + σ ε, z ~ N(0, I_d), x ∈ R^m:
    /// p(z|x) is Gaussian with mean (I + WᵀW/σ²)⁻¹ Wᵀ(x − b)/σ². The
    /// quadrature of [`means_from_log_joint`] on He et al.'s grid (1-D:
    /// range 20, step 0.1) and on a 2-D grid matches the closed form, for
    /// posteriors near the prior and far from it.
    #[test]
    fn quadrature_matches_the_linear_gaussian_posterior_mean() {
        let sigma = 0.7f64;
        // W is m × d; b has m entries.
        let cases: [(usize, Vec<f64>, Vec<f64>, f64, f64); 2] = [
            (1, vec![1.5, -0.5, 2.0], vec![0.1, 0.0, -0.3], 20.0, 0.1),
            (
                2,
                vec![1.0, 0.3, -0.4, 1.2, 0.8, 0.5],
                vec![0.2, -0.1, 0.0],
                8.0,
                0.08,
            ),
        ];
        for (d, w, b, range, step) in cases {
            let m = b.len();
            let grid = Grid::new(d, range, step);
            let points = grid.points();
            let xs: Vec<Vec<f64>> = vec![
                vec![0.0, 0.1, -0.2],
                vec![3.0, -1.0, 4.0],
                vec![-6.0, 2.0, -7.5],
            ];
            let mut log_joint = Vec::new();
            for x in &xs {
                for z in points.chunks(d) {
                    let mut l = -0.5 * z.iter().map(|v| v * v).sum::<f64>();
                    for r in 0..m {
                        let mean = (0..d).map(|k| w[r * d + k] * z[k]).sum::<f64>() + b[r];
                        l -= 0.5 * ((x[r] - mean) / sigma).powi(2);
                    }
                    log_joint.push(l);
                }
            }
            let got = means_from_log_joint(&points, d, &log_joint, xs.len());
            for (i, x) in xs.iter().enumerate() {
                // Closed form: A = I + WᵀW/σ², r = Wᵀ(x − b)/σ², mean = A⁻¹ r.
                let mut a = vec![0.0; d * d];
                let mut rhs = vec![0.0; d];
                for p in 0..d {
                    for q in 0..d {
                        a[p * d + q] = (p == q) as u8 as f64
                            + (0..m).map(|r| w[r * d + p] * w[r * d + q]).sum::<f64>()
                                / sigma.powi(2);
                    }
                    rhs[p] =
                        (0..m).map(|r| w[r * d + p] * (x[r] - b[r])).sum::<f64>() / sigma.powi(2);
                }
                let want = if d == 1 {
                    vec![rhs[0] / a[0]]
                } else {
                    let det = a[0] * a[3] - a[1] * a[2];
                    vec![
                        (a[3] * rhs[0] - a[1] * rhs[1]) / det,
                        (-a[2] * rhs[0] + a[0] * rhs[1]) / det,
                    ]
                };
                for k in 0..d {
                    let g = got[i * d + k];
                    assert!(
                        (g - want[k]).abs() < 1e-3,
                        "d {d}, x {x:?}, dim {k}: quadrature {g} vs closed form {}",
                        want[k]
                    );
                }
                // And the posterior is not the prior: the test can tell.
                assert!(want.iter().any(|v| v.abs() > 0.05) || i == 0);
            }
        }
    }

    /// The grid's points are the midpoints, every combination once.
    #[test]
    fn grid_points_are_the_product_of_midpoints() {
        let g = Grid::new(2, 1.0, 0.5);
        assert_eq!(g.axis, vec![-0.75, -0.25, 0.25, 0.75]);
        let p = g.points();
        assert_eq!(p.len(), 32);
        assert_eq!(&p[0..4], &[-0.75, -0.75, -0.75, -0.25]);
        let mut pairs: Vec<(i64, i64)> = p
            .chunks(2)
            .map(|c| ((c[0] * 4.0) as i64, (c[1] * 4.0) as i64))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 16);
    }
}
