//! One optimizer step's pieces: the loss of a batch under the configured
//! objective, the update, and the optimizer itself.

use super::config::{ObjectiveConfig, ObjectiveKind, OptimizerConfig, OptimizerKind};
use crate::core::batch::Batch;
use crate::core::objective;
use crate::core::posterior::Posterior;
use crate::models::LatentModel;
use burn::module::ParamId;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::Tensor;

/// The optimizer `[optimizer]` describes.
pub fn build_optimizer(o: &OptimizerConfig) -> ModuleOptimizer {
    match o.kind {
        // burn's Adam, with the update fused on the CPU (same state, same numbers).
        OptimizerKind::Adam => ModuleOptimizer::from(super::fused_adam::FusedAdam::new(
            o.beta1 as f32,
            o.beta2 as f32,
            o.eps as f32,
            o.weight_decay as f32,
        )),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(o.eps as f32)
            .with_weight_decay(o.weight_decay as f32)
            .init(),
        // PyTorch's SGD: v ← μv + g (no dampening), p ← p − lr·v.
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum((o.momentum > 0.0).then(|| MomentumConfig {
                momentum: o.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay((o.weight_decay > 0.0).then(|| WeightDecayConfig {
                penalty: o.weight_decay as f32,
            }))
            .init(),
    }
}

/// The loss of one batch: forward and weigh the terms (β and free bits for
/// the ELBO; the k-sample bound for IWAE; γ·|KL − C| for capacity annealing,
/// with C = `capacity`). `eps` holds `[batch, noise]` noise for the ELBO and
/// `[batch·k, noise]` for IWAE. Also returns the batch's posterior, for
/// [`LatentModel::after_step`].
pub fn batch_loss<M: LatentModel>(
    model: &M,
    x: &Batch,
    eps: Tensor<2>,
    beta: f64,
    objective: &ObjectiveConfig,
    capacity: f64,
) -> (objective::Loss, Posterior) {
    match objective.kind {
        ObjectiveKind::Elbo => {
            // k samples: the batch's rows repeated k times, each with its own
            // noise; the batch mean is then the mean over examples of each
            // example's k-sample average.
            let fwd = match objective.samples {
                1 => model.forward(x, eps),
                k => model.forward(&x.repeat_rows(k), eps),
            };
            let l = objective::loss(
                &fwd.terms,
                beta,
                objective.free_bits,
                objective.free_bits_form,
            );
            (l, fwd.posterior)
        }
        ObjectiveKind::Capacity => {
            let fwd = model.forward(x, eps);
            let l = objective::capacity_loss(&fwd.terms, objective.gamma, capacity);
            (l, fwd.posterior)
        }
        ObjectiveKind::Iwae => {
            let [b, zd] = [x.len(), model.noise_dim()];
            let k = objective.k;
            let posterior = model.encode(x);
            let z0 = model.sample_latent(
                &posterior,
                eps.clone()
                    .reshape([b, k, zd])
                    .narrow(1, 0, 1)
                    .reshape([b, zd]),
            );
            let kl = model.kl(&posterior, z0);
            let (log_w, log_px) = model.log_weights(&posterior, x, eps, k);
            (objective::iwae_loss(log_w, log_px, kl), posterior)
        }
    }
}

/// Backward from `loss` and one optimizer step, the gradient first clipped
/// to the global norm `clip_norm` (0 = not clipped) over every parameter;
/// the parameters in `frozen` are then left as they are.
///
/// Freezing a part is how a procedure gives each part its own optimizer:
/// burn's optimizers keep their state per parameter (Adam's moments *and*
/// its step count), so one optimizer that steps only a part's parameters is
/// exactly an optimizer of that part alone (He et al.'s `enc_optimizer` and
/// `dec_optimizer`; tested below).
pub fn apply_update<M: LatentModel>(
    model: M,
    optim: &mut ModuleOptimizer,
    loss: Tensor<1>,
    lr: f64,
    clip_norm: f64,
    frozen: &[ParamId],
) -> M {
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    clip_global_norm(&model, &mut grads, clip_norm);
    freeze(&model, &mut grads, frozen);
    optim.step(lr, model, grads)
}

/// Drop the gradients of `frozen` so that the optimizer leaves those
/// parameters and their state alone.
pub fn freeze<M: burn::module::Module>(model: &M, grads: &mut GradientsParams, frozen: &[ParamId]) {
    if frozen.is_empty() {
        return;
    }
    struct Drop<'a> {
        grads: &'a mut GradientsParams,
        frozen: &'a [ParamId],
    }
    impl burn::module::ModuleVisitor for Drop<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self.frozen.contains(&param.id) {
                let _ = self.grads.remove::<D>(param.id);
            }
        }
    }
    model.visit(&mut Drop { grads, frozen });
}

