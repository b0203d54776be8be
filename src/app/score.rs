//! Sample metrics for runs and for files: `vaekit eval RUN --samples N`
//! draws N samples x ~ p(x|z), z ~ p(z), and scores them against the run's
//! dataset; `vaekit metrics --real SPEC --fake FILE` scores any generator's
//! samples the same way. The metrics themselves are in
//! [`crate::metrics::samples`]; this module finds the real data, draws the
//! samples, writes the files and the figures.

use super::report::plot::samples as figures;
use super::run::LoadedRun;
use crate::core::error::{Error, Result};
use crate::core::rng::{Purpose, host_normal};
use crate::data::sample_files::{self, SampleArray};
use crate::data::{DataConfig, DataKind, DataSpec, ImageSet};
use crate::metrics::record::{Record, Value};
use crate::metrics::samples::spectrum::{self, Spectrum};
use crate::metrics::samples::{self, Reference, SampleOptions, kernel, pairwise::Points};
use crate::models::LatentModel;
use burn::tensor::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Whether the real images are binarized before comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Binarize {
    /// When the samples are all 0 or 1 and the real images are not.
    Auto,
    Yes,
    No,
}

/// How a t-SNE map was made and how faithful it is.
#[derive(Serialize, Debug, Clone)]
pub struct TsneSummary {
    pub points: usize,
    pub perplexity: f64,
    pub kl: f64,
    /// Venna & Kaski's trustworthiness with k = 10 (1 = every neighbour in
    /// the map is a neighbour in feature space).
    pub trustworthiness: f64,
    pub caption: String,
}

/// Everything one scoring wrote, as `*-samples.json` stores it.
#[derive(Serialize, Debug, Clone)]
pub struct SampleReport {
    /// The real data and the samples, described.
    pub real: String,
    pub fake: String,
    /// `classifier` (LeNet features) or `raw`.
    pub feature_space: String,
    /// The cached reference folder (classifier and bins).
    pub reference: String,
    pub binarized: bool,
    /// Decoder means instead of samples x ~ p(x|z).
    pub decoder_mean: bool,
    #[serde(flatten)]
    pub metrics: Record,
    /// NDB's per-bin shares.
    pub ndb_real: Vec<f64>,
    pub ndb_fake: Vec<f64>,
    pub ndb_significant: Vec<bool>,
    /// Predicted-class shares of the real set and of the samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_shares_real: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_shares_fake: Option<Vec<f64>>,
    /// Mixture priors: predicted-class counts of each component's samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_classes: Option<Vec<Vec<usize>>>,
    /// Images: the radially averaged power spectra (`docs/metrics.md`):
    /// ring centres in cycles per pixel, the real set's and the samples'
    /// mean power per ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum_freq: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum_real: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum_fake: Option<Vec<f64>>,
    /// The spectra themselves, for the figure.
    #[serde(skip)]
    pub spectra: Option<(Spectrum, Spectrum)>,
    /// The t-SNE map's settings and quality (`--tsne-points`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsne: Option<TsneSummary>,
    #[serde(skip)]
    pub tsne_view: Option<samples::TsneView>,
    pub seconds: f64,
}

impl SampleReport {
    /// The metrics as a two-column text table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "samples: {}\nreal:    {}\nfeatures: {}{}\n",
            self.fake,
            self.real,
            self.feature_space,
            self.metrics
                .float("classifier_accuracy")
                .map(|a| format!(" (classifier test accuracy {:.2}%)", 100.0 * a))
                .unwrap_or_default()
        );
        for (name, v) in self.metrics.iter() {
            let Some(m) = crate::metrics::registry::find(name) else {
                continue;
            };
            let text = match v {
                Value::Count(c) => format!("{c}"),
                Value::Number(x) => format!("{x:.6}"),
                Value::Vector(_) => continue,
            };
            s.push_str(&format!("  {:<26} {:>14}   {}\n", name, text, m.label));
        }
        s
    }
}

