//! Study — text VAEs on the Penn Treebank, beside the published numbers:
//! the LSTM language model, a VAE collapsing to it, and the remedies
//! (texar's annealing + word dropout, Fu et al.'s cyclical β, Bowman et
//! al.'s VAE and input-less decoder, free bits in Kingma's and Li et al.'s
//! forms, Li et al.'s pre-training + reset + free bits, He et al.'s
//! aggressive encoder), all at texar's PTB size (embedding 256, LSTM 256,
//! latent 32, dropout 0.5, batch 32, Adam 1e−3).
//!
//! Table: test NLL per sentence (IWAE, k = `--k`), the negative ELBO,
//! perplexity from each, KL, active units, I(x;z), seconds per epoch and
//! the projected full schedule; then each paper's row beside the setting
//! that reproduces it (`vaekit::papers::ptb`, every number with where it
//! was read). Perplexity counts `</s>` and not `<s>`.
//!
//! Modes: full = each paper's epochs (`experiments/ptb.rs`,
//! `vaekit::papers::ptb::full_epochs`); `--epochs N` = the same settings for
//! N epochs each (a budget); `--quick` = CI-sized (1,500 sentences, a 2,000
//! word vocabulary, a small model, 2 epochs).
//!
//! `cargo run --release --bin ptb -- --data text:DIR --epochs 3`
//! (docs/reproducing.md: the data, its checksums, measured times).

use vaekit::papers::ptb::{self, PAPER, SETTINGS};
use vaekit::study::{
    Study, StudyOutcome, Trained, csv_number as cell, json_value, number as num, summary_value,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main("ptb", run)
}

/// What one finished run measured on the test sentences.
#[derive(Clone, Copy)]
struct Measured {
    nll: f64,
    nll_se: f64,
    neg_elbo: f64,
    ppl: f64,
    ppl_elbo: f64,
    kl: f64,
    active: f64,
    mi: f64,
    per_epoch: f64,
    epochs: f64,
}

