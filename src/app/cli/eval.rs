//! `vaekit eval`: the k-sample bound on a run, optionally with the sample metrics.

use super::options::{DeviceArg, SampleMetricArgs};
use crate::app::evaluate::{self, EvalOptions, Split};
use crate::core::device;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The run directory.
    pub run: PathBuf,
    /// Importance samples per image.
    #[arg(long, default_value_t = 5000)]
    pub k: usize,
    /// test, val or train.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Samples per image per pass (default min(k, 500)); lower it to save memory.
    #[arg(long)]
    pub chunk: Option<usize>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Use the generic burn evaluator even where the fast CPU path applies.
    #[arg(long)]
    pub generic: bool,
    /// Flag examples whose importance-weight ESS is below this fraction of k
    /// (default: the run's monitor.ess_threshold, 0.01).
    #[arg(long)]
    pub ess_threshold: Option<f64>,
    /// Also draw N samples x ~ p(x|z) and score them against the data: Fréchet
    /// distance, precision/recall, density/coverage, MMD/KID, NDB, modes (docs/metrics.md).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub samples: usize,
    /// With --samples: score the decoder's means E[x|z] too (eval-k{K}-samples-mean.json).
    #[arg(long)]
    pub sample_mean: bool,
    #[command(flatten)]
    pub metrics: SampleMetricArgs,
}

impl EvalArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let dev = device::resolve(self.device.into())?;
        let opts = EvalOptions {
            k: self.k,
            split: self.split,
            chunk: self.chunk,
            seed: self.metrics.seed,
            force_generic: self.generic,
            ess_threshold: self.ess_threshold,
            samples: self.samples,
            sample_mean: self.sample_mean,
            sample_options: self.metrics.options()?,
        };
        let run = &self.run;
        let (report, scores) =
            evaluate::evaluate_run_with(run, &opts, &dev, self.device.as_str(), &mut |m| {
                eprintln!("{m}")
            })?;
        print!("{}", report.table());
        let stem = evaluate::report_stem(self.k, self.split);
        if let Some(s) = &scores {
            println!();
            print!("{}", s.samples.table());
            if let Some(m) = &s.means {
                println!("\ndecoder means E[x|z]:");
                print!("{}", m.table());
            }
            println!(
                "wrote {} and samples-n{}.npy; figures in {}",
                run.join(format!("{stem}-samples.json")).display(),
                self.samples,
                run.join("plots").display()
            );
        }
        println!("wrote {}", run.join(format!("{stem}.json")).display());
        Ok(())
    }
}
