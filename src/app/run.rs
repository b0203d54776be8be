//! Run directories: making one, training into it, resuming it, and opening
//! a finished (or interrupted) one — its config and the model from its
//! newest checkpoint.
//!
//! ```text
//! runs/<name>-<timestamp>/
//!   config.toml      the resolved config (re-run with `vaekit train --config`)
//!   metrics.jsonl    train lines every `log_every` steps, val lines every epoch
//!   checkpoints/step-NNNNNNNN/{model.bpk, optim.bpk, state.json}
//!   summary.json     final test/val metrics, the data's kind, wall time
//! ```

use crate::app::config::{DeviceChoice, ExperimentConfig};
use crate::core::error::{Error, Result};
use crate::core::fsutil::{create_dir_all, write_atomic};
use crate::data::{DataKind, Dataset, Prepared, Vocab};
use crate::models::{AnyModel, build_model};
use crate::train::checkpoint::{self, TrainState};
use crate::train::progress::Progress;
use crate::train::{Job, StepHook, Summary, build_optimizer, fit};
use burn::module::Module;
use burn::tensor::Device;
use std::path::{Path, PathBuf};

/// Create the run directory: `out` if given (must not already hold a run),
/// else `runs/<name>-<UTC timestamp>`.
pub fn make_run_dir(cfg: &ExperimentConfig, out: Option<&Path>) -> Result<PathBuf> {
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
            let base = PathBuf::from("runs").join(format!("{}-{stamp}", cfg.name));
            let mut dir = base.clone();
            let mut k = 1;
            while dir.exists() {
                dir = PathBuf::from(format!("{}-{k}", base.display()));
                k += 1;
            }
            dir
        }
    };
    if dir.join("metrics.jsonl").exists() || dir.join("summary.json").exists() {
        return Err(Error::Usage(format!(
            "{}: already holds a run; choose another --out or remove it",
            dir.display()
        )));
    }
    create_dir_all(&dir)?;
    Ok(dir)
}

/// The data a config names, prepared for its model's likelihood, after
/// checking that the model can read it (an error names the setting).
pub fn load_data(cfg: &ExperimentConfig) -> Result<Prepared> {
    let data = Prepared::load(&cfg.data, cfg.seed, cfg.model.binarizes())?;
    cfg.model
        .check_data(&data.splits.train.kind())
        .map_err(|e| Error::Config(vec![format!("{e} ({})", cfg.data.spec)]))?;
    for note in &data.splits.notes {
        eprintln!("note: {note}");
    }
    Ok(data)
}

/// The vocabulary of token data read from files or generated.
fn vocab_of(data: &Prepared) -> Option<&Vocab> {
    match &data.splits.train {
        Dataset::Tokens(t) => t.words.as_deref(),
        Dataset::Images(_) => None,
    }
}

/// The data of an existing run, checked against the vocabulary it was
/// trained with (`RUN/vocab.txt`): ids that meant other words would give
/// numbers about nothing, so a difference is an error naming both.
pub fn load_run_data(cfg: &ExperimentConfig, run: &Path) -> Result<Prepared> {
    let data = load_data(cfg)?;
    let path = run.join(VOCAB_FILE);
    if let (Some(v), true) = (vocab_of(&data), path.is_file()) {
        let saved = Vocab::read(&path)?;
        if let Some((id, here, there)) = saved.first_difference(v) {
            return Err(Error::bad_file(
                &path,
                format!(
                    "this run's vocabulary ({} ids) differs from the one {} gives now ({} ids): \
                     id {id} is {here:?} in the run and {there:?} in the data, so the model's \
                     ids would mean other words. Evaluate on the files it was trained on, with \
                     the same data.max_vocab and data.min_count.",
                    saved.len(),
                    cfg.data.spec,
                    v.len()
                ),
            ));
        }
    }
    Ok(data)
}

/// Where a text run keeps its vocabulary: one word per line, line i = id i − 1.
pub const VOCAB_FILE: &str = "vocab.txt";

/// What the trainer reads, from the experiment config.
fn job<'a>(
    cfg: &'a ExperimentConfig,
    data: &'a Prepared,
    run: &'a Path,
    device: &'a Device,
) -> Job<'a> {
    Job {
        name: &cfg.name,
        seed: cfg.seed,
        device_name: cfg.device.as_str(),
        trainer: cfg.trainer(),
        monitor: &cfg.monitor,
        data,
        run,
        device,
        remedies: cfg.collapse_remedies(),
    }
}

/// Train the model `cfg` describes, writing everything into `run`.
pub fn train(
    cfg: &ExperimentConfig,
    run: &Path,
    device: &Device,
    progress: Option<Progress>,
) -> Result<Summary> {
    train_with_hooks(cfg, run, device, progress, &mut [])
}

/// As [`train`], with `hooks` around each step (the tests reach the
/// non-finite guard with [`crate::train::NanAt`]).
pub fn train_with_hooks(
    cfg: &ExperimentConfig,
    run: &Path,
    device: &Device,
    progress: Option<Progress>,
    hooks: &mut [&mut dyn StepHook<AnyModel>],
) -> Result<Summary> {
    // Data first: a bad data spec leaves no half-made run behind (the empty
    // folder `make_run_dir` created is removed; a folder with files is kept).
    let data = match load_data(cfg) {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_dir(run);
            return Err(e);
        }
    };
    let kind = data.splits.train.kind();
    let model = build_model(&cfg.model, cfg.seed, &kind, &device.clone().autodiff());
    // A procedure the model cannot run is a config error: no run folder left behind.
    if let Err(e) = crate::train::check_procedures(&job(cfg, &data, run, device), &model) {
        let _ = std::fs::remove_dir(run);
        return Err(e);
    }
    write_atomic(&run.join("config.toml"), cfg.to_toml().as_bytes())?;
    if let Some(v) = vocab_of(&data) {
        v.write(&run.join(VOCAB_FILE))?;
    }
    let state = TrainState::initial(&cfg.trainer(), &cfg.monitor, kind);
    let optim = build_optimizer(&cfg.optimizer);
    fit(
        &job(cfg, &data, run, device),
        model,
        optim,
        state,
        progress,
        hooks,
    )
}

