//! β(t) schedules: constant, linear warm-up, sigmoid (Bowman et al. 2016) and
//! cyclical (Fu et al. 2019). `t` counts optimizer steps, or epochs as a
//! fraction (`step / steps_per_epoch`) when `schedule.unit = "epochs"`.
//!
//! ```text
//! constant : β(t) = β
//! linear   : β(t) = β₀ + (β₁−β₀)·min(1, t / warmup)
//! sigmoid  : β(t) = β₀ + (β₁−β₀) / (1 + exp(−rate·(t − midpoint)))
//! cyclical : P = T/M,  u = min(1, (t mod P) / (R·P)),  β(t) = β₀ + (β₁−β₀)·f(u)
//!            f(u) = u (linear) | ½ − ½cos(πu) (cosine) | 1/(1+exp(−(12u−6))) (sigmoid)
//! ```
//!
//! The cyclical ramps are those of Fu et al.'s reference code
//! (`frange_cycle_linear`, `_cosine`, `_sigmoid`): β rises over the first
//! R·P of each cycle and stays at β₁ for the rest.

use super::config::{Ramp, ScheduleConfig, ScheduleKind, ScheduleUnit};

/// A schedule resolved against the run's length.
#[derive(Clone, Debug)]
pub struct Schedule {
    cfg: ScheduleConfig,
    /// Cyclical period T in schedule units (resolved from `period` or the run length).
    total: f64,
    steps_per_epoch: f64,
}

impl Schedule {
    /// `total_steps` and `steps_per_epoch` describe the run; they matter for
    /// epoch units and for a cyclical schedule whose `period` is 0 (= the whole run).
    pub fn new(cfg: &ScheduleConfig, total_steps: usize, steps_per_epoch: usize) -> Self {
        let spe = steps_per_epoch.max(1) as f64;
        let run_len = match cfg.unit {
            ScheduleUnit::Steps => total_steps as f64,
            ScheduleUnit::Epochs => total_steps as f64 / spe,
        };
        let total = if cfg.period > 0.0 {
            cfg.period
        } else {
            run_len.max(1.0)
        };
        Self {
            cfg: cfg.clone(),
            total,
            steps_per_epoch: spe,
        }
    }

    /// β after `step` optimizer steps.
    pub fn beta_at_step(&self, step: usize) -> f64 {
        let t = match self.cfg.unit {
            ScheduleUnit::Steps => step as f64,
            ScheduleUnit::Epochs => step as f64 / self.steps_per_epoch,
        };
        self.beta(t)
    }