fn measure(run: &std::path::Path, stem: &str) -> Measured {
    let eval = run.join(format!("{stem}.json"));
    let get = |p: &str| json_value(&eval, p).unwrap_or(f64::NAN);
    let (nll, per_token) = (get("/nll_nats"), get("/nll_per_token"));
    let neg_elbo = -get("/elbo_nats");
    // Predicted tokens per sentence (words + </s>), from the eval's own ratio.
    let tokens = nll / per_token;
    let secs = summary_value(run, "/wall_time_s").unwrap_or(f64::NAN);
    let epochs = summary_value(run, "/epochs").unwrap_or(f64::NAN);
    Measured {
        nll,
        nll_se: get("/nll_std_err"),
        neg_elbo,
        ppl: get("/ppl"),
        ppl_elbo: (neg_elbo / tokens).exp(),
        kl: summary_value(run, "/test/kl").unwrap_or(f64::NAN),
        active: summary_value(run, "/test_monitor/active_units").unwrap_or(f64::NAN),
        mi: summary_value(run, "/test_monitor/mi").unwrap_or(f64::NAN),
        per_epoch: secs / epochs,
        epochs,
    }
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    if study.data.len() != 1 || !study.data[0].0.starts_with("text:") {
        return Err(vaekit::Error::Usage(
            "ptb reproduces tables measured on the Penn Treebank: give one --data text:DIR, a \
             folder with Mikolov's train.txt, valid.txt and test.txt (docs/data.md says where to \
             get them and how vaekit checks them)"
                .into(),
        ));
    }
    // 0 = no budget given: each setting runs its paper's epochs.
    let budget = study.epochs(0);
    let quick_epochs = 2;
    let seeds = if study.seeds_given {
        study.seeds.clone()
    } else {
        vec![study.seeds[0]]
    };
    let quick_limit = 1500;
    let settings = {
        let spec = &study.data[0].0;
        // Steps per epoch, for pre-training's quarter of the run.
        let mut o = ptb::model(study.quick);
        o.push(format!("data.spec={spec}"));
        if study.quick {
            o.push(format!("data.limit={quick_limit}"));
        }
        o.extend(study.user_overrides.iter().cloned());
        let cfg = vaekit::config::ExperimentConfig::load(None, &o)?;
        let n = vaekit::data::load(&cfg.data, 0)?.train.n();
        let steps_per_epoch = n.div_ceil(cfg.train.batch_size);
        let variants: Vec<(String, Vec<String>)> = SETTINGS
            .iter()
            .map(|s| {
                let epochs = if study.quick {
                    quick_epochs
                } else if budget > 0 {
                    budget
                } else {
                    s.full_epochs
                };
                let mut o = ptb::model(study.quick);
                o.extend(ptb::overrides(s.name, epochs, steps_per_epoch));
                o.push(format!("train.epochs={epochs}"));
                if study.quick {
                    o.push(format!("data.limit={quick_limit}"));
                }
                (s.name.to_string(), o)
            })
            .collect();
        study.settings(quick_epochs, &variants)
    };
    let Trained::Done(trained) = study.train_seeds(&settings, &seeds)? else {
        return Ok(StudyOutcome::Planned);
    };
    let runs = vaekit::study::finished(&trained);
    study.evaluate(&runs, study.k);
    let stem = vaekit::evaluate::report_stem(study.k, vaekit::evaluate::Split::Test);

    let mut md = String::from(
        "| setting | epochs | NLL (IWAE) | −ELBO | PPL (IWAE) | PPL (ELBO) | KL | active units | \
         I(x;z) | s/epoch | full schedule (h) |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut tex = String::from(
        "% generated by the ptb study; needs \\usepackage{booktabs}\n\
         \\begin{tabular}{lrrrrrrrr}\n\\toprule\n\
         setting & NLL & $-$ELBO & PPL & PPL (ELBO) & KL & AU & $I(x;z)$ & s/epoch \\\\\n\\midrule\n",
    );
    let mut csv = String::from(
        "data,setting,epochs,nll_nats,nll_std_err,neg_elbo_nats,ppl,ppl_elbo,kl,active_units,mi,\
         seconds_per_epoch,full_epochs,projected_full_hours,seeds\n",
    );
    let mut beside_csv = String::from(
        "paper,row,estimator,paper_nll,paper_ppl,paper_kl,setting,nll,ppl,kl,source\n",
    );
    let mut beside = String::from(
        "| paper | their row | estimator | their NLL | their PPL | their KL | our setting | our \
         NLL (same estimator) | our PPL | our KL | source |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (spec, label) in &study.data {
        let canonical = spec
            .strip_prefix("text:")
            .is_some_and(|d| vaekit::data::canonical::is_canonical(d.as_ref(), ptb::DATA));
        let mut measured = std::collections::BTreeMap::new();
        for s in SETTINGS {
            let name = format!("{label}-{}", s.name);
            let Some(t) = trained.iter().find(|t| t.setting == name) else {
                continue;
            };
            // The first seed's run (one seed unless --seeds is given).
            let Some(run) = t.finished.first() else {
                continue;
            };
            let m = measure(run, &stem);
            measured.insert(s.name, m);
            let projected = m.per_epoch * s.full_epochs as f64 / 3600.0;
            // The columns both tables share, after the setting's name.
            let shared = [
                num(m.neg_elbo, 2),
                num(m.ppl, 2),
                num(m.ppl_elbo, 2),
                num(m.kl, 2),
                num(m.active, 0),
                num(m.mi, 3),
                num(m.per_epoch, 1),
            ]
            .join(" | ");
            md.push_str(&format!(
                "| {} | {} | {} ± {} | {shared} | {} |\n",
                s.name,
                num(m.epochs, 0),
                num(m.nll, 2),
                num(m.nll_se, 2),
                num(projected, 1),
            ));
            tex.push_str(&format!(
                "{} & {} & {} \\\\\n",
                s.name,
                num(m.nll, 2),
                shared.replace(" | ", " & "),
            ));
            csv.push_str(&format!(
                "{label},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                s.name,
                cell(m.epochs),
                cell(m.nll),
                cell(m.nll_se),
                cell(m.neg_elbo),
                cell(m.ppl),
                cell(m.ppl_elbo),
                cell(m.kl),
                cell(m.active),
                cell(m.mi),
                cell(m.per_epoch),
                s.full_epochs,
                cell(projected),
                t.finished.len(),
            ));
        }
        for p in PAPER {
            let Some(m) = measured.get(p.setting) else {
                continue;
            };
            let (ours_nll, ours_ppl) = match p.estimator {
                ptb::Estimator::NegElbo => (m.neg_elbo, m.ppl_elbo),
                ptb::Estimator::Iwae | ptb::Estimator::Exact => (m.nll, m.ppl),
            };
            let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2}"));
            let opt_csv = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            beside_csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                p.paper,
                p.row.replace(',', ";"),
                p.estimator.label(),
                opt_csv(p.nll),
                opt_csv(p.ppl),
                opt_csv(p.kl),
                p.setting,
                cell(ours_nll),
                cell(ours_ppl),
                cell(m.kl),
                p.source,
            ));
            beside.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                p.paper,
                p.row,
                p.estimator.label(),
                opt(p.nll),
                opt(p.ppl),
                opt(p.kl),
                p.setting,
                num(ours_nll, 2),
                num(ours_ppl, 2),
                num(m.kl, 2),
                p.source,
            ));
        }
        md.push_str(&format!(
            "\nData {spec}: {}.\n",
            if canonical {
                "Mikolov's Penn Treebank files (SHA-256 of all three verified)"
            } else {
                "NOT the canonical Penn Treebank files — the papers' numbers are beside it for \
                 orientation only"
            }
        ));
    }
    tex.push_str("\\bottomrule\n\\end{tabular}\n");
    let schedule = if study.quick {
        format!(
            "quick mode: {quick_epochs} epochs on the first 1,500 training sentences, a small model"
        )
    } else if budget > 0 {
        format!(
            "a budget of {budget} epochs per setting (the papers' schedules: the `full schedule` column projects them from the measured s/epoch)"
        )
    } else {
        "each paper's full schedule".to_string()
    };
    md.push_str(&format!(
        "\nNLL per test sentence in nats: IWAE = −L_{k} (k = {k} importance samples; an upper bound \
         on −log p(x) in expectation), −ELBO = the negative evidence lower bound (texar's and \
         Fu et al.'s \"NLL\"). Perplexity = exp(Σ NLL / Σ predicted tokens), where the predicted \
         tokens are the words and `</s>`, not `<s>` (He et al., Li et al., texar). ± is the \
         standard error over test sentences. KL, active units (Cov_x E_q[z_u] > 0.01) and I(x;z) \
         on the test sentences. s/epoch is the run's wall time on this machine (with its \
         validation passes) per epoch; the full schedule multiplies it by the paper's epochs.\n\n\
         ## Beside the papers\n\n{beside}\n\
         Every paper number was read in the paper or its authors' repository \
         (docs/reproducing.md, §9, says where and how each setting differs from theirs); \
         — = not reported there. Our numbers are from runs of {schedule}: unless that is the \
         papers' full schedule, they show the settings' direction, not yet the papers' values.\n",
        k = study.k,
    ));
    let mut files = study.write_results(
        &format!(
            "Text VAEs on the Penn Treebank at texar's size (embedding 256, LSTM 256, latent 32, \
             embedding and output dropout 0.5, batch 32, Adam 1e−3), {schedule}; one seed unless \
             --seeds is given. Settings: `vaekit::papers::ptb` (src/app/papers.rs)."
        ),
        &md,
        &tex,
        &csv,
    )?;
    let papers_csv = study.out.join("beside_papers.csv");
    vaekit::core::fsutil::write_atomic(&papers_csv, beside_csv.as_bytes())?;
    files.push(papers_csv);
    let log = vaekit::report::plot::PlotOptions { log_kl: true };
    for (_, label) in &study.data {
        files.extend(study.plot_first_seeds_with(&trained, label, &log)?);
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
