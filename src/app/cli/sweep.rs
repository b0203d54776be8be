//! `vaekit sweep`: a grid of config values × seeds, here N at a time or as
//! a SLURM job array, and the status of a sweep's runs.

use super::options::ConfigArgs;
use crate::app::slurm::{self, Gather, SlurmArgs};
use crate::app::sweep::{self, Axis, Outcome};
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    mut_arg("config", |a| a.help("Base config (defaults fill the rest).")),
    mut_arg("set", |a| a.help("Fixed overrides for every run."))
)]
pub struct SweepArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// One axis: KEY=V1,V2,... (repeatable; the grid is their product).
    #[arg(long = "grid", value_name = "KEY=V1,V2")]
    pub grid: Vec<String>,
    /// Seeds: A..B (inclusive) or a list 0,1,2.
    #[arg(long, default_value = "0")]
    pub seeds: String,
    /// Runs at a time (default 1; with --slurm, the array's task limit, default none).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Folder of the run directories.
    #[arg(long, default_value = "runs/sweep")]
    pub out: PathBuf,
    /// Only write each run's config.toml (for a cluster job array of `vaekit train --resume RUN`).
    #[arg(long)]
    pub plan_only: bool,
    /// Show the state of every run under DIR (planned, queued, running, done, failed,
    /// preempted) from the run folders and squeue, and exit.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["plan_only", "slurm"])]
    pub status: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: SlurmArgs,
}

impl SweepArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(dir) = &self.status {
            let runs = run_folders(dir)?;
            let states = slurm::status(dir, &runs)?;
            print!("{}", slurm::status_table(&states));
            return Ok(());
        }
        let axes = self
            .grid
            .iter()
            .map(|g| g.parse())
            .collect::<Result<Vec<Axis>, _>>()?;
        let seeds = sweep::parse_seeds(&self.seeds)?;
        let base = self.config.config.as_deref();
        let fixed = self.config.overrides.overrides();
        let plan = sweep::plan(base, &fixed, &axes, &seeds, &self.out)?;
        let out = &self.out;
        if self.cluster.slurm {
            sweep::write_configs(&plan)?;
            let runs: Vec<PathBuf> = plan.iter().map(|r| r.dir.clone()).collect();
            slurm::submit_with_gather(
                "vaekit-sweep",
                out,
                &runs,
                &Gather::Report,
                &self.cluster,
                self.jobs,
            )?;
            println!("status: vaekit sweep --status {}", out.display());
            return Ok(());
        }
        if self.plan_only {
            sweep::write_configs(&plan)?;
            for r in &plan {
                println!("{}", r.dir.display());
            }
            println!(
                "{} run configs written; start each with `vaekit train --resume RUN`",
                plan.len()
            );
            return Ok(());
        }
        let jobs = self.jobs.unwrap_or(1);
        println!(
            "vaekit sweep: {} runs into {}, {} at a time",
            plan.len(),
            out.display(),
            jobs
        );
        let exe = std::env::current_exe().context("locating the vaekit binary")?;
        let results = sweep::run(&exe, base, &plan, jobs);
        let failed = results
            .iter()
            .filter(|r| matches!(r.1, Outcome::Failed(_)))
            .count();
        println!(
            "{} of {} runs finished; table: vaekit report {}/* --group-by KEY",
            results.len() - failed,
            results.len(),
            out.display()
        );
        if failed > 0 {
            anyhow::bail!(
                "{failed} runs failed; see train.log in each failed run directory; re-run the same command to retry them"
            );
        }
        Ok(())
    }
}

/// The run folders (with a `config.toml`) directly under `dir`, sorted.
fn run_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "{}: not a folder of runs (give the sweep's --out)",
            dir.display()
        )
    })?;
    let mut runs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.toml").is_file())
        .collect();
    runs.sort();
    Ok(runs)
}
