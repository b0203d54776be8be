//! One optimizer step's pieces: the loss of a batch under the configured
//! objective, the update, and the optimizer itself.

use super::config::{ObjectiveConfig, ObjectiveKind, OptimizerConfig, OptimizerKind};
use crate::core::batch::Batch;
use crate::core::objective;
use crate::core::posterior::Posterior;
use crate::models::LatentModel;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
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

/// Backward from `loss` and one optimizer step.
pub fn apply_update<M: LatentModel>(
    model: M,
    optim: &mut ModuleOptimizer,
    loss: Tensor<1>,
    lr: f64,
) -> M {
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    optim.step(lr, model, grads)
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
