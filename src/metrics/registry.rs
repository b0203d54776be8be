//! The metric registry: every metric vaekit reports is one [`Metric`] — its
//! name, what it applies to, how it is computed and where it is stored —
//! listed once in [`all`]. The same list decides what goes into
//! `metrics.jsonl`'s `val` lines, `summary.json`, `eval-k*.json`, the
//! columns `vaekit report` offers, the epoch line and the figures.
//!
//! Adding a metric: write its `Metric` (and its computation) in one file of
//! this folder, and add it to [`all`]. Nothing in `train/` or `app/` changes.

use super::config::MonitorConfig;
use super::elbo::ElboStats;
use super::record::{Record, Value};
use crate::core::posterior::Family;
use crate::data::DataKind;
use std::cell::OnceCell;

/// An input a metric needs beyond the ELBO pass and the posteriors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The k importance weights of each example (`vaekit eval`, or
    /// validation with `train.val_iwae_k > 0`).
    ImportanceWeights,
    /// A prior that is a mixture, with responsibilities p(k | z).
    MixturePrior,
    /// Samples x ~ p(x|z) from the model.
    Samples,
    /// Class labels of the data.
    Labels,
    /// A trained feature network for the data.
    Features,
}

/// Where `summary.json` keeps a metric (per split), and `eval-k*.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `test` / `val`: the ELBO and its terms.
    Elbo,
    /// `test_monitor` / `val_monitor`: what the collapse monitor reads.
    Monitor,
    /// Importance-sampled: `eval-k*.json` and the validation lines.
    Iwae,
    /// Sample metrics: `eval-k*.json` of `vaekit eval --samples N`, and
    /// `vaekit metrics`' output.
    Samples,
    /// Gradient noise (`monitor.grad_noise_every`): the `grad_noise` lines
    /// of `metrics.jsonl`, and `summary.json`'s `grad_noise` section (the
    /// last measurement, whatever the split).
    Gradients,
}

impl Section {
    /// The key of this section for `split` (`test` or `val`) in `summary.json`.
    pub fn summary_key(self, split: &str) -> String {
        match self {
            Section::Elbo => split.to_string(),
            Section::Monitor => format!("{split}_monitor"),
            Section::Iwae => format!("{split}_iwae"),
            Section::Samples => format!("{split}_samples"),
            Section::Gradients => "grad_noise".to_string(),
        }
    }
}

/// What a metric applies to; [`Ctx::admits`] checks it.
#[derive(Clone, Copy, Debug)]
pub struct Applies {
    /// Posterior families it is defined for.
    pub families: &'static [Family],
    /// Whether it is defined for token data (every metric is for images).
    pub tokens: bool,
    pub needs: &'static [Need],
}

impl Applies {
    /// Any posterior, any data, nothing extra.
    pub const ALWAYS: Applies = Applies {
        families: &[Family::Gaussian, Family::Codes],
        tokens: true,
        needs: &[],
    };
    /// Gaussian posteriors, any data.
    pub const GAUSSIAN: Applies = Applies {
        families: &[Family::Gaussian],
        tokens: true,
        needs: &[],
    };
    /// One-hot posteriors over a codebook.
    pub const CODES: Applies = Applies {
        families: &[Family::Codes],
        tokens: true,
        needs: &[],
    };
    /// Gaussian posteriors under a mixture prior.
    pub const MIXTURE: Applies = Applies {
        families: &[Family::Gaussian],
        tokens: true,
        needs: &[Need::MixturePrior],
    };
    /// One-hot posteriors, wherever importance weights were computed.
    pub const CODES_WEIGHTS: Applies = Applies {
        families: &[Family::Codes],
        tokens: true,
        needs: &[Need::ImportanceWeights],
    };
    /// Wherever importance weights were computed.
    pub const WEIGHTS: Applies = Applies {
        families: &[Family::Gaussian, Family::Codes],
        tokens: true,
        needs: &[Need::ImportanceWeights],
    };
}

