//! `[model]`: the shared keys, and one table per model kind for the rest.

use serde::{Deserialize, Serialize};

/// Hidden-layer nonlinearity.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    #[default]
    Gelu,
    LeakyRelu,
    Tanh,
    Relu,
}

/// Decoder likelihood p(x|z).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Bernoulli from logits; pixels are dynamically binarized.
    #[default]
    Bernoulli,
    /// Gaussian with a learned variance; pixels are intensities in [0, 1].
    Gaussian,
}

/// How a Gaussian decoder's variance is shared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VarianceSharing {
    /// One learned variance for all pixels.
    #[default]
    Shared,
    /// One learned variance per pixel.
    PerPixel,
}

/// The model, chosen once: everything that differs between kinds is a
/// method of the model ([`super::AnyModel`]) or a property of its metrics.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Standard normal prior, Gaussian posterior.
    #[default]
    Vae,
    /// Learned Gaussian-mixture prior (`[model.gmm]`).
    Gmm,
    /// VampPrior: a mixture of the posteriors of learned pseudo-inputs (`[model.vamp]`).
    Vamp,
    /// VQ-VAE (van den Oord et al. 2017): a convolutional encoder and decoder
    /// around a codebook (`[model.vq_vae]`).
    VqVae,
    /// Text VAE (Bowman et al. 2016): an LSTM encoder and an autoregressive
    /// LSTM decoder over sentences (`[model.text]`).
    TextVae,
    /// The text VAE's decoder without a latent: an LSTM language model, the
    /// baseline a collapsed text VAE equals (`[model.text]`).
    LstmLm,
    /// Two stochastic layers (Burda et al. 2016's "2 layer" models):
    /// q(h1|x) q(h2|h1), p(h2) = N(0, I), p(h1|h2) Gaussian, p(x|h1) from
    /// `model.likelihood`; h1 has `model.latent_dim` units behind the
    /// `model.hidden` MLPs, h2 is `[model.two_layer]`.
    TwoLayer,
}

impl ModelKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Vae,
        ModelKind::Gmm,
        ModelKind::Vamp,
        ModelKind::VqVae,
        ModelKind::TextVae,
        ModelKind::LstmLm,
        ModelKind::TwoLayer,
    ];

    /// The kind as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Vae => "vae",
            ModelKind::Gmm => "gmm",
            ModelKind::Vamp => "vamp",
            ModelKind::VqVae => "vq_vae",
            ModelKind::TextVae => "text_vae",
            ModelKind::LstmLm => "lstm_lm",
            ModelKind::TwoLayer => "two_layer",
        }
    }

    /// Whether the model reads token sequences (else images).
    pub fn reads_tokens(self) -> bool {
        matches!(self, ModelKind::TextVae | ModelKind::LstmLm)
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    /// A kind as written in configs; the error lists the valid kinds.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "model.kind = {s:?}: the available models are: {}",
                    all.join(", ")
                )
            })
    }
}

/// Encoder/decoder architecture of the Gaussian VAEs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Fully connected layers of `model.hidden` widths.
    #[default]
    Mlp,
    /// Two stride-2 convolutions each way (square images whose side is a
    /// multiple of 4, such as 28×28), then `model.hidden` dense layers.
    Conv,
}

/// How the weights of dense layers are drawn (biases: see each variant).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// burn's default for `Linear` (Kaiming-uniform weights and biases).
    #[default]
    Default,
    /// Glorot & Bengio (2010)'s heuristic for tanh layers, as Burda et al.
    /// (2016) initialise: weights U(±√(6 / (fan_in + fan_out))), biases 0.
    Glorot,
    /// He et al. (2019)'s text VAEs: every weight and bias of the dense
    /// and LSTM layers U(−0.01, 0.01), embeddings U(−0.1, 0.1).
    Uniform,
}

impl Init {
    /// He et al.'s U(−0.01, 0.01) for weights and biases.
    pub const UNIFORM_SCALE: f64 = 0.01;
    /// He et al.'s U(−0.1, 0.1) for embeddings.
    pub const UNIFORM_EMBED_SCALE: f64 = 0.1;
}

/// `[model.two_layer]`: the top stochastic layer h2 of `kind = "two_layer"`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwoLayerConfig {
    /// Units of h2.
    pub latent_dim: usize,
    /// Hidden widths of q(h2|h1); p(h1|h2) mirrors them.
    pub hidden: Vec<usize>,
}

impl Default for TwoLayerConfig {
    /// Burda et al.'s MNIST model: h1 (100) –100–100– h2 (50).
    fn default() -> Self {
        Self {
            latent_dim: 50,
            hidden: vec![100, 100],
        }
    }
}

