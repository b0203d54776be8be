//! Issue 28: the fixed binarization of validation and test images is the
//! data's (`data.binarize_seed`, shared by every run), not the run's; a run
//! written before the key existed keeps the draw of its own seed, and
//! `vaekit eval` says which draw it used.

use burn::tensor::Device;
use std::path::Path;
use vaekit::config::ExperimentConfig;
use vaekit::evaluate::{EvalOptions, evaluate_run};

/// A small Bernoulli VAE on the (grey-level) synthetic shapes, one epoch.
fn trained(dir: &Path, seed: u64) {
    let cfg = ExperimentConfig::load(
        None,
        &[
            format!("seed={seed}"),
            "data.synthetic_size=400".into(),
            "train.epochs=1".into(),
            "train.batch_size=50".into(),
            "model.latent_dim=4".into(),
            "model.hidden=[32]".into(),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    vaekit::run::train(
        &cfg,
        dir,
        &Device::flex(),
        Some(vaekit::train::progress::Progress::Quiet),
    )
    .unwrap();
}

/// The run's `config.toml` with its `binarize_seed` line replaced by
/// `line` (or removed when `None`: how a run written before the key reads).
fn set_binarize_line(run: &Path, line: Option<&str>) {
    let path = run.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("binarize_seed"))
        .collect();
    let mut out = String::new();
    for l in kept {
        out.push_str(l);
        out.push('\n');
        if l == "[data]"
            && let Some(b) = line
        {
            out.push_str(b);
            out.push('\n');
        }
    }
    std::fs::write(&path, out).unwrap();
}

#[test]
fn runs_share_the_datas_draw_and_old_runs_keep_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("r3");
    trained(&run, 3);
    let written = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        written.contains("\nbinarize_seed = 0\n"),
        "a new run names the shared draw"
    );
    let dev = Device::flex();
    let eval = |line: Option<&str>| {
        set_binarize_line(&run, line);
        let mut opts = EvalOptions::new(10);
        opts.chunk = Some(10);
        evaluate_run(&run, &opts, &dev, "cpu").unwrap()
    };

    // As trained: the shared draw, named in the report.
    let shared = eval(Some("binarize_seed = 0"));
    let b = shared.binarization.clone().unwrap();
    assert!(b.contains("data.binarize_seed = 0"), "{b}");
    assert!(shared.table().contains("binarized:"), "{}", shared.table());

    // Written before the key: the run's own seed (3), which is exactly the
    // draw of binarize_seed = 3, and not the shared one.
    let old = eval(None);
    let b = old.binarization.clone().unwrap();
    assert!(b.contains("run's seed 3"), "{b}");
    let own = eval(Some("binarize_seed = 3"));
    assert_eq!(old.get("nll_nats"), own.get("nll_nats"));
    assert_ne!(old.get("nll_nats"), shared.get("nll_nats"));

    // The report file carries it too.
    let json = serde_json::to_value(&own).unwrap();
    assert!(
        json["binarization"]
            .as_str()
            .is_some_and(|s| s.contains("binarize_seed = 3")),
        "{json}"
    );
}