/// One metric.
pub struct Metric {
    /// Its key in every file.
    pub name: &'static str,
    /// Names it is also written under, for readers of earlier files
    /// (`components_effective` for a codebook's perplexity).
    pub also_as: &'static [&'static str],
    /// For tables and axes, with the unit.
    pub label: &'static str,
    /// One sentence: what it is (the formula is in `docs/metrics.md`).
    pub doc: &'static str,
    pub applies: Applies,
    pub section: Section,
    /// Also at the top level of `summary.json` (test split), as before the registry.
    pub headline: bool,
    /// Its column in `vaekit report`, when it has one (usually its name).
    pub column: Option<&'static str>,
    /// Drawn over training by `vaekit plot` (scalars) when the run has it.
    pub plot: bool,
    /// Its part of the epoch line, from the evaluation's record.
    pub brief: Option<fn(&Record) -> Option<String>>,
    pub compute: fn(&Ctx) -> Option<Value>,
    /// Its value in a file written before it existed under this name.
    pub legacy: Option<fn(&Record) -> Option<Value>>,
}

impl Metric {
    /// A metric stored in `section`, computed by `compute`; not a headline,
    /// report column or figure, no brief, no older names — the builder
    /// methods below add those.
    pub const fn new(
        name: &'static str,
        label: &'static str,
        doc: &'static str,
        applies: Applies,
        section: Section,
        compute: fn(&Ctx) -> Option<Value>,
    ) -> Self {
        Self {
            name,
            also_as: &[],
            label,
            doc,
            applies,
            section,
            headline: false,
            column: None,
            plot: false,
            brief: None,
            compute,
            legacy: None,
        }
    }

    /// Also at the top level of `summary.json`.
    pub const fn headline(mut self) -> Self {
        self.headline = true;
        self
    }

    /// A column of `vaekit report`, under its name.
    pub const fn column(mut self) -> Self {
        self.column = Some(self.name);
        self
    }

    /// A column of `vaekit report` under a shorter name (`nll` for `nll_nats`).
    pub const fn column_as(mut self, column: &'static str) -> Self {
        self.column = Some(column);
        self
    }

    /// A panel of `metrics.png`.
    pub const fn plot(mut self) -> Self {
        self.plot = true;
        self
    }

    /// Also written under these older names.
    pub const fn also_as(mut self, names: &'static [&'static str]) -> Self {
        self.also_as = names;
        self
    }

    /// Its part of the epoch line.
    pub const fn brief(mut self, f: fn(&Record) -> Option<String>) -> Self {
        self.brief = Some(f);
        self
    }

    /// How to read it from files written before it had its name.
    pub const fn legacy(mut self, f: fn(&Record) -> Option<Value>) -> Self {
        self.legacy = Some(f);
        self
    }
}

/// Everything an evaluation produced, for the metrics to compute from.
pub struct Ctx<'a> {
    pub family: Family,
    pub data: &'a DataKind,
    pub monitor: &'a MonitorConfig,
    /// The ELBO pass over the held-out set, when one was made.
    pub elbo: Option<&'a ElboStats>,
    /// Every held-out example's posterior, read in the ELBO pass.
    pub posteriors: Option<&'a super::collapse::Posteriors>,
    /// Standard normal noise for the I(x;z) estimate, `m × z` (m examples).
    pub mi_noise: &'a [f32],
    /// Mixture priors: responsibilities p(k | z) of `m` posterior samples,
    /// row-major `[m, K]`, and K.
    pub responsibilities: Option<(&'a [f32], usize)>,
    /// Importance-sampled results per example, when computed.
    pub weights: Option<&'a super::iwae::PerExample>,
    /// Sample metrics computed by [`super::samples::score`], when samples were scored.
    pub samples: Option<&'a Record>,
    /// Widths of the model's stochastic layers ([`LatentModel::latent_layers`]
    /// (crate::models::LatentModel::latent_layers)); empty when unknown.
    pub layers: Vec<usize>,
    activity: OnceCell<Vec<f64>>,
}

