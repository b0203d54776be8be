//! Checkpoints: `checkpoints/step-NNNNNNNN/{model.bpk, optim.bpk, state.json}`.
//!
//! A checkpoint is written into a hidden temporary folder and renamed into
//! place, so a folder named `step-*` is always complete. The newest
//! `keep` checkpoints are kept; older ones are removed after a new one lands.

use crate::core::error::{Error, Result};
use crate::core::fsutil::{create_dir_all, write_atomic};
use crate::data::DataKind;
use crate::models::build::Weights;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where training stood when a checkpoint was written. Randomness is keyed
/// by `(seed, step)` (see [`crate::core::rng`]), so this is all a resume needs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Seconds of training before this checkpoint.
    pub time_s: f64,
    /// The kind and shape of data the model was built for. (Checkpoints
    /// written before data kinds had `image_shape` and `channels` instead;
    /// [`load_state`] reads those as images.)
    pub data: DataKind,
    /// The learning rate in force (lowered by skipped non-finite batches).
    pub lr: f64,
    /// Batches skipped for a non-finite loss so far, and in a row at the end.
    pub skipped_steps: usize,
    #[serde(default)]
    pub consecutive_skips: usize,
    /// The logging interval's sums when the checkpoint was taken.
    pub interval: Option<super::interval::IntervalState>,
    /// The collapse alarm's state.
    pub alarm: crate::metrics::alarm::CollapseAlarm,
    /// Aggressive encoder training's state, when `train.aggressive` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggressive: Option<super::aggressive::AggressiveState>,
    /// The plateau learning-rate schedule's state, when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plateau: Option<super::plateau::PlateauState>,
    /// What `train.on_collapse` has done so far.
    #[serde(default, skip_serializing_if = "is_default")]
    pub revive: super::revive::ReviveState,
    pub vaekit_version: String,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl TrainState {
    /// The state before the first step.
    pub fn initial(
        trainer: &super::TrainerConfig,
        monitor: &crate::metrics::config::MonitorConfig,
        data: DataKind,
    ) -> Self {
        Self {
            step: 0,
            epochs_done: 0,
            time_s: 0.0,
            data,
            lr: trainer.optimizer.lr,
            skipped_steps: 0,
            consecutive_skips: 0,
            interval: None,
            alarm: crate::metrics::alarm::CollapseAlarm::new(
                monitor.alarm_patience,
                monitor.alarm_kl,
            ),
            aggressive: trainer
                .train
                .aggressive
                .then(super::aggressive::AggressiveState::new),
            plateau: (trainer.optimizer.lr_schedule == super::config::LrSchedule::Plateau)
                .then(super::plateau::PlateauState::new),
            revive: Default::default(),
            vaekit_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The plateau schedule's best model, inside a checkpoint.
pub const BEST_FILE: &str = "best.bpk";

/// The folder of the checkpoint at `step`.
pub fn dir_at(run: &Path, step: usize) -> PathBuf {
    dir_of(run).join(format!("step-{step:08}"))
}

/// Serialize a model as a checkpoint holds it.
pub fn model_bytes<M: Weights>(model: &M, path: &Path) -> Result<Vec<u8>> {
    Ok(model
        .to_record()
        .into_bytes()
        .map_err(|e| Error::bad_file(path, format!("could not serialize the model: {e}")))?
        .to_vec())
}

fn dir_of(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// Save model, optimizer and state for `state.step` (and `best`, the
/// serialized best model of the plateau schedule, as `best.bpk`), then
/// prune to `keep`.
pub fn save<M: Weights>(
    run: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &TrainState,
    keep: usize,
    best: Option<&[u8]>,
) -> Result<PathBuf> {
    let root = dir_of(run);
    create_dir_all(&root)?;
    let name = format!("step-{:08}", state.step);
    let final_dir = root.join(&name);
    let tmp = root.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    create_dir_all(&tmp)?;
    let bytes = model_bytes(model, &tmp.join("model.bpk"))?;
    write_atomic(&tmp.join("model.bpk"), &bytes)?;
    let optim_bytes = optim.into_bytes().map_err(|e| {
        Error::bad_file(
            tmp.join("optim.bpk"),
            format!("could not serialize the optimizer: {e}"),
        )
    })?;
    write_atomic(&tmp.join("optim.bpk"), &optim_bytes)?;
    if let Some(b) = best {
        write_atomic(&tmp.join(BEST_FILE), b)?;
    }
    write_atomic(
        &tmp.join("state.json"),
        serde_json::to_string_pretty(state).unwrap().as_bytes(),
    )?;
    if final_dir.exists() {
        discard(&final_dir)?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    prune(&root, keep)?;
    Ok(final_dir)
}

/// Remove a checkpoint folder so that no `step-*` folder is ever seen half
/// deleted: rename it to a hidden name first (atomic), then delete that.
fn discard(dir: &Path) -> Result<()> {
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let doomed = dir.with_file_name(format!(".{name}.del"));
    if doomed.exists() {
        std::fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e))?;
    }
    std::fs::rename(dir, &doomed).map_err(|e| Error::io(dir, e))?;
    std::fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e))
}

/// Complete checkpoints of a run, oldest first.
pub fn list(run: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(usize, PathBuf)> = std::fs::read_dir(dir_of(run))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

fn prune(root: &Path, keep: usize) -> Result<()> {
    let all = list(root.parent().unwrap_or(root));
    for old in all.iter().take(all.len().saturating_sub(keep)) {
        discard(old)?;
    }
    // Leftovers of a process killed while writing or deleting.
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".del") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    Ok(())
}

/// Load a checkpoint's model weights into `model` (which fixes the architecture).
pub fn load_model<M: Weights>(ckpt: &Path, model: M) -> Result<M> {
    load_model_file(&ckpt.join("model.bpk"), model)
}

/// Load model weights from the file `path`.
pub fn load_model_file<M: Weights>(path: &Path, model: M) -> Result<M> {
    let path = path.to_path_buf();
    let bytes = crate::core::fsutil::read(&path)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| Error::bad_file(&path, format!("not a readable model checkpoint: {e}")))?;
    model.from_record(record).map_err(|e| {
        Error::bad_file(
            &path,
            format!("does not fit this model (was it saved with another config?): {e}"),
        )
    })
}