/// Scale every gradient of `model` in `grads` by min(1, `max_norm` / ‖g‖),
/// ‖g‖ the L2 norm of all of them together (TensorFlow's
/// `clip_by_global_norm`); returns ‖g‖ before clipping (NaN when
/// `max_norm` is 0: nothing is computed).
pub fn clip_global_norm<M: burn::module::Module>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    if max_norm <= 0.0 {
        return f64::NAN;
    }
    let mut norm = GlobalNorm {
        grads,
        sum_sq: None,
        scale: None,
    };
    model.visit(&mut norm);
    // One read from the device for the whole sum.
    let total = norm
        .sum_sq
        .take()
        .map_or(0.0, |s| (s.into_scalar::<f32>() as f64).sqrt());
    if total > max_norm {
        norm.scale = Some(max_norm / total);
        model.visit(&mut norm);
    }
    total
}

/// Two passes over a module's float parameters: sum the squares of their
/// gradients (on the device), then (with `scale` set) scale them.
struct GlobalNorm<'a> {
    grads: &'a mut GradientsParams,
    sum_sq: Option<Tensor<1>>,
    scale: Option<f64>,
}

impl burn::module::ModuleVisitor for GlobalNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        match self.scale {
            None => {
                if let Some(g) = self.grads.get::<D>(param.id) {
                    let sq = g.powi_scalar(2).sum();
                    self.sum_sq = Some(match self.sum_sq.take() {
                        Some(s) => s + sq,
                        None => sq,
                    });
                }
            }
            Some(s) => {
                if let Some(g) = self.grads.remove::<D>(param.id) {
                    self.grads.register::<D>(param.id, g.mul_scalar(s));
                }
            }
        }
    }
}