impl<'a> Ctx<'a> {
    /// A context with nothing computed yet: set the fields an evaluation has.
    pub fn new(family: Family, data: &'a DataKind, monitor: &'a MonitorConfig) -> Self {
        Self {
            family,
            data,
            monitor,
            elbo: None,
            posteriors: None,
            mi_noise: &[],
            responsibilities: None,
            weights: None,
            samples: None,
            layers: Vec::new(),
            activity: OnceCell::new(),
        }
    }

    /// A_u per dimension, computed once however many metrics read it.
    pub fn activity(&self) -> Option<&[f64]> {
        let p = self.posteriors?;
        Some(self.activity.get_or_init(|| super::collapse::activity(p)))
    }

    /// Whether a metric that `applies` can be computed from this context.
    pub fn admits(&self, applies: &Applies) -> bool {
        applies.families.contains(&self.family)
            && (applies.tokens || !matches!(self.data, DataKind::Tokens { .. }))
            && applies.needs.iter().all(|n| match n {
                Need::ImportanceWeights => self.weights.is_some(),
                Need::MixturePrior => self.responsibilities.is_some(),
                Need::Samples => self.samples.is_some(),
                Need::Labels | Need::Features => self
                    .samples
                    .is_some_and(|s| s.get("classifier_accuracy").is_some()),
            })
    }
}

/// Every metric, in the order files list them.
pub fn all() -> &'static [Metric] {
    use super::{collapse, elbo, ess, grad_noise, iwae, samples, usage};
    static ALL: &[Metric] = &[
        elbo::N_EXAMPLES,
        elbo::ELBO,
        elbo::REC_LL,
        elbo::KL,
        elbo::KL_PER_DIM,
        elbo::PENALTY,
        collapse::ACTIVE_UNITS,
        collapse::AU_THRESHOLD,
        collapse::ACTIVITY,
        collapse::POSTERIOR_VAR,
        collapse::MI,
        collapse::ACTIVE_UNITS_BY_LAYER,
        collapse::KL_BY_LAYER,
        collapse::MI_BY_LAYER,
        usage::COMPONENT_USAGE,
        usage::COMPONENTS_EFFECTIVE,
        usage::CODEBOOK_USAGE,
        usage::CODEBOOK_PERPLEXITY,
        usage::CODES_USED,
        usage::DEAD_CODES,
        iwae::IWAE,
        iwae::IWAE_K,
        iwae::NLL_NATS,
        iwae::NLL_STD_ERR,
        iwae::NLL_PER_TOKEN,
        iwae::PPL,
        iwae::BITS_PER_DIM,
        iwae::BITS_PER_DIM_STD_ERR,
        iwae::ELBO_NATS,
        iwae::ELBO_STD_ERR,
        iwae::N_NONFINITE,
        iwae::RECONSTRUCTION_NATS,
        ess::ESS_MEAN_FRAC,
        ess::ESS_LOW,
        samples::registry::N_REAL,
        samples::registry::N_FAKE,
        samples::registry::CLASSIFIER_ACCURACY,
        samples::registry::FD,
        samples::registry::PRECISION,
        samples::registry::RECALL,
        samples::registry::DENSITY,
        samples::registry::COVERAGE,
        samples::registry::MMD2,
        samples::registry::MMD_BANDWIDTH,
        samples::registry::KID,
        samples::registry::KID_STD,
        samples::registry::KID_FULL,
        samples::registry::SWD,
        samples::registry::SWD_VALUES,
        samples::registry::SWD_PROJECTIONS,
        samples::registry::HF_RATIO,
        samples::registry::SPECTRAL_DISTANCE,
        samples::registry::NDB,
        samples::registry::NDB_FRAC,
        samples::registry::NDB_JS,
        samples::registry::CLASSIFIER_SCORE,
        samples::registry::CLASSIFIER_SCORE_STD,
        samples::registry::MODES_COVERED,
        samples::registry::MODES_TOTAL,
        samples::registry::MODE_KL,
        samples::registry::COMPONENT_MODES,
        samples::registry::UNIQUE_FRAC,
        samples::registry::MEAN_PAIRWISE_DIST,
        samples::registry::MEAN_PAIRWISE_DIST_REAL,
        samples::registry::LATENT_MMD,
        grad_noise::ENCODER_SNR,
        grad_noise::ENCODER_SNR_MEDIAN,
        grad_noise::ENCODER_VAR,
        grad_noise::ENCODER_MEAN_NORM,
        grad_noise::DECODER_SNR,
        grad_noise::DECODER_SNR_MEDIAN,
        grad_noise::DECODER_VAR,
        grad_noise::DECODER_MEAN_NORM,
        grad_noise::ESTIMATES,
    ];
    ALL
}

