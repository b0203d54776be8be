//! The model a config names, chosen once: [`AnyModel`] is the only place
//! that matches on [`ModelKind`]; everything that differs between kinds is a
//! method of [`LatentModel`] below it. A new model is a module in this folder,
//! a variant here, its table in [`super::config`], and nothing elsewhere.

use super::config::{ModelConfig, ModelKind};
use super::{Batch, LatentModel, PlainMlp, Posterior, text, vae, vq};
use crate::data::DataKind;
use burn::module::Module;
use burn::module::ParamId;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor};

/// Every model vaekit builds from a config: what the trainer, checkpoints,
/// `vaekit eval`, `sample` and `export` hold.
#[derive(Module, Debug)]
pub enum AnyModel {
    /// `model.kind` = `vae`, `gmm` or `vamp`.
    Vae(vae::Vae),
    /// `model.kind = "vq_vae"`.
    VqVae(vq::VqVae),
    /// `model.kind` = `text_vae` or `lstm_lm`.
    Text(text::TextVae),
}

/// The lock around the CPU backend's process-wide RNG while weights are
/// seeded and drawn (see [`build_model`]).
pub(crate) fn host_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static HOST_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HOST_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

impl AnyModel {
    /// The model `cfg` names, for data of `data`'s kind (already checked by
    /// [`ModelConfig::check_data`]), weights drawn from the device's RNG.
    pub fn new(cfg: &ModelConfig, data: &DataKind, device: &Device) -> Self {
        let dim = data.width();
        match cfg.kind {
            ModelKind::Vae | ModelKind::Gmm | ModelKind::Vamp => {
                AnyModel::Vae(vae::Vae::new(cfg, dim, device))
            }
            ModelKind::VqVae => AnyModel::VqVae(vq::VqVae::new(cfg, dim, device)),
            ModelKind::TextVae | ModelKind::LstmLm => {
                let vocab = match data {
                    DataKind::Tokens { vocab, .. } => *vocab,
                    DataKind::Images { .. } => unreachable!("checked by ModelConfig::check_data"),
                };
                AnyModel::Text(text::TextVae::new(cfg, vocab, device))
            }
        }
    }

    /// Collect the weights into a safetensors store under the model's own
    /// tensor names (`encoder.layers.0.weight`: no enum prefix).
    pub fn save_into_store(&self, store: &mut burn::store::SafetensorsStore) -> Result<(), String> {
        use burn::store::ModuleSnapshot;
        match self {
            AnyModel::Vae(m) => m.save_into(store),
            AnyModel::VqVae(m) => m.save_into(store),
            AnyModel::Text(m) => m.save_into(store),
        }
        .map_err(|e| e.to_string())
    }

    /// The Gaussian VAE inside; panics for other models (tests and benches).
    pub fn into_vae(self) -> vae::Vae {
        match self {
            AnyModel::Vae(m) => m,
            _ => panic!("expected a Gaussian VAE of images"),
        }
    }

    /// The VQ-VAE inside; panics for other models (tests).
    pub fn into_vq(self) -> vq::VqVae {
        match self {
            AnyModel::VqVae(m) => m,
            _ => panic!("expected a VQ-VAE"),
        }
    }

    /// The text VAE inside; panics for other models (tests and benches).
    pub fn into_text(self) -> text::TextVae {
        match self {
            AnyModel::Text(m) => m,
            _ => panic!("expected a text VAE"),
        }
    }
}

/// Build the model `cfg` names for data of kind `data`, on `device`, with
/// the weights of `seed`. Weights are drawn on the CPU and then copied, so
/// the same seed gives the same initial weights on every device.
///
/// The CPU backend's RNG is shared by the whole process: seeding it and
/// drawing the weights happen under one lock, so that models built on
/// several threads at once (tests, a library user's sweep) still get the
/// weights of their own seed.
pub fn build_model(cfg: &ModelConfig, seed: u64, data: &DataKind, device: &Device) -> AnyModel {
    let record = {
        let _guard = host_rng_lock();
        let host = Device::flex();
        host.seed(seed);
        AnyModel::new(cfg, data, &host).into_record()
    };
    AnyModel::new(cfg, data, device).load_record(record)
}

