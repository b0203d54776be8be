//! The collapse alarm: a warning, once, when the code stays collapsed for
//! `monitor.alarm_patience` evaluations in a row — the KL (Gaussian
//! posteriors), or the use of a mixture prior's components or a codebook.
//! It reads the evaluation's metric record, never the model kind.

use super::record::Record;
use serde::{Deserialize, Serialize};

/// A remedy for posterior collapse the alarm can name: what it is, how to
/// turn it on, and whether the run already has it on (then the alarm says
/// so instead of suggesting it).
#[derive(Clone, Debug, PartialEq)]
pub struct Remedy {
    /// "KL annealing".
    pub what: &'static str,
    /// "--set schedule.kind=linear, or sigmoid".
    pub how: &'static str,
    pub on: bool,
}

/// The remedies part of the collapse warning: those still to try, then
/// those already on (which did not prevent the collapse).
fn remedies_text(remedies: &[Remedy]) -> String {
    let list = |on: bool, with_how: bool| {
        remedies
            .iter()
            .filter(|r| r.on == on)
            .map(|r| {
                if with_how {
                    format!("{} ({})", r.what, r.how)
                } else {
                    r.what.to_string()
                }
            })
            .collect::<Vec<_>>()
    };
    let (off, on) = (list(false, true), list(true, false));
    if off.is_empty() {
        return format!(
            "Every remedy the trainer offers for this model is already on: {}",
            on.join(", ")
        );
    }
    let mut s = format!("Remedies the trainer offers: {}", off.join(", "));
    if !on.is_empty() {
        s.push_str(&format!("; already on in this run: {}", on.join(", ")));
    }
    s
}

/// Watches successive evaluations and raises the alarm once when the code
/// has stayed collapsed for `patience` evaluations in a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollapseAlarm {
    pub patience: usize,
    /// Total KL (nats) below which the posterior counts as collapsed.
    pub kl_floor: f64,
    streak: usize,
    raised: bool,
    /// Mixture priors: warn when fewer than this many components are effectively used.
    #[serde(default = "default_min_components")]
    pub min_components: f64,
    #[serde(default)]
    mixture_streak: usize,
    #[serde(default)]
    mixture_raised: bool,
}

fn default_min_components() -> f64 {
    2.0
}

impl CollapseAlarm {
    pub fn new(patience: usize, kl_floor: f64) -> Self {
        Self {
            patience,
            kl_floor,
            streak: 0,
            raised: false,
            min_components: default_min_components(),
            mixture_streak: 0,
            mixture_raised: false,
        }
    }

    /// Feed the effective number of a mixture prior's components
    /// (`codebook = false`) or a VQ-VAE's codebook perplexity (None for
    /// other models); returns the warning the first time usage stays collapsed.
    pub fn observe_usage(&mut self, effective: Option<f64>, codebook: bool) -> Option<String> {
        let e = effective?;
        if e < self.min_components {
            self.mixture_streak += 1;
        } else {
            self.mixture_streak = 0;
        }
        if self.mixture_streak >= self.patience && !self.mixture_raised {
            self.mixture_raised = true;
            if codebook {
                return Some(format!(
                    "warning: codebook collapse — the encoder's codes have perplexity {e:.2} for \
                     the last {} evaluations: nearly every position maps to one or a few codes. \
                     Remedies: --set model.vq_vae.dead_code_restart=true, or model.vq_vae.codebook_update=ema. \
                     Training continues.",
                    self.mixture_streak
                ));
            }
            return Some(format!(
                "warning: mixture posterior collapse — the aggregate posterior effectively uses \
                 {e:.2} prior components for the last {} evaluations: the data has fallen onto \
                 one or a few of them. Training continues.",
                self.mixture_streak
            ));
        }
        None
    }

