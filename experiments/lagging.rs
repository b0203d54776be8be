//! Study — He et al. (2019), "Lagging inference networks and posterior
//! collapse in variational autoencoders", on their synthetic data: the
//! vanilla VAE, KL annealing, and aggressive inference-network training
//! with and without annealing, in their synthetic setting; and their
//! posterior-mean-space figures over training for a vanilla and an
//! aggressive run.
//!
//! The setting, from the authors' `config/config_synthetic.py` and
//! `text.py` (`jxhe/vae-lagging-encoder`): a 2-D latent, embedding 50,
//! LSTMs 50, decoder dropout 0.5 in and out, no biases on the dense layers
//! (μ/log σ² heads, z → state, output), U(−0.01, 0.01) weights and
//! U(−0.1, 0.1) embeddings, batch 16, SGD with learning rate 1.0 clipped at
//! 5, the plateau decay with reload-best, 50 epochs; the annealed rows take
//! the KL weight from 0.1 to 1 over 10 epochs (`--kl_start 0.1 --warm_up
//! 10`, their README). The figure runs follow their `toy.py`: a 1-D latent,
//! E_{p(z|x)}[z] by quadrature on [−20, 20] in steps of 0.1 for 500
//! training sentences every 200 steps.
//!
//! Table: test NLL per sentence (IWAE, k = `--k`), −ELBO, KL, I(x;z),
//! active units, mean ± std over seeds, and the data's exact entropy (the
//! floor of any NLL). The study also writes the sentences it trained on as
//! `data/{train,valid,test}.txt`, for `docs/python/lagging_ref.py` (the
//! authors' algorithm in PyTorch) to train on the same sentences.
//!
//! Modes: full = 50 epochs (hours per run here); `--epochs N` = the first N
//! epochs of the same schedule (a budget); `--quick` = CI-sized.
//!
//! `cargo run --release --bin lagging -- --epochs 3` (docs/reproducing.md).

use vaekit::study::{Setting, Study, StudyOutcome, Trained};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main_with_default_data("lagging", "synthetic-text", run)
}

/// He et al.'s synthetic setting (`config_synthetic.py`, `text.py`).
fn setting(quick: bool) -> Vec<String> {
    vaekit::papers::he2019::synthetic_setting(quick)
}

/// The table's settings: He et al.'s Table 2 rows on the synthetic data.
fn variants() -> Vec<(String, Vec<String>)> {
    let annealing = || {
        [
            "schedule.kind=linear",
            "schedule.unit=epochs",
            "schedule.beta_start=0.1",
            "schedule.warmup=10",
        ]
        .map(String::from)
        .to_vec()
    };
    let aggressive = || vec!["train.aggressive=true".to_string()];
    vec![
        ("vanilla".into(), vec![]),
        ("annealing".into(), annealing()),
        ("aggressive".into(), aggressive()),
        ("aggressive+annealing".into(), {
            let mut o = aggressive();
            o.extend(annealing());
            o
        }),
    ]
}

/// The figure runs (their `toy.py`): a 1-D latent and posterior-mean
/// snapshots.
fn figure_variants(quick: bool) -> Vec<(String, Vec<String>)> {
    let snapshots = |aggressive: bool| {
        let mut o = vec![
            "model.latent_dim=1".to_string(),
            format!(
                "monitor.posterior_mean_every={}",
                if quick { 20 } else { 200 }
            ),
            format!(
                "monitor.posterior_mean_points={}",
                if quick { 100 } else { 500 }
            ),
            "monitor.posterior_mean_range=20".into(),
            format!(
                "monitor.posterior_mean_step={}",
                if quick { 0.4 } else { 0.1 }
            ),
        ];
        if aggressive {
            o.push("train.aggressive=true".into());
        }
        o
    };
    vec![
        ("figure-vanilla".into(), snapshots(false)),
        ("figure-aggressive".into(), snapshots(true)),
    ]
}

fn with_base(settings: Vec<Setting>, base: &[String]) -> Vec<Setting> {
    settings
        .into_iter()
        .map(|mut s| {
            // The setting first, the variant's own keys (and the user's) after.
            let mut o = base.to_vec();
            o.append(&mut s.overrides);
            s.overrides = o;
            s
        })
        .collect()
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 2 } else { 50 });
    let base = setting(study.quick);
    let table = with_base(study.settings(epochs, &variants()), &base);
    let figures = with_base(study.settings(epochs, &figure_variants(study.quick)), &base);
    // The sentences every run trains on, for the PyTorch twin.
    let Some(first) = table.first().or(figures.first()) else {
        return Err(vaekit::Error::Usage(
            "lagging: --only left no setting to run".into(),
        ));
    };
    let mut o = first.overrides.clone();
    o.extend(study.user_overrides.iter().cloned());
    let cfg = vaekit::config::ExperimentConfig::load(None, &o)?;
    let data_dir = study.out.join("data");
    vaekit::data::write_text_splits(&vaekit::data::load(&cfg.data, 0)?, &data_dir)?;
    println!("the training sentences are in {}", data_dir.display());
    let first_seed = &study.seeds[..1];
    let fig_runs = if figures.is_empty() {
        Vec::new()
    } else {
        let Trained::Done(runs) = study.train_seeds(&figures, first_seed)? else {
            return Ok(StudyOutcome::Planned);
        };
        runs
    };
    let sentences = if study.quick { 100 } else { 1000 };
    let entropy = vaekit::data::synthetic_text_entropy_note(sentences, 0);
    let mut files = Vec::new();
    // `--only` may leave the table's settings out (the figure runs alone).
    let tabulated = if table.is_empty() {
        Trained::Done((Vec::new(), Vec::new()))
    } else {
        study.run_and_tabulate(
        &table,
        study.k,
        &["nll", "elbo", "kl", "mi", "active_units"],
        &format!(
            "He et al. (2019)'s synthetic setting (2-D latent, embedding and LSTMs 50, dropout \
             0.5, uniform init, batch 16, SGD lr 1.0 clipped at 5, plateau decay with reload-best), \
             {epochs} epochs per run (theirs: 50); test NLL per sentence by IWAE with k = {}. \
             The annealed rows take β from 0.1 to 1 over 10 epochs. Settings: \
             `experiments/lagging.rs`; differences from the authors' code: docs/objective.md.\n\n\
             {entropy}",
            study.k
        ),
    )?
    };
    let Trained::Done((_, table_files)) = tabulated else {
        return Ok(StudyOutcome::Planned);
    };
    files.extend(table_files);
    let opts = vaekit::report::plot::PlotOptions::default();
    for t in &fig_runs {
        if let Some(run) = t.finished.first() {
            files.extend(vaekit::report::plot::plot_runs(
                std::slice::from_ref(run),
                Some(&study.figures_dir().join(&t.setting)),
                &opts,
            )?);
        }
    }
    let mut all = table;
    all.extend(figures);
    study.finish(&all, &files)?;
    Ok(StudyOutcome::Finished)
}