    /// β at time `t`, in schedule units.
    pub fn beta(&self, t: f64) -> f64 {
        let c = &self.cfg;
        let (b0, b1) = (c.beta_start, c.beta);
        match c.kind {
            ScheduleKind::Constant => b1,
            ScheduleKind::Linear => b0 + (b1 - b0) * (t / c.warmup).clamp(0.0, 1.0),
            ScheduleKind::Sigmoid => b0 + (b1 - b0) / (1.0 + (-c.rate * (t - c.midpoint)).exp()),
            ScheduleKind::Cyclical => {
                let period = self.total / c.cycles as f64;
                let pos = t.rem_euclid(period);
                let u = (pos / (c.ratio * period)).min(1.0);
                let f = match c.ramp {
                    Ramp::Linear => u,
                    Ramp::Cosine => 0.5 - 0.5 * (std::f64::consts::PI * u).cos(),
                    Ramp::Sigmoid => {
                        if u >= 1.0 {
                            1.0
                        } else {
                            1.0 / (1.0 + (-(12.0 * u - 6.0)).exp())
                        }
                    }
                };
                b0 + (b1 - b0) * f
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(kind: ScheduleKind, f: impl FnOnce(&mut ScheduleConfig)) -> Schedule {
        let mut c = ScheduleConfig {
            kind,
            ..ScheduleConfig::default()
        };
        f(&mut c);
        Schedule::new(&c, 10_000, 100)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn constant() {
        let s = sched(ScheduleKind::Constant, |c| c.beta = 4.0);
        close(s.beta_at_step(0), 4.0);
        close(s.beta_at_step(9_999), 4.0);
    }

    #[test]
    fn linear_warmup() {
        let s = sched(ScheduleKind::Linear, |c| {
            c.beta_start = 0.1;
            c.beta = 1.1;
            c.warmup = 1000.0;
        });
        close(s.beta_at_step(0), 0.1);
        close(s.beta_at_step(250), 0.35);
        close(s.beta_at_step(1000), 1.1);
        close(s.beta_at_step(5000), 1.1);
    }

    #[test]
    fn linear_in_epochs_uses_fractional_epochs() {
        let s = sched(ScheduleKind::Linear, |c| {
            c.unit = ScheduleUnit::Epochs;
            c.warmup = 10.0;
        });
        // 100 steps per epoch: step 250 is epoch 2.5, a quarter of the way.
        close(s.beta_at_step(250), 0.25);
    }

    #[test]
    fn sigmoid_bowman() {
        // Bowman et al. (2016): logistic in the step count, ½ at the midpoint.
        let s = sched(ScheduleKind::Sigmoid, |c| {
            c.rate = 0.0025;
            c.midpoint = 2500.0;
        });
        close(s.beta_at_step(2500), 0.5);
        close(s.beta_at_step(0), 1.0 / (1.0 + (6.25f64).exp()));
        close(s.beta_at_step(3300), 1.0 / (1.0 + (-2.0f64).exp()));
        assert!(s.beta_at_step(10_000) > 0.99);
    }

    #[test]
    fn cyclical_fu_et_al_linear_matches_reference_code() {
        // frange_cycle_linear(n_iter=10000, start=0, stop=1, n_cycle=4, ratio=0.5):
        // period 2500, ramp over the first 1250 steps of each cycle.
        let s = sched(ScheduleKind::Cyclical, |c| {
            c.cycles = 4;
            c.ratio = 0.5;
        });
        close(s.beta_at_step(0), 0.0);
        close(s.beta_at_step(625), 0.5);
        close(s.beta_at_step(1250), 1.0);
        close(s.beta_at_step(2000), 1.0);
        close(s.beta_at_step(2500), 0.0);
        close(s.beta_at_step(2500 + 125), 0.1);
        close(s.beta_at_step(9_999), 1.0);
        // The reference, reproduced step by step.
        let (n_iter, n_cycle, ratio) = (10_000usize, 4usize, 0.5f64);
        let mut reference = vec![1.0f64; n_iter];
        let period = n_iter as f64 / n_cycle as f64;
        let step = 1.0 / (period * ratio);
        for c in 0..n_cycle {
            let (mut v, mut i) = (0.0, 0usize);
            while v <= 1.0 && ((i as f64 + c as f64 * period) as usize) < n_iter {
                reference[(i as f64 + c as f64 * period) as usize] = v;
                v += step;
                i += 1;
            }
        }
        for t in (0..n_iter).step_by(7) {
            assert!((s.beta_at_step(t) - reference[t]).abs() < 1e-9, "t={t}");
        }
    }

    #[test]
    fn cyclical_cosine_and_sigmoid_ramps() {
        let cos = sched(ScheduleKind::Cyclical, |c| {
            c.ramp = Ramp::Cosine;
            c.cycles = 2;
            c.ratio = 1.0;
        });
        // Period 5000; u = ¼ at t = 1250: ½ − ½cos(π/4).
        close(
            cos.beta_at_step(1250),
            0.5 - 0.5 * (std::f64::consts::FRAC_PI_4).cos(),
        );
        close(cos.beta_at_step(2500), 0.5);
        let sig = sched(ScheduleKind::Cyclical, |c| {
            c.ramp = Ramp::Sigmoid;
            c.cycles = 1;
            c.ratio = 0.5;
            c.beta_start = 0.2;
            c.beta = 1.2;
        });
        // Midpoint of the ramp (u = ½) gives f = ½.
        close(sig.beta_at_step(2500), 0.7);
        close(sig.beta_at_step(6000), 1.2);
    }

    #[test]
    fn explicit_period_overrides_run_length() {
        let s = sched(ScheduleKind::Cyclical, |c| {
            c.period = 400.0;
            c.cycles = 2;
            c.ratio = 0.5;
        });
        // Period per cycle 200, ramp over 100 steps.
        close(s.beta_at_step(50), 0.5);
        close(s.beta_at_step(250), 0.5);
    }
}
