//! `vaekit train`: a new run from a config, or the continuation of an
//! interrupted one.

use super::options::ConfigArgs;
use crate::app::config::DeviceChoice;
use crate::app::report::plot;
use crate::app::run;
use crate::core::device;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Shortcut for --set data.spec=...: synthetic, idx:DIR, amat:DIR, cifar:DIR,
    /// text:DIR (sentences) or synthetic-text.
    #[arg(long)]
    pub data: Option<String>,
    /// Run directory (default runs/<name>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the figures into RUN/plots at the end.
    #[arg(long)]
    pub plot: bool,
    /// Continue an interrupted run from its newest checkpoint (its own config.toml is used).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "set", "data", "out"])]
    pub resume: Option<PathBuf>,
}

impl TrainArgs {
    pub fn run(self) -> anyhow::Result<()> {
        // SIGTERM / SIGUSR1 stop at the next step with a checkpoint.
        crate::train::stop::install().context("installing the signal handlers")?;
        let device_arg = self.config.overrides.device;
        if let Some(run_dir) = self.resume {
            let cfg = run::load_config(&run_dir)?;
            let choice = device_arg.map(DeviceChoice::from).unwrap_or(cfg.device);
            let dev = device::resolve(choice)?;
            println!("vaekit train --resume {}", run_dir.display());
            let summary = run::resume(&run_dir, Some(choice), &dev, None)?;
            println!("{}", crate::train::report(&summary, &run_dir));
            if self.plot {
                plot::plot_runs(std::slice::from_ref(&run_dir), None, &Default::default())?;
            }
            return Ok(());
        }
        let mut config = self.config;
        if let Some(d) = self.data {
            config.overrides.set.push(format!("data.spec={d}"));
        }
        let cfg = config.load()?;
        let dev = device::resolve(cfg.device)?;
        let run_dir = run::make_run_dir(&cfg, self.out.as_deref())?;
        println!("vaekit train → {}", run_dir.display());
        let summary = run::train(&cfg, &run_dir, &dev, None)?;
        println!("{}", crate::train::report(&summary, &run_dir));
        if self.plot {
            plot::plot_runs(std::slice::from_ref(&run_dir), None, &Default::default())?;
            println!("figures in {}", run_dir.join("plots").display());
        }
        Ok(())
    }
}
