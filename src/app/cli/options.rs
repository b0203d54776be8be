//! The option groups several commands share, declared once so that
//! `vaekit train`, `vaekit sweep`, `vaekit config` and the study binaries
//! parse `--config`, `--set` and `--device` identically, and `vaekit eval`
//! and `vaekit metrics` the options of the sample metrics.

use crate::app::config::DeviceChoice;
use crate::metrics::samples::{FeatureChoice, SampleOptions};
use std::path::PathBuf;

/// Where a command computes: the CPU or the GPU through wgpu.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
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

impl DeviceArg {
    /// The word `--device` takes (`cpu`, `wgpu`).
    pub fn as_str(self) -> &'static str {
        DeviceChoice::from(self).as_str()
    }
}

/// `--set` and `--device`: config overrides on top of the defaults (and of
/// a `--config` file where the command takes one).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct OverrideArgs {
    /// Override one config value, e.g. --set model.latent_dim=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu or wgpu (shortcut for --set device=...).
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
}

impl OverrideArgs {
    /// The overrides in the order they apply: every `--set`, then `--device`.
    pub fn overrides(&self) -> Vec<String> {
        let mut set = self.set.clone();
        if let Some(d) = self.device {
            set.push(format!("device={}", d.as_str()));
        }
        set
    }

    /// The same options as a command line (for a job that re-runs the command).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(d) = self.device {
            a.extend(["--device".to_string(), d.as_str().to_string()]);
        }
        for s in &self.set {
            a.extend(["--set".to_string(), s.clone()]);
        }
        a
    }
}

/// `--config FILE` with the overrides: what resolves an experiment config.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ConfigArgs {
    /// A TOML config (see experiments/configs/); defaults fill what it leaves out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

impl ConfigArgs {
    /// The defaults, then the file, then the overrides.
    pub fn load(&self) -> crate::core::error::Result<crate::app::config::ExperimentConfig> {
        crate::app::config::ExperimentConfig::load(
            self.config.as_deref(),
            &self.overrides.overrides(),
        )
    }
}

/// Which features the sample metrics compare.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FeaturesArg {
    Auto,
    Classifier,
    Raw,
}

/// How generated samples are scored (`vaekit eval --samples`, `vaekit metrics`).
#[derive(clap::Args, Clone, Debug)]
pub struct SampleMetricArgs {
    /// Features for the sample metrics: the dataset's classifier (auto: where it has labels) or raw values.
    #[arg(long, value_enum, default_value_t = FeaturesArg::Auto)]
    pub features: FeaturesArg,
    /// NDB's number of K-means bins.
    #[arg(long, default_value_t = 100)]
    pub ndb_bins: usize,
    /// Random directions of the sliced Wasserstein distances.
    #[arg(long, default_value_t = 100)]
    pub swd_projections: usize,
    /// Points of the t-SNE map of real and generated samples (half each,
    /// seeded subsets; 0 = no map). 10,000 take about 16 s on two cores.
    #[arg(long, default_value_t = crate::metrics::samples::DEFAULT_TSNE_POINTS)]
    pub tsne_points: usize,
    /// The t-SNE map's perplexity (lowered when the points are too few).
    #[arg(long, default_value_t = 30.0)]
    pub tsne_perplexity: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SampleMetricArgs {
    /// The scoring options; NDB needs at least two bins.
    pub fn options(&self) -> anyhow::Result<SampleOptions> {
        let ndb_bins = self.ndb_bins;
        if ndb_bins < 2 {
            anyhow::bail!("--ndb-bins {ndb_bins}: NDB needs at least 2 bins (the paper uses 100)");
        }
        if self.swd_projections == 0 {
            anyhow::bail!(
                "--swd-projections 0: the sliced Wasserstein distance needs at least one direction \
                 (POT's default is 50; vaekit's 100)"
            );
        }
        if !(self.tsne_perplexity >= 1.0) {
            anyhow::bail!(
                "--tsne-perplexity {}: must be at least 1 (the usual range is 5–50; sklearn's default is 30)",
                self.tsne_perplexity
            );
        }
        Ok(SampleOptions {
            swd_projections: self.swd_projections,
            tsne_points: self.tsne_points,
            tsne_perplexity: self.tsne_perplexity,
            features: match self.features {
                FeaturesArg::Auto => FeatureChoice::Auto,
                FeaturesArg::Classifier => FeatureChoice::Classifier,
                FeaturesArg::Raw => FeatureChoice::Raw,
            },
            ndb_bins,
            seed: self.seed,
            ..Default::default()
        })
    }
}