/// Noise rows a step needs per example: `samples` for the ELBO (1 unless
/// set), k for IWAE, 1 for capacity annealing.
pub fn samples_per_example(objective: &ObjectiveConfig) -> usize {
    match objective.kind {
        ObjectiveKind::Elbo => objective.samples,
        ObjectiveKind::Capacity => 1,
        ObjectiveKind::Iwae => objective.k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Distribution};

    fn host(grads: &GradientsParams, m: &Linear) -> Vec<Vec<f32>> {
        let mut out = vec![
            grads
                .get::<2>(m.weight.id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        ];
        let b = m.bias.as_ref().unwrap();
        out.push(
            grads
                .get::<1>(b.id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        out
    }

    /// The global norm is that of all gradients together, computed here on
    /// the host; above `max_norm` every gradient is scaled by the same
    /// factor, at or below it nothing changes.
    #[test]
    fn clipping_scales_all_gradients_by_the_global_norm() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let m: Linear = LinearConfig::new(4, 3).init(&device);
        let x = Tensor::<2>::random([5, 4], Distribution::Normal(0.0, 2.0), &device);
        let grads_of = |m: &Linear| {
            let loss = m.forward(x.clone()).powi_scalar(2).sum();
            GradientsParams::from_grads(loss.backward(), m)
        };
        let g = grads_of(&m);
        let before = host(&g, &m);
        let by_hand = before
            .iter()
            .flatten()
            .map(|v| (*v as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(by_hand > 1.0);
        for (max, factor) in [(by_hand / 4.0, 0.25), (by_hand * 2.0, 1.0)] {
            let mut g = grads_of(&m);
            let norm = clip_global_norm(&m, &mut g, max);
            assert!(
                (norm - by_hand).abs() < 1e-4 * by_hand,
                "{norm} vs {by_hand}"
            );
            for (a, b) in host(&g, &m).iter().flatten().zip(before.iter().flatten()) {
                assert!((*a as f64 - factor * *b as f64).abs() < 1e-5 * by_hand);
            }
        }
        let mut g = grads_of(&m);
        assert!(clip_global_norm(&m, &mut g, 0.0).is_nan());
        assert_eq!(host(&g, &m), before);
    }

    /// `optimizer.kind = "sgd"` is PyTorch's SGD: v₁ = g₁, v_t = μ v_{t−1} + g_t
    /// (no dampening), p ← p − lr·v; checked by hand over three steps on a
    /// loss with known gradients (½|p − t|²: g = p − t).
    #[test]
    fn sgd_with_momentum_is_pytorchs() {
        let device = Device::flex().autodiff();
        let o = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            momentum: 0.9,
            ..OptimizerConfig::default()
        };
        let mut optim = build_optimizer(&o);
        let mut m: Linear = LinearConfig::new(1, 1).init(&device);
        let target = 3.0f64;
        let (mut p, mut v, lr) = (
            m.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[0] as f64,
            0.0f64,
            0.1,
        );
        for t in 0..3 {
            let b = m.bias.as_ref().unwrap().val();
            let loss = (b - target as f32).powi_scalar(2).sum().mul_scalar(0.5);
            let mut g = GradientsParams::from_grads(loss.backward(), &m);
            let _ = g.remove::<2>(m.weight.id);
            m = optim.step(lr, m, g);
            let grad = p - target;
            v = if t == 0 { grad } else { 0.9 * v + grad };
            p -= lr * v;
            let got = m
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[0];
            assert!((got as f64 - p).abs() < 1e-5, "step {t}: {got} vs {p}");
        }
    }

    #[derive(burn::module::Module, Debug)]
    struct Parts {
        enc: Linear,
        dec: Linear,
    }

    fn ids(l: &Linear) -> Vec<ParamId> {
        vec![l.weight.id, l.bias.as_ref().unwrap().id]
    }

    fn values(m: &Parts) -> Vec<f32> {
        let mut v = Vec::new();
        for l in [&m.enc, &m.dec] {
            v.extend(l.weight.val().into_data().try_to_vec::<f32>().unwrap());
            v.extend(
                l.bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            );
        }
        v
    }

    /// He et al. keep one optimizer per part; vaekit steps one optimizer
    /// with the other part frozen. For Adam and for SGD with momentum —
    /// optimizers with state — the two give the same parameters, bit for
    /// bit, over an uneven sequence of encoder-only and decoder-only steps:
    /// the state (moments, step count) is per parameter.
    #[test]
    fn freezing_a_part_is_an_optimizer_per_part() {
        for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let o = OptimizerConfig {
                kind,
                momentum: 0.9,
                ..OptimizerConfig::default()
            };
            let device = Device::flex().autodiff();
            device.seed(5);
            let init = Parts {
                enc: LinearConfig::new(3, 2).init(&device),
                dec: LinearConfig::new(2, 3).init(&device),
            };
            let x = Tensor::<2>::random([4, 3], Distribution::Normal(0.0, 1.0), &device);
            let grads_of = |m: &Parts| {
                let y = m.dec.forward(m.enc.forward(x.clone()).tanh());
                GradientsParams::from_grads((y - x.clone()).powi_scalar(2).sum().backward(), m)
            };
            // Which part each step updates: 1 = encoder, 0 = decoder.
            let plan = [1, 1, 1, 0, 1, 0, 0, 1, 1, 0];
            let (enc_ids, dec_ids) = (ids(&init.enc), ids(&init.dec));
            let mut one = build_optimizer(&o);
            let mut m1 = init.clone();
            let (mut enc_opt, mut dec_opt) = (build_optimizer(&o), build_optimizer(&o));
            let mut m2 = init.clone();
            for &part in &plan {
                let frozen = if part == 1 { &dec_ids } else { &enc_ids };
                let mut g = grads_of(&m1);
                freeze(&m1, &mut g, frozen);
                m1 = one.step(0.05, m1, g);
                let mut g = grads_of(&m2);
                freeze(&m2, &mut g, frozen);
                let opt = if part == 1 {
                    &mut enc_opt
                } else {
                    &mut dec_opt
                };
                m2 = opt.step(0.05, m2, g);
            }
            assert_eq!(values(&m1), values(&m2), "{kind:?}");
            // And the frozen part did move only when it was its turn.
            assert_ne!(values(&m1), values(&init));
        }
    }
}