/// `[model]`: the keys every model reads, and one table per kind.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `vae`, `gmm`, `vamp`, `vq_vae` (images); `text_vae`, `lstm_lm` (text).
    pub kind: ModelKind,
    /// Number of latent dimensions (Gaussian posteriors).
    pub latent_dim: usize,
    /// `mlp` or `conv` (the VQ-VAE is always convolutional).
    pub arch: Arch,
    /// Hidden layer widths of the MLP encoder; the decoder mirrors them.
    /// With `arch = "conv"`, extra layers between the convolutions and the latents.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// `default`, `glorot` (dense layers) or `uniform` (He et al.'s, for
    /// text models): how weights are drawn.
    pub init: Init,
    pub likelihood: Likelihood,
    /// Gaussian decoders only: `shared` or `per-pixel` variance.
    pub variance: VarianceSharing,
    /// Gaussian decoders only: lower bound on log σ² (keeps the density
    /// finite on pixels that never vary, such as MNIST's borders).
    pub min_log_var: f64,
    /// `kind = "gmm"`.
    pub gmm: MixtureConfig,
    /// `kind = "vamp"`.
    pub vamp: MixtureConfig,
    /// `kind = "vq_vae"`.
    pub vq_vae: VqConfig,
    /// `kind = "text_vae"` or `"lstm_lm"`.
    pub text: TextConfig,
    /// `kind = "two_layer"`: the top layer h2.
    pub two_layer: TwoLayerConfig,
}

/// The prior of a text VAE.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextPrior {
    /// N(0, I).
    #[default]
    Normal,
    /// A learned Gaussian mixture, `model.gmm.components` of them.
    Gmm,
}

/// `[model.text]`: the LSTM text VAE and language model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// Token embedding width (encoder and decoder each have their own).
    pub embed: usize,
    /// LSTM width of the encoder and of the decoder.
    pub hidden: usize,
    /// Also feed z to the decoder at every step, concatenated to its input
    /// (it always sets the initial state: c₀ = W z + b, h₀ = tanh c₀).
    pub z_in_input: bool,
    /// Dropout on the decoder's input embeddings (training only).
    pub embed_dropout: f64,
    /// Dropout on the decoder's LSTM outputs, before the vocabulary layer.
    pub output_dropout: f64,
    /// Word dropout (Bowman et al. 2016): each decoder input word is
    /// replaced by `<unk>` with this probability in training; 1 = a decoder
    /// that sees no words. Not the same as `embed_dropout`.
    pub word_dropout: f64,
    /// `normal` or `gmm` (the VampPrior is not offered for text: see docs/models.md).
    pub prior: TextPrior,
    /// Biases on the dense layers: the encoder's μ and log σ² heads, z →
    /// the decoder's initial state, and the output layer. He et al. (2019)
    /// have none (their `enc_lstm.py`, `dec_lstm.py`): a model without them
    /// cannot stand a constant z or a unigram bias in for what x tells it.
    pub linear_bias: bool,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            embed: 64,
            hidden: 128,
            z_in_input: true,
            embed_dropout: 0.0,
            output_dropout: 0.0,
            word_dropout: 0.0,
            prior: TextPrior::Normal,
            linear_bias: true,
        }
    }
}

/// `[model.gmm]` and `[model.vamp]`: a mixture prior.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MixtureConfig {
    /// Mixture components K (`gmm`) or pseudo-inputs (`vamp`).
    pub components: usize,
}

impl Default for MixtureConfig {
    fn default() -> Self {
        Self { components: 10 }
    }
}

/// `[model.vq_vae]`: the codebook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VqConfig {
    /// Codebook size K.
    pub codes: usize,
    /// Size D of each code vector (channels of the quantised map).
    pub code_dim: usize,
    /// Commitment cost β in β‖z_e − sg(e)‖².
    pub commitment: f64,
    /// How the codebook learns: `ema` (exponential moving averages of the
    /// assigned encoder outputs) or `loss` (the codebook loss ‖sg(z_e) − e‖²).
    pub codebook_update: CodebookUpdate,
    /// `codebook_update = "ema"`: decay γ of the moving averages.
    pub ema_decay: f64,
    /// Move dead codes onto encoder outputs of the current batch.
    pub dead_code_restart: bool,
    /// A code is dead when its moving-average count of assignments per batch
    /// falls below this.
    pub restart_threshold: f64,
}

impl Default for VqConfig {
    fn default() -> Self {
        Self {
            codes: 128,
            code_dim: 16,
            commitment: 0.25,
            codebook_update: CodebookUpdate::Ema,
            ema_decay: 0.99,
            dead_code_restart: false,
            restart_threshold: 1.0,
        }
    }
}

