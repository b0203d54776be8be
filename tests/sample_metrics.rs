//! Sample metrics as a user meets them: `vaekit eval RUN --samples N`
//! writes every metric with the likelihood numbers and its figures, the
//! classifier and bins are cached and reused, `vaekit metrics --real
//! --fake` gives the same numbers on the same samples from a file, a
//! generator that drops classes is seen by the coverage metrics, and bad
//! sample files get clear errors.

mod common;

use common::{assert_clean_error, bin, text};
use std::path::{Path, PathBuf};
use std::process::Output;
use vaekit::data::sample_files::{read, write_npy_f32, write_npy_u8};

/// `vaekit ARGS` in `cwd` with its own cache folder.
fn vaekit(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .env("VAEKIT_CACHE", cache)
        .output()
        .expect("run vaekit")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

const EVERY_METRIC: &[&str] = &[
    "n_real",
    "n_fake",
    "classifier_accuracy",
    "fd",
    "precision",
    "recall",
    "density",
    "coverage",
    "mmd2",
    "kid",
    "kid_std",
    "kid_full",
    "swd",
    "swd_values",
    "swd_projections",
    "ndb",
    "ndb_frac",
    "ndb_js",
    "classifier_score",
    "modes_covered",
    "modes_total",
    "mode_kl",
    "unique_frac",
    "mean_pairwise_dist",
    "hf_ratio",
    "spectral_distance",
];

#[test]
fn eval_samples_writes_every_metric_caches_the_reference_and_metrics_agrees_on_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, cache) = (tmp.path(), tmp.path().join("cache"));
    let o = vaekit(
        &[
            "train",
            "--out",
            "run",
            "--set",
            "data.limit=600",
            "--set",
            "train.epochs=2",
            "--set",
            "model.latent_dim=4",
            "--set",
            "model.hidden=[64]",
        ],
        dir,
        &cache,
    );
    assert!(o.status.success(), "{}", text(&o));
    let run = dir.join("run");
    let args = [
        "eval",
        "run",
        "--k",
        "5",
        "--samples",
        "300",
        "--sample-mean",
    ];
    let o = vaekit(&args, dir, &cache);
    let first = text(&o);
    assert!(o.status.success(), "{first}");
    assert!(first.contains("training the feature classifier"), "{first}");
    let eval = json(&run.join("eval-k5.json"));
    for key in EVERY_METRIC.iter().chain(&["latent_mmd", "nll_nats"]) {
        assert!(
            eval[*key].is_number(),
            "{key} missing from eval-k5.json: {eval}"
        );
    }
    // The shapes' three classes, and the counts that must hold.
    assert_eq!(eval["modes_total"], 3);
    // A standard normal prior has no components to tabulate.
    assert!(eval.get("component_modes").is_none(), "{eval}");
    assert_eq!(
        (eval["n_real"].as_u64(), eval["n_fake"].as_u64()),
        (Some(300), Some(300))
    );
    assert!(f(&eval, "classifier_accuracy") > 0.9, "{eval}");
    for key in ["precision", "recall", "density", "coverage"] {
        assert!((0.0..=5.0).contains(&f(&eval, key)), "{key}");
    }
    // Binary samples: the unique fraction counts exact duplicates.
    let samples = read(&run.join("samples-n300.npy")).unwrap();
    assert_eq!((samples.n, samples.image), (300, Some((28, 28, 1))));
    assert!(samples.values.iter().all(|&v| v == 0.0 || v == 1.0));
    let distinct: std::collections::HashSet<Vec<u8>> = samples
        .values
        .chunks(784)
        .map(|r| r.iter().map(|&v| v as u8).collect())
        .collect();
    assert_eq!(f(&eval, "unique_frac"), distinct.len() as f64 / 300.0);
    let detail = json(&run.join("eval-k5-samples.json"));
    assert_eq!(detail["ndb_real"].as_array().unwrap().len(), 100);
    assert!(detail["feature_space"] == "classifier" && detail["binarized"] == true);
    let means = json(&run.join("eval-k5-samples-mean.json"));
    assert_eq!(means["decoder_mean"], true);
    for fig in [
        "ndb-bins.png",
        "latent-classes.png",
        "samples-grid.png",
        "spectrum.png",
        "tsne.png",
    ] {
        assert!(run.join("plots").join(fig).is_file(), "{fig}");
    }
    // The spectra behind `hf_ratio`, one value per ring (28 × 28: rings 0–14).
    for key in ["spectrum_freq", "spectrum_real", "spectrum_fake"] {
        assert_eq!(detail[key].as_array().map(Vec::len), Some(15), "{key}");
    }
    // The t-SNE map: every real point and sample, a faithful map.
    assert_eq!(detail["tsne"]["points"], 600);
    let trust = f(&detail["tsne"], "trustworthiness");
    assert!((0.5..=1.0).contains(&trust), "{}", detail["tsne"]);
    // Again: the reference comes from the cache and the numbers repeat.
    let o = vaekit(&args, dir, &cache);
    assert!(
        o.status.success() && text(&o).contains("reference from the cache"),
        "{}",
        text(&o)
    );
    let again = json(&run.join("eval-k5.json"));
    for key in EVERY_METRIC {
        assert_eq!(eval[*key], again[*key], "{key}");
    }
    // The same samples from the file, against the same data: the same numbers.
    let o = vaekit(
        &[
            "metrics",
            "--real",
            "synthetic",
            "--fake",
            "run/samples-n300.npy",
            "--out",
            "m.json",
        ],
        dir,
        &cache,
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("binarized too") && t.contains("reference from the cache"),
        "{t}"
    );
    let m = json(&dir.join("m.json"));
    for fig in ["m-spectrum.png", "m-tsne.png"] {
        assert!(dir.join(fig).is_file(), "{fig}: {t}");
    }
    for key in EVERY_METRIC {
        assert_eq!(m[*key], eval[*key], "{key}");
    }
    let csv = std::fs::read_to_string(dir.join("m.csv")).unwrap();
    assert!(
        csv.starts_with("metric,value\n") && csv.contains("\nfd,"),
        "{csv}"
    );
    // `vaekit report` puts NLL and sample metrics side by side.
    let o = vaekit(
        &[
            "report",
            "run",
            "--metrics",
            "nll,fd,precision,recall,coverage,modes_covered,swd,hf_ratio",
        ],
        dir,
        &cache,
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let header = t
        .lines()
        .find(|l| l.contains("fd"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        header.contains("coverage")
            && header.contains("nll")
            && header.contains("swd")
            && header.contains("hf_ratio"),
        "{t}"
    );
}

#[test]
fn bad_sample_files_and_requests_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, cache) = (tmp.path(), tmp.path().join("cache"));
    // Raw vectors as the real data keep the test fast (no classifier).
    let real: Vec<f32> = (0..50 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
    write_npy_f32(&dir.join("real.npy"), &real, &[50, 3]).unwrap();
    write_npy_f32(&dir.join("wide.npy"), &vec![0.5; 50 * 4], &[50, 4]).unwrap();
    let o = vaekit(
        &["metrics", "--real", "real.npy", "--fake", "wide.npy"],
        dir,
        &cache,
    );
    assert_clean_error(
        &o,
        &["wide.npy", "vectors of 4 values", "vectors of 3 values"],
    );
    // Images against images of another size.
    write_npy_u8(&dir.join("small.npy"), &vec![0; 20 * 100], &[20, 10, 10]).unwrap();
    write_npy_u8(&dir.join("big.npy"), &vec![0; 20 * 144], &[20, 12, 12]).unwrap();
    let o = vaekit(
        &["metrics", "--real", "big.npy", "--fake", "small.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["small.npy", "10×10 grayscale", "12×12"]);
    // Images with values outside [0, 1].
    write_npy_f32(&dir.join("tanh.npy"), &vec![-0.5; 20 * 144], &[20, 12, 12]).unwrap();
    let o = vaekit(
        &["metrics", "--real", "big.npy", "--fake", "tanh.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["tanh.npy", "-0.5", "(x + 1) / 2"]);
    let o = vaekit(
        &["metrics", "--real", "nosuch", "--fake", "big.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["--real nosuch", "idx:DIR"]);
    let o = vaekit(
        &["metrics", "--real", "big.npy", "--fake", "missing.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["missing.npy"]);
    std::fs::write(dir.join("junk.npy"), b"\x93NUMPY\x01\x00").unwrap();
    let o = vaekit(
        &["metrics", "--real", "big.npy", "--fake", "junk.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["junk.npy"]);
    // Too few real examples (a panic before), a CSV as --out, binary images
    // saved as 0/1 bytes, and a classifier asked of unlabelled files.
    write_npy_f32(&dir.join("three.npy"), &real[..3 * 3], &[3, 3]).unwrap();
    let o = vaekit(
        &["metrics", "--real", "three.npy", "--fake", "real.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["three.npy", "3 real examples", "at least 7"]);
    let o = vaekit(
        &[
            "metrics", "--real", "real.npy", "--fake", "real.npy", "--out", "x.csv",
        ],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["--out x.csv", "JSON"]);
    assert!(!dir.join("x.csv").exists());
    write_npy_u8(
        &dir.join("bits.npy"),
        &[0, 1].repeat(20 * 72),
        &[20, 12, 12],
    )
    .unwrap();
    let o = vaekit(
        &["metrics", "--real", "big.npy", "--fake", "bits.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["bits.npy", "multiply by 255"]);
    let o = vaekit(
        &[
            "metrics",
            "--real",
            "big.npy",
            "--fake",
            "big.npy",
            "--features",
            "classifier",
        ],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["--features classifier", "no labels"]);
    // Too few samples for the k-NN metrics.
    write_npy_f32(&dir.join("few.npy"), &real[..3 * 3], &[3, 3]).unwrap();
    let o = vaekit(
        &["metrics", "--real", "real.npy", "--fake", "few.npy"],
        dir,
        &cache,
    );
    assert_clean_error(&o, &["few.npy", "at least"]);
    // No cache folder was half-written by the failures.
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for e in entries.flatten() {
            assert!(
                !e.file_name().to_string_lossy().contains(".tmp"),
                "{:?}",
                e.path()
            );
        }
    }
    // A set against itself in raw space: precision = recall = coverage = 1,
    // FD = 0, and density (k+1)/k = 1.2 (each point's ball holds itself and
    // its 5 neighbours; no ties in these values).
    let o = vaekit(
        &[
            "metrics",
            "--real",
            "real.npy",
            "--fake",
            "real.npy",
            "--out",
            "self.json",
        ],
        dir,
        &cache,
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = json(&dir.join("self.json"));
    assert_eq!(s["feature_space"], "raw");
    assert_eq!(
        (f(&s, "precision"), f(&s, "recall"), f(&s, "coverage")),
        (1.0, 1.0, 1.0)
    );
    assert!(
        (f(&s, "density") - 1.2).abs() < 1e-12 && f(&s, "fd").abs() < 1e-9,
        "{s}"
    );
    assert!(
        s.get("modes_covered").is_none(),
        "no classifier, no modes: {s}"
    );
}

fn mnist_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist-10k");
    if p.join("t10k-images-idx3-ubyte.gz").is_file() {
        Some(p)
    } else {
        println!(
            "SKIPPED: {} is absent; the MNIST sample-metric test needs it",
            p.display()
        );
        None
    }
}

#[test]
fn a_generator_that_drops_classes_is_seen_by_the_coverage_metrics() {
    let Some(mnist) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (dir, cache) = (tmp.path(), tmp.path().join("cache"));
    let test = vaekit::data::load_idx(&mnist, "t10k").unwrap();
    let labels = test.labels.clone().unwrap();
    let write = |name: &str, keep: &dyn Fn(u8) -> bool| {
        let idx: Vec<usize> = (0..test.n)
            .filter(|&i| keep(labels[i]))
            .take(1000)
            .collect();
        let bytes: Vec<u8> = idx
            .iter()
            .flat_map(|&i| test.image(i).iter().map(|v| (v * 255.0).round() as u8))
            .collect();
        write_npy_u8(&dir.join(name), &bytes, &[idx.len(), 28, 28]).unwrap();
    };
    write("held_out.npy", &|_| true);
    write("five_classes.npy", &|c| c < 5);
    let spec = format!("idx:{}", mnist.display());
    let score = |fake: &str| {
        let out = format!("{fake}.json");
        let o = vaekit(
            &["metrics", "--real", &spec, "--fake", fake, "--out", &out],
            dir,
            &cache,
        );
        assert!(o.status.success(), "{}", text(&o));
        json(&dir.join(out))
    };
    let (good, bad) = (score("held_out.npy"), score("five_classes.npy"));
    assert!(f(&good, "classifier_accuracy") > 0.9, "{good}");
    assert_eq!(
        good["binarized"], false,
        "grey samples keep the real images grey"
    );
    assert_eq!(
        (
            good["modes_covered"].as_u64(),
            bad["modes_covered"].as_u64()
        ),
        (Some(10), Some(5))
    );
    // The dropped classes' bins are flagged, and coverage-type metrics fall
    // while precision (every sample is a real digit) stays high.
    assert!(
        f(&bad, "ndb") > f(&good, "ndb") + 10.0,
        "NDB {} vs {}",
        f(&bad, "ndb"),
        f(&good, "ndb")
    );
    assert!(
        f(&bad, "recall") < f(&good, "recall") - 0.2,
        "{bad}\n{good}"
    );
    assert!(
        f(&bad, "coverage") < f(&good, "coverage") - 0.2,
        "{bad}\n{good}"
    );
    assert!(f(&bad, "precision") > 0.8 && f(&good, "precision") > 0.8);
    assert!(f(&bad, "fd") > 2.0 * f(&good, "fd") && f(&bad, "mode_kl") > 0.5);
    // Class shares of the dropped classes are exactly what NDB sees missing.
    let fake_shares: Vec<f64> = bad["class_shares_fake"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        fake_shares[5..].iter().sum::<f64>() < 0.05,
        "{fake_shares:?}"
    );
}