/// The reference of a data spec (`synthetic`, `idx:DIR`, `amat:DIR`,
/// `cifar:DIR`): its training split as loaded with seed 0 (whatever the
/// run's seed, so that every run on the dataset meets the same real set
/// and classifier), the test split for the classifier's accuracy.
pub fn reference_for_data(
    data: &DataConfig,
    binarize: bool,
    opts: &SampleOptions,
    device: &Device,
    say: &mut dyn FnMut(&str),
) -> Result<Reference> {
    let mut cfg = data.clone();
    cfg.limit = 0;
    let splits = crate::data::load(&cfg, 0)?;
    let (Some(train), Some(test)) = (splits.train.images(), splits.test.images()) else {
        return Err(Error::Usage(format!(
            "{}: sample metrics compare images; this data is {}",
            data.spec,
            splits.train.kind().describe()
        )));
    };
    let source = format!(
        "{} training split{}",
        data.spec,
        if binarize { ", binarized" } else { "" }
    );
    Reference::get(train, Some(test), binarize, &source, opts, device, say)
}

/// The reference of a file or folder of real samples (npy, IDX, PNGs):
/// raw features, no classifier.
fn reference_for_file(
    path: &Path,
    binarize: bool,
    opts: &SampleOptions,
    device: &Device,
    say: &mut dyn FnMut(&str),
) -> Result<Reference> {
    if opts.features == samples::FeatureChoice::Classifier {
        return Err(Error::Usage(format!(
            "--features classifier: {} is a file of samples, with no labels to train the \
             classifier on; give a labelled dataset (idx:DIR, cifar:DIR, synthetic) as --real, \
             or use --features raw",
            path.display()
        )));
    }
    let a = sample_files::read(path)?;
    let (rows, cols, channels) = a.image.unwrap_or((1, a.dim, 1));
    let set = ImageSet {
        images: a.values.clone(),
        n: a.n,
        rows,
        cols,
        channels,
        labels: None,
        binary: false,
    };
    let mut opts = opts.clone();
    opts.features = samples::FeatureChoice::Raw;
    let mut r = Reference::get(
        &set,
        None,
        binarize && a.image.is_some(),
        &a.describe,
        &opts,
        device,
        say,
    )?;
    r.real.image = a.image;
    Ok(r)
}

/// Whether every value is 0 or 1.
fn is_binary(v: &[f32]) -> bool {
    v.iter().all(|&x| x == 0.0 || x == 1.0)
}

/// `vaekit metrics --real SPEC --fake FILE`.
pub fn score_files(
    real: &str,
    fake_path: &Path,
    binarize: Binarize,
    opts: &SampleOptions,
    device: &Device,
    say: &mut dyn FnMut(&str),
) -> Result<SampleReport> {
    let t0 = std::time::Instant::now();
    let fake = sample_files::read(fake_path)?;
    let bin = match binarize {
        Binarize::Yes => true,
        Binarize::No => false,
        Binarize::Auto => is_binary(&fake.values),
    };
    if binarize == Binarize::Auto && bin {
        say(
            "the samples are binary (every value 0 or 1): the real images are binarized too (--binarize no to keep them grey)",
        );
    }
    // A dataset of images rather than a file (`text:` is not one: sample
    // metrics compare images).
    let spec = real
        .parse::<DataSpec>()
        .ok()
        .filter(|spec| spec.is_images());
    let reference = if let Some(spec) = spec {
        let cfg = DataConfig {
            spec,
            ..DataConfig::default()
        };
        reference_for_data(&cfg, bin, opts, device, say)?
    } else {
        let p = Path::new(real);
        if !p.exists() {
            return Err(Error::Usage(format!(
                "--real {real}: not a data spec (synthetic, idx:DIR, amat:DIR, cifar:DIR) and no such file or folder"
            )));
        }
        reference_for_file(p, bin, opts, device, say)?
    };
    let scores = samples::score(&reference, &fake, opts, device)?;
    Ok(report(&reference, &fake, scores, None, false, t0))
}

