//! `summary.json`: what a finished run measured, and the end-of-run report.
//!
//! In memory a summary is the run's facts plus one metric [`Record`] per
//! split. On disk the registry lays each record out in sections — `test`
//! (the ELBO terms), `test_monitor` (the collapse statistics), `test_iwae`
//! (importance-sampled metrics, when validation computed them) and the same
//! for `val` — with the headline metrics (ELBO, reconstruction, KL, KL per
//! dimension, active units, I(x;z)) also at the top level, where earlier
//! versions put them and readers look for them.

use crate::core::error::{Error, Result};
use crate::data::DataKind;
use crate::metrics::registry::{self, Section};
use crate::metrics::{Record, Value};
use crate::metrics::{collapse, elbo, usage};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub name: String,
    /// The data, in words (spec, split sizes, shape).
    pub data: String,
    /// The kind of examples the model was trained on (None in summaries
    /// written before it was recorded).
    pub data_kind: Option<DataKind>,
    pub device: String,
    pub steps: usize,
    pub epochs: usize,
    /// Batches skipped for a non-finite loss (`train.on_nonfinite = "skip"`).
    pub skipped_steps: usize,
    pub wall_time_s: f64,
    /// Training throughput over the whole run (examples per second of wall
    /// time; `train_images_per_s` in the file, whatever the examples are).
    pub train_examples_per_s: f64,
    /// Whether the collapse alarm went off during training.
    pub collapse_alarm: bool,
    /// Every metric on the test split.
    pub test: Record,
    /// Every metric on the validation split (at the last evaluation).
    pub val: Record,
    /// The last gradient-noise measurement (`monitor.grad_noise_every`;
    /// empty when off): `summary.json`'s `grad_noise` section.
    pub grad_noise: Record,
    /// What `train.on_collapse` did (empty when it did nothing): the
    /// `interventions` section.
    pub interventions: Vec<crate::train::revive::Intervention>,
}

/// The run's facts as stored: everything but the metric sections.
#[derive(Serialize, Deserialize)]
struct Facts {
    name: String,
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_kind: Option<DataKind>,
    device: String,
    steps: usize,
    epochs: usize,
    #[serde(default)]
    skipped_steps: usize,
    wall_time_s: f64,
    train_images_per_s: f64,
    #[serde(default)]
    collapse_alarm: bool,
}

impl Summary {
    /// As written to `summary.json`.
    pub fn to_json(&self) -> serde_json::Value {
        let facts = Facts {
            name: self.name.clone(),
            data: self.data.clone(),
            data_kind: self.data_kind.clone(),
            device: self.device.clone(),
            steps: self.steps,
            epochs: self.epochs,
            skipped_steps: self.skipped_steps,
            wall_time_s: self.wall_time_s,
            train_images_per_s: self.train_examples_per_s,
            collapse_alarm: self.collapse_alarm,
        };
        let mut out = serde_json::to_value(facts).expect("summary facts serialize");
        let obj = out.as_object_mut().expect("an object");
        // Every headline at the top, null where it does not apply.
        for m in registry::all().iter().filter(|m| m.headline) {
            let v = self
                .test
                .get(m.name)
                .cloned()
                .unwrap_or(Value::Number(f64::NAN));
            obj.insert(m.name.into(), json(&v));
        }
        for (split, record) in [("test", &self.test), ("val", &self.val)] {
            for section in [Section::Elbo, Section::Monitor, Section::Iwae] {
                let part = registry::section(record, section);
                if !part.is_empty() || section != Section::Iwae {
                    obj.insert(section.summary_key(split), json_record(&part));
                }
            }
        }
        if !self.interventions.is_empty() {
            obj.insert(
                "interventions".into(),
                serde_json::to_value(&self.interventions).expect("interventions serialize"),
            );
        }
        if !self.grad_noise.is_empty() {
            obj.insert(
                Section::Gradients.summary_key("test"),
                json_record(&registry::stored(&self.grad_noise)),
            );
        }
        out
    }

