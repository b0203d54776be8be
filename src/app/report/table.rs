//! `vaekit report`: one row per group of runs, mean ± std (and n) over the
//! runs of the group (typically seeds), as Markdown, LaTeX or CSV.
//!
//! Values come from each run's `summary.json` and, for likelihoods, its
//! `eval-k*.json` (the largest k present, unless `--k` picks one). A run
//! without the file a metric needs is counted as missing for that metric —
//! shown as such, never filled in.

use crate::core::error::{Error, Result};
use crate::metrics::registry::{self, Section};
use crate::metrics::{Metric, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Output format (`--format`; `md` and `tex` are accepted too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[value(alias = "md")]
    Markdown,
    #[value(alias = "tex")]
    Latex,
    Csv,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "markdown" | "md" => Ok(Format::Markdown),
            "latex" | "tex" => Ok(Format::Latex),
            "csv" => Ok(Format::Csv),
            other => Err(Error::Usage(format!(
                "--format {other}: expected markdown, latex or csv"
            ))),
        }
    }
}

/// Columns that are not registry metrics: the training time, and
/// `perplexity`, the name earlier versions gave to both a codebook's
/// perplexity and a mixture's effective components.
const EXTRA: &[(&str, &str)] = &[
    ("wall_time_s", "summary: training time (s)"),
    (
        "perplexity",
        "summary: codebook_perplexity, else components_effective (the earlier name of both)",
    ),
];

/// The registry's metrics that are report columns: (column, metric).
fn metric_columns() -> impl Iterator<Item = (&'static str, &'static Metric)> {
    registry::all()
        .iter()
        .filter_map(|m| m.column.map(|c| (c, m)))
}

/// Every column a report can show, with where it comes from: the metric
/// registry's columns (from `summary.json`, or `eval-k*.json` for
/// importance-sampled metrics) and [`EXTRA`].
pub fn columns() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = metric_columns()
        .map(|(c, m)| {
            let source = if matches!(m.section, Section::Iwae | Section::Samples) {
                "eval"
            } else {
                "summary"
            };
            (c.to_string(), format!("{source}: {} — {}", m.name, m.label))
        })
        .collect();
    out.extend(EXTRA.iter().map(|(n, d)| (n.to_string(), d.to_string())));
    out
}

/// Whether column `name` comes from `eval-k*.json`.
fn from_eval(name: &str) -> bool {
    metric_columns()
        .any(|(c, m)| c == name && matches!(m.section, Section::Iwae | Section::Samples))
}

/// What one run provides.
#[derive(Debug, Clone)]
struct RunValues {
    group: String,
    /// From `summary.json`.
    values: BTreeMap<String, f64>,
    /// From each `eval-k{k}.json`: k → (nll, bits/dim).
    evals: BTreeMap<usize, BTreeMap<String, f64>>,
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::bad_file(path, format!("not valid JSON: {e}"))),
        Err(_) => Ok(None),
    }
}

/// A run's test-split eval files, by k.
fn eval_files(run: &Path) -> Vec<(usize, PathBuf)> {
    std::fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let k = name
                .strip_prefix("eval-k")?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((k, e.path()))
        })
        .collect()
}

