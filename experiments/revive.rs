//! Study — can a collapsed code be revived? The trainer's own collapse
//! alarm (`train.on_collapse`, `src/train/revive.rs`) against the same
//! remedies applied from the first step, on each dataset given:
//!
//! - `vanilla`: nothing (the alarm only warns);
//! - from the start: `start-anneal` (β from 0.1 over 10 epochs, Bowman et
//!   al. 2016, as `lagging`), `start-free-bits` (λ = 0.5 nats per
//!   dimension, Kingma et al. 2016), `start-aggressive` (He et al. 2019),
//!   `start-reset` (one epoch of pre-training with β = 0, then a decoder
//!   reset: Li et al. 2019);
//! - after the alarm: `alarm-anneal`, `alarm-free-bits`, `alarm-aggressive`,
//!   `alarm-reset` — the same remedy, applied only once the alarm's rule
//!   has held;
//! - `alarm-list`: reset the decoder, then aggressive training, then free
//!   bits, then annealing, each tried while the code is still collapsed.
//!
//! Every setting shares the alarm's timing: the rule (total KL below
//! `monitor.alarm_kl`, or no active unit) must hold for 2 evaluations in a
//! row, and a list waits 2 more before its next remedy.
//!
//! The data decides the model. Text (`synthetic-text`, `text:DIR`): He et
//! al.'s synthetic setting exactly as `lagging` builds it, where the
//! vanilla VAE ends with no active unit. Images (anything else): the
//! default MLP Bernoulli VAE with 32 latent dimensions and a constant
//! β = 40, strong enough to switch every one of them off.
//!
//! Table: test NLL (IWAE, k = `--k`), KL, active units, I(x;z) (mean ± std
//! over seeds), the step of the first intervention, the remedies applied,
//! the active units at the first intervention, and whether units came back
//! (more active units on a validation evaluation after it than at it: how
//! many at the end, and how
//! long after the intervention the first one was active). Figures: for the
//! first seed of `vanilla` and of each `alarm-*` setting, KL per dimension
//! and active units over training with the interventions marked, in
//! `figures/<data>-<setting>/`.
//!
//! Modes: full = 20 epochs; `--epochs N` = N epochs; `--quick` = CI-sized
//! (4 epochs, 4,000 examples, a short aggressive inner loop for text).
//!
//! `cargo run --release --bin revive -- --quick` (docs/reproducing.md).

use std::path::Path;
use vaekit::study::{
    Setting, SettingRuns, Study, StudyOutcome, Trained, csv_number as cell, json_value, mean_std,
    number as num, summary_value,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vaekit::study::main_with_default_data("revive", "synthetic-text", run)
}

/// β of the image VAE: each nat of KL weighs forty times a nat of
/// reconstruction. The alarm's rule needs the whole code gone (no active
/// unit, or a total KL below `monitor.alarm_kl`); measured on MNIST
/// (10,000 images, 6 epochs): β = 4 keeps 32 of 32 units active, β = 15
/// 25 of 32, β = 40 none (KL 0.02 nats) — a code that collapses on its
/// own, as the text VAE's does, for the remedies to act on.
const IMAGE_BETA: f64 = 40.0;

/// The setting whose pre-training length is counted on its data.
const START_RESET: &str = "start-reset";

/// Whether `spec` is text (He et al.'s setting) rather than images.
fn is_text(spec: &str) -> bool {
    spec == "synthetic-text" || spec.starts_with("text:")
}

/// He et al.'s synthetic setting (`config_synthetic.py`, `text.py`), as
/// `lagging` builds it.
fn text_setting(quick: bool) -> Vec<String> {
    vaekit::papers::he2019::synthetic_setting(quick)
}

/// A 32-latent image VAE that collapses: the defaults but for the latent
/// size and β ([`IMAGE_BETA`]).
fn image_setting() -> Vec<String> {
    vec![
        "model.latent_dim=32".into(),
        format!("schedule.beta={IMAGE_BETA}"),
    ]
}

