//! Sample metrics: how good and how diverse samples x ~ p(x|z) are, against
//! the real data — for vaekit's models (`vaekit eval --samples N`) and for
//! any other generator's samples (`vaekit metrics --real SPEC --fake FILE`).
//!
//! A [`Reference`] is the real side: the real images (binarized when the
//! model sees binarized data), a feature network ([`classifier`], when the
//! data has labels and square images; raw values otherwise), and NDB's
//! K-means bins ([`ndb`]). It is built once per dataset and cached
//! ([`cache`]). [`score`] then compares samples with it: Fréchet distance
//! ([`frechet`]), precision/recall/density/coverage ([`prdc`]), MMD² and KID
//! ([`kernel`]), NDB/JS, the classifier score, modes covered and the
//! diversity scores ([`classes`]). Each metric is listed in the registry
//! ([`registry`]) with the others; formulas in `docs/metrics.md`.

pub mod cache;
pub mod classes;
pub mod classifier;
pub mod frechet;
pub mod kernel;
pub mod ndb;
pub mod pairwise;
pub mod prdc;
pub mod registry;
pub mod sliced;
pub mod spectrum;
pub mod tsne;

use super::record::{Record, Value};
use crate::core::error::{Error, Result};
use crate::core::rng::{Purpose, stream};
use crate::data::ImageSet;
use crate::data::sample_files::SampleArray;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use classifier::{ClassifierConfig, LeNet};
use pairwise::Points;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which features the distance metrics use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureChoice {
    /// The classifier where the data has labels, raw values otherwise.
    Auto,
    Classifier,
    /// The values themselves (pixels, or the vectors of an `[N, D]` file).
    Raw,
}

/// What [`score`] does, beyond its defaults.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    pub features: FeatureChoice,
    pub classifier: ClassifierConfig,
    /// NDB's K.
    pub ndb_bins: usize,
    pub kid_subsets: usize,
    pub kid_subset_size: usize,
    /// Random directions of the sliced Wasserstein distance.
    pub swd_projections: usize,
    /// Points of the t-SNE map, real and samples together (half each at
    /// most, a seeded subset; 0 = no map).
    pub tsne_points: usize,
    /// The t-SNE map's perplexity (lowered to what the points allow).
    pub tsne_perplexity: f64,
    /// Draws the real subset and KID's subsets. (The reference itself —
    /// the real images' binarization, the bins — always comes from
    /// [`REFERENCE_SEED`], so every scoring of a dataset meets the same one.)
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            features: FeatureChoice::Auto,
            classifier: ClassifierConfig::default(),
            ndb_bins: ndb::DEFAULT_BINS,
            kid_subsets: 100,
            kid_subset_size: 1000,
            swd_projections: 100,
            tsne_points: DEFAULT_TSNE_POINTS,
            tsne_perplexity: 30.0,
            seed: 0,
        }
    }
}

/// The t-SNE map's default size: 10,000 points embed in about 16 s on two
/// cores (`docs/metrics.md`).
pub const DEFAULT_TSNE_POINTS: usize = 10_000;

/// A t-SNE map of real points and samples in the feature space, for the figure.
#[derive(Clone, Debug)]
pub struct TsneView {
    pub xy: Vec<[f64; 2]>,
    pub is_real: Vec<bool>,
    /// Predicted classes (with the classifier).
    pub classes: Option<Vec<usize>>,
    /// What was embedded and how, for the figure's caption.
    pub caption: String,
    /// KL(P‖Q) at the end and the trustworthiness (k = 10) of the map.
    pub kl: f64,
    pub trustworthiness: f64,
    pub perplexity: f64,
}

/// The seed of every reference: the real images' binarization and the
/// K-means seeding (the classifier has its own, [`ClassifierConfig::seed`]).
pub const REFERENCE_SEED: u64 = 0;

/// Real examples a reference needs at least: the k-NN radii (k = 5) and a
/// covariance.
pub const MIN_REAL: usize = prdc::K_DC + 2;

/// What a reference was built from and how well its classifier does;
/// `info.json` of its cache folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReferenceInfo {
    /// Where the real data came from, e.g. `idx:DIR train split (binarized)`.
    pub source: String,
    pub n_real: usize,
    pub binarized: bool,
    /// `classifier` (LeNet features) or `raw`.
    pub feature_space: String,
    pub classes: usize,
    /// On the data's test split; null without a classifier.
    pub classifier_accuracy: Option<f64>,
    pub classifier_config: Option<ClassifierConfig>,
    pub ndb_bins: usize,
    pub key: String,
    pub vaekit_version: String,
}

