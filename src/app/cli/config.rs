//! `vaekit config`: the resolved config as TOML.

use super::options::ConfigArgs;

#[derive(clap::Args, Debug)]
pub struct ConfigCmdArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

impl ConfigCmdArgs {
    pub fn run(self) -> anyhow::Result<()> {
        print!("{}", self.config.load()?.to_toml());
        Ok(())
    }
}
