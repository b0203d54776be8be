//! Layer 1, data: where examples come from, how they are split, and how they
//! become a [`Batch`](crate::core::batch::Batch) on a device.
//!
//! A [`Dataset`] holds examples of one [`DataKind`]: images ([`ImageSet`]) or
//! token sequences ([`TokenSet`]). One [`DataSpec`] selects the source: `synthetic`
//! (built in, see [`synthetic`]), `idx:DIR` (MNIST-style IDX files),
//! `amat:DIR` (statically binarized MNIST), `cifar:DIR` (CIFAR-10's binary
//! batches: 32×32 colour images), `text:DIR` (sentences, [`text`]) or
//! `synthetic-text` (He et al. 2019's generator, [`synthetic_text`]). A new
//! kind of source is a reader in this folder, a variant of [`DataSpec`]
//! ([`spec`]) and an arm of [`load`]. [`canonical`] knows published
//! datasets by their files' SHA-256 (`data.expect`).

pub mod amat;
pub mod batches;
pub mod canonical;
pub mod cifar;
pub mod config;
pub mod idx;
pub mod kind;
pub mod prepared;
pub mod sample_files;
pub mod spec;
pub mod synthetic;
pub mod synthetic_text;
pub mod text;
pub mod tokens;

pub use config::DataConfig;
pub use kind::{DataKind, Dataset};
pub use prepared::Prepared;
pub use spec::DataSpec;
pub use text::Vocab;
pub use tokens::TokenSet;

use crate::core::error::{Error, Result};
use crate::core::rng::{Purpose, stream};
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// Images as flat intensities in [0, 1]: channel after channel, each row-major
/// (`[channels, rows, cols]` per image).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// `n * dim` values.
    pub images: Vec<f32>,
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Class labels where the source has them.
    pub labels: Option<Vec<u8>>,
    /// True when every pixel is already 0 or 1 (`.amat`): no binarization needed.
    pub binary: bool,
}

impl ImageSet {
    /// Values per image (pixels × channels).
    pub fn dim(&self) -> usize {
        self.rows * self.cols * self.channels
    }

    /// `rows×cols` or `rows×cols×channels`, for messages.
    pub fn shape_text(&self) -> String {
        if self.channels == 1 {
            format!("{}×{}", self.rows, self.cols)
        } else {
            format!("{}×{}×{}", self.rows, self.cols, self.channels)
        }
    }

    /// Image `i` as a slice.
    pub fn image(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.images[i * d..(i + 1) * d]
    }

    /// The examples at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> ImageSet {
        let mut images = Vec::with_capacity(idx.len() * self.dim());
        for &i in idx {
            images.extend_from_slice(self.image(i));
        }
        ImageSet {
            images,
            n: idx.len(),
            rows: self.rows,
            cols: self.cols,
            channels: self.channels,
            labels: self
                .labels
                .as_ref()
                .map(|l| idx.iter().map(|&i| l[i]).collect()),
            binary: self.binary,
        }
    }
}

/// Train, validation and test sets of one source.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
    /// Human-readable description, e.g. `idx:/data/mnist (60000 train)`.
    pub source: String,
    /// What the reader skipped or changed (empty lines, long sentences,
    /// unknown words), one line each naming the file: for the user to see.
    pub notes: Vec<String>,
}

/// The generator parameters of `synthetic-text` (fixed, so every run models
/// the same distribution; the run's seed draws the sentences).
pub const SYNTHETIC_TEXT_GENERATOR_SEED: u64 = 2019;

/// The vocabulary of `synthetic-text`: the reserved tokens, then `t0` …
/// `t999` for the generator's ids 0..1000 (id = generator id + 4).
pub fn synthetic_text_vocab() -> text::Vocab {
    text::Vocab::from_words((0..synthetic_text::VOCAB).map(|i| format!("t{i}")))
}

