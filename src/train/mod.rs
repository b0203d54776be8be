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
pub mod metrics;
pub mod progress;

use crate::config::{ExperimentConfig, Likelihood, OptimizerKind};
use crate::data::batches::{batches_per_epoch, binarize_fixed, epoch_order, gather, host_normal};
use crate::data::{self, Dataset, Splits};
use crate::error::{Error, Result};
use crate::eval::{ElboStats, elbo};
use crate::fsutil::{create_dir_all, write_atomic};
use crate::host::upload;
use crate::models::LatentModel;
use crate::models::vae::Vae;
use crate::objective;
use crate::rng::Purpose;
use crate::schedule::Schedule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use checkpoint::TrainState;
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
    pub wall_time_s: f64,
    /// Training throughput over the whole run (images per second of wall time).
    pub train_images_per_s: f64,
    /// Test-set mean ELBO (nats), one posterior sample per example.
    pub elbo: f64,
    pub rec_ll: f64,
    pub kl: f64,
    pub kl_per_dim: Vec<f64>,
    pub test: ElboStats,
    pub val: ElboStats,
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
        Ok(Self {
            dynamic_binarize: bernoulli && !splits.train.binary,
            splits,
        })
    }
}

/// Build the model a config names, for images of `data_dim` pixels. Weights
/// come from the device RNG seeded with the run's seed.
pub fn build_model(cfg: &ExperimentConfig, data_dim: usize, device: &Device) -> Vae {
    device.seed(cfg.seed);
    Vae::new(&cfg.model, data_dim, device)
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
    write_atomic(&run.join("config.toml"), cfg.to_toml().as_bytes())?;
    let data = PreparedData::load(cfg)?;
    let model = build_model(cfg, data.splits.train.dim(), &device.clone().autodiff());
    fit(cfg, model, &data, run, device, progress_mode)
}

/// Sums over a logging interval, kept on the device and read once.
struct Interval {
    loss: Option<Tensor<1>>,
    rec: Option<Tensor<1>>,
    kl: Option<Tensor<1>>,
    steps: usize,
    images: usize,
    start: Instant,
}

impl Interval {
    fn new() -> Self {
        Self {
            loss: None,
            rec: None,
            kl: None,
            steps: 0,
            images: 0,
            start: Instant::now(),
        }
    }

    fn add(acc: &mut Option<Tensor<1>>, v: Tensor<1>) {
        let v = v.inner();
        *acc = Some(match acc.take() {
            Some(a) => a + v,
            None => v,
        });
    }

    /// One device read: (mean loss, mean rec_ll, mean KL per dim).
    fn read(&mut self) -> (f64, f64, Vec<f64>) {
        let all = Tensor::cat(
            vec![
                self.loss.take().expect("interval has steps"),
                self.rec.take().expect("interval has steps"),
                self.kl.take().expect("interval has steps"),
            ],
            0,
        );
        let v = crate::host::read(all);
        let n = self.steps.max(1) as f64;
        let kl = v[2..].iter().map(|&k| k as f64 / n).collect();
        (v[0] as f64 / n, v[1] as f64 / n, kl)
    }
}

/// Name the first non-finite term, for an error that says what blew up.
fn non_finite(step: usize, loss: f64, rec: f64, kl: &[f64], run: &Path) -> Option<Error> {
    let what = if !rec.is_finite() {
        format!("the reconstruction log-likelihood became {rec}")
    } else if let Some((j, k)) = kl.iter().enumerate().find(|(_, k)| !k.is_finite()) {
        format!("the KL of latent dimension {j} became {k}")
    } else if !loss.is_finite() {
        format!("the loss became {loss}")
    } else {
        return None;
    };
    Some(Error::NonFinite(format!(
        "training stopped near step {step}: {what}. The last good checkpoint in {} is kept. \
         Try a lower optimizer.lr, or for Gaussian decoders a higher model.min_log_var.",
        run.join("checkpoints").display()
    )))
}

