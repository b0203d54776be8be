//! Sums over a logging interval, kept on the device and read once per
//! interval; saved into checkpoints so a resumed run logs the same numbers.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The host copy of an interval's sums (f32, exactly as on the device).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IntervalState {
    pub loss: f32,
    pub rec: f32,
    pub kl: Vec<f32>,
    /// Sum of the penalty (VQ-VAE commitment), for models that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<f32>,
    pub steps: usize,
    /// Examples (images or sentences) summed; `images` in `state.json`, as
    /// in every earlier checkpoint.
    #[serde(rename = "images")]
    pub examples: usize,
}

/// An interval's means: loss, log p(x|z), KL per dimension, penalty.
pub struct Means {
    pub loss: f64,
    pub rec: f64,
    pub kl: Vec<f64>,
    pub penalty: Option<f64>,
}

pub struct Interval {
    loss: Option<Tensor<1>>,
    rec: Option<Tensor<1>>,
    kl: Option<Tensor<1>>,
    penalty: Option<Tensor<1>>,
    pub steps: usize,
    pub examples: usize,
    pub start: Instant,
}

impl Interval {
    pub fn new() -> Self {
        Self {
            loss: None,
            rec: None,
            kl: None,
            penalty: None,
            steps: 0,
            examples: 0,
            start: Instant::now(),
        }
    }

    /// Continue from saved sums.
    pub fn restore(state: Option<&IntervalState>, device: &Device) -> Self {
        let mut i = Self::new();
        if let Some(s) = state.filter(|s| s.steps > 0) {
            i.loss = Some(Tensor::from_floats([s.loss], device));
            i.rec = Some(Tensor::from_floats([s.rec], device));
            i.kl = Some(Tensor::from_floats(s.kl.as_slice(), device));
            i.penalty = s.penalty.map(|p| Tensor::from_floats([p], device));
            i.steps = s.steps;
            // examples/s measures this process only: the clock restarts on resume.
            i.examples = 0;
        }
        i
    }

    fn acc(acc: &mut Option<Tensor<1>>, v: Tensor<1>) {
        let v = v.inner();
        *acc = Some(match acc.take() {
            Some(a) => a + v,
            None => v,
        });
    }

    /// Add one step's batch means.
    pub fn add(&mut self, l: crate::core::objective::Loss, examples: usize) {
        Self::acc(&mut self.loss, l.loss);
        Self::acc(&mut self.rec, l.rec_ll);
        Self::acc(&mut self.kl, l.kl_per_dim);
        if let Some(p) = l.penalty {
            Self::acc(&mut self.penalty, p);
        }
        self.steps += 1;
        self.examples += examples;
    }

    /// loss, rec, KL per dim… and the penalty last when there is one.
    fn sums(&self) -> Option<Vec<f32>> {
        let (l, r, k) = (self.loss.clone()?, self.rec.clone()?, self.kl.clone()?);
        let mut parts = vec![l, r, k];
        parts.extend(self.penalty.clone());
        Some(crate::core::host::read(Tensor::cat(parts, 0)))
    }

    /// Split [`Interval::sums`] into (loss, rec, kl, penalty).
    fn split(&self, v: &[f32]) -> (f32, f32, Vec<f32>, Option<f32>) {
        let end = if self.penalty.is_some() {
            v.len() - 1
        } else {
            v.len()
        };
        let penalty = self.penalty.as_ref().map(|_| v[v.len() - 1]);
        (v[0], v[1], v[2..end].to_vec(), penalty)
    }

    /// The sums so far, for a checkpoint (one device read).
    pub fn snapshot(&self) -> Option<IntervalState> {
        self.sums().map(|v| {
            let (loss, rec, kl, penalty) = self.split(&v);
            IntervalState {
                loss,
                rec,
                kl,
                penalty,
                steps: self.steps,
                examples: self.examples,
            }
        })
    }

    /// Means over the interval, one device read.
    pub fn means(&self) -> Means {
        let v = self.sums().expect("interval has steps");
        let (loss, rec, kl, penalty) = self.split(&v);
        let n = self.steps.max(1) as f64;
        Means {
            loss: loss as f64 / n,
            rec: rec as f64 / n,
            kl: kl.iter().map(|&k| k as f64 / n).collect(),
            penalty: penalty.map(|p| p as f64 / n),
        }
    }
}
