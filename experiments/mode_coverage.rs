//! Study 7 — mode coverage: do a VAE's samples x ~ p(x|z) cover the data,
//! all its modes in the right proportions? A VAE with a standard normal
//! prior and one with a learned Gaussian-mixture prior (K = 10), on the
//! MNIST files, scored with every sample metric (docs/metrics.md) next to
//! their NLL and collapse statistics, mean ± std over seeds. Two positive
//! controls bracket them: the held-out test set (what "no collapse" looks
//! like: real digits, every class) and a deliberately collapsed generator
//! (test digits of the first half of the classes: 0–4 on MNIST) — which
//! metric sees what.
//!
//! Every row draws the same number of samples N (the test set's size, at
//! most 2,000 in quick mode and 10,000 in full), binarized as the Bernoulli
//! models see the data.
//!
//! `cargo run --release --bin mode_coverage -- --quick` (docs/reproducing.md).

use rand::Rng;
use std::path::{Path, PathBuf};
use vaekit::data::sample_files::SampleArray;
use vaekit::evaluate::Split;
use vaekit::metrics::samples::{self, SampleOptions};
use vaekit::report::plot::samples as figures;
use vaekit::study::{Study, StudyOutcome, Trained, json_value, mean_std, test_metric};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The MNIST files that come with the project.
const DEFAULT_DATA: &str = concat!(
    "idx:",
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/mnist-10k"
);

fn main() -> std::process::ExitCode {
    vaekit::study::main_with_default_data("mode_coverage", DEFAULT_DATA, run)
}

/// Table columns: (header, where the value comes from).
const COLUMNS: &[(&str, Source)] = &[
    ("NLL", Source::Eval("nll_nats")),
    ("KL", Source::Summary("kl")),
    ("AU", Source::Summary("active_units")),
    ("comp. used", Source::Summary("components_effective")),
    ("FD", Source::Eval("fd")),
    ("precision", Source::Eval("precision")),
    ("recall", Source::Eval("recall")),
    ("density", Source::Eval("density")),
    ("coverage", Source::Eval("coverage")),
    ("KID", Source::Eval("kid")),
    ("NDB/K", Source::Eval("ndb_frac")),
    ("modes", Source::Eval("modes_covered")),
    ("mode KL", Source::Eval("mode_kl")),
    ("comp. classes", Source::Eval("component_modes")),
    ("distinct", Source::Eval("unique_frac")),
    ("latent MMD", Source::Eval("latent_mmd")),
];

