//! Layer 4, the trainer: one loop for every model ([`fit`]), made of named
//! pieces — the batch plan ([`Plan`]), the non-finite guard ([`guard`]),
//! logging ([`log`], [`interval`], [`progress`]), held-out evaluation and the
//! collapse alarm ([`Monitor`]), checkpoints ([`checkpoint`]) — and the
//! summary it ends with ([`summary`]).
//!
//! The loop never asks which model it trains. A model that needs to act
//! around a step does so through [`LatentModel`]'s hooks:
//! [`LatentModel::prepare_batch`] before the forward pass (a schedule on its
//! inputs), [`LatentModel::after_step`] after the update (a moving-average
//! codebook). Procedures that need the trainer's own reach — fresh batches,
//! the validation record at an epoch's end, the optimizer — live here:
//! aggressive encoder training ([`aggressive`]) and pre-training with a
//! decoder reset ([`Plan::beta`], [`LatentModel::reset_decoder`]). A user's
//! own procedure around each step is a [`StepHook`].

pub mod aggressive;
pub mod checkpoint;
pub mod config;
pub mod fused_adam;
pub mod guard;
pub mod interval;
pub mod log;
pub mod progress;
pub mod schedule;
pub mod step;
pub mod stop;
pub mod summary;

pub use config::TrainerConfig;
pub use step::{apply_update, batch_loss, build_optimizer, samples_per_example};
pub use summary::{Summary, report};

use crate::core::batch::Batch;
use crate::core::error::{Error, Result};
use crate::core::fsutil::write_atomic;
use crate::core::host::upload;
use crate::core::rng::{Purpose, host_normal};
use crate::data::batches::batches_per_epoch;
use crate::data::{DataKind, Dataset, Prepared};
use crate::metrics::config::MonitorConfig;
use crate::metrics::held_out::{self, HeldOutOptions};
use crate::metrics::registry;
use crate::metrics::{Record, alarm::CollapseAlarm};
use crate::models::LatentModel;
use crate::models::build::Weights;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use checkpoint::TrainState;
use config::ObjectiveKind;
use guard::Verdict;
use interval::Interval;
use log::{MetricsWriter, TrainLine, ValLine};
use progress::Progress;
use schedule::Schedule;
use std::path::Path;
use std::time::Instant;

/// What one training run reads: its settings, its data and where it writes.
pub struct Job<'a> {
    pub name: &'a str,
    pub seed: u64,
    /// `cpu` or `wgpu`, for the summary.
    pub device_name: &'a str,
    pub trainer: TrainerConfig<'a>,
    pub monitor: &'a MonitorConfig,
    pub data: &'a Prepared,
    /// The run directory.
    pub run: &'a Path,
    pub device: &'a Device,
}

