//! Reading a run directory back: `metrics.jsonl` and `summary.json`, for
//! plots and tables. A torn last line (a run killed mid-write) is skipped;
//! any other malformed line is an error that names the file and line.

use crate::core::error::{Error, Result};
use crate::metrics::Record;
use crate::metrics::elbo::{ELBO, KL, KL_PER_DIM, REC_LL};
use crate::metrics::registry::read;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// JSON has no NaN: serde_json writes non-finite numbers as `null`. Read them back as NaN.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn vec_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// One `split = "train"` line.
#[derive(Deserialize, Debug, Clone)]
pub struct TrainPoint {
    pub step: usize,
    #[serde(deserialize_with = "f64_or_nan")]
    pub beta: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub rec_ll: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub kl: f64,
    #[serde(deserialize_with = "vec_or_nan")]
    pub kl_per_dim: Vec<f64>,
}

/// One `split = "val"` line: when it was taken, and every metric it holds.
/// Metrics are read by name through the registry, so a line written before
/// a metric got its name reads the same (a codebook's perplexity was
/// `components_effective`), and `null` reads as absent.
#[derive(Debug, Clone)]
pub struct ValPoint {
    pub step: usize,
    pub beta: f64,
    pub metrics: Record,
}

impl ValPoint {
    fn from_record(r: Record) -> std::result::Result<Self, String> {
        for name in [ELBO.name, REC_LL.name, KL.name, KL_PER_DIM.name] {
            if r.get(name).is_none() {
                return Err(format!("missing field `{name}`"));
            }
        }
        Ok(Self {
            step: r.count("step").ok_or("missing field `step`")?,
            beta: r.float("beta").ok_or("missing field `beta`")?,
            metrics: r,
        })
    }

    /// A scalar metric, if the line has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        read(&self.metrics, name).and_then(|v| v.as_f64())
    }

    /// A scalar metric, NaN when absent or `null` (the ELBO terms every line has).
    pub fn num(&self, name: &str) -> f64 {
        self.metrics.float(name).unwrap_or(f64::NAN)
    }

    /// A vector metric, if the line has it.
    pub fn vector(&self, name: &str) -> Option<Vec<f64>> {
        read(&self.metrics, name).and_then(|v| v.as_vec().map(<[f64]>::to_vec))
    }
}

/// A run's history.
#[derive(Debug, Clone)]
pub struct RunLog {
    pub dir: PathBuf,
    /// The run's name: its directory name.
    pub name: String,
    pub train: Vec<TrainPoint>,
    pub val: Vec<ValPoint>,
    /// `train.on_collapse`'s interventions: (step, remedy).
    pub interventions: Vec<(usize, String)>,
    /// `summary.json`, when the run finished.
    pub summary: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Split {
    split: String,
}

impl RunLog {
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("metrics.jsonl");
        if !path.is_file() && dir.join("config.toml").is_file() {
            return Err(Error::Usage(format!(
                "{}: this run has not started training (no metrics.jsonl yet); train it with \
                 `vaekit train --resume {}`",
                dir.display(),
                dir.display()
            )));
        }
        if !path.is_file() {
            return Err(Error::Usage(format!(
                "{}: not a vaekit run directory (no metrics.jsonl)",
                dir.display()
            )));
        }
        let bytes = crate::core::fsutil::read(&path)?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.split('\n').collect();
        let (mut train, mut val, mut interventions) = (Vec::new(), Vec::new(), Vec::new());
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let last = i + 1 == lines.len(); // no trailing newline: torn write
            let bad = |e: serde_json::Error| {
                Error::bad_file(&path, format!("line {}: not a metrics record: {e}", i + 1))
            };
            let split = match serde_json::from_str::<Split>(line) {
                Ok(s) => s.split,
                Err(_) if last => break,
                Err(e) => return Err(bad(e)),
            };
            match split.as_str() {
                "train" => train.push(serde_json::from_str(line).map_err(bad)?),
                "val" => {
                    let record: Record = serde_json::from_str(line).map_err(bad)?;
                    let point = ValPoint::from_record(record).map_err(|e| {
                        Error::bad_file(&path, format!("line {}: not a metrics record: {e}", i + 1))
                    })?;
                    val.push(point);
                }
                "intervention" => {
                    let v: serde_json::Value = serde_json::from_str(line).map_err(bad)?;
                    if let (Some(step), Some(remedy)) = (v["step"].as_u64(), v["remedy"].as_str()) {
                        interventions.push((step as usize, remedy.to_string()));
                    }
                }
                _ => {}
            }
        }
        let summary = match std::fs::read(dir.join("summary.json")) {
            Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| {
                Error::bad_file(dir.join("summary.json"), format!("not valid JSON: {e}"))
            })?),
            Err(_) => None,
        };
        let name = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            train,
            val,
            interventions,
            summary,
        })
    }

    /// Final KL per dimension: the summary's test values, else the last
    /// validation line, else the last training line.
    pub fn final_kl_per_dim(&self) -> Vec<f64> {
        if let Some(v) = self.summary.as_ref().and_then(|s| s.get(KL_PER_DIM.name)) {
            if let Ok(k) = serde_json::from_value::<Vec<f64>>(v.clone()) {
                return k;
            }
        }
        self.val
            .last()
            .and_then(|v| v.vector(KL_PER_DIM.name))
            .or_else(|| self.train.last().map(|t| t.kl_per_dim.clone()))
            .unwrap_or_default()
    }

    /// Final (rate, distortion) = (KL, −log p(x|z)), same precedence.
    pub fn final_rate_distortion(&self) -> Option<(f64, f64)> {
        if let Some(s) = &self.summary {
            if let (Some(k), Some(r)) = (s[KL.name].as_f64(), s[REC_LL.name].as_f64()) {
                return Some((k, -r));
            }
        }
        self.val
            .last()
            .map(|v| (v.num(KL.name), -v.num(REC_LL.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_numbers_read_as_nan() {
        let dir = tempfile::tempdir().unwrap();
        let l = r#"{"split":"val","step":1,"beta":1.0,"elbo":null,"rec_ll":-2.0,"kl":null,"kl_per_dim":[null, 1.0]}"#;
        std::fs::write(dir.path().join("metrics.jsonl"), format!("{l}\n")).unwrap();
        let log = RunLog::read(dir.path()).unwrap();
        assert!(log.val[0].num("elbo").is_nan());
        assert!(log.val[0].vector("kl_per_dim").unwrap()[0].is_nan());
    }

    #[test]
    fn torn_last_line_is_skipped_but_bad_middle_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = r#"{"split":"train","step":1,"beta":1.0,"loss":3.0,"rec_ll":-2.0,"kl":1.0,"kl_per_dim":[1.0]}"#;
        std::fs::write(
            dir.path().join("metrics.jsonl"),
            format!("{good}\n{good}\n{{\"split\":\"tr"),
        )
        .unwrap();
        let log = RunLog::read(dir.path()).unwrap();
        assert_eq!(log.train.len(), 2);
        std::fs::write(
            dir.path().join("metrics.jsonl"),
            format!("{good}\ngarbage\n{good}\n"),
        )
        .unwrap();
        let e = RunLog::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl") && e.contains("line 2"), "{e}");
    }
}
