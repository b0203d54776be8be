//! He et al. (2019)'s learning-rate decay on a validation plateau, with the
//! best model reloaded at each decay (`optimizer.lr_schedule = "plateau"`).
//!
//! Their code (`jxhe/vae-lagging-encoder`, `text.py`), at each epoch end,
//! with the validation loss L (the −ELBO at β = 1):
//!
//! - if L is below the best so far, the model is saved as the best;
//! - if L is above the *reference* (the last loss that did not count as
//!   worse), one more epoch has not improved; after `decay_epoch = 2` such
//!   epochs, and from epoch index 15 on, the rate is halved, the best model
//!   reloaded, both optimizers built afresh, the reference set to L;
//! - otherwise the reference becomes L;
//! - training stops at the fifth decay, and the best model is evaluated.
//!
//! [`PlateauState::observe`] is that rule, with the numbers from
//! `[optimizer]`; the trainer acts on its verdict.

use serde::{Deserialize, Serialize};

/// The schedule's state, saved in every checkpoint's `state.json` (the best
/// model itself is the checkpoint's `best.bpk`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PlateauState {
    /// The lowest validation loss so far (∞ before the first epoch end, and
    /// after an intervention; JSON writes ∞ as `null`).
    #[serde(deserialize_with = "null_is_infinite")]
    pub best: f64,
    /// The step at which the best model was taken.
    pub best_step: Option<usize>,
    /// The loss later epochs are compared with.
    #[serde(deserialize_with = "null_is_infinite")]
    pub reference: f64,
    /// Epochs in a row whose loss was above the reference.
    pub not_improved: usize,
    /// Decays made so far.
    pub decays: usize,
}

/// `null` (how serde_json writes ∞) reads back as +∞.
fn null_is_infinite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

impl PlateauState {
    /// Start the comparison afresh (after a `train.on_collapse`
    /// intervention changed the model or the objective): the best model so
    /// far belongs to the old regime and must not be reloaded. The decays
    /// made and the learning rate stay.
    pub fn forget_best(&mut self) {
        self.best = f64::INFINITY;
        self.best_step = None;
        self.reference = f64::INFINITY;
        self.not_improved = 0;
    }
}

/// What the trainer does after an epoch end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Verdict {
    /// The model is the best so far: keep it.
    pub improved: bool,
    /// Multiply the rate, reload the best model, rebuild the optimizer.
    pub decay: bool,
    /// The last decay was made: training ends here.
    pub stop: bool,
}

impl PlateauState {
    pub fn new() -> Self {
        Self {
            best: f64::INFINITY,
            best_step: None,
            reference: f64::INFINITY,
            not_improved: 0,
            decays: 0,
        }
    }

    /// The end of epoch `epoch` (counted from 0) at `step`, with validation
    /// loss `loss`. A non-finite loss counts as no improvement.
    pub fn observe(
        &mut self,
        loss: f64,
        epoch: usize,
        step: usize,
        o: &super::config::OptimizerConfig,
    ) -> Verdict {
        let mut v = Verdict::default();
        let loss = if loss.is_finite() {
            loss
        } else {
            f64::INFINITY
        };
        if loss < self.best {
            self.best = loss;
            self.best_step = Some(step);
            v.improved = true;
        }
        if !(loss <= self.reference) {
            self.not_improved += 1;
            if self.not_improved >= o.plateau_patience && epoch >= o.plateau_after {
                self.reference = loss;
                self.not_improved = 0;
                self.decays += 1;
                v.decay = true;
                v.stop = o.plateau_max_decays > 0 && self.decays >= o.plateau_max_decays;
            }
        } else {
            self.not_improved = 0;
            self.reference = loss;
        }
        v
    }
}

impl Default for PlateauState {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    /// A state with no best yet (∞, written as `null`) reads back equal.
    #[test]
    fn an_infinite_best_round_trips_through_json() {
        let mut s = super::PlateauState::new();
        s.decays = 2;
        let back: super::PlateauState =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    use super::*;
    use crate::train::config::OptimizerConfig;

    /// He et al.'s loop transcribed line by line from `text.py` (the
    /// reference), run beside [`PlateauState::observe`] on loss sequences
    /// that rise, fall, stall and repeat: the same decays at the same
    /// epochs, the same best epochs, the same stop.
    #[test]
    fn observe_follows_the_authors_loop() {
        let o = OptimizerConfig::default();
        let (decay_epoch, max_decay) = (2usize, 5usize);
        let mut rng = 7u64;
        for trial in 0..200 {
            // A loss curve: falling with noise, then flat with noise.
            let mut losses = Vec::new();
            for e in 0..60 {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((rng >> 33) % 1000) as f64 / 1000.0;
                let trend = if e < 10 + trial % 20 {
                    100.0 - e as f64
                } else {
                    80.0
                };
                // Ties on purpose: rounded to halves.
                losses.push(((trend + 3.0 * noise) * 2.0).round() / 2.0);
            }
            // The authors' loop.
            let (mut best_loss, mut ref_loss, mut not_improved, mut decay_cnt) =
                (1e4f64, 1e4f64, 0usize, 0usize);
            let mut want = Vec::new();
            for (epoch, &loss) in losses.iter().enumerate() {
                let improved = loss < best_loss;
                if improved {
                    best_loss = loss;
                }
                let mut decay = false;
                if loss > ref_loss {
                    not_improved += 1;
                    if not_improved >= decay_epoch && epoch >= 15 {
                        ref_loss = loss;
                        not_improved = 0;
                        decay_cnt += 1;
                        decay = true;
                    }
                } else {
                    not_improved = 0;
                    ref_loss = loss;
                }
                let stop = decay_cnt == max_decay && decay;
                want.push((improved, decay, stop));
                if decay_cnt == max_decay {
                    break;
                }
            }
            let mut s = PlateauState::new();
            let mut got = Vec::new();
            for (epoch, &loss) in losses.iter().enumerate() {
                let v = s.observe(loss, epoch, epoch * 10, &o);
                got.push((v.improved, v.decay, v.stop));
                if v.stop {
                    break;
                }
            }
            assert_eq!(got, want, "trial {trial}: {losses:?}");
            assert_eq!(s.best, best_loss);
        }
    }
}
