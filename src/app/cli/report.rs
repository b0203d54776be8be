//! `vaekit report`: tables of mean ± std over runs, grouped by config keys.

use crate::app::report::table::{self, Format, ReportOptions};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directories.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Config keys defining a group, e.g. --group-by schedule.kind (repeatable; default: name).
    #[arg(long = "group-by")]
    pub group_by: Vec<String>,
    /// Comma-separated columns: the report columns `vaekit metrics` lists, and wall_time_s.
    #[arg(long, default_value = "nll,elbo,kl,active_units,mi")]
    pub metrics: String,
    /// markdown, latex or csv.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Use eval-k{K}.json (default: per group, the largest k that every evaluated run of the group has).
    #[arg(long)]
    pub k: Option<usize>,
}

impl ReportArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let opts = ReportOptions {
            group_by: self.group_by,
            metrics: self
                .metrics
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
            format: self.format,
            k: self.k,
            order: Vec::new(),
            expected: Default::default(),
        };
        print!("{}", table::report(&self.runs, &opts)?);
        Ok(())
    }
}
