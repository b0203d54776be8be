//! VQ-VAE (van den Oord et al. 2017): a convolutional encoder maps an image
//! to a grid of P = (side/4)² vectors z_e of size D; each is replaced by its
//! nearest code e_k in a learned K×D codebook, and the decoder reconstructs
//! the image from the grid of codes.
//!
//! - Gradients pass the quantiser straight through: z_q = z_e + sg(e − z_e).
//! - Commitment cost β·‖z_e − sg(e)‖², summed over the grid, per example.
//! - The codebook learns by exponential moving averages of the encoder
//!   outputs assigned to each code (`codebook_update = "ema"`, decay γ;
//!   appendix A.1 of the paper, with Laplace smoothing of the counts) or by
//!   the codebook loss ‖sg(z_e) − e‖² (`"loss"`).
//! - Optionally, dead codes (moving-average count of assignments per batch
//!   below `restart_threshold`) are moved onto encoder outputs of the
//!   current batch (as in Dhariwal et al. 2020, Jukebox).
//!
//! As a latent-variable model, q(z|x) is one-hot at each position and the
//! prior is uniform over the K codes, so KL(q ‖ p) = P·ln K exactly and the
//! ELBO is log p(x|z_q) − P·ln K: the bound `vaekit eval` reports, in nats
//! and bits/dim. A learned prior over codes (a PixelCNN, as in the paper)
//! would give a tighter bound; it is not part of vaekit.

use super::config::{CodebookUpdate, ModelConfig};
use super::nn::{CONV_CHANNELS, ConvDecoder, ConvEncoder, ImageGrid, LikelihoodHead, activate};
use super::{Batch, CodePosterior, LatentModel, Posterior};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

/// Encoder → 1×1 conv to D channels → nearest code → 1×1 conv → decoder.
#[derive(Module, Debug)]
pub struct VqVae {
    pub encoder: ConvEncoder,
    pub pre_quant: Conv2d,
    /// The codes e_k, `[K, D]`.
    pub codebook: Param<Tensor<2>>,
    /// Moving average N_k of the assignments to each code per batch, `[K]`
    /// (kept in both update modes: it decides which codes are dead).
    pub ema_count: Param<Tensor<1>>,
    /// Moving average m_k of the sum of encoder outputs assigned to each code, `[K, D]`.
    pub ema_sum: Param<Tensor<2>>,
    pub post_quant: Conv2d,
    pub decoder: ConvDecoder,
    pub likelihood: LikelihoodHead,
    #[module(skip)]
    pub settings: VqSettings,
}

/// The fixed shape and training settings of a [`VqVae`].
#[derive(Clone, Debug)]
pub struct VqSettings {
    pub grid: ImageGrid,
    pub codes: usize,
    pub code_dim: usize,
    pub commitment: f64,
    pub update: CodebookUpdate,
    pub decay: f64,
    pub restart: bool,
    pub restart_threshold: f64,
}

impl VqSettings {
    /// Positions P in the latent grid.
    pub fn positions(&self) -> usize {
        (self.grid.side / 4) * (self.grid.side / 4)
    }
}

/// Replace a parameter's value, keeping its id (so optimizer state stays
/// attached) and its gradient setting.
fn replace<const D: usize>(p: Param<Tensor<D>>, value: Tensor<D>) -> Param<Tensor<D>> {
    p.map(|old| {
        let t = value.detach();
        if old.is_require_grad() {
            t.require_grad()
        } else {
            t
        }
    })
}

/// Which encoder outputs (rows of a batch of `n`) the `dead` codes restart
/// on: a shuffle of the batch from the stream `(seed, Restart, step)`, so
/// distinct rows while the batch has enough, and the same on resume.
fn restart_rows(n: usize, dead: usize, step: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut rng =
        crate::core::rng::stream(seed, crate::core::rng::Purpose::Restart, step as u64, 0);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order.into_iter().cycle().take(dead).collect()
}

