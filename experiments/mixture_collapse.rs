//! Study 3 — mixture posterior collapse: VAEs with a learned Gaussian-mixture
//! prior and with the VampPrior (Tomczak & Welling 2018), K components each,
//! with and without remedies (KL annealing; free bits on the total KL). The
//! aggregate posterior's use of the components over training is the
//! diagnostic: usage ū_k and the effective number exp(H(ū)).
//!
//! `cargo run --release --bin mixture_collapse -- --quick` (docs/reproducing.md).

use vaekit::study::{Study, StudyOutcome, Trained};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main("mixture_collapse", run)
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 8 } else { 50 });
    let k = 10;
    let remedies: Vec<(&str, Vec<String>)> = vec![
        ("plain", vec![]),
        (
            "annealed",
            vec![
                "schedule.kind=linear".into(),
                "schedule.unit=epochs".into(),
                format!("schedule.warmup={}", epochs as f64 / 2.0),
            ],
        ),
        // The mixture KL is one Monte-Carlo total, so λ applies to it.
        ("free_bits=5", vec!["objective.free_bits=5".into()]),
    ];
    let mut variants: Vec<(String, Vec<String>)> = Vec::new();
    for prior in ["gmm", "vamp"] {
        for (remedy, extra) in &remedies {
            let mut o = vec![
                format!("model.kind={prior}"),
                format!("model.{prior}.components={k}"),
            ];
            o.extend(extra.iter().cloned());
            variants.push((format!("{prior}-{remedy}"), o));
        }
    }
    let settings = study.settings(epochs, &variants);
    let Trained::Done((trained, mut files)) = study.run_and_tabulate(
        &settings,
        study.k,
        &["nll", "elbo", "kl", "components_effective", "active_units", "mi"],
        &format!(
            "Mixture-prior VAEs with K = {k} components (10 latent dimensions, {epochs} epochs per \
             run). `components_effective` is exp(H(ū)), the effective number of prior components the \
             aggregate posterior uses on the test set (1 = collapsed onto one, {k} = all evenly). \
             Test NLL by IWAE with k = {}.",
            study.k
        ),
    )? else {
        return Ok(StudyOutcome::Planned);
    };
    for (_, label) in &study.data {
        files.extend(study.plot_first_seeds(&trained, label)?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
