//! `vaekit`: the command line. A thin front end over the library; every
//! error a user can cause is printed as one plain message, without a backtrace.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use vaekit::config::{DeviceChoice, ExperimentConfig};
use vaekit::report::plot;
use vaekit::{device, run as runs, sample, train};

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
        /// Shortcut for --set data.spec=...: synthetic, idx:DIR, amat:DIR, cifar:DIR,
        /// text:DIR (sentences) or synthetic-text.
        #[arg(long)]
        data: Option<String>,
        /// cpu or wgpu (shortcut for --set device=...).
        #[arg(long, value_enum)]
        device: Option<DeviceArg>,
        /// Run directory (default runs/<name>-<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the figures into RUN/plots at the end.
        #[arg(long)]
        plot: bool,
        /// Continue an interrupted run from its newest checkpoint (its own config.toml is used).
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "set", "data", "out"])]
        resume: Option<PathBuf>,
    },
    /// Figures (PNG and SVG) of one or several runs: KL per dimension, active units, ELBO, rate–distortion.
    Plot {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output folder (default RUN/plots for one run, ./plots for several).
        #[arg(long)]
        out: Option<PathBuf>,
        /// KL axes on a log scale.
        #[arg(long)]
        log: bool,
    },
    /// Evaluate a run: ELBO and the IWAE bound L_k, as NLL in nats and bits/dim with standard errors.
    Eval {
        /// The run directory.
        run: PathBuf,
        /// Importance samples per image.
        #[arg(long, default_value_t = 5000)]
        k: usize,
        /// test, val or train.
        #[arg(long, default_value = "test")]
        split: String,
        /// Samples per image per pass (default min(k, 500)); lower it to save memory.
        #[arg(long)]
        chunk: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Use the generic burn evaluator even where the fast CPU path applies.
        #[arg(long)]
        generic: bool,
        /// Flag examples whose importance-weight ESS is below this fraction of k
        /// (default: the run's monitor.ess_threshold, 0.01).
        #[arg(long)]
        ess_threshold: Option<f64>,
        /// Also draw N samples x ~ p(x|z) and score them against the data: Fréchet
        /// distance, precision/recall, density/coverage, MMD/KID, NDB, modes (docs/metrics.md).
        #[arg(long, default_value_t = 0, value_name = "N")]
        samples: usize,
        /// With --samples: score the decoder's means E[x|z] too (eval-k{K}-samples-mean.json).
        #[arg(long)]
        sample_mean: bool,
        /// Features for the sample metrics: the dataset's classifier (auto: where it has labels) or raw values.
        #[arg(long, value_enum, default_value_t = FeaturesArg::Auto)]
        features: FeaturesArg,
        /// NDB's number of K-means bins.
        #[arg(long, default_value_t = 100)]
        ndb_bins: usize,
    },
    /// List every metric vaekit computes; with --real and --fake, score any
    /// generator's samples against real data.
    Metrics {
        /// The real data: a data spec (synthetic, idx:DIR, amat:DIR, cifar:DIR) — its
        /// training split, with its classifier — or a file/folder as for --fake.
        #[arg(long, requires = "fake")]
        real: Option<String>,
        /// The samples: .npy (uint8 or float; [N,H,W], [N,H,W,C], [N,C,H,W] or [N,D]),
        /// an IDX file, or a folder of PNGs.
        #[arg(long, requires = "real")]
        fake: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = FeaturesArg::Auto)]
        features: FeaturesArg,
        /// Binarize the real images (auto: when the samples are all 0 or 1).
        #[arg(long, value_enum, default_value_t = vaekit::score::Binarize::Auto)]
        binarize: vaekit::score::Binarize,
        #[arg(long, default_value_t = 100)]
        ndb_bins: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output JSON (default FAKE-metrics.json beside the samples; a CSV is written beside it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export a run's weights for other tools.
    Export {
        /// The run directory.
        run: PathBuf,
        /// Only safetensors for now.
        #[arg(long, default_value = "safetensors")]
        format: String,
        /// Output folder (default RUN/export).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Tables of mean ± std over runs (seeds), grouped by config keys, from summary.json and eval-k*.json.
    Report {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Config keys defining a group, e.g. --group-by schedule.kind (repeatable; default: name).
        #[arg(long = "group-by")]
        group_by: Vec<String>,
        /// Comma-separated columns: the report columns `vaekit metrics` lists, and wall_time_s.
        #[arg(long, default_value = "nll,elbo,kl,active_units,mi")]
        metrics: String,
        /// markdown, latex or csv.
        #[arg(long, default_value = "markdown")]
        format: String,
        /// Use eval-k{K}.json (default: per group, the largest k that every evaluated run of the group has).
        #[arg(long)]
        k: Option<usize>,
    },
    /// Run a grid of config values × seeds, N at a time; a re-run skips finished runs and resumes interrupted ones.
    Sweep {
        /// Base config (defaults fill the rest).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Fixed overrides for every run.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// One axis: KEY=V1,V2,... (repeatable; the grid is their product).
        #[arg(long = "grid", value_name = "KEY=V1,V2")]
        grid: Vec<String>,
        /// Seeds: A..B (inclusive) or a list 0,1,2.
        #[arg(long, default_value = "0")]
        seeds: String,
        /// Runs at a time (default 1; with --slurm, the array's task limit, default none).
        #[arg(long)]
        jobs: Option<usize>,
        /// Folder of the run directories.
        #[arg(long, default_value = "runs/sweep")]
        out: PathBuf,
        /// Only write each run's config.toml (for a cluster job array of `vaekit train --resume RUN`).
        #[arg(long)]
        plan_only: bool,
        /// Show the state of every run under DIR (planned, queued, running, done, failed,
        /// preempted) from the run folders and squeue, and exit.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["plan_only", "slurm"])]
        status: Option<PathBuf>,
        #[command(flatten)]
        cluster: vaekit::slurm::SlurmArgs,
    },
    /// Print the resolved config (defaults + file + overrides) as TOML.
    Config {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Draw samples from a trained run: a PNG grid of images, or for a text run
    /// sentences from the prior, reconstructions and homotopies (samples.txt).
    Sample {
        /// The run directory.
        run: PathBuf,
        /// Number of images (or sentences, for a text run).
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Show the decoder mean E[x|z] instead of drawing x ~ p(x|z)
        /// (text runs: the most likely token at each step, as --greedy).
        #[arg(long)]
        mean: bool,
        /// Text runs: decode greedily instead of sampling token by token.
        #[arg(long)]
        greedy: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output file (default RUN/samples.png; RUN/samples.txt for a text run).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum FeaturesArg {
    Auto,
    Classifier,
    Raw,
}

fn sample_options(
    features: FeaturesArg,
    ndb_bins: usize,
    seed: u64,
) -> anyhow::Result<vaekit::metrics::samples::SampleOptions> {
    use vaekit::metrics::samples::{FeatureChoice, SampleOptions};
    if ndb_bins < 2 {
        anyhow::bail!("--ndb-bins {ndb_bins}: NDB needs at least 2 bins (the paper uses 100)");
    }
    Ok(SampleOptions {
        features: match features {
            FeaturesArg::Auto => FeatureChoice::Auto,
            FeaturesArg::Classifier => FeatureChoice::Classifier,
            FeaturesArg::Raw => FeatureChoice::Raw,
        },
        ndb_bins,
        seed,
        ..Default::default()
    })
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
            plot,
            resume,
        } => {
            // SIGTERM / SIGUSR1 stop at the next step with a checkpoint.
            vaekit::train::stop::install().context("installing the signal handlers")?;
            if let Some(run_dir) = resume {
                let cfg = vaekit::run::load_config(&run_dir)?;
                let choice = device.map(DeviceChoice::from).unwrap_or(cfg.device);
                let dev = device::resolve(choice)?;
                println!("vaekit train --resume {}", run_dir.display());
                let summary = runs::resume(&run_dir, Some(choice), &dev, None)?;
                println!("{}", train::report(&summary, &run_dir));
                if plot {
                    plot::plot_runs(std::slice::from_ref(&run_dir), None, &Default::default())?;
                }
                return Ok(());
            }
            if let Some(d) = data {
                set.push(format!("data.spec={d}"));
            }
            if let Some(d) = device {
                set.push(format!("device={}", DeviceChoice::from(d).as_str()));
            }
            let cfg = ExperimentConfig::load(config.as_deref(), &set)?;
            let dev = device::resolve(cfg.device)?;
            let run_dir = runs::make_run_dir(&cfg, out.as_deref())?;
            println!("vaekit train → {}", run_dir.display());
            let summary = runs::train(&cfg, &run_dir, &dev, None)?;
            println!("{}", train::report(&summary, &run_dir));
            if plot {
                plot::plot_runs(std::slice::from_ref(&run_dir), None, &Default::default())?;
                println!("figures in {}", run_dir.join("plots").display());
            }
        }
        Command::Eval {
            run,
            k,
            split,
            chunk,
            seed,
            device,
            generic,
            ess_threshold,
            samples,
            sample_mean,
            features,
            ndb_bins,
        } => {
            let dev = device::resolve(device.into())?;
            let name = DeviceChoice::from(device).as_str();
            let opts = vaekit::evaluate::EvalOptions {
                k,
                split: split.clone(),
                chunk,
                seed,
                force_generic: generic,
                ess_threshold,
                samples,
                sample_mean,
                sample_options: sample_options(features, ndb_bins, seed)?,
            };
            let (report, scores) =
                vaekit::evaluate::evaluate_run_with(&run, &opts, &dev, name, &mut |m| {
                    eprintln!("{m}")
                })?;
            print!("{}", report.table());
            let stem = vaekit::evaluate::report_stem(k, &split);
            if let Some(s) = &scores {
                println!();
                print!("{}", s.samples.table());
                if let Some(m) = &s.means {
                    println!("\ndecoder means E[x|z]:");
                    print!("{}", m.table());
                }
                println!(
                    "wrote {} and samples-n{samples}.npy; figures in {}",
                    run.join(format!("{stem}-samples.json")).display(),
                    run.join("plots").display()
                );
            }
            println!("wrote {}", run.join(format!("{stem}.json")).display());
        }
        Command::Export { run, format, out } => {
            if format != "safetensors" {
                anyhow::bail!("--format {format}: only safetensors is supported");
            }
            let path = vaekit::export::safetensors(&run, out.as_deref())?;
            println!("wrote {} (and config.toml beside it)", path.display());
        }
        Command::Plot { runs, out, log } => {
            let files = plot::plot_runs(&runs, out.as_deref(), &plot::PlotOptions { log_kl: log })?;
            for f in files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "png"))
            {
                println!("wrote {} (+ .svg)", f.display());
            }
        }
        Command::Report {
            runs,
            group_by,
            metrics,
            format,
            k,
        } => {
            let opts = vaekit::report::table::ReportOptions {
                group_by,
                metrics: metrics
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect(),
                format: format.parse()?,
                k,
                order: Vec::new(),
                expected: Default::default(),
            };
            print!("{}", vaekit::report::table::report(&runs, &opts)?);
        }
        Command::Sweep {
            config,
            set,
            grid,
            seeds,
            jobs,
            out,
            plan_only,
            status,
            cluster,
        } => {
            if let Some(dir) = status {
                let runs = run_folders(&dir)?;
                let states = vaekit::slurm::status(&dir, &runs)?;
                print!("{}", vaekit::slurm::status_table(&states));
                return Ok(());
            }
            let axes = grid
                .iter()
                .map(|g| g.parse())
                .collect::<Result<Vec<vaekit::sweep::Axis>, _>>()?;
            let seeds = vaekit::sweep::parse_seeds(&seeds)?;
            let plan = vaekit::sweep::plan(config.as_deref(), &set, &axes, &seeds, &out)?;
            if cluster.slurm {
                vaekit::sweep::write_configs(&plan)?;
                let runs: Vec<PathBuf> = plan.iter().map(|r| r.dir.clone()).collect();
                let exe = vaekit::slurm::vaekit_binary()?;
                let quote = |p: &std::path::Path| vaekit::slurm::sh(&p.display().to_string());
                let all: Vec<String> = runs
                    .iter()
                    .map(|r| quote(&std::path::absolute(r).unwrap_or(r.clone())))
                    .collect();
                let out_abs = std::path::absolute(&out).unwrap_or(out.clone());
                // The gathering job: the table over every run of the sweep, as `vaekit report` makes it.
                let gather = vec![format!(
                    "{exe} report {runs} > {md}.tmp && mv {md}.tmp {md} && \
                     {exe} report {runs} --format csv > {csv}.tmp && mv {csv}.tmp {csv}",
                    exe = quote(&exe),
                    runs = all.join(" "),
                    md = quote(&out_abs.join("results.md")),
                    csv = quote(&out_abs.join("results.csv")),
                )];
                let mut cluster = cluster.clone();
                cluster.jobs = jobs.unwrap_or(0);
                let sub =
                    vaekit::slurm::submit("vaekit-sweep", &out, &runs, Some(&gather), &cluster)?;
                vaekit::study::report_submission(&sub, runs.len());
                println!("status: vaekit sweep --status {}", out.display());
                return Ok(());
            }
            if plan_only {
                vaekit::sweep::write_configs(&plan)?;
                for r in &plan {
                    println!("{}", r.dir.display());
                }
                println!(
                    "{} run configs written; start each with `vaekit train --resume RUN`",
                    plan.len()
                );
                return Ok(());
            }
            let jobs = jobs.unwrap_or(1);
            println!(
                "vaekit sweep: {} runs into {}, {} at a time",
                plan.len(),
                out.display(),
                jobs
            );
            let exe = std::env::current_exe().context("locating the vaekit binary")?;
            let results = vaekit::sweep::run(&exe, config.as_deref(), &plan, jobs);
            let failed = results
                .iter()
                .filter(|r| matches!(r.1, vaekit::sweep::Outcome::Failed(_)))
                .count();
            println!(
                "{} of {} runs finished; table: vaekit report {}/* --group-by KEY",
                results.len() - failed,
                results.len(),
                out.display()
            );
            if failed > 0 {
                anyhow::bail!(
                    "{failed} runs failed; see train.log in each failed run directory; re-run the same command to retry them"
                );
            }
        }
        Command::Metrics {
            real,
            fake,
            features,
            binarize,
            ndb_bins,
            seed,
            out,
        } => {
            let (Some(real), Some(fake)) = (real, fake) else {
                print!("{}", vaekit::metrics::registry::describe());
                return Ok(());
            };
            let opts = sample_options(features, ndb_bins, seed)?;
            let out = out.unwrap_or_else(|| {
                let stem = fake
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "samples".into());
                fake.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(format!("{stem}-metrics.json"))
            });
            if out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                anyhow::bail!(
                    "--out {}: give the JSON file's name (e.g. metrics.json); the CSV is written beside it",
                    out.display()
                );
            }
            let dev = device::resolve(DeviceChoice::Cpu)?;
            let report =
                vaekit::score::score_files(&real, &fake, binarize, &opts, &dev, &mut |m| {
                    eprintln!("{m}")
                })?;
            print!("{}", report.table());
            let csv = vaekit::score::write_report(&out, &report)?;
            println!("wrote {} and {}", out.display(), csv.display());
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
            greedy,
            seed,
            out,
            device,
        } => {
            let dev = device::resolve(device.into())?;
            if run.join(vaekit::run::VOCAB_FILE).is_file() {
                let text = sample::sentences(&run, n.max(1), greedy || mean, seed, &dev)?;
                let path = out.unwrap_or_else(|| run.join("samples.txt"));
                vaekit::fsutil::write_atomic(&path, text.as_bytes())
                    .context("writing the sentences")?;
                print!("{text}");
                println!("wrote {}", path.display());
                return Ok(());
            }
            let drawn = sample::draw(&run, n.max(1), mean, seed, &dev)?;
            let path = out.unwrap_or_else(|| {
                run.join(if mean {
                    "samples-mean.png"
                } else {
                    "samples.png"
                })
            });
            sample::write_grid(&path, &drawn, 3).context("writing the sample grid")?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// The run folders (with a `config.toml`) directly under `dir`, sorted.
fn run_folders(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "{}: not a folder of runs (give the sweep's --out)",
            dir.display()
        )
    })?;
    let mut runs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.toml").is_file())
        .collect();
    runs.sort();
    Ok(runs)
}

fn main() {
    // SAFETY: the first statement of main; no other thread exists yet.
    unsafe { device::prefer_cpu_default() };
    device::main_thread_computes();
    if let Err(e) = run(Cli::parse()) {
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
