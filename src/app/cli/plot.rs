//! `vaekit plot`: the figures of one or several runs.

use crate::app::report::plot::{self, PlotOptions};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Run directories.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output folder (default RUN/plots for one run, ./plots for several).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// KL axes on a log scale.
    #[arg(long)]
    pub log: bool,
}

impl PlotArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let options = PlotOptions { log_kl: self.log };
        let files = plot::plot_runs(&self.runs, self.out.as_deref(), &options)?;
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
        {
            println!("wrote {} (+ .svg)", f.display());
        }
        Ok(())
    }
}
