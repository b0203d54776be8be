//! `vaekit sample`: images (a PNG grid) or sentences from a trained run.

use super::options::DeviceArg;
use crate::app::sample;
use crate::core::device;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    /// The run directory.
    pub run: PathBuf,
    /// Number of images (or sentences, for a text run).
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Show the decoder mean E[x|z] instead of drawing x ~ p(x|z)
    /// (text runs: the most likely token at each step, as --greedy).
    #[arg(long)]
    pub mean: bool,
    /// Text runs: decode greedily instead of sampling token by token.
    #[arg(long)]
    pub greedy: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (default RUN/samples.png; RUN/samples.txt for a text run).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

impl SampleArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let dev = device::resolve(self.device.into())?;
        let run = &self.run;
        let n = self.n.max(1);
        if run.join(crate::app::run::VOCAB_FILE).is_file() {
            let text = sample::sentences(run, n, self.greedy || self.mean, self.seed, &dev)?;
            let path = self.out.unwrap_or_else(|| run.join("samples.txt"));
            crate::core::fsutil::write_atomic(&path, text.as_bytes())
                .context("writing the sentences")?;
            print!("{text}");
            println!("wrote {}", path.display());
            return Ok(());
        }
        let drawn = sample::draw(run, n, self.mean, self.seed, &dev)?;
        let path = self.out.unwrap_or_else(|| {
            run.join(if self.mean {
                "samples-mean.png"
            } else {
                "samples.png"
            })
        });
        sample::write_grid(&path, &drawn, 3).context("writing the sample grid")?;
        println!("wrote {}", path.display());
        Ok(())
    }
}