/// One optimizer step on batch `x` with noise `eps`: forward, weigh the
/// terms with β and free bits, backward, update. Returns the updated model
/// and the (still on-device) loss pieces.
pub fn train_step<M: LatentModel>(
    model: M,
    optim: &mut ModuleOptimizer,
    x: Tensor<2>,
    eps: Tensor<2>,
    beta: f64,
    free_bits: f64,
    lr: f64,
) -> (M, objective::Loss) {
    let fwd = model.forward(x, eps);
    let l = objective::loss(&fwd.terms, beta, free_bits);
    let grads = GradientsParams::from_grads(l.loss.backward(), &model);
    (optim.step(lr, model, grads), l)
}

/// The training loop proper, for any model.
pub fn fit<M: LatentModel>(
    cfg: &ExperimentConfig,
    mut model: M,
    data: &PreparedData,
    run: &Path,
    device: &Device,
    progress_mode: Option<Progress>,
) -> Result<Summary> {
    let t0 = Instant::now();
    let ad = device.clone().autodiff();
    let train_set: &Dataset = &data.splits.train;
    let (bs, z, dim) = (cfg.train.batch_size, model.latent_dim(), train_set.dim());
    let spe = batches_per_epoch(train_set.n, bs);
    let mut total = spe * cfg.train.epochs;
    if cfg.train.max_steps > 0 {
        total = total.min(cfg.train.max_steps);
    }
    let schedule = Schedule::new(&cfg.schedule, total, spe);
    let mut optim = build_optimizer(cfg);
    let mut metrics = MetricsWriter::open(&run.join("metrics.jsonl"))?;
    let progress = progress_mode.unwrap_or_else(|| Progress::auto(total));
    let lr = cfg.optimizer.lr;
    let seed = cfg.seed;

    let mut step = 0usize;
    let mut epochs_done = 0usize;
    let mut images_seen = 0usize;
    let mut interval = Interval::new();
    let mut last_val: Option<ElboStats> = None;

    'epochs: for epoch in 0..cfg.train.epochs {
        let order = epoch_order(train_set.n, seed, epoch);
        for (b, idx) in order.chunks(bs).enumerate() {
            if step >= total {
                break 'epochs;
            }
            let binarize = data
                .dynamic_binarize
                .then_some((seed, epoch as u64, b as u64));
            let x = upload(gather(train_set, idx, binarize), idx.len(), dim, &ad);
            let eps = upload(
                host_normal(idx.len(), z, seed, Purpose::Noise, step as u64, 0),
                idx.len(),
                z,
                &ad,
            );
            let beta = schedule.beta_at_step(step);
            let l;
            (model, l) = train_step(model, &mut optim, x, eps, beta, cfg.objective.free_bits, lr);
            Interval::add(&mut interval.loss, l.loss);
            Interval::add(&mut interval.rec, l.rec_ll);
            Interval::add(&mut interval.kl, l.kl_per_dim);
            interval.steps += 1;
            interval.images += idx.len();
            images_seen += idx.len();
            step += 1;

            if step % cfg.train.log_every == 0 || step == total {
                let secs = interval.start.elapsed().as_secs_f64();
                let ips = interval.images as f64 / secs.max(1e-9);
                let (loss, rec, kl_dims) = interval.read();
                if let Some(e) = non_finite(step, loss, rec, &kl_dims, run) {
                    progress.finish();
                    return Err(e);
                }
                let kl: f64 = kl_dims.iter().sum();
                metrics.write(&TrainLine {
                    split: "train",
                    step,
                    epoch: step as f64 / spe as f64,
                    beta,
                    loss,
                    rec_ll: rec,
                    kl,
                    kl_per_dim: kl_dims,
                    lr,
                    images_per_s: ips,
                    time_s: t0.elapsed().as_secs_f64(),
                })?;
                progress.step(step, epoch + 1, loss, kl, beta, ips);
                interval = Interval::new();
            }
            if cfg.train.checkpoint_every > 0 && step % cfg.train.checkpoint_every == 0 {
                let state = TrainState {
                    step,
                    epochs_done,
                    time_s: t0.elapsed().as_secs_f64(),
                    vaekit_version: env!("CARGO_PKG_VERSION").into(),
                };
                checkpoint::save(run, &model, &optim, &state, cfg.train.keep_checkpoints)?;
            }
        }
        epochs_done = epoch + 1;
        let val = elbo(&model.valid(), &data.splits.val, 500, seed, device);
        let active = val.kl_per_dim.iter().filter(|&&k| k > 0.01).count();
        metrics.write(&ValLine {
            split: "val",
            step,
            epoch: step as f64 / spe as f64,
            beta: schedule.beta_at_step(step),
            elbo: val.elbo,
            rec_ll: val.rec_ll,
            kl: val.kl,
            kl_per_dim: val.kl_per_dim.clone(),
            time_s: t0.elapsed().as_secs_f64(),
        })?;
        progress.epoch(&format!(
            "epoch {:>3}/{}  step {:>6}  val ELBO {:>9.2}  rec {:>9.2}  KL {:>7.2}  dims with KL>0.01: {}/{}  {:.0}s",
            epochs_done,
            cfg.train.epochs,
            step,
            val.elbo,
            val.rec_ll,
            val.kl,
            active,
            z,
            t0.elapsed().as_secs_f64()
        ));
        last_val = Some(val);
        let state = TrainState {
            step,
            epochs_done,
            time_s: t0.elapsed().as_secs_f64(),
            vaekit_version: env!("CARGO_PKG_VERSION").into(),
        };
        checkpoint::save(run, &model, &optim, &state, cfg.train.keep_checkpoints)?;
    }
    progress.finish();
    let train_secs = t0.elapsed().as_secs_f64();

    let valid = model.valid();
    let val = match last_val {
        Some(v) => v,
        None => elbo(&valid, &data.splits.val, 500, seed, device),
    };
    let test = elbo(&valid, &data.splits.test, 500, seed ^ 0x7e57, device);
    let summary = Summary {
        name: cfg.name.clone(),
        data: data.splits.source.clone(),
        device: format!("{:?}", cfg.device).to_lowercase(),
        steps: step,
        epochs: epochs_done,
        wall_time_s: t0.elapsed().as_secs_f64(),
        train_images_per_s: images_seen as f64 / train_secs.max(1e-9),
        elbo: test.elbo,
        rec_ll: test.rec_ll,
        kl: test.kl,
        kl_per_dim: test.kl_per_dim.clone(),
        test,
        val,
    };
    write_atomic(
        &run.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap().as_bytes(),
    )?;
    Ok(summary)
}