/// `synthetic-text`: `synthetic_size` training sentences (then `limit`),
/// a `val_fraction` share of that for validation and a tenth for test, each
/// from its own stream of the run's seed.
fn load_synthetic_text(cfg: &DataConfig, seed: u64) -> Result<Splits> {
    let generator = synthetic_text::Generator::new(SYNTHETIC_TEXT_GENERATOR_SEED);
    let vocab = std::sync::Arc::new(synthetic_text_vocab());
    let offset = text::SPECIALS.len() as u32;
    let draw = |n: usize, part: u64| {
        let (sentences, _) =
            generator.sample(n, &mut stream(seed, Purpose::Synthetic, 10 + part, 0));
        TokenSet {
            sequences: sentences
                .into_iter()
                .map(|s| {
                    std::iter::once(text::BOS)
                        .chain(s.into_iter().map(|t| t + offset))
                        .chain(std::iter::once(text::EOS))
                        .collect()
                })
                .collect(),
            vocab: vocab.len(),
            pad: text::PAD,
            words: Some(vocab.clone()),
        }
    };
    let n = if cfg.limit > 0 {
        cfg.limit.min(cfg.synthetic_size)
    } else {
        cfg.synthetic_size
    };
    let n_val = ((cfg.synthetic_size as f64) * cfg.val_fraction).round() as usize;
    if n_val == 0 {
        return Err(Error::Config(vec![format!(
            "data.val_fraction = {}: leaves no validation sentences from {} sentences; the \
             monitor needs some (0.05 or more is typical)",
            cfg.val_fraction, cfg.synthetic_size
        )]));
    }
    let (train, val, test) = (
        draw(n, 0),
        draw(n_val, 1),
        draw((cfg.synthetic_size / 10).max(1), 2),
    );
    Ok(Splits {
        source: format!(
            "synthetic-text ({} train, {} val, {} test sentences of {} words, vocabulary {})",
            train.len(),
            val.len(),
            test.len(),
            synthetic_text::LEN,
            vocab.len()
        ),
        train: train.into(),
        val: val.into(),
        test: test.into(),
        notes: Vec::new(),
    })
}

/// The paragraph studies print under their tables: the exact entropy of
/// `synthetic-text` over `n` fresh sentences ([`synthetic_text_entropy`]).
pub fn synthetic_text_entropy_note(n: usize, seed: u64) -> String {
    let h = synthetic_text_entropy(n, seed);
    format!(
        "**True entropy of `synthetic-text`** (exact log p(x) by quadrature over z, mean over \
         {} fresh sentences): H = {:.3} ± {:.3} nats per sentence, {:.4} nats per predicted \
         token ({} per sentence: 10 words and `</s>`), perplexity {:.2}. No model's NLL can be \
         below H in expectation; a model's NLL − H is its KL from the data distribution.",
        h.sentences,
        h.per_sentence,
        h.std_err,
        h.per_token,
        h.tokens_per_sentence,
        h.per_token.exp()
    )
}

/// The exact entropy of `synthetic-text`, estimated over fresh sentences.
#[derive(Clone, Copy, Debug)]
pub struct TextEntropy {
    /// H = −E log p(x), nats per sentence (the mean over the sentences).
    pub per_sentence: f64,
    /// Its standard error over the sentences.
    pub std_err: f64,
    /// H per predicted token: per sentence / (words + `</s>`), the same
    /// denominator as a model's perplexity.
    pub per_token: f64,
    pub tokens_per_sentence: usize,
    pub sentences: usize,
}