#[derive(Clone, Copy)]
enum Source {
    /// `summary.json`'s test metrics.
    Summary(&'static str),
    /// `eval-k{K}.json` (sample metrics included).
    Eval(&'static str),
}

/// A table row: its name and, per column, the values over seeds.
struct Row {
    name: String,
    values: Vec<Vec<f64>>,
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 10 } else { 50 });
    let max_samples = if study.quick { 2000 } else { 10_000 };
    let variants: Vec<(String, Vec<String>)> = vec![
        (
            "vae".into(),
            vec!["model.kind=vae".into(), "model.latent_dim=10".into()],
        ),
        (
            "gmm-10".into(),
            vec![
                "model.kind=gmm".into(),
                "model.gmm.components=10".into(),
                "model.latent_dim=10".into(),
            ],
        ),
    ];
    let settings = study.settings(epochs, &variants);
    let Trained::Done(trained) = study.train(&settings)? else {
        return Ok(StudyOutcome::Planned);
    };
    let mut files = Vec::new();
    let mut md = String::new();
    let (mut tex, mut csv) = (String::new(), String::from("data,setting"));
    for (h, _) in COLUMNS {
        csv.push_str(&format!(",{h} mean,{h} std"));
    }
    csv.push('\n');
    let opts = SampleOptions::default();
    for (spec, label) in &study.data {
        // The data config the runs were trained with (the study's own
        // overrides included), so that the controls meet the runs' reference.
        let first_run = vaekit::study::of_data(&trained, label)
            .iter()
            .find_map(|t| t.finished.first().cloned());
        let cfg = match &first_run {
            Some(run) => vaekit::run::load_config(run)?,
            None => {
                let mut o = vec![format!("data.spec={spec}")];
                o.extend(study.user_overrides.iter().cloned());
                vaekit::config::ExperimentConfig::load(None, &o)?
            }
        };
        let mut data_cfg = cfg.data.clone();
        data_cfg.limit = 0;
        let splits = vaekit::data::load(&data_cfg, 0)?;
        let Some(test) = splits.test.images() else {
            return Err(vaekit::Error::Usage(format!(
                "{spec}: mode_coverage needs images"
            )));
        };
        let n = test.n.min(max_samples);
        // The runs: NLL and every sample metric on N samples each.
        let runs: Vec<PathBuf> = vaekit::study::of_data(&trained, label)
            .iter()
            .flat_map(|t| t.finished.clone())
            .collect();
        study.evaluate_with_samples(&runs, study.k, n);
        let binarize = cfg.model.binarizes();
        let reference = vaekit::score::reference_for_data(
            &cfg.data,
            binarize,
            &opts,
            &study.device,
            &mut |m| println!("  {m}"),
        )?;
        let mut rows = Vec::new();
        for t in vaekit::study::of_data(&trained, label) {
            rows.push(Row {
                name: t.setting.clone(),
                values: COLUMNS
                    .iter()
                    .map(|(_, s)| {
                        t.finished
                            .iter()
                            .filter_map(|r| value(r, *s, study.k))
                            .collect()
                    })
                    .collect(),
            });
        }
        // The controls, scored against the same reference.
        let fig_dir = study.figures_dir().join(label);
        vaekit::fsutil::create_dir_all(&fig_dir)?;
        let labels = test.labels.clone().unwrap_or_default();
        // The collapsed generator keeps the first half of the classes (0–4 of MNIST's 10).
        let kept = reference.info.classes.div_ceil(2).max(1);
        let collapsed = format!("control: classes 0-{} only", kept - 1);
        let controls: [(&str, Vec<usize>); 2] = [
            ("control: test set", (0..test.n).collect()),
            (
                &collapsed,
                (0..test.n)
                    .filter(|&i| labels.get(i).is_some_and(|&c| (c as usize) < kept))
                    .collect(),
            ),
        ];
        for (c, (name, pool)) in controls.iter().enumerate() {
            if pool.is_empty() {
                println!("{name}: the test set has no such images (no labels?); skipped");
                continue;
            }
            let fake = control_samples(test, pool, n, binarize, c as u64, name);
            let s = samples::score(&reference, &fake, &opts, &study.device)?;
            let values = COLUMNS
                .iter()
                .map(|(_, src)| match src {
                    Source::Eval(key) => s.record.float(key).into_iter().collect(),
                    Source::Summary(_) => Vec::new(),
                })
                .collect();
            let stem = format!("{}-ndb-bins", slug(name));
            files.extend(figures::ndb_bins(
                &fig_dir,
                &stem,
                &s.ndb.real,
                &s.ndb.fake,
                &s.ndb.significant,
                name,
            )?);
            let grid = vaekit::sample::Drawn {
                pixels: fake.values[..fake.dim * n.min(100)].to_vec(),
                rows: test.rows,
                cols: test.cols,
                channels: test.channels,
            };
            files.push(vaekit::sample::write_grid(
                &fig_dir.join(format!("{}-samples.png", slug(name))),
                &grid,
                3,
            )?);
            rows.push(Row {
                name: name.to_string(),
                values,
            });
        }
        // Each setting's first seed: its sample figures.
        for t in vaekit::study::of_data(&trained, label) {
            if let Some(run) = t.finished.first() {
                for fig in [
                    "ndb-bins",
                    "component-classes",
                    "latent-classes",
                    "samples-grid",
                ] {
                    let src = run.join("plots").join(format!("{fig}.png"));
                    if src.is_file() {
                        let dst = fig_dir.join(format!("{}-{fig}.png", t.setting));
                        let bytes = vaekit::fsutil::read(&src)?;
                        vaekit::fsutil::write_atomic(&dst, &bytes)?;
                        files.push(dst);
                    }
                }
            }
        }
        files.extend(study.plot_first_seeds(&trained, label)?);
        md.push_str(&markdown(label, n, &rows));
        tex.push_str(&latex(label, &rows));
        for r in &rows {
            csv.push_str(&format!("{label},{}", r.name));
            for v in &r.values {
                let (m, s) = mean_std(v);
                csv.push_str(&format!(",{m},{s}"));
            }
            csv.push('\n');
        }
        println!("{}", markdown(label, n, &rows));
    }
    let intro = format!(
        "Mode coverage of a VAE (standard normal prior) and a VAE with a learned 10-component \
         Gaussian-mixture prior, 10 latent dimensions, {epochs} epochs; mean ± std over seeds. \
         NLL: IWAE with k = {k}. Sample metrics on N samples x ~ p(x|z), z ~ p(z), against the \
         training split (binarized as the models see it), features of vaekit's LeNet classifier \
         (its test accuracy is in each run's eval-k{k}-samples.json): FD = Fréchet distance on \
         those features (not comparable with published FIDs); precision/recall k = 3; \
         density/coverage k = 5; KID cubic kernel; NDB/K over 100 K-means bins; modes = classes \
         covered (of the classes); comp. classes = distinct majority classes of the mixture's components; \
         distinct = share of distinct samples; latent MMD = MMD² between the aggregate posterior \
         and the prior (IMQ). `comp. used` = exp H of the aggregate posterior's component usage. \
         The controls are not models: the test set, and the test images of the first half of \
         the classes only (0–4 on MNIST; cycled, each pass binarized afresh, to N). Definitions: docs/metrics.md.",
        k = study.k
    );
    files.extend(study.write_results(&intro, &md, &tex, &csv)?);
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}

