//! What the experiment binaries in `experiments/` share: their command line,
//! training a list of settings × seeds into one results folder (skipping
//! finished runs, resuming interrupted ones), evaluating the test NLL, and
//! writing `results.md`, `results.tex`, `results.csv` and `figures/`.
//!
//! ```text
//! results/<study>[-quick]/
//!   runs/<setting>-seed<N>/   one vaekit run directory each (config.toml, metrics.jsonl, ...)
//!   results.md  results.tex  results.csv
//!   figures/*.png  figures/*.svg
//!   study.json                what was run: settings, seeds, data, k, times
//! ```
//!
//! Runs train in this process, one after the other; each is an ordinary run
//! directory, so `vaekit train --resume`, `vaekit eval`, `vaekit plot` and
//! `vaekit report` work on them too. A run that fails (a non-finite loss,
//! say) is reported and left out of the tables, where it shows as missing.

use crate::app::cli::options::OverrideArgs;
use crate::app::config::{DeviceChoice, ExperimentConfig};
use crate::app::report::table::{Format, ReportOptions};
use crate::app::sweep::PlannedRun;
use crate::core::error::{Error, Result};
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The command line every study binary takes.
#[derive(clap::Parser, Debug, Clone)]
pub struct StudyArgs {
    /// Small settings that finish in a few minutes on 2 CPU cores.
    #[arg(long)]
    pub quick: bool,
    /// Results folder (default `results/<study>`, or `results/<study>-quick`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seeds: `0..4` or `0,3,7` (default: 0..1 with --quick, 0..4 otherwise).
    #[arg(long)]
    pub seeds: Option<String>,
    /// Dataset: `synthetic`, `idx:DIR` or `amat:DIR`; repeat for several
    /// (default: synthetic).
    #[arg(long = "data")]
    pub data: Vec<String>,
    /// Importance samples for the test NLL (default: 100 with --quick, 5000 otherwise).
    #[arg(long)]
    pub k: Option<usize>,
    /// Epochs (passes over the training set) per run: the budget. A study
    /// whose schedules are set in epochs stretches or cuts them to it; one
    /// with a fixed schedule (burda2016) runs its first N epochs. Same as
    /// `--set train.epochs=N`.
    #[arg(long, alias = "passes")]
    pub epochs: Option<usize>,
    /// Only the settings whose name contains this text (repeat for several):
    /// one cell of a study, say `--only 1L-k1`. The table shows those.
    #[arg(long)]
    pub only: Vec<String>,
    /// `--set` and `--device`, for every run, parsed as `vaekit train` parses them.
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Show every run of the study as planned, queued, running, done,
    /// failed or preempted (from the run folders and squeue); trains nothing.
    #[arg(long, conflicts_with = "slurm")]
    pub status: bool,
    /// Train nothing: evaluate and tabulate the finished runs (unfinished
    /// ones show as missing). The gathering job of `--slurm` runs this.
    #[arg(long, conflicts_with = "slurm")]
    pub gather: bool,
    /// With --slurm: array tasks running at once (default: no limit).
    #[arg(long, requires = "slurm")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub cluster: crate::app::slurm::SlurmArgs,
}

impl StudyArgs {
    /// The arguments that define the study's runs and tables, as a command
    /// line (for the gathering job): everything but the cluster options.
    pub fn study_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.quick {
            a.push("--quick".to_string());
        }
        if let Some(o) = &self.out {
            a.extend(["--out".to_string(), o.display().to_string()]);
        }
        if let Some(s) = &self.seeds {
            a.extend(["--seeds".to_string(), s.clone()]);
        }
        for d in &self.data {
            a.extend(["--data".to_string(), d.clone()]);
        }
        if let Some(k) = self.k {
            a.extend(["--k".to_string(), k.to_string()]);
        }
        if let Some(e) = self.epochs {
            a.extend(["--epochs".to_string(), e.to_string()]);
        }
        for o in &self.only {
            a.extend(["--only".to_string(), o.clone()]);
        }
        a.extend(self.overrides.to_args());
        a
    }
}