/// How a VQ-VAE's codebook is learned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CodebookUpdate {
    /// Exponential moving averages (van den Oord et al. 2017, appendix A.1).
    #[default]
    Ema,
    /// Gradient descent on the codebook loss ‖sg(z_e) − e‖².
    Loss,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::Vae,
            latent_dim: 10,
            arch: Arch::Mlp,
            hidden: vec![400],
            activation: Activation::Gelu,
            init: Init::Default,
            likelihood: Likelihood::Bernoulli,
            variance: VarianceSharing::Shared,
            min_log_var: -6.0,
            gmm: MixtureConfig::default(),
            vamp: MixtureConfig::default(),
            vq_vae: VqConfig::default(),
            text: TextConfig::default(),
            two_layer: TwoLayerConfig::default(),
        }
    }
}

/// Keys that lived directly in `[model]` before each kind had its own table:
/// (old key, the kinds that read it, its place now). A config file that
/// still has them is moved over by [`ModelConfig::migrate`]; a `--set` of one
/// is an error naming the new place.
pub const MOVED_KEYS: &[(&str, &[ModelKind], &str)] = &[
    (
        "components",
        &[ModelKind::Gmm, ModelKind::Vamp],
        "model.<gmm|vamp>.components",
    ),
    ("codes", &[ModelKind::VqVae], "model.vq_vae.codes"),
    ("code_dim", &[ModelKind::VqVae], "model.vq_vae.code_dim"),
    ("commitment", &[ModelKind::VqVae], "model.vq_vae.commitment"),
    (
        "codebook_update",
        &[ModelKind::VqVae],
        "model.vq_vae.codebook_update",
    ),
    ("ema_decay", &[ModelKind::VqVae], "model.vq_vae.ema_decay"),
    (
        "dead_code_restart",
        &[ModelKind::VqVae],
        "model.vq_vae.dead_code_restart",
    ),
    (
        "restart_threshold",
        &[ModelKind::VqVae],
        "model.vq_vae.restart_threshold",
    ),
];

impl ModelConfig {
    /// Move the keys of [`MOVED_KEYS`] in a `[model]` table (a config file
    /// written before per-kind tables, such as an older run's `config.toml`)
    /// into the table of the kind the file names; a kind that does not read
    /// a key drops it, as it was ignored then too.
    pub fn migrate(model: &mut toml::Table) {
        let kind = model
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("vae")
            .to_string();
        for (old, kinds, _) in MOVED_KEYS {
            let Some(value) = model.remove(*old) else {
                continue;
            };
            if let Some(k) = kinds.iter().find(|k| k.as_str() == kind) {
                let table = model
                    .entry(k.as_str().to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(t) = table.as_table_mut() {
                    t.entry(old.to_string()).or_insert(value);
                }
            }
        }
    }

    /// Where an old `[model]` key lives now, for `--set model.codes=...`.
    pub fn moved_key(key: &str) -> Option<&'static str> {
        let old = key.strip_prefix("model.")?;
        MOVED_KEYS
            .iter()
            .find(|(k, _, _)| *k == old)
            .map(|(_, _, new)| *new)
    }