/// Continue an interrupted run from its newest checkpoint that loads. A
/// checkpoint that fails to load is reported by name and the previous one is
/// tried; with none left the run starts over. `metrics.jsonl` is cut back to
/// the checkpoint's step (dropping a torn last line), so no line is repeated.
pub fn resume(
    run: &Path,
    device_choice: Option<DeviceChoice>,
    device: &Device,
    progress_mode: Option<Progress>,
) -> Result<Summary> {
    if run.join("summary.json").is_file() {
        return Err(Error::Usage(format!(
            "{}: this run has finished (summary.json exists); nothing to resume",
            run.display()
        )));
    }
    let mut cfg = load_config(run)?;
    if let Some(d) = device_choice {
        cfg.device = d;
    }
    let data = load_run_data(&cfg, run)?;
    let ad = device.clone().autodiff();
    let kind = data.splits.train.kind();
    let mut loaded = None;
    for ckpt in checkpoint::list(run).iter().rev() {
        let attempt = checkpoint::load_state(ckpt).and_then(|state| {
            if !state.data.fits(&kind) {
                return Err(Error::bad_file(
                    ckpt.join("state.json"),
                    format!(
                        "the model was trained on {} but {} now gives {}",
                        state.data.describe(),
                        cfg.data.spec,
                        kind.describe()
                    ),
                ));
            }
            let model =
                checkpoint::load_model(ckpt, build_model(&cfg.model, cfg.seed, &kind, &ad))?;
            let optim = checkpoint::load_optim(ckpt, build_optimizer(&cfg.optimizer))?;
            Ok((model, optim, state))
        });
        match attempt {
            Ok(x) => {
                eprintln!("resuming {} from {}", run.display(), ckpt.display());
                loaded = Some(x);
                break;
            }
            Err(e) => eprintln!("warning: skipping checkpoint {}: {e}", ckpt.display()),
        }
    }
    let (model, optim, state) = match loaded {
        Some(x) => x,
        None if !checkpoint::list(run).is_empty() => {
            return Err(Error::Usage(format!(
                "{}: none of its checkpoints fits this run's config and data (see the warnings \
                 above); nothing was changed. Start a new run, or restore the data it was trained on.",
                run.display()
            )));
        }
        None => {
            eprintln!(
                "{} has no checkpoint yet: training starts from the beginning",
                run.display()
            );
            let state = TrainState::initial(&cfg.trainer(), &cfg.monitor, kind.clone());
            (
                build_model(&cfg.model, cfg.seed, &kind, &ad),
                build_optimizer(&cfg.optimizer),
                state,
            )
        }
    };
    crate::train::log::truncate(&run.join("metrics.jsonl"), state.step)?;
    fit(
        &job(&cfg, &data, run, device),
        model,
        optim,
        state,
        progress_mode,
        &mut [],
    )
}

/// The config of a run directory (`RUN/config.toml`).
pub fn load_config(run: &Path) -> Result<ExperimentConfig> {
    let path = run.join("config.toml");
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{}: not a vaekit run directory (no config.toml)",
            run.display()
        )));
    }
    let mut cfg = ExperimentConfig::load(Some(&path), &[])?;
    if binarization(&path)? == Binarization::RunSeed {
        cfg.data.binarize_seed = cfg.seed;
    }
    Ok(cfg)
}

/// Which draw binarized a run's validation and test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binarization {
    /// `data.binarize_seed`, written in the run's config: the data's draw,
    /// the same for every run that names the same value.
    Shared,
    /// The run's own `seed`: a run written before `data.binarize_seed`
    /// existed. Its recorded numbers were computed on that draw, so it is
    /// reopened (resumed, evaluated) with it.
    RunSeed,
}

/// Whether the run config at `path` names its binarization seed.
pub fn binarization(path: &Path) -> Result<Binarization> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::bad_file(path, e.to_string()))?;
    let named = table
        .get("data")
        .and_then(|d| d.get("binarize_seed"))
        .is_some();
    Ok(if named {
        Binarization::Shared
    } else {
        Binarization::RunSeed
    })
}

/// A run directory's resolved config and trained model.
pub struct LoadedRun {
    pub dir: PathBuf,
    pub config: ExperimentConfig,
    pub checkpoint: PathBuf,
    /// The kind and shape of data the model was trained on.
    pub data: DataKind,
    /// In evaluation mode (no autodiff), on the device asked for.
    pub model: AnyModel,
}

/// Open `run` and load its newest checkpoint onto `device`.
pub fn open(run: &Path, device: &Device) -> Result<LoadedRun> {
    let config = load_config(run)?;
    let ckpt = checkpoint::latest(run)?;
    let state = checkpoint::load_state(&ckpt)?;
    config.model.check_data(&state.data).map_err(|e| {
        Error::bad_file(
            ckpt.join("state.json"),
            format!("{e}: the checkpoint does not belong to this run's config.toml"),
        )
    })?;
    let model = build_model(&config.model, config.seed, &state.data, device);
    let model = checkpoint::load_model(&ckpt, model)?.valid();
    Ok(LoadedRun {
        dir: run.to_path_buf(),
        config,
        checkpoint: ckpt,
        data: state.data,
        model,
    })
}