/// What a study invocation does with its runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StudyMode {
    /// Train here, evaluate, tabulate (the default).
    Local,
    /// Plan the runs and submit them to SLURM with a gathering job.
    Slurm,
    /// Plan the runs and show their status.
    Status,
    /// Evaluate and tabulate the finished runs; train nothing.
    Gather,
}

/// One setting of a study: a name (also the runs' `name`, and so the table
/// row), the label of its dataset, and the config overrides that define it.
#[derive(Clone, Debug)]
pub struct Setting {
    pub name: String,
    pub data: String,
    pub overrides: Vec<String>,
}

/// A setting's runs: one per seed, in seed order, and which of them finished.
#[derive(Clone, Debug)]
pub struct SettingRuns {
    pub setting: String,
    pub data: String,
    pub dirs: Vec<PathBuf>,
    pub finished: Vec<PathBuf>,
}

/// What training a study's settings gave: the runs, or — with `--slurm` and
/// `--status` — only their plan, which ends the study body (the caller then
/// submits the runs or shows their state).
#[derive(Clone, Debug)]
pub enum Trained<T = Vec<SettingRuns>> {
    Done(T),
    Planned,
}

/// How a study body ended: the study is done here, or its runs are only
/// planned for [`main`] to submit or report on. Neither is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StudyOutcome {
    Finished,
    Planned,
}

/// A study in progress.
pub struct Study {
    pub name: String,
    pub quick: bool,
    pub out: PathBuf,
    pub seeds: Vec<u64>,
    /// Whether `--seeds` was given (not the mode's default).
    pub seeds_given: bool,
    /// `--only`: the texts a setting's name must contain one of (none: all).
    pub only: Vec<String>,
    /// Every setting name [`Study::settings`] made, kept or not (for the
    /// error when `--only` keeps none).
    all_settings: std::cell::RefCell<Vec<String>>,
    /// Dataset specs, each with a short label for names (`synthetic`, `mnist-10k`).
    pub data: Vec<(String, String)>,
    pub k: usize,
    /// Whether `--k` was given (not the mode's default).
    pub k_given: bool,
    pub device: Device,
    pub device_choice: DeviceChoice,
    /// `--set` overrides from the command line, applied last.
    pub user_overrides: Vec<String>,
    started: Instant,
    failures: std::cell::RefCell<Vec<String>>,
    /// Seeds and k actually used (for the header and `study.json`).
    seeds_used: std::cell::RefCell<std::collections::BTreeSet<u64>>,
    ks_used: std::cell::RefCell<std::collections::BTreeSet<usize>>,
    pub mode: StudyMode,
    /// Run folders planned in the `Slurm` and `Status` modes.
    planned: std::cell::RefCell<Vec<PathBuf>>,
}

/// A short name for a dataset spec: `synthetic`, or the folder's name.
pub fn data_label(spec: &str) -> String {
    spec.parse::<crate::data::DataSpec>()
        .map(|s| s.label())
        .unwrap_or_else(|_| spec.to_string())
}

impl Study {
    /// Resolve the command line. `quick_seeds` and `full_seeds` are the defaults.
    pub fn new(name: &str, args: &StudyArgs) -> Result<Self> {
        Self::with_default_data(name, args, "synthetic")
    }

