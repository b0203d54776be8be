//! When a run writes its checkpoints: every `train.checkpoint_every` steps,
//! at each epoch end, at the last step, and on a stop signal (with
//! `RUN/stopped.json`). What a checkpoint holds is [`super::checkpoint`]'s.

use super::Job;
use super::checkpoint::{self, TrainState};
use super::plan::Plan;
use super::recorder::Recorder;
use crate::core::error::{Error, Result};
use crate::core::fsutil::write_atomic;
use crate::models::build::Weights;
use burn::optim::ModuleOptimizer;
use std::path::Path;

/// Written into a run stopped by a signal (removed when it trains again).
pub const STOPPED_FILE: &str = "stopped.json";

/// Writes a run's checkpoints.
pub struct Checkpointer<'a> {
    run: &'a Path,
    every: usize,
    keep: usize,
    /// The plateau schedule's best model, serialized; written into every
    /// checkpoint from the first improvement on.
    best: std::cell::RefCell<Option<Vec<u8>>>,
}

impl<'a> Checkpointer<'a> {
    /// For `job`'s run; whatever stopped the run before is past.
    pub fn open(job: &'a Job<'a>) -> Self {
        let _ = std::fs::remove_file(job.run.join(STOPPED_FILE));
        Self {
            run: job.run,
            every: job.trainer.train.checkpoint_every,
            keep: job.trainer.train.keep_checkpoints,
            best: std::cell::RefCell::new(None),
        }
    }

    /// `model` is the best so far: the next checkpoints hold it as `best.bpk`.
    pub fn set_best<M: Weights>(&self, model: &M) -> Result<()> {
        let bytes = checkpoint::model_bytes(model, &self.run.join("checkpoints"))?;
        *self.best.borrow_mut() = Some(bytes);
        Ok(())
    }

    /// The best model held by the checkpoint at `step` (a resumed run's),
    /// read into `template`.
    pub fn load_best<M: Weights>(&self, template: M, step: usize) -> Result<M> {
        let path = checkpoint::dir_at(self.run, step).join(checkpoint::BEST_FILE);
        let model = checkpoint::load_model_file(&path, template)?;
        self.set_best(&model)?;
        Ok(model)
    }

    /// Write a checkpoint of the model, the optimizer and `state` (stamped
    /// with the recorder's clock and interval).
    pub fn save<M: Weights>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
        rec: &Recorder,
    ) -> Result<()> {
        state.time_s = rec.elapsed();
        state.interval = rec.interval_snapshot();
        let best = self.best.borrow();
        checkpoint::save(self.run, model, optim, state, self.keep, best.as_deref()).map(|_| ())
    }

    /// Every `train.checkpoint_every` steps inside an epoch (epoch ends are
    /// checkpointed after their validation line).
    pub fn mid_epoch<M: Weights>(
        &self,
        plan: &Plan,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
        rec: &Recorder,
    ) -> Result<()> {
        let (every, step) = (self.every, state.step);
        if every > 0 && step % every == 0 && step % plan.steps_per_epoch != 0 && step != plan.total
        {
            self.save(model, optim, state, rec)?;
        }
        Ok(())
    }

    /// A checkpoint at this step unless one was just written (a run cut
    /// short by `train.max_steps` ends between epochs).
    pub fn save_last<M: Weights>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
        rec: &Recorder,
    ) -> Result<()> {
        let newest = checkpoint::list(self.run).pop();
        if newest.is_none_or(|c| !c.ends_with(format!("step-{:08}", state.step))) {
            self.save(model, optim, state, rec)?;
        }
        Ok(())
    }

    /// Stop on `signal`: a checkpoint at this step, `RUN/stopped.json` for
    /// `vaekit sweep --status`, and the error [`super::fit`] ends with —
    /// [`Error::Stopped`], or what prevented writing them.
    pub fn stop<M: Weights>(
        &self,
        signal: &str,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
        rec: &Recorder,
    ) -> Error {
        match self.write_stop(signal, model, optim, state, rec) {
            Ok(checkpoint) => Error::Stopped {
                signal: signal.to_string(),
                step: state.step,
                checkpoint,
            },
            Err(e) => e,
        }
    }

    fn write_stop<M: Weights>(
        &self,
        signal: &str,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
        rec: &Recorder,
    ) -> Result<std::path::PathBuf> {
        self.save_last(model, optim, state, rec)?;
        rec.progress().finish();
        let checkpoint = checkpoint::list(self.run)
            .pop()
            .unwrap_or_else(|| self.run.join("checkpoints"));
        let note = serde_json::json!({
            "signal": signal,
            "step": state.step,
            "checkpoint": checkpoint.display().to_string(),
            "time": chrono::Local::now().to_rfc3339(),
        });
        write_atomic(
            &self.run.join(STOPPED_FILE),
            serde_json::to_string_pretty(&note)
                .expect("json")
                .as_bytes(),
        )?;
        Ok(checkpoint)
    }
}
