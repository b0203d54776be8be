//! The trainer's sections: `[objective]`, `[schedule]`, `[optimizer]`, `[train]`.

use serde::{Deserialize, Serialize};

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
    /// Posterior samples per example for `kind = "elbo"`: the ELBO averaged
    /// over this many draws (Burda et al. 2016's "VAE" rows with k > 1 are
    /// `samples = k`); 1 = the usual one-sample estimate.
    pub samples: usize,
    /// Free bits λ in nats (0 = off). See `docs/objective.md`.
    pub free_bits: f64,
    /// Where the free-bits hinge applies: `batch-dim` (Kingma et al. 2016:
    /// each dimension's batch-mean KL), `example` (Li et al. 2019: each
    /// example's total KL) or `example-dim` (each example's KL per dimension).
    pub free_bits_form: crate::core::objective::FreeBits,
    /// `capacity`: γ, the weight of |KL − C(t)|.
    pub gamma: f64,
    /// `capacity`: C_max in nats.
    pub capacity_max: f64,
    /// `capacity`: optimizer steps over which C rises from 0 to C_max.
    pub capacity_steps: usize,
}

impl ObjectiveKind {
    /// The kind as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectiveKind::Elbo => "elbo",
            ObjectiveKind::Iwae => "iwae",
            ObjectiveKind::Capacity => "capacity",
        }
    }
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
            samples: 1,
            free_bits: 0.0,
            free_bits_form: crate::core::objective::FreeBits::BatchDim,
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
    /// Plain SGD (`optimizer.momentum`, PyTorch's convention: no
    /// dampening), as He et al. (2019) and Li et al. (2019) train text VAEs
    /// (learning rate 1.0, clipped at 5).
    Sgd,
}

/// How the learning rate changes over the epochs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `optimizer.lr` throughout.
    #[default]
    Constant,
    /// Burda et al. (2016, §5.1): stage i = 0, 1, … lasts 3^i epochs at
    /// `optimizer.lr`·10^(−i/7); their 8 stages are 3,280 epochs, and a run
    /// longer than that stays at the last stage's rate. A shorter run is the
    /// same schedule cut short.
    Burda2016,
    /// He et al. (2019)'s decay on a validation plateau, at each epoch end:
    /// the best model so far (lowest validation −ELBO) is kept; when the
    /// −ELBO has not improved on its reference for `plateau_patience`
    /// epochs and at least `plateau_after` epochs are done, the rate is
    /// multiplied by `plateau_factor`, the best model is reloaded and the
    /// optimizer starts afresh; after `plateau_max_decays` decays training
    /// stops. The run ends with the best model. See [`super::plateau`].
    Plateau,
}

impl LrSchedule {
    /// The factor on the base rate during epoch `epoch` (from 0).
    pub fn factor(self, epoch: usize) -> f64 {
        match self {
            // The plateau schedule changes the rate in force (`TrainState::lr`).
            LrSchedule::Constant | LrSchedule::Plateau => 1.0,
            LrSchedule::Burda2016 => {
                let stage = burda_stage(epoch).min(BURDA_STAGES - 1);
                10f64.powf(-(stage as f64) / 7.0)
            }
        }
    }
}

/// Burda et al.'s schedule has stages i = 0..=7.
pub const BURDA_STAGES: usize = 8;

/// The stage of Burda et al.'s schedule that epoch `epoch` (from 0) falls
/// in: the smallest i with epoch < Σ_{j ≤ i} 3^j (past the last stage, the
/// count goes on).
pub fn burda_stage(epoch: usize) -> usize {
    let (mut end, mut len, mut i) = (1usize, 1usize, 0usize);
    while epoch >= end {
        len *= 3;
        end += len;
        i += 1;
    }
    i
}

/// Epochs in the first `stages` stages of Burda et al.'s schedule: Σ_{i<stages} 3^i.
pub fn burda_epochs(stages: usize) -> usize {
    (0..stages).map(|i| 3usize.pow(i as u32)).sum()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    /// `constant` or `burda2016` (see [`LrSchedule`]).
    pub lr_schedule: LrSchedule,
    /// L2 penalty for `adam`, decoupled decay for `adamw`.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Clip the gradient to this global L2 norm (over every parameter at
    /// once, as TensorFlow's `clip_by_global_norm` and PyTorch's
    /// `clip_grad_norm_`); 0 = no clipping. texar, Fu et al. and Li et al.
    /// clip their text VAEs at 5.
    pub clip_norm: f64,
    /// `sgd`: momentum (0 = plain SGD; no dampening, as PyTorch's default).
    pub momentum: f64,
    /// `plateau`: epochs without improvement before a decay (He et al.: 2).
    pub plateau_patience: usize,
    /// `plateau`: the factor on the rate at each decay (He et al.: 0.5).
    pub plateau_factor: f64,
    /// `plateau`: no decay before this many epochs are done (He et al.: 15).
    pub plateau_after: usize,
    /// `plateau`: training stops at this many decays (He et al.: 5; 0 = never).
    pub plateau_max_decays: usize,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            lr_schedule: LrSchedule::Constant,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            clip_norm: 0.0,
            momentum: 0.0,
            plateau_patience: 2,
            plateau_factor: 0.5,
            plateau_after: 15,
            plateau_max_decays: 5,
        }
    }
}