/// A dotted key's value in a run's `config.toml`, as text.
fn config_value(config: &toml::Table, key: &str) -> Option<String> {
    let mut node = config.get(key.split('.').next()?)?;
    for part in key.split('.').skip(1) {
        node = node.as_table()?.get(part)?;
    }
    Some(match node {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn read_run(run: &Path, group_by: &[String]) -> Result<RunValues> {
    let cfg_path = run.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path).map_err(|_| {
        Error::Usage(format!(
            "{}: not a vaekit run directory (no config.toml)",
            run.display()
        ))
    })?;
    let mut config: toml::Table = toml::from_str(&text)
        .map_err(|e| Error::bad_file(&cfg_path, format!("not valid TOML: {}", e.message())))?;
    // Group keys are read from the config as it resolves now (defaults
    // filled in, keys of older versions moved), so runs of every version
    // answer the same key paths; a config that no longer loads is read as
    // it is written.
    match crate::app::config::ExperimentConfig::load(Some(&cfg_path), &[]) {
        Ok(cfg) => {
            if let Ok(toml::Value::Table(t)) = toml::Value::try_from(&cfg) {
                config = t;
            }
        }
        Err(_) => {
            if let Some(toml::Value::Table(model)) = config.get_mut("model") {
                crate::models::config::ModelConfig::migrate(model);
            }
        }
    }
    let group = group_by
        .iter()
        .map(|key| {
            if let Some(new) = crate::models::config::ModelConfig::moved_key(key) {
                return Err(Error::Usage(format!(
                    "--group-by {key}: this key has moved to {new}"
                )));
            }
            let v = config_value(&config, key).ok_or_else(|| {
                Error::Usage(format!(
                    "--group-by {key}: {} has no such config key",
                    cfg_path.display()
                ))
            })?;
            Ok(if group_by.len() == 1 {
                v
            } else {
                format!("{key}={v}")
            })
        })
        .collect::<Result<Vec<_>>>()?
        .join(", ");
    let mut values = BTreeMap::new();
    if let Some(s) = read_json(&run.join("summary.json"))? {
        // The test split's metrics: top-level headlines and every section.
        let mut test = Record::from_json(&s);
        for section in [
            Section::Elbo,
            Section::Monitor,
            Section::Iwae,
            Section::Gradients,
        ] {
            for (k, v) in Record::from_json(&s[section.summary_key("test")]).iter() {
                test.insert(k, v.clone());
            }
        }
        for (column, m) in
            metric_columns().filter(|(_, m)| !matches!(m.section, Section::Iwae | Section::Samples))
        {
            if let Some(v) = registry::read(&test, m.name).and_then(|v| v.as_f64()) {
                values.insert(column.to_string(), v);
            }
        }
        if let Some(v) = test.float("wall_time_s") {
            values.insert("wall_time_s".into(), v);
        }
        let perplexity = [
            crate::metrics::usage::CODEBOOK_PERPLEXITY.name,
            crate::metrics::usage::COMPONENTS_EFFECTIVE.name,
        ]
        .iter()
        .find_map(|n| values.get(*n).copied());
        if let Some(p) = perplexity {
            values.insert("perplexity".into(), p);
        }
    }
    let mut evals = BTreeMap::new();
    for (k, path) in eval_files(run) {
        if let Some(e) = read_json(&path)? {
            let record = Record::from_json(&e);
            let mut m = BTreeMap::new();
            for (column, metric) in metric_columns()
                .filter(|(_, m)| matches!(m.section, Section::Iwae | Section::Samples))
            {
                if let Some(v) = registry::read(&record, metric.name).and_then(|v| v.as_f64()) {
                    m.insert(column.to_string(), v);
                }
            }
            evals.insert(k, m);
        }
    }
    Ok(RunValues {
        group,
        values,
        evals,
    })
}

/// Mean, sample standard deviation (n − 1) and n of finite values.
pub fn mean_std(v: &[f64]) -> Option<(f64, f64, usize)> {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let m = v.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some((m, sd, n))
}

/// Options of `vaekit report`.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Config keys that define a group (default: `name`).
    pub group_by: Vec<String>,
    /// Metrics to show, from [`columns`].
    pub metrics: Vec<String>,
    pub format: Format,
    /// Use `eval-k{k}.json` (default: per group, the largest k every evaluated run has).
    pub k: Option<usize>,
    /// Groups to list first, in this order (the rest follow alphabetically).
    pub order: Vec<String>,
    /// Runs each group should have (a study's seeds): a group with fewer
    /// readable runs counts the others as missing, and a group with none is
    /// still a row, all missing.
    pub expected: BTreeMap<String, usize>,
}

/// One group's row.
struct Row {
    group: String,
    runs: usize,
    cells: Vec<Option<(f64, f64, usize)>>,
}

/// Build the table for `runs`.
pub fn report(runs: &[PathBuf], opts: &ReportOptions) -> Result<String> {
    if runs.is_empty() {
        return Err(Error::Usage(
            "vaekit report: name at least one run directory".into(),
        ));
    }
    let columns = columns();
    for m in &opts.metrics {
        if !columns.iter().any(|(name, _)| name == m) {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Usage(format!(
                "--metrics: unknown metric {m:?}; available: {}",
                names.join(", ")
            )));
        }
    }
    let group_by = if opts.group_by.is_empty() {
        vec!["name".to_string()]
    } else {
        opts.group_by.clone()
    };
    let values: Vec<RunValues> = runs
        .iter()
        .map(|r| read_run(r, &group_by))
        .collect::<Result<_>>()?;
    let mut groups: BTreeMap<String, Vec<&RunValues>> = BTreeMap::new();
    for v in &values {
        groups.entry(v.group.clone()).or_default().push(v);
    }
    for g in opts.expected.keys() {
        groups.entry(g.clone()).or_default();
    }
    // Likelihoods of one group come from one k: `--k`, else the largest k
    // that every run of the group with an eval has.
    let mut ks = std::collections::BTreeSet::new();
    let rows: Vec<Row> = groups
        .iter()
        .map(|(g, members)| {
            let k = opts.k.or_else(|| {
                let with: Vec<_> = members.iter().filter(|r| !r.evals.is_empty()).collect();
                let first = with.first()?;
                first
                    .evals
                    .keys()
                    .rev()
                    .find(|k| with.iter().all(|r| r.evals.contains_key(k)))
                    .copied()
            });
            Row {
                group: g.clone(),
                runs: members
                    .len()
                    .max(opts.expected.get(g).copied().unwrap_or(0)),
                cells: opts
                    .metrics
                    .iter()
                    .map(|m| {
                        let v: Vec<f64> = members
                            .iter()
                            .filter_map(|r| {
                                if from_eval(m) {
                                    let got = k
                                        .and_then(|k| r.evals.get(&k))
                                        .and_then(|e| e.get(m))
                                        .copied();
                                    if got.is_some() {
                                        ks.insert(k.unwrap_or(0));
                                    }
                                    got
                                } else {
                                    r.values.get(m).copied()
                                }
                            })
                            .collect();
                        mean_std(&v)
                    })
                    .collect(),
            }
        })
        .collect();
    let note = if ks.is_empty() {
        String::new()
    } else {
        let ks: Vec<String> = ks.iter().map(|k| k.to_string()).collect();
        format!("likelihoods: IWAE with k = {}", ks.join(", "))
    };
    let rank = |g: &str| opts.order.iter().position(|o| o == g).unwrap_or(usize::MAX);
    let mut rows = rows;
    rows.sort_by(|a, b| {
        rank(&a.group)
            .cmp(&rank(&b.group))
            .then(a.group.cmp(&b.group))
    });
    Ok(match opts.format {
        Format::Markdown => markdown(&group_by, &opts.metrics, &rows, &note),
        Format::Latex => latex(&group_by, &opts.metrics, &rows, &note),
        Format::Csv => csv(&opts.metrics, &rows),
    })
}

