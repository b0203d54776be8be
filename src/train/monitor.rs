//! Held-out evaluation during training: the validation lines, the collapse
//! alarm, the epoch line, and the final test and validation records of the
//! summary.

use super::Job;
use super::checkpoint::TrainState;
use super::plan::Plan;
use super::recorder::Recorder;
use super::summary::Summary;
use crate::core::error::{Error, Result};
use crate::data::Dataset;
use crate::metrics::Record;
use crate::metrics::elbo::{ELBO, KL, REC_LL};
use crate::metrics::held_out::{self, HeldOutOptions};
use crate::metrics::registry;
use crate::models::LatentModel;

/// Held-out evaluations of a run.
pub struct Monitor<'a> {
    job: &'a Job<'a>,
    /// The last end-of-epoch validation record (the summary's `val`).
    pub last_val: Option<Record>,
}

impl<'a> Monitor<'a> {
    pub fn new(job: &'a Job<'a>) -> Self {
        Self {
            job,
            last_val: None,
        }
    }

    /// Every metric on `set` for the model's weights now.
    fn evaluate<M: LatentModel>(&self, model: &M, set: &Dataset, seed: u64) -> Record {
        let opts = HeldOutOptions {
            monitor: self.job.monitor,
            iwae_k: self.job.trainer.train.val_iwae_k,
            seed,
        };
        held_out::evaluate(&model.valid(), set, &opts, self.job.device)
    }

    /// Evaluate on the validation set and write the line.
    fn validate<M: LatentModel>(
        &mut self,
        plan: &Plan,
        model: &M,
        state: &TrainState,
        rec: &mut Recorder,
    ) -> Result<Record> {
        let record = self.evaluate(model, &self.job.data.splits.val, self.job.seed);
        rec.val_line(plan, state.step, &record)?;
        Ok(record)
    }

    /// Feed the alarm (models with a latent); print what it raises.
    fn alarm<M: LatentModel>(
        &self,
        model: &M,
        record: &Record,
        state: &mut TrainState,
        rec: &Recorder,
    ) {
        if !model.has_latent() {
            return;
        }
        for w in state.alarm.observe_all(record, &self.job.remedies) {
            rec.progress().epoch(&w);
        }
    }

    /// Every `monitor.every` steps inside an epoch: the record, when it
    /// evaluated.
    pub fn mid_epoch<M: LatentModel>(
        &mut self,
        plan: &Plan,
        model: &M,
        state: &mut TrainState,
        rec: &mut Recorder,
    ) -> Result<Option<Record>> {
        let (every, step) = (self.job.monitor.every, state.step);
        if every > 0 && step % every == 0 && step % plan.steps_per_epoch != 0 {
            let record = self.validate(plan, model, state, rec)?;
            self.alarm(model, &record, state, rec);
            return Ok(Some(record));
        }
        Ok(None)
    }

    /// The end-of-epoch validation, its line on the console, and the stop
    /// when the model's parameters are no longer finite.
    pub fn end_epoch<M: LatentModel>(
        &mut self,
        plan: &Plan,
        model: &M,
        state: &mut TrainState,
        rec: &mut Recorder,
    ) -> Result<()> {
        let record = self.validate(plan, model, state, rec)?;
        let f = |name: &str| record.float(name).unwrap_or(f64::NAN);
        rec.progress().epoch(&format!(
            "epoch {:>3}/{}  step {:>6}  val ELBO {:>9.2}  rec {:>9.2}  KL {:>7.2}  {}  {:.0}s",
            state.epochs_done,
            self.job.trainer.train.epochs,
            state.step,
            f(ELBO.name),
            f(REC_LL.name),
            f(KL.name),
            registry::brief(&record),
            rec.elapsed()
        ));
        self.alarm(model, &record, state, rec);
        if !f(ELBO.name).is_finite() {
            rec.progress().finish();
            return Err(Error::NonFinite(format!(
                "training stopped after epoch {}: the validation ELBO is {}; the model's \
                 parameters are no longer finite, so no checkpoint was written for this epoch",
                state.epochs_done,
                f(ELBO.name)
            )));
        }
        self.last_val = Some(record);
        Ok(())
    }

    /// The posterior-mean space (`monitor.posterior_mean_every`): a
    /// snapshot before the first step and every so many steps after.
    pub fn posterior_means<M: LatentModel>(
        &self,
        plan: &Plan,
        model: &M,
        state: &TrainState,
    ) -> Result<()> {
        use crate::metrics::posterior_mean as pm;
        let m = self.job.monitor;
        if m.posterior_mean_every == 0 || state.step % m.posterior_mean_every != 0 {
            return Ok(());
        }
        let set = &self.job.data.splits.train;
        let idx: Vec<usize> = (0..m.posterior_mean_points.min(set.n())).collect();
        let grid = pm::Grid::new(
            model.latent_dim(),
            m.posterior_mean_range,
            m.posterior_mean_step,
        );
        let (model_mean, encoder_mean) =
            pm::posterior_means(&model.valid(), set, &idx, &grid, self.job.device);
        let epoch = state.step / plan.steps_per_epoch;
        pm::append(
            self.job.run,
            &pm::Snapshot {
                step: state.step,
                epoch,
                dim: grid.dim,
                model_mean,
                encoder_mean,
            },
        )?;
        Ok(())
    }

    /// The summary: the test split (its own noise seed) and the last
    /// validation record.
    pub fn summary<M: LatentModel>(
        &mut self,
        model: &M,
        state: &TrainState,
        rec: &Recorder,
    ) -> Summary {
        let job = self.job;
        let val = match self.last_val.take() {
            Some(v) => v,
            None => self.evaluate(model, &job.data.splits.val, job.seed),
        };
        let test = self.evaluate(model, &job.data.splits.test, job.seed ^ 0x7e57);
        Summary {
            name: job.name.to_string(),
            data: job.data.splits.source.clone(),
            data_kind: Some(job.data.splits.train.kind()),
            device: job.device_name.to_string(),
            steps: state.step,
            epochs: state.epochs_done,
            skipped_steps: state.skipped_steps,
            wall_time_s: rec.elapsed(),
            train_examples_per_s: rec.examples_per_s(),
            collapse_alarm: state.alarm.raised(),
            test,
            val,
            grad_noise: crate::metrics::grad_noise::last_line(job.run),
            interventions: state.revive.interventions.clone(),
        }
    }

    /// The gradient noise (`monitor.grad_noise_every`): before the update
    /// of `step`, M gradient estimates of the step's loss on its batch, each
    /// with noise of its own stream, so that training's numbers do not move.
    pub fn grad_noise<M: LatentModel>(
        &self,
        plan: &Plan,
        model: &M,
        batch: &crate::core::batch::Batch,
        step: usize,
        encoder: &[burn::module::ParamId],
        rec: &mut Recorder,
    ) -> Result<()> {
        let m = self.job.monitor;
        if m.grad_noise_every == 0 || step % m.grad_noise_every != 0 {
            return Ok(());
        }
        use crate::core::rng::Purpose;
        let g = crate::metrics::grad_noise::measure(
            model,
            encoder,
            m.grad_noise_estimates,
            |model, i| {
                plan.loss_with_noise(
                    self.job,
                    model,
                    batch,
                    step,
                    (Purpose::GradNoise, step as u64, i as u64),
                )
                .0
                .loss
            },
        );
        rec.grad_noise_line(plan, step, &g.record())
    }
}
