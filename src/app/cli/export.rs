//! `vaekit export`: a run's weights for other tools.

use crate::app::export::{self, ExportFormat};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The run directory.
    pub run: PathBuf,
    /// Only safetensors for now.
    #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
    pub format: ExportFormat,
    /// Output folder (default RUN/export).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ExportArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let path = match self.format {
            ExportFormat::Safetensors => export::safetensors(&self.run, self.out.as_deref())?,
        };
        println!("wrote {} (and config.toml beside it)", path.display());
        Ok(())
    }
}