    /// Read a summary back, from this version or an earlier one: each
    /// split's sections are merged into one record.
    pub fn from_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let facts: Facts = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        let split = |name: &str| {
            let mut r = Record::new();
            for section in [Section::Elbo, Section::Monitor, Section::Iwae] {
                for (k, x) in Record::from_json(&v[section.summary_key(name)]).iter() {
                    r.insert(k, x.clone());
                }
            }
            r
        };
        Ok(Self {
            name: facts.name,
            data: facts.data,
            data_kind: facts.data_kind,
            device: facts.device,
            steps: facts.steps,
            epochs: facts.epochs,
            skipped_steps: facts.skipped_steps,
            wall_time_s: facts.wall_time_s,
            train_examples_per_s: facts.train_images_per_s,
            collapse_alarm: facts.collapse_alarm,
            test: split("test"),
            val: split("val"),
            grad_noise: Record::from_json(&v[Section::Gradients.summary_key("test")]),
            interventions: serde_json::from_value(v["interventions"].clone()).unwrap_or_default(),
        })
    }

    /// Write `RUN/summary.json` (atomically: a run with one has finished).
    pub fn write(&self, run: &Path) -> Result<()> {
        crate::core::fsutil::write_atomic(
            &run.join("summary.json"),
            serde_json::to_string_pretty(&self.to_json())
                .expect("summary serializes")
                .as_bytes(),
        )
    }

    /// `RUN/summary.json`, when the run has finished.
    pub fn read(run: &Path) -> Result<Option<Self>> {
        let path = run.join("summary.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&path, format!("not valid JSON: {e}")))?;
        Self::from_json(&v)
            .map(Some)
            .map_err(|e| Error::bad_file(&path, format!("not a vaekit summary: {e}")))
    }

    /// A test-split metric, with the registry's fallback for older files.
    pub fn metric(&self, name: &str) -> Option<Value> {
        registry::read(&self.test, name)
    }
}

fn json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).expect("metric values serialize")
}

fn json_record(r: &Record) -> serde_json::Value {
    serde_json::to_value(r).expect("records serialize")
}

/// A short, readable end-of-run report. What it shows follows from the
/// metrics the run has: active units and KL bars for Gaussian posteriors,
/// component usage for mixture priors, codebook usage for VQ-VAEs.
pub fn report(summary: &Summary, run: &Path) -> String {
    let t = &summary.test;
    let f = |name: &str| t.float(name).unwrap_or(f64::NAN);
    let what = match summary.data_kind {
        Some(crate::data::DataKind::Tokens { .. }) => "sentence",
        _ => "image",
    };
    let mut s = format!(
        "\nrun      {}\ndata     {}\ndevice   {}   steps {}   epochs {}   {:.0} s   {:.0} {what}s/s\n\
         test     ELBO {:.2}   log p(x|z) {:.2}   KL {:.2} nats  (one sample per {what})\n",
        run.display(),
        summary.data,
        summary.device,
        summary.steps,
        summary.epochs,
        summary.wall_time_s,
        summary.train_examples_per_s,
        f(elbo::ELBO.name),
        f(elbo::REC_LL.name),
        f(elbo::KL.name),
    );
    // Through the registry: a summary read back from a file also holds the
    // codebook's metrics under their older (mixture) names.
    let num = |name: &str| registry::read(t, name).and_then(|v| v.as_f64());
    let vec = |name: &str| registry::read(t, name).and_then(|v| v.as_vec().map(<[f64]>::len));
    if let Some(active) = num(collapse::ACTIVE_UNITS.name).map(|a| a as usize) {
        s.push_str(&gaussian_latents(t, active));
    }
    if let (Some(p), Some(codes)) = (
        num(usage::CODEBOOK_PERPLEXITY.name),
        vec(usage::CODEBOOK_USAGE.name),
    ) {
        s.push_str(&format!(
            "codebook {codes} codes, {} used on the test set, {} dead, perplexity {p:.1} \
             (KL = P·ln K: a uniform prior over the codes)\n",
            t.count(usage::CODES_USED.name).unwrap_or(0),
            t.count(usage::DEAD_CODES.name).unwrap_or(0),
        ));
    }
    if let (Some(e), Some(k)) = (
        num(usage::COMPONENTS_EFFECTIVE.name),
        vec(usage::COMPONENT_USAGE.name),
    ) {
        s.push_str(&format!(
            "prior    {k} components, effectively {e:.2} used (exp of the usage entropy)\n"
        ));
    }
    if summary.collapse_alarm {
        s.push_str("the collapse alarm went off during training (see the log above)\n");
    }
    s
}

