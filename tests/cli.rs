//! End-to-end behaviour of the `vaekit` command line, as a user sees it.

mod common;

use common::{assert_clean_error, text, vaekit};
use std::path::{Path, PathBuf};

fn mnist_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist-10k");
    if p.join("train-images-idx3-ubyte.gz").is_file() {
        Some(p)
    } else {
        println!(
            "SKIPPED: {} is absent; the MNIST end-to-end test needs it",
            p.display()
        );
        None
    }
}

const QUICK: &[&str] = &[
    "--set",
    "data.synthetic_size=600",
    "--set",
    "train.epochs=2",
    "--set",
    "train.log_every=2",
    "--set",
    "model.latent_dim=4",
    "--set",
    "model.hidden=[64]",
];

#[test]
fn train_on_synthetic_fills_the_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["train", "--out", "run"];
    args.extend_from_slice(QUICK);
    let o = vaekit(&args, tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let run = tmp.path().join("run");
    for f in ["config.toml", "metrics.jsonl", "summary.json"] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let ckpts: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(ckpts.len(), 2, "one checkpoint per epoch, 2 kept");
    for c in &ckpts {
        for f in ["model.bpk", "optim.bpk", "state.json"] {
            assert!(c.path().join(f).is_file());
        }
    }

    // metrics.jsonl: train lines every 2 steps with KL per dimension, val lines per epoch.
    let lines = common::metrics_lines(&run);
    let train: Vec<_> = lines.iter().filter(|l| l["split"] == "train").collect();
    let val: Vec<_> = lines.iter().filter(|l| l["split"] == "val").collect();
    // 540 training images (10% held out), batch 128: 5 steps/epoch, 10 steps.
    assert_eq!(val.len(), 2);
    assert_eq!(train.last().unwrap()["step"], 10);
    for l in &train {
        let dims = l["kl_per_dim"].as_array().unwrap();
        assert_eq!(dims.len(), 4);
        let total: f64 = dims.iter().map(|d| d.as_f64().unwrap()).sum();
        assert!((total - l["kl"].as_f64().unwrap()).abs() < 1e-6);
        // loss = β·KL − rec with β = 1 and no free bits.
        let (loss, kl, rec) = (
            l["loss"].as_f64().unwrap(),
            l["kl"].as_f64().unwrap(),
            l["rec_ll"].as_f64().unwrap(),
        );
        assert!((loss - (kl - rec)).abs() < 1e-3 * loss.abs(), "{l}");
    }
    for l in &val {
        let au = l["active_units"].as_u64().unwrap();
        assert!(au <= 4);
        assert_eq!(l["activity"].as_array().unwrap().len(), 4);
        assert!(l["mi"].as_f64().unwrap().is_finite());
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert!(summary["active_units"].as_u64().unwrap() <= 4);
    assert_eq!(
        summary["test_monitor"]["posterior_var"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (elbo, rec, kl) = (
        summary["elbo"].as_f64().unwrap(),
        summary["rec_ll"].as_f64().unwrap(),
        summary["kl"].as_f64().unwrap(),
    );
    assert!((elbo - (rec - kl)).abs() < 1e-6);
    // A Bernoulli ELBO of binary 784-pixel images lies between 0 and 784·log 2 nats below zero... roughly.
    assert!(elbo < 0.0 && elbo > -784.0 * 2.0, "{elbo}");
    assert_eq!(summary["steps"], 10);
    assert!(text(&o).contains("test     ELBO"));

    // The resolved config re-runs the same experiment.
    let again = vaekit(
        &["train", "--config", "run/config.toml", "--out", "run2"],
        tmp.path(),
    );
    assert!(again.status.success(), "{}", text(&again));
    let s2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("run2/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        s2["elbo"], summary["elbo"],
        "same config and seed, same numbers"
    );

    // Samples from the run.
    let o = vaekit(&["sample", "run", "--n", "16"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let png = std::fs::read(run.join("samples.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // IWAE evaluation writes the NLL table; the bound is above the ELBO.
    let o = vaekit(&["eval", "run", "--k", "50", "--chunk", "16"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("bits/dim"));
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval-k50.json")).unwrap()).unwrap();
    assert_eq!(ev["k"], 50);
    assert_eq!(ev["split"], "test");
    assert_eq!(ev["n_examples"], 60);
    assert_eq!(ev["n_nonfinite"], 0);
    let (nll, elbo_ev) = (
        ev["nll_nats"].as_f64().unwrap(),
        ev["elbo_nats"].as_f64().unwrap(),
    );
    assert!(
        -nll > elbo_ev,
        "L_50 = {} must exceed the ELBO {elbo_ev}",
        -nll
    );
    let bpd = ev["bits_per_dim"].as_f64().unwrap();
    assert!((bpd - nll / (784.0 * std::f64::consts::LN_2)).abs() < 1e-9);
    let csv = std::fs::read_to_string(run.join("eval-k50.csv")).unwrap();
    assert_eq!(csv.lines().count(), 61);
    assert!(csv.starts_with("index,elbo,log_px"));
    // Same seed, same numbers.
    let o = vaekit(&["eval", "run", "--k", "50"], tmp.path());
    assert!(o.status.success());
    let ev2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval-k50.json")).unwrap()).unwrap();
    assert!(
        (ev2["nll_nats"].as_f64().unwrap() - nll).abs() < 1e-9,
        "chunking changed the bound"
    );

    // Export as safetensors, with the config beside it.
    let o = vaekit(&["export", "run"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let st = std::fs::read(run.join("export/model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&st[8..8 + header_len]).unwrap();
    assert_eq!(header["mean.weight"]["shape"], serde_json::json!([64, 4]));
    assert!(run.join("export/config.toml").is_file());
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("export/reference.json")).unwrap())
            .unwrap();
    assert_eq!(reference["x"].as_array().unwrap().len(), 8);
    assert_eq!(reference["mean"][0].as_array().unwrap().len(), 4);

    // A second run into the same directory is refused, and nothing is lost.
    let o = vaekit(&args, tmp.path());
    assert_clean_error(&o, &["already holds a run"]);
    assert!(run.join("summary.json").is_file());
}

/// `vaekit train` with `extra` on a run that collapses: β = 200 drives
/// every posterior onto the prior within a few steps; evaluations every 2
/// steps, the alarm after 2 of them, 4 epochs of 5 steps.
fn collapsing<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train"];
    args.extend_from_slice(extra);
    args.extend_from_slice(QUICK);
    args.extend_from_slice(&[
        "--set",
        "schedule.beta=200",
        "--set",
        "optimizer.lr=0.01",
        "--set",
        "monitor.every=2",
        "--set",
        "monitor.alarm_patience=2",
        "--set",
        "train.epochs=4",
    ]);
    args
}

#[test]
fn collapse_alarm_warns_and_training_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let args = collapsing(&["--out", "collapsed", "--plot"]);
    let o = vaekit(&args, tmp.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert_eq!(
        t.matches("posterior collapse").count(),
        1,
        "warned once: {t}"
    );
    assert!(t.contains("free_bits"), "{t}");
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("collapsed/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["collapse_alarm"], true);
    assert_eq!(s["steps"], 20, "training went on to the end");
    assert!(
        tmp.path().join("collapsed/plots/kl_per_dim.png").is_file(),
        "--plot wrote the figures"
    );
}

/// `train.on_collapse = "stop"`: the same collapse ends the run at the
/// evaluation the alarm's rule fires, with a checkpoint, the intervention
/// line and the summary's section; it counts as finished.
#[test]
fn the_collapse_alarm_can_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let args = collapsing(&["--out", "stopped", "--set", "train.on_collapse=stop"]);
    let o = vaekit(&args, tmp.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("stopping the run here"), "{t}");
    let run = tmp.path().join("stopped");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let steps = s["steps"].as_u64().unwrap();
    assert!(steps < 20, "stopped early: {s}");
    let i = &s["interventions"][0];
    assert_eq!(
        (i["remedy"].as_str(), i["step"].as_u64()),
        (Some("stop"), Some(steps))
    );
    assert!(i["collapsed_evaluations"].as_u64().unwrap() >= 2, "{i}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let marks: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["split"] == "intervention")
        .collect();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks[0]["remedy"], "stop");
    // It has finished: a resume is refused, and nothing is trained.
    let o = vaekit(&["train", "--resume", "stopped"], tmp.path());
    assert_clean_error(&o, &["has finished"]);
}

#[test]
fn bad_configs_name_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let o = vaekit(&["train", "--set", "model.latnt_dim=3"], tmp.path());
    assert_clean_error(&o, &["model.latnt_dim", "unknown key"]);
    let o = vaekit(
        &[
            "train",
            "--set",
            "schedule.beta=-1",
            "--set",
            "model.latent_dim=0",
        ],
        tmp.path(),
    );
    assert_clean_error(&o, &["schedule.beta", "model.latent_dim"]);
    std::fs::write(tmp.path().join("c.toml"), "[model\nlatent_dim = 3").unwrap();
    let o = vaekit(&["train", "--config", "c.toml"], tmp.path());
    assert_clean_error(&o, &["c.toml", "TOML"]);
    let o = vaekit(&["train", "--config", "nope.toml"], tmp.path());
    assert_clean_error(&o, &["nope.toml"]);
    assert!(
        !tmp.path().join("runs").exists(),
        "no run directory for a rejected config"
    );
}

#[test]
fn eval_of_a_missing_run_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = vaekit(&["eval", "no-such-run"], tmp.path());
    assert_clean_error(&o, &["no-such-run", "not a vaekit run directory"]);
}

#[test]
fn bad_data_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = vaekit(&["train", "--data", "idx:missing-dir"], tmp.path());
    assert_clean_error(&o, &["missing-dir", "no such directory"]);
    // ... and leaves no empty run folder behind.
    let runs = tmp.path().join("runs");
    assert!(!runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none());
    let dir = tmp.path().join("mnist");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        b"this is not an idx file",
    )
    .unwrap();
    let o = vaekit(&["train", "--data", "idx:mnist"], tmp.path());
    assert_clean_error(&o, &["train-images-idx3-ubyte", "magic"]);
    // Train and test images of different sizes.
    let write = |name: &str, dims: Vec<usize>| {
        let n: usize = dims.iter().product();
        let a = vaekit::data::idx::IdxArray {
            dims,
            data: vec![7; n],
        };
        std::fs::write(dir.join(name), vaekit::data::idx::encode(&a)).unwrap();
    };
    write("train-images-idx3-ubyte", vec![30, 4, 4]);
    write("t10k-images-idx3-ubyte", vec![5, 3, 3]);
    let o = vaekit(&["train", "--data", "idx:mnist"], tmp.path());
    assert_clean_error(&o, &["4×4", "3×3", "do not belong together"]);
    // The conv architecture needs square images with a side divisible by 4.
    write("train-images-idx3-ubyte", vec![30, 6, 6]);
    write("t10k-images-idx3-ubyte", vec![5, 6, 6]);
    let o = vaekit(
        &["train", "--data", "idx:mnist", "--set", "model.arch=conv"],
        tmp.path(),
    );
    assert_clean_error(&o, &["model.arch", "multiple of 4", "6×6"]);
    // 48×64 grayscale has as many values as 32×32×3, and is still refused.
    write("train-images-idx3-ubyte", vec![30, 48, 64]);
    write("t10k-images-idx3-ubyte", vec![5, 48, 64]);
    let o = vaekit(
        &["train", "--data", "idx:mnist", "--set", "model.kind=vq_vae"],
        tmp.path(),
    );
    assert_clean_error(&o, &["model.kind", "square", "48×64"]);
    let o = vaekit(&["train", "--set", "data.val_fraction=0"], tmp.path());
    assert_clean_error(&o, &["data.val_fraction", "no validation images"]);
}

#[test]
fn train_on_mnist_files() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("idx:{}", dir.display());
    let o = vaekit(
        &[
            "train",
            "--data",
            &spec,
            "--out",
            "mnist",
            "--set",
            "train.epochs=1",
            "--set",
            "data.limit=2000",
            "--set",
            "model.latent_dim=8",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("mnist/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["test"]["n_examples"], 2000);
    assert_eq!(s["val"]["n_examples"], 800);
    let elbo = s["elbo"].as_f64().unwrap();
    // One epoch on 2,000 digits: far better than the 543 nats of a uniform
    // Bernoulli (784·log 2), far from the ~90 of a trained model.
    assert!(elbo > -400.0 && elbo < -90.0, "{elbo}");
}

/// Burda et al.'s MNIST from the command line: `data.expect = "mnist"`
/// refuses the subset naming its file; `data.val_last` larger than the
/// training file is an error naming the key and the count; the full MNIST
/// trains with the last 400 digits as validation, and the run records both.
#[test]
fn canonical_mnist_and_the_last_400_from_the_command_line() {
    let Some(sub) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("idx:{}", sub.display());
    let o = vaekit(
        &["train", "--data", &spec, "--set", "data.expect=mnist"],
        tmp.path(),
    );
    let file = sub.join("train-images-idx3-ubyte.gz");
    assert_clean_error(
        &o,
        &[
            &file.display().to_string(),
            "not the canonical",
            "data.expect",
        ],
    );
    let o = vaekit(
        &["train", "--data", &spec, "--set", "data.val_last=8000"],
        tmp.path(),
    );
    assert_clean_error(&o, &["data.val_last = 8000", "8000 training"]);
    let o = vaekit(&["train", "--set", "data.expect=mnist-10k"], tmp.path());
    assert_clean_error(&o, &["data.expect", "\"mnist\""]);

    let full = sub.with_file_name("mnist");
    if !full.join("train-images-idx3-ubyte.gz").is_file() {
        println!("SKIPPED: {} is absent", full.display());
        return;
    }
    let spec = format!("idx:{}", full.display());
    let args = [
        "train",
        "--data",
        &spec,
        "--out",
        "burda",
        "--set",
        "data.expect=mnist",
        "--set",
        "data.val_last=400",
        "--set",
        "data.limit=256",
        "--set",
        "train.max_steps=2",
        "--set",
        "model.latent_dim=4",
        "--set",
        "model.hidden=[64]",
    ];
    let o = vaekit(&args, tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("burda/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["val"]["n_examples"], 400);
    let data = s["data"].as_str().unwrap();
    assert!(
        data.contains("the last 400") && data.contains("canonical MNIST"),
        "{data}"
    );
}

/// Train a VQ-VAE from the command line, evaluate it and plot it.
fn vq_end_to_end(tmp: &Path, data: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--data",
        data,
        "--out",
        "vq",
        "--set",
        "model.kind=vq_vae",
        "--set",
        "train.epochs=1",
    ];
    args.extend_from_slice(extra);
    let o = vaekit(&args, tmp);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("codebook 128 codes"), "{}", text(&o));
    let o = vaekit(&["eval", "vq", "--k", "3"], tmp);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("uniform prior over the codes"),
        "{}",
        text(&o)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.join("vq/eval-k3.json")).unwrap())
            .unwrap();
    let f = |k: &str| r[k].as_f64().unwrap();
    // One-hot q: L_k is the ELBO; the NLL bound is reconstruction + P·ln K.
    let kl = 49.0 * 128f64.ln();
    // (log w = log p(x|z_q) − P·ln K is formed in f32, near 700 nats: one
    // f32 step there is 6e-5, so the two agree to that, not to f64.)
    assert!((f("nll_nats") + f("elbo_nats")).abs() < 1e-4, "{r}");
    // (log w is summed in f32: ~1e-5 relative.)
    assert!(
        (f("reconstruction_nats") + kl - f("nll_nats")).abs() < 1e-3,
        "{r}"
    );
    let bpd = f("nll_nats") / (784.0 * std::f64::consts::LN_2);
    assert!((f("bits_per_dim") - bpd).abs() < 1e-9);
    assert!(f("reconstruction_nats") > 0.0 && f("reconstruction_nats") < 543.5);
    let o = vaekit(&["plot", "vq"], tmp);
    assert!(o.status.success(), "{}", text(&o));
    assert!(tmp.join("vq/plots/codebook.png").is_file());
    assert!(!tmp.join("vq/plots/active_units.png").exists());
    serde_json::from_str(&std::fs::read_to_string(tmp.join("vq/summary.json")).unwrap()).unwrap()
}

#[test]
fn vq_vae_trains_evaluates_and_plots_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let s = vq_end_to_end(
        tmp.path(),
        "synthetic",
        &["--set", "data.synthetic_size=600"],
    );
    assert!(s["test_monitor"]["codes_used"].as_u64().unwrap() >= 1);
    if let Some(dir) = mnist_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = format!("idx:{}", dir.display());
        let s = vq_end_to_end(tmp.path(), &spec, &["--set", "data.limit=600"]);
        assert!(s["data"].as_str().unwrap().contains("mnist"), "{s}");
    }
    // Bounds that do not apply to a one-hot posterior are refused up front.
    let o = vaekit(
        &[
            "train",
            "--set",
            "model.kind=vq_vae",
            "--set",
            "objective.kind=iwae",
        ],
        tmp.path(),
    );
    assert_clean_error(&o, &["objective.kind = \"iwae\"", "vq_vae"]);
}

#[test]
fn sweep_runs_a_grid_skips_finished_runs_and_report_tabulates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "sweep",
        "--grid",
        "schedule.beta=1,4",
        "--seeds",
        "0..1",
        "--jobs",
        "2",
        "--out",
        "sw",
    ];
    for s in QUICK.chunks(2) {
        args.extend_from_slice(s);
    }
    let o = vaekit(&args, tmp.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("4 of 4 runs finished"), "{t}");
    let dir = tmp.path().join("sw/vae-beta=4-seed1");
    assert!(dir.join("summary.json").is_file());
    // Each run is described by its own config: β and seed are in it.
    let cfg = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        cfg.contains("seed = 1") && cfg.contains("beta = 4"),
        "{cfg}"
    );
    // Again: nothing to do.
    let o = vaekit(&args, tmp.path());
    assert_eq!(
        text(&o).matches("already finished").count(),
        4,
        "{}",
        text(&o)
    );

    let runs: Vec<String> = [
        "vae-beta=1-seed0",
        "vae-beta=1-seed1",
        "vae-beta=4-seed0",
        "vae-beta=4-seed1",
    ]
    .iter()
    .map(|r| format!("sw/{r}"))
    .collect();
    let o = vaekit(&["eval", &runs[0], "--k", "10"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let mut rep = vec!["report", "--group-by", "schedule.beta", "--format", "latex"];
    rep.extend(runs.iter().map(String::as_str));
    let o = vaekit(&rep, tmp.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("\\pm") && t.contains("1.0 & 2") && t.contains("4.0 & 2"),
        "{t}"
    );
    // NLL exists for one β = 1 run only: shown as 1 of 2; for β = 4 as missing.
    assert!(t.contains("(1/2)") && t.contains("---"), "{t}");
    // By default, rows are grid points (the run name), seeds pooled.
    let mut rep = vec!["report", "--format", "csv", "--metrics", "elbo"];
    rep.extend(runs.iter().map(String::as_str));
    let t = text(&vaekit(&rep, tmp.path()));
    assert!(
        t.contains("\"vae-beta=1\",2,") && t.contains("\"vae-beta=4\",2,"),
        "{t}"
    );

    // --plan-only writes configs; `train --resume` starts such a run.
    let mut plan = vec![
        "sweep",
        "--plan-only",
        "--grid",
        "schedule.beta=2",
        "--out",
        "plan",
    ];
    for s in QUICK.chunks(2) {
        plan.extend_from_slice(s);
    }
    let o = vaekit(&plan, tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !tmp.path()
            .join("plan/vae-beta=2-seed0/metrics.jsonl")
            .exists()
    );
    let o = vaekit(&["train", "--resume", "plan/vae-beta=2-seed0"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        tmp.path()
            .join("plan/vae-beta=2-seed0/summary.json")
            .is_file()
    );
}

#[test]
fn example_configs_load_and_default_toml_matches_the_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            vaekit::config::ExperimentConfig::load(Some(&path), &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 8, "{n} example configs");
    // default.toml is `vaekit config`'s output under a comment line.
    let tmp = tempfile::tempdir().unwrap();
    let o = vaekit(&["config"], tmp.path());
    assert!(o.status.success());
    let want = String::from_utf8(o.stdout).unwrap();
    let have = std::fs::read_to_string(dir.join("default.toml")).unwrap();
    let have: String = have.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        have, want,
        "regenerate experiments/configs/default.toml with `vaekit config`"
    );
}

/// A small CIFAR-10-format folder: coloured squares on a dark background,
/// their colour and position varying.
fn write_cifar(dir: &Path, n_train: usize, n_test: usize) {
    use vaekit::data::cifar;
    let make = |n: usize, offset: usize| {
        let mut img = vec![0.1f32; n * 3072];
        let mut labels = Vec::new();
        for i in 0..n {
            let k = i + offset;
            let (x0, y0) = (4 + (k * 7) % 16, 4 + (k * 11) % 16);
            let colour = [(k % 3) as f32 / 2.0, ((k / 3) % 3) as f32 / 2.0, 1.0];
            for (c, v) in colour.iter().enumerate() {
                for y in y0..y0 + 10 {
                    for x in x0..x0 + 10 {
                        img[i * 3072 + c * 1024 + y * 32 + x] = *v;
                    }
                }
            }
            labels.push((k % 10) as u8);
        }
        cifar::encode(&img, &labels)
    };
    std::fs::write(dir.join("data_batch_1.bin"), make(n_train, 0)).unwrap();
    std::fs::write(dir.join("test_batch.bin"), make(n_test, 7919)).unwrap();
}

#[test]
fn colour_images_train_conv_models_evaluate_and_sample_in_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar(&data, 300, 60);
    let spec = format!("cifar:{}", data.display());
    for (name, model) in [
        ("vq", vec!["--set", "model.kind=vq_vae"]),
        (
            "conv",
            vec![
                "--set",
                "model.arch=conv",
                "--set",
                "model.hidden=[64]",
                "--set",
                "model.likelihood=gaussian",
            ],
        ),
    ] {
        let mut args = vec![
            "train",
            "--data",
            &spec,
            "--out",
            name,
            "--set",
            "train.epochs=2",
        ];
        args.extend(model);
        let o = vaekit(&args, tmp.path());
        assert!(o.status.success(), "{name}: {}", text(&o));
        assert!(text(&o).contains("32×32×3"), "{}", text(&o));
        let o = vaekit(&["eval", name, "--k", "4"], tmp.path());
        assert!(o.status.success(), "{name}: {}", text(&o));
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(name).join("eval-k4.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(r["data_dim"], 3072);
        assert!(r["bits_per_dim"].as_f64().unwrap().is_finite(), "{r}");
        let o = vaekit(&["sample", name, "--mean"], tmp.path());
        assert!(o.status.success(), "{name}: {}", text(&o));
    }
    // The samples are in colour: some pixel's channels differ.
    let img = image::open(tmp.path().join("vq/samples-mean.png"))
        .unwrap()
        .to_rgb8();
    assert!(img.pixels().any(|p| p[0] != p[1] || p[1] != p[2]));
}

#[test]
fn metrics_lists_the_registry_and_moved_keys_name_their_new_place() {
    let tmp = tempfile::tempdir().unwrap();
    let o = vaekit(&["metrics"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for name in [
        "elbo",
        "active_units",
        "codebook_perplexity",
        "components_effective",
        "ess_mean_frac",
    ] {
        assert!(t.contains(name), "{name} missing from:\n{t}");
    }
    assert!(t.contains("also written as components_effective"), "{t}");
    let o = vaekit(&["train", "--set", "model.codes=64"], tmp.path());
    assert_clean_error(&o, &["model.codes", "model.vq_vae.codes"]);
    let o = vaekit(&["train", "--set", "model.kind=vqvae"], tmp.path());
    assert_clean_error(&o, &["model.kind", "vq_vae", "gmm"]);
}

/// The commands `vaekit --help` lists, in its order.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Adding a command is a file in `src/app/cli/` and a line in the binary's
/// list: every listed command must have its own `--help`, which parses, and
/// the options shared by several commands must read the same in each.
#[test]
fn every_listed_command_has_its_own_help() {
    let tmp = tempfile::tempdir().unwrap();
    let o = vaekit(&["--help"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let commands = listed_commands(&String::from_utf8_lossy(&o.stdout));
    for c in [
        "train", "plot", "eval", "metrics", "export", "report", "sweep", "config", "sample",
    ] {
        assert!(commands.iter().any(|l| l == c), "{c} not in {commands:?}");
    }
    for c in &commands {
        let o = vaekit(&[c.as_str(), "--help"], tmp.path());
        let help = text(&o);
        assert!(o.status.success(), "vaekit {c} --help:\n{help}");
        assert!(help.contains(&format!("Usage: vaekit {c}")), "{help}");
    }
    // The shared groups: --set and --device parse alike wherever they appear.
    for c in ["train", "config", "sweep"] {
        let help = text(&vaekit(&[c, "--help"], tmp.path()));
        for flag in [
            "--config <CONFIG>",
            "--set <KEY=VALUE>",
            "--device <DEVICE>",
        ] {
            assert!(help.contains(flag), "vaekit {c}: no {flag} in\n{help}");
        }
    }
    let o = vaekit(&["config", "--device", "wgpu"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("device = \"wgpu\""));
    // Typed values: a word outside the list is refused with the list.
    for args in [
        &["eval", "run", "--split", "nope"][..],
        &["report", "run", "--format", "nope"],
        &["export", "run", "--format", "nope"],
        &["sample", "run", "--device", "nope"],
    ] {
        let o = vaekit(args, tmp.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("possible values"), "{}", text(&o));
    }
}
