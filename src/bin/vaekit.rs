//! `vaekit`: the command line. A thin front end over the library; every
//! error a user can cause is printed as one plain message, without a backtrace.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use vaekit::config::{DeviceChoice, ExperimentConfig};
use vaekit::{device, sample, train};

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
    Train {
        /// A TOML config (see experiments/configs/); defaults fill what it leaves out.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one config value, e.g. --set model.latent_dim=32 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Shortcut for --set data.spec=...: synthetic, idx:DIR or amat:DIR.
        #[arg(long)]
        data: Option<String>,
        /// cpu or wgpu (shortcut for --set device=...).
        #[arg(long, value_enum)]
        device: Option<DeviceArg>,
        /// Run directory (default runs/<name>-<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the resolved config (defaults + file + overrides) as TOML.
    Config {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Draw samples from a trained run into a PNG grid.
    Sample {
        /// The run directory.
        run: PathBuf,
        /// Number of images.
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Show the decoder mean E[x|z] instead of drawing x ~ p(x|z).
        #[arg(long)]
        mean: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output file (default RUN/samples.png).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum DeviceArg {
    Cpu,
    Wgpu,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Wgpu => DeviceChoice::Wgpu,
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train {
            config,
            mut set,
            data,
            device,
            out,
        } => {
            if let Some(d) = data {
                set.push(format!("data.spec={d}"));
            }
            if let Some(d) = device {
                let name = match d {
                    DeviceArg::Cpu => "cpu",
                    DeviceArg::Wgpu => "wgpu",
                };
                set.push(format!("device={name}"));
            }
            let cfg = ExperimentConfig::load(config.as_deref(), &set)?;
            let dev = device::resolve(cfg.device)?;
            let run_dir = train::make_run_dir(&cfg, out.as_deref())?;
            println!("vaekit train → {}", run_dir.display());
            let summary = train::train(&cfg, &run_dir, &dev, None)?;
            println!("{}", train::report(&summary, &run_dir));
        }
        Command::Config { config, set } => {
            print!(
                "{}",
                ExperimentConfig::load(config.as_deref(), &set)?.to_toml()
            );
        }
        Command::Sample {
            run,
            n,
            mean,
            seed,
            out,
            device,
        } => {
            let dev = device::resolve(device.into())?;
            let (pixels, rows, cols) = sample::draw(&run, n.max(1), mean, seed, &dev)?;
            let path = out.unwrap_or_else(|| {
                run.join(if mean {
                    "samples-mean.png"
                } else {
                    "samples.png"
                })
            });
            sample::write_grid(&path, &pixels, rows, cols, 3).context("writing the sample grid")?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
