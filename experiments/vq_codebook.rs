//! Study 4 — VQ-VAE codebook collapse: codebook size K × update rule
//! (codebook loss vs exponential moving averages) × dead-code restarts.
//! Table: bits/dim under a uniform code prior, reconstruction, perplexity
//! and codes used. Figures: codebook usage over training per setting,
//! perplexity curves overlaid, and perplexity and codes used against K.
//!
//! `cargo run --release --bin vq_codebook -- --quick` (docs/reproducing.md).

use vaekit::report::plot::{Curve, plot_curve};
use vaekit::study::{Study, StudyOutcome, Trained, mean_std, test_metric};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main("vq_codebook", run)
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 2 } else { 10 });
    let sizes: &[usize] = if study.quick {
        &[32, 128]
    } else {
        &[16, 64, 256, 512]
    };
    let rules = [
        ("ema", "false"),
        ("ema", "true"),
        ("loss", "false"),
        ("loss", "true"),
    ];
    let rule_name = |u: &str, r: &str| {
        if r == "true" {
            format!("{u}+restart")
        } else {
            u.to_string()
        }
    };
    let mut variants: Vec<(String, Vec<String>)> = Vec::new();
    for &(update, restart) in &rules {
        for &k in sizes {
            let o = [
                "model.kind=vq_vae".to_string(),
                format!("model.vq_vae.codes={k}"),
                format!("model.vq_vae.codebook_update={update}"),
                format!("model.vq_vae.dead_code_restart={restart}"),
            ];
            variants.push((format!("K={k}-{}", rule_name(update, restart)), o.to_vec()));
        }
    }
    let settings = study.settings(epochs, &variants);
    // q(z|x) is one-hot: L_k is the ELBO for every k, so k = 1 is exact.
    let Trained::Done((trained, mut files)) = study.run_and_tabulate(
        &settings,
        1,
        &["bits_per_dim", "nll", "rec_ll", "codebook_perplexity", "codes_used"],
        &format!(
            "VQ-VAE (conv encoder/decoder, a grid of P codes of size 16, P = 49 for 28×28 and \
             64 for 32×32 images, commitment 0.25), \
             {epochs} epochs per run. `nll` and `bits_per_dim` are under a **uniform prior over \
             the K codes** (KL = P·ln K; q is one-hot, so the bound is exact at k = 1); \
             `rec_ll` is log p(x|z_q); `codebook_perplexity` is exp(H) of the codebook usage and `codes_used` \
             the codes chosen at least once, both on the test set."
        ),
    )? else {
        return Ok(StudyOutcome::Planned);
    };
    for (_, label) in &study.data {
        let ours = vaekit::study::of_data(&trained, label);
        let out = study.figures_dir().join(label);
        files.extend(study.plot_first_seeds(&trained, label)?);
        // Against K, one line per update rule.
        let series = |metric: &str, per_k: bool| -> Vec<(String, Vec<(f64, f64, f64)>)> {
            rules
                .iter()
                .enumerate()
                .map(|(i, &(u, r))| {
                    let points = sizes
                        .iter()
                        .enumerate()
                        .map(|(j, &k)| {
                            let t = &ours[i * sizes.len() + j];
                            let v: Vec<f64> = t
                                .finished
                                .iter()
                                .filter_map(|d| test_metric(d, metric))
                                .map(|v| if per_k { v / k as f64 } else { v })
                                .collect();
                            let (m, s) = mean_std(&v);
                            (k as f64, m, s)
                        })
                        .collect();
                    (rule_name(u, r), points)
                })
                .collect()
        };
        files.extend(plot_curve(
            &out,
            "perplexity_vs_codebook_size",
            &Curve {
                title: format!("Codebook perplexity vs K — {label} (test)"),
                x_label: "codebook size K".into(),
                y_label: "perplexity exp(entropy of usage)".into(),
                log_x: true,
                series: series("codebook_perplexity", false),
            },
        )?);
        files.extend(plot_curve(
            &out,
            "codes_used_vs_codebook_size",
            &Curve {
                title: format!("Fraction of codes used vs K — {label} (test)"),
                x_label: "codebook size K".into(),
                y_label: "codes used / K".into(),
                log_x: true,
                series: series("codes_used", true),
            },
        )?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