/// The real side of every comparison, built once per dataset.
pub struct Reference {
    pub real: SampleArray,
    pub labels: Option<Vec<u8>>,
    pub classifier: Option<LeNet>,
    pub bins: ndb::Bins,
    pub info: ReferenceInfo,
    /// The cache folder, and whether it already existed.
    pub dir: PathBuf,
    pub reused: bool,
}

impl Reference {
    /// The reference for `train` (the real set; labels train the
    /// classifier) with `test` for its accuracy: loaded from the cache when
    /// it is there, else built and stored. `binarize` draws the real images'
    /// pixels once as Bernoulli(intensity) from the seed, as a Bernoulli
    /// model sees them. `say` hears what is happening (training can take a
    /// minute).
    pub fn get(
        train: &ImageSet,
        test: Option<&ImageSet>,
        binarize: bool,
        source: &str,
        opts: &SampleOptions,
        device: &Device,
        say: &mut dyn FnMut(&str),
    ) -> Result<Reference> {
        if train.n < MIN_REAL {
            return Err(Error::Usage(format!(
                "{source}: {} real examples; the sample metrics need at least {MIN_REAL} (k-NN radii with k = 5)",
                train.n
            )));
        }
        let use_classifier = match opts.features {
            FeatureChoice::Raw => false,
            FeatureChoice::Auto => {
                train.labels.is_some()
                    && classifier::fits(train)
                    && test.is_some_and(|t| t.labels.is_some())
            }
            FeatureChoice::Classifier => {
                if train.labels.is_none() || test.is_none_or(|t| t.labels.is_none()) {
                    return Err(Error::Usage(format!(
                        "--features classifier: {source} has no labels to train the classifier on; use --features raw"
                    )));
                }
                if !classifier::fits(train) {
                    return Err(Error::Usage(format!(
                        "--features classifier: the classifier takes square images with an even side of 12 or more, {source} holds {}; use --features raw",
                        train.shape_text()
                    )));
                }
                true
            }
        };
        let real_images = if binarize && !train.binary {
            let mut rng = stream(
                REFERENCE_SEED,
                Purpose::Binarize,
                crate::core::rng::key::REFERENCE_BINARIZE,
                crate::core::rng::key::REFERENCE_BINARIZE_SUB,
            );
            train
                .images
                .iter()
                .map(|&p| (rand::Rng::random::<f32>(&mut rng) < p) as u8 as f32)
                .collect()
        } else {
            train.images.clone()
        };
        let classes = train
            .labels
            .as_ref()
            .map_or(0, |l| l.iter().map(|&c| c as usize + 1).max().unwrap_or(0));
        let mut key = cache::Key::new("vaekit-reference-v1")
            .bytes(
                format!(
                    "{binarize} {use_classifier} {} {} {} {}",
                    train.rows, train.cols, train.channels, opts.ndb_bins
                )
                .as_bytes(),
            )
            .bytes(
                serde_json::to_string(&opts.classifier)
                    .expect("config serializes")
                    .as_bytes(),
            )
            .floats(&train.images)
            .bytes(train.labels.as_deref().unwrap_or(&[]));
        if let Some(t) = test.filter(|_| use_classifier) {
            key = key
                .floats(&t.images)
                .bytes(t.labels.as_deref().unwrap_or(&[]));
        }
        let key = key.hex();
        let dir = cache::root().join(format!("reference-{key}"));
        let real = SampleArray {
            values: real_images,
            n: train.n,
            image: Some((train.rows, train.cols, train.channels)),
            dim: train.dim(),
            describe: source.to_string(),
        };
        if dir.join("info.json").is_file() {
            let mut info: ReferenceInfo =
                serde_json::from_slice(&crate::core::fsutil::read(&dir.join("info.json"))?)
                    .map_err(|e| {
                        Error::bad_file(
                            dir.join("info.json"),
                            format!("{e}; delete {} to rebuild it", dir.display()),
                        )
                    })?;
            let bins_path = dir.join("bins.f64");
            let centroids = cache::f64_from(&bins_path, &crate::core::fsutil::read(&bins_path)?)?;
            let bins = ndb::Bins {
                k: centroids.len() / real.dim.max(1),
                d: real.dim,
                centroids,
            };
            let net = if use_classifier {
                let path = dir.join("classifier.bpk");
                let bytes = crate::core::fsutil::read(&path)?;
                let record =
                    ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| {
                        Error::bad_file(
                            &path,
                            format!("{e}; delete {} to rebuild it", dir.display()),
                        )
                    })?;
                let net = LeNet::new(train.rows, train.channels, classes, device)
                    .try_load_record(record)
                    .map_err(|e| {
                        Error::bad_file(
                            &path,
                            format!("{e}; delete {} to rebuild it", dir.display()),
                        )
                    })?;
                Some(net)
            } else {
                None
            };
            // The same content under another name (a relative path, say): name it as asked.
            info.source = source.to_string();
            say(&format!("reference from the cache: {}", dir.display()));
            return Ok(Reference {
                real,
                labels: train.labels.clone(),
                classifier: net,
                bins,
                info,
                dir,
                reused: true,
            });
        }
        let (net, accuracy) = if use_classifier {
            say(&format!(
                "training the feature classifier on {} ({} images, {} classes); once per dataset, then cached",
                source, train.n, classes
            ));
            let (net, acc) = classifier::train(
                train,
                test.expect("checked above"),
                classes,
                binarize,
                &opts.classifier,
                device,
                |e, l| {
                    say(&format!(
                        "  classifier epoch {e}/{}: loss {l:.4}",
                        opts.classifier.epochs
                    ))
                },
            );
            say(&format!("  test accuracy {:.2}%", 100.0 * acc));
            (Some(net), Some(acc))
        } else {
            (None, None)
        };
        // Fit on at most 10,000 real points (a seeded subset), assign all.
        let mut rng = stream(
            REFERENCE_SEED,
            Purpose::Eval,
            crate::core::rng::key::NDB_FIT,
            crate::core::rng::key::NDB_FIT_SUB,
        );
        let mut fit: Vec<usize> = (0..real.n).collect();
        fit.shuffle(&mut rng);
        fit.truncate(ndb::MAX_FIT);
        fit.sort_unstable();
        let k = opts.ndb_bins.min(fit.len());
        say(&format!(
            "fitting {k} K-means bins for NDB on {} of the {} real images",
            fit.len(),
            real.n
        ));
        let pts = rows_as_points(&real, &fit);
        let bins = ndb::kmeans(&pts, k, &mut rng);
        let info = ReferenceInfo {
            source: source.to_string(),
            n_real: real.n,
            binarized: binarize,
            feature_space: if use_classifier {
                "classifier".into()
            } else {
                "raw".into()
            },
            classes,
            classifier_accuracy: accuracy,
            classifier_config: use_classifier.then(|| opts.classifier.clone()),
            ndb_bins: bins.k,
            key: key.clone(),
            vaekit_version: env!("CARGO_PKG_VERSION").into(),
        };
        store(&dir, &info, &bins, net.as_ref())?;
        Ok(Reference {
            real,
            labels: train.labels.clone(),
            classifier: net,
            bins,
            info,
            dir,
            reused: false,
        })
    }

    /// Features (and class probabilities, with a classifier) of `set`.
    fn features(&self, set: &SampleArray, device: &Device) -> (Points, Option<Vec<f32>>) {
        match &self.classifier {
            Some(net) => {
                let (f, p) = net.features(&set.values, set.n, device);
                (Points::new(&f, set.n, classifier::FEATURES), Some(p))
            }
            None => (Points::new(&set.values, set.n, set.dim), None),
        }
    }
}