impl VqVae {
    /// Build a VQ-VAE for square images of `data_dim` pixels whose side is a
    /// multiple of 4. Weights and codes are drawn from the device's RNG.
    pub fn new(cfg: &ModelConfig, data_dim: usize, device: &Device) -> Self {
        let grid = ImageGrid::of(data_dim).expect("checked by the trainer");
        let v = &cfg.vq_vae;
        let (k, d) = (v.codes, v.code_dim);
        let bound = 1.0 / k as f64;
        let codebook = Tensor::<2>::random([k, d], Distribution::Uniform(-bound, bound), device);
        Self {
            encoder: ConvEncoder::new(grid, cfg.activation, device),
            pre_quant: Conv2dConfig::new([CONV_CHANNELS, d], [1, 1]).init(device),
            ema_count: Param::from_tensor(Tensor::ones([k], device)),
            ema_sum: Param::from_tensor(codebook.clone()),
            codebook: Param::from_tensor(codebook),
            post_quant: Conv2dConfig::new([d, CONV_CHANNELS], [1, 1]).init(device),
            decoder: ConvDecoder::new(None, grid, cfg.activation, device),
            likelihood: LikelihoodHead::from_config(cfg, data_dim, device),
            settings: VqSettings {
                grid,
                codes: k,
                code_dim: d,
                commitment: v.commitment,
                update: v.codebook_update,
                decay: v.ema_decay,
                restart: v.dead_code_restart,
                restart_threshold: v.restart_threshold,
            },
        }
    }

    /// Encoder outputs z_e, one row per grid position, example 0's first.
    ///
    /// # Shapes
    /// - x: `[batch, side²]` -> `[batch·P, D]`
    pub fn encode_rows(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let h = self.pre_quant.forward(self.encoder.forward_map(x));
        let d = self.settings.code_dim;
        h.permute([0, 2, 3, 1])
            .reshape([b * self.settings.positions(), d])
    }

    /// Index of the nearest code (squared Euclidean distance) for each row.
    ///
    /// # Shapes
    /// - rows: `[n, D]` -> `[n]`
    pub fn nearest(&self, rows: Tensor<2>) -> Tensor<1, Int> {
        let e = self.codebook.val().detach();
        let rows = rows.detach();
        let [n, _] = rows.dims();
        let dist = rows.clone().square().sum_dim(1)
            - rows.matmul(e.clone().transpose()).mul_scalar(2.0)
            + e.square().sum_dim(1).transpose();
        dist.argmin(1).reshape([n])
    }

    /// The decoder's raw output from a flattened grid of codes.
    ///
    /// # Shapes
    /// - z: `[batch, P·D]` -> `[batch, side²]`
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        let [b, _] = z.dims();
        let (q, d) = (self.settings.grid.side / 4, self.settings.code_dim);
        let h = z.reshape([b, q, q, d]).permute([0, 3, 1, 2]);
        let h = activate(self.post_quant.forward(h), self.encoder.activation);
        self.decoder.forward_map(h)
    }
}

pub use crate::core::host::read_indices;

impl LatentModel for VqVae {
    /// P·D: the width of the flattened grid of codes.
    fn latent_dim(&self) -> usize {
        self.settings.positions() * self.settings.code_dim
    }

    fn noise_dim(&self) -> usize {
        1
    }

    fn family(&self) -> super::Family {
        super::Family::Codes
    }

