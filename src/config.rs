//! The one nested experiment configuration: data, model, objective, β schedule,
//! optimizer, training loop and seed.
//!
//! Configs are TOML. Every field has a default, so an empty file (or none) is a
//! valid config; `--set section.key=value` overrides are applied on top of the
//! file before it is parsed, so they go through exactly the same checks.
//! Unknown keys are errors that name the full key path (`model.latnt_dim`), and
//! [`ExperimentConfig::validate`] reports *every* bad value at once.
//!
//! We use plain serde rather than burn's `Config` derive because we need TOML,
//! unknown-key detection and key paths in errors.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which compute device runs the job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn's `flex` CPU backend (multi-threaded with rayon, SIMD kernels).
    #[default]
    Cpu,
    /// burn's wgpu backend: Vulkan, Metal or DX12, whichever the machine has.
    Wgpu,
}

impl DeviceChoice {
    /// `cpu` or `wgpu`, as in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Wgpu => "wgpu",
        }
    }
}

/// The whole experiment. Written, resolved, into every run directory as
/// `config.toml`, so `vaekit train --config RUN/config.toml` re-runs it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Run name: the run directory is `runs/<name>-<timestamp>/`.
    pub name: String,
    /// Seed for weights, data order, binarization and reparameterisation noise.
    pub seed: u64,
    /// `cpu` or `wgpu`.
    pub device: DeviceChoice,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub objective: ObjectiveConfig,
    pub schedule: ScheduleConfig,
    pub optimizer: OptimizerConfig,
    pub train: TrainConfig,
    pub monitor: MonitorConfig,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "vae".into(),
            seed: 0,
            device: DeviceChoice::Cpu,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            objective: ObjectiveConfig::default(),
            schedule: ScheduleConfig::default(),
            optimizer: OptimizerConfig::default(),
            train: TrainConfig::default(),
            monitor: MonitorConfig::default(),
        }
    }
}

/// Where the images come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `synthetic`, `idx:DIR` (MNIST-style IDX files, gzip or raw),
    /// `amat:DIR` (statically binarized MNIST `.amat` files) or `cifar:DIR`
    /// (CIFAR-10's binary batches, 32×32×3).
    pub spec: String,
    /// Fraction of the training set held out for validation (carved with the
    /// run's seed). Ignored for `amat:` data, which ships its own split.
    pub val_fraction: f64,
    /// Use at most this many training images (0 = all); handy for quick runs.
    pub limit: usize,
    /// Number of synthetic training images (the test set is a tenth of it).
    pub synthetic_size: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            spec: "synthetic".into(),
            val_fraction: 0.1,
            limit: 0,
            synthetic_size: 20_000,
        }
    }
}

/// Hidden-layer nonlinearity.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    #[default]
    Gelu,
    LeakyRelu,
    Tanh,
    Relu,
}

/// Decoder likelihood p(x|z).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Bernoulli from logits; pixels are dynamically binarized.
    #[default]
    Bernoulli,
    /// Gaussian with a learned variance; pixels are intensities in [0, 1].
    Gaussian,
}

/// How a Gaussian decoder's variance is shared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VarianceSharing {
    /// One learned variance for all pixels.
    #[default]
    Shared,
    /// One learned variance per pixel.
    PerPixel,
}

/// The values `model.kind` takes.
pub const MODEL_KINDS: [&str; 4] = ["vae", "gmm", "vamp", "vq_vae"];