fn store(dir: &Path, info: &ReferenceInfo, bins: &ndb::Bins, net: Option<&LeNet>) -> Result<()> {
    let parent = dir.parent().expect("a cache folder has a parent");
    crate::core::fsutil::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dir.file_name().expect("named").to_string_lossy(),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    crate::core::fsutil::create_dir_all(&tmp)?;
    crate::core::fsutil::write_atomic(&tmp.join("bins.f64"), &cache::f64_bytes(&bins.centroids))?;
    if let Some(net) = net {
        let bytes = net.clone().into_record().into_bytes().map_err(|e| {
            Error::bad_file(
                tmp.join("classifier.bpk"),
                format!("could not serialize: {e}"),
            )
        })?;
        crate::core::fsutil::write_atomic(&tmp.join("classifier.bpk"), &bytes)?;
    }
    crate::core::fsutil::write_atomic(
        &tmp.join("info.json"),
        serde_json::to_string_pretty(info)
            .expect("info serializes")
            .as_bytes(),
    )?;
    cache::publish(&tmp, dir)
}

/// The rows `idx` of a sample array as f64 points.
fn rows_as_points(a: &SampleArray, idx: &[usize]) -> Points {
    let mut x = Vec::with_capacity(idx.len() * a.dim);
    for &i in idx {
        x.extend(
            a.values[i * a.dim..(i + 1) * a.dim]
                .iter()
                .map(|&v| v as f64),
        );
    }
    Points::from_f64(x, idx.len(), a.dim)
}