    /// As [`Study::new`], with `default_data` when no `--data` is given
    /// (`synthetic-text` for the text studies).
    pub fn with_default_data(name: &str, args: &StudyArgs, default_data: &str) -> Result<Self> {
        let seeds = match &args.seeds {
            Some(s) => crate::app::sweep::parse_seeds(s)?,
            None if args.quick => vec![0, 1],
            None => (0..5).collect(),
        };
        let data: Vec<String> = if args.data.is_empty() {
            vec![default_data.into()]
        } else {
            args.data.clone()
        };
        let labels: Vec<String> = data.iter().map(|d| data_label(d)).collect();
        for (i, l) in labels.iter().enumerate() {
            if labels[..i].contains(l) {
                return Err(Error::Usage(format!(
                    "--data: two datasets are both called {l:?} (the folder name); \
                     their runs would share names. Rename one folder"
                )));
            }
        }
        let k = args.k.unwrap_or(if args.quick { 100 } else { 5000 });
        if k == 0 {
            return Err(Error::Usage(
                "--k 0: the bound needs at least one sample".into(),
            ));
        }
        let out = args.out.clone().unwrap_or_else(|| {
            PathBuf::from("results").join(if args.quick {
                format!("{name}-quick")
            } else {
                name.to_string()
            })
        });
        // Every override must be a valid config, and every dataset readable,
        // before anything trains. The device is the config's, as for `vaekit
        // train`: `--device`, else `--set device=...`, else the CPU.
        let mut overrides = args.overrides.overrides();
        let mut user_overrides = args.overrides.set.clone();
        if let Some(e) = args.epochs {
            overrides.push(format!("train.epochs={e}"));
            user_overrides.push(format!("train.epochs={e}"));
        }
        let device_choice = ExperimentConfig::load(None, &overrides)?.device;
        for spec in data.iter().filter(|d| {
            d.parse::<crate::data::DataSpec>()
                .map_or(true, |s| !s.is_builtin())
        }) {
            let mut o = overrides.clone();
            o.push(format!("data.spec={spec}"));
            crate::data::load(&ExperimentConfig::load(None, &o)?.data, 0)?;
        }
        let device = crate::core::device::resolve(device_choice)?;
        Ok(Self {
            name: name.into(),
            quick: args.quick,
            out,
            seeds,
            seeds_given: args.seeds.is_some(),
            only: args.only.clone(),
            all_settings: Default::default(),
            data: data.iter().map(|d| (d.clone(), data_label(d))).collect(),
            k,
            k_given: args.k.is_some(),
            device,
            device_choice,
            user_overrides,
            started: Instant::now(),
            failures: Default::default(),
            seeds_used: Default::default(),
            ks_used: Default::default(),
            mode: if args.cluster.slurm {
                StudyMode::Slurm
            } else if args.status {
                StudyMode::Status
            } else if args.gather {
                StudyMode::Gather
            } else {
                StudyMode::Local
            },
            planned: Default::default(),
        })
    }

    /// `results/<study>/runs`.
    pub fn runs_dir(&self) -> PathBuf {
        self.out.join("runs")
    }

    /// `results/<study>/figures`.
    pub fn figures_dir(&self) -> PathBuf {
        self.out.join("figures")
    }

    /// Plan every setting × seed, validating each config up front, then
    /// train them in order. Finished runs are skipped, interrupted ones resumed.
    /// In the `Slurm` and `Status` modes nothing trains: [`Trained::Planned`].
    pub fn train(&self, settings: &[Setting]) -> Result<Trained> {
        self.train_seeds(settings, &self.seeds)
    }

