//! A trainer that acts on its own collapse alarm (`train.on_collapse`).
//!
//! The alarm's rule — total KL below `monitor.alarm_kl`, or no active
//! unit, for `monitor.alarm_patience` held-out evaluations in a row — is
//! read here too; when it holds, the next action of the configured list is
//! taken at that step:
//!
//! - `warn` (the default): the alarm's warning only, as before;
//! - `stop`: a checkpoint, and the run ends with the reason;
//! - `free_bits`: from now on the objective's free bits are
//!   `train.on_collapse_free_bits` nats in the form
//!   `train.on_collapse_free_bits_form` (Kingma et al. 2016; Li et al. 2019);
//! - `anneal`: β restarts from 0 and climbs linearly back to the schedule's
//!   value over `train.on_collapse_anneal_epochs` (Bowman et al. 2016's
//!   warm-up, begun again);
//! - `aggressive`: an aggressive-encoder phase starts (He et al. 2019),
//!   with the `train.aggressive_*` settings, until I(x;z) stops rising;
//! - `reset_decoder`: the decoder is re-initialised and the optimizer
//!   rebuilt, the encoder kept (Li et al. 2019's reset, here after the
//!   collapse rather than after pre-training).
//!
//! With a list, each action is tried in turn: the next one when the code
//! is still collapsed `train.on_collapse_patience` evaluations after the
//! last. What has been done is [`ReviveState`], in every checkpoint, so a
//! resumed run makes the same interventions at the same steps.

use crate::core::objective::FreeBits;
use crate::metrics::Record;
use crate::metrics::collapse::{ACTIVE_UNITS, MI};
use crate::metrics::elbo::KL;
use serde::{Deserialize, Serialize};

/// One thing the trainer can do when the code has collapsed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CollapseAction {
    Warn,
    Stop,
    FreeBits,
    Anneal,
    Aggressive,
    ResetDecoder,
}

impl CollapseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CollapseAction::Warn => "warn",
            CollapseAction::Stop => "stop",
            CollapseAction::FreeBits => "free_bits",
            CollapseAction::Anneal => "anneal",
            CollapseAction::Aggressive => "aggressive",
            CollapseAction::ResetDecoder => "reset_decoder",
        }
    }
}

/// `train.on_collapse`: one action (`"anneal"`) or a list tried in turn
/// (`["aggressive", "reset_decoder"]`).
#[derive(Clone, Debug, PartialEq)]
pub struct OnCollapse(pub Vec<CollapseAction>);

impl Default for OnCollapse {
    fn default() -> Self {
        Self(vec![CollapseAction::Warn])
    }
}

impl OnCollapse {
    /// Whether the trainer only warns (today's behaviour).
    pub fn warns_only(&self) -> bool {
        self.0.iter().all(|a| *a == CollapseAction::Warn)
    }

    pub fn contains(&self, a: CollapseAction) -> bool {
        self.0.contains(&a)
    }

    /// What is wrong with the list, if anything.
    pub fn problem(&self) -> Option<String> {
        let names: Vec<&str> = self.0.iter().map(|a| a.as_str()).collect();
        if self.0.is_empty() {
            return Some("train.on_collapse = []: give an action (\"warn\" to only warn)".into());
        }
        if self.0.len() > 1 && self.contains(CollapseAction::Warn) {
            return Some(format!(
                "train.on_collapse = {names:?}: \"warn\" is the absence of an action; drop it from the list"
            ));
        }
        if let Some(i) = self.0.iter().position(|a| *a == CollapseAction::Stop)
            && i + 1 != self.0.len()
        {
            return Some(format!(
                "train.on_collapse = {names:?}: \"stop\" ends the run, so it can only come last"
            ));
        }
        None
    }
}

impl Serialize for OnCollapse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for OnCollapse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(CollapseAction),
            Many(Vec<CollapseAction>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(a)) => Ok(Self(vec![a])),
            Ok(OneOrMany::Many(v)) => Ok(Self(v)),
            Err(_) => Err(serde::de::Error::custom(
                "expected one of \"warn\", \"stop\", \"free_bits\", \"anneal\", \"aggressive\", \
                 \"reset_decoder\", or a list of them tried in turn",
            )),
        }
    }
}

/// One intervention: when, what, and the alarm's numbers at that moment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Intervention {
    pub step: usize,
    pub remedy: CollapseAction,
    /// Held-out total KL, active units and I(x;z) at the evaluation that
    /// triggered it.
    pub kl: f64,
    pub active_units: usize,
    pub mi: Option<f64>,
    /// Collapsed evaluations in a row at that moment.
    pub collapsed_evaluations: usize,
}

/// What the trainer has done about collapse so far (kept in checkpoints).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ReviveState {
    /// Collapsed evaluations in a row.
    pub streak: usize,
    /// Evaluations since the last intervention.
    pub since: usize,
    /// The next action of the list to take.
    pub next: usize,
    /// Free bits (λ, form) in force since a `free_bits` intervention.
    pub free_bits: Option<(f64, FreeBits)>,
    /// A restarted β ramp: (first step, steps to climb back).
    pub anneal: Option<(usize, usize)>,
    /// The run was stopped by `stop`.
    pub stopped: bool,
    pub interventions: Vec<Intervention>,
}

