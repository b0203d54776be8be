//! The recorder of a run: its clock, the train and validation lines of
//! `metrics.jsonl`, the progress display, and the examples trained on.

use super::Job;
use super::checkpoint::TrainState;
use super::config::ObjectiveKind;
use super::interval::{Interval, IntervalState};
use super::log::{MetricsWriter, TrainLine, ValLine};
use super::plan::Plan;
use super::progress::Progress;
use crate::core::error::Result;
use crate::core::objective::Loss;
use crate::metrics::Record;
use std::time::Instant;

/// Writes what a run measures as it trains, and times it.
pub struct Recorder<'a> {
    job: &'a Job<'a>,
    metrics: MetricsWriter,
    progress: Progress,
    interval: Interval,
    t0: Instant,
    time_before: f64,
    /// Examples (images or sentences) trained on in this session, for the
    /// throughput.
    examples_seen: usize,
    /// Seconds of training in this session, set when training ends.
    train_secs: Option<f64>,
}

impl<'a> Recorder<'a> {
    /// Append to the run's `metrics.jsonl`, continuing `state`'s interval.
    pub fn open(
        job: &'a Job<'a>,
        plan: &Plan,
        state: &TrainState,
        progress: Option<Progress>,
    ) -> Result<Self> {
        let progress = progress.unwrap_or_else(|| Progress::auto(plan.total));
        progress.start_at(state.step);
        Ok(Self {
            job,
            metrics: MetricsWriter::open(&job.run.join("metrics.jsonl"))?,
            progress,
            interval: Interval::restore(state.interval.as_ref(), job.device),
            t0: Instant::now(),
            time_before: state.time_s,
            examples_seen: 0,
            train_secs: None,
        })
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Seconds of training, earlier sessions included.
    pub fn elapsed(&self) -> f64 {
        self.time_before + self.t0.elapsed().as_secs_f64()
    }

    /// The logging interval's sums, for a checkpoint.
    pub fn interval_snapshot(&self) -> Option<IntervalState> {
        self.interval.snapshot()
    }

    /// Count an update's loss and examples.
    pub fn add(&mut self, loss: Loss, examples: usize) {
        self.interval.add(loss, examples);
        self.examples_seen += examples;
    }

    /// A train line every `train.log_every` steps and at the last step.
    pub fn train_line(&mut self, plan: &Plan, state: &TrainState, epoch: usize) -> Result<()> {
        let step = state.step;
        let t = self.job.trainer;
        if !((step % t.train.log_every == 0 || step == plan.total) && self.interval.steps > 0) {
            return Ok(());
        }
        let secs = self.interval.start.elapsed().as_secs_f64();
        let eps = self.interval.examples as f64 / secs.max(1e-9);
        let m = self.interval.means();
        let (loss, kl) = (m.loss, m.kl.iter().sum::<f64>());
        let beta = plan.beta(step - 1);
        let capacity = t.objective.capacity_at(step - 1);
        self.metrics.write(&TrainLine {
            split: "train",
            step,
            epoch: plan.epoch_of(step),
            beta,
            loss,
            rec_ll: m.rec,
            kl,
            kl_per_dim: m.kl,
            lr: t
                .optimizer
                .lr_at(state.lr, (step - 1) / plan.steps_per_epoch),
            capacity: (t.objective.kind == ObjectiveKind::Capacity).then_some(capacity),
            penalty: m.penalty,
            examples_per_s: eps,
            time_s: self.elapsed(),
        })?;
        self.progress.step(step, epoch + 1, loss, kl, beta, eps);
        self.interval = Interval::new();
        Ok(())
    }

    /// A validation line.
    pub fn val_line(&mut self, plan: &Plan, step: usize, record: &Record) -> Result<()> {
        let time_s = self.elapsed();
        self.metrics.write(&ValLine {
            split: "val",
            step,
            epoch: plan.epoch_of(step),
            beta: plan.beta(step.saturating_sub(1)),
            metrics: record,
            time_s,
        })
    }

    /// A gradient-noise line (`monitor.grad_noise_every`).
    pub fn grad_noise_line(&mut self, plan: &Plan, step: usize, record: &Record) -> Result<()> {
        let time_s = self.elapsed();
        self.metrics.write(&ValLine {
            split: "grad_noise",
            step,
            epoch: plan.epoch_of(step),
            beta: plan.beta(step),
            metrics: record,
            time_s,
        })
    }

    /// A `train.on_collapse` intervention: `split = "intervention"`, with
    /// the remedy and the alarm's numbers.
    pub fn intervention_line(
        &mut self,
        plan: &Plan,
        i: &super::revive::Intervention,
    ) -> Result<()> {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            split: &'static str,
            epoch: f64,
            /// Its `step` comes first among the flattened fields.
            #[serde(flatten)]
            intervention: &'a super::revive::Intervention,
            time_s: f64,
        }
        let time_s = self.elapsed();
        self.metrics.write(&Line {
            split: "intervention",
            epoch: plan.epoch_of(i.step),
            intervention: i,
            time_s,
        })
    }

    /// Training is over: close the display and stop the training clock
    /// (the final evaluation does not count in the throughput).
    pub fn finish(&mut self) {
        self.progress.finish();
        self.train_secs = Some(self.t0.elapsed().as_secs_f64());
    }

    /// Examples per second of training in this session.
    pub fn examples_per_s(&self) -> f64 {
        let secs = self
            .train_secs
            .unwrap_or_else(|| self.t0.elapsed().as_secs_f64());
        self.examples_seen as f64 / secs.max(1e-9)
    }
}
