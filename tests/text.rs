//! Text VAEs as a user meets them: `vaekit train` on a folder of sentences
//! and on `synthetic-text`, the language-model baseline, `eval`, `sample`,
//! `report` and `plot` on text runs, exact resumption with every kind of
//! training noise on, clear errors for bad text, and the model's NLL
//! against the exact entropy of the synthetic data.

mod common;

use common::{assert_clean_error, text, vaekit};
use std::path::{Path, PathBuf};

/// A small corpus with structure a latent can carry: each sentence is about
/// one of two topics, its words drawn from that topic's list.
fn corpus(dir: &Path) {
    let topics = [
        [
            "the", "king", "spake", "unto", "his", "servants", "and", "people",
        ],
        ["a", "river", "went", "out", "of", "eden", "to", "water"],
    ];
    let mut state = 12345u64;
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    for (name, n) in [("train.txt", 300), ("valid.txt", 60), ("test.txt", 60)] {
        let mut s = String::new();
        for i in 0..n {
            let words = &topics[i % 2];
            let len = 3 + next(6) as usize;
            let line: Vec<&str> = (0..len).map(|_| words[next(8) as usize]).collect();
            s.push_str(&line.join(" "));
            s.push('\n');
        }
        std::fs::write(dir.join(name), s).unwrap();
    }
}

const SMALL: &[&str] = &[
    "--set",
    "train.epochs=2",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.log_every=5",
    "--set",
    "model.latent_dim=4",
    "--set",
    "model.text.embed=16",
    "--set",
    "model.text.hidden=32",
];