impl TrainState {
    /// The state before the first step.
    pub fn initial(trainer: &TrainerConfig, monitor: &MonitorConfig, data: DataKind) -> Self {
        Self {
            step: 0,
            epochs_done: 0,
            time_s: 0.0,
            data,
            lr: trainer.optimizer.lr,
            skipped_steps: 0,
            consecutive_skips: 0,
            interval: None,
            alarm: CollapseAlarm::new(monitor.alarm_patience, monitor.alarm_kl),
            aggressive: trainer
                .train
                .aggressive
                .then(aggressive::AggressiveState::new),
            vaekit_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// A trainer-side procedure around each step, for what a model cannot do
/// alone: an encoder-only inner loop (He et al. 2019) updates the encoder on
/// more batches before the joint step. Hooks run in order, before the
/// step's forward pass; the default does nothing.
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
}

/// The training loop, for any model, from `state` (the initial state or a
/// checkpoint's). Writes `metrics.jsonl`, checkpoints and `summary.json`.
pub fn fit<M: LatentModel + Weights>(
    job: &Job,
    mut model: M,
    mut optim: ModuleOptimizer,
    mut state: TrainState,
    progress: Option<Progress>,
    hooks: &mut [&mut dyn StepHook<M>],
) -> Result<Summary> {
    let plan = Plan::new(job);
    check_procedures(job, &model)?;
    if job.trainer.train.aggressive && state.aggressive.is_none() {
        state.aggressive = Some(aggressive::AggressiveState::new());
    }
    let mut log = Logger::open(job, &plan, &state, progress)?;
    let mut monitor = Monitor::new(job);
    // Running again: whatever stopped the run before is past.
    let _ = std::fs::remove_file(job.run.join(STOPPED_FILE));
    'epochs: for epoch in state.epochs_done..job.trainer.train.epochs {
        for (b, idx) in plan.batches(&job.data.splits.train, epoch, state.step) {
            if state.step >= plan.total {
                break 'epochs;
            }
            if plan.pretrain > 0 && state.step == plan.pretrain {
                model = model.reset_decoder(job.seed);
                optim = build_optimizer(job.trainer.optimizer);
                log.progress().epoch(&format!(
                    "step {}: pre-training (β = 0) done; decoder and optimizer re-initialised, \
                     the β schedule starts",
                    state.step
                ));
            }
            if let Some(a) = state.aggressive.as_mut().filter(|a| a.active) {
                model =
                    aggressive::inner_loop(job, &plan, model, &mut optim, a, state.step, state.lr);
            }
            let batch = plan.batch(job, &model, &idx, epoch, b, state.step);
            for h in hooks.iter_mut() {
                model = h.before_step(model, &mut optim, &batch, state.step);
            }
            let (loss, posterior) = plan.loss(job, &model, &batch, state.step);
            match guard::check(job, &loss, &mut state, log.progress())? {
                Verdict::Update => {
                    model = apply_update(model, &mut optim, loss.loss.clone(), state.lr)
                        .after_step(&posterior, state.step + 1, job.seed);
                    log.add(loss, idx.len());
                }
                Verdict::Skip => {}
            }
            state.step += 1; // a skipped batch counts too: data and noise stay aligned
            log.train_line(&plan, &state, epoch)?;
            monitor.mid_epoch(&plan, &model, &mut state, &mut log)?;
            log.checkpoint_mid_epoch(&plan, &model, &optim, &mut state)?;
            // A signal: stop here, at a step boundary (an epoch's last step
            // first finishes its epoch: validation, then the checkpoint).
            if let Some(signal) = stop::requested()
                && state.step % plan.steps_per_epoch != 0
                && state.step < plan.total
            {
                return Err(log.stop(signal, &model, &optim, &mut state)?);
            }
        }
        state.epochs_done = epoch + 1;
        monitor.end_epoch(&plan, &model, &mut state, &mut log)?;
        if let (Some(a), Some(val)) = (state.aggressive.as_mut(), monitor.last_val.as_ref()) {
            if let Some(msg) = a.observe(val, state.step) {
                log.progress().epoch(&msg);
            }
        }
        log.save(&model, &optim, &mut state)?;
        if let Some(signal) = stop::requested()
            && state.step < plan.total
        {
            return Err(log.stop(signal, &model, &optim, &mut state)?);
        }
    }
    log.save_last(&model, &optim, &mut state)?;
    log.finish();
    let summary = monitor.summary(&model, &state, &log);
    write_atomic(
        &job.run.join("summary.json"),
        serde_json::to_string_pretty(&summary.to_json())
            .expect("summary serializes")
            .as_bytes(),
    )?;
    Ok(summary)
}

/// The training procedures a model must support: aggressive training needs
/// the encoder's parameters, pre-training a decoder that can be reset and
/// the β-weighted ELBO (β = 0 is what it trains with). Checked by [`fit`],
/// and by callers before they write a run's files.
pub fn check_procedures<M: LatentModel>(job: &Job, model: &M) -> Result<()> {
    let plan = Plan::new(job);
    let t = job.trainer.train;
    let mut errs = Vec::new();
    if t.pretrain_steps > 0 && job.trainer.objective.kind != ObjectiveKind::Elbo {
        errs.push(format!(
            "train.pretrain_steps = {} with objective.kind = \"{}\": pre-training sets β = 0, \
             which only the ELBO objective has; use objective.kind = \"elbo\"",
            t.pretrain_steps,
            job.trainer.objective.kind.as_str()
        ));
    }
    if t.aggressive && model.encoder_params().is_empty() {
        errs.push(
            "train.aggressive = true: this model has no separate encoder to update alone \
             (aggressive training is offered for model.kind = \"text_vae\")"
                .to_string(),
        );
    }
    if t.pretrain_steps > 0 && !model.can_reset_decoder() {
        errs.push(format!(
            "train.pretrain_steps = {}: this model's decoder cannot be re-initialised \
             (pre-training with a decoder reset is offered for model.kind = \"text_vae\")",
            t.pretrain_steps
        ));
    }
    if t.pretrain_steps > 0 && t.pretrain_steps >= plan.total {
        errs.push(format!(
            "train.pretrain_steps = {}: the run has only {} steps; pre-training must end before it does",
            t.pretrain_steps, plan.total
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(errs))
    }
}

/// Batches, steps and the β schedule of a run: which examples and which
/// noise each step sees, all keyed by `(seed, epoch, step)`.
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
        }
    }

    /// β at `step`: 0 during pre-training, then the schedule from its start.
    pub fn beta(&self, step: usize) -> f64 {
        if step < self.pretrain {
            0.0
        } else {
            self.schedule.beta_at_step(step - self.pretrain)
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
    ) -> (
        crate::core::objective::Loss,
        crate::core::posterior::Posterior,
    ) {
        let objective = job.trainer.objective;
        let z = model.noise_dim();
        let rows = batch.len() * samples_per_example(objective);
        let eps = upload(
            host_normal(rows, z, self.seed, Purpose::Noise, step as u64, 0),
            rows,
            z,
            &self.autodiff,
        );
        let beta = self.beta(step);
        let capacity = objective.capacity_at(step);
        let (mut l, posterior) = batch_loss(model, batch, eps, beta, objective, capacity);
        if job.trainer.train.debug_nan_at_step == step + 1 {
            l.rec_ll = l.rec_ll.mul_scalar(f64::NAN);
            l.loss = l.loss.mul_scalar(f64::NAN);
        }
        (l, posterior)
    }

    fn epoch_of(&self, step: usize) -> f64 {
        step as f64 / self.steps_per_epoch as f64
    }
}

