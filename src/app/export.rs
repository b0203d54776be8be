//! `vaekit export`: a run's weights as safetensors, with the config beside
//! them, so the model can be loaded in Python and our numbers checked.
//!
//! Tensor names follow the module tree: `encoder.layers.{i}.weight|bias`,
//! `mean.*`, `log_var.*`, `decoder.layers.{i}.*`, `out.*`, and for Gaussian
//! decoders `likelihood.log_var`. Linear weights are stored `[in, out]`
//! (Burn's layout): PyTorch's `nn.Linear.weight` is the transpose.

use crate::core::error::{Error, Result};
use burn::store::SafetensorsStore;
use std::path::{Path, PathBuf};

/// The formats `vaekit export --format` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Safetensors,
}

/// Write `model.safetensors` and `config.toml` into `out` (default
/// `RUN/export`), and a text run's `vocab.txt` (ids to words) beside them.
pub fn safetensors(run: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let loaded = crate::app::run::open(run, &burn::tensor::Device::flex())?;
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run.join("export"));
    crate::core::fsutil::create_dir_all(&dir)?;
    let mut store = SafetensorsStore::from_bytes(None)
        .metadata("vaekit_version", env!("CARGO_PKG_VERSION"))
        .metadata("checkpoint", loaded.checkpoint.display().to_string());
    let target = dir.join("model.safetensors");
    // The variant's own module, so tensor names carry no enum prefix.
    loaded
        .model
        .save_into_store(&mut store)
        .map_err(|e| Error::bad_file(&target, format!("could not collect the weights: {e}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| Error::bad_file(&target, format!("could not encode safetensors: {e}")))?;
    crate::core::fsutil::write_atomic(&target, &bytes)?;
    crate::core::fsutil::write_atomic(
        &dir.join("config.toml"),
        loaded.config.to_toml().as_bytes(),
    )?;
    let vocab = run.join(crate::app::run::VOCAB_FILE);
    if vocab.is_file() {
        let words = std::fs::read(&vocab).map_err(|e| Error::io(&vocab, e))?;
        crate::core::fsutil::write_atomic(&dir.join(crate::app::run::VOCAB_FILE), &words)?;
    }
    // The reference needs the run's data; without it the weights still export.
    if let Err(e) = write_reference(&loaded, &dir.join("reference.json")) {
        eprintln!("warning: no reference.json ({e}); the weights and config are exported");
    }
    Ok(target)
}

/// `reference.json`: the first test images exactly as vaekit evaluates them
/// (binarized with the run's fixed draw for Bernoulli decoders), with their
/// posterior means and log-variances and log p(x | z = μ(x)) computed by
/// vaekit, so a reimplementation elsewhere can check itself against ours.
fn write_reference(loaded: &crate::app::run::LoadedRun, path: &Path) -> Result<()> {
    use crate::models::{LatentModel, Posterior};
    let data = crate::app::run::load_run_data(&loaded.config, &loaded.dir)?;
    if !loaded.data.fits(&data.splits.test.kind()) {
        return Err(Error::Usage(format!(
            "{}: gives {}, but the model was trained on {}",
            loaded.config.data.spec,
            data.splits.test.shape_text(),
            loaded.data.describe()
        )));
    }
    let Some(test) = data.splits.test.images() else {
        return Err(Error::Usage(
            "reference.json holds images; this run's data is not images".into(),
        ));
    };
    let n = test.n.min(8);
    let device = burn::tensor::Device::flex();
    let x = crate::core::host::upload(
        test.images[..n * test.dim()].to_vec(),
        n,
        test.dim(),
        &device,
    );
    let rows =
        |v: Vec<f32>, w: usize| -> Vec<Vec<f32>> { v.chunks(w).map(<[f32]>::to_vec).collect() };
    let z = loaded.model.latent_dim();
    let images = rows(test.images[..n * test.dim()].to_vec(), test.dim());
    let x = crate::models::Batch::Images(x);
    let json = match loaded.model.encode(&x) {
        Posterior::Gaussian(q) => {
            let log_px = loaded.model.log_likelihood(&x, q.mean.clone());
            serde_json::json!({
                "description": "first test images as vaekit evaluates them; posterior mean/log-variance; log p(x | z = mean)",
                "x": images,
                "mean": rows(crate::core::host::read(q.mean), z),
                "log_var": rows(crate::core::host::read(q.log_var), z),
                "log_px_given_mean": crate::core::host::read(log_px),
            })
        }
        Posterior::Codes(c) => {
            let log_px = loaded.model.log_likelihood(&x, c.z);
            let p = c.index.dims()[1];
            let codes = crate::core::host::read_indices(c.index);
            serde_json::json!({
                "description": "first test images as vaekit evaluates them; the code chosen at each grid position (row-major); log p(x | z_q)",
                "x": images,
                "codes": codes.chunks(p).map(<[usize]>::to_vec).collect::<Vec<_>>(),
                "log_px_given_codes": crate::core::host::read(log_px),
            })
        }
    };
    crate::core::fsutil::write_atomic(path, serde_json::to_string(&json).unwrap().as_bytes())
}
