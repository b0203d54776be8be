//! The model a config names, chosen once. [`AnyModel`] is declared by one
//! list of variants, `any_model! { ... }` below: the [`any_model!`] macro
//! turns the list into the enum (a burn `Module`), the forwarding of every
//! [`LatentModel`](super::LatentModel) method to the variant, the
//! [`Weights`] of checkpoints, the safetensors export and one `into_*`
//! accessor per variant. [`AnyModel::new`], next to the list, is the only
//! match on [`ModelKind`].
//!
//! A new model is a module in this folder implementing
//! [`LatentModel`](super::LatentModel), one entry in the list, one arm in
//! [`AnyModel::new`], and its kind and table in [`super::config`]; nothing
//! elsewhere.
//!
//! The forwarding names every method of the trait, default or not: a method
//! the enum did not forward would silently answer with the trait's default
//! instead of the model's own. [`AnyModel::FORWARDED`] lists them, and
//! `tests/any_model.rs` checks that list against the trait's declaration
//! and the answers of the enum against those of each model. That includes
//! `forward`, whose default calls `encode`, `log_likelihood`, `kl` and
//! `penalty`: no model overrides it today, so forwarding it changes no
//! number (the default on the enum would call the same forwarded pieces),
//! but a model that gave itself a faster `forward` would otherwise be
//! bypassed without a sign.

use super::config::{ModelConfig, ModelKind};
use super::{text, two_layer, vae, vq};
use crate::core::error::{Error, Result};
use crate::data::DataKind;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;

/// Declare an enum of models from one list of variants, and everything that
/// must name each variant:
///
/// - the enum, with `#[derive(Module, Debug)]`;
/// - `impl LatentModel`, forwarding every method of the trait (the list of
///   methods is in this macro, once; `FORWARDED` names them);
/// - `impl Weights`: the record of the model inside (no enum prefix in the
///   tensor names, so checkpoints are those of the model alone);
/// - `save_into_store` (safetensors under the model's own names), `variant`
///   (the variant's name) and the `into_*` accessor of each variant.
///
/// ```ignore
/// any_model! {
///     /// Doc of the enum.
///     pub enum AnyModel {
///         /// Doc of the variant.
///         Vae(vae::Vae) => into_vae,
///         VqVae(vq::VqVae) => into_vq,
///     }
/// }
/// ```
///
/// Every type inside must be a [`LatentModel`](super::LatentModel), and
/// the crate that invokes the macro must depend on `burn`. Used
/// once, for [`AnyModel`]; exported so that a test can declare an enum with
/// one more (throw-away) model and see it served like the others.
#[macro_export]
macro_rules! any_model {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($model:ty) => $into:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(burn::module::Module, Debug)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant($model), )+
        }

        // (An enum declared for a test uses some of these only.)
        #[allow(dead_code)]
        impl $name {
            /// The name of the variant, for messages.
            pub fn variant(&self) -> &'static str {
                match self {
                    $( $name::$variant(_) => stringify!($variant), )+
                }
            }

            /// Collect the weights into a safetensors store under the
            /// model's own tensor names (`encoder.layers.0.weight`: no enum
            /// prefix).
            pub fn save_into_store(
                &self,
                store: &mut burn::store::SafetensorsStore,
            ) -> $crate::core::error::Result<()> {
                use burn::store::ModuleSnapshot;
                match self {
                    $( $name::$variant(m) => m
                        .save_into(store)
                        .map_err(|e| $crate::core::error::Error::Weights(e.to_string())), )+
                }
            }

            $(
                #[doc = concat!(
                    "The `", stringify!($variant),
                    "` inside; panics for other models (tests and benches)."
                )]
                #[allow(unreachable_patterns)]
                pub fn $into(self) -> $model {
                    match self {
                        $name::$variant(m) => m,
                        other => panic!(
                            "expected {}::{}, found {}",
                            stringify!($name),
                            stringify!($variant),
                            other.variant()
                        ),
                    }
                }
            )+
        }

        impl $crate::models::build::Weights for $name {
            fn to_record(&self) -> burn::store::ModuleRecord {
                match self {
                    $( $name::$variant(m) => burn::module::Module::into_record(m.clone()), )+
                }
            }

            fn from_record(
                self,
                record: burn::store::ModuleRecord,
            ) -> $crate::core::error::Result<Self> {
                match self {
                    $( $name::$variant(m) => burn::module::Module::try_load_record(m, record)
                        .map($name::$variant)
                        .map_err(|e| $crate::core::error::Error::Weights(e.to_string())), )+
                }
            }
        }

        $crate::models::build::any_model!(@forward $name [$($variant)+]);
    };

    // THE list of the methods of `LatentModel`, every one of them, default
    // or not: those that borrow the model, then (after `=>`) those that take
    // it and return it. `tests/any_model.rs` fails when the trait gains a
    // method this list lacks.
    (@forward $name:ident $variants:tt) => {
        $crate::models::build::any_model!(@methods $name $variants
            // Methods that borrow the model.
            latent_dim() -> usize;
            noise_dim() -> usize;
            family() -> $crate::models::Family;
            encode(x: &$crate::models::Batch) -> $crate::models::Posterior;
            log_likelihood(
                x: &$crate::models::Batch,
                z: burn::tensor::Tensor<2>
            ) -> burn::tensor::Tensor<1>;
            log_prior(z: burn::tensor::Tensor<2>) -> burn::tensor::Tensor<1>;
            kl(
                posterior: &$crate::models::Posterior,
                z: burn::tensor::Tensor<2>
            ) -> burn::tensor::Tensor<2>;
            penalty(posterior: &$crate::models::Posterior) -> Option<burn::tensor::Tensor<1>>;
            prepare_batch(
                batch: $crate::models::Batch,
                step: usize,
                seed: u64
            ) -> $crate::models::Batch;
            prior_responsibilities(
                z: burn::tensor::Tensor<2>
            ) -> Option<burn::tensor::Tensor<2>>;
            sample_prior(
                n: usize,
                seed: u64,
                device: &burn::tensor::Device
            ) -> burn::tensor::Tensor<2>;
            decode_mean(
                z: burn::tensor::Tensor<2>
            ) -> (burn::tensor::Tensor<2>, Option<burn::tensor::Tensor<2>>);
            generate_tokens(
                z: burn::tensor::Tensor<2>,
                max_len: usize,
                greedy: bool,
                seed: u64
            ) -> Option<Vec<Vec<u32>>>;
            encoder_params() -> Vec<burn::module::ParamId>;
            has_latent() -> bool;
            can_reset_decoder() -> bool;
            plain_mlp() -> Option<$crate::models::PlainMlp<'_>>;
            latent_layers() -> Vec<usize>;
            sample_latent(
                posterior: &$crate::models::Posterior,
                eps: burn::tensor::Tensor<2>
            ) -> burn::tensor::Tensor<2>;
            log_weights(
                posterior: &$crate::models::Posterior,
                x: &$crate::models::Batch,
                eps: burn::tensor::Tensor<2>,
                k: usize
            ) -> (burn::tensor::Tensor<2>, burn::tensor::Tensor<2>);
            forward(
                x: &$crate::models::Batch,
                eps: burn::tensor::Tensor<2>
            ) -> $crate::models::Forward;
            // Methods that take the model and return it changed.
            => after_step(posterior: &$crate::models::Posterior, step: usize, seed: u64);
            => reset_decoder(seed: u64);
        );
    };

    (@methods $name:ident $variants:tt
        $( $by_ref:ident ( $($ra:ident : $rt:ty),* ) -> $rr:ty; )*
        $( => $by_value:ident ( $($va:ident : $vt:ty),* ); )*
    ) => {
        impl $crate::models::LatentModel for $name {
            $(
                fn $by_ref(&self $(, $ra: $rt)*) -> $rr {
                    $crate::models::build::any_model!(@each self, $name $variants, m =>
                        $crate::models::LatentModel::$by_ref(m $(, $ra)*))
                }
            )*
            $(
                fn $by_value(self $(, $va: $vt)*) -> Self {
                    $crate::models::build::any_model!(@rewrap self, $name $variants, m =>
                        $crate::models::LatentModel::$by_value(m $(, $va)*))
                }
            )*
        }

        #[allow(dead_code)]
        impl $name {
            /// The [`LatentModel`](crate::models::LatentModel) methods this
            /// enum forwards to the model inside: all of the trait's.
            pub const FORWARDED: &'static [&'static str] =
                &[$(stringify!($by_ref),)* $(stringify!($by_value),)*];
        }
    };

    (@each $self:ident, $name:ident [$($variant:ident)+], $m:ident => $e:expr) => {
        match $self {
            $( $name::$variant($m) => $e, )+
        }
    };

    (@rewrap $self:ident, $name:ident [$($variant:ident)+], $m:ident => $e:expr) => {
        match $self {
            $( $name::$variant($m) => $name::$variant($e), )+
        }
    };
}