    /// [`Study::train`] with these seeds instead of the study's.
    pub fn train_seeds(&self, settings: &[Setting], seeds: &[u64]) -> Result<Trained> {
        if settings.is_empty() && !self.only.is_empty() {
            return Err(Error::Usage(format!(
                "--only {}: no setting of this study has that in its name; its settings are: {}",
                self.only.join(" --only "),
                self.all_settings.borrow().join(", ")
            )));
        }
        self.seeds_used.borrow_mut().extend(seeds);
        let mut plans: Vec<(Setting, Vec<PlannedRun>)> = Vec::new();
        for s in settings {
            let mut fixed = s.overrides.clone();
            fixed.push(format!("name={}", s.name));
            fixed.extend(self.user_overrides.iter().cloned());
            // After the user's overrides: `--device` wins over `--set device=...`.
            fixed.push(format!("device={}", self.device_choice.as_str()));
            let plan = crate::app::sweep::plan(None, &fixed, &[], seeds, &self.runs_dir())
                .map_err(|e| match e {
                    Error::Config(lines) => Error::Config(
                        lines
                            .into_iter()
                            .map(|l| format!("setting {}: {l}", s.name))
                            .collect(),
                    ),
                    other => other,
                })?;
            plans.push((s.clone(), plan));
        }
        let total: usize = plans.iter().map(|(_, p)| p.len()).sum();
        if matches!(self.mode, StudyMode::Slurm | StudyMode::Status) {
            // Plan only: the caller submits or reports; the study body stops here.
            let runs: Vec<PlannedRun> = plans.into_iter().flat_map(|(_, p)| p).collect();
            if self.mode == StudyMode::Slurm {
                for r in &runs {
                    self.check_folder(r)?;
                }
                crate::app::sweep::write_configs(&runs)?;
            }
            self.planned
                .borrow_mut()
                .extend(runs.into_iter().map(|r| r.dir));
            return Ok(Trained::Planned);
        }
        let mut i = 0;
        let mut out = Vec::new();
        for (setting, plan) in plans {
            let mut finished = Vec::new();
            for r in &plan {
                i += 1;
                match self.train_one(r, i, total) {
                    Ok(()) => finished.push(r.dir.clone()),
                    Err(e) => {
                        let line = format!("{}: {e}", r.dir.display());
                        eprintln!("[{i}/{total}] FAILED {line}");
                        self.failures.borrow_mut().push(line);
                    }
                }
            }
            out.push(SettingRuns {
                setting: setting.name,
                data: setting.data,
                dirs: plan.iter().map(|r| r.dir.clone()).collect(),
                finished,
            });
        }
        Ok(Trained::Done(out))
    }

    /// A folder from an earlier invocation must hold this very config.
    fn check_folder(&self, r: &PlannedRun) -> Result<()> {
        let cfg_path = r.dir.join("config.toml");
        if cfg_path.is_file() {
            let mut existing = ExperimentConfig::load(Some(&cfg_path), &[])?;
            // The device may change between invocations: same seed, same run.
            existing.device = r.config.device;
            if existing != r.config {
                return Err(Error::Usage(format!(
                    "{} holds a different config than this study plans; remove the folder or use another --out",
                    cfg_path.display()
                )));
            }
        }
        Ok(())
    }

    fn train_one(&self, r: &PlannedRun, i: usize, total: usize) -> Result<()> {
        let dir = &r.dir;
        if self.mode == StudyMode::Gather && !dir.join("summary.json").is_file() {
            return Err(Error::Usage(
                "not finished (gathering trains nothing; see the study's --status)".into(),
            ));
        }
        let cfg_path = dir.join("config.toml");
        self.check_folder(r)?;
        if dir.join("summary.json").is_file() {
            println!("[{i}/{total}] {}: already finished", dir.display());
            return Ok(());
        }
        if cfg_path.is_file() {
            println!("[{i}/{total}] {}: resuming", dir.display());
            crate::app::run::resume(dir, Some(self.device_choice), &self.device, None)?;
        } else {
            println!("[{i}/{total}] {}: training", dir.display());
            crate::core::fsutil::create_dir_all(dir)?;
            crate::app::run::train(&r.config, dir, &self.device, None)?;
        }
        Ok(())
    }

    /// Epochs per run: `--set train.epochs=N` if given, else the study's `default`
    /// (schedules measured in epochs are scaled to it).
    pub fn epochs(&self, default: usize) -> usize {
        ExperimentConfig::load(None, &self.user_overrides)
            .ok()
            .filter(|_| {
                self.user_overrides
                    .iter()
                    .any(|o| o.starts_with("train.epochs="))
            })
            .map_or(default, |c| c.train.epochs)
    }

    /// Every variant on every dataset: the setting `<data>-<variant>`, with
    /// the overrides all runs share (the data, the epochs and, in quick mode,
    /// 4,000 training images at most) followed by the variant's own.
    pub fn settings(&self, epochs: usize, variants: &[(String, Vec<String>)]) -> Vec<Setting> {
        let mut out = Vec::new();
        for (spec, label) in &self.data {
            for (name, extra) in variants {
                let full = format!("{label}-{name}");
                self.all_settings.borrow_mut().push(full.clone());
                if !self.only.is_empty() && !self.only.iter().any(|o| full.contains(o.as_str())) {
                    continue;
                }
                let mut overrides = self.base_overrides(spec, epochs);
                overrides.extend(extra.iter().cloned());
                out.push(Setting {
                    name: full,
                    data: label.clone(),
                    overrides,
                });
            }
        }
        out
    }

