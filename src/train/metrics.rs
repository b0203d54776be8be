//! `metrics.jsonl`: one JSON object per line, appended and flushed as it is
//! written, so `pandas.read_json(path, lines=True)` can read a run that is
//! still going. Lines carry `"split": "train"` (every `log_every` steps) or
//! `"split": "val"` (every epoch).

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct MetricsWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsWriter {
    /// Open `path` for appending (created if absent).
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Append one record as a single line, written with one `write` call so
    /// that a crash leaves either the whole line or none of it in practice.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_vec(record).expect("metrics serialize");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// One training line.
#[derive(Serialize, Debug, Clone)]
pub struct TrainLine {
    pub split: &'static str,
    pub step: usize,
    /// Fractional epoch: `step / steps_per_epoch`.
    pub epoch: f64,
    pub beta: f64,
    /// Mean loss over the interval (what the optimizer minimised).
    pub loss: f64,
    /// Mean log p(x|z) over the interval, nats.
    pub rec_ll: f64,
    /// Mean total KL over the interval, nats.
    pub kl: f64,
    pub kl_per_dim: Vec<f64>,
    pub lr: f64,
    pub images_per_s: f64,
    pub time_s: f64,
}

/// One validation line.
#[derive(Serialize, Debug, Clone)]
pub struct ValLine {
    pub split: &'static str,
    pub step: usize,
    pub epoch: f64,
    pub beta: f64,
    pub elbo: f64,
    pub rec_ll: f64,
    pub kl: f64,
    pub kl_per_dim: Vec<f64>,
    /// Active units (A_u > δ), their activities A_u and mean posterior variances.
    pub active_units: usize,
    pub activity: Vec<f64>,
    pub posterior_var: Vec<f64>,
    /// I(x;z), nats.
    pub mi: f64,
    /// Mean IWAE bound L_k on the validation set, when `train.val_iwae_k > 0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iwae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iwae_k: Option<usize>,
    pub time_s: f64,
}