/// Decimals for a value of this size: 2 from 10 up, 3 from 1, 4 below
/// (bits/dim, say, need more than nats).
fn decimals(v: f64) -> usize {
    match v.abs() {
        a if a >= 10.0 => 2,
        a if a >= 1.0 => 3,
        _ => 4,
    }
}

fn num(v: f64) -> String {
    format!("{v:.*}", decimals(v))
}

/// `v` with as many decimals as `like` gets (a std beside its mean).
fn num_like(v: f64, like: f64) -> String {
    format!("{v:.*}", decimals(like))
}

fn cell_text(c: &Option<(f64, f64, usize)>, runs: usize, pm: &str) -> String {
    match c {
        None => "missing".into(),
        Some((m, _, 1)) => format!("{} (n=1 of {runs})", num(*m)),
        Some((m, sd, n)) if *n < runs => {
            format!("{} {pm} {} (n={n} of {runs})", num(*m), num_like(*sd, *m))
        }
        Some((m, sd, n)) => format!("{} {pm} {} (n={n})", num(*m), num_like(*sd, *m)),
    }
}

fn markdown(group_by: &[String], metrics: &[String], rows: &[Row], note: &str) -> String {
    let mut s = format!(
        "| {} | runs | {} |\n",
        group_by.join(", "),
        metrics.join(" | ")
    );
    s.push_str(&format!("|---|---|{}\n", "---|".repeat(metrics.len())));
    for r in rows {
        let cells: Vec<String> = r.cells.iter().map(|c| cell_text(c, r.runs, "±")).collect();
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            r.group,
            r.runs,
            cells.join(" | ")
        ));
    }
    if !note.is_empty() {
        s.push_str(&format!(
            "\nMean ± sample standard deviation over runs; {note}.\n"
        ));
    }
    s
}

fn latex_escape(s: &str) -> String {
    s.replace('\\', "\\textbackslash{}")
        .replace('_', "\\_")
        .replace('%', "\\%")
        .replace('&', "\\&")
        .replace('#', "\\#")
}