    /// The usual study: train `settings`, evaluate every finished run's test
    /// NLL with `k` samples, and write the tables of `metrics`.
    pub fn run_and_tabulate(
        &self,
        settings: &[Setting],
        k: usize,
        metrics: &[&str],
        intro: &str,
    ) -> Result<Trained<(Vec<SettingRuns>, Vec<PathBuf>)>> {
        let Trained::Done(trained) = self.train(settings)? else {
            return Ok(Trained::Planned);
        };
        self.evaluate(&finished(&trained), k);
        let files = self.write_tables(&trained, metrics, Some(k), intro)?;
        Ok(Trained::Done((trained, files)))
    }

    fn base_overrides(&self, spec: &str, epochs: usize) -> Vec<String> {
        let mut o = vec![
            format!("data.spec={spec}"),
            format!("train.epochs={epochs}"),
        ];
        if self.quick {
            o.push("data.synthetic_size=4000".into());
            o.push("data.limit=4000".into());
        }
        o
    }

    /// For dataset `label`, each setting's first finished seed: its per-run
    /// figures and the overlays across settings, into `figures/<label>/`.
    pub fn plot_first_seeds(&self, trained: &[SettingRuns], label: &str) -> Result<Vec<PathBuf>> {
        self.plot_first_seeds_with(trained, label, &Default::default())
    }

    /// [`Study::plot_first_seeds`] with plot options (KL on a log axis, for
    /// KLs that span orders of magnitude).
    pub fn plot_first_seeds_with(
        &self,
        trained: &[SettingRuns],
        label: &str,
        options: &crate::app::report::plot::PlotOptions,
    ) -> Result<Vec<PathBuf>> {
        let first: Vec<PathBuf> = of_data(trained, label)
            .iter()
            .filter_map(|t| t.finished.first().cloned())
            .collect();
        if first.len() < 2 {
            println!(
                "{label}: fewer than two settings finished, so no per-setting figures or overlays"
            );
            return Ok(Vec::new());
        }
        crate::app::report::plot::plot_runs(&first, Some(&self.figures_dir().join(label)), options)
    }

    /// `vaekit eval --k K` on the test split of every run that lacks its
    /// `eval-k{K}.json`. Failures are reported and leave the NLL missing.
    pub fn evaluate(&self, runs: &[PathBuf], k: usize) {
        self.ks_used.borrow_mut().insert(k);
        for run in runs {
            let stem = crate::app::evaluate::report_stem(k, crate::app::evaluate::Split::Test);
            if run.join(format!("{stem}.json")).is_file() {
                continue;
            }
            println!("evaluating {} with k = {k}", run.display());
            let opts = crate::app::evaluate::EvalOptions::new(k);
            if let Err(e) = crate::app::evaluate::evaluate_run(
                run,
                &opts,
                &self.device,
                self.device_choice.as_str(),
            ) {
                let line = format!("{}: evaluation failed: {e}", run.display());
                eprintln!("{line}");
                self.failures.borrow_mut().push(line);
            }
        }
    }

    /// As [`Study::evaluate`], also drawing `samples` samples per run and
    /// scoring them ([`crate::app::score`]); runs that already have
    /// `eval-k{K}-samples.json` are skipped.
    pub fn evaluate_with_samples(&self, runs: &[PathBuf], k: usize, samples: usize) {
        self.ks_used.borrow_mut().insert(k);
        for run in runs {
            let stem = crate::app::evaluate::report_stem(k, crate::app::evaluate::Split::Test);
            if run.join(format!("{stem}-samples.json")).is_file() {
                continue;
            }
            println!(
                "evaluating {} with k = {k} and {samples} samples",
                run.display()
            );
            let mut opts = crate::app::evaluate::EvalOptions::new(k);
            opts.samples = samples;
            if let Err(e) = crate::app::evaluate::evaluate_run_with(
                run,
                &opts,
                &self.device,
                self.device_choice.as_str(),
                &mut |m| println!("  {m}"),
            ) {
                let line = format!("{}: evaluation failed: {e}", run.display());
                eprintln!("{line}");
                self.failures.borrow_mut().push(line);
            }
        }
    }

