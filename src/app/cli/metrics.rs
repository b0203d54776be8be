//! `vaekit metrics`: the list of every metric, or the sample metrics of any
//! generator's samples against real data.

use super::options::SampleMetricArgs;
use crate::app::config::DeviceChoice;
use crate::app::score::{self, Binarize};
use crate::core::device;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct MetricsArgs {
    /// The real data: a data spec (synthetic, idx:DIR, amat:DIR, cifar:DIR) — its
    /// training split, with its classifier — or a file/folder as for --fake.
    #[arg(long, requires = "fake")]
    pub real: Option<String>,
    /// The samples: .npy (uint8 or float; [N,H,W], [N,H,W,C], [N,C,H,W] or [N,D]),
    /// an IDX file, or a folder of PNGs.
    #[arg(long, requires = "real")]
    pub fake: Option<PathBuf>,
    /// Binarize the real images (auto: when the samples are all 0 or 1).
    #[arg(long, value_enum, default_value_t = Binarize::Auto)]
    pub binarize: Binarize,
    #[command(flatten)]
    pub metrics: SampleMetricArgs,
    /// Output JSON (default FAKE-metrics.json beside the samples; a CSV is written beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl MetricsArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let (Some(real), Some(fake)) = (self.real, self.fake) else {
            print!("{}", crate::metrics::registry::describe());
            return Ok(());
        };
        let opts = self.metrics.options()?;
        let out = self.out.unwrap_or_else(|| default_out(&fake));
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
        let report = score::score_files(&real, &fake, self.binarize, &opts, &dev, &mut |m| {
            eprintln!("{m}")
        })?;
        print!("{}", report.table());
        let csv = score::write_report(&out, &report)?;
        println!("wrote {} and {}", out.display(), csv.display());
        // Figures beside the report: `OUT-spectrum.png`.
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "metrics".into());
        let mut figures = score::spectrum_figure(
            dir,
            &format!("{stem}-spectrum"),
            &report,
            None,
            &report.fake,
        )?;
        figures.extend(score::tsne_figure(
            dir,
            &format!("{stem}-tsne"),
            &report,
            &report.fake,
        )?);
        for f in figures {
            println!("wrote {}", f.display());
        }
        Ok(())
    }
}

/// `FAKE-metrics.json` beside the samples.
fn default_out(fake: &Path) -> PathBuf {
    let stem = fake
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "samples".into());
    fake.parent()
        .unwrap_or(Path::new("."))
        .join(format!("{stem}-metrics.json"))
}
