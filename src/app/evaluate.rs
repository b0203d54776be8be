//! `vaekit eval`: the k-sample bound on a run's newest checkpoint, written
//! into the run directory as `eval-k{K}.json` (the table, and the registry's
//! importance-sampled metrics such as the ESS) and `eval-k{K}.csv` (one row
//! per example: ELBO, L_k, ESS).

use crate::core::error::{Error, Result};
use crate::core::fsutil::write_atomic;
use crate::metrics::fast_mlp;
use crate::metrics::iwae::{self, EvalReport, IwaeOptions};
use crate::metrics::registry::{self, Ctx, Section};
use crate::models::LatentModel;
use burn::tensor::Device;
use std::path::Path;

/// The split of a dataset an evaluation reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    #[default]
    Test,
    Val,
    Train,
}

impl Split {
    /// The split's name in the data layer and in the reports (`test`, `val`, `train`).
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Val => "val",
            Split::Train => "train",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// File name stem of an evaluation report: `eval-k{K}` for the test split,
/// `eval-k{K}-{split}` otherwise.
pub fn report_stem(k: usize, split: Split) -> String {
    if split == Split::Test {
        format!("eval-k{k}")
    } else {
        format!("eval-k{k}-{split}")
    }
}

/// What `vaekit eval` computes.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Importance samples per example.
    pub k: usize,
    pub split: Split,
    /// Samples per example per pass (default: min(k, 500)).
    pub chunk: Option<usize>,
    pub seed: u64,
    /// Use burn's generic path even where the fast CPU one applies.
    pub force_generic: bool,
    /// ESS/k below which an example counts as unconverged (default: the
    /// run's `monitor.ess_threshold`).
    pub ess_threshold: Option<f64>,
    /// Also draw this many samples x ~ p(x|z) and score them (0: none).
    pub samples: usize,
    /// Score the decoder's means E[x|z] too.
    pub sample_mean: bool,
    /// How samples are scored.
    pub sample_options: crate::metrics::samples::SampleOptions,
}

impl EvalOptions {
    /// k samples on the test split, seed 0, defaults for the rest.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            split: Split::Test,
            chunk: None,
            seed: 0,
            force_generic: false,
            ess_threshold: None,
            samples: 0,
            sample_mean: false,
            sample_options: Default::default(),
        }
    }
}

/// Evaluate a run's newest checkpoint with the k-sample bound, write
/// `eval-k{K}.json` and `eval-k{K}.csv` into the run directory, and return
/// the report. With `opts.samples > 0`, also draw that many samples, score
/// them ([`super::score`]) and store the sample metrics in the same
/// `eval-k{K}.json` (and in full, with NDB's bins and the class tables,
/// in `eval-k{K}-samples.json`), the samples in `samples-n{N}.npy`.
pub fn evaluate_run(
    run: &Path,
    opts: &EvalOptions,
    device: &Device,
    device_name: &str,
) -> Result<EvalReport> {
    evaluate_run_with(run, opts, device, device_name, &mut |_| {}).map(|(r, _)| r)
}

