//! `metrics.jsonl`: one JSON object per line, appended and flushed as it is
//! written, so `pandas.read_json(path, lines=True)` can read a run that is
//! still going. Lines carry `"split": "train"` (every `log_every` steps) or
//! `"split": "val"` (every epoch), and `"split": "grad_noise"` when the
//! gradient-noise monitor is on.

use crate::core::error::{Error, Result};
use crate::metrics::Record;
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
    /// C(t) for `objective.kind = "capacity"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<f64>,
    /// Mean of the loss terms outside the bound (VQ-VAE: commitment, plus
    /// the codebook loss with `codebook_update = "loss"`), for models that have them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub penalty: Option<f64>,
    /// Examples (images or sentences) per second over the interval; the
    /// key is `images_per_s`, as in every earlier file.
    #[serde(rename = "images_per_s")]
    pub examples_per_s: f64,
    pub time_s: f64,
}

/// One validation line: where it was taken, every metric of the evaluation
/// (under its registry name and its older names), and the time.
#[derive(Debug, Clone)]
pub struct ValLine<'a> {
    /// `val`, or `grad_noise` for the gradient-noise monitor's lines.
    pub split: &'static str,
    pub step: usize,
    pub epoch: f64,
    pub beta: f64,
    pub metrics: &'a Record,
    pub time_s: f64,
}

impl Serialize for ValLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let stored = crate::metrics::registry::stored(self.metrics);
        let mut m = s.serialize_map(Some(stored.len() + 5))?;
        m.serialize_entry("split", self.split)?;
        m.serialize_entry("step", &self.step)?;
        m.serialize_entry("epoch", &self.epoch)?;
        m.serialize_entry("beta", &self.beta)?;
        for (k, v) in stored.iter() {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("time_s", &self.time_s)?;
        m.end()
    }
}

/// Cut `metrics.jsonl` back to the lines of steps ≤ `step` (a resumed run
/// rewrites what came after its checkpoint), dropping any torn or malformed
/// line. Rewritten atomically; a missing file is left missing.
pub fn truncate(path: &Path, step: usize) -> Result<()> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut kept = String::new();
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            continue; // torn last write
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // A gradient-noise line at the checkpoint's step is measured after
        // the checkpoint (before the next update): the resumed run makes it.
        let keep = |s: usize| s < step || (s == step && v["split"] != "grad_noise");
        if v["step"].as_u64().is_some_and(|s| keep(s as usize)) {
            kept.push_str(line);
        }
    }
    crate::core::fsutil::write_atomic(path, kept.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncate_keeps_whole_lines_up_to_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        std::fs::write(
            &p,
            "{\"split\":\"train\",\"step\":10}\n{\"split\":\"val\",\"step\":20}\n{\"split\":\"train\",\"step\":30}\n{\"split\":\"tr",
        )
        .unwrap();
        super::truncate(&p, 20).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"split\":\"train\",\"step\":10}\n{\"split\":\"val\",\"step\":20}\n"
        );
    }
}