fn train(cwd: &Path, out: &str, data: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["train", "--out", out, "--data", data];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    let o = vaekit(&args, cwd);
    assert!(o.status.success(), "{}", text(&o));
    cwd.join(out)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_text_vae_and_a_language_model_train_evaluate_sample_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    corpus(tmp.path());
    let spec = format!("text:{}", tmp.path().display());
    // No model.kind given: sentences train a text VAE.
    let vae = train(tmp.path(), "vae", &spec, &[]);
    let cfg = std::fs::read_to_string(vae.join("config.toml")).unwrap();
    assert!(cfg.contains("kind = \"text_vae\""), "{cfg}");
    // The vocabulary: the reserved ids, then the 16 words, most frequent first.
    let vocab = std::fs::read_to_string(vae.join("vocab.txt")).unwrap();
    let words: Vec<&str> = vocab.lines().collect();
    assert_eq!(&words[..4], ["<pad>", "<unk>", "<s>", "</s>"]);
    assert_eq!(words.len(), 4 + 16);
    let s = json(&vae.join("summary.json"));
    assert_eq!(s["data_kind"]["kind"], "tokens");
    assert!(s["elbo"].as_f64().unwrap() < 0.0);

    let lm = train(tmp.path(), "lm", &spec, &["--set", "model.kind=lstm_lm"]);
    // The language model has no latent: its KL is exactly 0 and it has no active unit.
    let l = json(&lm.join("summary.json"));
    assert_eq!(l["kl"].as_f64().unwrap(), 0.0);
    assert_eq!(l["active_units"].as_u64().unwrap(), 0);

    // eval: NLL per sentence, per token and perplexity; for the LM the bound
    // is exact (all weights equal), so it equals the ELBO.
    for (run, exact) in [(&vae, false), (&lm, true)] {
        let o = vaekit(&["eval", run.to_str().unwrap(), "--k", "20"], tmp.path());
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("perplexity"), "{}", text(&o));
        let e = json(&run.join("eval-k20.json"));
        let (nll, ppl, per_tok) = (
            e["nll_nats"].as_f64().unwrap(),
            e["ppl"].as_f64().unwrap(),
            e["nll_per_token"].as_f64().unwrap(),
        );
        assert!(e.get("bits_per_dim").is_none(), "no bits/dim for tokens");
        // ppl = exp(Σ NLL / Σ predicted tokens), tokens = words + </s>.
        let csv = std::fs::read_to_string(run.join("eval-k20.csv")).unwrap();
        let n = csv.lines().count() - 1;
        let test = std::fs::read_to_string(tmp.path().join("test.txt")).unwrap();
        let tokens: usize = test.lines().map(|l| l.split(' ').count() + 1).sum();
        assert_eq!(n, 60);
        assert!((per_tok - nll * n as f64 / tokens as f64).abs() < 1e-9);
        assert!((ppl - per_tok.exp()).abs() < 1e-9 * ppl);
        if exact {
            assert!((nll + e["elbo_nats"].as_f64().unwrap()).abs() < 1e-3, "{e}");
        }
    }

    // sample: sentences of the vocabulary's words, reconstructions, a homotopy.
    let o = vaekit(&["sample", "vae", "--n", "4"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = std::fs::read_to_string(vae.join("samples.txt")).unwrap();
    assert!(
        out.contains("from the prior")
            && out.contains("reconstructions")
            && out.contains("t=0.500"),
        "{out}"
    );
    let sampled: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("1.") || l.trim_start().starts_with("2."))
        .flat_map(|l| l.split_whitespace().skip(1))
        .collect();
    assert!(sampled.iter().all(|w| words.contains(w)), "{sampled:?}");

    // report and plot read text runs; the table has the perplexity.
    let o = vaekit(
        &["report", "vae", "lm", "--metrics", "nll,ppl,kl,mi"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ppl"), "{}", text(&o));
    let o = vaekit(&["plot", "vae"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    // export: the weights, the config and the vocabulary that gives ids meaning.
    let o = vaekit(&["export", "vae"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    for f in ["model.safetensors", "config.toml", "vocab.txt"] {
        assert!(vae.join("export").join(f).is_file(), "export lacks {f}");
    }
    assert_eq!(
        std::fs::read_to_string(vae.join("export/vocab.txt")).unwrap(),
        vocab
    );
    // sweep: a grid over a text knob, then its table.
    let data_set = format!("data.spec={spec}");
    let o = vaekit(
        &[
            "sweep",
            "--out",
            "sw",
            "--set",
            &data_set,
            "--grid",
            "model.text.word_dropout=0,1",
            "--set",
            "train.epochs=1",
            "--set",
            "model.text.hidden=16",
            "--set",
            "model.text.embed=8",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut runs: Vec<String> = std::fs::read_dir(tmp.path().join("sw"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("summary.json").is_file())
        .map(|e| e.path().display().to_string())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let mut args = vec!["report", "--group-by", "model.text.word_dropout"];
    args.extend(runs.iter().map(String::as_str));
    let o = vaekit(&args, tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let table = text(&o);
    assert!(
        table
            .lines()
            .filter(|l| l.starts_with("| 0") || l.starts_with("| 1"))
            .count()
            == 2,
        "{table}"
    );
}

#[test]
fn a_run_evaluated_on_other_sentences_with_another_vocabulary_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    corpus(tmp.path());
    let spec = format!("text:{}", tmp.path().display());
    let run = train(tmp.path(), "r", &spec, &["--set", "train.epochs=1"]);
    // The corpus changes under the run: a new word becomes the most frequent.
    let mut t = std::fs::read_to_string(tmp.path().join("train.txt")).unwrap();
    t.push_str(&"zebra zebra zebra\n".repeat(200));
    std::fs::write(tmp.path().join("train.txt"), t).unwrap();
    let o = vaekit(&["eval", run.to_str().unwrap(), "--k", "5"], tmp.path());
    assert_clean_error(&o, &["vocab.txt", "differs", "zebra"]);
}

#[test]
fn bad_text_and_wrong_pairings_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    corpus(tmp.path());
    let spec = format!("text:{}", tmp.path().display());
    // Latin-1 bytes on line 3 of the test split.
    std::fs::write(tmp.path().join("test.txt"), b"a b\nc\nna\xefve\n").unwrap();
    let o = vaekit(&["train", "--out", "x", "--data", &spec], tmp.path());
    assert_clean_error(&o, &["test.txt", "line 3", "UTF-8"]);
    assert!(
        !tmp.path().join("x/config.toml").exists(),
        "no half-made run"
    );
    corpus(tmp.path());
    // An image model on sentences, a text model on images.
    let o = vaekit(
        &[
            "train",
            "--out",
            "y",
            "--data",
            &spec,
            "--set",
            "model.kind=vae",
        ],
        tmp.path(),
    );
    assert_clean_error(&o, &["model.kind", "text_vae"]);
    let o = vaekit(
        &["train", "--out", "z", "--set", "model.kind=text_vae"],
        tmp.path(),
    );
    assert_clean_error(&o, &["model.kind", "sentences"]);
    // Procedures a model without a separate encoder (the VQ-VAE) or a
    // resettable decoder refuses, before a run folder is made.
    for (key, needle) in [
        ("train.aggressive=true", "train.aggressive"),
        ("train.on_collapse=aggressive", "train.on_collapse"),
        ("train.on_collapse=reset_decoder", "reset_decoder"),
    ] {
        let o = vaekit(
            &[
                "train",
                "--out",
                "w",
                "--set",
                key,
                "--set",
                "model.kind=vq_vae",
                "--set",
                "data.synthetic_size=100",
            ],
            tmp.path(),
        );
        assert_clean_error(&o, &[needle]);
        assert!(!tmp.path().join("w").exists(), "no half-made run");
    }
    // A list whose `stop` is not last, and an unknown action.
    for (value, needle) in [
        (
            "train.on_collapse=[\"stop\",\"anneal\"]",
            "can only come last",
        ),
        ("train.on_collapse=revive", "reset_decoder"),
    ] {
        let o = vaekit(&["train", "--out", "w", "--set", value], tmp.path());
        assert_clean_error(&o, &["train.on_collapse", needle]);
    }
    // The posterior-mean space is for 1- or 2-D latents.
    let o = vaekit(
        &[
            "train",
            "--out",
            "pm",
            "--data",
            &spec,
            "--set",
            "model.kind=text_vae",
            "--set",
            "model.latent_dim=3",
            "--set",
            "monitor.posterior_mean_every=10",
        ],
        tmp.path(),
    );
    assert_clean_error(&o, &["monitor.posterior_mean_every", "model.latent_dim"]);
    assert!(!tmp.path().join("pm").exists(), "no half-made run");
    // A missing split names the file.
    std::fs::remove_file(tmp.path().join("valid.txt")).unwrap();
    let o = vaekit(&["train", "--out", "v", "--data", &spec], tmp.path());
    assert_clean_error(&o, &["valid.txt", "missing"]);
}

#[test]
fn a_resumed_text_run_repeats_every_kind_of_training_noise_bit_for_bit() {
    use vaekit::config::ExperimentConfig;
    use vaekit::train::progress::Progress;
    let tmp = tempfile::tempdir().unwrap();
    corpus(tmp.path());
    let set = |extra: &[&str]| {
        let mut o: Vec<String> = vec![
            format!("data.spec=text:{}", tmp.path().display()),
            "train.epochs=3".into(),
            "train.batch_size=16".into(),
            "train.keep_checkpoints=3".into(),
            "model.latent_dim=3".into(),
            "model.text.embed=8".into(),
            "model.text.hidden=16".into(),
            "model.text.word_dropout=0.4".into(),
            "model.text.embed_dropout=0.2".into(),
            "model.text.output_dropout=0.2".into(),
        ];
        o.extend(extra.iter().map(|s| s.to_string()));
        ExperimentConfig::load(None, &o).unwrap()
    };
    let dev = burn::tensor::Device::flex();
    for (name, extra) in [
        // The gradient-noise monitor at every step, the checkpoint's
        // included: its extra backward passes leave training untouched,
        // and the resumed run measures the checkpoint's step once.
        (
            "plain",
            &[
                "monitor.grad_noise_every=1",
                "monitor.grad_noise_estimates=3",
            ][..],
        ),
        // Aggressive training's extra batches and noise are keyed too; the
        // pre-training reset happens inside the first epoch.
        (
            "aggressive",
            &[
                "train.aggressive=true",
                "train.aggressive_max_inner=6",
                "train.aggressive_patience=2",
                "train.pretrain_steps=10",
            ][..],
        ),
        // The trainer acting on its alarm: every remedy in turn, from
        // evaluations inside and at the end of epochs (a KL floor no run
        // reaches makes every evaluation count as collapsed).
        (
            "revive",
            &[
                // 19 steps per epoch: evaluations at 5, 10, 15, 19 (epoch
                // end), 20, 25, 30, 35, 38, 40, …; every third one acts: 5,
                // 19 (the checkpoint resumed from), 30 and 40.
                "monitor.every=5",
                "monitor.alarm_kl=1e9",
                "monitor.alarm_patience=1",
                "train.on_collapse=[\"anneal\",\"free_bits\",\"aggressive\",\"reset_decoder\"]",
                "train.on_collapse_patience=3",
                "train.on_collapse_anneal_epochs=1",
                "train.aggressive_max_inner=4",
                "train.aggressive_patience=2",
                // The plateau schedule forgets its best model at each intervention.
                "optimizer.lr_schedule=plateau",
                "optimizer.plateau_after=0",
                "optimizer.plateau_patience=1",
            ][..],
        ),
        // He et al.'s procedure: the decoder-only joint step, SGD with
        // momentum (state to carry), the plateau schedule (its best model
        // in the checkpoint), and posterior-mean snapshots (the file is cut
        // back to the checkpoint and continued).
        (
            "he2019",
            &[
                "train.aggressive=true",
                "train.aggressive_max_inner=6",
                "train.aggressive_patience=2",
                "optimizer.kind=sgd",
                "optimizer.lr=0.5",
                "optimizer.momentum=0.5",
                "optimizer.clip_norm=5",
                "optimizer.lr_schedule=plateau",
                "optimizer.plateau_after=0",
                "optimizer.plateau_patience=1",
                "model.init=uniform",
                "model.text.linear_bias=false",
                "model.latent_dim=1",
                "monitor.posterior_mean_every=7",
                "monitor.posterior_mean_points=20",
                "monitor.posterior_mean_step=0.5",
            ][..],
        ),
    ] {
        let cfg = set(extra);
        let a = tmp.path().join(format!("{name}-a"));
        std::fs::create_dir_all(&a).unwrap();
        vaekit::run::train(&cfg, &a, &dev, Some(Progress::Quiet)).unwrap();
        // The same run stopped after epoch 1: drop what came later and resume.
        let b = tmp.path().join(format!("{name}-b"));
        std::fs::create_dir_all(b.join("checkpoints")).unwrap();
        for f in [
            "config.toml",
            "vocab.txt",
            "metrics.jsonl",
            "posterior_means.jsonl",
        ] {
            if a.join(f).is_file() {
                std::fs::copy(a.join(f), b.join(f)).unwrap();
            }
        }
        let mut ckpts: Vec<PathBuf> = std::fs::read_dir(a.join("checkpoints"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        ckpts.sort();
        let first = &ckpts[0];
        let dest = b.join("checkpoints").join(first.file_name().unwrap());
        std::fs::create_dir_all(&dest).unwrap();
        for f in std::fs::read_dir(first).unwrap().flatten() {
            std::fs::copy(f.path(), dest.join(f.file_name())).unwrap();
        }
        vaekit::run::resume(&b, None, &dev, Some(Progress::Quiet)).unwrap();
        let strip = |p: &Path| -> Vec<serde_json::Value> {
            common::metrics_lines(p)
                .into_iter()
                .map(|mut l| {
                    let o = l.as_object_mut().unwrap();
                    o.remove("time_s");
                    o.remove("images_per_s");
                    l
                })
                .collect()
        };
        assert_eq!(
            strip(&a),
            strip(&b),
            "{name}: metrics.jsonl differs after resume"
        );
        let (sa, sb) = (json(&a.join("summary.json")), json(&b.join("summary.json")));
        assert_eq!(sa["elbo"], sb["elbo"], "{name}");
        assert_eq!(sa["kl_per_dim"], sb["kl_per_dim"], "{name}");
        assert_eq!(sa["mi"], sb["mi"], "{name}");
        if name == "plain" {
            let steps: Vec<u64> = common::metrics_lines(&a)
                .iter()
                .filter(|l| l["split"] == "grad_noise")
                .map(|l| l["step"].as_u64().unwrap())
                .collect();
            let last = sa["steps"].as_u64().unwrap();
            assert_eq!(steps, (0..last).collect::<Vec<_>>(), "one line per step");
            assert_eq!(sa["grad_noise"]["grad_noise_step"], last - 1);
            assert!(sa["grad_noise"]["encoder_grad_snr"].as_f64().unwrap() > 0.0);
            assert!(sa["grad_noise"]["decoder_grad_var"].as_f64().unwrap() > 0.0);
            let files = vaekit::report::plot::plot_runs(
                std::slice::from_ref(&a),
                None,
                &Default::default(),
            )
            .unwrap();
            assert!(
                files.contains(&a.join("plots").join("grad_snr.png")),
                "{files:?}"
            );
        }
        if name == "revive" {
            let remedies: Vec<&str> = sa["interventions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["remedy"].as_str().unwrap())
                .collect();
            assert_eq!(
                remedies,
                ["anneal", "free_bits", "aggressive", "reset_decoder"],
                "{sa}"
            );
            assert_eq!(sa["interventions"], sb["interventions"]);
            let steps: Vec<u64> = sa["interventions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["step"].as_u64().unwrap())
                .collect();
            let resumed_from = ckpts[0]
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("step-")
                .parse::<u64>()
                .unwrap();
            // Some before the checkpoint (one at its epoch end), some after.
            assert!(steps.contains(&resumed_from), "{steps:?} vs {resumed_from}");
            assert!(steps.iter().any(|&s| s > resumed_from), "{steps:?}");
            let files = vaekit::report::plot::plot_runs(
                std::slice::from_ref(&a),
                None,
                &Default::default(),
            )
            .unwrap();
            assert!(files.contains(&a.join("plots").join("kl_per_dim.png")));
        }
        if name == "he2019" {
            let read = |r: &Path| std::fs::read_to_string(r.join("posterior_means.jsonl")).unwrap();
            assert_eq!(
                read(&a),
                read(&b),
                "posterior-mean snapshots differ after resume"
            );
            // A snapshot before the first step and every 7 steps after.
            let steps: Vec<u64> = read(&a)
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                        .as_u64()
                        .unwrap()
                })
                .collect();
            assert_eq!(steps[0], 0);
            assert!(steps.windows(2).all(|w| w[1] == w[0] + 7), "{steps:?}");
            let state = json(&ckpts.last().unwrap().join("state.json"));
            assert!(state["plateau"]["best_step"].is_u64(), "{state}");
            assert!(ckpts.last().unwrap().join("best.bpk").is_file());
            // `vaekit plot` draws the posterior-mean space from the snapshots.
            let files = vaekit::report::plot::plot_runs(
                std::slice::from_ref(&a),
                None,
                &Default::default(),
            )
            .unwrap();
            let png = a.join("plots").join("posterior_mean_space.png");
            assert!(files.contains(&png), "{files:?}");
            let img = image::open(&png).unwrap();
            assert_eq!((img.width(), img.height()), vaekit::report::plot::SIZE);
        }
    }
}

#[test]
fn word_dropout_of_one_hides_every_word_and_only_words() {
    use vaekit::models::{Batch, LatentModel};
    let dev = burn::tensor::Device::flex();
    let mut cfg = vaekit::config::ExperimentConfig::default();
    cfg.model.kind = vaekit::models::config::ModelKind::TextVae;
    cfg.model.text.word_dropout = 1.0;
    let set = vaekit::data::TokenSet {
        sequences: vec![vec![2, 7, 8, 9, 3], vec![2, 5, 3]],
        vocab: 10,
        pad: 0,
        words: None,
    };
    let kind = vaekit::data::Dataset::Tokens(set.clone()).kind();
    let model = cfg.build_model(&kind, &dev);
    let b = model.prepare_batch(Batch::Tokens(set.batch(&[0, 1], &dev)), 0, 1);
    let t = match b {
        Batch::Tokens(t) => t,
        _ => unreachable!(),
    };
    let ids: Vec<i64> = t
        .decoder_ids
        .unwrap()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    // <s> and </s> stay (</s> is never an input anyway), padding stays, words become <unk> (1).
    assert_eq!(ids, vec![2, 1, 1, 1, 3, 2, 1, 3, 0, 0]);
    assert!(t.noise_key.is_some());
}

/// The synthetic data's exact log p(x) (quadrature over its 2-D latent)
/// bounds every model: on the same test sentences, a trained text VAE's
/// NLL (−L_k) is never below −log p(x) beyond Monte Carlo error, since
/// E[−L_k] ≥ −log p_model(x) and E_x[−log p_model(x)] ≥ H(data).
#[test]
fn a_trained_text_vae_never_beats_the_exact_entropy_of_synthetic_text() {
    use vaekit::data::{Dataset, synthetic_text};
    use vaekit::metrics::iwae::{IwaeOptions, evaluate};
    use vaekit::train::progress::Progress;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = vaekit::config::ExperimentConfig::load(
        None,
        &[
            "data.spec=synthetic-text".into(),
            "data.synthetic_size=3000".into(),
            "train.epochs=3".into(),
            "train.batch_size=32".into(),
            "model.latent_dim=4".into(),
            "model.text.embed=32".into(),
            "model.text.hidden=64".into(),
        ],
    )
    .unwrap();
    let dev = burn::tensor::Device::flex();
    let run = tmp.path().join("r");
    std::fs::create_dir_all(&run).unwrap();
    vaekit::run::train(&cfg, &run, &dev, Some(Progress::Quiet)).unwrap();
    let model = vaekit::run::open(&run, &dev).unwrap().model;
    let splits = vaekit::data::load(&cfg.data, cfg.seed).unwrap();
    let n = 40;
    let test = splits.test.subset(&(0..n).collect::<Vec<_>>());
    let per = evaluate(
        &model,
        &test,
        &IwaeOptions {
            k: 200,
            chunk: 200,
            seed: 5,
        },
        &dev,
    );
    let generator = synthetic_text::Generator::new(vaekit::data::SYNTHETIC_TEXT_GENERATOR_SEED);
    let Dataset::Tokens(t) = &test else {
        unreachable!()
    };
    let diffs: Vec<f64> = t
        .sequences
        .iter()
        .zip(&per.log_px)
        .map(|(s, lk)| {
            // <s> w₁ … w₁₀ </s> → the generator's ids 0..1000.
            assert_eq!(s.len(), synthetic_text::LEN + 2);
            let words: Vec<u32> = s[1..s.len() - 1].iter().map(|&i| i - 4).collect();
            let exact = generator.exact_log_prob(&words);
            -lk - (-exact)
        })
        .collect();
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let se = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n * (n - 1)) as f64).sqrt();
    assert!(
        mean > -3.0 * se,
        "the model's NLL is below the data's exact entropy: mean NLL − H = {mean:.3} ± {se:.3} nats"
    );
    // And the model learned: well below a uniform guess over the words.
    let nll = -per.log_px.iter().sum::<f64>() / n as f64;
    assert!(nll < 10.0 * (1000f64).ln() - 5.0, "NLL {nll}");
    println!("NLL − H = {mean:.3} ± {se:.3} nats per sentence (NLL {nll:.2})");
}
