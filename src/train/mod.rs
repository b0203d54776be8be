//! Layer 4, the trainer: one loop for every model ([`fit`]), made of named
//! pieces — the batch plan ([`plan`]), the non-finite guard ([`guard`]),
//! the recorder of metrics lines and progress ([`recorder`], [`log`],
//! [`interval`], [`progress`]), held-out evaluation and the collapse alarm
//! ([`monitor`]), checkpoints ([`checkpointer`], [`checkpoint`]) — and the
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
//! own procedure around each step is a [`StepHook`] ([`hook`]).

pub mod aggressive;
pub mod checkpoint;
pub mod checkpointer;
pub mod config;
pub mod fused_adam;
pub mod guard;
pub mod hook;
pub mod interval;
pub mod log;
pub mod monitor;
pub mod plan;
pub mod progress;
pub mod recorder;
pub mod schedule;
pub mod step;
pub mod stop;
pub mod summary;

pub use checkpointer::{Checkpointer, STOPPED_FILE};
pub use config::TrainerConfig;
pub use hook::{NanAt, StepHook};
pub use monitor::Monitor;
pub use plan::Plan;
pub use recorder::Recorder;
pub use step::{apply_update, batch_loss, build_optimizer, samples_per_example};
pub use summary::{Summary, report};

use crate::core::error::{Error, Result};
use crate::data::Prepared;
use crate::metrics::config::MonitorConfig;
use crate::models::LatentModel;
use crate::models::build::Weights;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use checkpoint::TrainState;
use config::ObjectiveKind;
use guard::Verdict;
use progress::Progress;
use std::path::Path;

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
    /// The collapse remedies the model offers, and which are on: what the
    /// collapse alarm suggests (`ExperimentConfig::collapse_remedies`).
    pub remedies: Vec<crate::metrics::alarm::Remedy>,
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
    let mut rec = Recorder::open(job, &plan, &state, progress)?;
    let mut monitor = Monitor::new(job);
    let checkpoints = Checkpointer::open(job);
    'epochs: for epoch in state.epochs_done..job.trainer.train.epochs {
        for (b, idx) in plan.batches(&job.data.splits.train, epoch, state.step) {
            if state.step >= plan.total {
                break 'epochs;
            }
            if plan.pretrain > 0 && state.step == plan.pretrain {
                model = model.reset_decoder(job.seed);
                optim = build_optimizer(job.trainer.optimizer);
                rec.progress().epoch(&format!(
                    "step {}: pre-training (β = 0) done; decoder and optimizer re-initialised, \
                     the β schedule starts",
                    state.step
                ));
            }
            let lr = job.trainer.optimizer.lr_at(state.lr, epoch);
            if let Some(a) = state.aggressive.as_mut().filter(|a| a.active) {
                model = aggressive::inner_loop(job, &plan, model, &mut optim, a, state.step, lr);
            }
            let batch = plan.batch(job, &model, &idx, epoch, b, state.step);
            for h in hooks.iter_mut() {
                model = h.before_step(model, &mut optim, &batch, state.step);
            }
            let (mut loss, posterior) = plan.loss(job, &model, &batch, state.step);
            for h in hooks.iter_mut() {
                loss = h.after_loss(loss, state.step);
            }
            match guard::check(job, &loss, &mut state, rec.progress())? {
                Verdict::Update => {
                    model = apply_update(
                        model,
                        &mut optim,
                        loss.loss.clone(),
                        lr,
                        job.trainer.optimizer.clip_norm,
                    )
                    .after_step(&posterior, state.step + 1, job.seed);
                    rec.add(loss, idx.len());
                }
                Verdict::Skip => {}
            }
            state.step += 1; // a skipped batch counts too: data and noise stay aligned
            rec.train_line(&plan, &state, epoch)?;
            monitor.mid_epoch(&plan, &model, &mut state, &mut rec)?;
            checkpoints.mid_epoch(&plan, &model, &optim, &mut state, &rec)?;
            // A signal: stop here, at a step boundary (an epoch's last step
            // first finishes its epoch: validation, then the checkpoint).
            if let Some(signal) = stop::requested()
                && state.step % plan.steps_per_epoch != 0
                && state.step < plan.total
            {
                return Err(checkpoints.stop(signal, &model, &optim, &mut state, &rec));
            }
        }
        state.epochs_done = epoch + 1;
        monitor.end_epoch(&plan, &model, &mut state, &mut rec)?;
        if let (Some(a), Some(val)) = (state.aggressive.as_mut(), monitor.last_val.as_ref()) {
            if let Some(msg) = a.observe(val, state.step) {
                rec.progress().epoch(&msg);
            }
        }
        checkpoints.save(&model, &optim, &mut state, &rec)?;
        if let Some(signal) = stop::requested()
            && state.step < plan.total
        {
            return Err(checkpoints.stop(signal, &model, &optim, &mut state, &rec));
        }
    }
    checkpoints.save_last(&model, &optim, &mut state, &rec)?;
    rec.finish();
    let summary = monitor.summary(&model, &state, &rec);
    summary.write(job.run)?;
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