    /// The group tables over the finished runs of `trained` (one row per
    /// setting, in order; seeds that did not finish count as missing):
    /// `results.md` (with a header saying what was run), `results.tex`, `results.csv`.
    pub fn write_tables(
        &self,
        trained: &[SettingRuns],
        metrics: &[&str],
        k: Option<usize>,
        intro: &str,
    ) -> Result<Vec<PathBuf>> {
        let runs = finished(trained);
        let order: Vec<String> = trained.iter().map(|t| t.setting.clone()).collect();
        let expected = trained
            .iter()
            .map(|t| (t.setting.clone(), t.dirs.len()))
            .collect();
        if runs.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no run finished, so there is nothing to tabulate",
                self.name
            )));
        }
        let opts = |format| ReportOptions {
            group_by: vec!["name".into()],
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            format,
            k,
            order: order.clone(),
            expected: std::collections::BTreeMap::clone(&expected),
        };
        let md = crate::app::report::table::report(&runs, &opts(Format::Markdown))?;
        let tex = crate::app::report::table::report(&runs, &opts(Format::Latex))?;
        let csv = crate::app::report::table::report(&runs, &opts(Format::Csv))?;
        self.write_results(intro, &md, &tex, &csv)
    }

    /// Write `results.md` (header, `intro`, the table), `.tex` and `.csv`.
    pub fn write_results(
        &self,
        intro: &str,
        md: &str,
        tex: &str,
        csv: &str,
    ) -> Result<Vec<PathBuf>> {
        let header = format!(
            "# {} — {} mode\n\n{intro}\n\nSeeds {:?}; data {}; device {}; runs in `runs/`, figures in `figures/`. \
             Generated by `{}` on {}.\n\n",
            self.name,
            if self.quick { "quick" } else { "full" },
            self.seeds_used.borrow(),
            self.data
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.device_choice.as_str(),
            std::env::args().collect::<Vec<_>>().join(" "),
            chrono::Local::now().format("%Y-%m-%d %H:%M"),
        );
        let mut failures = String::new();
        for f in self.failures.borrow().iter() {
            failures.push_str(&format!("- FAILED {f}\n"));
        }
        if !failures.is_empty() {
            failures = format!("\nRuns that failed (shown as missing above):\n\n{failures}");
        }
        let files = [
            (
                self.out.join("results.md"),
                format!("{header}{md}{failures}"),
            ),
            (self.out.join("results.tex"), tex.to_string()),
            (self.out.join("results.csv"), csv.to_string()),
        ];
        for (path, text) in &files {
            crate::core::fsutil::write_atomic(path, text.as_bytes())?;
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }

    /// Record what was run in `study.json` and print where everything is.
    pub fn finish(&self, settings: &[Setting], files: &[PathBuf]) -> Result<()> {
        let secs = self.started.elapsed().as_secs_f64();
        let json = serde_json::json!({
            "study": self.name,
            "mode": if self.quick { "quick" } else { "full" },
            "seeds": *self.seeds_used.borrow(),
            "data": self.data.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            "k": *self.ks_used.borrow(),
            "device": self.device_choice.as_str(),
            "overrides": self.user_overrides,
            "settings": settings.iter().map(|s| serde_json::json!({"name": s.name, "overrides": s.overrides})).collect::<Vec<_>>(),
            "failures": *self.failures.borrow(),
            "seconds": secs,
        });
        crate::core::fsutil::write_atomic(
            &self.out.join("study.json"),
            serde_json::to_string_pretty(&json).unwrap().as_bytes(),
        )?;
        println!("\n{} finished in {secs:.0} s:", self.name);
        let figures = self.figures_dir();
        for f in files.iter().filter(|f| !f.starts_with(&figures)) {
            println!("  {}", f.display());
        }
        let n_fig = files.iter().filter(|f| f.starts_with(&figures)).count();
        if n_fig > 0 {
            println!("  {} ({n_fig} files, PNG and SVG)", figures.display());
        }
        let n = self.failures.borrow().len();
        if n > 0 {
            println!("{n} run(s) failed; see results.md");
        }
        Ok(())
    }
}