/// A column's value for one run.
fn value(run: &Path, src: Source, k: usize) -> Option<f64> {
    match src {
        Source::Summary(name) => test_metric(run, name),
        Source::Eval(key) => json_value(
            &run.join(format!(
                "{}.json",
                vaekit::evaluate::report_stem(k, Split::Test)
            )),
            &format!("/{key}"),
        ),
    }
}

/// `n` control samples cycling through the test images at `pool`, each
/// pass binarized afresh when the models see binarized data.
fn control_samples(
    test: &vaekit::data::ImageSet,
    pool: &[usize],
    n: usize,
    binarize: bool,
    which: u64,
    name: &str,
) -> SampleArray {
    let d = test.dim();
    let mut values = Vec::with_capacity(n * d);
    for j in 0..n {
        let i = pool[j % pool.len()];
        let mut rng = vaekit::rng::stream(
            which,
            vaekit::rng::Purpose::Eval,
            9_000 + (j / pool.len()) as u64,
            i as u64,
        );
        values.extend(test.image(i).iter().map(|&p| {
            if binarize {
                (rng.random::<f32>() < p) as u8 as f32
            } else {
                p
            }
        }));
    }
    SampleArray {
        values,
        n,
        image: Some((test.rows, test.cols, test.channels)),
        dim: d,
        describe: name.to_string(),
    }
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .replace("--", "-")
}

fn cell(v: &[f64]) -> String {
    let (m, s) = mean_std(v);
    if !m.is_finite() {
        return "–".into();
    }
    // Counts (modes, classes) print as counts when every seed agrees.
    if v.iter().all(|x| x.fract() == 0.0) && s == 0.0 {
        return format!("{m:.0}");
    }
    let digits = if m.abs() >= 100.0 {
        1
    } else if m.abs() >= 1.0 {
        2
    } else {
        3
    };
    if v.len() > 1 {
        format!("{m:.digits$} ± {s:.digits$}")
    } else {
        format!("{m:.digits$}")
    }
}

fn markdown(label: &str, n: usize, rows: &[Row]) -> String {
    let mut s = format!("### {label} (N = {n} samples per row)\n\n| setting |");
    for (h, _) in COLUMNS {
        s.push_str(&format!(" {h} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(COLUMNS.len()));
    s.push('\n');
    for r in rows {
        s.push_str(&format!("| {} |", r.name));
        for v in &r.values {
            s.push_str(&format!(" {} |", cell(v)));
        }
        s.push('\n');
    }
    s.push('\n');
    s
}

fn latex(label: &str, rows: &[Row]) -> String {
    let esc = |t: &str| t.replace('_', "\\_").replace('%', "\\%");
    let mut s = format!(
        "% {}\n\\begin{{tabular}}{{l{}}}\n\\toprule\nsetting",
        esc(label),
        "r".repeat(COLUMNS.len())
    );
    for (h, _) in COLUMNS {
        s.push_str(&format!(" & {}", esc(h)));
    }
    s.push_str(" \\\\\n\\midrule\n");
    for r in rows {
        s.push_str(&esc(&r.name));
        for v in &r.values {
            s.push_str(&format!(
                " & {}",
                cell(v).replace('±', "$\\pm$").replace('–', "--")
            ));
        }
        s.push_str(" \\\\\n");
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\n");
    s
}