    fn encode(&self, x: &Batch) -> Posterior {
        let x = x.images().clone();
        let [b, _] = x.dims();
        let s = &self.settings;
        let p = s.positions();
        let z_e = self.encode_rows(x);
        let index = self.nearest(z_e.clone());
        let e = self.codebook.val().select(0, index.clone());
        // Straight-through: the forward value is e, the gradient goes to z_e.
        let z_q = z_e.clone() + (e.clone() - z_e.clone()).detach();
        let per_example = |t: Tensor<2>| t.sum_dim(1).reshape([b, p]).sum_dim(1).reshape([b]);
        let mut penalty =
            per_example((z_e.clone() - e.clone().detach()).square()).mul_scalar(s.commitment);
        if s.update == CodebookUpdate::Loss {
            penalty = penalty + per_example((z_e.clone().detach() - e).square());
        }
        Posterior::Codes(CodePosterior {
            index: index.reshape([b, p]),
            z: z_q.reshape([b, p * s.code_dim]),
            encoded: z_e.detach(),
            codes: s.codes,
            penalty,
        })
    }

    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        self.likelihood.log_prob(x.images().clone(), self.decode(z))
    }

    /// The uniform prior over codes: −P·ln K for every grid of codes.
    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        let [n, _] = z.dims();
        Tensor::full([n], -self.kl_nats(), &z.device())
    }

    /// P·ln K for every example, one group `[batch, 1]`.
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        let _ = posterior;
        let [n, _] = z.dims();
        Tensor::full([n, 1], self.kl_nats(), &z.device())
    }

    fn penalty(&self, posterior: &Posterior) -> Option<Tensor<1>> {
        match posterior {
            Posterior::Codes(c) => Some(c.penalty.clone()),
            Posterior::Gaussian(_) => None,
        }
    }

    /// Moving averages of the codebook on the device: with n_k the batch's
    /// assignments to code k and s_k the sum of their encoder outputs,
    /// N ← γN + (1−γ)n, m ← γm + (1−γ)s, e = m / Ñ (Laplace-smoothed N).
    /// Dead-code restarts read N (K numbers) back each step, and touch the
    /// host further only when some code is dead.
    fn after_step(mut self, posterior: &Posterior, step: usize, seed: u64) -> Self {
        let s = self.settings.clone();
        if s.update == CodebookUpdate::Loss && !s.restart {
            return self;
        }
        let Posterior::Codes(c) = posterior else {
            return self;
        };
        let (k, d) = (s.codes, s.code_dim);
        let rows = c.encoded.clone();
        let [n, _] = rows.dims();
        let device = rows.device();
        let classes = Tensor::<1, Int>::arange(0..k as i64, &device);
        let one_hot = c
            .index
            .clone()
            .reshape([n, 1])
            .expand([n, k])
            .equal(classes.reshape([1, k]).expand([n, k]))
            .float();
        let g = s.decay;
        let mut count = self.ema_count.val().detach().mul_scalar(g)
            + one_hot.clone().sum_dim(0).reshape([k]).mul_scalar(1.0 - g);
        let mut sum = self.ema_sum.val().detach();
        let mut book = self.codebook.val().detach();
        if s.update == CodebookUpdate::Ema {
            sum = sum.mul_scalar(g) + one_hot.transpose().matmul(rows.clone()).mul_scalar(1.0 - g);
            // Laplace smoothing keeps e_k = m_k / N_k finite for unused codes.
            let eps = 1e-5;
            let total = count.clone().sum();
            let smoothed =
                (count.clone().add_scalar(eps) * total.clone()) / total.add_scalar(k as f64 * eps);
            book = sum.clone() / smoothed.reshape([k, 1]);
        }
        if s.restart && n > 0 {
            let mut counts = crate::core::host::read(count.clone());
            let dead: Vec<usize> = (0..k)
                .filter(|&c| (counts[c] as f64) < s.restart_threshold)
                .collect();
            if !dead.is_empty() {
                let picks: Vec<i64> = restart_rows(n, dead.len(), step, seed)
                    .into_iter()
                    .map(|r| r as i64)
                    .collect();
                let picks =
                    Tensor::<1, Int>::from_data(TensorData::new(picks, [dead.len()]), &device);
                let new_rows = crate::core::host::read(rows.select(0, picks));
                let (mut b, mut m) = (crate::core::host::read(book), crate::core::host::read(sum));
                for (i, &code) in dead.iter().enumerate() {
                    let row = &new_rows[i * d..(i + 1) * d];
                    b[code * d..(code + 1) * d].copy_from_slice(row);
                    m[code * d..(code + 1) * d].copy_from_slice(row);
                    counts[code] = 1.0;
                }
                book = crate::core::host::upload(b, k, d, &device);
                sum = crate::core::host::upload(m, k, d, &device);
                count = Tensor::from_data(TensorData::new(counts, [k]), &device);
            }
        }
        self.ema_count = replace(self.ema_count, count);
        self.ema_sum = replace(self.ema_sum, sum);
        self.codebook = replace(self.codebook, book);
        self
    }

    /// Codes drawn uniformly at each position (the prior the bound uses).
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        use rand::Rng;
        let s = &self.settings;
        let (p, d) = (s.positions(), s.code_dim);
        let book = crate::core::host::read(self.codebook.val());
        let mut rng = crate::core::rng::stream(
            seed,
            crate::core::rng::Purpose::Eval,
            crate::core::rng::key::SAMPLING,
            crate::core::rng::key::PRIOR_CODES,
        );
        let mut out = Vec::with_capacity(n * p * d);
        for _ in 0..n * p {
            let c = rng.random_range(0..s.codes);
            out.extend_from_slice(&book[c * d..(c + 1) * d]);
        }
        crate::core::host::upload(out, n, p * d, device)
    }

    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        (self.likelihood.mean(self.decode(z)), self.likelihood.std())
    }
}