/// Each row's NDB bin, 10,000 rows at a time (a 60,000-image training set
/// never sits in memory as f64 all at once).
fn assign_all(a: &SampleArray, bins: &ndb::Bins) -> Vec<usize> {
    (0..a.n)
        .step_by(ndb::MAX_FIT)
        .flat_map(|start| {
            let idx: Vec<usize> = (start..(start + ndb::MAX_FIT).min(a.n)).collect();
            ndb::assign(&rows_as_points(a, &idx), bins)
        })
        .collect()
}

/// Everything [`score`] found.
pub struct Scores {
    /// Every sample metric, by registry name.
    pub record: Record,
    pub ndb: ndb::Ndb,
    /// Predicted class of each sample (with a classifier).
    pub fake_classes: Option<Vec<usize>>,
    /// Shares of the real set's predicted classes.
    pub real_class_shares: Option<Vec<f64>>,
    /// Images: the radially averaged power spectra of the real set and of
    /// the samples.
    pub spectra: Option<(spectrum::Spectrum, spectrum::Spectrum)>,
    /// The t-SNE map (`tsne_points > 0`).
    pub tsne: Option<TsneView>,
}

/// Check that `fake` can be compared with the reference's real data.
pub fn check_compatible(reference: &Reference, fake: &SampleArray) -> Result<()> {
    let real = &reference.real;
    let shape = |s: &SampleArray| match s.image {
        Some((r, c, 1)) => format!("{r}×{c} grayscale images"),
        Some((r, c, ch)) => format!("{r}×{c}×{ch} images"),
        None => format!("vectors of {} values", s.dim),
    };
    let same = match (real.image, fake.image) {
        (Some(a), Some(b)) => a == b,
        _ => real.dim == fake.dim,
    };
    if !same {
        return Err(Error::Usage(format!(
            "{}: holds {}, but the real data {} holds {}; the samples must have the real data's shape",
            fake.describe,
            shape(fake),
            real.describe,
            shape(real)
        )));
    }
    if real.image.is_some() {
        let (lo, hi) = fake
            .values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if lo < -1e-6 || hi > 1.0 + 1e-6 {
            return Err(Error::Usage(format!(
                "{}: values run from {lo} to {hi}, but images must be uint8 (0–255) or floats in [0, 1] like the real data; rescale them (e.g. (x + 1) / 2 for tanh outputs)",
                fake.describe
            )));
        }
    }
    if real.n < MIN_REAL {
        return Err(Error::Usage(format!(
            "{}: {} real examples; the sample metrics need at least {MIN_REAL}",
            real.describe, real.n
        )));
    }
    if real.image.is_some() {
        let hi = fake.values.iter().fold(0f32, |a, &v| a.max(v));
        if hi > 0.0 && hi <= 1.0 / 255.0 + 1e-6 {
            return Err(Error::Usage(format!(
                "{}: the brightest value is {hi} (1/255): these look like binary images stored as 0/1 \
                 in uint8; multiply by 255, or save them as floats in [0, 1]",
                fake.describe
            )));
        }
    }
    if fake.n < prdc::K_DC + 2 {
        return Err(Error::Usage(format!(
            "{}: {} samples; the k-NN metrics need at least {}",
            fake.describe,
            fake.n,
            prdc::K_DC + 2
        )));
    }
    Ok(())
}

