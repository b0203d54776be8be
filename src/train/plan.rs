//! The plan of a run: its batches, its steps and its β schedule — which
//! examples and which noise each step sees, all keyed by `(seed, epoch, step)`.

use super::Job;
use super::config::ObjectiveConfig;
use super::schedule::Schedule;
use super::step::{batch_loss, samples_per_example};
use crate::core::batch::Batch;
use crate::core::host::upload;
use crate::core::objective::Loss;
use crate::core::posterior::Posterior;
use crate::core::rng::{Purpose, host_normal};
use crate::data::Dataset;
use crate::data::batches::batches_per_epoch;
use crate::models::LatentModel;
use burn::tensor::Device;

/// Batches, steps and the β schedule of a run.
pub struct Plan {
    pub batch_size: usize,
    pub steps_per_epoch: usize,
    /// Steps the run takes in all (`train.max_steps` caps the epochs').
    pub total: usize,
    pub schedule: Schedule,
    /// Steps of pre-training with β = 0 before the schedule starts (0 = none).
    pub pretrain: usize,
    seed: u64,
    /// The job's device with autodiff: where batches and noise go.
    autodiff: Device,
    /// What `train.on_collapse` has changed: free bits turned on, a
    /// restarted β ramp ([`Plan::set_revive`]).
    revive: super::revive::ReviveState,
}

impl Plan {
    pub fn new(job: &Job) -> Self {
        let t = job.trainer.train;
        let spe = batches_per_epoch(job.data.splits.train.n(), t.batch_size);
        let mut total = spe * t.epochs;
        if t.max_steps > 0 {
            total = total.min(t.max_steps);
        }
        let pretrain = t.pretrain_steps.min(total);
        Self {
            batch_size: t.batch_size,
            steps_per_epoch: spe,
            total,
            schedule: Schedule::new(job.trainer.schedule, total - pretrain, spe),
            pretrain,
            seed: job.seed,
            autodiff: job.device.clone().autodiff(),
            revive: Default::default(),
        }
    }

    /// Follow `train.on_collapse`'s interventions so far (at the start of
    /// `fit`, from the checkpoint's state, and after each one).
    pub fn set_revive(&mut self, state: &super::revive::ReviveState) {
        self.revive = state.clone();
    }

    /// The objective in force: the configured one, with the free bits a
    /// `free_bits` intervention turned on.
    pub fn objective<'j>(&self, job: &'j Job) -> std::borrow::Cow<'j, ObjectiveConfig> {
        match self.revive.free_bits {
            Some((lambda, form)) => {
                let mut o = job.trainer.objective.clone();
                o.free_bits = lambda;
                o.free_bits_form = form;
                std::borrow::Cow::Owned(o)
            }
            None => std::borrow::Cow::Borrowed(job.trainer.objective),
        }
    }

    /// β at `step`: 0 during pre-training, then the schedule from its
    /// start (restarted from 0 by an `anneal` intervention).
    pub fn beta(&self, step: usize) -> f64 {
        if step < self.pretrain {
            0.0
        } else {
            self.revive
                .beta(step, self.schedule.beta_at_step(step - self.pretrain))
        }
    }

    /// The autodiff device batches and noise go to.
    pub fn autodiff(&self) -> &Device {
        &self.autodiff
    }

    /// The batches of `epoch` that remain at step `step` (a resumed run
    /// starts mid-epoch): (index in the epoch, example indices).
    pub fn batches(&self, data: &Dataset, epoch: usize, step: usize) -> Vec<(usize, Vec<usize>)> {
        let first = step.saturating_sub(epoch * self.steps_per_epoch);
        data.epoch_batches(self.batch_size, self.seed, epoch)
            .into_iter()
            .enumerate()
            .skip(first)
            .collect()
    }

    /// Batch `b` of `epoch` on the autodiff device, binarized afresh when
    /// the data asks for it, through the model's input hook.
    pub fn batch<M: LatentModel>(
        &self,
        job: &Job,
        model: &M,
        idx: &[usize],
        epoch: usize,
        b: usize,
        step: usize,
    ) -> Batch {
        let binarize = job
            .data
            .dynamic_binarize
            .then_some((self.seed, epoch as u64, b as u64));
        let x = job.data.splits.train.batch(idx, binarize, &self.autodiff);
        model.prepare_batch(x, step, self.seed)
    }

    /// The loss of `batch` at `step` under the objective, β(step) and C(step),
    /// with the step's reparameterisation noise.
    pub fn loss<M: LatentModel>(
        &self,
        job: &Job,
        model: &M,
        batch: &Batch,
        step: usize,
    ) -> (Loss, Posterior) {
        self.loss_with_noise(job, model, batch, step, (Purpose::Noise, step as u64, 0))
    }

    /// The same loss with the noise of stream `(seed, purpose, a, b)`
    /// instead of the step's (the gradient-noise monitor's extra estimates).
    pub fn loss_with_noise<M: LatentModel>(
        &self,
        job: &Job,
        model: &M,
        batch: &Batch,
        step: usize,
        (purpose, a, b): (Purpose, u64, u64),
    ) -> (Loss, Posterior) {
        let objective = self.objective(job);
        let objective = objective.as_ref();
        let z = model.noise_dim();
        let rows = batch.len() * samples_per_example(objective);
        let eps = upload(
            host_normal(rows, z, self.seed, purpose, a, b),
            rows,
            z,
            &self.autodiff,
        );
        let beta = self.beta(step);
        let capacity = objective.capacity_at(step);
        batch_loss(model, batch, eps, beta, objective, capacity)
    }

    /// `step` in epochs (fractional), for the metrics lines.
    pub fn epoch_of(&self, step: usize) -> f64 {
        step as f64 / self.steps_per_epoch as f64
    }
}