impl OptimizerConfig {
    /// The learning rate of epoch `epoch` (from 0) for a base rate `base`
    /// (`optimizer.lr`, or what the non-finite guard lowered it to).
    pub fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        base * self.lr_schedule.factor(epoch)
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

/// What the joint step of aggressive training updates while the inner
/// loop runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AggressiveJoint {
    /// The decoder only (He et al. 2019).
    #[default]
    Decoder,
    /// Every parameter.
    All,
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
    /// Aggressive encoder training (He et al. 2019): encoder-only updates
    /// on fresh batches before each joint step, until validation I(x;z)
    /// stops rising at an epoch end. Models with a separate encoder.
    pub aggressive: bool,
    /// Aggressive training: at most this many encoder-only updates per step.
    pub aggressive_max_inner: usize,
    /// Aggressive training: the inner loop stops when the mean loss over
    /// this many updates is no lower than over the previous as many.
    pub aggressive_patience: usize,
    /// Aggressive training: what the joint step updates while aggressive
    /// mode is on — `decoder` (He et al.'s Algorithm 1 and code: the
    /// encoder learns only in the inner loop) or `all` (encoder and
    /// decoder, as vaekit's aggressive training did before this key).
    pub aggressive_joint: AggressiveJoint,
    /// Pre-training (Li et al. 2019): train this many steps with β = 0 (an
    /// autoencoder), then re-initialise the decoder and the optimizer and
    /// run the β schedule from its start (0 = off). Models whose decoder
    /// can be reset.
    pub pretrain_steps: usize,
    /// What the trainer does when the collapse alarm's rule holds
    /// (`train/revive.rs`): `warn` (only the warning), `stop`, `free_bits`,
    /// `anneal`, `aggressive`, `reset_decoder`, or a list of them tried in
    /// turn.
    pub on_collapse: super::revive::OnCollapse,
    /// A list: held-out evaluations to wait after an intervention before
    /// the next action, if the code is still collapsed.
    pub on_collapse_patience: usize,
    /// `free_bits`: λ in nats, turned on at the intervention.
    pub on_collapse_free_bits: f64,
    /// `free_bits`: where the hinge applies (`batch-dim`, `example`, `example-dim`).
    pub on_collapse_free_bits_form: crate::core::objective::FreeBits,
    /// `anneal`: epochs over which β climbs back from 0 to the schedule's value.
    pub on_collapse_anneal_epochs: usize,
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
            aggressive: false,
            aggressive_max_inner: 100,
            aggressive_patience: 15,
            aggressive_joint: AggressiveJoint::Decoder,
            pretrain_steps: 0,
            on_collapse: Default::default(),
            on_collapse_patience: 3,
            on_collapse_free_bits: 0.5,
            on_collapse_free_bits_form: crate::core::objective::FreeBits::BatchDim,
            on_collapse_anneal_epochs: 10,
        }
    }
}

/// The sections the trainer reads, borrowed from the experiment config.
#[derive(Clone, Copy, Debug)]
pub struct TrainerConfig<'a> {
    pub objective: &'a ObjectiveConfig,
    pub schedule: &'a ScheduleConfig,
    pub optimizer: &'a OptimizerConfig,
    pub train: &'a TrainConfig,
}