/// Score `fake` against the reference: every sample metric of the registry
/// that applies (the classifier's only with a classifier).
pub fn score(
    reference: &Reference,
    fake: &SampleArray,
    opts: &SampleOptions,
    device: &Device,
) -> Result<Scores> {
    check_compatible(reference, fake)?;
    let real_all = &reference.real;
    // The real set: as many real points as samples (a seeded subset), or all.
    let mut idx: Vec<usize> = (0..real_all.n).collect();
    idx.shuffle(&mut stream(
        opts.seed,
        Purpose::Eval,
        crate::core::rng::key::REAL_SUBSET,
        crate::core::rng::key::REAL_SUBSET_SUB,
    ));
    idx.truncate(fake.n.min(real_all.n));
    idx.sort_unstable();
    let real = SampleArray {
        values: idx
            .iter()
            .flat_map(|&i| {
                real_all.values[i * real_all.dim..(i + 1) * real_all.dim]
                    .iter()
                    .copied()
            })
            .collect(),
        n: idx.len(),
        image: real_all.image,
        dim: real_all.dim,
        describe: real_all.describe.clone(),
    };
    let (rf, rp) = reference.features(&real, device);
    let (ff, fp) = reference.features(fake, device);
    let mut r = Record::new();
    r.insert("n_real", Value::Count(real.n));
    r.insert("n_fake", Value::Count(fake.n));
    if let Some(acc) = reference.info.classifier_accuracy {
        r.insert("classifier_accuracy", Value::Number(acc));
    }
    let fd = frechet::frechet(
        &frechet::Moments::of(&rf.x, rf.n, rf.d),
        &frechet::Moments::of(&ff.x, ff.n, ff.d),
    );
    r.insert("fd", Value::Number(fd));
    let p = prdc::prdc(&rf, &ff);
    r.insert("precision", Value::Number(p.precision));
    r.insert("recall", Value::Number(p.recall));
    r.insert("density", Value::Number(p.density));
    r.insert("coverage", Value::Number(p.coverage));
    let bandwidth = kernel::median_distance(&rf);
    r.insert(
        "mmd2",
        Value::Number(kernel::mmd2(
            &rf,
            &ff,
            kernel::Kernel::Gaussian { bandwidth },
        )),
    );
    r.insert("mmd_bandwidth", Value::Number(bandwidth));
    let (kid, kid_std) = kernel::kid(
        &rf,
        &ff,
        opts.kid_subsets,
        opts.kid_subset_size,
        &mut stream(
            opts.seed,
            Purpose::Eval,
            crate::core::rng::key::KID_SUBSETS,
            crate::core::rng::key::KID_SUBSETS_SUB,
        ),
    );
    // Sliced Wasserstein (p = 2), in feature space and on the values
    // themselves, with the same seeded directions for every model.
    let swd = |a: &[f64], b: &[f64], d: usize, sub: u64| {
        sliced::sliced_wasserstein(
            a,
            b,
            d,
            opts.swd_projections,
            2.0,
            &mut stream(
                opts.seed,
                Purpose::Eval,
                crate::core::rng::key::SWD_DIRECTIONS,
                sub,
            ),
        )
    };
    r.insert("swd", Value::Number(swd(&rf.x, &ff.x, rf.d, 0)));
    let values = |s: &SampleArray| s.values.iter().map(|&v| v as f64).collect::<Vec<_>>();
    r.insert(
        "swd_values",
        Value::Number(swd(&values(&real), &values(fake), real.dim, 1)),
    );
    r.insert("swd_projections", Value::Count(opts.swd_projections));
    // Images: how the variance is spread over spatial frequencies.
    let spectra = real.image.map(|(rows, cols, ch)| {
        let of = |s: &SampleArray| spectrum::radial_spectrum(&s.values, s.n, ch, rows, cols);
        (of(&real), of(fake))
    });
    if let Some((rs, fs)) = &spectra {
        r.insert(
            "hf_ratio",
            Value::Number(spectrum::high_frequency_ratio(fs, rs, spectrum::HF_CUTOFF)),
        );
        r.insert(
            "spectral_distance",
            Value::Number(spectrum::log_spectral_distance(fs, rs)),
        );
    }
    r.insert("kid", Value::Number(kid));
    r.insert("kid_std", Value::Number(kid_std));
    r.insert(
        "kid_full",
        Value::Number(kernel::mmd2(&rf, &ff, kernel::Kernel::Cubic)),
    );
    // NDB over the bins, with the whole real set's shares.
    let pshare = ndb::proportions(&assign_all(real_all, &reference.bins), reference.bins.k);
    let qshare = ndb::proportions(&assign_all(fake, &reference.bins), reference.bins.k);
    let nd = ndb::ndb(&pshare, real_all.n, &qshare, fake.n);
    r.insert("ndb", Value::Count(nd.different));
    r.insert("ndb_frac", Value::Number(nd.different as f64 / nd.k as f64));
    r.insert("ndb_js", Value::Number(nd.js));
    let (mut fake_classes, mut real_shares) = (None, None);
    if let (Some(rp), Some(fp)) = (&rp, &fp) {
        let c = reference.info.classes;
        let (cs, cs_std) = classes::classifier_score(&fp, c, 10);
        r.insert("classifier_score", Value::Number(cs));
        r.insert("classifier_score_std", Value::Number(cs_std));
        let data_shares = classes::shares(&classes::argmax_rows(&rp, c), c);
        let fc = classes::argmax_rows(&fp, c);
        let (covered, total, kl) = classes::modes(&fc, &data_shares);
        r.insert("modes_covered", Value::Count(covered));
        r.insert("modes_total", Value::Count(total));
        r.insert("mode_kl", Value::Number(kl));
        fake_classes = Some(fc);
        real_shares = Some(data_shares);
    }
    if fake.image.is_some() {
        r.insert(
            "unique_frac",
            Value::Number(classes::unique_fraction(&fake.values, fake.dim)),
        );
    }
    r.insert(
        "mean_pairwise_dist",
        Value::Number(classes::mean_pairwise_distance(&ff)),
    );
    r.insert(
        "mean_pairwise_dist_real",
        Value::Number(classes::mean_pairwise_distance(&rf)),
    );
    Ok(Scores {
        record: r,
        ndb: nd,
        fake_classes,
        real_class_shares: real_shares,
        spectra,
        tsne: tsne_map(&rf, &ff, rp.as_deref(), fp.as_deref(), reference, opts)?,
    })
}