/// The run's clock, `metrics.jsonl`'s train lines, the progress display and
/// the checkpoints.
pub struct Logger<'a> {
    job: &'a Job<'a>,
    metrics: MetricsWriter,
    progress: Progress,
    interval: Interval,
    t0: Instant,
    time_before: f64,
    /// Examples trained on in this session (for the throughput).
    images_seen: usize,
    /// Seconds of training in this session, set when training ends.
    train_secs: Option<f64>,
}

impl<'a> Logger<'a> {
    fn open(
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
            images_seen: 0,
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

    fn add(&mut self, loss: crate::core::objective::Loss, examples: usize) {
        self.interval.add(loss, examples);
        self.images_seen += examples;
    }

    /// A train line every `train.log_every` steps and at the last step.
    fn train_line(&mut self, plan: &Plan, state: &TrainState, epoch: usize) -> Result<()> {
        let step = state.step;
        let t = self.job.trainer;
        if !((step % t.train.log_every == 0 || step == plan.total) && self.interval.steps > 0) {
            return Ok(());
        }
        let secs = self.interval.start.elapsed().as_secs_f64();
        let ips = self.interval.images as f64 / secs.max(1e-9);
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
            lr: state.lr,
            capacity: (t.objective.kind == ObjectiveKind::Capacity).then_some(capacity),
            penalty: m.penalty,
            images_per_s: ips,
            time_s: self.elapsed(),
        })?;
        self.progress.step(step, epoch + 1, loss, kl, beta, ips);
        self.interval = Interval::new();
        Ok(())
    }

    /// A validation line.
    fn val_line(&mut self, plan: &Plan, step: usize, record: &Record) -> Result<()> {
        let time_s = self.elapsed();
        self.metrics.write(&ValLine {
            step,
            epoch: plan.epoch_of(step),
            beta: plan.beta(step.saturating_sub(1)),
            metrics: record,
            time_s,
        })
    }

    /// Write a checkpoint of the model, the optimizer and `state`.
    fn save<M: Weights>(
        &mut self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
    ) -> Result<()> {
        state.time_s = self.elapsed();
        state.interval = self.interval.snapshot();
        let keep = self.job.trainer.train.keep_checkpoints;
        checkpoint::save(self.job.run, model, optim, state, keep).map(|_| ())
    }

    /// Every `train.checkpoint_every` steps inside an epoch (epoch ends are
    /// checkpointed after their validation line).
    fn checkpoint_mid_epoch<M: Weights>(
        &mut self,
        plan: &Plan,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
    ) -> Result<()> {
        let (every, step) = (self.job.trainer.train.checkpoint_every, state.step);
        if every > 0 && step % every == 0 && step % plan.steps_per_epoch != 0 && step != plan.total
        {
            self.save(model, optim, state)?;
        }
        Ok(())
    }

    /// Stop on `signal`: a checkpoint at this step (unless one was just
    /// written), `RUN/stopped.json` for `vaekit sweep --status`, and the
    /// error that tells the caller.
    fn stop<M: Weights>(
        &mut self,
        signal: &str,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
    ) -> Result<Error> {
        self.save_last(model, optim, state)?;
        self.progress.finish();
        let checkpoint = checkpoint::list(self.job.run)
            .pop()
            .unwrap_or_else(|| self.job.run.join("checkpoints"));
        let note = serde_json::json!({
            "signal": signal,
            "step": state.step,
            "checkpoint": checkpoint.display().to_string(),
            "time": chrono::Local::now().to_rfc3339(),
        });
        write_atomic(
            &self.job.run.join(STOPPED_FILE),
            serde_json::to_string_pretty(&note)
                .expect("json")
                .as_bytes(),
        )?;
        Ok(Error::Stopped {
            signal: signal.to_string(),
            step: state.step,
            checkpoint,
        })
    }

    /// A run cut short by `train.max_steps` ends between epochs: checkpoint it too.
    fn save_last<M: Weights>(
        &mut self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
    ) -> Result<()> {
        let newest = checkpoint::list(self.job.run).pop();
        if newest.is_none_or(|c| !c.ends_with(format!("step-{:08}", state.step))) {
            self.save(model, optim, state)?;
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.progress.finish();
        // Throughput counts training time only, not the final evaluation.
        self.train_secs = Some(self.t0.elapsed().as_secs_f64());
    }
}