/// Model architecture.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `vae` (standard normal prior), `gmm` (learned Gaussian-mixture prior)
    /// or `vamp` (VampPrior), all with a Gaussian posterior; or `vq_vae`
    /// (van den Oord et al. 2017: a convolutional encoder and decoder around a
    /// codebook of `codes` vectors of size `code_dim`).
    pub kind: String,
    /// Mixture components K (`gmm`) or pseudo-inputs (`vamp`).
    pub components: usize,
    /// Number of latent dimensions.
    pub latent_dim: usize,
    /// `mlp` or `conv` (two stride-2 convolutions each way; square images
    /// whose side is a multiple of 4, such as 28×28).
    pub arch: String,
    /// Hidden layer widths of the MLP encoder; the decoder mirrors them.
    /// With `arch = "conv"`, extra layers between the convolutions and the latents.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub likelihood: Likelihood,
    /// Gaussian decoders only: `shared` or `per-pixel` variance.
    pub variance: VarianceSharing,
    /// Gaussian decoders only: lower bound on log σ² (keeps the density
    /// finite on pixels that never vary, such as MNIST's borders).
    pub min_log_var: f64,
    /// `vq_vae`: codebook size K.
    pub codes: usize,
    /// `vq_vae`: size D of each code vector (channels of the quantised map).
    pub code_dim: usize,
    /// `vq_vae`: commitment cost β in β‖z_e − sg(e)‖².
    pub commitment: f64,
    /// `vq_vae`: how the codebook learns: `ema` (exponential moving averages
    /// of the assigned encoder outputs) or `loss` (the codebook loss ‖sg(z_e) − e‖²).
    pub codebook_update: CodebookUpdate,
    /// `vq_vae`, `codebook_update = "ema"`: decay γ of the moving averages.
    pub ema_decay: f64,
    /// `vq_vae`: move dead codes onto encoder outputs of the current batch.
    pub dead_code_restart: bool,
    /// `vq_vae`: a code is dead when its moving-average count of assignments
    /// per batch falls below this.
    pub restart_threshold: f64,
}

/// How a VQ-VAE's codebook is learned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CodebookUpdate {
    /// Exponential moving averages (van den Oord et al. 2017, appendix A.1).
    #[default]
    Ema,
    /// Gradient descent on the codebook loss ‖sg(z_e) − e‖².
    Loss,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: "vae".into(),
            components: 10,
            latent_dim: 10,
            arch: "mlp".into(),
            hidden: vec![400],
            activation: Activation::Gelu,
            likelihood: Likelihood::Bernoulli,
            variance: VarianceSharing::Shared,
            min_log_var: -6.0,
            codes: 128,
            code_dim: 16,
            commitment: 0.25,
            codebook_update: CodebookUpdate::Ema,
            ema_decay: 0.99,
            dead_code_restart: false,
            restart_threshold: 1.0,
        }
    }
}

/// Which bound the trainer maximises.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// The β-weighted ELBO, with free bits.
    #[default]
    Elbo,
    /// The importance-weighted bound L_k (Burda et al. 2015); β and free bits do not apply.
    Iwae,
    /// Capacity annealing (Burgess et al. 2018): −log p(x|z) + γ·|KL − C(t)|,
    /// C rising linearly from 0 to `capacity_max` over `capacity_steps`.
    Capacity,
}

/// Training objective.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveConfig {
    /// `elbo`, `iwae` or `capacity`.
    pub kind: ObjectiveKind,
    /// Number of importance samples for `kind = "iwae"`.
    pub k: usize,
    /// Free bits λ in nats per latent dimension (0 = off). See `docs/objective.md`.
    pub free_bits: f64,
    /// `capacity`: γ, the weight of |KL − C(t)|.
    pub gamma: f64,
    /// `capacity`: C_max in nats.
    pub capacity_max: f64,
    /// `capacity`: optimizer steps over which C rises from 0 to C_max.
    pub capacity_steps: usize,
}

impl ObjectiveConfig {
    /// C(t) = C_max · min(1, step / capacity_steps).
    pub fn capacity_at(&self, step: usize) -> f64 {
        self.capacity_max * (step as f64 / self.capacity_steps.max(1) as f64).min(1.0)
    }
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            kind: ObjectiveKind::Elbo,
            k: 5,
            free_bits: 0.0,
            gamma: 1000.0,
            capacity_max: 25.0,
            capacity_steps: 100_000,
        }
    }
}

/// Shape of β(t).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    #[default]
    Constant,
    Linear,
    Sigmoid,
    Cyclical,
}

/// Whether schedule lengths count optimizer steps or epochs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleUnit {
    #[default]
    Steps,
    Epochs,
}

/// Ramp shape inside each cycle of a cyclical schedule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Ramp {
    #[default]
    Linear,
    Cosine,
    Sigmoid,
}