fn latex(group_by: &[String], metrics: &[String], rows: &[Row], note: &str) -> String {
    let mut s = String::from("% generated by vaekit report; needs \\usepackage{booktabs}\n");
    s.push_str(&format!(
        "\\begin{{tabular}}{{l{}}}\n\\toprule\n",
        "r".repeat(metrics.len() + 1)
    ));
    let head: Vec<String> = metrics.iter().map(|m| latex_escape(m)).collect();
    s.push_str(&format!(
        "{} & runs & {} \\\\\n\\midrule\n",
        latex_escape(&group_by.join(", ")),
        head.join(" & ")
    ));
    for r in rows {
        let cells: Vec<String> = r
            .cells
            .iter()
            .map(|c| match c {
                None => "---".into(),
                Some((m, _, 1)) => format!("${}$ (1/{})", num(*m), r.runs),
                Some((m, sd, n)) if *n < r.runs => {
                    format!("${} \\pm {}$ ({n}/{})", num(*m), num_like(*sd, *m), r.runs)
                }
                Some((m, sd, _)) => format!("${} \\pm {}$", num(*m), num_like(*sd, *m)),
            })
            .collect();
        s.push_str(&format!(
            "{} & {} & {} \\\\\n",
            latex_escape(&r.group),
            r.runs,
            cells.join(" & ")
        ));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n");
    if !note.is_empty() {
        s.push_str(&format!("% mean $\\pm$ sample std over runs; {note}\n"));
    }
    s
}

fn csv(metrics: &[String], rows: &[Row]) -> String {
    let mut s = String::from("group,runs");
    for m in metrics {
        s.push_str(&format!(",{m}_mean,{m}_std,{m}_n"));
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!("\"{}\",{}", r.group.replace('"', "\"\""), r.runs));
        for c in &r.cells {
            match c {
                Some((m, _, 1)) => s.push_str(&format!(",{m},,1")),
                Some((m, sd, n)) => s.push_str(&format!(",{m},{sd},{n}")),
                None => s.push_str(",,,0"),
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_run(
        root: &Path,
        name: &str,
        beta: f64,
        elbo: Option<f64>,
        nll: Option<f64>,
    ) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("config.toml"),
            format!("name = \"x\"\n[schedule]\nbeta = {beta:?}\n"),
        )
        .unwrap();
        if let Some(e) = elbo {
            std::fs::write(
                d.join("summary.json"),
                format!("{{\"elbo\": {e}, \"kl\": 3.0}}"),
            )
            .unwrap();
        }
        if let Some(n) = nll {
            std::fs::write(
                d.join("eval-k100.json"),
                format!("{{\"nll_nats\": {n}, \"bits_per_dim\": 0.1}}"),
            )
            .unwrap();
        }
        d
    }

    #[test]
    fn groups_means_standard_deviations_and_missing_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = vec![
            fake_run(tmp.path(), "a0", 1.0, Some(-100.0), Some(95.0)),
            fake_run(tmp.path(), "a1", 1.0, Some(-102.0), Some(97.0)),
            fake_run(tmp.path(), "a2", 1.0, None, None),
            fake_run(tmp.path(), "b0", 4.0, None, None),
        ];
        let opts = ReportOptions {
            group_by: vec!["schedule.beta".into()],
            metrics: vec!["elbo".into(), "nll".into()],
            format: Format::Csv,
            k: None,
            order: Vec::new(),
            expected: BTreeMap::new(),
        };
        let out = report(&runs, &opts).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "group,runs,elbo_mean,elbo_std,elbo_n,nll_mean,nll_std,nll_n"
        );
        // β = 1: mean −101, sample std √2, from 2 of 3 runs.
        assert_eq!(
            lines[1],
            format!("\"1.0\",3,-101,{},2,96,{},2", 2f64.sqrt(), 2f64.sqrt())
        );
        // β = 4: nothing finished: shown as missing, never filled in.
        assert_eq!(lines[2], "\"4.0\",1,,,0,,,0");
        let md = report(
            &runs,
            &ReportOptions {
                format: Format::Markdown,
                ..opts.clone()
            },
        )
        .unwrap();
        assert!(
            md.contains("-101.00 ± 1.41 (n=2 of 3)") && md.contains("missing"),
            "{md}"
        );
        let tex = report(
            &runs,
            &ReportOptions {
                format: Format::Latex,
                ..opts
            },
        )
        .unwrap();
        assert!(
            tex.contains("$-101.00 \\pm 1.41$ (2/3)") && tex.contains("---"),
            "{tex}"
        );
        assert!(tex.contains("\\toprule") && tex.contains("k = 100"));
    }

    #[test]
    fn unknown_metric_or_key_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = vec![fake_run(tmp.path(), "a", 1.0, Some(-1.0), None)];
        let mut opts = ReportOptions {
            group_by: vec![],
            metrics: vec!["elbow".into()],
            format: Format::Markdown,
            k: None,
            order: Vec::new(),
            expected: BTreeMap::new(),
        };
        assert!(
            report(&runs, &opts)
                .unwrap_err()
                .to_string()
                .contains("elbow")
        );
        opts.metrics = vec!["elbo".into()];
        opts.group_by = vec!["model.nope".into()];
        assert!(
            report(&runs, &opts)
                .unwrap_err()
                .to_string()
                .contains("model.nope")
        );
    }
}