/// −log p(x) of `n` sentences drawn from `synthetic-text`'s generator with
/// the stream `(seed, Synthetic, 99)`, each by quadrature over z
/// ([`synthetic_text::Generator::exact_log_prob`]): an estimate of the
/// data's entropy, unbiased, with the standard error of its mean.
pub fn synthetic_text_entropy(n: usize, seed: u64) -> TextEntropy {
    let generator = synthetic_text::Generator::new(SYNTHETIC_TEXT_GENERATOR_SEED);
    let (sentences, _) = generator.sample(n, &mut stream(seed, Purpose::Synthetic, 99, 0));
    let (per_sentence, std_err) = synthetic_text::entropy(&generator, &sentences);
    let tokens_per_sentence = synthetic_text::LEN + 1;
    TextEntropy {
        per_sentence,
        std_err,
        per_token: per_sentence / tokens_per_sentence as f64,
        tokens_per_sentence,
        sentences: n,
    }
}

/// `text:DIR`: the folder's three splits (it ships its own validation
/// split), checked against the canonical dataset `expect` first.
fn load_text(cfg: &DataConfig, dir: &Path, expect: Option<canonical::Canonical>) -> Result<Splits> {
    let s = text::load_folder(dir, &cfg.text_options())?;
    if let Some(c) = expect {
        canonical::check(dir, c)?;
    }
    let mut train = s.train;
    if cfg.limit > 0 && cfg.limit < train.len() {
        train.sequences.truncate(cfg.limit);
    }
    Ok(Splits {
        source: format!(
            "{} ({} train, {} val, {} test sentences, vocabulary {}{})",
            cfg.spec,
            train.len(),
            s.val.len(),
            s.test.len(),
            train.vocab,
            expect.map_or(String::new(), |c| format!(
                "; canonical {}, SHA-256 checked",
                c.title()
            ))
        ),
        train: train.into(),
        val: s.val.into(),
        test: s.test.into(),
        notes: s.notes,
    })
}

/// Load the data a config asks for and split it, deterministically in `seed`.
pub fn load(cfg: &DataConfig, seed: u64) -> Result<Splits> {
    let expect = cfg.canonical().map_err(|e| Error::Config(vec![e]))?;
    if let Some(p) = cfg.val_last_problem(None) {
        return Err(Error::Config(vec![p]));
    }
    let (train_full, test, own_val) = match &cfg.spec {
        DataSpec::SyntheticText => return load_synthetic_text(cfg, seed),
        DataSpec::Text(dir) => return load_text(cfg, dir, expect),
        DataSpec::Synthetic => {
            let n_test = (cfg.synthetic_size / 10).max(1);
            let mk = |s: synthetic::Synthetic, n| ImageSet {
                images: s.images,
                n,
                rows: synthetic::SIDE,
                cols: synthetic::SIDE,
                channels: 1,
                labels: Some(s.labels),
                binary: false,
            };
            (
                mk(
                    synthetic::generate(cfg.synthetic_size, seed, 0),
                    cfg.synthetic_size,
                ),
                mk(synthetic::generate(n_test, seed, 1), n_test),
                None,
            )
        }
        DataSpec::Idx(dir) => (
            load_idx_checked(dir, "train", expect)?,
            load_idx_checked(dir, "t10k", expect)?,
            None,
        ),
        DataSpec::Amat(dir) => {
            let (tr, va, te) = (
                load_amat(dir, "train")?,
                load_amat(dir, "valid")?,
                load_amat(dir, "test")?,
            );
            (tr, te, Some(va))
        }
        DataSpec::Cifar(dir) => {
            let (tr, te) = cifar::load(dir)?;
            (tr, te, None)
        }
    };

    if let Some(p) = cfg.val_last_problem(Some(train_full.n)) {
        return Err(Error::Config(vec![p]));
    }
    let (mut train, val) = match own_val {
        Some(val) => (train_full, val),
        None if cfg.val_last > 0 => split_last(&train_full, cfg.val_last),
        None => split(&train_full, cfg.val_fraction, seed),
    };
    if cfg.limit > 0 && cfg.limit < train.n {
        train = train.subset(&(0..cfg.limit).collect::<Vec<_>>());
    }
    if train.n == 0 {
        return Err(Error::Usage(format!(
            "{}: no training images left after the validation split",
            cfg.spec
        )));
    }
    if val.n == 0 {
        return Err(Error::Config(vec![format!(
            "data.val_fraction = {}: leaves no validation images from {} training images; \
             the monitor needs some (0.05 or more is typical)",
            cfg.val_fraction, train.n
        )]));
    }
    if test.n == 0 {
        return Err(Error::Usage(format!("{}: the test set is empty", cfg.spec)));
    }
    if (test.rows, test.cols, test.channels) != (train.rows, train.cols, train.channels)
        || val.dim() != train.dim()
    {
        return Err(Error::Usage(format!(
            "{}: training images are {} but test images are {}; the files do not belong together",
            cfg.spec,
            train.shape_text(),
            test.shape_text()
        )));
    }
    let mut source = format!(
        "{} ({} train, {} val, {} test, {}",
        cfg.spec,
        train.n,
        val.n,
        test.n,
        train.shape_text()
    );
    if cfg.val_last > 0 {
        source += &format!("; val = the last {} training examples", cfg.val_last);
    }
    if let Some(c) = expect {
        source += &format!("; canonical {}, SHA-256 checked", c.title());
    }
    source.push(')');
    Ok(Splits {
        train: train.into(),
        val: val.into(),
        test: test.into(),
        source,
        notes: Vec::new(),
    })
}

