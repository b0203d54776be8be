//! `vaekit judge`: a local web page on which a person judges a run's
//! samples (2AFC "which is real?" and 1–5 ratings), and `--summary`, which
//! reports the answers.

use crate::app::config::DeviceChoice;
use crate::app::judge::{self, Mode, ServeOptions};
use crate::core::device;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct JudgeArgs {
    /// The run directory (of an image model).
    pub run: PathBuf,
    /// Port on 127.0.0.1 (the page is not served to other machines); 0 picks any free port.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Trials in the session [default: 40]. A restarted session keeps its own.
    #[arg(long)]
    pub trials: Option<usize>,
    /// Which trials [default: both]. A restarted session keeps its own.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Seed of the trials and of the samples shown [default: 0]. A restarted session keeps its own.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Report the answers recorded so far (RUN/judge/answers.jsonl): 2AFC
    /// accuracy with its exact 95% interval, mean ratings; writes RUN/judge/summary.json.
    #[arg(long)]
    pub summary: bool,
}

impl JudgeArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if self.summary {
            let s = judge::summary(&self.run)?;
            print!("{}", s.text());
            println!(
                "wrote {}",
                self.run.join(judge::DIR).join(judge::SUMMARY).display()
            );
            return Ok(());
        }
        let dev = device::resolve(DeviceChoice::Cpu)?;
        let opts = ServeOptions {
            port: self.port,
            trials: self.trials,
            mode: self.mode,
            seed: self.seed,
        };
        judge::serve(
            &self.run,
            &opts,
            &dev,
            // The first line of stdout, which scripts (and the browser test) read.
            &mut |url| {
                println!("vaekit judge: open {url}");
                let _ = std::io::stdout().flush();
            },
            &mut |m| eprintln!("{m}"),
        )?;
        Ok(())
    }
}
