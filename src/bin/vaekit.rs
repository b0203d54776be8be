//! `vaekit`: the command line. A thin front end over the library: each
//! command's arguments and work are in `vaekit::app::cli`; every error a
//! user can cause is printed as one plain message, without a backtrace.

use clap::{Parser, Subcommand};
use vaekit::app::cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "vaekit",
    version,
    about = "Train and study VAEs for posterior collapse"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model. With no arguments: a Bernoulli VAE on the built-in synthetic shapes, on the CPU.
    Train(cli::TrainArgs),
    /// Figures (PNG and SVG) of one or several runs: KL per dimension, active units, ELBO, rate–distortion.
    Plot(cli::PlotArgs),
    /// Evaluate a run: ELBO and the IWAE bound L_k, as NLL in nats and bits/dim with standard errors.
    Eval(cli::EvalArgs),
    /// List every metric vaekit computes; with --real and --fake, score any
    /// generator's samples against real data.
    Metrics(cli::MetricsArgs),
    /// Export a run's weights for other tools.
    Export(cli::ExportArgs),
    /// Tables of mean ± std over runs (seeds), grouped by config keys, from summary.json and eval-k*.json.
    Report(cli::ReportArgs),
    /// Run a grid of config values × seeds, N at a time; a re-run skips finished runs and resumes interrupted ones.
    Sweep(cli::SweepArgs),
    /// Print the resolved config (defaults + file + overrides) as TOML.
    Config(cli::ConfigCmdArgs),
    /// Draw samples from a trained run: a PNG grid of images, or for a text run
    /// sentences from the prior, reconstructions and homotopies (samples.txt).
    Sample(cli::SampleArgs),
    /// A local web page on which a person judges a run's samples: "which is real?"
    /// pairs (2AFC) and 1–5 ratings; --summary reports the answers.
    Judge(cli::JudgeArgs),
}

impl Command {
    fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Train(a) => a.run(),
            Command::Plot(a) => a.run(),
            Command::Eval(a) => a.run(),
            Command::Metrics(a) => a.run(),
            Command::Export(a) => a.run(),
            Command::Report(a) => a.run(),
            Command::Sweep(a) => a.run(),
            Command::Config(a) => a.run(),
            Command::Sample(a) => a.run(),
            Command::Judge(a) => a.run(),
        }
    }
}

fn main() {
    // SAFETY: the first statement of main; no other thread exists yet.
    unsafe { vaekit::device::prefer_cpu_default() };
    vaekit::device::main_thread_computes();
    if let Err(e) = Cli::parse().command.run() {
        if let Some(vaekit::Error::Stopped { signal, .. }) = e.downcast_ref::<vaekit::Error>() {
            eprintln!("{e:#}");
            if let Some(m) = vaekit::slurm::after_stop(signal) {
                eprintln!("{m}");
            }
            std::process::exit(vaekit::slurm::EXIT_STOPPED);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