/// Written into a run stopped by a signal (removed when it trains again).
pub const STOPPED_FILE: &str = "stopped.json";

/// Held-out evaluations: the validation lines, the collapse alarm, the epoch
/// line, and the final test and validation records.
pub struct Monitor<'a> {
    job: &'a Job<'a>,
    /// The last end-of-epoch validation record (the summary's `val`).
    pub last_val: Option<Record>,
}

impl<'a> Monitor<'a> {
    fn new(job: &'a Job<'a>) -> Self {
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

    /// Evaluate on the validation set, write the line, feed the alarm.
    fn validate<M: LatentModel>(
        &mut self,
        plan: &Plan,
        model: &M,
        state: &mut TrainState,
        log: &mut Logger,
    ) -> Result<Record> {
        let record = self.evaluate(model, &self.job.data.splits.val, self.job.seed);
        log.val_line(plan, state.step, &record)?;
        Ok(record)
    }

    /// Feed the alarm (models with a latent); print what it raises.
    fn alarm<M: LatentModel>(model: &M, record: &Record, state: &mut TrainState, log: &Logger) {
        if !model.has_latent() {
            return;
        }
        for w in state.alarm.observe_all(record) {
            log.progress.epoch(&w);
        }
    }

    /// Every `monitor.every` steps inside an epoch.
    fn mid_epoch<M: LatentModel>(
        &mut self,
        plan: &Plan,
        model: &M,
        state: &mut TrainState,
        log: &mut Logger,
    ) -> Result<()> {
        let (every, step) = (self.job.monitor.every, state.step);
        if every > 0 && step % every == 0 && step % plan.steps_per_epoch != 0 {
            let record = self.validate(plan, model, state, log)?;
            Self::alarm(model, &record, state, log);
        }
        Ok(())
    }

    /// The end-of-epoch validation, its line on the console, and the stop
    /// when the model's parameters are no longer finite.
    fn end_epoch<M: LatentModel>(
        &mut self,
        plan: &Plan,
        model: &M,
        state: &mut TrainState,
        log: &mut Logger,
    ) -> Result<()> {
        let record = self.validate(plan, model, state, log)?;
        let f = |name: &str| record.float(name).unwrap_or(f64::NAN);
        log.progress.epoch(&format!(
            "epoch {:>3}/{}  step {:>6}  val ELBO {:>9.2}  rec {:>9.2}  KL {:>7.2}  {}  {:.0}s",
            state.epochs_done,
            self.job.trainer.train.epochs,
            state.step,
            f("elbo"),
            f("rec_ll"),
            f("kl"),
            registry::brief(&record),
            log.elapsed()
        ));
        Self::alarm(model, &record, state, log);
        if !f("elbo").is_finite() {
            log.progress.finish();
            return Err(Error::NonFinite(format!(
                "training stopped after epoch {}: the validation ELBO is {}; the model's \
                 parameters are no longer finite, so no checkpoint was written for this epoch",
                state.epochs_done,
                f("elbo")
            )));
        }
        self.last_val = Some(record);
        Ok(())
    }

    /// The summary: the test split (its own noise seed) and the last
    /// validation record.
    fn summary<M: LatentModel>(&mut self, model: &M, state: &TrainState, log: &Logger) -> Summary {
        let job = self.job;
        let val = match self.last_val.take() {
            Some(v) => v,
            None => self.evaluate(model, &job.data.splits.val, job.seed),
        };
        let test = self.evaluate(model, &job.data.splits.test, job.seed ^ 0x7e57);
        let train_secs = log
            .train_secs
            .unwrap_or_else(|| log.t0.elapsed().as_secs_f64());
        Summary {
            name: job.name.to_string(),
            data: job.data.splits.source.clone(),
            data_kind: Some(job.data.splits.train.kind()),
            device: job.device_name.to_string(),
            steps: state.step,
            epochs: state.epochs_done,
            skipped_steps: state.skipped_steps,
            wall_time_s: log.elapsed(),
            train_images_per_s: log.images_seen as f64 / train_secs.max(1e-9),
            collapse_alarm: state.alarm.raised(),
            test,
            val,
        }
    }
}