/// The metric called `name` (or, failing that, one written as `name` too).
pub fn find(name: &str) -> Option<&'static Metric> {
    all()
        .iter()
        .find(|m| m.name == name)
        .or_else(|| all().iter().find(|m| m.also_as.contains(&name)))
}

/// Compute every metric the context admits, in registry order.
pub fn evaluate(ctx: &Ctx) -> Record {
    let mut r = Record::new();
    for m in all() {
        if ctx.admits(&m.applies)
            && let Some(v) = (m.compute)(ctx)
        {
            r.insert(m.name, v);
        }
    }
    r
}

/// The record as files store it: each metric under its name and under the
/// older names it is `also_as` (unless another metric of the record owns
/// that name), and every headline metric of the record's sections, `null`
/// where it does not apply (a VQ-VAE has no active units) — readers of
/// earlier files find the keys they read.
pub fn stored(record: &Record) -> Record {
    let sections: Vec<Section> = record
        .iter()
        .filter_map(|(n, _)| find(n).map(|m| m.section))
        .collect();
    let mut out = Record::new();
    for m in all() {
        match record.get(m.name) {
            Some(v) => out.insert(m.name, v.clone()),
            None if m.headline && sections.contains(&m.section) => {
                out.insert(m.name, Value::Number(f64::NAN))
            }
            None => continue,
        }
    }
    for (name, value) in record.iter() {
        if out.get(name).is_none() {
            out.insert(name, value.clone()); // not a registered metric: kept as it is
        }
        for alias in find(name).map_or(&[][..], |m| m.also_as) {
            if record.get(alias).is_none() {
                out.insert(alias, value.clone());
            }
        }
    }
    out
}

/// The metrics of `record` kept in `section`, as files store them.
pub fn section(record: &Record, section: Section) -> Record {
    let mut part = Record::new();
    for (name, value) in record.iter() {
        if find(name).is_some_and(|m| m.section == section) {
            part.insert(name, value.clone());
        }
    }
    stored(&part)
}

/// Read metric `name` from a stored record (a `val` line, a summary
/// section), falling back to where files written before it had it.
///
/// An old name can be another metric's current name (a codebook's
/// perplexity was written as `components_effective`, now the mixture
/// priors' metric). A value stored under such a name belongs to the metric
/// that is `also_as` it whenever that metric is in the record (or readable
/// from it by its legacy rule), and then does not count as `name`. A value
/// that is not finite (`null` in the file) is absent.
pub fn read(stored: &Record, name: &str) -> Option<Value> {
    let owned_by_another = all().iter().any(|m| {
        m.name != name
            && m.also_as.contains(&name)
            && (stored.get(m.name).is_some() || m.legacy.and_then(|f| f(stored)).is_some())
    });
    let value = match stored.get(name) {
        Some(v) if !owned_by_another => Some(v.clone()),
        _ => find(name)
            .filter(|m| m.name == name)
            .and_then(|m| m.legacy)
            .and_then(|f| f(stored)),
    };
    value.filter(|v| v.as_f64().is_none_or(f64::is_finite))
}