/// [`evaluate_run`], telling `say` what it is doing, and returning the
/// sample scores when samples were drawn.
pub fn evaluate_run_with(
    run: &Path,
    opts: &EvalOptions,
    device: &Device,
    device_name: &str,
    say: &mut dyn FnMut(&str),
) -> Result<(EvalReport, Option<super::score::RunScores>)> {
    let t0 = std::time::Instant::now();
    let k = opts.k;
    if k == 0 {
        return Err(Error::Usage(
            "--k 0: the bound needs at least one sample".into(),
        ));
    }
    let loaded = super::run::open(run, device)?;
    let mut monitor = loaded.config.monitor.clone();
    if let Some(t) = opts.ess_threshold {
        if !(t > 0.0 && t <= 1.0) {
            return Err(Error::Usage(format!(
                "--ess-threshold {t}: must be a fraction of k in (0, 1]"
            )));
        }
        monitor.ess_threshold = t;
    }
    if opts.samples > 0 {
        super::score::sample_shape(&loaded, opts.samples)?;
    }
    let data = super::run::load_run_data(&loaded.config, &loaded.dir)?;
    let set = data
        .split(opts.split.as_str(), loaded.config.seed)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--split {}: expected test, val or train",
                opts.split
            ))
        })?;
    if !loaded.data.fits(&set.kind()) {
        return Err(Error::Usage(format!(
            "{}: the model was trained on {} but {} now gives {}; evaluate it on the data \
             it was trained on",
            run.display(),
            loaded.data.describe(),
            loaded.config.data.spec,
            set.shape_text()
        )));
    }
    let iw = IwaeOptions {
        k,
        chunk: opts.chunk.unwrap_or(k.min(500)),
        seed: opts.seed,
    };
    // The fast path for plain MLP models on the CPU; the generic one otherwise.
    let fast = (device_name == "cpu" && !opts.force_generic)
        .then(|| fast_mlp::evaluate(&loaded.model, &set, &iw))
        .flatten();
    let (per, path) = match fast {
        Some(per) => (per, "fast-mlp"),
        None => (iwae::evaluate(&loaded.model, &set, &iw, device), "generic"),
    };
    let family = loaded.model.family();
    let mut report = EvalReport::new(
        &per,
        opts.split.as_str(),
        &loaded.data,
        family,
        &monitor,
        opts.seed,
    );
    report.path = path.into();
    report.seconds = t0.elapsed().as_secs_f64();
    report.device = device_name.into();
    report.checkpoint = loaded.checkpoint.display().to_string();
    if data.dynamic_binarize {
        report.binarization = Some(binarization_text(&loaded.dir, opts.split, &loaded.config)?);
    }
    let stem = report_stem(k, opts.split);
    let scores = if opts.samples > 0 {
        let s = super::score::score_run(
            &loaded,
            &set,
            opts.samples,
            opts.sample_mean,
            opts.seed,
            &opts.sample_options,
            device,
            say,
        )?;
        // Through the registry, as every other metric: what applies to
        // this model (component classes only for mixture priors), by name.
        let mut ctx = Ctx::new(family, &loaded.data, &monitor);
        ctx.samples = Some(&s.samples.metrics);
        let record = registry::section(&registry::evaluate(&ctx), Section::Samples);
        for (name, v) in record.iter() {
            report.metrics.insert(name, v.clone());
        }
        super::score::write_report(&run.join(format!("{stem}-samples.json")), &s.samples)?;
        if let Some(m) = &s.means {
            super::score::write_report(&run.join(format!("{stem}-samples-mean.json")), m)?;
        }
        super::score::write_samples_npy(
            &run.join(format!("samples-n{}.npy", opts.samples)),
            &s.drawn,
        )?;
        Some(s)
    } else {
        None
    };
    let mut csv = String::from("index,elbo,log_px,ess\n");
    for (i, ((e, l), s)) in per.elbo.iter().zip(&per.log_px).zip(&per.ess).enumerate() {
        csv.push_str(&format!("{i},{e},{l},{s}\n"));
    }
    write_atomic(&run.join(format!("{stem}.csv")), csv.as_bytes())?;
    write_atomic(
        &run.join(format!("{stem}.json")),
        serde_json::to_string_pretty(&report)
            .expect("reports serialize")
            .as_bytes(),
    )?;
    Ok((report, scores))
}

/// Which fixed draw binarized the evaluated split (grey images under a
/// binary likelihood), for the table and `eval-k*.json`: a reader of a
/// reported NLL can then say which binary test set it was.
fn binarization_text(
    run: &Path,
    split: Split,
    cfg: &crate::app::config::ExperimentConfig,
) -> Result<String> {
    use super::run::{Binarization, binarization};
    Ok(match (split, binarization(&run.join("config.toml"))?) {
        (Split::Train, _) => format!(
            "train images drawn once from the run's seed {} (training batches are drawn afresh)",
            cfg.seed
        ),
        (_, Binarization::Shared) => format!(
            "{split} images drawn once with data.binarize_seed = {}, the same for every run \
             that names it (the default, {}, is shared by all)",
            cfg.data.binarize_seed,
            crate::data::config::SHARED_BINARIZE_SEED
        ),
        (_, Binarization::RunSeed) => format!(
            "{split} images drawn once with the run's seed {} (a run written before \
             data.binarize_seed: its numbers were computed on this draw; runs of other seeds \
             saw other binary images)",
            cfg.seed
        ),
    })
}
