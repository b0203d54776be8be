//! Study 6 — posterior collapse in LSTM text VAEs, and the remedies that
//! undo it: a vanilla text VAE, KL annealing (Bowman et al. 2016), cyclical β
//! (Fu et al. 2019), free bits in Kingma et al.'s form and both of Li et
//! al.'s (2019), word dropout (Bowman et al.), aggressive encoder training
//! (He et al. 2019), encoder pre-training with a decoder reset plus free bits
//! (Li et al.), and the LSTM language model every text VAE is measured
//! against. On `synthetic-text` (He et al.'s generator, whose exact entropy
//! is computed by quadrature) and on any `text:DIR` given.
//!
//! Table: test NLL per sentence (IWAE), perplexity, ELBO, KL, active units,
//! I(x;z), mean ± std over seeds. Figures: KL per dimension over training
//! for each setting (seed 0), and the KL curves overlaid.
//!
//! `cargo run --release --bin text_collapse -- --quick` (docs/reproducing.md).

use vaekit::study::{Study, StudyOutcome, Trained};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main_with_default_data("text_collapse", "synthetic-text", run)
}

/// The model every setting shares, for a dataset: small on the synthetic
/// data (its generator has a 2-D latent and hidden 100), larger on real text.
fn model(spec: &str, quick: bool) -> Vec<String> {
    let (embed, hidden, latent) = match (spec == "synthetic-text", quick) {
        (true, _) => (64, 128, 8),
        (false, true) => (64, 128, 16),
        (false, false) => (256, 512, 32),
    };
    let mut o = vec![
        "model.kind=text_vae".to_string(),
        format!("model.text.embed={embed}"),
        format!("model.text.hidden={hidden}"),
        format!("model.latent_dim={latent}"),
        "train.batch_size=32".into(),
        "train.log_every=25".into(),
    ];
    if spec != "synthetic-text" {
        // A 5k vocabulary keeps the output layer affordable on 2 cores.
        o.extend([
            "data.max_vocab=5000".to_string(),
            "data.max_len=50".into(),
            "model.text.embed_dropout=0.3".into(),
            "model.text.output_dropout=0.3".into(),
        ]);
        if quick {
            o.push("data.limit=3000".into());
        }
    } else if quick {
        o.push("data.synthetic_size=4000".into());
    }
    o
}

/// The settings compared, for runs of `epochs` epochs of `steps_per_epoch`
/// steps and `latent` dimensions.
fn variants(
    epochs: usize,
    steps_per_epoch: usize,
    latent: usize,
    quick: bool,
) -> Vec<(String, Vec<String>)> {
    let e = epochs as f64;
    let linear = |warmup: f64| {
        vec![
            "schedule.kind=linear".to_string(),
            "schedule.unit=epochs".into(),
            format!("schedule.warmup={warmup}"),
        ]
    };
    // λ per dimension for the per-dimension forms; the same total for Li et al.'s per-example form.
    let lambda = 0.25;
    let total = lambda * latent as f64;
    let pretrain = (epochs * steps_per_epoch / 4).max(1);
    let mut v = vec![
        ("lm".to_string(), vec!["model.kind=lstm_lm".to_string()]),
        ("vanilla".into(), vec![]),
        ("annealing".into(), linear(e / 2.0)),
        (
            "cyclical".into(),
            vec![
                "schedule.kind=cyclical".into(),
                "schedule.unit=epochs".into(),
                format!("schedule.cycles={}", if quick { 2 } else { 4 }),
                "schedule.ratio=0.5".into(),
            ],
        ),
        (
            format!("fb-kingma-{lambda}"),
            vec![format!("objective.free_bits={lambda}")],
        ),
        (
            format!("fb-example-{total}"),
            vec![
                format!("objective.free_bits={total}"),
                "objective.free_bits_form=example".into(),
            ],
        ),
        (
            format!("fb-example-dim-{lambda}"),
            vec![
                format!("objective.free_bits={lambda}"),
                "objective.free_bits_form=example-dim".into(),
            ],
        ),
        (
            "word-dropout-0.5".into(),
            vec!["model.text.word_dropout=0.5".into()],
        ),
        ("aggressive".into(), {
            let mut o = vec!["train.aggressive=true".to_string()];
            if quick {
                // The full inner loop (≤ 100 updates, patience 15) multiplies a
                // step's cost tens of times; quick mode keeps it short.
                o.extend([
                    "train.aggressive_max_inner=20".into(),
                    "train.aggressive_patience=5".into(),
                ]);
            }
            o
        }),
    ];
    let mut pre = linear(e / 4.0);
    pre.extend([
        format!("train.pretrain_steps={pretrain}"),
        format!("objective.free_bits={total}"),
        "objective.free_bits_form=example".into(),
    ]);
    v.push((format!("pretrain+fb-{total}"), pre));
    v
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 6 } else { 30 });
    let mut settings = Vec::new();
    let mut entropy_lines = Vec::new();
    for (spec, label) in &study.data {
        let base = model(spec, study.quick);
        let mut o = base.clone();
        o.push(format!("data.spec={spec}"));
        o.extend(study.user_overrides.iter().cloned());
        let cfg = vaekit::config::ExperimentConfig::load(None, &o)?;
        let n = vaekit::data::load(&cfg.data, 0)?.train.n();
        let spe = n.div_ceil(cfg.train.batch_size);
        for (name, extra) in variants(epochs, spe, cfg.model.latent_dim, study.quick) {
            let mut overrides = vec![
                format!("data.spec={spec}"),
                format!("train.epochs={epochs}"),
            ];
            overrides.extend(base.iter().cloned());
            overrides.extend(extra);
            settings.push(vaekit::study::Setting {
                name: format!("{label}-{name}"),
                data: label.clone(),
                overrides,
            });
        }
        if spec == "synthetic-text" {
            let sentences = if study.quick { 100 } else { 1000 };
            println!(
                "synthetic-text: the exact entropy by quadrature over z on {sentences} sentences"
            );
            entropy_lines.push(vaekit::data::synthetic_text_entropy_note(sentences, 0));
        }
    }
    let Trained::Done((trained, mut files)) = study.run_and_tabulate(
        &settings,
        study.k,
        &["nll", "ppl", "elbo", "kl", "active_units", "mi"],
        &format!(
            "Posterior collapse in LSTM text VAEs and its remedies, {epochs} epochs per run, batch \
             32; test NLL per sentence by IWAE with k = {}, perplexity = exp(Σ NLL / Σ predicted \
             tokens). `lm` is the LSTM language model (the decoder alone): a text VAE whose KL is 0 \
             is this model. Settings: see `experiments/text_collapse.rs` and docs/objective.md.\n\n{}",
            study.k,
            entropy_lines.join("\n\n")
        ),
    )? else {
        return Ok(StudyOutcome::Planned);
    };
    // KL on a log axis: a collapsed VAE's 0.005 nats and a pre-training
    // autoencoder's 90 share the figures.
    let log = vaekit::report::plot::PlotOptions { log_kl: true };
    for (_, label) in &study.data {
        files.extend(study.plot_first_seeds_with(&trained, label, &log)?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
