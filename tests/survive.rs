//! Runs that survive: kill -9 and resume, damaged checkpoints, non-finite losses.

mod common;

use common::{bin, text, vaekit as run};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// A run long enough (a second or two) for kills to land inside it.
const CFG: &[&str] = &[
    "--set",
    "data.synthetic_size=3000",
    "--set",
    "train.epochs=3",
    "--set",
    "train.batch_size=64",
    "--set",
    "train.log_every=4",
    "--set",
    "train.checkpoint_every=10",
    "--set",
    "train.keep_checkpoints=3",
    "--set",
    "model.hidden=[512, 256]",
    "--set",
    "model.latent_dim=6",
    "--set",
    "monitor.every=20",
];

/// Train in this process into `cwd/out` with the `--set`s of [`CFG`] and
/// `extra`, and `NanAt(step)`: the loss of that step is NaN.
fn train_with_nan_at(step: usize, cwd: &Path, out: &str, extra: &[&str]) -> vaekit::Result<()> {
    let sets: Vec<String> = CFG
        .iter()
        .chain(extra)
        .filter(|a| **a != "--set")
        .map(|a| a.to_string())
        .collect();
    let cfg = vaekit::config::ExperimentConfig::load(None, &sets)?;
    let run = cwd.join(out);
    std::fs::create_dir_all(&run).unwrap();
    let dev = burn::tensor::Device::flex();
    let quiet = Some(vaekit::train::progress::Progress::Quiet);
    vaekit::run::train_with_hooks(
        &cfg,
        &run,
        &dev,
        quiet,
        &mut [&mut vaekit::train::NanAt(step)],
    )
    .map(|_| ())
}

/// metrics.jsonl without the fields that measure wall time.
fn metrics_without_timing(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("time_s");
            o.remove("images_per_s");
            v
        })
        .collect()
}

/// After any kill: whole lines only (a torn last line is allowed, and is cut
/// on resume), steps never repeat within a split, the config is intact, and
/// every checkpoint folder is complete.
fn assert_consistent(dir: &Path, config: &str) {
    assert_eq!(
        std::fs::read_to_string(dir.join("config.toml")).unwrap(),
        config
    );
    if let Ok(text) = std::fs::read_to_string(dir.join("metrics.jsonl")) {
        let complete: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for l in complete {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"));
            assert!(
                seen.insert((v["split"].to_string(), v["step"].as_u64())),
                "duplicated line {l}"
            );
        }
    }
    for c in std::fs::read_dir(dir.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if c.file_name().to_string_lossy().starts_with("step-") {
            for f in ["model.bpk", "optim.bpk", "state.json"] {
                assert!(
                    c.path().join(f).is_file(),
                    "{} lacks {f}",
                    c.path().display()
                );
            }
        }
    }
}

/// The uninterrupted run `reference` in `dir`; its config.toml.
fn train_reference(dir: &Path) -> String {
    let mut reference = vec!["train", "--out", "reference"];
    reference.extend_from_slice(CFG);
    let o = run(&reference, dir);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read_to_string(dir.join("reference/config.toml")).unwrap()
}