/// Active units, I(x;z) and a bar per dimension of KL.
fn gaussian_latents(t: &Record, active: usize) -> String {
    let kl = t.vector(elbo::KL_PER_DIM.name).unwrap_or(&[]);
    let z = t.vector(collapse::ACTIVITY.name).map_or(0, |a| a.len());
    let mut dims: Vec<(usize, f64)> = kl.iter().copied().enumerate().collect();
    dims.sort_by(|a, b| b.1.total_cmp(&a.1));
    let grouped = kl.len() != z;
    let top = dims.first().map_or(1e-9, |d| d.1.max(1e-9));
    let mut s = format!(
        "latents  {active} of {z} active (A_u > {}), I(x;z) {:.2} nats; KL per dimension:\n",
        t.float(collapse::AU_THRESHOLD.name).unwrap_or(f64::NAN),
        t.float(collapse::MI.name).unwrap_or(f64::NAN),
    );
    if grouped {
        s.push_str(
            "  (mixture prior: the KL does not split by dimension; one Monte-Carlo total)\n",
        );
    }
    for (j, k) in dims {
        let name = if grouped {
            "total".to_string()
        } else {
            format!("z{j}")
        };
        let n = ((k / top) * 30.0).round() as usize;
        s.push_str(&format!("  {name:<5} {k:>7.3} nats  {}\n", "█".repeat(n)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, Value)]) -> Record {
        let mut r = Record::new();
        for (k, v) in pairs {
            r.insert(k, v.clone());
        }
        r
    }

    #[test]
    fn sections_round_trip_and_headlines_stay_at_the_top() {
        let test = record(&[
            ("n_examples", Value::Count(10)),
            ("elbo", Value::Number(-90.0)),
            ("kl", Value::Number(5.0)),
            ("kl_per_dim", Value::Vector(vec![4.0, 1.0])),
            ("active_units", Value::Count(2)),
            ("codebook_perplexity", Value::Number(3.5)),
        ]);
        let s = Summary {
            name: "x".into(),
            data: "d".into(),
            data_kind: None,
            device: "cpu".into(),
            steps: 1,
            epochs: 1,
            skipped_steps: 0,
            wall_time_s: 1.0,
            train_examples_per_s: 1.0,
            collapse_alarm: false,
            test: test.clone(),
            val: Record::new(),
            grad_noise: record(&[("encoder_grad_snr", Value::Number(0.5))]),
            interventions: Vec::new(),
        };
        let j = s.to_json();
        assert_eq!(j["elbo"], -90.0);
        assert_eq!(j["active_units"], 2);
        assert_eq!(j["test"]["n_examples"], 10);
        assert_eq!(j["test_monitor"]["codebook_perplexity"], 3.5);
        // The old name, for readers of earlier files.
        assert_eq!(j["test_monitor"]["components_effective"], 3.5);
        let back = Summary::from_json(&j).unwrap();
        assert_eq!(back.test.float("elbo"), Some(-90.0));
        assert_eq!(j["grad_noise"]["encoder_grad_snr"], 0.5);
        assert_eq!(back.grad_noise.float("encoder_grad_snr"), Some(0.5));
        assert_eq!(back.metric("codebook_perplexity"), Some(Value::Number(3.5)));
    }
}
