//! The non-finite guard: one scalar read per step, before the update. A NaN
//! or infinite loss stops the run naming the term that went bad
//! (`train.on_nonfinite = "stop"`), or skips the batch and lowers the
//! learning rate (`"skip"`), up to `train.max_skips` in a row.

use super::Job;
use super::checkpoint::{self, TrainState};
use super::config::NonFinitePolicy;
use super::progress::Progress;
use crate::core::error::{Error, Result};
use crate::core::objective::Loss;

/// What to do with a step's loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Finite: update the model.
    Update,
    /// Not finite, and the policy is to skip: no update.
    Skip,
}

/// Check the loss of the step `state.step`; an error stops the run.
pub fn check(job: &Job, l: &Loss, state: &mut TrainState, progress: &Progress) -> Result<Verdict> {
    let loss_now = l.loss.clone().into_scalar::<f32>() as f64;
    if loss_now.is_finite() {
        state.consecutive_skips = 0;
        return Ok(Verdict::Update);
    }
    let t = job.trainer.train;
    let step = state.step;
    let rec = l.rec_ll.clone().into_scalar::<f32>() as f64;
    let kl: Vec<f64> = crate::core::host::read(l.kl_per_dim.clone())
        .iter()
        .map(|&v| v as f64)
        .collect();
    let what = non_finite_term(loss_now, rec, &kl)
        .unwrap_or_else(|| format!("the loss became {loss_now}"));
    let kept = checkpoint::list(job.run)
        .pop()
        .map(|c| format!("The newest checkpoint, {}, is kept.", c.display()))
        .unwrap_or_else(|| "No checkpoint had been written yet.".into());
    match t.on_nonfinite {
        NonFinitePolicy::Stop => {
            progress.finish();
            Err(Error::NonFinite(format!(
                "training stopped at step {}: {what}. {kept} Try a lower optimizer.lr, \
                 free bits or KL annealing in a new run; or set `on_nonfinite = \"skip\"` \
                 under [train] in {} and continue with `vaekit train --resume {}`.",
                step + 1,
                job.run.join("config.toml").display(),
                job.run.display()
            )))
        }
        NonFinitePolicy::Skip => {
            state.consecutive_skips += 1;
            state.skipped_steps += 1;
            state.lr *= t.nonfinite_lr_factor;
            if state.consecutive_skips > t.max_skips {
                progress.finish();
                return Err(Error::NonFinite(format!(
                    "training stopped at step {}: {what}, {} batches in a row \
                     (train.max_skips = {}). {kept}",
                    step + 1,
                    state.consecutive_skips,
                    t.max_skips
                )));
            }
            progress.epoch(&format!(
                "warning: step {}: {what}; batch skipped, learning rate lowered to {:.3e}",
                step + 1,
                state.lr
            ));
            Ok(Verdict::Skip)
        }
    }
}

/// Name the first non-finite term, or None when all are finite.
fn non_finite_term(loss: f64, rec: f64, kl: &[f64]) -> Option<String> {
    if !rec.is_finite() {
        Some(format!("the reconstruction log-likelihood became {rec}"))
    } else if let Some((j, k)) = kl.iter().enumerate().find(|(_, k)| !k.is_finite()) {
        Some(format!("the KL of latent dimension {j} became {k}"))
    } else if !loss.is_finite() {
        Some(format!("the loss became {loss}"))
    } else {
        None
    }
}