    /// Every invalid value, each naming its key.
    pub fn problems(&self, errs: &mut Vec<String>) {
        let mut check = |ok: bool, msg: String| {
            if !ok {
                errs.push(msg)
            }
        };
        match self.kind {
            ModelKind::Gmm | ModelKind::Vamp => {
                let (key, m) = if self.kind == ModelKind::Gmm {
                    ("gmm", &self.gmm)
                } else {
                    ("vamp", &self.vamp)
                };
                check(
                    m.components > 0,
                    format!(
                        "model.{key}.components = 0: a mixture prior needs at least one component"
                    ),
                );
            }
            ModelKind::VqVae => {
                let v = &self.vq_vae;
                check(
                    v.codes >= 2 && v.code_dim > 0,
                    format!(
                        "model.vq_vae.codes = {}, model.vq_vae.code_dim = {}: a codebook needs at \
                         least 2 codes of size ≥ 1",
                        v.codes, v.code_dim
                    ),
                );
                check(
                    v.commitment >= 0.0 && v.commitment.is_finite(),
                    format!("model.vq_vae.commitment = {}: must be ≥ 0", v.commitment),
                );
                check(
                    v.ema_decay > 0.0 && v.ema_decay < 1.0,
                    format!(
                        "model.vq_vae.ema_decay = {}: must be in (0, 1)",
                        v.ema_decay
                    ),
                );
                check(
                    v.restart_threshold >= 0.0 && v.restart_threshold.is_finite(),
                    format!(
                        "model.vq_vae.restart_threshold = {}: must be ≥ 0 assignments per batch",
                        v.restart_threshold
                    ),
                );
            }
            ModelKind::TextVae | ModelKind::LstmLm => {
                let t = &self.text;
                check(
                    t.embed > 0 && t.hidden > 0,
                    format!(
                        "model.text.embed = {}, model.text.hidden = {}: must be positive",
                        t.embed, t.hidden
                    ),
                );
                for (key, p) in [
                    ("embed_dropout", t.embed_dropout),
                    ("output_dropout", t.output_dropout),
                ] {
                    check(
                        (0.0..1.0).contains(&p),
                        format!("model.text.{key} = {p}: must be in [0, 1)"),
                    );
                }
                check(
                    (0.0..=1.0).contains(&t.word_dropout),
                    format!(
                        "model.text.word_dropout = {}: must be in [0, 1] (1 = no words in)",
                        t.word_dropout
                    ),
                );
                if t.prior == TextPrior::Gmm {
                    check(
                        self.gmm.components > 0,
                        "model.gmm.components = 0: a mixture prior needs at least one component"
                            .into(),
                    );
                }
            }
            ModelKind::TwoLayer => {
                let t = &self.two_layer;
                check(
                    t.latent_dim > 0,
                    "model.two_layer.latent_dim = 0: the top layer needs at least one unit".into(),
                );
                check(
                    t.hidden.iter().all(|&h| h > 0),
                    format!(
                        "model.two_layer.hidden = {:?}: layer widths must be positive",
                        t.hidden
                    ),
                );
                check(
                    self.arch == Arch::Mlp,
                    "model.arch = \"conv\" with model.kind = \"two_layer\": the two-layer \
                     model is an MLP; use model.arch = \"mlp\""
                        .into(),
                );
            }
            ModelKind::Vae => {}
        }
        check(
            self.latent_dim > 0,
            "model.latent_dim = 0: a VAE needs at least one latent dimension".into(),
        );
        check(
            self.hidden.iter().all(|&h| h > 0),
            format!(
                "model.hidden = {:?}: layer widths must be positive",
                self.hidden
            ),
        );
        check(
            self.min_log_var.is_finite(),
            format!("model.min_log_var = {}: must be finite", self.min_log_var),
        );
    }

    /// Whether the model's posterior is one-hot over a codebook (so only the
    /// plain ELBO applies: its KL is the constant P·log K).
    pub fn one_hot_posterior(&self) -> bool {
        self.kind == ModelKind::VqVae
    }

    /// Whether the decoder models binary pixels (so images are binarized).
    pub fn binarizes(&self) -> bool {
        self.likelihood == Likelihood::Bernoulli && !self.kind.reads_tokens()
    }

    /// The setting that makes the model convolutional, which needs square
    /// images whose side is a multiple of 4; None for MLP models.
    pub fn conv_setting(&self) -> Option<&'static str> {
        if self.kind == ModelKind::VqVae {
            Some("model.kind = \"vq_vae\"")
        } else if self.arch == Arch::Conv {
            Some("model.arch = \"conv\"")
        } else {
            None
        }
    }

    /// Whether this model can read data of `kind`; the error names the
    /// setting and the data's shape. Checked before a model is built.
    pub fn check_data(&self, kind: &crate::data::DataKind) -> Result<(), String> {
        if self.kind.reads_tokens() {
            return match kind {
                crate::data::DataKind::Tokens { .. } => Ok(()),
                _ => Err(format!(
                    "model.kind = \"{}\": reads sentences (--data text:DIR or synthetic-text), \
                     but the data is images of {}",
                    self.kind.as_str(),
                    kind.describe()
                )),
            };
        }
        let crate::data::DataKind::Images {
            rows,
            cols,
            channels,
        } = *kind
        else {
            return Err(format!(
                "model.kind = \"{}\": reads images, but the data is {}; for sentences use \
                 model.kind = \"text_vae\" or \"lstm_lm\"",
                self.kind.as_str(),
                kind.describe()
            ));
        };
        if let Some(which) = self.conv_setting() {
            let grid = super::nn::ImageGrid::of(rows * cols * channels);
            if rows != cols
                || grid
                    != Some(super::nn::ImageGrid {
                        channels,
                        side: rows,
                    })
            {
                return Err(format!(
                    "{which}: needs square images whose side is a multiple of 4, with 1 or 3 \
                     channels; the data gives {}",
                    kind.describe()
                ));
            }
        }
        Ok(())
    }
}
