//! `vaekit export`: a run's weights as safetensors, with the config beside
//! them, so the model can be loaded in Python and our numbers checked.
//!
//! Tensor names follow the module tree: `encoder.layers.{i}.weight|bias`,
//! `mean.*`, `log_var.*`, `decoder.layers.{i}.*`, `out.*`, and for Gaussian
//! decoders `likelihood.log_var`. Linear weights are stored `[in, out]`
//! (Burn's layout): PyTorch's `nn.Linear.weight` is the transpose.

use crate::error::{Error, Result};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use std::path::{Path, PathBuf};

/// Write `model.safetensors` and `config.toml` into `out` (default `RUN/export`).
pub fn safetensors(run: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let loaded = crate::run::open(run, &burn::tensor::Device::flex())?;
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run.join("export"));
    crate::fsutil::create_dir_all(&dir)?;
    let mut store = SafetensorsStore::from_bytes(None)
        .metadata("vaekit_version", env!("CARGO_PKG_VERSION"))
        .metadata("checkpoint", loaded.checkpoint.display().to_string());
    let target = dir.join("model.safetensors");
    loaded
        .model
        .save_into(&mut store)
        .map_err(|e| Error::bad_file(&target, format!("could not collect the weights: {e}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| Error::bad_file(&target, format!("could not encode safetensors: {e}")))?;
    crate::fsutil::write_atomic(&target, &bytes)?;
    crate::fsutil::write_atomic(&dir.join("config.toml"), loaded.config.to_toml().as_bytes())?;
    Ok(target)
}
