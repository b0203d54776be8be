//! Step hooks: a trainer-side procedure around each step, for what a model
//! cannot do alone, passed to [`super::fit`] by the caller.

use crate::core::batch::Batch;
use crate::core::objective::Loss;
use burn::optim::ModuleOptimizer;

/// A trainer-side procedure around each step: an encoder-only inner loop
/// (He et al. 2019) updates the encoder on more batches before the joint
/// step; a test injects a fault into a step's loss ([`NanAt`]). Hooks run
/// in order; the defaults do nothing.
pub trait StepHook<M> {
    /// Before the loss of `step` (0-based) is computed on `batch`; may update
    /// the model with `optim` (an update here is the hook's own: the
    /// non-finite guard watches the step's loss only).
    fn before_step(
        &mut self,
        model: M,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        step: usize,
    ) -> M {
        let _ = (optim, batch, step);
        model
    }

    /// After the loss of `step` (0-based) is computed, before the non-finite
    /// guard reads it and the update uses it: may replace it.
    fn after_loss(&mut self, loss: Loss, step: usize) -> Loss {
        let _ = step;
        loss
    }
}

/// Makes the loss and the reconstruction term of step `N` (1-based, as
/// messages count steps) NaN: how the tests reach the non-finite guard.
/// (Before, the config key `train.debug_nan_at_step` did this.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NanAt(pub usize);

impl<M> StepHook<M> for NanAt {
    fn after_loss(&mut self, mut loss: Loss, step: usize) -> Loss {
        if self.0 == step + 1 {
            loss.rec_ll = loss.rec_ll.mul_scalar(f64::NAN);
            loss.loss = loss.loss.mul_scalar(f64::NAN);
        }
        loss
    }
}