impl VqVae {
    /// KL(one-hot ‖ uniform) over the grid: P·ln K nats.
    pub fn kl_nats(&self) -> f64 {
        self.settings.positions() as f64 * (self.settings.codes as f64).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::super::CodePosterior;
    use super::*;

    fn cfg(update: CodebookUpdate, restart: bool) -> ModelConfig {
        ModelConfig {
            kind: super::super::config::ModelKind::VqVae,
            vq_vae: super::super::config::VqConfig {
                codes: 8,
                code_dim: 3,
                codebook_update: update,
                dead_code_restart: restart,
                ..Default::default()
            },
            ..ModelConfig::default()
        }
    }

    fn image(device: &Device, b: usize) -> Batch {
        let v: Vec<f32> = (0..b * 64)
            .map(|i| ((i * 7 % 5) == 0) as u8 as f32)
            .collect();
        Batch::Images(crate::core::host::upload(v, b, 64, device))
    }

    #[test]
    fn nearest_code_is_the_brute_force_argmin() {
        let dev = Device::flex();
        dev.seed(1);
        let m = VqVae::new(&cfg(CodebookUpdate::Ema, false), 64, &dev);
        let rows = Tensor::<2>::random([50, 3], Distribution::Normal(0.0, 0.05), &dev);
        let got = read_indices(m.nearest(rows.clone()));
        let (r, e) = (
            crate::core::host::read(rows),
            crate::core::host::read(m.codebook.val()),
        );
        for (i, &g) in got.iter().enumerate() {
            let d =
                |c: usize| -> f32 { (0..3).map(|j| (r[i * 3 + j] - e[c * 3 + j]).powi(2)).sum() };
            let best = (0..8).min_by(|&a, &b| d(a).total_cmp(&d(b))).unwrap();
            assert!(d(g) <= d(best) + 1e-7, "row {i}: {g} vs {best}");
        }
    }

    #[test]
    fn straight_through_passes_the_reconstruction_gradient_to_the_encoder() {
        for update in [CodebookUpdate::Ema, CodebookUpdate::Loss] {
            let dev = Device::flex().autodiff();
            dev.seed(2);
            let m = VqVae::new(&cfg(update, false), 64, &dev);
            let x = image(&dev, 4);
            let Posterior::Codes(c) = m.encode(&x) else {
                unreachable!()
            };
            // The decoder sees exactly the chosen codes.
            let book = crate::core::host::read(m.codebook.val());
            let z = crate::core::host::read(c.z.clone());
            for (i, &k) in read_indices(c.index.clone()).iter().enumerate() {
                for j in 0..3 {
                    assert!((z[i * 3 + j] - book[k * 3 + j]).abs() < 1e-6);
                }
            }
            // The reconstruction term alone reaches the encoder through z_q.
            let rec = m.log_likelihood(&x, c.z.clone()).sum().neg();
            let grads = rec.backward();
            let g = crate::core::host::read(m.encoder.conv1.weight.val().grad(&grads).unwrap());
            assert!(
                g.iter().any(|v| v.abs() > 0.0),
                "{update:?}: no encoder gradient"
            );
            // ... and not the codebook: only the codebook loss may move it by gradient.
            assert!(
                m.codebook
                    .val()
                    .grad(&grads)
                    .is_none_or(|t| { crate::core::host::read(t).iter().all(|v| *v == 0.0) })
            );
            // Burn keeps no graph after a backward pass: encode again.
            let Posterior::Codes(c) = m.encode(&image(&dev, 4)) else {
                unreachable!()
            };
            let pen = c.penalty.sum().backward();
            let book_grad = m.codebook.val().grad(&pen);
            let moved =
                book_grad.is_some_and(|t| crate::core::host::read(t).iter().any(|v| v.abs() > 0.0));
            assert_eq!(moved, update == CodebookUpdate::Loss, "{update:?}");
        }
    }

    /// One `after_step` with a batch whose encoder outputs are `rows`
    /// (`[n·3]`) assigned to the codes `index`.
    fn step_with(m: VqVae, index: &[usize], rows: &[f32], step: usize, seed: u64) -> VqVae {
        let dev = m.codebook.val().device();
        let n = index.len();
        let idx: Vec<i64> = index.iter().map(|&i| i as i64).collect();
        let posterior = Posterior::Codes(CodePosterior {
            index: Tensor::from_data(TensorData::new(idx, [1, n]), &dev),
            z: Tensor::zeros([1, n * 3], &dev),
            encoded: crate::core::host::upload(rows.to_vec(), n, 3, &dev),
            codes: 8,
            penalty: Tensor::zeros([1], &dev),
        });
        m.after_step(&posterior, step, seed)
    }

    #[test]
    fn ema_moves_codes_toward_their_assigned_encoder_outputs() {
        let dev = Device::flex();
        dev.seed(3);
        let mut m = VqVae::new(&cfg(CodebookUpdate::Ema, false), 64, &dev);
        m.settings.decay = 0.9;
        let before = crate::core::host::read(m.codebook.val());
        // Rows 0,1 → code 2; row 2 → code 5; the others unused.
        let rows = vec![1.0f32, 2.0, 3.0, 3.0, 2.0, 1.0, -1.0, 0.0, 1.0];
        let index = [2usize, 2, 5];
        let mut m = step_with(m, &index, &rows, 1, 0);
        let after = crate::core::host::read(m.codebook.val());
        // Closed form from N = 1, m = e at initialisation, ignoring the 1e-5 smoothing.
        let g = 0.9f32;
        for (code, n, sum) in [
            (2usize, 2.0f32, [4.0f32, 4.0, 4.0]),
            (5, 1.0, [-1.0, 0.0, 1.0]),
        ] {
            let nk = g + (1.0 - g) * n;
            for j in 0..3 {
                let want = (g * before[code * 3 + j] + (1.0 - g) * sum[j]) / nk;
                let got = after[code * 3 + j];
                assert!((got - want).abs() < 1e-3, "code {code}: {got} vs {want}");
            }
        }
        // Repeated updates converge to the mean of the assigned outputs.
        for step in 2..300 {
            m = step_with(m, &index, &rows, step, 0);
        }
        let e = crate::core::host::read(m.codebook.val());
        for (j, want) in [2.0f32, 2.0, 2.0].iter().enumerate() {
            assert!((e[2 * 3 + j] - want).abs() < 1e-2, "{:?}", &e[6..9]);
        }
        assert!((e[15] + 1.0).abs() < 1e-2 && e[16].abs() < 1e-2 && (e[17] - 1.0).abs() < 1e-2);
    }

    #[test]
    fn dead_code_restart_revives_unused_codes() {
        let dev = Device::flex();
        dev.seed(4);
        let mut m = VqVae::new(&cfg(CodebookUpdate::Ema, true), 64, &dev);
        m.settings.restart_threshold = 0.5;
        let rows: Vec<f32> = (0..30).map(|i| i as f32).collect(); // 10 rows of 3
        let index = [0usize; 10]; // everything on code 0
        // With decay 0.99, unused codes fall from 1 below 0.5 after 69 updates;
        // a restarted code sits on a row of the batch with its count reset to 1.
        let restarted = |m: &VqVae| -> Vec<usize> {
            let book = crate::core::host::read(m.codebook.val());
            let count = crate::core::host::read(m.ema_count.val());
            (1..8)
                .filter(|&c| {
                    count[c] == 1.0 && rows.chunks(3).any(|r| r == &book[c * 3..c * 3 + 3])
                })
                .collect()
        };
        let mut restarted_at = None;
        for step in 1..=100 {
            m = step_with(m, &index, &rows, step, 7);
            let r = restarted(&m);
            if !r.is_empty() {
                restarted_at = Some(step);
                assert_eq!(r, (1..8).collect::<Vec<_>>(), "every unused code");
                // On distinct rows: the batch has 10 for 7 dead codes.
                let book = crate::core::host::read(m.codebook.val());
                let mut firsts: Vec<u32> = (1..8).map(|c| book[c * 3] as u32).collect();
                firsts.sort();
                firsts.dedup();
                assert_eq!(firsts.len(), 7, "{book:?}");
                break;
            }
        }
        let want = (0.5f64.ln() / 0.99f64.ln()).ceil() as usize;
        assert_eq!(restarted_at, Some(want));
        // Without restarts, unused codes stay where they were: m_k and N_k
        // decay alike, so e_k = m_k / Ñ_k hardly moves, however long they are dead.
        let mut off = VqVae::new(&cfg(CodebookUpdate::Ema, false), 64, &dev);
        off.settings.restart_threshold = 0.5;
        let start = crate::core::host::read(off.codebook.val());
        for step in 1..=200 {
            off = step_with(off, &index, &rows, step, 7);
        }
        assert!(restarted(&off).is_empty());
        let end = crate::core::host::read(off.codebook.val());
        for c in 1..8 {
            for j in 0..3 {
                let (a, b) = (start[c * 3 + j], end[c * 3 + j]);
                // Laplace smoothing alone shifts them, by a factor within 1e-2.
                assert!(
                    (a - b).abs() <= 1e-2 * a.abs() + 1e-6,
                    "code {c}: {a} → {b}"
                );
            }
        }
    }

    #[test]
    fn bound_is_reconstruction_minus_p_log_k() {
        let dev = Device::flex();
        dev.seed(5);
        let m = VqVae::new(&cfg(CodebookUpdate::Ema, false), 64, &dev);
        let x = image(&dev, 3);
        let post = m.encode(&x);
        let z = post.sample(Tensor::zeros([3, 1], &dev));
        let rec = crate::core::host::read(m.log_likelihood(&x, z));
        let (lw, _) = m.log_weights(&post, &x, Tensor::zeros([15, 1], &dev), 5);
        let lw = crate::core::host::read(lw);
        let kl = 4.0 * 8f64.ln(); // 8×8 images: a 2×2 grid, K = 8
        assert!((m.kl_nats() - kl).abs() < 1e-12);
        for i in 0..3 {
            for j in 0..5 {
                let want = rec[i] as f64 - kl;
                assert!((lw[i * 5 + j] as f64 - want).abs() < 1e-4, "{i},{j}");
            }
        }
    }
}