/// The epoch line's metric part: each metric's brief, in registry order.
pub fn brief(record: &Record) -> String {
    all()
        .iter()
        .filter(|m| record.get(m.name).is_some())
        .filter_map(|m| m.brief.and_then(|f| f(record)))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Every metric as a readable list (`vaekit metrics`): name, where it is
/// stored, what it applies to, and what it is.
pub fn describe() -> String {
    let mut s = format!(
        "{:<22} {:<16} {:<26} {:<14} what\n",
        "metric", "stored in", "applies to", "report column"
    );
    for m in all() {
        let stored = match m.section {
            Section::Elbo => "summary test",
            Section::Monitor => "summary monitor",
            Section::Iwae => "eval-k*.json",
            Section::Samples => "eval (samples)",
            Section::Gradients => "summary grad_noise",
        };
        let fam: Vec<&str> = m
            .applies
            .families
            .iter()
            .map(|f| match f {
                Family::Gaussian => "gaussian",
                Family::Codes => "codes",
            })
            .collect();
        let mut applies = fam.join("+");
        for n in m.applies.needs {
            applies.push_str(match n {
                Need::ImportanceWeights => ", weights",
                Need::MixturePrior => ", mixture",
                Need::Samples => ", samples",
                Need::Labels => ", labels",
                Need::Features => ", features",
            });
        }
        let also = if m.also_as.is_empty() {
            String::new()
        } else {
            format!(" (also written as {})", m.also_as.join(", "))
        };
        s.push_str(&format!(
            "{:<22} {:<16} {:<26} {:<14} {}{also}\n",
            m.name,
            stored,
            applies,
            m.column.unwrap_or("-"),
            m.doc
        ));
    }
    s.push_str(
        "\nEvery metric that applies is in the validation lines of metrics.jsonl and in \
         summary.json; `vaekit report --metrics` takes the report columns above (and \
         wall_time_s). Formulas: docs/metrics.md.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_an_alias_never_meets_its_namesake() {
        let names: Vec<&str> = all().iter().map(|m| m.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} registered twice");
        }
        // An old name may now belong to another metric (a codebook's
        // perplexity was `components_effective`), but only to one that
        // applies to another posterior family, so one record never needs
        // both under the same name.
        for m in all() {
            for a in m.also_as {
                if let Some(other) = all().iter().find(|o| o.name == *a) {
                    assert!(
                        m.applies
                            .families
                            .iter()
                            .all(|f| !other.applies.families.contains(f)),
                        "{}: alias {a} can meet the metric of that name",
                        m.name
                    );
                }
            }
        }
    }

    #[test]
    fn aliases_are_written_and_read_back_as_their_own_metric_only() {
        let mut r = Record::new();
        r.insert("codebook_perplexity", Value::Number(3.0));
        r.insert("codes_used", Value::Count(5));
        let w = stored(&r);
        assert_eq!(w.float("components_effective"), Some(3.0));
        assert_eq!(w.float("codebook_perplexity"), Some(3.0));
        // Read back: the codebook's value under the old name is not a
        // mixture's effective number of components.
        assert_eq!(read(&w, "codebook_perplexity"), Some(Value::Number(3.0)));
        assert_eq!(read(&w, "components_effective"), None);
        // A file from before the registry: only the old name, and codes_used.
        let mut old = Record::new();
        old.insert("components_effective", Value::Number(2.5));
        old.insert("codes_used", Value::Count(4));
        assert_eq!(read(&old, "codebook_perplexity"), Some(Value::Number(2.5)));
        assert_eq!(read(&old, "components_effective"), None);
        // A mixture's own metric is its own.
        let mut mix = Record::new();
        mix.insert("components_effective", Value::Number(2.0));
        assert!(stored(&mix).get("codebook_perplexity").is_none());
        assert_eq!(read(&mix, "components_effective"), Some(Value::Number(2.0)));
        assert_eq!(read(&mix, "codebook_perplexity"), None);
    }

    #[test]
    fn headline_metrics_are_always_stored_null_where_they_do_not_apply() {
        let mut r = Record::new();
        r.insert("elbo", Value::Number(-1.0));
        r.insert("codes_used", Value::Count(4));
        let s = stored(&r);
        // active_units and mi are headlines of the monitor section, present here.
        assert!(s.float("active_units").unwrap().is_nan());
        assert!(s.float("mi").unwrap().is_nan());
        assert_eq!(read(&s, "active_units"), None);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"active_units\":null"), "{json}");
        // A section holds only its own headlines.
        let elbo_only = section(&r, Section::Elbo);
        assert!(elbo_only.get("active_units").is_none());
        assert!(elbo_only.get("kl").unwrap().as_f64().unwrap().is_nan());
    }
}