/// A model's weights as bytes, for checkpoints.
pub trait Weights: Module {
    fn to_record(&self) -> ModuleRecord;
    /// Load a record saved by [`Weights::to_record`]; the error says why it does not fit.
    fn from_record(self, record: ModuleRecord) -> Result<Self, String>;
}

impl Weights for AnyModel {
    fn to_record(&self) -> ModuleRecord {
        match self {
            AnyModel::Vae(m) => m.clone().into_record(),
            AnyModel::VqVae(m) => m.clone().into_record(),
            AnyModel::Text(m) => m.clone().into_record(),
        }
    }

    fn from_record(self, record: ModuleRecord) -> Result<Self, String> {
        match self {
            AnyModel::Vae(m) => m
                .try_load_record(record)
                .map(AnyModel::Vae)
                .map_err(|e| e.to_string()),
            AnyModel::VqVae(m) => m
                .try_load_record(record)
                .map(AnyModel::VqVae)
                .map_err(|e| e.to_string()),
            AnyModel::Text(m) => m
                .try_load_record(record)
                .map(AnyModel::Text)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Forward every method to the variant.
macro_rules! each {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyModel::Vae($m) => $e,
            AnyModel::VqVae($m) => $e,
            AnyModel::Text($m) => $e,
        }
    };
}

impl LatentModel for AnyModel {
    fn latent_dim(&self) -> usize {
        each!(self, m => m.latent_dim())
    }
    fn noise_dim(&self) -> usize {
        each!(self, m => m.noise_dim())
    }
    fn family(&self) -> crate::core::posterior::Family {
        each!(self, m => m.family())
    }
    fn encode(&self, x: &Batch) -> Posterior {
        each!(self, m => LatentModel::encode(m, x))
    }
    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        each!(self, m => m.log_likelihood(x, z))
    }
    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        each!(self, m => m.log_prior(z))
    }
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        each!(self, m => m.kl(posterior, z))
    }
    fn penalty(&self, posterior: &Posterior) -> Option<Tensor<1>> {
        each!(self, m => m.penalty(posterior))
    }
    fn prepare_batch(&self, batch: Batch, step: usize, seed: u64) -> Batch {
        each!(self, m => m.prepare_batch(batch, step, seed))
    }
    fn after_step(self, posterior: &Posterior, step: usize, seed: u64) -> Self {
        match self {
            AnyModel::Vae(m) => AnyModel::Vae(m.after_step(posterior, step, seed)),
            AnyModel::VqVae(m) => AnyModel::VqVae(m.after_step(posterior, step, seed)),
            AnyModel::Text(m) => AnyModel::Text(m.after_step(posterior, step, seed)),
        }
    }
    fn generate_tokens(
        &self,
        z: Tensor<2>,
        max_len: usize,
        greedy: bool,
        seed: u64,
    ) -> Option<Vec<Vec<u32>>> {
        each!(self, m => m.generate_tokens(z, max_len, greedy, seed))
    }
    fn encoder_params(&self) -> Vec<ParamId> {
        each!(self, m => m.encoder_params())
    }
    fn reset_decoder(self, seed: u64) -> Self {
        match self {
            AnyModel::Vae(m) => AnyModel::Vae(m.reset_decoder(seed)),
            AnyModel::VqVae(m) => AnyModel::VqVae(m.reset_decoder(seed)),
            AnyModel::Text(m) => AnyModel::Text(m.reset_decoder(seed)),
        }
    }
    fn can_reset_decoder(&self) -> bool {
        each!(self, m => m.can_reset_decoder())
    }
    fn has_latent(&self) -> bool {
        each!(self, m => m.has_latent())
    }
    fn prior_responsibilities(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        each!(self, m => m.prior_responsibilities(z))
    }
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        each!(self, m => m.sample_prior(n, seed, device))
    }
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        each!(self, m => m.decode_mean(z))
    }
    fn plain_mlp(&self) -> Option<PlainMlp<'_>> {
        each!(self, m => m.plain_mlp())
    }
}
