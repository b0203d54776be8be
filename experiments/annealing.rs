//! Study 1 — KL annealing and its rivals against posterior collapse: no
//! schedule, linear and sigmoid KL annealing (Bowman et al. 2016), cyclical β
//! (Fu et al. 2019) and free bits (Kingma et al. 2016) at several λ, on each
//! dataset given. Table: test NLL (IWAE), ELBO, KL, active units, I(x;z),
//! mean ± std over seeds. Figures: KL per dimension for each schedule (seed
//! 0) and the schedules' KL curves overlaid.
//!
//! `cargo run --release --bin annealing -- --quick` (docs/reproducing.md).

use vaekit::study::{Study, StudyOutcome, Trained};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main("annealing", run)
}

/// The schedules compared, for runs of `epochs` epochs (schedules in epochs,
/// so they stretch with the run).
fn schedules(epochs: usize, quick: bool) -> Vec<(String, Vec<String>)> {
    let e = epochs as f64;
    let mut s = vec![
        (
            "none".to_string(),
            vec!["schedule.kind=constant".to_string()],
        ),
        (
            "linear".into(),
            vec![
                "schedule.kind=linear".into(),
                "schedule.unit=epochs".into(),
                format!("schedule.warmup={}", e / 2.0),
            ],
        ),
        (
            "sigmoid".into(),
            vec![
                "schedule.kind=sigmoid".into(),
                "schedule.unit=epochs".into(),
                format!("schedule.midpoint={}", e / 4.0),
                format!("schedule.rate={}", 20.0 / e),
            ],
        ),
        (
            "cyclical".into(),
            vec![
                "schedule.kind=cyclical".into(),
                "schedule.unit=epochs".into(),
                format!("schedule.cycles={}", if quick { 2 } else { 4 }),
                "schedule.ratio=0.5".into(),
            ],
        ),
    ];
    let lambdas: &[f64] = if quick {
        &[0.25, 1.0]
    } else {
        &[0.1, 0.25, 0.5, 1.0]
    };
    for l in lambdas {
        s.push((
            format!("free_bits={l}"),
            vec![format!("objective.free_bits={l}")],
        ));
    }
    s
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 10 } else { 50 });
    let variants: Vec<(String, Vec<String>)> = schedules(epochs, study.quick)
        .into_iter()
        .map(|(name, mut o)| {
            // More latent dimensions than the data needs, so some can die.
            o.push("model.latent_dim=32".into());
            (name, o)
        })
        .collect();
    let settings = study.settings(epochs, &variants);
    let Trained::Done((trained, mut files)) = study.run_and_tabulate(
        &settings,
        study.k,
        &["nll", "bits_per_dim", "elbo", "kl", "active_units", "mi"],
        &format!(
            "KL annealing, cyclical β and free bits against posterior collapse: a Bernoulli VAE \
             (MLP 784-400-32, 32 latent dimensions) trained {epochs} epochs per run; test NLL by \
             IWAE with k = {}.",
            study.k
        ),
    )?
    else {
        return Ok(StudyOutcome::Planned);
    };
    // Figures per dataset from each setting's first seed: KL per dimension
    // for every schedule, and their KL curves overlaid.
    for (_, label) in &study.data {
        files.extend(study.plot_first_seeds(&trained, label)?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