/// The settings [`ReviveState::observe`] reads.
pub struct Rule<'a> {
    pub actions: &'a OnCollapse,
    pub kl_floor: f64,
    pub patience: usize,
    /// Evaluations to wait after an intervention before the next.
    pub between: usize,
}

impl ReviveState {
    /// Feed one held-out evaluation at `step`; the action to take now, if
    /// any (already recorded as an intervention). Records without a KL
    /// and active units (codebooks, language models) are ignored.
    pub fn observe(&mut self, record: &Record, step: usize, rule: &Rule) -> Option<CollapseAction> {
        let (Some(kl), Some(active)) = (record.float(KL.name), record.count(ACTIVE_UNITS.name))
        else {
            return None;
        };
        if kl < rule.kl_floor || active == 0 {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if !self.interventions.is_empty() {
            self.since += 1;
        }
        if rule.actions.warns_only() || self.stopped {
            return None;
        }
        let action = *rule.actions.0.get(self.next)?;
        let waited = self.interventions.is_empty() || self.since >= rule.between;
        if self.streak < rule.patience || !waited {
            return None;
        }
        self.next += 1;
        self.since = 0;
        self.interventions.push(Intervention {
            step,
            remedy: action,
            kl,
            active_units: active,
            mi: record.float(MI.name),
            collapsed_evaluations: self.streak,
        });
        Some(action)
    }

    /// β at `step` given the schedule's `beta`: after an `anneal`
    /// intervention, scaled by a ramp from 0 back to 1.
    pub fn beta(&self, step: usize, beta: f64) -> f64 {
        match self.anneal {
            Some((from, span)) if step >= from => {
                beta * (((step - from) as f64 + 1.0) / span.max(1) as f64).min(1.0)
            }
            _ => beta,
        }
    }
}

/// Feed `record` (a held-out evaluation at `state.step`) to
/// `train.on_collapse` and take the action it calls for, if any: the
/// model (a new decoder after `reset_decoder`), and whether the run stops
/// here (`stop`; the caller writes the checkpoint). With the plateau
/// schedule, a remedy starts its comparison afresh: the best model of the
/// old regime is not reloaded over it (the caller drops its copy when
/// [`remedied`] says so).
pub fn act<M: crate::models::LatentModel>(
    job: &super::Job,
    plan: &mut super::Plan,
    mut model: M,
    optim: &mut burn::optim::ModuleOptimizer,
    state: &mut super::checkpoint::TrainState,
    record: &Record,
    rec: &mut super::recorder::Recorder,
) -> crate::core::error::Result<(M, bool)> {
    let t = job.trainer.train;
    // No action on a model without a code, at the run's last evaluation (no
    // step would train after it: the remedy would only change the model the
    // run ends with), or on an evaluation whose KL is not finite.
    let finite = record.float(KL.name).is_some_and(f64::is_finite);
    if !model.has_latent() || state.step >= plan.total || !finite {
        return Ok((model, false));
    }
    let rule = Rule {
        actions: &t.on_collapse,
        kl_floor: job.monitor.alarm_kl,
        patience: job.monitor.alarm_patience,
        between: t.on_collapse_patience,
    };
    let step = state.step;
    let Some(action) = state.revive.observe(record, step, &rule) else {
        return Ok((model, false));
    };
    let what = match action {
        // Only in a list built in code, past the config's check: no action.
        CollapseAction::Warn => return Ok((model, false)),
        CollapseAction::Stop => {
            state.revive.stopped = true;
            "stopping the run here (train.on_collapse = \"stop\"): the checkpoint of this step \
             is written and the run ends as finished"
                .to_string()
        }
        CollapseAction::FreeBits => {
            state.revive.free_bits = Some((t.on_collapse_free_bits, t.on_collapse_free_bits_form));
            format!(
                "free bits on from now: λ = {} nats, form {:?}",
                t.on_collapse_free_bits, t.on_collapse_free_bits_form
            )
        }
        CollapseAction::Anneal => {
            let span = t.on_collapse_anneal_epochs * plan.steps_per_epoch;
            state.revive.anneal = Some((step, span));
            format!(
                "β restarts from 0 and climbs back to the schedule's value over {} epochs ({span} steps)",
                t.on_collapse_anneal_epochs
            )
        }
        CollapseAction::Aggressive => {
            state.aggressive = Some(super::aggressive::AggressiveState::new());
            format!(
                "an aggressive-encoder phase starts ({}), until I(x;z) stops rising",
                super::aggressive::inner_loop_words(t.aggressive_max_inner, t.aggressive_patience)
            )
        }
        CollapseAction::ResetDecoder => {
            // A seed of its own per intervention step: a later reset draws anew.
            model =
                model.reset_decoder(job.seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            *optim = super::build_optimizer(job.trainer.optimizer);
            "the decoder is re-initialised and the optimizer rebuilt; the encoder is kept".into()
        }
    };
    plan.set_revive(&state.revive);
    // A remedy changes the model or the objective; a stop does neither, so
    // the plateau schedule keeps its best model to end the run with.
    if action != CollapseAction::Stop
        && let Some(p) = state.plateau.as_mut()
    {
        p.forget_best();
    }
    let i = state.revive.interventions.last().expect("just recorded");
    rec.intervention_line(plan, i)?;
    rec.progress().epoch(&format!(
        "step {step}: posterior collapse for {} evaluations (KL {:.4} nats, {} active units): {what}",
        i.collapsed_evaluations, i.kl, i.active_units
    ));
    Ok((model, action == CollapseAction::Stop))
}

/// Whether the interventions past the first `before` changed the model or
/// the objective (anything but a stop).
pub fn remedied(state: &ReviveState, before: usize) -> bool {
    state.interventions[before.min(state.interventions.len())..]
        .iter()
        .any(|i| i.remedy != CollapseAction::Stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Value;
    use CollapseAction::*;

    fn eval(kl: f64, active: usize) -> Record {
        let mut r = Record::new();
        r.insert("kl", Value::Number(kl));
        r.insert("active_units", Value::Count(active));
        r.insert("mi", Value::Number(0.0));
        r
    }

    /// Collapsed evaluations (KL under the floor or no active unit): the
    /// first action after `patience` of them, the next after `between`
    /// more while still collapsed, nothing once the list is used up or the
    /// code has come back.
    #[test]
    fn actions_follow_the_alarm_rule_in_order_with_patience_between() {
        let actions = OnCollapse(vec![Anneal, ResetDecoder]);
        let rule = Rule {
            actions: &actions,
            kl_floor: 0.1,
            patience: 2,
            between: 3,
        };
        let mut s = ReviveState::default();
        let seq = [
            (5.0, 3),  // fine
            (0.01, 0), // collapsed 1
            (0.02, 0), // collapsed 2: anneal
            (0.05, 0), // 1 since
            (0.5, 1),  // back: streak 0, 2 since
            (0.01, 0), // collapsed 1, 3 since — streak too short
            (0.01, 0), // collapsed 2, 4 since: reset_decoder
            (0.01, 0), // list used up
            (0.01, 0),
        ];
        let got: Vec<Option<CollapseAction>> = seq
            .iter()
            .enumerate()
            .map(|(i, &(kl, a))| s.observe(&eval(kl, a), 10 * i, &rule))
            .collect();
        assert_eq!(
            got,
            [
                None,
                None,
                Some(Anneal),
                None,
                None,
                None,
                Some(ResetDecoder),
                None,
                None
            ]
        );
        assert_eq!(
            s.interventions.iter().map(|i| i.step).collect::<Vec<_>>(),
            [20, 60]
        );
        assert_eq!(s.interventions[0].collapsed_evaluations, 2);
        // Warn alone never acts.
        let warn = OnCollapse::default();
        let mut w = ReviveState::default();
        for i in 0..5 {
            let r = Rule {
                actions: &warn,
                ..rule
            };
            assert_eq!(w.observe(&eval(0.0, 0), i, &r), None);
        }
    }

    /// The restarted ramp: β·min(1, (t − t₀ + 1)/span), the schedule's β
    /// before t₀.
    #[test]
    fn anneal_restarts_beta_from_zero() {
        let s = ReviveState {
            anneal: Some((100, 50)),
            ..Default::default()
        };
        assert_eq!(s.beta(99, 0.8), 0.8);
        assert!((s.beta(100, 1.0) - 1.0 / 50.0).abs() < 1e-12);
        assert!((s.beta(124, 0.5) - 0.25).abs() < 1e-12);
        assert_eq!(s.beta(149, 1.0), 1.0);
        assert_eq!(s.beta(400, 1.0), 1.0);
    }

    #[test]
    fn one_action_or_a_list_reads_and_writes_back() {
        #[derive(Serialize, Deserialize)]
        struct T {
            on_collapse: OnCollapse,
        }
        let one: T = toml::from_str("on_collapse = \"anneal\"").unwrap();
        assert_eq!(one.on_collapse.0, [Anneal]);
        let many: T = toml::from_str("on_collapse = [\"aggressive\", \"stop\"]").unwrap();
        assert_eq!(many.on_collapse.0, [Aggressive, Stop]);
        assert_eq!(
            toml::to_string(&one).unwrap().trim(),
            "on_collapse = \"anneal\""
        );
        assert!(toml::from_str::<T>("on_collapse = \"revive\"").is_err());
        assert!(OnCollapse(vec![Stop, Anneal]).problem().is_some());
        assert!(OnCollapse(vec![Warn, Anneal]).problem().is_some());
        assert!(OnCollapse(vec![FreeBits, Stop]).problem().is_none());
    }
}
