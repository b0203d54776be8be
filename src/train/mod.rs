//! The one trainer every model shares, and the run directory it fills.
//!
//! ```text
//! runs/<name>-<timestamp>/
//!   config.toml      the resolved config (re-run with `vaekit train --config`)
//!   metrics.jsonl    train lines every `log_every` steps, val lines every epoch
//!   checkpoints/step-NNNNNNNN/{model.bpk, optim.bpk, state.json}
//!   summary.json     final test/val ELBO, reconstruction, KL (total, per dim), wall time
//! ```

pub mod checkpoint;
pub mod interval;
pub mod metrics;
pub mod progress;

use crate::config::{
    DeviceChoice, ExperimentConfig, Likelihood, NonFinitePolicy, ObjectiveConfig, ObjectiveKind,
    OptimizerKind,
};
use crate::data::batches::{batches_per_epoch, binarize_fixed, epoch_order, gather, host_normal};
use crate::data::{self, Dataset, Splits};
use crate::error::{Error, Result};
use crate::eval::iwae::{self, IwaeOptions, mean_se};
use crate::eval::{ElboStats, elbo_and_posteriors};
use crate::fsutil::{create_dir_all, write_atomic};
use crate::host::upload;
use crate::models::{AnyModel, LatentModel, Posterior, log_weights};
use crate::monitor::{CollapseAlarm, CollapseStats, collapse_stats};
use crate::objective;
use crate::rng::Purpose;
use crate::schedule::Schedule;
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use checkpoint::TrainState;
use interval::Interval;
use metrics::{MetricsWriter, TrainLine, ValLine};
use progress::Progress;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `summary.json` holds. Top-level ELBO numbers are on the test split.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub data: String,
    pub device: String,
    pub steps: usize,
    pub epochs: usize,
    /// Batches skipped for a non-finite loss (`train.on_nonfinite = "skip"`).
    pub skipped_steps: usize,
    pub wall_time_s: f64,
    /// Training throughput over the whole run (images per second of wall time).
    pub train_images_per_s: f64,
    /// Test-set mean ELBO (nats), one posterior sample per example.
    pub elbo: f64,
    pub rec_ll: f64,
    pub kl: f64,
    pub kl_per_dim: Vec<f64>,
    /// Active units on the test set (A_u > δ).
    pub active_units: usize,
    /// I(x;z) on the test set, nats.
    pub mi: f64,
    /// Whether the collapse alarm went off during training.
    pub collapse_alarm: bool,
    pub test: ElboStats,
    pub test_monitor: CollapseStats,
    pub val: ElboStats,
    pub val_monitor: CollapseStats,
}

/// Create the run directory: `out` if given (must not already hold a run),
/// else `runs/<name>-<UTC timestamp>`.
pub fn make_run_dir(cfg: &ExperimentConfig, out: Option<&Path>) -> Result<PathBuf> {
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
            let base = PathBuf::from("runs").join(format!("{}-{stamp}", cfg.name));
            let mut dir = base.clone();
            let mut k = 1;
            while dir.exists() {
                dir = PathBuf::from(format!("{}-{k}", base.display()));
                k += 1;
            }
            dir
        }
    };
    if dir.join("metrics.jsonl").exists() || dir.join("summary.json").exists() {
        return Err(Error::Usage(format!(
            "{}: already holds a run; choose another --out or remove it",
            dir.display()
        )));
    }
    create_dir_all(&dir)?;
    Ok(dir)
}

/// Data prepared for a model's likelihood: Bernoulli decoders see binarized
/// pixels (dynamic for training, one fixed draw for validation and test).
pub struct PreparedData {
    pub splits: Splits,
    pub dynamic_binarize: bool,
}