impl TrainerConfig<'_> {
    /// Every invalid value of the four sections, each naming its key.
    pub fn problems(&self, errs: &mut Vec<String>) {
        let mut check = |ok: bool, msg: String| {
            if !ok {
                errs.push(msg);
            }
        };
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
        check(
            self.objective.samples > 0,
            "objective.samples = 0: the ELBO needs at least one posterior sample".into(),
        );
        let s = self.schedule;
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
        let o = self.optimizer;
        check(
            o.lr > 0.0 && o.lr.is_finite(),
            format!("optimizer.lr = {}: must be positive", o.lr),
        );
        check(
            o.weight_decay >= 0.0,
            format!("optimizer.weight_decay = {}: must be ≥ 0", o.weight_decay),
        );
        check(
            o.clip_norm >= 0.0 && o.clip_norm.is_finite(),
            format!(
                "optimizer.clip_norm = {}: must be ≥ 0 (0 = no clipping; text VAEs usually clip at 5)",
                o.clip_norm
            ),
        );
        check(
            (0.0..1.0).contains(&o.momentum),
            format!("optimizer.momentum = {}: must be in [0, 1)", o.momentum),
        );
        if o.lr_schedule == LrSchedule::Plateau {
            check(
                o.plateau_factor > 0.0 && o.plateau_factor < 1.0,
                format!(
                    "optimizer.plateau_factor = {}: must be in (0, 1) (He et al.: 0.5)",
                    o.plateau_factor
                ),
            );
            check(
                o.plateau_patience > 0,
                "optimizer.plateau_patience = 0: must be positive (He et al.: 2)".into(),
            );
        }
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
        let t = self.train;
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
        if let Some(p) = t.on_collapse.problem() {
            check(false, p);
        }
        if !t.on_collapse.warns_only() {
            check(
                t.on_collapse_patience > 0,
                "train.on_collapse_patience = 0: wait at least one evaluation between remedies"
                    .into(),
            );
        }
        if t.on_collapse
            .contains(super::revive::CollapseAction::FreeBits)
        {
            check(
                t.on_collapse_free_bits > 0.0 && t.on_collapse_free_bits.is_finite(),
                format!(
                    "train.on_collapse_free_bits = {}: a positive number of nats (e.g. 0.5)",
                    t.on_collapse_free_bits
                ),
            );
        }
        if t.on_collapse
            .contains(super::revive::CollapseAction::Anneal)
        {
            check(
                t.on_collapse_anneal_epochs > 0,
                "train.on_collapse_anneal_epochs = 0: β needs at least one epoch to climb back"
                    .into(),
            );
        }
        let needs_elbo = [
            super::revive::CollapseAction::FreeBits,
            super::revive::CollapseAction::Anneal,
        ]
        .into_iter()
        .find(|a| t.on_collapse.contains(*a));
        if let Some(a) = needs_elbo {
            check(
                self.objective.kind == ObjectiveKind::Elbo,
                format!(
                    "train.on_collapse = \"{}\" with objective.kind = \"{}\": free bits and β act \
                     on the ELBO objective only; use objective.kind = \"elbo\"",
                    a.as_str(),
                    self.objective.kind.as_str()
                ),
            );
        }
        if t.aggressive
            || t.on_collapse
                .contains(super::revive::CollapseAction::Aggressive)
        {
            check(
                t.aggressive_max_inner > 0 && t.aggressive_patience > 0,
                format!(
                    "train.aggressive_max_inner = {}, train.aggressive_patience = {}: must be \
                     positive",
                    t.aggressive_max_inner, t.aggressive_patience
                ),
            );
        }
        check(
            t.nonfinite_lr_factor > 0.0 && t.nonfinite_lr_factor <= 1.0,
            format!(
                "train.nonfinite_lr_factor = {}: must be in (0, 1]",
                t.nonfinite_lr_factor
            ),
        );
    }
}

#[cfg(test)]
mod lr_tests {
    use super::*;

    /// The schedule as the paper states it, counted out epoch by epoch.
    #[test]
    fn burda_schedule_is_3_to_the_i_epochs_at_lr_times_10_to_minus_i_over_7() {
        let mut want = Vec::new();
        for i in 0..BURDA_STAGES {
            for _ in 0..3usize.pow(i as u32) {
                want.push(10f64.powf(-(i as f64) / 7.0));
            }
        }
        assert_eq!(want.len(), 3280);
        assert_eq!(burda_epochs(BURDA_STAGES), 3280);
        for (e, w) in want.iter().enumerate() {
            assert!(
                (LrSchedule::Burda2016.factor(e) - w).abs() < 1e-15,
                "epoch {e}"
            );
        }
        // Past the schedule: the last stage's rate.
        assert_eq!(
            LrSchedule::Burda2016.factor(5000),
            LrSchedule::Burda2016.factor(3279)
        );
        assert_eq!(LrSchedule::Constant.factor(17), 1.0);
        let o = OptimizerConfig {
            lr_schedule: LrSchedule::Burda2016,
            ..OptimizerConfig::default()
        };
        assert!((o.lr_at(1e-3, 4) - 1e-3 * 10f64.powf(-2.0 / 7.0)).abs() < 1e-18);
    }
}
