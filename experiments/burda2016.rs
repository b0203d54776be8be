//! Study — Burda, Grosse & Salakhutdinov (2016), "Importance Weighted
//! Autoencoders", Table 1 (MNIST), reproduced: the VAE and the IWAE with
//! k ∈ {1, 5, 50}, one and two stochastic layers, test NLL = −L_5000 and
//! active units (per layer), printed beside the paper's numbers.
//!
//! The paper's setting (§5 and appendix C): 784–200–200–50 (one layer),
//! 784–200–200–100–100–100–50 (two layers), tanh, Bernoulli p(x|h1),
//! diagonal Gaussian q; Glorot & Bengio's initialisation; dynamic
//! binarization; batch 20; Adam β1 0.9, β2 0.999, ε 1e−4; 3^i passes at
//! learning rate 0.001·10^(−i/7), i = 0..7 (3,280 passes); the last 400
//! training digits held out for validation. `--epochs N` (or `--passes N`)
//! runs the first N passes of that same schedule; `--quick` is CI-sized (a
//! few thousand digits, k ∈ {1, 5}, one pass).
//!
//! `cargo run --release --bin burda2016 -- --data idx:DIR --passes 40`
//! (docs/reproducing.md: the data, the budget, measured times).

use vaekit::study::{Study, StudyOutcome, Trained, json_value, mean_std, summary_value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main("burda2016", run)
}

/// Passes of the paper's full schedule: Σ_{i=0}^{7} 3^i.
const FULL_PASSES: usize = 3280;

/// One cell of Table 1 as the paper prints it.
struct PaperCell {
    layers: usize,
    objective: &'static str,
    k: usize,
    /// Test NLL in nats (−L_5000).
    nll: f64,
    /// Active units per layer ("k1+k2" for two layers).
    active: &'static [usize],
}

/// Burda, Grosse & Salakhutdinov (2016), arXiv:1509.00519v4, Table 1, the
/// MNIST columns (NLL and active units), read in the paper; the code's
/// README (yburda/iwae) says these are the numbers of the published code.
const PAPER: &[PaperCell] = &[
    cell(1, "vae", 1, 86.76, &[19]),
    cell(1, "vae", 5, 86.47, &[20]),
    cell(1, "vae", 50, 86.35, &[20]),
    cell(1, "iwae", 1, 86.76, &[19]),
    cell(1, "iwae", 5, 85.54, &[22]),
    cell(1, "iwae", 50, 84.78, &[25]),
    cell(2, "vae", 1, 85.33, &[16, 5]),
    cell(2, "vae", 5, 85.01, &[17, 5]),
    cell(2, "vae", 50, 84.78, &[17, 5]),
    cell(2, "iwae", 1, 85.33, &[16, 5]),
    cell(2, "iwae", 5, 83.89, &[21, 5]),
    cell(2, "iwae", 50, 82.90, &[26, 7]),
];

const fn cell(
    layers: usize,
    objective: &'static str,
    k: usize,
    nll: f64,
    active: &'static [usize],
) -> PaperCell {
    PaperCell {
        layers,
        objective,
        k,
        nll,
        active,
    }
}

/// The run that trains a cell: k = 1 is one model for both objectives.
fn variant_name(layers: usize, objective: &str, k: usize) -> String {
    if k == 1 {
        format!("{layers}L-k1")
    } else {
        format!("{layers}L-{objective}-k{k}")
    }
}