impl PreparedData {
    pub fn load(cfg: &ExperimentConfig) -> Result<Self> {
        let mut splits = data::load(&cfg.data, cfg.seed)?;
        let bernoulli = cfg.model.likelihood == Likelihood::Bernoulli;
        if bernoulli {
            splits.val = binarize_fixed(&splits.val, cfg.seed, 1);
            splits.test = binarize_fixed(&splits.test, cfg.seed, 2);
        }
        if let Some(which) = AnyModel::conv_setting(&cfg.model)
            && (splits.train.rows != splits.train.cols
                || crate::nn::ImageGrid::of(splits.train.dim())
                    != Some(crate::nn::ImageGrid {
                        channels: splits.train.channels,
                        side: splits.train.rows,
                    }))
        {
            return Err(Error::Config(vec![format!(
                "{which}: needs square images whose side is a multiple of 4, with 1 or 3 \
                 channels; {} gives {}",
                cfg.data.spec,
                splits.train.shape_text()
            )]));
        }
        Ok(Self {
            dynamic_binarize: bernoulli && !splits.train.binary,
            splits,
        })
    }
}

/// Build the model a config names, for images of `data_dim` pixels, on
/// `device`. Weights are drawn on the CPU from the run's seed and then
/// copied, so the same seed gives the same initial weights on every device.
///
/// The CPU backend's RNG is shared by the whole process: seeding it and
/// drawing the weights happen under one lock, so that models built on
/// several threads at once (tests, a library user's sweep) still get the
/// weights of their own seed.
pub fn build_model(cfg: &ExperimentConfig, data_dim: usize, device: &Device) -> AnyModel {
    static HOST_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let record = {
        let _guard = HOST_RNG.lock().unwrap_or_else(|e| e.into_inner());
        let host = Device::flex();
        host.seed(cfg.seed);
        AnyModel::new(&cfg.model, data_dim, &host).into_record()
    };
    AnyModel::new(&cfg.model, data_dim, device).load_record(record)
}

pub fn build_optimizer(cfg: &ExperimentConfig) -> ModuleOptimizer {
    let o = &cfg.optimizer;
    match o.kind {
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(o.eps as f32)
            .with_weight_decay(
                (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32)),
            )
            .init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(o.eps as f32)
            .with_weight_decay(o.weight_decay as f32)
            .init(),
    }
}

/// Train the model `cfg` describes, writing everything into `run`.
pub fn train(
    cfg: &ExperimentConfig,
    run: &Path,
    device: &Device,
    progress_mode: Option<Progress>,
) -> Result<Summary> {
    // Data first: a bad data spec leaves no half-made run behind (the empty
    // folder `make_run_dir` created is removed; a folder with files is kept).
    let data = match PreparedData::load(cfg) {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_dir(run);
            return Err(e);
        }
    };
    write_atomic(&run.join("config.toml"), cfg.to_toml().as_bytes())?;
    let model = build_model(cfg, data.splits.train.dim(), &device.clone().autodiff());
    let state = TrainState::initial(cfg, &data.splits.train);
    fit(
        cfg,
        model,
        build_optimizer(cfg),
        state,
        &data,
        run,
        device,
        progress_mode,
    )
}

/// Continue an interrupted run from its newest checkpoint that loads. A
/// checkpoint that fails to load is reported by name and the previous one is
/// tried; with none left the run starts over. `metrics.jsonl` is cut back to
/// the checkpoint's step (dropping a torn last line), so no line is repeated.
pub fn resume(
    run: &Path,
    device_choice: Option<DeviceChoice>,
    device: &Device,
    progress_mode: Option<Progress>,
) -> Result<Summary> {
    if run.join("summary.json").is_file() {
        return Err(Error::Usage(format!(
            "{}: this run has finished (summary.json exists); nothing to resume",
            run.display()
        )));
    }
    let mut cfg = crate::run::load_config(run)?;
    if let Some(d) = device_choice {
        cfg.device = d;
    }
    let data = PreparedData::load(&cfg)?;
    let ad = device.clone().autodiff();
    let dim = data.splits.train.dim();
    let mut loaded = None;
    for ckpt in checkpoint::list(run).iter().rev() {
        let attempt = checkpoint::load_state(ckpt).and_then(|state| {
            let model = checkpoint::load_model(ckpt, build_model(&cfg, dim, &ad))?;
            let optim = checkpoint::load_optim(ckpt, build_optimizer(&cfg))?;
            Ok((model, optim, state))
        });
        match attempt {
            Ok(x) => {
                eprintln!("resuming {} from {}", run.display(), ckpt.display());
                loaded = Some(x);
                break;
            }
            Err(e) => eprintln!("warning: skipping checkpoint {}: {e}", ckpt.display()),
        }
    }
    let (model, optim, state) = match loaded {
        Some(x) => x,
        None if !checkpoint::list(run).is_empty() => {
            return Err(Error::Usage(format!(
                "{}: none of its checkpoints fits this run's config and data (see the warnings \
                 above); nothing was changed. Start a new run, or restore the data it was trained on.",
                run.display()
            )));
        }
        None => {
            eprintln!(
                "{} has no checkpoint yet: training starts from the beginning",
                run.display()
            );
            let state = TrainState::initial(&cfg, &data.splits.train);
            (build_model(&cfg, dim, &ad), build_optimizer(&cfg), state)
        }
    };
    metrics::truncate(&run.join("metrics.jsonl"), state.step)?;
    fit(&cfg, model, optim, state, &data, run, device, progress_mode)
}