#[doc(hidden)]
pub use any_model;

any_model! {
    /// Every model vaekit builds from a config: what the trainer,
    /// checkpoints, `vaekit eval`, `sample` and `export` hold.
    pub enum AnyModel {
        /// `model.kind` = `vae`, `gmm` or `vamp`.
        Vae(vae::Vae) => into_vae,
        /// `model.kind = "vq_vae"`.
        VqVae(vq::VqVae) => into_vq,
        /// `model.kind` = `text_vae` or `lstm_lm`.
        Text(text::TextVae) => into_text,
        /// `model.kind = "two_layer"`.
        TwoLayer(two_layer::TwoLayerVae) => into_two_layer,
    }
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
            ModelKind::TwoLayer => {
                AnyModel::TwoLayer(two_layer::TwoLayerVae::new(cfg, dim, device))
            }
            ModelKind::TextVae | ModelKind::LstmLm => {
                let vocab = match data {
                    DataKind::Tokens { vocab, .. } => *vocab,
                    DataKind::Images { .. } => unreachable!("checked by ModelConfig::check_data"),
                };
                AnyModel::Text(text::TextVae::new(cfg, vocab, device))
            }
        }
    }
}

/// The lock around the CPU backend's process-wide RNG while weights are
/// seeded and drawn (see [`build_model`]).
pub(crate) fn host_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static HOST_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HOST_RNG.lock().unwrap_or_else(|e| e.into_inner())
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

/// A model's weights as bytes, for checkpoints. The defaults fit a model
/// whose record is its own module's, which is every model but an enum of
/// them ([`AnyModel`] saves the record of the model inside).
pub trait Weights: Module {
    fn to_record(&self) -> ModuleRecord {
        self.clone().into_record()
    }

    /// Load a record saved by [`Weights::to_record`]; the error
    /// ([`Error::Weights`]) says why it does not fit.
    fn from_record(self, record: ModuleRecord) -> Result<Self> {
        self.try_load_record(record)
            .map_err(|e| Error::Weights(e.to_string()))
    }
}