fn report(
    reference: &Reference,
    fake: &SampleArray,
    scores: samples::Scores,
    components: Option<Vec<Vec<usize>>>,
    mean: bool,
    t0: std::time::Instant,
) -> SampleReport {
    let fake_shares = scores
        .fake_classes
        .as_ref()
        .map(|c| samples::classes::shares(c, reference.info.classes));
    SampleReport {
        real: reference.info.source.clone(),
        fake: fake.describe.clone(),
        feature_space: reference.info.feature_space.clone(),
        reference: reference.dir.display().to_string(),
        binarized: reference.info.binarized,
        decoder_mean: mean,
        metrics: scores.record,
        ndb_real: scores.ndb.real,
        ndb_fake: scores.ndb.fake,
        ndb_significant: scores.ndb.significant,
        class_shares_real: scores.real_class_shares,
        class_shares_fake: fake_shares,
        component_classes: components,
        spectrum_freq: scores.spectra.as_ref().map(|(r, _)| r.freq.clone()),
        spectrum_real: scores.spectra.as_ref().map(|(r, _)| r.power.clone()),
        spectrum_fake: scores.spectra.as_ref().map(|(_, f)| f.power.clone()),
        spectra: scores.spectra,
        tsne: scores.tsne.as_ref().map(|t| TsneSummary {
            points: t.xy.len(),
            perplexity: t.perplexity,
            kl: t.kl,
            trustworthiness: t.trustworthiness,
            caption: t.caption.clone(),
        }),
        tsne_view: scores.tsne,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// `tsne.png`/`.svg` in `dir`: the t-SNE map, coloured real against
/// samples and (with the classifier) by predicted class.
pub fn tsne_figure(
    dir: &Path,
    stem: &str,
    report: &SampleReport,
    name: &str,
) -> Result<Vec<PathBuf>> {
    let Some(t) = &report.tsne_view else {
        return Ok(Vec::new());
    };
    crate::app::report::plot::embedding::tsne_figure(
        dir,
        stem,
        &t.xy,
        &t.is_real,
        t.classes.as_deref(),
        &format!("t-SNE of real points and samples — {name}"),
        &t.caption,
    )
}

/// `spectrum.png`/`.svg` in `dir`: the data's power spectrum against the
/// samples' (and the decoder means', when scored) — noisy samples lie above
/// the data at high frequencies, blurry ones below.
pub fn spectrum_figure(
    dir: &Path,
    stem: &str,
    samples: &SampleReport,
    means: Option<&SampleReport>,
    name: &str,
) -> Result<Vec<PathBuf>> {
    let Some((real, fake)) = &samples.spectra else {
        return Ok(Vec::new());
    };
    let mut curves: Vec<(&str, &Spectrum)> = vec![("data", real), ("samples x ~ p(x|z)", fake)];
    if let Some((_, m)) = means.and_then(|m| m.spectra.as_ref()) {
        curves.push(("decoder means E[x|z]", m));
    }
    crate::app::report::plot::spectrum::spectra(dir, stem, &curves, spectrum::HF_CUTOFF, name)
}

/// What `vaekit eval --samples N` adds to the evaluation.
pub struct RunScores {
    pub samples: SampleReport,
    /// The same on the decoder's means, when asked.
    pub means: Option<SampleReport>,
    /// The samples, for `samples-n{N}.npy` and the grid.
    pub drawn: super::sample::Drawn,
}

/// The image shape of a run whose samples are to be scored, or the error
/// that says why `n` samples of it cannot be (checked before any work).
pub fn sample_shape(loaded: &LoadedRun, n: usize) -> Result<(usize, usize, usize)> {
    let DataKind::Images {
        rows,
        cols,
        channels,
    } = loaded.data
    else {
        return Err(Error::Usage(format!(
            "{}: --samples scores images; this model was trained on {} (text runs: `vaekit sample` writes sentences)",
            loaded.dir.display(),
            loaded.data.describe()
        )));
    };
    if n < samples::MIN_REAL {
        return Err(Error::Usage(format!(
            "--samples {n}: the k-NN metrics need at least {}",
            samples::MIN_REAL
        )));
    }
    Ok((rows, cols, channels))
}

/// Draw `n` samples from a loaded run and score them (and the decoder
/// means when `mean`); the latent MMD and, for mixture priors, the
/// components' class histograms too, the latent MMD and the latent figure
/// on `held_out` (the split being evaluated). Figures go to `RUN/plots`.
#[allow(clippy::too_many_arguments)]
pub fn score_run(
    loaded: &LoadedRun,
    held_out: &crate::data::Dataset,
    n: usize,
    mean: bool,
    seed: u64,
    opts: &SampleOptions,
    device: &Device,
    say: &mut dyn FnMut(&str),
) -> Result<RunScores> {
    let t0 = std::time::Instant::now();
    let (rows, cols, channels) = sample_shape(loaded, n)?;
    let binarize = loaded.config.model.binarizes();
    let reference = reference_for_data(&loaded.config.data, binarize, opts, device, say)?;
    say(&format!("drawing {n} samples x ~ p(x|z)"));
    let model = &loaded.model;
    let (drawn, z) =
        super::sample::draw_from(model, (rows, cols, channels), n, false, seed, device);
    let as_array = |pixels: &[f32], what: &str| SampleArray {
        values: pixels.to_vec(),
        n,
        image: Some((rows, cols, channels)),
        dim: rows * cols * channels,
        describe: format!("{n} {what} of {}", loaded.dir.display()),
    };
    let fake = as_array(&drawn.pixels, "samples x ~ p(x|z)");
    let mut scores = samples::score(&reference, &fake, opts, device)?;
    // Mixture priors: which component each z most likely came from.
    let mut components = None;
    let zd = z.len() / n;
    if let Some(resp) =
        model.prior_responsibilities(crate::core::host::upload(z.clone(), n, zd, device))
    {
        let resp = crate::core::host::read(resp);
        let k = resp.len() / n;
        let comp = samples::classes::argmax_rows(&resp, k);
        if let Some(fc) = &scores.fake_classes {
            let table = samples::classes::component_classes(&comp, fc, k, reference.info.classes);
            scores.record.insert(
                "component_modes",
                Value::Count(samples::classes::component_modes(&table)),
            );
            components = Some(table);
        }
    }
    // Latent MMD: one z ~ q(z|x) per held-out example against as many z ~ p(z).
    let (post_means, post_z) = posterior_draws(model, held_out, seed, device);
    if let Some(post_z) = post_z.as_ref().filter(|z| z.len() / zd >= 2) {
        let m = post_z.len() / zd;
        let prior = crate::core::host::read(model.sample_prior(m, seed.wrapping_add(1), device));
        let mmd = kernel::mmd2(
            &Points::new(post_z, m, zd),
            &Points::new(&prior, m, zd),
            kernel::Kernel::Imq,
        );
        scores.record.insert("latent_mmd", Value::Number(mmd));
    }
    let sample_report = report(&reference, &fake, scores, components, false, t0);
    let means = if mean {
        let (md, _) =
            super::sample::draw_from(model, (rows, cols, channels), n, true, seed, device);
        let fake = as_array(&md.pixels, "decoder means E[x|z]");
        let s = samples::score(&reference, &fake, opts, device)?;
        Some(report(&reference, &fake, s, None, true, t0))
    } else {
        None
    };
    // Figures.
    let plots = loaded.dir.join("plots");
    crate::core::fsutil::create_dir_all(&plots)?;
    let name = loaded
        .dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    figures::ndb_bins(
        &plots,
        "ndb-bins",
        &sample_report.ndb_real,
        &sample_report.ndb_fake,
        &sample_report.ndb_significant,
        &name,
    )?;
    if let Some(t) = &sample_report.component_classes {
        figures::component_classes(&plots, "component-classes", t, &name)?;
    }
    if let (Some(pm), Some(set)) = (&post_means, held_out.images())
        && let Some(labels) = &set.labels
        && pm.len() / zd >= 2
    {
        let m = pm.len() / zd;
        let (xy, axes) = project_2d(pm, m, zd);
        figures::latent_classes(
            &plots,
            "latent-classes",
            &xy,
            &labels[..m],
            axes,
            &format!("Posterior means of the test set by class — {name}"),
        )?;
    }
    spectrum_figure(&plots, "spectrum", &sample_report, means.as_ref(), &name)?;
    tsne_figure(&plots, "tsne", &sample_report, &name)?;
    let mut grid = drawn.clone();
    let shown = n.min(100) * rows * cols * channels;
    grid.pixels.truncate(shown);
    super::sample::write_grid(&plots.join("samples-grid.png"), &grid, 3)?;
    Ok(RunScores {
        samples: sample_report,
        means,
        drawn,
    })
}

/// Posterior means of up to 2,000 test examples and one draw z ~ q(z|x)
/// each (Gaussian posteriors; None for codebooks).
fn posterior_draws<M: LatentModel>(
    model: &M,
    held_out: &crate::data::Dataset,
    seed: u64,
    device: &Device,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let m = held_out.n().min(2000);
    let (mut means, mut zs) = (Vec::new(), Vec::new());
    for start in (0..m).step_by(500) {
        let idx: Vec<usize> = (start..(start + 500).min(m)).collect();
        let q = model.encode(&held_out.batch(&idx, None, device));
        let Some(g) = q.gaussian() else {
            return (None, None);
        };
        let [b, zd] = g.mean.dims();
        let eps = crate::core::host::upload(
            host_normal(
                b,
                zd,
                seed,
                Purpose::Eval,
                crate::core::rng::key::SCORE_NOISE,
                start as u64,
            ),
            b,
            zd,
            device,
        );
        zs.extend(crate::core::host::read(g.sample(eps)));
        means.extend(crate::core::host::read(g.mean.clone()));
    }
    (Some(means), Some(zs))
}

/// 2-D latents as they are; otherwise their first two principal components.
fn project_2d(x: &[f32], n: usize, d: usize) -> (Vec<[f64; 2]>, (&'static str, &'static str)) {
    if d == 1 {
        return (
            x.iter()
                .enumerate()
                .map(|(i, &v)| [v as f64, i as f64])
                .collect(),
            ("z0", "test example"),
        );
    }
    if d == 2 {
        return (
            x.chunks(2).map(|r| [r[0] as f64, r[1] as f64]).collect(),
            ("z0", "z1"),
        );
    }
    let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let m = samples::frechet::Moments::of(&xf, n, d);
    let e = m.cov.clone().symmetric_eigen();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| e.eigenvalues[b].total_cmp(&e.eigenvalues[a]));
    let (a, b) = (
        e.eigenvectors.column(order[0]),
        e.eigenvectors.column(order[1]),
    );
    let xy = xf
        .chunks(d)
        .map(|r| {
            let c: Vec<f64> = r.iter().zip(&m.mean).map(|(v, mu)| v - mu).collect();
            [
                c.iter().zip(a.iter()).map(|(p, q)| p * q).sum(),
                c.iter().zip(b.iter()).map(|(p, q)| p * q).sum(),
            ]
        })
        .collect();
    (xy, ("principal component 1", "principal component 2"))
}

/// Write a report as JSON (and its metrics as `name,value` CSV beside it).
pub fn write_report(path: &Path, report: &SampleReport) -> Result<PathBuf> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Err(Error::Usage(format!(
            "--out {}: give the JSON file's name (e.g. metrics.json); the CSV is written beside it",
            path.display()
        )));
    }
    crate::core::fsutil::write_atomic(
        path,
        serde_json::to_string_pretty(report)
            .expect("reports serialize")
            .as_bytes(),
    )?;
    let mut csv = String::from("metric,value\n");
    for (name, v) in report.metrics.iter() {
        if let Some(x) = v.as_f64() {
            csv.push_str(&format!("{name},{x}\n"));
        }
    }
    let csv_path = path.with_extension("csv");
    crate::core::fsutil::write_atomic(&csv_path, csv.as_bytes())?;
    Ok(csv_path)
}

/// Samples as `[n, rows, cols]` (or `[n, rows, cols, channels]`) uint8 npy.
pub fn write_samples_npy(path: &Path, drawn: &super::sample::Drawn) -> Result<()> {
    let (r, c, ch) = (drawn.rows, drawn.cols, drawn.channels);
    let d = r * c * ch;
    let n = drawn.pixels.len() / d;
    let mut bytes = Vec::with_capacity(n * d);
    for img in drawn.pixels.chunks(d) {
        // channel-first in memory; npy images are channel-last
        for p in 0..r * c {
            for k in 0..ch {
                bytes.push((img[k * r * c + p].clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
    }
    let shape: Vec<usize> = if ch == 1 {
        vec![n, r, c]
    } else {
        vec![n, r, c, ch]
    };
    sample_files::write_npy_u8(path, &bytes, &shape)
}
