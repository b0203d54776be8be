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
    pub steps: usize,
    pub images: usize,
}

pub struct Interval {
    loss: Option<Tensor<1>>,
    rec: Option<Tensor<1>>,
    kl: Option<Tensor<1>>,
    pub steps: usize,
    pub images: usize,
    pub start: Instant,
}

impl Interval {
    pub fn new() -> Self {
        Self {
            loss: None,
            rec: None,
            kl: None,
            steps: 0,
            images: 0,
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
            i.steps = s.steps;
            // images/s measures this process only: the clock restarts on resume.
            i.images = 0;
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
    pub fn add(&mut self, loss: Tensor<1>, rec: Tensor<1>, kl: Tensor<1>, images: usize) {
        Self::acc(&mut self.loss, loss);
        Self::acc(&mut self.rec, rec);
        Self::acc(&mut self.kl, kl);
        self.steps += 1;
        self.images += images;
    }

    fn sums(&self) -> Option<Vec<f32>> {
        let (l, r, k) = (self.loss.clone()?, self.rec.clone()?, self.kl.clone()?);
        Some(crate::host::read(Tensor::cat(vec![l, r, k], 0)))
    }

    /// The sums so far, for a checkpoint (one device read).
    pub fn snapshot(&self) -> Option<IntervalState> {
        self.sums().map(|v| IntervalState {
            loss: v[0],
            rec: v[1],
            kl: v[2..].to_vec(),
            steps: self.steps,
            images: self.images,
        })
    }

    /// Means over the interval: (loss, rec_ll, KL per dim), one device read.
    pub fn means(&self) -> (f64, f64, Vec<f64>) {
        let v = self.sums().expect("interval has steps");
        let n = self.steps.max(1) as f64;
        let kl = v[2..].iter().map(|&k| k as f64 / n).collect();
        (v[0] as f64 / n, v[1] as f64 / n, kl)
    }
}