/// A short, readable end-of-run report.
pub fn report(summary: &Summary, run: &Path) -> String {
    let mut dims: Vec<(usize, f64)> = summary.kl_per_dim.iter().copied().enumerate().collect();
    dims.sort_by(|a, b| b.1.total_cmp(&a.1));
    let active = dims.iter().filter(|d| d.1 > 0.01).count();
    let bars: Vec<String> = dims
        .iter()
        .map(|(j, k)| {
            let n = ((k / dims[0].1.max(1e-9)) * 30.0).round() as usize;
            format!("  z{j:<3} {k:>7.3} nats  {}", "█".repeat(n))
        })
        .collect();
    format!(
        "\nrun      {}\ndata     {}\ndevice   {}   steps {}   epochs {}   {:.0} s   {:.0} images/s\n\
         test     ELBO {:.2}   log p(x|z) {:.2}   KL {:.2} nats  (one sample per image)\n\
         latents  {} of {} carry more than 0.01 nats of KL:\n{}\n",
        run.display(),
        summary.data,
        summary.device,
        summary.steps,
        summary.epochs,
        summary.wall_time_s,
        summary.train_images_per_s,
        summary.elbo,
        summary.rec_ll,
        summary.kl,
        active,
        summary.kl_per_dim.len(),
        bars.join("\n")
    )
}