/// Load a checkpoint's optimizer state into `optim`.
pub fn load_optim(ckpt: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
    let path = ckpt.join("optim.bpk");
    let bytes = crate::core::fsutil::read(&path)?;
    optim
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| Error::bad_file(&path, format!("not a readable optimizer checkpoint: {e}")))
}

/// Read a checkpoint's `state.json`.
pub fn load_state(ckpt: &Path) -> Result<TrainState> {
    let path = ckpt.join("state.json");
    let bytes = crate::core::fsutil::read(&path)?;
    let bad = |e: serde_json::Error| Error::bad_file(&path, format!("not a valid state.json: {e}"));
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).map_err(bad)?;
    // Before data kinds: an image shape and a channel count.
    if let Some(obj) = v.as_object_mut()
        && !obj.contains_key("data")
        && let Some([rows, cols]) = obj
            .get("image_shape")
            .and_then(|s| serde_json::from_value::<[usize; 2]>(s.clone()).ok())
    {
        let channels = obj.get("channels").and_then(|c| c.as_u64()).unwrap_or(1) as usize;
        let kind = DataKind::Images {
            rows,
            cols,
            channels,
        };
        obj.insert("data".into(), serde_json::to_value(kind).map_err(bad)?);
    }
    serde_json::from_value(v).map_err(bad)
}

/// The newest checkpoint of a run, or an error that says there is none.
pub fn latest(run: &Path) -> Result<PathBuf> {
    list(run).pop().ok_or_else(|| {
        if run.join("config.toml").is_file() {
            Error::Usage(format!(
                "{}: this run has not written a checkpoint yet (planned, or stopped before \
                 its first epoch ended); train it with `vaekit train --resume {}`",
                run.display(),
                run.display()
            ))
        } else {
            Error::Usage(format!(
                "{}: no checkpoint found (expected checkpoints/step-*/); is this a vaekit run directory?",
                run.display()
            ))
        }
    })
}