/// The settings of dataset `label`, in order.
pub fn of_data<'a>(trained: &'a [SettingRuns], label: &str) -> Vec<&'a SettingRuns> {
    trained.iter().filter(|t| t.data == label).collect()
}

/// Every finished run of every setting.
pub fn finished(trained: &[SettingRuns]) -> Vec<PathBuf> {
    trained.iter().flat_map(|t| t.finished.clone()).collect()
}

/// One number from a run's `summary.json` at a JSON pointer (`/test_monitor/codes_used`).
pub fn summary_value(run: &Path, pointer: &str) -> Option<f64> {
    json_value(&run.join("summary.json"), pointer)
}

/// A registered metric on a finished run's test split, read through the
/// registry (so runs written before the metric had its name answer too).
pub fn test_metric(run: &Path, name: &str) -> Option<f64> {
    crate::train::Summary::read(run)
        .ok()
        .flatten()?
        .metric(name)?
        .as_f64()
}

/// One number from a JSON file at a JSON pointer.
pub fn json_value(path: &Path, pointer: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v.pointer(pointer)?.as_f64()
}

/// A table's number with `digits` decimals, or "missing" for a failed or
/// absent value (NaN): a table never shows a made-up value.
pub fn number(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "missing".into()
    }
}

/// A CSV cell: the number in full, or empty for a failed or absent value.
pub fn csv_number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

/// (mean, sample std) of the finite values, NaN for none.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    crate::app::report::table::mean_std(v).map_or((f64::NAN, f64::NAN), |(m, s, _)| (m, s))
}

/// The `main` of a study binary: parse the command line, run `body`, and
/// turn errors into one clear line and exit code 1.
///
/// Call it first in the binary's `main`: it sets burn's default device to
/// the CPU ([`crate::core::device::prefer_cpu_default`]) before any thread exists.
pub fn main(name: &str, body: fn(&Study) -> Result<StudyOutcome>) -> std::process::ExitCode {
    main_with_default_data(name, "synthetic", body)
}

/// [`main`] for a study whose default dataset is `default_data`.
pub fn main_with_default_data(
    name: &str,
    default_data: &str,
    body: fn(&Study) -> Result<StudyOutcome>,
) -> std::process::ExitCode {
    use clap::Parser;
    // SAFETY: documented above: called first in `main`, before any thread.
    unsafe { crate::core::device::prefer_cpu_default() };
    crate::core::device::main_thread_computes();
    let args = StudyArgs::parse();
    let run = || -> Result<()> {
        let study = Study::with_default_data(name, &args, default_data)?;
        println!(
            "{name} ({} mode) → {}",
            if study.quick { "quick" } else { "full" },
            study.out.display()
        );
        match body(&study)? {
            StudyOutcome::Finished => Ok(()),
            StudyOutcome::Planned => study.after_planning(&args),
        }
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

impl Study {
    /// Once the body has planned the runs: `--status` shows their state,
    /// `--slurm` submits them with a gathering job that re-runs this binary
    /// with `--gather`.
    fn after_planning(&self, args: &StudyArgs) -> Result<()> {
        let planned = self.planned.borrow().clone();
        if self.mode == StudyMode::Status {
            let states = crate::app::slurm::status(&self.out, &planned)?;
            print!("{}", crate::app::slurm::status_table(&states));
            return Ok(());
        }
        let mut rerun = args.study_args();
        if args.out.is_none() {
            rerun.extend(["--out".into(), self.out.display().to_string()]);
        }
        let gather = crate::app::slurm::Gather::Rerun(rerun);
        crate::app::slurm::submit_with_gather(
            &self.name,
            &self.out,
            &planned,
            &gather,
            &args.cluster,
            args.jobs,
        )?;
        Ok(())
    }
}
