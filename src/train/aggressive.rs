//! Aggressive inference-network training (He et al. 2019, "Lagging
//! inference networks and posterior collapse in VAEs", Algorithm 1).
//!
//! As the authors' code (`jxhe/vae-lagging-encoder`, `text.py`) does it:
//! before each joint step the encoder alone is updated — first on the joint
//! step's own batch, then on random training batches, at most
//! `train.aggressive_max_inner` updates — and the inner loop stops early
//! when the mean loss of a window of `train.aggressive_patience` updates is
//! no lower than the previous window's (their check every 15 updates). The
//! joint step that follows updates the decoder only
//! (`train.aggressive_joint = "decoder"`). Aggressive mode ends for good at
//! the first epoch end whose validation I(x;z) is lower than the previous
//! epoch's; from then on every step updates both parts.
//!
//! The random batches are drawn uniformly without replacement from the
//! training set with the stream `(seed, Aggressive, step, i)`, and their
//! noise from the same key, so a resumed run repeats them exactly. The
//! optimizer is the run's own; since its state is per parameter, the
//! encoder's state sees exactly the updates of He et al.'s `enc_optimizer`
//! ([`super::step::apply_update`]). Every update is clipped to the global
//! norm over all parameters, as theirs.

use super::{Job, Plan, batch_loss, samples_per_example};
use crate::core::host::upload;
use crate::core::rng::{Purpose, host_normal, stream};
use crate::metrics::Record;
use crate::models::LatentModel;
use burn::optim::{GradientsParams, ModuleOptimizer};
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

/// Whether aggressive mode is still on, and the last validation I(x;z);
/// saved in every checkpoint's `state.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AggressiveState {
    pub active: bool,
    /// I(x;z) at the last epoch end (None before the first).
    pub last_mi: Option<f64>,
    /// Encoder-only updates made so far (kept in `state.json`, and printed
    /// when aggressive mode ends).
    pub inner_updates: usize,
    /// The step at which aggressive mode ended.
    pub ended_at_step: Option<usize>,
}

impl AggressiveState {
    pub fn new() -> Self {
        Self {
            active: true,
            last_mi: None,
            inner_updates: 0,
            ended_at_step: None,
        }
    }

    /// At an epoch end: stop for good when I(x;z) fell.
    pub fn observe(&mut self, val: &Record, step: usize) -> Option<String> {
        let mi = val.float(crate::metrics::collapse::MI.name)?;
        let fell = self.last_mi.is_some_and(|last| mi < last);
        self.last_mi = Some(mi);
        if self.active && fell {
            self.active = false;
            self.ended_at_step = Some(step);
            return Some(format!(
                "aggressive encoder training ends at step {step}: validation I(x;z) fell to {mi:.3} \
                 ({} encoder-only updates made)",
                self.inner_updates
            ));
        }
        None
    }
}

impl Default for AggressiveState {
    fn default() -> Self {
        Self::new()
    }
}

/// The encoder-only inner loop before joint step `step`, whose batch is
/// `first`.
#[allow(clippy::too_many_arguments)]
pub fn inner_loop<M: LatentModel>(
    job: &Job,
    plan: &Plan,
    mut model: M,
    optim: &mut ModuleOptimizer,
    state: &mut AggressiveState,
    step: usize,
    lr: f64,
    first: &crate::core::batch::Batch,
) -> M {
    let t = job.trainer.train;
    // Everything but the encoder: what the inner updates leave alone.
    let encoder = model.encoder_params();
    let rest: Vec<burn::module::ParamId> = burn::module::list_param_ids(&model)
        .into_iter()
        .filter(|id| !encoder.contains(id))
        .collect();
    let data = &job.data.splits.train;
    let n = data.n();
    let size = plan.batch_size.min(n);
    let objective = plan.objective(job);
    let objective = objective.as_ref();
    let beta = plan.beta(step);
    let capacity = objective.capacity_at(step);
    let (mut window, mut in_window, mut previous) = (0.0f64, 0usize, f64::INFINITY);
    for i in 0..t.aggressive_max_inner {
        let x = if i == 0 {
            first.clone()
        } else {
            let idx = sample(
                &mut stream(job.seed, Purpose::Aggressive, step as u64, i as u64),
                n,
                size,
            )
            .into_vec();
            let binarize = job.data.dynamic_binarize.then_some((
                job.seed,
                crate::core::rng::key::AGGRESSIVE_BINARIZE,
                (step * t.aggressive_max_inner + i) as u64,
            ));
            let x = data.batch(&idx, binarize, plan.autodiff());
            // Input noise (word dropout, dropout) of its own, past every joint step's key.
            model.prepare_batch(x, plan.total + step * t.aggressive_max_inner + i, job.seed)
        };
        let rows = x.len() * samples_per_example(objective);
        let z = model.noise_dim();
        let eps = upload(
            host_normal(
                rows,
                z,
                job.seed,
                Purpose::Aggressive,
                step as u64,
                i as u64 + (1 << 32),
            ),
            rows,
            z,
            plan.autodiff(),
        );
        let (loss, _) = batch_loss(&model, &x, eps, beta, objective, capacity);
        let value = loss.loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            // No update from a non-finite loss: the inner loop ends here and
            // the joint step follows, watched by the trainer's own guard.
            break;
        }
        // Clipped by the norm of *every* parameter's gradient, then only the
        // encoder's kept, as He et al.'s `clip_grad_norm_(vae.parameters())`
        // before `enc_optimizer.step()`: the decoder's (larger) gradient
        // shrinks the encoder's step.
        let mut g = GradientsParams::from_grads(loss.loss.backward(), &model);
        super::step::clip_global_norm(&model, &mut g, job.trainer.optimizer.clip_norm);
        super::step::freeze(&model, &mut g, &rest);
        model = optim.step(lr, model, g);
        state.inner_updates += 1;
        window += value;
        in_window += 1;
        if in_window == t.aggressive_patience {
            let mean = window / in_window as f64;
            if mean >= previous {
                break;
            }
            previous = mean;
            window = 0.0;
            in_window = 0;
        }
    }
    model
}