#[test]
fn killed_and_resumed_run_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let config = train_reference(tmp.path());

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut kills = 0;
    let mut first = vec!["train", "--out", "killed"];
    first.extend_from_slice(CFG);
    let resume = ["train", "--resume", "killed"];
    for attempt in 0..4 {
        let args: &[&str] = if attempt == 0 { &first } else { &resume };
        let mut child = bin()
            .args(args)
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(150..900)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if tmp.path().join("killed/config.toml").is_file() {
            assert_consistent(&tmp.path().join("killed"), &config);
        }
        if tmp.path().join("killed/summary.json").is_file() {
            break;
        }
    }
    if !tmp.path().join("killed/summary.json").is_file() {
        let o = run(&resume, tmp.path());
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(
        kills > 0,
        "no kill landed inside a run: make the run longer"
    );
    assert_consistent(&tmp.path().join("killed"), &config);
    // Bit for bit on the CPU: the same lines, with the same numbers.
    let (a, b) = (
        metrics_without_timing(&tmp.path().join("reference")),
        metrics_without_timing(&tmp.path().join("killed")),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    let s = |d: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(d).join("summary.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(s("reference")["elbo"], s("killed")["elbo"]);
    assert_eq!(s("reference")["kl_per_dim"], s("killed")["kl_per_dim"]);
}

/// Send `signal` (`TERM`, `USR1`) to a process.
#[cfg(unix)]
fn signal(pid: u32, signal: &str) {
    let o = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[cfg(unix)]
#[test]
fn signals_stop_at_a_step_with_a_checkpoint_and_the_resumed_run_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let config = train_reference(tmp.path());
    let dir = tmp.path().join("stopped");
    let mut first = vec!["train", "--out", "stopped"];
    first.extend_from_slice(CFG);
    let resume = ["train", "--resume", "stopped"];
    // SIGTERM, then SIGUSR1 twice in a row (the second lands while the first
    // is being handled): each stops the run at a step, with a checkpoint.
    let mut stops = 0;
    for (attempt, signals) in [&["TERM"][..], &["USR1", "USR1"][..]].iter().enumerate() {
        let args: &[&str] = if attempt == 0 { &first } else { &resume };
        let child = bin()
            .args(args)
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it trains (a train line beyond what is there).
        let before =
            std::fs::read_to_string(dir.join("metrics.jsonl")).map_or(0, |t| t.lines().count());
        let t0 = std::time::Instant::now();
        while std::fs::read_to_string(dir.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
            <= before + 1
            && t0.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for s in *signals {
            signal(child.id(), s);
        }
        let out = child.wait_with_output().unwrap();
        if dir.join("summary.json").is_file() {
            break; // finished before the signal landed
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(
            err.contains("stopped by SIG") && err.contains("resume with"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        let note: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("stopped.json")).unwrap())
                .unwrap();
        let step = note["step"].as_u64().unwrap();
        assert!(
            dir.join("checkpoints")
                .join(format!("step-{step:08}"))
                .join("state.json")
                .is_file(),
            "{note}"
        );
        assert_consistent(&dir, &config);
        stops += 1;
    }
    assert!(
        stops > 0,
        "no signal landed inside a run: make the run longer"
    );
    let o = run(&resume, tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !dir.join("stopped.json").exists(),
        "the stop note goes when the run trains again"
    );
    let (a, b) = (
        metrics_without_timing(&tmp.path().join("reference")),
        metrics_without_timing(&dir),
    );
    assert_eq!(a, b);
}

#[test]
fn nan_stops_the_run_and_a_damaged_checkpoint_falls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let t = train_with_nan_at(25, tmp.path(), "r", &[])
        .unwrap_err()
        .to_string();
    assert!(
        t.contains("step 25") && t.contains("reconstruction log-likelihood became NaN"),
        "{t}"
    );
    assert!(
        t.contains("step-00000020") && t.contains("--resume"),
        "names the kept checkpoint: {t}"
    );
    assert!(!tmp.path().join("r/summary.json").exists());

    // Damage the newest checkpoint; resume must say so and use step 10.
    std::fs::write(
        tmp.path().join("r/checkpoints/step-00000020/model.bpk"),
        b"truncated",
    )
    .unwrap();
    let o = run(&["train", "--resume", "r"], tmp.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("skipping checkpoint") && t.contains("step-00000020"),
        "{t}"
    );
    assert!(t.contains("step-00000010"), "{t}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("r/summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        s["steps"],
        43 * 3,
        "2,700 images in batches of 64: 43 steps an epoch"
    );
    // No step logged twice.
    let lines = metrics_without_timing(&tmp.path().join("r"));
    let train: Vec<u64> = lines
        .iter()
        .filter(|l| l["split"] == "train")
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    let mut sorted = train.clone();
    sorted.dedup();
    assert_eq!(train, sorted);
    assert_eq!(train.windows(2).filter(|w| w[1] <= w[0]).count(), 0);
}

#[test]
fn skip_policy_skips_the_batch_and_lowers_the_learning_rate() {
    let tmp = tempfile::tempdir().unwrap();
    // (The warning naming step 7 goes to the progress display, quiet here.)
    train_with_nan_at(
        7,
        tmp.path(),
        "s",
        &["train.on_nonfinite=skip", "train.epochs=1"],
    )
    .unwrap();
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("s/summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["skipped_steps"], 1);
    let lines = metrics_without_timing(&tmp.path().join("s"));
    let lr = |step: u64| {
        lines
            .iter()
            .find(|l| l["split"] == "train" && l["step"] == step)
            .unwrap()["lr"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(lr(4), 1e-3);
    assert_eq!(lr(8), 5e-4);
}

#[test]
fn divergence_is_caught_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "train",
        "--out",
        "d",
        "--set",
        "optimizer.lr=1e12",
        "--set",
        "train.epochs=1",
    ];
    args.extend_from_slice(CFG);
    let o = run(&args, tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("training stopped at step") && t.contains("became"),
        "{t}"
    );
}