/// The overrides of a cell: the paper's model and training.
fn variant(layers: usize, objective: &str, k: usize) -> Vec<String> {
    let mut o: Vec<String> = [
        "model.hidden=[200,200]",
        "model.activation=tanh",
        "model.init=glorot",
        "model.likelihood=bernoulli",
        "optimizer.kind=adam",
        "optimizer.lr=0.001",
        "optimizer.beta1=0.9",
        "optimizer.beta2=0.999",
        "optimizer.eps=0.0001",
        "optimizer.lr_schedule=burda2016",
        "train.batch_size=20",
        "data.val_last=400",
        "schedule.kind=constant",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if layers == 1 {
        o.extend(["model.kind=vae".into(), "model.latent_dim=50".into()]);
    } else {
        o.extend([
            "model.kind=two_layer".into(),
            "model.latent_dim=100".into(),
            "model.two_layer.latent_dim=50".into(),
            "model.two_layer.hidden=[100,100]".into(),
        ]);
    }
    match (objective, k) {
        (_, 1) => o.push("objective.kind=elbo".into()),
        ("vae", k) => o.extend(["objective.kind=elbo".into(), format!("objective.samples={k}")]),
        (_, k) => o.extend(["objective.kind=iwae".into(), format!("objective.k={k}")]),
    }
    o
}

/// Number formatting that shows a failed or missing value as such.
fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "missing".into()
    }
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    if study.data.iter().any(|(spec, _)| spec == "synthetic") {
        return Err(vaekit::Error::Usage(
            "burda2016 reproduces a table measured on MNIST: give --data idx:DIR with the four \
             MNIST files (docs/reproducing.md says where to get them and how vaekit checks them)"
                .into(),
        ));
    }
    let passes = study.epochs(if study.quick { 1 } else { FULL_PASSES });
    let ks: &[usize] = if study.quick { &[1, 5] } else { &[1, 5, 50] };
    // One seed unless asked: a cell of the full schedule takes hours to days.
    let seeds = if study.seeds_given {
        study.seeds.clone()
    } else {
        vec![study.seeds[0]]
    };
    let cells: Vec<&PaperCell> = PAPER.iter().filter(|c| ks.contains(&c.k)).collect();
    let mut variants: Vec<(String, Vec<String>)> = Vec::new();
    for c in &cells {
        let name = variant_name(c.layers, c.objective, c.k);
        if !variants.iter().any(|(n, _)| *n == name) {
            variants.push((name, variant(c.layers, c.objective, c.k)));
        }
    }
    let settings = study.settings(passes, &variants);
    let Trained::Done(trained) = study.train_seeds(&settings, &seeds)? else {
        return Ok(StudyOutcome::Planned);
    };
    let runs = vaekit::study::finished(&trained);
    study.evaluate(&runs, study.k);

    let stem = vaekit::evaluate::report_stem(study.k, vaekit::evaluate::Split::Test);
    let mut md = format!(
        "| layers | objective | k | NLL (vaekit) | NLL (paper) | Δ | active units (vaekit) | \
         (paper) | s/pass | passes | projected {FULL_PASSES} passes (h) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    let mut tex = String::from(
        "% generated by the burda2016 study; needs \\usepackage{booktabs}\n\
         \\begin{tabular}{rlrrrrllr}\n\\toprule\n\
         layers & objective & $k$ & NLL (vaekit) & NLL (paper) & $\\Delta$ & active (vaekit) & active (paper) & s/pass \\\\\n\\midrule\n",
    );
    let mut csv = String::from(
        "data,layers,objective,k,nll_nats,nll_spread,paper_nll,difference,active_units,paper_active_units,seconds_per_pass,passes,projected_full_hours,seeds\n",
    );
    for (spec, label) in &study.data {
        let verified = match spec.parse::<vaekit::data::DataSpec>() {
            Ok(vaekit::data::DataSpec::Idx(dir)) => vaekit::data::canonical::is_canonical_mnist(&dir),
            _ => false,
        };
        for c in &cells {
            let setting = format!("{label}-{}", variant_name(c.layers, c.objective, c.k));
            let Some(t) = trained.iter().find(|t| t.setting == setting) else {
                continue;
            };
            let nlls: Vec<f64> = t
                .finished
                .iter()
                .map(|r| {
                    json_value(&r.join(format!("{stem}.json")), "/nll_nats").unwrap_or(f64::NAN)
                })
                .collect();
            let (nll, spread) = match nlls.len() {
                0 => (f64::NAN, f64::NAN),
                // One seed: the standard error over the test digits.
                1 => (
                    nlls[0],
                    json_value(
                        &t.finished[0].join(format!("{stem}.json")),
                        "/nll_std_err",
                    )
                    .unwrap_or(f64::NAN),
                ),
                // Several: the spread of the seeds.
                _ => mean_std(&nlls),
            };
            // Active units on the test digits, per layer, from the first seed.
            let active: Option<Vec<usize>> = t.finished.first().and_then(|r| {
                if c.layers == 1 {
                    summary_value(r, "/test_monitor/active_units").map(|a| vec![a as usize])
                } else {
                    let v: serde_json::Value = serde_json::from_slice(
                        &std::fs::read(r.join("summary.json")).ok()?,
                    )
                    .ok()?;
                    v.pointer("/test_monitor/active_units_by_layer")?
                        .as_array()?
                        .iter()
                        .map(|x| x.as_f64().map(|f| f as usize))
                        .collect()
                }
            });
            let joined = |v: &[usize]| {
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            };
            let active_text = active.as_deref().map_or("missing".into(), joined);
            let paper_active = joined(c.active);
            let (secs, epochs) = t.finished.first().map_or((f64::NAN, f64::NAN), |r| {
                (
                    summary_value(r, "/wall_time_s").unwrap_or(f64::NAN),
                    summary_value(r, "/epochs").unwrap_or(f64::NAN),
                )
            });
            let per_pass = secs / epochs;
            let projected = per_pass * FULL_PASSES as f64 / 3600.0;
            let diff = nll - c.nll;
            let pm = if spread.is_finite() {
                format!("{} ± {}", num(nll, 2), num(spread, 2))
            } else {
                num(nll, 2)
            };
            md.push_str(&format!(
                "| {} | {} | {} | {pm} | {:.2} | {} | {active_text} | {paper_active} | {} | {} | {} |\n",
                c.layers,
                c.objective.to_uppercase(),
                c.k,
                c.nll,
                num(diff, 2),
                num(per_pass, 1),
                num(epochs, 0),
                num(projected, 1),
            ));
            tex.push_str(&format!(
                "{} & {} & {} & ${}$ & {:.2} & {} & {active_text} & {paper_active} & {} \\\\\n",
                c.layers,
                c.objective.to_uppercase(),
                c.k,
                pm.replace('±', "\\pm"),
                c.nll,
                num(diff, 2),
                num(per_pass, 1),
            ));
            let e = |v: f64| {
                if v.is_finite() {
                    v.to_string()
                } else {
                    String::new()
                }
            };
            csv.push_str(&format!(
                "{label},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                c.layers,
                c.objective,
                c.k,
                e(nll),
                e(spread),
                c.nll,
                e(diff),
                active.as_deref().map_or(String::new(), joined),
                paper_active,
                e(per_pass),
                e(epochs),
                e(projected),
                t.finished.len()
            ));
        }
        md.push_str(&format!(
            "\nData {spec}: {}.\n",
            if verified {
                "the canonical MNIST files (SHA-256 of all four verified)"
            } else {
                "NOT the canonical MNIST files — the paper's numbers are beside it for orientation only"
            }
        ));
    }
    tex.push_str("\\bottomrule\n\\end{tabular}\n");
    let budget = if passes >= FULL_PASSES {
        format!("the paper's full schedule ({FULL_PASSES} passes)")
    } else {
        format!(
            "a budget: the first {passes} of the schedule's {FULL_PASSES} passes (stage {} of 0–7 \
             reached, learning rate {:.2e} at the end)",
            vaekit::config::burda_stage(passes.saturating_sub(1)).min(7),
            1e-3 * vaekit::config::LrSchedule::Burda2016.factor(passes.saturating_sub(1))
        )
    };
    md.push_str(&format!(
        "\nNLL = −L_{k} on the test digits (one fixed binarization, `data.binarize_seed`); ± is the \
         standard error over test digits for one seed, the standard deviation over seeds for \
         several. Δ = vaekit − paper. Active units: A_u = Cov_x(E_q[u]) > 0.01 on the test \
         digits (layer 2: the mean of q(h2|h1) at one sample of h1, as the authors' code \
         measures it). s/pass is the run's wall time (with its validation passes) per pass on \
         this machine, and the projection multiplies it by {FULL_PASSES}. Paper: Burda, Grosse \
         & Salakhutdinov (2016), arXiv:1509.00519v4, Table 1 (MNIST); k = 1 is one model for \
         both objectives, as in the paper.\n",
        k = study.k
    ));
    let mut files = study.write_results(
        &format!(
            "Burda et al. (2016), Table 1 on MNIST, beside the paper: trained with {budget}; batch \
             20, Adam (β1 0.9, β2 0.999, ε 1e−4), Glorot initialisation, tanh, dynamic \
             binarization, 59,600/400 training/validation digits (`data.val_last = 400`)."
        ),
        &md,
        &tex,
        &csv,
    )?;
    for (_, label) in &study.data {
        files.extend(study.plot_first_seeds(&trained, label)?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