/// The dataset's base, then the alarm's timing every setting shares: the
/// rule must hold for 2 evaluations before the trainer acts (and the
/// warning), and a list waits 2 more before its next remedy.
fn base(spec: &str, quick: bool) -> Vec<String> {
    let mut o = if is_text(spec) {
        text_setting(quick)
    } else {
        image_setting()
    };
    o.extend(["monitor.alarm_patience=2", "train.on_collapse_patience=2"].map(String::from));
    o
}

/// The table's settings: nothing; each remedy from the start; each remedy
/// after the alarm; the alarm-driven list.
fn variants() -> Vec<(String, Vec<String>)> {
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("vanilla".into(), vec![]),
        (
            "start-anneal".into(),
            keys(&[
                "schedule.kind=linear",
                "schedule.unit=epochs",
                "schedule.beta_start=0.1",
                "schedule.warmup=10",
            ]),
        ),
        ("start-free-bits".into(), keys(&["objective.free_bits=0.5"])),
        ("start-aggressive".into(), keys(&["train.aggressive=true"])),
        // `train.pretrain_steps`: one epoch, counted on the data ([`on_bases`]).
        (START_RESET.into(), vec![]),
        ("alarm-anneal".into(), keys(&["train.on_collapse=anneal"])),
        (
            "alarm-free-bits".into(),
            keys(&["train.on_collapse=free_bits"]),
        ),
        (
            "alarm-aggressive".into(),
            keys(&["train.on_collapse=aggressive"]),
        ),
        (
            "alarm-reset".into(),
            keys(&["train.on_collapse=reset_decoder"]),
        ),
        (
            "alarm-list".into(),
            keys(&[r#"train.on_collapse=["reset_decoder","aggressive","free_bits","anneal"]"#]),
        ),
    ]
}

/// A setting's variant: its name without the dataset's label.
fn variant_of(s: &SettingRuns) -> &str {
    s.setting
        .strip_prefix(s.data.as_str())
        .and_then(|v| v.strip_prefix('-'))
        .unwrap_or(&s.setting)
}

/// Each setting on its dataset's base (text or image; the base first, the
/// variant's own keys and the user's after), and `start-reset`'s
/// pre-training counted on its data.
fn on_bases(study: &Study, settings: Vec<Setting>) -> vaekit::Result<Vec<Setting>> {
    settings
        .into_iter()
        .map(|mut s| {
            let spec = study
                .data
                .iter()
                .find(|(_, label)| *label == s.data)
                .map(|(spec, _)| spec.clone())
                .expect("a setting's data is one of the study's");
            let mut o = base(&spec, study.quick);
            o.append(&mut s.overrides);
            if s.name == format!("{}-{START_RESET}", s.data) {
                let steps = pretrain_steps(study, &o)?;
                o.push(format!("train.pretrain_steps={steps}"));
            }
            s.overrides = o;
            Ok(s)
        })
        .collect()
}

/// Li et al. pre-train for a share of the run; here one epoch of it, so
/// that it scales with the data (a fixed count of steps would outlast a
/// quick run on 4,000 images) — half the run when it has fewer than two
/// epochs, since pre-training must end before the run does.
fn pretrain_steps(study: &Study, overrides: &[String]) -> vaekit::Result<usize> {
    let mut o = overrides.to_vec();
    o.extend(study.user_overrides.iter().cloned());
    let cfg = vaekit::config::ExperimentConfig::load(None, &o)?;
    let n = vaekit::data::load(&cfg.data, 0)?.train.n();
    let per_epoch = n.div_ceil(cfg.train.batch_size).max(1);
    Ok(if cfg.train.epochs >= 2 {
        per_epoch
    } else {
        (per_epoch / 2).max(1)
    })
}

/// What one finished run measured, and what `train.on_collapse` did in it.
struct Revival {
    nll: f64,
    kl: f64,
    active: f64,
    mi: f64,
    /// (step, remedy, held-out active units) of each intervention, in order.
    interventions: Vec<(f64, String, f64)>,
    /// Whether units came back after the first intervention: the active
    /// units at the end (the summary's), and the steps from the
    /// intervention to the first evaluation after it with more active
    /// units than it had.
    back: Option<(f64, f64)>,
}

fn measure(run: &Path, stem: &str) -> Revival {
    let summary: serde_json::Value = std::fs::read(run.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let interventions: Vec<(f64, String, f64)> = summary["interventions"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|i| {
                    Some((
                        i["step"].as_f64()?,
                        i["remedy"].as_str()?.to_string(),
                        i["active_units"].as_f64().unwrap_or(f64::NAN),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    // The validation evaluations over training: (step, active units). The
    // one at the intervention's own step is the one that triggered it.
    let val: Vec<(f64, f64)> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["split"] == "val")
        .filter_map(|l| Some((l["step"].as_f64()?, l["active_units"].as_f64()?)))
        .collect();
    let top = |key: &str| summary_value(run, &format!("/{key}")).unwrap_or(f64::NAN);
    // Units "came back" when an evaluation after the first intervention has
    // more active units than the one that triggered it (the rule also fires
    // on a KL under the floor with a few units alive). The count at the end
    // is the summary's (the run's final model: with the plateau schedule,
    // its best one), as in the active-units column.
    let back = interventions.first().and_then(|&(at, _, before)| {
        let before = if before.is_finite() { before } else { 0.0 };
        let &(step, _) = val
            .iter()
            .find(|&&(step, units)| step > at && units > before)?;
        Some((top("active_units"), step - at))
    });
    Revival {
        nll: json_value(&run.join(format!("{stem}.json")), "/nll_nats").unwrap_or(f64::NAN),
        kl: top("kl"),
        active: top("active_units"),
        mi: top("mi"),
        interventions,
        back,
    }
}

/// The finite values' count, mean and sample std (NaN std for fewer than two).
fn stats(v: &[f64]) -> (usize, f64, f64) {
    let n = v.iter().filter(|x| x.is_finite()).count();
    let (m, s) = mean_std(v);
    (n, m, if n > 1 { s } else { f64::NAN })
}

/// "mean ± std" (the mean alone for one seed), "missing" for no value.
fn pm(v: &[f64], digits: usize) -> String {
    match stats(v) {
        (0, ..) => "missing".into(),
        (1, m, _) => num(m, digits),
        (_, m, s) => format!("{} ± {}", num(m, digits), num(s, digits)),
    }
}

/// A count's "mean ± std": whole for one seed, one decimal for a mean.
fn pm_count(v: &[f64]) -> String {
    pm(v, if stats(v).0 > 1 { 1 } else { 0 })
}

/// The two CSV cells of a mean and its std (empty when absent).
fn csv_pm(v: &[f64]) -> String {
    let (_, m, s) = stats(v);
    format!("{},{}", cell(m), cell(s))
}

/// A table cell made fit for LaTeX.
fn tex(s: &str) -> String {
    s.replace('_', "\\_")
        .replace('±', "$\\pm$")
        .replace('→', "$\\to$")
        .replace('—', "---")
}

fn run(study: &Study) -> vaekit::Result<StudyOutcome> {
    let epochs = study.epochs(if study.quick { 4 } else { 20 });
    let settings = on_bases(study, study.settings(epochs, &variants()))?;
    let Trained::Done(trained) = study.train_seeds(&settings, &study.seeds)? else {
        return Ok(StudyOutcome::Planned);
    };
    study.evaluate(&vaekit::study::finished(&trained), study.k);
    let stem = vaekit::evaluate::report_stem(study.k, vaekit::evaluate::Split::Test);

    let mut md = format!(
        "| setting | NLL (IWAE, k = {}) | KL | active units | I(x;z) | first intervention (step) | \
         remedies | active units at the first intervention | units came back |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        study.k
    );
    let mut tex_table = String::from(
        "% generated by the revive study; needs \\usepackage{booktabs}\n\
         \\begin{tabular}{lrrrrrlrl}\n\\toprule\n\
         setting & NLL & KL & AU & $I(x;z)$ & first intervention & remedies & AU then & came back \\\\\n\
         \\midrule\n",
    );
    let mut csv = String::from(
        "setting,data,seeds,nll_mean,nll_std,kl_mean,kl_std,active_units_mean,active_units_std,\
         mi_mean,mi_std,intervened_seeds,first_intervention_step_mean,first_intervention_step_std,\
         remedies,units_at_intervention_mean,units_at_intervention_std,came_back_seeds,\
         units_at_end_mean,units_at_end_std,back_after_steps_mean,back_after_steps_std\n",
    );
    for t in &trained {
        let runs: Vec<Revival> = t.finished.iter().map(|r| measure(r, &stem)).collect();
        let of = |f: fn(&Revival) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let (nll, kl, active, mi) = (of(|r| r.nll), of(|r| r.kl), of(|r| r.active), of(|r| r.mi));
        // The intervention columns, over the seeds that intervened.
        let firsts: Vec<&(f64, String, f64)> = runs
            .iter()
            .filter_map(|r| r.interventions.first())
            .collect();
        let first_step: Vec<f64> = firsts.iter().map(|i| i.0).collect();
        let first_units: Vec<f64> = firsts.iter().map(|i| i.2).collect();
        // The remedies of each seed in order; seeds that differ, side by side.
        let mut remedies: Vec<String> = Vec::new();
        for r in runs.iter().filter(|r| !r.interventions.is_empty()) {
            let list: Vec<&str> = r.interventions.iter().map(|i| i.1.as_str()).collect();
            let list = list.join("→");
            if !remedies.contains(&list) {
                remedies.push(list);
            }
        }
        let remedies = remedies.join(" / ");
        let backs: Vec<(f64, f64)> = runs.iter().filter_map(|r| r.back).collect();
        let (end_units, after): (Vec<f64>, Vec<f64>) = backs.iter().copied().unzip();
        let none = || "—".to_string();
        let (first_md, remedies_md, units_md, back_md) = if firsts.is_empty() {
            (none(), none(), none(), none())
        } else {
            let back = if backs.is_empty() {
                "no".to_string()
            } else {
                let of_seeds = if backs.len() < firsts.len() {
                    format!(" ({} of {} seeds)", backs.len(), firsts.len())
                } else {
                    String::new()
                };
                format!(
                    "{} at the end, back after {} steps{of_seeds}",
                    pm_count(&end_units),
                    pm(&after, 0)
                )
            };
            (
                pm(&first_step, 0),
                remedies.clone(),
                pm_count(&first_units),
                back,
            )
        };
        let row = [
            t.setting.clone(),
            pm(&nll, 2),
            pm(&kl, 3),
            pm_count(&active),
            pm(&mi, 3),
            first_md,
            remedies_md,
            units_md,
            back_md,
        ];
        md.push_str(&format!("| {} |\n", row.join(" | ")));
        tex_table.push_str(&format!(
            "{} \\\\\n",
            row.iter().map(|c| tex(c)).collect::<Vec<_>>().join(" & ")
        ));
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            t.setting,
            t.data,
            t.finished.len(),
            csv_pm(&nll),
            csv_pm(&kl),
            csv_pm(&active),
            csv_pm(&mi),
            firsts.len(),
            csv_pm(&first_step),
            remedies,
            csv_pm(&first_units),
            backs.len(),
            csv_pm(&end_units),
            csv_pm(&after),
        ));
    }
    tex_table.push_str("\\bottomrule\n\\end{tabular}\n");
    md.push_str(&format!(
        "\nNLL: test NLL in nats by IWAE with k = {k}. KL, active units (Cov_x E_q[z_u] > 0.01) \
         and I(x;z): on the test split at the end of the run. Mean ± sample std over the \
         finished seeds (one number for one seed). The intervention columns are over the seeds \
         where `train.on_collapse` acted (— where it never did: the vanilla and `start-*` \
         settings only warn): the step of the first intervention, the remedies applied in \
         order, the held-out active units when the first was applied, and whether units came back — \
         the active units at the end (as in the active-units column) and the steps from the \
         intervention to the first validation evaluation with more active units than at it \
         (\"no\" when none had more).\n\n\
         What each remedy does to the objective once the alarm's rule has held (the `start-*` \
         settings do the same from the first step):\n\n\
         - `anneal` (Bowman et al. 2016, KL annealing): β drops to 0 and climbs linearly back to \
         the schedule's value over `train.on_collapse_anneal_epochs` = 10 epochs, so for a while \
         the KL term no longer outweighs what z is worth to the decoder. In a run shorter than \
         the ramp, β never climbs all the way back.\n\
         - `free_bits` (Kingma et al. 2016): the KL term β·Σ_u KL_u becomes β·Σ_u max(λ, KL_u), \
         KL_u the batch's mean KL of dimension u, λ = 0.5 nats: up to λ nats a dimension pays \
         the same whatever it carries, so the KL term stops pulling it onto the prior and only the \
         reconstruction acts on it.\n\
         - `aggressive` (He et al. 2019, lagging inference networks): the objective is \
         unchanged, but before each joint step (which then updates the decoder only) the \
         encoder alone is updated on fresh batches until its loss stops falling, so that it \
         catches up with the model's posterior; the phase ends at the first epoch end where \
         I(x;z) stops rising.\n\
         - `reset_decoder` (Li et al. 2019, pre-training and reset): the objective is unchanged; \
         the decoder is re-initialised and the optimizer rebuilt, the encoder kept, so a fresh \
         decoder meets an encoder that may still carry information. Li et al. reset after an \
         autoencoder pre-training (`start-reset`: one epoch with β = 0); after the alarm the \
         encoder is whatever the collapsed run left.\n\
         - `alarm-list`: the four in that order, the next one when the code is still collapsed 2 \
         evaluations after the last (`train.on_collapse_patience` = 2).\n",
        k = study.k
    ));
    let text_runs = study.data.iter().any(|(spec, _)| is_text(spec));
    let image_runs = study.data.iter().any(|(spec, _)| !is_text(spec));
    let mut models = Vec::new();
    if text_runs {
        models.push(
            "on text, He et al. (2019)'s synthetic setting as in `lagging` (2-D latent, \
             embedding and LSTMs 50, dropout 0.5, uniform init, batch 16, SGD lr 1.0 clipped at \
             5, plateau decay with reload-best)"
                .to_string(),
        );
    }
    if image_runs {
        models.push(format!(
            "on images, the default MLP Bernoulli VAE with 32 latent dimensions and a constant \
             β = {IMAGE_BETA}, high enough to switch most dimensions off"
        ));
    }
    let mut files = study.write_results(
        &format!(
            "Can a collapsed code be revived? The trainer's collapse alarm acting on its own \
             diagnosis (`train.on_collapse`), beside the same remedies applied from the start: \
             {}. {epochs} epochs per run; the alarm's rule (total KL below `monitor.alarm_kl` \
             or no active unit at a validation evaluation, one per epoch) must hold for 2 \
             evaluations in a row (`monitor.alarm_patience` = 2). Settings: \
             `experiments/revive.rs`.",
            models.join("; ")
        ),
        &md,
        &tex_table,
        &csv,
    )?;
    // KL per dimension and active units over training with the
    // interventions marked: the first seed of vanilla and of each alarm-*
    // setting.
    let opts = vaekit::report::plot::PlotOptions::default();
    for t in &trained {
        let v = variant_of(t);
        if v != "vanilla" && !v.starts_with("alarm-") {
            continue;
        }
        if let Some(run) = t.finished.first() {
            files.extend(vaekit::report::plot::plot_runs(
                std::slice::from_ref(run),
                Some(&study.figures_dir().join(&t.setting)),
                &opts,
            )?);
        }
    }
    study.finish(&settings, &files)?;
    Ok(StudyOutcome::Finished)
}
