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
}

impl Section {
    /// The key of this section for `split` (`test` or `val`) in `summary.json`.
    pub fn summary_key(self, split: &str) -> String {
        match self {
            Section::Elbo => split.to_string(),
            Section::Monitor => format!("{split}_monitor"),
            Section::Iwae => format!("{split}_iwae"),
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
    /// Wherever importance weights were computed.
    pub const WEIGHTS: Applies = Applies {
        families: &[Family::Gaussian, Family::Codes],
        tokens: true,
        needs: &[Need::ImportanceWeights],
    };
}

/// One metric.
pub struct Metric {
    /// Its key in every file, and its column in `vaekit report`.
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
    /// Offered as a column by `vaekit report`.
    pub column: bool,
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
            column: false,
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

    /// A column of `vaekit report`.
    pub const fn column(mut self) -> Self {
        self.column = true;
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
                Need::Samples | Need::Labels | Need::Features => false,
            })
    }
}

/// Every metric, in the order files list them.
pub fn all() -> &'static [Metric] {
    use super::{collapse, elbo, ess, iwae, usage};
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
        usage::COMPONENT_USAGE,
        usage::COMPONENTS_EFFECTIVE,
        usage::CODEBOOK_USAGE,
        usage::CODEBOOK_PERPLEXITY,
        usage::CODES_USED,
        usage::DEAD_CODES,
        iwae::IWAE,
        iwae::IWAE_K,
        ess::ESS_MEAN_FRAC,
        ess::ESS_LOW,
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
/// older names it is `also_as`, unless another metric of the record already
/// owns that name.
pub fn with_aliases(record: &Record) -> Record {
    let mut out = Record::new();
    for (name, value) in record.iter() {
        out.insert(name, value.clone());
        for alias in find(name).map_or(&[][..], |m| m.also_as) {
            if record.get(alias).is_none() {
                out.insert(alias, value.clone());
            }
        }
    }
    out
}

/// The metrics of `record` kept in `section`, with their aliases.
pub fn section(record: &Record, section: Section) -> Record {
    let mut part = Record::new();
    for (name, value) in record.iter() {
        if find(name).is_some_and(|m| m.section == section) {
            part.insert(name, value.clone());
        }
    }
    with_aliases(&part)
}

/// Read metric `name` from a stored record (a `val` line, a summary
/// section), falling back to where files written before it had it.
pub fn read(stored: &Record, name: &str) -> Option<Value> {
    if let Some(v) = stored.get(name) {
        return Some(v.clone());
    }
    find(name).and_then(|m| m.legacy).and_then(|f| f(stored))
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
    let mut s =
        String::from("metric                 stored in        applies to                 what\n");
    for m in all() {
        let stored = match m.section {
            Section::Elbo => "summary test",
            Section::Monitor => "summary monitor",
            Section::Iwae => "eval-k*.json",
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
            "{:<22} {:<16} {:<26} {}{also}\n",
            m.name, stored, applies, m.doc
        ));
    }
    s.push_str(
        "\nEvery metric is in the validation lines of metrics.jsonl; `vaekit report --metrics` \
         takes the names above (and nll, bits_per_dim, wall_time_s). Formulas: docs/metrics.md.\n",
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
    fn aliases_are_written_unless_the_name_is_taken() {
        let mut r = Record::new();
        r.insert("codebook_perplexity", Value::Number(3.0));
        let w = with_aliases(&r);
        assert_eq!(w.float("components_effective"), Some(3.0));
        assert_eq!(w.float("codebook_perplexity"), Some(3.0));
        let mut r = Record::new();
        r.insert("components_effective", Value::Number(2.0));
        assert_eq!(with_aliases(&r).len(), 1);
    }
}