/// β(t) schedule. One flat table so `--set schedule.kind=cyclical` works on
/// its own; fields a kind does not use are ignored. Formulas: `docs/objective.md`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    pub kind: ScheduleKind,
    /// `steps` or `epochs`: the unit of `warmup`, `midpoint`, `rate` and `period`.
    pub unit: ScheduleUnit,
    /// β for `constant`; the final value β₁ for the other kinds.
    pub beta: f64,
    /// Starting value β₀ (linear, sigmoid, cyclical).
    pub beta_start: f64,
    /// Linear: length of the ramp from β₀ to β₁.
    pub warmup: f64,
    /// Sigmoid (Bowman et al. 2016): β = β₀ + (β₁-β₀)/(1+exp(-rate·(t-midpoint))).
    pub rate: f64,
    pub midpoint: f64,
    /// Cyclical (Fu et al. 2019): number of cycles M over `period`.
    pub cycles: usize,
    /// Cyclical: proportion R of each cycle spent ramping, in (0, 1].
    pub ratio: f64,
    pub ramp: Ramp,
    /// Cyclical: total length T split into M cycles (0 = the whole run).
    pub period: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Constant,
            unit: ScheduleUnit::Steps,
            beta: 1.0,
            beta_start: 0.0,
            warmup: 2000.0,
            rate: 0.0025,
            midpoint: 2500.0,
            cycles: 4,
            ratio: 0.5,
            ramp: Ramp::Linear,
            period: 0.0,
        }
    }
}

/// Optimizer family.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Adam,
    Adamw,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    /// L2 penalty for `adam`, decoupled decay for `adamw`.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// What the trainer does when a step's loss is NaN or infinite.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NonFinitePolicy {
    /// Stop with a message naming the term; the last good checkpoint is kept.
    #[default]
    Stop,
    /// Skip the batch (no update) and multiply the learning rate by `nonfinite_lr_factor`.
    Skip,
}

/// The training loop.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many optimizer steps (0 = no limit; `epochs` still applies).
    pub max_steps: usize,
    /// Append a line to `metrics.jsonl` every this many steps.
    pub log_every: usize,
    /// Also checkpoint every this many steps (0 = only at the end of each epoch).
    pub checkpoint_every: usize,
    /// Keep this many most recent checkpoints.
    pub keep_checkpoints: usize,
    /// Also report the validation IWAE bound with this many samples each epoch (0 = off).
    pub val_iwae_k: usize,
    /// `stop` or `skip` on a non-finite loss (checked before every update).
    pub on_nonfinite: NonFinitePolicy,
    /// `skip`: the learning rate is multiplied by this after each skipped batch.
    pub nonfinite_lr_factor: f64,
    /// `skip`: give up after this many skipped batches in a row.
    pub max_skips: usize,
    /// Testing only: make the loss NaN at this step (0 = never), to exercise the guard.
    pub debug_nan_at_step: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 128,
            epochs: 40,
            max_steps: 0,
            log_every: 50,
            checkpoint_every: 0,
            keep_checkpoints: 2,
            val_iwae_k: 0,
            on_nonfinite: NonFinitePolicy::Stop,
            nonfinite_lr_factor: 0.5,
            max_skips: 10,
            debug_nan_at_step: 0,
        }
    }
}

/// The collapse monitor (see `docs/metrics.md`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Also evaluate on the validation set every this many steps (0 = only at epoch ends).
    pub every: usize,
    /// δ: a dimension is active when its activity A_u exceeds this.
    pub au_threshold: f64,
    /// Held-out examples used for the O(N²) mutual-information estimate.
    pub max_examples: usize,
    /// Warn after this many evaluations in a row with collapsed posteriors.
    pub alarm_patience: usize,
    /// Total KL (nats) below which the posterior counts as collapsed.
    pub alarm_kl: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            every: 0,
            au_threshold: 0.01,
            max_examples: 2000,
            alarm_patience: 3,
            alarm_kl: 0.1,
        }
    }
}