/// Carve a seeded random validation split off `data`.
pub fn split(data: &ImageSet, val_fraction: f64, seed: u64) -> (ImageSet, ImageSet) {
    let mut idx: Vec<usize> = (0..data.n).collect();
    idx.shuffle(&mut stream(seed, Purpose::Split, 0, 0));
    let n_val = ((data.n as f64) * val_fraction).round() as usize;
    let (val, train) = idx.split_at(n_val);
    let (mut train, mut val) = (train.to_vec(), val.to_vec());
    train.sort_unstable();
    val.sort_unstable();
    (data.subset(&train), data.subset(&val))
}

/// Hold out the last `n_val` examples of `data` (in file order) for
/// validation; train on the rest, in order (Burda et al. 2016's split).
pub fn split_last(data: &ImageSet, n_val: usize) -> (ImageSet, ImageSet) {
    let cut = data.n.saturating_sub(n_val);
    (
        data.subset(&(0..cut).collect::<Vec<_>>()),
        data.subset(&(cut..data.n).collect::<Vec<_>>()),
    )
}

/// Find `{prefix}-{kind}-idx{n}-ubyte` (or `.gz`, or with a `.` before `idx`).
pub(crate) fn find_idx(dir: &Path, prefix: &str, kind: &str, n: u8) -> Result<PathBuf> {
    let stems = [
        format!("{prefix}-{kind}-idx{n}-ubyte"),
        format!("{prefix}-{kind}.idx{n}-ubyte"),
    ];
    for stem in &stems {
        for ext in ["", ".gz"] {
            let p = dir.join(format!("{stem}{ext}"));
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory (data.spec = idx:DIR wants a folder holding \
             train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz], ...)",
            dir.display()
        )));
    }
    Err(Error::Usage(format!(
        "{}: missing {}[.gz]; an IDX folder holds train-images-idx3-ubyte, \
         train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte",
        dir.display(),
        stems[0]
    )))
}

/// Load one IDX split (`train` or `t10k`): images, and labels if present.
pub fn load_idx(dir: &Path, prefix: &str) -> Result<ImageSet> {
    load_idx_checked(dir, prefix, None)
}

/// Read one IDX file, checking its uncompressed bytes against `expect`'s
/// checksum on the way (hashed as read, not read twice).
fn read_idx_checked(
    path: &Path,
    prefix: &str,
    kind: &str,
    expect: Option<canonical::Canonical>,
) -> Result<idx::IdxArray> {
    let bytes = idx::read_maybe_gz(path)?;
    if let Some(c) = expect {
        c.verify(prefix, kind, path, &bytes)?;
    }
    idx::parse(path, &bytes)
}