    /// Feed one evaluation; returns the warning the first time the alarm
    /// trips, naming the `remedies` not yet on.
    pub fn observe(
        &mut self,
        kl: f64,
        active: usize,
        z: usize,
        remedies: &[Remedy],
    ) -> Option<String> {
        if kl < self.kl_floor || active == 0 {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if self.streak >= self.patience && !self.raised {
            self.raised = true;
            return Some(format!(
                "warning: posterior collapse — total KL {kl:.4} nats and {active} of {z} active units \
                 for the last {} evaluations: the decoder is ignoring z. {}. Training continues.",
                self.streak,
                remedies_text(remedies)
            ));
        }
        None
    }

    /// Feed one held-out evaluation's record to both alarms (the KL alarm
    /// names the `remedies` not yet on); the warnings
    /// raised now. The KL alarm watches posteriors that have active units
    /// (Gaussian ones); the usage alarm watches whichever usage the record
    /// holds — a codebook's perplexity or a mixture's effective components.
    pub fn observe_all(&mut self, record: &Record, remedies: &[Remedy]) -> Vec<String> {
        let kl_alarm = match (record.float("kl"), record.count("active_units")) {
            (Some(kl), Some(active)) => {
                let z = record.vector("activity").map_or(0, |a| a.len());
                self.observe(kl, active, z, remedies)
            }
            _ => None,
        };
        let usage_alarm = match record.float("codebook_perplexity") {
            Some(p) => self.observe_usage(Some(p), true),
            None => self.observe_usage(record.float("components_effective"), false),
        };
        [kl_alarm, usage_alarm].into_iter().flatten().collect()
    }

    pub fn raised(&self) -> bool {
        self.raised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_alarm_trips_after_patience() {
        let mut a = CollapseAlarm::new(2, 0.1);
        assert!(a.observe_usage(Some(1.0), false).is_none());
        assert!(
            a.observe_usage(Some(1.1), false)
                .unwrap()
                .contains("mixture posterior collapse")
        );
        assert!(a.observe_usage(None, false).is_none());
    }

    fn remedies(aggressive_on: bool) -> Vec<Remedy> {
        vec![
            Remedy {
                what: "free bits",
                how: "--set objective.free_bits=0.5",
                on: false,
            },
            Remedy {
                what: "cyclical β",
                how: "--set schedule.kind=cyclical",
                on: false,
            },
            Remedy {
                what: "aggressive encoder training",
                how: "--set train.aggressive=true",
                on: aggressive_on,
            },
        ]
    }

    #[test]
    fn alarm_trips_once_after_patience() {
        let r = remedies(false);
        let mut a = CollapseAlarm::new(3, 0.1);
        assert!(a.observe(0.01, 0, 10, &r).is_none());
        assert!(
            a.observe(5.0, 3, 10, &r).is_none(),
            "recovery resets the streak"
        );
        assert!(a.observe(0.01, 0, 10, &r).is_none());
        assert!(a.observe(0.02, 0, 10, &r).is_none());
        let msg = a
            .observe(0.03, 0, 10, &r)
            .expect("third collapsed evaluation in a row");
        assert!(msg.contains("free_bits") && msg.contains("cyclical"));
        assert!(msg.contains("train.aggressive=true") && !msg.contains("already on"));
        assert!(a.observe(0.01, 0, 10, &r).is_none(), "only once");
        assert!(a.raised());
    }

    /// A remedy the run has on is named as such, never suggested; with
    /// every remedy on, the warning says so.
    #[test]
    fn the_alarm_does_not_suggest_a_remedy_already_on() {
        let mut a = CollapseAlarm::new(1, 0.1);
        let msg = a.observe(0.0, 0, 2, &remedies(true)).unwrap();
        assert!(!msg.contains("train.aggressive=true"), "{msg}");
        assert!(
            msg.contains("free bits (--set objective.free_bits=0.5)")
                && msg.contains("already on in this run: aggressive encoder training"),
            "{msg}"
        );
        let all: Vec<Remedy> = remedies(true)
            .into_iter()
            .map(|r| Remedy { on: true, ..r })
            .collect();
        let msg = CollapseAlarm::new(1, 0.1).observe(0.0, 0, 2, &all).unwrap();
        assert!(
            msg.contains("Every remedy the trainer offers for this model is already on: free bits"),
            "{msg}"
        );
        assert!(!msg.contains("--set"), "{msg}");
    }
}
