//! Opening a finished (or interrupted) run directory: its config and the
//! model from its newest checkpoint.

use crate::config::ExperimentConfig;
use crate::error::{Error, Result};
use crate::models::AnyModel;
use crate::train::{build_model, checkpoint};
use burn::module::Module;
use burn::tensor::Device;
use std::path::{Path, PathBuf};

/// A run directory's resolved config and trained model.
pub struct LoadedRun {
    pub dir: PathBuf,
    pub config: ExperimentConfig,
    pub checkpoint: PathBuf,
    /// Image shape (rows, cols) the model was trained on.
    pub image_shape: [usize; 2],
    /// Its channels (1, or 3 for colour).
    pub channels: usize,
    /// In evaluation mode (no autodiff), on the device asked for.
    pub model: AnyModel,
}

/// Read a run directory's resolved `config.toml`.
pub fn load_config(run: &Path) -> Result<ExperimentConfig> {
    let path = run.join("config.toml");
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{}: not a vaekit run directory (no config.toml)",
            run.display()
        )));
    }
    ExperimentConfig::load(Some(&path), &[])
}

/// Open `run` and load its newest checkpoint onto `device`.
pub fn open(run: &Path, device: &Device) -> Result<LoadedRun> {
    let config = load_config(run)?;
    let ckpt = checkpoint::latest(run)?;
    let state = checkpoint::load_state(&ckpt)?;
    let [rows, cols] = state.image_shape;
    let dim = rows * cols * state.channels;
    let model = checkpoint::load_model(&ckpt, build_model(&config, dim, device))?.valid();
    Ok(LoadedRun {
        dir: run.to_path_buf(),
        config,
        checkpoint: ckpt,
        image_shape: [rows, cols],
        channels: state.channels,
        model,
    })
}
