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
    let mut early = EarlyStop::new(t.aggressive_patience);
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
        if early.stop_after(value) {
            break;
        }
    }
    model
}

/// The inner loop's early stop: the mean loss of each window of `patience`
/// updates against the previous window's. The first window has nothing to
/// be compared with, so the first chance to stop is after 2 × `patience`
/// updates.
struct EarlyStop {
    patience: usize,
    window: f64,
    in_window: usize,
    previous: f64,
}

impl EarlyStop {
    fn new(patience: usize) -> Self {
        Self {
            patience,
            window: 0.0,
            in_window: 0,
            previous: f64::INFINITY,
        }
    }

    /// Record one update's loss; true when the loop should stop here.
    fn stop_after(&mut self, loss: f64) -> bool {
        self.window += loss;
        self.in_window += 1;
        if self.in_window < self.patience {
            return false;
        }
        let mean = self.window / self.in_window as f64;
        if mean >= self.previous {
            return true;
        }
        self.previous = mean;
        self.window = 0.0;
        self.in_window = 0;
        false
    }
}

/// The inner loop's size in words, for the console: with a cap at or below
/// 2 × `patience` the early stop never gets its chance and every step makes
/// all `max_inner` updates, which a user who cut the cap down should know.
pub fn inner_loop_words(max_inner: usize, patience: usize) -> String {
    if max_inner > 2 * patience {
        format!(
            "up to {max_inner} encoder-only updates per step, fewer once a window of {patience} \
             is no better than the one before"
        )
    } else {
        format!(
            "{max_inner} encoder-only updates per step: with train.aggressive_patience = \
             {patience} the early stop cannot act before update {}",
            2 * patience + 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Updates a loop capped at `max_inner` makes on `losses`.
    fn updates(max_inner: usize, patience: usize, losses: impl Fn(usize) -> f64) -> usize {
        let mut early = EarlyStop::new(patience);
        for i in 0..max_inner {
            if early.stop_after(losses(i)) {
                return i + 1;
            }
        }
        max_inner
    }

    #[test]
    fn the_early_stop_compares_windows_and_the_words_say_when_it_can_act() {
        // A loss that rises from the start: the loop stops at the first
        // comparison, the end of the second window.
        assert_eq!(updates(100, 15, |i| i as f64), 30);
        assert_eq!(updates(11, 5, |i| i as f64), 10);
        // Falling, then flat: windows of 3 over 1, 1/2, 1/3, … then 0.1.
        let falling = |i: usize| if i < 9 { 1.0 / (i + 1) as f64 } else { 0.1 };
        // The means of windows 1–3, 4–6, 7–9 and 10–12 fall (0.61, 0.21,
        // 0.13, 0.10); 13–15's equals 10–12's, so the loop stops at 15.
        assert_eq!(updates(100, 3, falling), 15);
        // Whatever the losses, a cap at or below 2 × patience is reached.
        for (max_inner, patience) in [(10, 5), (9, 5), (30, 15), (1, 1), (2, 1)] {
            assert_eq!(updates(max_inner, patience, |i| i as f64), max_inner);
            let words = inner_loop_words(max_inner, patience);
            assert!(words.contains("cannot act"), "{words}");
        }
        for (max_inner, patience) in [(11, 5), (100, 15), (3, 1)] {
            assert!(updates(max_inner, patience, |i| i as f64) < max_inner);
            let words = inner_loop_words(max_inner, patience);
            assert!(words.starts_with(&format!("up to {max_inner}")), "{words}");
        }
    }
}