impl TrainState {
    /// The state before the first step.
    pub fn initial(cfg: &ExperimentConfig, train: &Dataset) -> Self {
        Self {
            step: 0,
            epochs_done: 0,
            time_s: 0.0,
            image_shape: [train.rows, train.cols],
            channels: train.channels,
            lr: cfg.optimizer.lr,
            skipped_steps: 0,
            consecutive_skips: 0,
            interval: None,
            alarm: CollapseAlarm::new(cfg.monitor.alarm_patience, cfg.monitor.alarm_kl),
            vaekit_version: env!("CARGO_PKG_VERSION").into(),
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

/// The loss of one batch: forward and weigh the terms (β and free bits for
/// the ELBO; the k-sample bound for IWAE; γ·|KL − C| for capacity annealing,
/// with C = `capacity`). `eps` holds `[batch, noise]`
/// noise for the ELBO and `[batch·k, noise]` for IWAE. Also returns the
/// batch's posterior, for [`LatentModel::after_step`].
pub fn batch_loss<M: LatentModel>(
    model: &M,
    x: Tensor<2>,
    eps: Tensor<2>,
    beta: f64,
    objective: &ObjectiveConfig,
    capacity: f64,
) -> (objective::Loss, Posterior) {
    match objective.kind {
        ObjectiveKind::Elbo => {
            let fwd = model.forward(x, eps);
            let l = objective::loss(&fwd.terms, beta, objective.free_bits);
            (l, fwd.posterior)
        }
        ObjectiveKind::Capacity => {
            let fwd = model.forward(x, eps);
            let l = objective::capacity_loss(&fwd.terms, objective.gamma, capacity);
            (l, fwd.posterior)
        }
        ObjectiveKind::Iwae => {
            let [b, zd] = [x.dims()[0], model.noise_dim()];
            let k = objective.k;
            let posterior = model.encode(x.clone());
            let z0 = posterior.sample(
                eps.clone()
                    .reshape([b, k, zd])
                    .narrow(1, 0, 1)
                    .reshape([b, zd]),
            );
            let kl = model.kl(&posterior, z0);
            let (log_w, log_px) = log_weights(model, &posterior, x, eps, k);
            (objective::iwae_loss(log_w, log_px, kl), posterior)
        }
    }
}

/// Backward from `loss` and one optimizer step.
pub fn apply_update<M: LatentModel>(
    model: M,
    optim: &mut ModuleOptimizer,
    loss: Tensor<1>,
    lr: f64,
) -> M {
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    optim.step(lr, model, grads)
}

/// Noise rows a step needs per example: 1 for the ELBO, k for IWAE.
pub fn samples_per_example(objective: &ObjectiveConfig) -> usize {
    match objective.kind {
        ObjectiveKind::Elbo | ObjectiveKind::Capacity => 1,
        ObjectiveKind::Iwae => objective.k,
    }
}

/// The training loop proper, for any model, from `state` (the initial
/// state, or a checkpoint's).
#[allow(clippy::too_many_arguments)]
pub fn fit<M: LatentModel + checkpoint::Weights>(
    cfg: &ExperimentConfig,
    mut model: M,
    mut optim: ModuleOptimizer,
    mut state: TrainState,
    data: &PreparedData,
    run: &Path,
    device: &Device,
    progress_mode: Option<Progress>,
) -> Result<Summary> {
    let t0 = Instant::now();
    let time_before = state.time_s;
    let elapsed = || time_before + t0.elapsed().as_secs_f64();
    let ad = device.clone().autodiff();
    let train_set: &Dataset = &data.splits.train;
    let (bs, z, dim) = (cfg.train.batch_size, model.noise_dim(), train_set.dim());
    let spe = batches_per_epoch(train_set.n, bs);
    let mut total = spe * cfg.train.epochs;
    if cfg.train.max_steps > 0 {
        total = total.min(cfg.train.max_steps);
    }
    let schedule = Schedule::new(&cfg.schedule, total, spe);
    let mut metrics = MetricsWriter::open(&run.join("metrics.jsonl"))?;
    let progress = progress_mode.unwrap_or_else(|| Progress::auto(total));
    progress.start_at(state.step);
    let seed = cfg.seed;
    let mut images_seen = 0usize;
    let mut interval = Interval::restore(state.interval.as_ref(), device);
    let mut last_val: Option<HeldOut> = None;
    let monitor = Monitor {
        iwae_k: cfg.train.val_iwae_k,
    };
    let save = |model: &M, optim: &ModuleOptimizer, state: &mut TrainState, interval: &Interval| {
        state.time_s = elapsed();
        state.interval = interval.snapshot();
        checkpoint::save(run, model, optim, state, cfg.train.keep_checkpoints)
    };

    'epochs: for epoch in state.epochs_done..cfg.train.epochs {
        let order = epoch_order(train_set.n, seed, epoch);
        let first = state.step.saturating_sub(epoch * spe);
        for (b, idx) in order.chunks(bs).enumerate().skip(first) {
            if state.step >= total {
                break 'epochs;
            }
            let step = state.step;
            let binarize = data
                .dynamic_binarize
                .then_some((seed, epoch as u64, b as u64));
            let x = upload(gather(train_set, idx, binarize), idx.len(), dim, &ad);
            let rows = idx.len() * samples_per_example(&cfg.objective);
            let eps = upload(
                host_normal(rows, z, seed, Purpose::Noise, step as u64, 0),
                rows,
                z,
                &ad,
            );
            let beta = schedule.beta_at_step(step);
            let capacity = cfg.objective.capacity_at(step);
            let (mut l, posterior) = batch_loss(&model, x, eps, beta, &cfg.objective, capacity);
            if cfg.train.debug_nan_at_step == step + 1 {
                l.rec_ll = l.rec_ll.mul_scalar(f64::NAN);
                l.loss = l.loss.mul_scalar(f64::NAN);
            }
            // The guard: one scalar read per step, before the update.
            let loss_now = l.loss.clone().into_scalar::<f32>() as f64;
            if !loss_now.is_finite() {
                let rec = l.rec_ll.clone().into_scalar::<f32>() as f64;
                let kl: Vec<f64> = crate::host::read(l.kl_per_dim.clone())
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                let what = non_finite_term(loss_now, rec, &kl)
                    .unwrap_or_else(|| format!("the loss became {loss_now}"));
                let kept = checkpoint::list(run)
                    .pop()
                    .map(|c| format!("The newest checkpoint, {}, is kept.", c.display()))
                    .unwrap_or_else(|| "No checkpoint had been written yet.".into());
                match cfg.train.on_nonfinite {
                    NonFinitePolicy::Stop => {
                        progress.finish();
                        return Err(Error::NonFinite(format!(
                            "training stopped at step {}: {what}. {kept} Try a lower optimizer.lr, \
                             free bits or KL annealing, or --set train.on_nonfinite=skip; \
                             continue with `vaekit train --resume {}`.",
                            step + 1,
                            run.display()
                        )));
                    }
                    NonFinitePolicy::Skip => {
                        state.consecutive_skips += 1;
                        state.skipped_steps += 1;
                        state.lr *= cfg.train.nonfinite_lr_factor;
                        if state.consecutive_skips > cfg.train.max_skips {
                            progress.finish();
                            return Err(Error::NonFinite(format!(
                                "training stopped at step {}: {what}, {} batches in a row \
                                 (train.max_skips = {}). {kept}",
                                step + 1,
                                state.consecutive_skips,
                                cfg.train.max_skips
                            )));
                        }
                        progress.epoch(&format!(
                            "warning: step {}: {what}; batch skipped, learning rate lowered to {:.3e}",
                            step + 1,
                            state.lr
                        ));
                    }
                }
            } else {
                state.consecutive_skips = 0;
                model = apply_update(model, &mut optim, l.loss.clone(), state.lr).after_step(
                    &posterior,
                    step + 1,
                    seed,
                );
                interval.add(l, idx.len());
                images_seen += idx.len();
            }
            // A skipped batch is counted too, so data and noise stay aligned.
            state.step += 1;
            let step = state.step;

            if (step % cfg.train.log_every == 0 || step == total) && interval.steps > 0 {
                let secs = interval.start.elapsed().as_secs_f64();
                let ips = interval.images as f64 / secs.max(1e-9);
                let m = interval.means();
                let (loss, kl) = (m.loss, m.kl.iter().sum::<f64>());
                metrics.write(&TrainLine {
                    split: "train",
                    step,
                    epoch: step as f64 / spe as f64,
                    beta,
                    loss,
                    rec_ll: m.rec,
                    kl,
                    kl_per_dim: m.kl,
                    lr: state.lr,
                    capacity: (cfg.objective.kind == ObjectiveKind::Capacity).then_some(capacity),
                    penalty: m.penalty,
                    images_per_s: ips,
                    time_s: elapsed(),
                })?;
                progress.step(step, epoch + 1, loss, kl, beta, ips);
                interval = Interval::new();
            }
            if cfg.monitor.every > 0 && step % cfg.monitor.every == 0 && step % spe != 0 {
                let ho = held_out(cfg, &model.valid(), &data.splits.val, seed, device);
                monitor.record(&mut metrics, &ho, step, &schedule, spe, elapsed())?;
                for w in state.alarm.observe_all(&ho.elbo, &ho.collapse) {
                    progress.epoch(&w);
                }
            }
            // Epoch ends are checkpointed below, after the validation line.
            if cfg.train.checkpoint_every > 0
                && step % cfg.train.checkpoint_every == 0
                && step % spe != 0
                && step != total
            {
                save(&model, &optim, &mut state, &interval)?;
            }
        }
        state.epochs_done = epoch + 1;
        let step = state.step;
        let ho = held_out(cfg, &model.valid(), &data.splits.val, seed, device);
        monitor.record(&mut metrics, &ho, step, &schedule, spe, elapsed())?;
        let latents = match ho.collapse.codes_used {
            Some(used) => format!(
                "perplexity {:>6.1}  codes used {used}/{}",
                ho.collapse.components_effective.unwrap_or(f64::NAN),
                ho.collapse.component_usage.as_ref().map_or(0, Vec::len)
            ),
            None => format!(
                "MI {:>5.2}  active units {}/{}",
                ho.collapse.mi, ho.collapse.active_units, z
            ),
        };
        progress.epoch(&format!(
            "epoch {:>3}/{}  step {:>6}  val ELBO {:>9.2}  rec {:>9.2}  KL {:>7.2}  {latents}  {:.0}s",
            state.epochs_done,
            cfg.train.epochs,
            step,
            ho.elbo.elbo,
            ho.elbo.rec_ll,
            ho.elbo.kl,
            elapsed()
        ));
        for w in state.alarm.observe_all(&ho.elbo, &ho.collapse) {
            progress.epoch(&w);
        }
        if !ho.elbo.elbo.is_finite() {
            progress.finish();
            return Err(Error::NonFinite(format!(
                "training stopped after epoch {}: the validation ELBO is {}; the model's \
                 parameters are no longer finite, so no checkpoint was written for this epoch",
                state.epochs_done, ho.elbo.elbo
            )));
        }
        last_val = Some(ho);
        save(&model, &optim, &mut state, &interval)?;
    }
    // A run cut short by train.max_steps ends between epochs: checkpoint it too.
    let newest = checkpoint::list(run).pop();
    if newest.is_none_or(|c| !c.ends_with(format!("step-{:08}", state.step))) {
        save(&model, &optim, &mut state, &interval)?;
    }
    progress.finish();
    let train_secs = t0.elapsed().as_secs_f64();

    let valid = model.valid();
    let val = match last_val {
        Some(v) => v,
        None => held_out(cfg, &valid, &data.splits.val, seed, device),
    };
    let test = held_out(cfg, &valid, &data.splits.test, seed ^ 0x7e57, device);
    let summary = Summary {
        name: cfg.name.clone(),
        data: data.splits.source.clone(),
        device: cfg.device.as_str().into(),
        steps: state.step,
        epochs: state.epochs_done,
        skipped_steps: state.skipped_steps,
        wall_time_s: elapsed(),
        train_images_per_s: images_seen as f64 / train_secs.max(1e-9),
        elbo: test.elbo.elbo,
        rec_ll: test.elbo.rec_ll,
        kl: test.elbo.kl,
        kl_per_dim: test.elbo.kl_per_dim.clone(),
        active_units: test.collapse.active_units,
        mi: test.collapse.mi,
        collapse_alarm: state.alarm.raised(),
        test: test.elbo,
        test_monitor: test.collapse,
        val: val.elbo,
        val_monitor: val.collapse,
    };
    write_atomic(
        &run.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap().as_bytes(),
    )?;
    Ok(summary)
}

/// Everything measured on a held-out set at one evaluation.
pub struct HeldOut {
    pub elbo: ElboStats,
    pub collapse: CollapseStats,
    /// Mean L_k when `train.val_iwae_k > 0`.
    pub iwae: Option<f64>,
}

/// Evaluate a model on held-out data: ELBO terms, collapse statistics
/// (on the first `monitor.max_examples` examples for the O(N²) MI), and the
/// IWAE bound when asked.
pub fn held_out<M: LatentModel>(
    cfg: &ExperimentConfig,
    model: &M,
    set: &Dataset,
    seed: u64,
    device: &Device,
) -> HeldOut {
    let (stats, post) = elbo_and_posteriors(model, set, 500, seed, device);
    // I(x;z) is O(n²): it uses the first `monitor.max_examples`.
    let n = post.n.min(cfg.monitor.max_examples.max(2));
    let eps = host_normal(n, post.z, seed, Purpose::Eval, u64::MAX - 1, 0);
    let mut collapse = collapse_stats(&post, &eps, cfg.monitor.au_threshold);
    // Mixture priors: how the aggregate posterior spreads over the components.
    let zs: Vec<f32> = (0..n * post.z)
        .map(|i| post.mean[i] + (0.5 * post.log_var[i]).exp() * eps[i])
        .collect();
    let responsibilities = (post.z > 0)
        .then(|| model.prior_responsibilities(upload(zs, n, post.z, device)))
        .flatten();
    if let Some(r) = responsibilities {
        let k = r.dims()[1];
        let usage = crate::monitor::ComponentUsage::from_responsibilities(&crate::host::read(r), k);
        collapse.component_usage = Some(usage.usage);
        collapse.components_effective = Some(usage.effective);
    }
    let iwae = (cfg.train.val_iwae_k > 0).then(|| {
        let k = cfg.train.val_iwae_k;
        let opts = IwaeOptions {
            k,
            chunk: k.min(500),
            seed,
        };
        mean_se(&iwae::evaluate(model, set, &opts, device).log_px).0
    });
    HeldOut {
        elbo: stats,
        collapse,
        iwae,
    }
}

/// Held-out evaluations during training: the collapse alarm and the `val`
/// lines of `metrics.jsonl`.
struct Monitor {
    iwae_k: usize,
}

impl Monitor {
    fn record(
        &self,
        metrics: &mut MetricsWriter,
        ho: &HeldOut,
        step: usize,
        schedule: &Schedule,
        spe: usize,
        time_s: f64,
    ) -> Result<()> {
        metrics.write(&ValLine {
            split: "val",
            step,
            epoch: step as f64 / spe as f64,
            beta: schedule.beta_at_step(step.saturating_sub(1)),
            elbo: ho.elbo.elbo,
            rec_ll: ho.elbo.rec_ll,
            kl: ho.elbo.kl,
            kl_per_dim: ho.elbo.kl_per_dim.clone(),
            active_units: ho.collapse.active_units,
            activity: ho.collapse.activity.clone(),
            posterior_var: ho.collapse.posterior_var.clone(),
            mi: ho.collapse.mi,
            component_usage: ho.collapse.component_usage.clone(),
            components_effective: ho.collapse.components_effective,
            penalty: ho.elbo.penalty,
            codes_used: ho.collapse.codes_used,
            dead_codes: ho.collapse.dead_codes,
            iwae: ho.iwae,
            iwae_k: ho.iwae.map(|_| self.iwae_k),
            time_s,
        })
    }
}

/// A short, readable end-of-run report.
pub fn report(summary: &Summary, run: &Path) -> String {
    let header = format!(
        "\nrun      {}\ndata     {}\ndevice   {}   steps {}   epochs {}   {:.0} s   {:.0} images/s\n",
        run.display(),
        summary.data,
        summary.device,
        summary.steps,
        summary.epochs,
        summary.wall_time_s,
        summary.train_images_per_s,
    );
    let alarm = if summary.collapse_alarm {
        "the collapse alarm went off during training (see the log above)\n"
    } else {
        ""
    };
    let m = &summary.test_monitor;
    // The latents part depends on the posterior family.
    let body = match (m.codes_used, &m.component_usage) {
        (Some(used), Some(usage)) => format!(
            "test     ELBO {:.2}   log p(x|z_q) {:.2}   KL {:.2} nats (= P·ln K: uniform prior over codes)\n\
             codebook {} codes, {used} used on the test set, {} dead, perplexity {:.1}\n",
            summary.elbo,
            summary.rec_ll,
            summary.kl,
            usage.len(),
            m.dead_codes.unwrap_or(0),
            m.components_effective.unwrap_or(f64::NAN),
        ),
        _ => gaussian_latents(summary),
    };
    format!("{header}{body}{alarm}")
}

/// The report's latents part for a Gaussian posterior: active units, I(x;z)
/// and a bar per dimension of KL.
fn gaussian_latents(summary: &Summary) -> String {
    let mut dims: Vec<(usize, f64)> = summary.kl_per_dim.iter().copied().enumerate().collect();
    dims.sort_by(|a, b| b.1.total_cmp(&a.1));

    let groups_note = if summary.kl_per_dim.len() != summary.test_monitor.activity.len() {
        "  (mixture prior: the KL does not split by dimension; one Monte-Carlo total)\n"
    } else {
        ""
    };
    let usage_note = match (
        &summary.test_monitor.component_usage,
        summary.test_monitor.components_effective,
    ) {
        (Some(u), Some(e)) => format!(
            "prior    {} components, effectively {:.2} used (exp of the usage entropy)\n",
            u.len(),
            e
        ),
        _ => String::new(),
    };
    let bars: Vec<String> = dims
        .iter()
        .map(|(j, k)| {
            let n = ((k / dims[0].1.max(1e-9)) * 30.0).round() as usize;
            let name = if groups_note.is_empty() {
                format!("z{j}")
            } else {
                "total".into()
            };
            format!("  {name:<5} {k:>7.3} nats  {}", "█".repeat(n))
        })
        .collect();
    format!(
        "test     ELBO {:.2}   log p(x|z) {:.2}   KL {:.2} nats  (one sample per image)\n\
         latents  {} of {} active (A_u > {}), I(x;z) {:.2} nats; KL per dimension:\n{}\n",
        summary.elbo,
        summary.rec_ll,
        summary.kl,
        summary.active_units,
        summary.test_monitor.activity.len(),
        summary.test_monitor.au_threshold,
        summary.mi,
        format!("{groups_note}{}\n{usage_note}", bars.join("\n")).trim_end(),
    )
}
