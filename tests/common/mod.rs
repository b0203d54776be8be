//! Helpers shared by the end-to-end tests that run the `vaekit` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The `vaekit` binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vaekit"))
}

/// Run `vaekit ARGS` in `cwd` and wait for it.
pub fn vaekit(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run vaekit")
}

/// stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A user mistake: exit code 1, one clear message, no panic or backtrace.
pub fn assert_clean_error(o: &Output, needles: &[&str]) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        !t.contains("panicked") && !t.contains("RUST_BACKTRACE"),
        "{t}"
    );
    for n in needles {
        assert!(t.contains(n), "expected {n:?} in:\n{t}");
    }
}

/// Every line of `RUN/metrics.jsonl`, as JSON.
pub fn metrics_lines(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One numeric field of every `split` line of `RUN/metrics.jsonl`, in order.
pub fn series(run: &Path, split: &str, field: &str) -> Vec<f64> {
    metrics_lines(run)
        .iter()
        .filter(|l| l["split"] == split)
        .map(|l| l[field].as_f64().unwrap())
        .collect()
}