/// A t-SNE map of the features of real points and samples (at most
/// `tsne_points`, half each, seeded subsets), with the classifier's
/// predicted classes when there is one.
fn tsne_map(
    rf: &Points,
    ff: &Points,
    rp: Option<&[f32]>,
    fp: Option<&[f32]>,
    reference: &Reference,
    opts: &SampleOptions,
) -> Result<Option<TsneView>> {
    if opts.tsne_points == 0 {
        return Ok(None);
    }
    let half = (opts.tsne_points / 2).max(1);
    let pick = |n: usize, sub: u64| {
        let mut idx: Vec<usize> = (0..n).collect();
        if n > half {
            idx.shuffle(&mut stream(
                opts.seed,
                Purpose::Eval,
                crate::core::rng::key::TSNE_SUBSET,
                sub,
            ));
            idx.truncate(half);
            idx.sort_unstable();
        }
        idx
    };
    let (ri, fi) = (pick(rf.n, 0), pick(ff.n, 1));
    let d = rf.d;
    let mut x = Vec::with_capacity((ri.len() + fi.len()) * d);
    for &i in &ri {
        x.extend_from_slice(&rf.x[i * d..(i + 1) * d]);
    }
    for &i in &fi {
        x.extend_from_slice(&ff.x[i * d..(i + 1) * d]);
    }
    let n = ri.len() + fi.len();
    let mut is_real = vec![true; ri.len()];
    is_real.resize(n, false);
    let c = reference.info.classes;
    let classes = match (rp, fp) {
        (Some(rp), Some(fp)) if c > 0 => {
            let (ra, fa) = (classes::argmax_rows(rp, c), classes::argmax_rows(fp, c));
            Some(
                ri.iter()
                    .map(|&i| ra[i])
                    .chain(fi.iter().map(|&i| fa[i]))
                    .collect(),
            )
        }
        _ => None,
    };
    // Perplexity needs 3·perplexity neighbours: lowered for small sets.
    let perplexity = opts.tsne_perplexity.min((n as f64 - 1.0) / 3.0);
    if perplexity < 1.0 {
        return Ok(None);
    }
    let cfg = tsne::TsneConfig {
        perplexity,
        seed: opts.seed,
        ..Default::default()
    };
    let e = tsne::embed(&x, n, d, &cfg).map_err(|e| Error::Usage(format!("the t-SNE map: {e}")))?;
    let k = 10.min(n.saturating_sub(1) / 2).max(1);
    let trust = if n >= 4 {
        tsne::trustworthiness(&x, &e.y, n, d, k)
    } else {
        f64::NAN
    };
    let space = if reference.classifier.is_some() {
        "the classifier's features"
    } else {
        "the values themselves"
    };
    let caption = format!(
        "t-SNE of {n} points ({} real, {} samples{}) in {space}: {}; final KL {:.3}, trustworthiness (k = {k}) {:.3}",
        ri.len(),
        fi.len(),
        if ri.len() < rf.n || fi.len() < ff.n {
            ", seeded subsets"
        } else {
            ""
        },
        cfg.describe(),
        e.kl,
        trust
    );
    Ok(Some(TsneView {
        xy: e.y,
        is_real,
        classes,
        caption,
        kl: e.kl,
        trustworthiness: trust,
        perplexity,
    }))
}