/// [`load_idx`], each file checked against the canonical dataset `expect`
/// (whose labels must then be there too).
pub fn load_idx_checked(
    dir: &Path,
    prefix: &str,
    expect: Option<canonical::Canonical>,
) -> Result<ImageSet> {
    let path = find_idx(dir, prefix, "images", 3)?;
    let arr = read_idx_checked(&path, prefix, "images", expect)?;
    if arr.dims.len() != 3 {
        return Err(Error::bad_file(
            &path,
            format!(
                "expected 3 dimensions (images × rows × cols), found {:?}",
                arr.dims
            ),
        ));
    }
    let (n, rows, cols) = (arr.dims[0], arr.dims[1], arr.dims[2]);
    let labels = match find_idx(dir, prefix, "labels", 1) {
        Ok(lp) => {
            let l = read_idx_checked(&lp, prefix, "labels", expect)?;
            if l.dims.len() != 1 {
                return Err(Error::bad_file(
                    &lp,
                    format!("expected 1 dimension for labels, found {:?}", l.dims),
                ));
            }
            if l.dims[0] != n {
                return Err(Error::bad_file(
                    &lp,
                    format!(
                        "{} labels but {} has {n} images: the files do not belong together",
                        l.dims[0],
                        path.display()
                    ),
                ));
            }
            Some(l.data)
        }
        Err(e) if expect.is_some() => return Err(e),
        Err(_) => None,
    };
    Ok(ImageSet {
        images: arr.data.iter().map(|&b| b as f32 / 255.0).collect(),
        n,
        rows,
        cols,
        channels: 1,
        labels,
        binary: false,
    })
}

fn load_amat(dir: &Path, split: &str) -> Result<ImageSet> {
    let path = dir.join(format!("binarized_mnist_{split}.amat"));
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{}: missing; an amat folder holds binarized_mnist_train.amat, \
             binarized_mnist_valid.amat and binarized_mnist_test.amat",
            path.display()
        )));
    }
    let (images, n) = amat::read(&path, 784)?;
    Ok(ImageSet {
        images,
        n,
        rows: 28,
        cols: 28,
        channels: 1,
        labels: None,
        binary: true,
    })
}

