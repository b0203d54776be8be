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
pub mod plateau;
pub mod progress;
pub mod recorder;
pub mod revive;
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
    let mut plan = Plan::new(job);
    plan.set_revive(&state.revive);
    check_procedures(job, &model)?;
    if job.trainer.train.aggressive && state.aggressive.is_none() {
        state.aggressive = Some(aggressive::AggressiveState::new());
    }
    let plateau_on = job.trainer.optimizer.lr_schedule == config::LrSchedule::Plateau;
    if plateau_on && state.plateau.is_none() {
        state.plateau = Some(plateau::PlateauState::new());
    }
    let mut rec = Recorder::open(job, &plan, &state, progress)?;
    let mut monitor = Monitor::new(job);
    let checkpoints = Checkpointer::open(job);
    // The plateau schedule's best model, from the checkpoint resumed from.
    let mut best: Option<M> = match state.plateau.as_ref() {
        Some(p) if p.best_step.is_some() && state.step > 0 => {
            Some(checkpoints.load_best(model.clone(), state.step)?)
        }
        _ => None,
    };
    let encoder = model.encoder_params();
    if job.monitor.posterior_mean_every > 0 {
        crate::metrics::posterior_mean::truncate_after(job.run, state.step)?;
        if state.step == 0 {
            monitor.posterior_means(&plan, &model, &state)?;
        }
    }
    // A run the plateau schedule ended (its last decay made) is finished:
    // resuming it trains no further.
    let max_decays = job.trainer.optimizer.plateau_max_decays;
    // So is one `train.on_collapse = "stop"` ended.
    let first_epoch = match state.plateau.as_ref() {
        Some(p) if max_decays > 0 && p.decays >= max_decays => job.trainer.train.epochs,
        _ if state.revive.stopped => job.trainer.train.epochs,
        _ => state.epochs_done,
    };
    'epochs: for epoch in first_epoch..job.trainer.train.epochs {
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
            let batch = plan.batch(job, &model, &idx, epoch, b, state.step);
            monitor.grad_noise(&plan, &model, &batch, state.step, &encoder, &mut rec)?;
            let mut frozen: &[burn::module::ParamId] = &[];
            if let Some(a) = state.aggressive.as_mut().filter(|a| a.active) {
                model = aggressive::inner_loop(
                    job, &plan, model, &mut optim, a, state.step, lr, &batch,
                );
                if job.trainer.train.aggressive_joint == config::AggressiveJoint::Decoder {
                    frozen = &encoder;
                }
            }
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
                        frozen,
                    )
                    .after_step(&posterior, state.step + 1, job.seed);
                    rec.add(loss, idx.len());
                }
                Verdict::Skip => {}
            }
            state.step += 1; // a skipped batch counts too: data and noise stay aligned
            rec.train_line(&plan, &state, epoch)?;
            let mut stop_now = false;
            if let Some(record) = monitor.mid_epoch(&plan, &model, &mut state, &mut rec)? {
                let before = state.revive.interventions.len();
                (model, stop_now) = revive::act(
                    job, &mut plan, model, &mut optim, &mut state, &record, &mut rec,
                )?;
                if revive::remedied(&state.revive, before) {
                    best = None; // the old regime's best model is not the run's end
                }
                if stop_now {
                    // The summary's validation record is this evaluation's.
                    monitor.last_val = Some(record);
                }
            }
            if stop_now {
                checkpoints.save(&model, &optim, &mut state, &rec)?;
                break 'epochs;
            }
            monitor.posterior_means(&plan, &model, &state)?;
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
        let mut last_decay = false;
        if let (Some(p), Some(val)) = (state.plateau.as_mut(), monitor.last_val.as_ref()) {
            let loss = -val
                .float(crate::metrics::elbo::ELBO.name)
                .unwrap_or(f64::NAN);
            let v = p.observe(loss, epoch, state.step, job.trainer.optimizer);
            if v.improved {
                checkpoints.set_best(&model)?;
                best = Some(model.clone());
            }
            if v.decay {
                state.lr *= job.trainer.optimizer.plateau_factor;
                model = best.clone().unwrap_or(model);
                optim = build_optimizer(job.trainer.optimizer);
                rec.progress().epoch(&format!(
                    "epoch {}: validation −ELBO {loss:.3} has not improved for {} epochs; \
                     learning rate now {}, the best model (step {}) reloaded, the optimizer \
                     rebuilt (decay {} of {})",
                    epoch + 1,
                    job.trainer.optimizer.plateau_patience,
                    state.lr,
                    p.best_step.unwrap_or(0),
                    p.decays,
                    job.trainer.optimizer.plateau_max_decays,
                ));
            }
            last_decay = v.stop;
        }
        let mut stop_now = false;
        // The last decay ends training here: nothing left for a remedy to act on.
        if let Some(val) = monitor.last_val.clone().filter(|_| !last_decay) {
            let before = state.revive.interventions.len();
            (model, stop_now) = revive::act(
                job, &mut plan, model, &mut optim, &mut state, &val, &mut rec,
            )?;
            if revive::remedied(&state.revive, before) {
                best = None;
            }
        }
        checkpoints.save(&model, &optim, &mut state, &rec)?;
        if stop_now {
            break 'epochs;
        }
        if last_decay {
            rec.progress()
                .epoch("the last learning-rate decay is made: training ends here (He et al.)");
            break 'epochs;
        }
        if let Some(signal) = stop::requested()
            && state.step < plan.total
        {
            return Err(checkpoints.stop(signal, &model, &optim, &mut state, &rec));
        }
    }
    checkpoints.save_last(&model, &optim, &mut state, &rec)?;
    if let (Some(b), Some(p)) = (best.take(), state.plateau.as_ref()) {
        // He et al. evaluate the best model: the run's last checkpoint is it.
        rec.progress().epoch(&format!(
            "the run ends with the best model: step {}, validation −ELBO {:.3}",
            p.best_step.unwrap_or(0),
            p.best
        ));
        model = b;
        checkpoints.save(&model, &optim, &mut state, &rec)?;
        // The summary's validation record is then the best model's.
        monitor.last_val = None;
    }
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
             (aggressive training is offered for text_vae, vae, gmm, vamp and two_layer)"
                .to_string(),
        );
    }
    use revive::CollapseAction;
    if t.on_collapse.contains(CollapseAction::Aggressive) && model.encoder_params().is_empty() {
        errs.push(
            "train.on_collapse: \"aggressive\" needs a separate encoder to update alone, which \
             this model does not have (text_vae, vae, gmm, vamp and two_layer have one)"
                .to_string(),
        );
    }
    if t.on_collapse.contains(CollapseAction::ResetDecoder) && !model.can_reset_decoder() {
        errs.push(
            "train.on_collapse: \"reset_decoder\": this model's decoder cannot be \
             re-initialised (text_vae and the MLP vae, gmm and vamp can)"
                .to_string(),
        );
    }
    if !t.on_collapse.warns_only() && !model.has_latent() {
        errs.push(
            "train.on_collapse: this model has no latent code to collapse (a language model); \
             leave it at \"warn\""
                .to_string(),
        );
    }
    let m = job.monitor;
    if m.posterior_mean_every > 0 {
        let d = model.latent_dim();
        let grid = crate::metrics::posterior_mean::Grid::new(
            d,
            m.posterior_mean_range,
            m.posterior_mean_step,
        );
        if !model.has_latent() || !(1..=2).contains(&d) {
            errs.push(format!(
                "monitor.posterior_mean_every = {}: the posterior-mean space is computed by \
                 quadrature over z, for models with a 1- or 2-D latent; this model's latent has \
                 {d} dimensions (set model.latent_dim = 1 or 2, or monitor.posterior_mean_every = 0)",
                m.posterior_mean_every
            ));
        } else if grid.len() > crate::metrics::posterior_mean::MAX_GRID_POINTS {
            errs.push(format!(
                "monitor.posterior_mean_range = {}, monitor.posterior_mean_step = {}: {} grid \
                 points in {d}-D, more than {}; use a coarser step or a smaller range \
                 (for 2-D, e.g. range 6 and step 0.1: 14,400 points)",
                m.posterior_mean_range,
                m.posterior_mean_step,
                grid.len(),
                crate::metrics::posterior_mean::MAX_GRID_POINTS
            ));
        }
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