impl ExperimentConfig {
    /// Build a config from an optional TOML file plus `key=value` overrides,
    /// then validate it. Errors name the file and the key.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    Error::bad_file(path, format!("not valid TOML: {}", e.message()))
                })?
            }
            None => toml::Table::new(),
        };
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        Self::from_table(table, file)
    }

    fn from_table(table: toml::Table, file: Option<&Path>) -> Result<Self> {
        // Every unknown key and every value of the wrong type, then every
        // invalid value of the keys that remain: all reported at once.
        let known = toml::Value::try_from(Self::default()).expect("defaults serialize");
        let mut bad = Vec::new();
        schema_check(&table, known.as_table().expect("a table"), "", &mut bad);
        let mut pruned = table;
        for (path, _) in &bad {
            remove_path(&mut pruned, path);
        }
        let mut problems: Vec<String> = bad.into_iter().map(|(_, msg)| msg).collect();
        // Parse; a value the parser rejects (a misspelt choice) is reported
        // and removed, and parsing goes on, so every problem shows at once.
        for _ in 0..64 {
            let parsed: std::result::Result<Self, _> =
                serde_path_to_error::deserialize(toml::Value::Table(pruned.clone()));
            match parsed {
                Ok(cfg) => {
                    if let Err(Error::Config(more)) = cfg.validate() {
                        problems.extend(more);
                    }
                    if problems.is_empty() {
                        return Ok(cfg);
                    }
                    break;
                }
                Err(e) => {
                    let path = e.path().to_string();
                    problems.push(format!("{path}: {}", e.inner()));
                    let key = path.split('[').next().unwrap_or(&path).to_string();
                    if !remove_path(&mut pruned, &key) {
                        break;
                    }
                }
            }
        }
        if let Some(f) = file {
            problems.push(format!("(in {} or a --set override)", f.display()));
        }
        Err(Error::Config(problems))
    }

    /// Serialize as the TOML written into run directories.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes to TOML")
    }

    /// Check every value; report all problems at once, each naming its key.
    pub fn validate(&self) -> Result<()> {
        let mut errs = Vec::new();
        let mut check = |ok: bool, msg: String| {
            if !ok {
                errs.push(msg);
            }
        };
        let d = &self.data;
        check(
            d.spec == "synthetic"
                || d.spec.starts_with("idx:")
                || d.spec.starts_with("amat:")
                || d.spec.starts_with("cifar:"),
            format!(
                "data.spec = {:?}: expected `synthetic`, `idx:DIR`, `amat:DIR` or `cifar:DIR`",
                d.spec
            ),
        );
        check(
            (0.0..1.0).contains(&d.val_fraction),
            format!("data.val_fraction = {}: must be in [0, 1)", d.val_fraction),
        );
        check(
            d.synthetic_size >= 10,
            format!(
                "data.synthetic_size = {}: must be at least 10",
                d.synthetic_size
            ),
        );
        let m = &self.model;
        check(
            MODEL_KINDS.contains(&m.kind.as_str()),
            format!(
                "model.kind = {:?}: the available models are: {}",
                m.kind,
                MODEL_KINDS.join(", ")
            ),
        );
        if m.kind == "vq_vae" {
            check(
                m.codes >= 2 && m.code_dim > 0,
                format!(
                    "model.codes = {}, model.code_dim = {}: a codebook needs at least 2 codes of size ≥ 1",
                    m.codes, m.code_dim
                ),
            );
            check(
                m.commitment >= 0.0 && m.commitment.is_finite(),
                format!("model.commitment = {}: must be ≥ 0", m.commitment),
            );
            check(
                m.ema_decay > 0.0 && m.ema_decay < 1.0,
                format!("model.ema_decay = {}: must be in (0, 1)", m.ema_decay),
            );
            check(
                m.restart_threshold >= 0.0 && m.restart_threshold.is_finite(),
                format!(
                    "model.restart_threshold = {}: must be ≥ 0 assignments per batch",
                    m.restart_threshold
                ),
            );
            check(
                self.objective.kind == ObjectiveKind::Elbo,
                format!(
                    "objective.kind = \"{}\" with model.kind = \"vq_vae\": a VQ-VAE's posterior is \
                     one-hot, so only `elbo` applies (its KL is the constant P·log K)",
                    format!("{:?}", self.objective.kind).to_lowercase()
                ),
            );
        }
        check(
            m.arch == "mlp" || m.arch == "conv",
            format!("model.arch = {:?}: expected mlp or conv", m.arch),
        );
        check(
            m.components > 0,
            "model.components = 0: a mixture prior needs at least one component".into(),
        );
        check(
            m.latent_dim > 0,
            "model.latent_dim = 0: a VAE needs at least one latent dimension".into(),
        );
        check(
            m.hidden.iter().all(|&h| h > 0),
            format!(
                "model.hidden = {:?}: layer widths must be positive",
                m.hidden
            ),
        );
        check(
            m.min_log_var.is_finite(),
            format!("model.min_log_var = {}: must be finite", m.min_log_var),
        );
        check(
            self.objective.free_bits >= 0.0 && self.objective.free_bits.is_finite(),
            format!(
                "objective.free_bits = {}: must be a non-negative number of nats",
                self.objective.free_bits
            ),
        );
        check(
            self.objective.gamma >= 0.0 && self.objective.capacity_max >= 0.0,
            format!(
                "objective.gamma = {}, objective.capacity_max = {}: must be ≥ 0",
                self.objective.gamma, self.objective.capacity_max
            ),
        );
        check(
            self.objective.k > 0,
            "objective.k = 0: the IWAE bound needs at least one sample".into(),
        );
        let s = &self.schedule;
        for (key, v) in [
            ("schedule.beta", s.beta),
            ("schedule.beta_start", s.beta_start),
        ] {
            check(
                v >= 0.0 && v.is_finite(),
                format!("{key} = {v}: β must be a non-negative number"),
            );
        }
        if s.kind == ScheduleKind::Linear {
            check(
                s.warmup > 0.0,
                format!("schedule.warmup = {}: must be positive", s.warmup),
            );
        }
        if s.kind == ScheduleKind::Sigmoid {
            check(
                s.rate > 0.0,
                format!("schedule.rate = {}: must be positive", s.rate),
            );
        }
        if s.kind == ScheduleKind::Cyclical {
            check(
                s.ratio > 0.0 && s.ratio <= 1.0,
                format!("schedule.ratio = {}: R must be in (0, 1]", s.ratio),
            );
            check(
                s.cycles > 0,
                "schedule.cycles = 0: need at least one cycle".into(),
            );
            check(
                s.period >= 0.0,
                format!(
                    "schedule.period = {}: must be ≥ 0 (0 = the whole run)",
                    s.period
                ),
            );
        }
        let o = &self.optimizer;
        check(
            o.lr > 0.0 && o.lr.is_finite(),
            format!("optimizer.lr = {}: must be positive", o.lr),
        );
        check(
            o.weight_decay >= 0.0,
            format!("optimizer.weight_decay = {}: must be ≥ 0", o.weight_decay),
        );
        for (key, v) in [("optimizer.beta1", o.beta1), ("optimizer.beta2", o.beta2)] {
            check(
                (0.0..1.0).contains(&v),
                format!("{key} = {v}: must be in [0, 1)"),
            );
        }
        check(
            o.eps > 0.0,
            format!("optimizer.eps = {}: must be positive", o.eps),
        );
        let t = &self.train;
        check(
            t.batch_size > 0,
            "train.batch_size = 0: must be positive".into(),
        );
        check(t.epochs > 0, "train.epochs = 0: must be positive".into());
        check(
            t.log_every > 0,
            "train.log_every = 0: must be positive".into(),
        );
        check(
            t.keep_checkpoints > 0,
            "train.keep_checkpoints = 0: keep at least one".into(),
        );
        check(
            t.nonfinite_lr_factor > 0.0 && t.nonfinite_lr_factor <= 1.0,
            format!(
                "train.nonfinite_lr_factor = {}: must be in (0, 1]",
                t.nonfinite_lr_factor
            ),
        );
        let mo = &self.monitor;
        check(
            mo.au_threshold >= 0.0,
            format!("monitor.au_threshold = {}: must be ≥ 0", mo.au_threshold),
        );
        check(
            mo.max_examples >= 2,
            format!(
                "monitor.max_examples = {}: need at least 2",
                mo.max_examples
            ),
        );
        check(
            mo.alarm_patience > 0,
            "monitor.alarm_patience = 0: must be positive".into(),
        );
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(errs))
        }
    }
}

