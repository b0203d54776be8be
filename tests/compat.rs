//! A run directory written by vaekit before the layered core
//! (`tests/fixtures/run-v0`, see its README) still evaluates, plots,
//! reports and resumes — and resuming it reproduces the numbers that
//! version wrote when it finished the same run. Bit for bit until the
//! Bernoulli log-likelihood became a fused CPU operation (issue 16): its
//! vectorised softplus and its summation order round differently from
//! burn's graph, so the resumed steps now agree with the old ones to a
//! relative 1e-6, not to the last bit.

mod common;

use burn::tensor::Device;
use std::path::{Path, PathBuf};
use vaekit::train::progress::Progress;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A fresh copy of the fixture (tests write into it).
fn fixture(tmp: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-v0");
    let dir = tmp.join("run-v0");
    copy_dir(&src, &dir);
    dir
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Relative agreement the resumed run must reach (the fused Bernoulli
/// log-likelihood rounds differently from the graph the old version ran).
const TOL: f64 = 1e-6;

/// Equal values; numbers equal to within `TOL` relative (absolute below 1,
/// where KL-sized numbers of a few hundredths live).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= TOL * x.abs().max(y.abs()).max(1.0)
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

#[test]
fn an_old_run_resumes_to_the_numbers_its_version_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture(tmp.path());
    let old_summary = json(&run.join("summary.json"));
    let old_eval = json(&run.join("eval-k50.json"));
    let old_lines = common::metrics_lines(&run);
    // What a crash after the epoch-2 checkpoint leaves: no summary, no eval.
    for f in ["summary.json", "eval-k50.json", "eval-k50.csv"] {
        std::fs::remove_file(run.join(f)).unwrap();
    }
    let dev = Device::flex();
    vaekit::run::resume(&run, None, &dev, Some(Progress::Quiet)).unwrap();
    let new_summary = json(&run.join("summary.json"));

    // Every number the old summary.json has, the new one has, identical —
    // apart from the clock.
    let clock = ["wall_time_s", "train_images_per_s"];
    for (key, old) in old_summary.as_object().unwrap() {
        if clock.contains(&key.as_str()) {
            continue;
        }
        match old {
            serde_json::Value::Object(section) => {
                for (k, v) in section {
                    let new = &new_summary[key][k];
                    assert!(same(new, v), "summary.json {key}.{k}: {new} vs {v}");
                }
            }
            v => assert!(same(&new_summary[key], v), "summary.json {key}"),
        }
    }
    // The lines the resumed session wrote equal the old session's (steps
    // 12 and 15, and epoch 3's validation), clock aside.
    let new_lines = common::metrics_lines(&run);
    assert_eq!(new_lines.len(), old_lines.len());
    let skip = ["time_s", "images_per_s"];
    for (old, new) in old_lines.iter().zip(&new_lines) {
        for (k, v) in old.as_object().unwrap() {
            if !skip.contains(&k.as_str()) {
                let s = (&old["step"], &old["split"]);
                assert!(
                    same(&new[k], v),
                    "step {} {}: {k}: {} vs {v}",
                    s.0,
                    s.1,
                    new[k]
                );
            }
        }
    }
    // The bound of the old version's `vaekit eval --k 50`, on the resumed weights.
    let opts = vaekit::evaluate::EvalOptions::new(50);
    let report = vaekit::evaluate::evaluate_run(&run, &opts, &dev, "cpu").unwrap();
    let new_eval = serde_json::to_value(&report).unwrap();
    for key in [
        "nll_nats",
        "nll_std_err",
        "elbo_nats",
        "bits_per_dim",
        "n_examples",
        "path",
    ] {
        let (new, old) = (&new_eval[key], &old_eval[key]);
        assert!(same(new, old), "eval-k50.json {key}: {new} vs {old}");
    }
}

#[test]
fn an_old_run_evaluates_plots_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture(tmp.path());
    let dev = Device::flex();
    // Its checkpoint's state.json has an image shape, not a data kind.
    let loaded = vaekit::run::open(&run, &dev).unwrap();
    assert_eq!(
        loaded.data,
        vaekit::data::DataKind::Images {
            rows: 28,
            cols: 28,
            channels: 1
        }
    );
    let mut opts = vaekit::evaluate::EvalOptions::new(20);
    opts.split = vaekit::evaluate::Split::Val;
    let report = vaekit::evaluate::evaluate_run(&run, &opts, &dev, "cpu").unwrap();
    assert_eq!(report.n_examples, 30);
    // Written before data.binarize_seed: evaluated on its own seed's draw, and says so.
    let b = report.binarization.clone().unwrap_or_default();
    assert!(
        b.contains("val images") && b.contains("run's seed 0"),
        "{b}"
    );
    let nll = report.get("nll_nats");
    assert!(nll.is_finite() && nll > 0.0, "{nll}");
    let ess = report.metrics.float("ess_mean_frac").unwrap();
    assert!(ess > 0.0 && ess <= 1.0, "{ess}");

    let files =
        vaekit::report::plot::plot_runs(std::slice::from_ref(&run), None, &Default::default())
            .unwrap();
    for stem in ["kl_per_dim", "active_units", "elbo", "metrics"] {
        assert!(
            files.iter().any(|f| f.ends_with(format!("{stem}.png"))),
            "{stem}.png missing from {files:?}"
        );
    }

    let table = vaekit::report::table::report(
        &[run.clone()],
        &vaekit::report::table::ReportOptions {
            group_by: vec![],
            metrics: ["nll", "elbo", "active_units", "mi"]
                .map(String::from)
                .to_vec(),
            format: vaekit::report::table::Format::Csv,
            k: Some(50),
            order: Vec::new(),
            expected: Default::default(),
        },
    )
    .unwrap();
    // The old version's numbers, as it wrote them.
    let summary = json(&run.join("summary.json"));
    let eval = json(&run.join("eval-k50.json"));
    let row: Vec<&str> = table.lines().nth(1).unwrap().split(',').collect();
    let close = |cell: &str, want: f64| {
        let got: f64 = cell.parse().unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    };
    close(row[2], eval["nll_nats"].as_f64().unwrap());
    close(row[5], summary["elbo"].as_f64().unwrap());
    close(row[8], summary["active_units"].as_f64().unwrap());
    close(row[11], summary["mi"].as_f64().unwrap());
}