/// An IDX folder of the project's shared data, `../shared/data/NAME`, or
/// `None` and a SKIPPED line on a machine without it (tests skip, not fail).
#[cfg(test)]
pub(crate) fn shared_idx(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if p.join("train-images-idx3-ubyte.gz").is_file() {
        Some(p)
    } else {
        println!("SKIPPED: {} is absent", p.display());
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_seeded_partition() {
        let d = ImageSet {
            images: (0..100).map(|i| i as f32).collect(),
            n: 100,
            rows: 1,
            cols: 1,
            channels: 1,
            labels: None,
            binary: false,
        };
        let (tr, va) = split(&d, 0.2, 5);
        assert_eq!((tr.n, va.n), (80, 20));
        let mut all: Vec<f32> = tr.images.iter().chain(&va.images).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, d.images);
        assert_eq!(split(&d, 0.2, 5).1, va);
        assert_ne!(split(&d, 0.2, 6).1, va);
    }

    /// The MNIST subset that comes with the project.
    fn mnist_10k() -> Option<PathBuf> {
        shared_idx("mnist-10k")
    }

    /// `data.val_last = N`: validation is exactly the last N training
    /// digits of the file, training the ones before them, in file order;
    /// `limit` then trims training only; the seed plays no part.
    #[test]
    fn val_last_holds_out_the_files_last_examples() {
        let Some(dir) = mnist_10k() else {
            return;
        };
        let raw = idx::read(&dir.join("train-images-idx3-ubyte.gz")).unwrap();
        let labels = idx::read(&dir.join("train-labels-idx1-ubyte.gz")).unwrap();
        let (n, d) = (raw.dims[0], raw.dims[1] * raw.dims[2]);
        let pixels = |i: usize| -> Vec<f32> {
            raw.data[i * d..(i + 1) * d]
                .iter()
                .map(|&b| b as f32 / 255.0)
                .collect()
        };
        let mut cfg = DataConfig {
            spec: DataSpec::Idx(dir.clone()),
            val_last: 400,
            ..DataConfig::default()
        };
        let s = load(&cfg, 3).unwrap();
        let (train, val) = (s.train.images().unwrap(), s.val.images().unwrap());
        assert_eq!((train.n, val.n), (n - 400, 400));
        for j in 0..val.n {
            assert_eq!(val.image(j), pixels(n - 400 + j), "val row {j}");
        }
        for i in 0..train.n {
            assert_eq!(train.image(i), pixels(i), "train row {i}");
        }
        assert_eq!(
            val.labels.as_deref().unwrap(),
            &labels.data[n - 400..],
            "labels follow their images"
        );
        assert!(s.source.contains("the last 400"), "{}", s.source);
        // Another seed: the same split.
        let other = load(&cfg, 4).unwrap();
        assert_eq!(other.val.images().unwrap(), val);
        // `limit` applies after the split, to training only.
        cfg.limit = 100;
        let limited = load(&cfg, 3).unwrap();
        let lt = limited.train.images().unwrap();
        assert_eq!(lt.n, 100);
        assert_eq!(lt.image(99), pixels(99));
        assert_eq!(limited.val.images().unwrap(), val);
    }

    #[test]
    fn val_last_of_the_whole_training_file_or_more_is_a_config_error() {
        let Some(dir) = mnist_10k() else {
            return;
        };
        let n = idx::read(&dir.join("train-labels-idx1-ubyte.gz"))
            .unwrap()
            .dims[0];
        for v in [n, n + 1] {
            let cfg = DataConfig {
                spec: DataSpec::Idx(dir.clone()),
                val_last: v,
                ..DataConfig::default()
            };
            let e = load(&cfg, 0).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e}");
            let e = e.to_string();
            assert!(
                e.contains(&format!("data.val_last = {v}")) && e.contains(&format!("{n} training")),
                "{e}"
            );
        }
        let cfg = DataConfig {
            spec: DataSpec::Idx(dir),
            val_last: n - 1,
            ..DataConfig::default()
        };
        let s = load(&cfg, 0).unwrap();
        assert_eq!((s.train.n(), s.val.n()), (1, n - 1));
    }

    /// Synthetic data's size is in the config: `problems` sees a too-large
    /// `val_last` before anything is generated; sources with their own
    /// validation split refuse any.
    #[test]
    fn val_last_problems_name_the_key_the_value_and_the_count() {
        let problems = |cfg: &DataConfig| {
            let mut errs = Vec::new();
            cfg.problems(&mut errs);
            errs
        };
        let cfg = DataConfig {
            val_last: 20_000,
            ..DataConfig::default()
        };
        let errs = problems(&cfg);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("data.val_last = 20000") && errs[0].contains("20000 training"),
            "{errs:?}"
        );
        assert!(
            problems(&DataConfig {
                val_last: 19_999,
                ..cfg.clone()
            })
            .is_empty()
        );
        for spec in ["amat:/x", "text:/x", "synthetic-text"] {
            let c = DataConfig {
                spec: spec.parse().unwrap(),
                val_last: 400,
                ..DataConfig::default()
            };
            let errs = problems(&c);
            assert!(
                errs.len() == 1
                    && errs[0].contains("data.val_last = 400")
                    && errs[0].contains("own"),
                "{spec}: {errs:?}"
            );
            let e = load(&c, 0).unwrap_err().to_string();
            assert!(e.contains("data.val_last"), "{e}");
        }
    }

    #[test]
    fn expect_names_a_known_dataset_of_an_idx_folder() {
        let problems = |expect: &str, spec: &str| {
            let mut errs = Vec::new();
            DataConfig {
                spec: spec.parse().unwrap(),
                expect: expect.into(),
                ..DataConfig::default()
            }
            .problems(&mut errs);
            errs
        };
        assert!(problems("", "synthetic").is_empty());
        assert!(problems("mnist", "idx:/data/mnist").is_empty());
        let e = problems("fashion", "idx:/data/mnist");
        assert!(
            e.len() == 1 && e[0].contains("data.expect") && e[0].contains("\"mnist\""),
            "{e:?}"
        );
        let e = problems("mnist", "synthetic");
        assert!(
            e.len() == 1 && e[0].contains("data.expect") && e[0].contains("idx:DIR"),
            "{e:?}"
        );
        assert!(problems("ptb", "text:/data/ptb").is_empty());
        let e = problems("ptb", "idx:/data/mnist");
        assert!(e.len() == 1 && e[0].contains("text:DIR"), "{e:?}");
        let e = problems("mnist", "text:/data/ptb");
        assert!(e.len() == 1 && e[0].contains("idx:DIR"), "{e:?}");
    }

    /// `expect = "mnist"` on the subset: the first file read is named, and
    /// nothing is loaded; the split, not the check, is what `val_last` sets.
    #[test]
    fn expect_mnist_refuses_the_subset_naming_the_file() {
        let Some(dir) = mnist_10k() else {
            return;
        };
        let cfg = DataConfig {
            spec: DataSpec::Idx(dir.clone()),
            expect: "mnist".into(),
            ..DataConfig::default()
        };
        let e = load(&cfg, 0).unwrap_err().to_string();
        let file = dir.join("train-images-idx3-ubyte.gz");
        assert!(
            e.contains(&file.display().to_string()) && e.contains("not the canonical"),
            "{e}"
        );
    }

    #[test]
    fn mismatched_label_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let imgs = idx::IdxArray {
            dims: vec![3, 2, 2],
            data: vec![0; 12],
        };
        let labs = idx::IdxArray {
            dims: vec![2],
            data: vec![0; 2],
        };
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte"),
            idx::encode(&imgs),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            idx::encode(&labs),
        )
        .unwrap();
        let e = load_idx(dir.path(), "train").unwrap_err().to_string();
        assert!(
            e.contains("train-labels-idx1-ubyte") && e.contains("do not belong"),
            "{e}"
        );
        let e = load_idx(dir.path(), "t10k").unwrap_err().to_string();
        assert!(e.contains("t10k-images-idx3-ubyte"), "{e}");
    }
}

/// Write token splits read from or generated as text (`synthetic-text`,
/// `text:DIR`) as `train.txt`, `valid.txt` and `test.txt` in `dir`: one
/// sentence per line, words separated by spaces, without `<s>` and `</s>`
/// — the layout `text:DIR` reads, so the same sentences reach vaekit and any
/// other tool (each file written whole or not at all).
pub fn write_text_splits(splits: &Splits, dir: &Path) -> Result<()> {
    crate::core::fsutil::create_dir_all(dir)?;
    for (file, set) in [
        ("train.txt", &splits.train),
        ("valid.txt", &splits.val),
        ("test.txt", &splits.test),
    ] {
        let Dataset::Tokens(t) = set else {
            return Err(Error::Usage(format!(
                "{}: only text data can be written as sentences",
                splits.source
            )));
        };
        let Some(words) = &t.words else {
            return Err(Error::Usage(format!(
                "{}: these token sequences have no words to write",
                splits.source
            )));
        };
        let mut out = String::new();
        for s in &t.sequences {
            out.push_str(&words.sentence(s));
            out.push('\n');
        }
        crate::core::fsutil::write_atomic(&dir.join(file), out.as_bytes())?;
    }
    Ok(())
}