/// Compare a user table with the defaults' table: keys the defaults lack are
/// unknown; a value whose TOML type differs from the default's is wrong
/// (an integer where a float is expected is fine).
fn schema_check(
    user: &toml::Table,
    known: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) {
    use toml::Value as V;
    for (key, value) in user {
        let path = format!("{prefix}{key}");
        let Some(default) = known.get(key) else {
            let mut valid: Vec<&str> = known.keys().map(String::as_str).collect();
            valid.sort_unstable();
            let msg = format!("{path}: unknown key; valid keys here: {}", valid.join(", "));
            out.push((path, msg));
            continue;
        };
        match (value, default) {
            (V::Table(u), V::Table(k)) => schema_check(u, k, &format!("{path}."), out),
            (V::Integer(_), V::Float(_)) => {}
            (V::Array(u), V::Array(k)) => {
                if let Some(first) = k.first() {
                    for item in u {
                        if item.type_str() != first.type_str() {
                            let msg = format!(
                                "{path}: expected an array of {}s, found a {} ({item})",
                                first.type_str(),
                                item.type_str()
                            );
                            out.push((path.clone(), msg));
                            break;
                        }
                    }
                }
            }
            (u, k) if u.type_str() != k.type_str() => {
                let msg = format!(
                    "{path}: expected a {}, found a {} ({u})",
                    k.type_str(),
                    u.type_str()
                );
                out.push((path, msg));
            }
            _ => {}
        }
    }
}

