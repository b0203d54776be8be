//! Study 2 — β-VAE over a grid of β (Higgins et al. 2017): where each run
//! lands on the rate–distortion plane (rate = KL, distortion = −log p(x|z);
//! Alemi et al. 2018), and how many latent units stay active as β grows.
//!
//! `cargo run --release --bin beta_sweep -- --quick` (docs/reproducing.md).

use vaekit::report::plot::{Curve, plot_curve, plot_runs};
use vaekit::study::{Study, StudyOutcome, Trained, mean_std, summary_value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main("beta_sweep", run)
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 10 } else { 50 });
    let betas: &[f64] = if study.quick {
        &[0.25, 1.0, 4.0]
    } else {
        &[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    };
    let variants: Vec<(String, Vec<String>)> = betas
        .iter()
        .map(|b| {
            let o = [
                "model.latent_dim=32".to_string(),
                "schedule.kind=constant".to_string(),
                format!("schedule.beta={b}"),
            ];
            (format!("beta={b}"), o.to_vec())
        })
        .collect();
    let settings = study.settings(epochs, &variants);
    let Trained::Done((trained, mut files)) = study.run_and_tabulate(
        &settings,
        study.k,
        &["nll", "elbo", "rec_ll", "kl", "active_units", "mi"],
        &format!(
            "β-VAE with constant β; a Bernoulli VAE with 32 latent dimensions, {epochs} epochs per \
             run. `kl` is the rate, −`rec_ll` the distortion (nats, test set); `elbo` is the \
             β = 1 bound; test NLL by IWAE with k = {}.",
            study.k
        ),
    )?
    else {
        return Ok(StudyOutcome::Planned);
    };
    for (_, label) in &study.data {
        let ours = vaekit::study::of_data(&trained, label);
        // Rate–distortion plane: every finished run is a point.
        let dirs: Vec<_> = ours.iter().flat_map(|t| t.finished.clone()).collect();
        if dirs.len() > 1 {
            files.extend(plot_runs(
                &dirs,
                Some(&study.figures_dir().join(label)),
                &Default::default(),
            )?);
        }
        let per_beta = |pointer: &str| -> Vec<(f64, f64, f64)> {
            betas
                .iter()
                .zip(&ours)
                .map(|(&b, t)| {
                    let v: Vec<f64> = t
                        .finished
                        .iter()
                        .filter_map(|r| summary_value(r, pointer))
                        .collect();
                    let (m, s) = mean_std(&v);
                    (b, m, s)
                })
                .collect()
        };
        let out = study.figures_dir().join(label);
        files.extend(plot_curve(
            &out,
            "active_units_vs_beta",
            &Curve {
                title: format!("Active units vs β — {label} (test, mean ± std over seeds)"),
                x_label: "β".into(),
                y_label: "active units (A_u > 0.01) of 32".into(),
                log_x: true,
                series: vec![("active units".into(), per_beta("/active_units"))],
            },
        )?);
        files.extend(plot_curve(
            &out,
            "rate_and_distortion_vs_beta",
            &Curve {
                title: format!("Rate and distortion vs β — {label} (test)"),
                x_label: "β".into(),
                y_label: "nats per image".into(),
                log_x: true,
                series: vec![
                    ("rate: KL".into(), per_beta("/kl")),
                    (
                        "distortion: −log p(x|z)".into(),
                        per_beta("/rec_ll")
                            .into_iter()
                            .map(|(b, m, s)| (b, -m, s))
                            .collect(),
                    ),
                ],
            },
        )?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