/// Remove the key at a dotted path from a table; whether it was there.
fn remove_path(table: &mut toml::Table, path: &str) -> bool {
    match path.split_once('.') {
        None => table.remove(path).is_some(),
        Some((head, rest)) => match table.get_mut(head) {
            Some(toml::Value::Table(t)) => remove_path(t, rest),
            _ => false,
        },
    }
}

/// Apply one `a.b.c=value` override to a TOML table. The value is parsed as a
/// TOML value (`3`, `1e-3`, `true`, `[400, 200]`, `"x"`); anything that does
/// not parse is taken as a bare string (`data.spec=idx:/data/mnist`).
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item.split_once('=').ok_or_else(|| {
        Error::Config(vec![format!(
            "--set {item:?}: expected KEY=VALUE, for example --set model.latent_dim=32"
        )])
    })?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(vec![format!(
            "--set {item:?}: {key:?} is not a key path like model.latent_dim"
        )]));
    }
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry.as_table_mut().ok_or_else(|| {
            Error::Config(vec![format!(
                "--set {item:?}: {part} is a value, not a section"
            )])
        })?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overrides: &[&str]) -> Result<ExperimentConfig> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        ExperimentConfig::load(None, &o)
    }

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = load(&[]).unwrap();
        assert_eq!(c, ExperimentConfig::default());
        let text = c.to_toml();
        let back: ExperimentConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn overrides_set_nested_values_of_every_type() {
        let c = load(&[
            "model.latent_dim=32",
            "model.hidden=[512, 256]",
            "optimizer.lr=3e-4",
            "data.spec=idx:/tmp/mnist",
            "schedule.kind=cyclical",
            "model.activation=tanh",
        ])
        .unwrap();
        assert_eq!(c.model.latent_dim, 32);
        assert_eq!(c.model.hidden, vec![512, 256]);
        assert_eq!(c.optimizer.lr, 3e-4);
        assert_eq!(c.data.spec, "idx:/tmp/mnist");
        assert_eq!(c.schedule.kind, ScheduleKind::Cyclical);
        assert_eq!(c.model.activation, Activation::Tanh);
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = load(&["model.latnt_dim=3"]).unwrap_err().to_string();
        assert!(err.contains("model.latnt_dim"), "{err}");
        assert!(err.contains("latent_dim"), "suggests the valid keys: {err}");
    }

    #[test]
    fn all_unknown_keys_and_wrong_types_are_reported_at_once() {
        let err = load(&[
            "model.latnt_dim=3",
            "optimzer.lr=1",
            "train.batch_size=big",
            "model.hidden=[\"a\"]",
        ])
        .unwrap_err()
        .to_string();
        for key in [
            "model.latnt_dim",
            "optimzer",
            "train.batch_size",
            "model.hidden",
        ] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
    }

    #[test]
    fn wrong_type_is_named_with_its_path() {
        let err = load(&["train.batch_size=big"]).unwrap_err().to_string();
        assert!(err.contains("train.batch_size"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = load(&[
            "schedule.beta=-1",
            "model.latent_dim=0",
            "schedule.kind=cyclical",
            "schedule.ratio=1.5",
        ])
        .unwrap_err()
        .to_string();
        for key in ["schedule.beta", "model.latent_dim", "schedule.ratio"] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
    }

    #[test]
    fn malformed_override_is_an_error() {
        assert!(load(&["model.latent_dim"]).is_err());
        assert!(load(&["model..x=1"]).is_err());
        assert!(load(&["seed.x=1"]).is_err());
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "seed = 7\n[model]\nlatent_dim = 4\n").unwrap();
        let c = ExperimentConfig::load(Some(&p), &["model.latent_dim=5".into()]).unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.model.latent_dim, 5);
        std::fs::write(&p, "seed = \n").unwrap();
        let err = ExperimentConfig::load(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml"), "{err}");
    }
}
