//! The LSTM text VAE (Bowman et al. 2016) and its decoder alone, the LSTM
//! language model.
//!
//! - Encoder: token embedding → one LSTM layer over the whole sentence
//!   (`<s> w₁ … wₙ </s>`) → its state at the last real token → μ, log σ².
//! - Decoder: its own embedding of `<s> w₁ … wₙ`; z sets the initial state
//!   (c₀ = W z + b, h₀ = tanh c₀) and, with `model.text.z_in_input`, is
//!   concatenated to the input at every step; one LSTM layer → a linear
//!   layer to the vocabulary predicts `w₁ … wₙ </s>`.
//! - log p(x|z) is the categorical of [`crate::core::likelihood::categorical`]:
//!   padding counts for nothing, in the sum or anywhere else.
//! - Training noise (word dropout, embedding and output dropout) is drawn on
//!   the host from streams keyed by `(seed, step)` — set on the batch by
//!   [`LatentModel::prepare_batch`] — so a resumed run repeats it exactly and
//!   evaluation (whose batches are not prepared) has none.
//!
//! The language model (`model.kind = "lstm_lm"`) is this decoder with no
//! latent: its "posterior" is the prior N(0, 1) over one unused dimension,
//! so its KL is exactly 0, its importance weights are all log p(x), and it
//! runs through the same trainer, monitor and evaluator as any VAE.

use super::config::{Init, ModelConfig, ModelKind, TextPrior};
use super::lstm::{FusedLstm, State};
use super::nn::dense_with_bias;
use super::prior::{GmmPrior, mixture_log_prob, responsibilities, sample_diag_mixture};
use super::{
    Batch, GaussianPosterior, LatentModel, Posterior, TokenBatch, standard_normal_log_prob,
};
use crate::core::likelihood::categorical;
use crate::core::rng::{Purpose, key, stream};
use crate::data::text::{BOS, EOS, UNK};
use burn::module::{Module, ParamId};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;

/// The encoder q(z|x): what aggressive training updates alone.
#[derive(Module, Debug)]
pub struct TextEncoder {
    pub embed: Embedding,
    pub lstm: FusedLstm,
    pub mean: Linear,
    pub log_var: Linear,
}

/// A text VAE, or (no encoder) an LSTM language model.
#[derive(Module, Debug)]
pub struct TextVae {
    /// None for the language model.
    pub encoder: Option<TextEncoder>,
    pub embed: Embedding,
    /// z → c₀; None for the language model (its state starts at zero).
    pub init: Option<Linear>,
    pub decoder: FusedLstm,
    pub out: Linear,
    /// `model.text.prior = "gmm"`.
    pub gmm: Option<GmmPrior>,
    #[module(skip)]
    pub latent: usize,
    #[module(skip)]
    pub vocab: usize,
    #[module(skip)]
    pub z_in_input: bool,
    #[module(skip)]
    pub embed_dropout: f64,
    #[module(skip)]
    pub output_dropout: f64,
    #[module(skip)]
    pub word_dropout: f64,
    /// `model.init`: how [`TextVae::reset_decoder`] draws new weights too.
    #[module(skip)]
    pub init_kind: Init,
    /// `model.text.linear_bias`, for [`TextVae::reset_decoder`] too.
    #[module(skip)]
    pub linear_bias: bool,
}

/// An embedding table as `init` draws it.
fn embedding(vocab: usize, d: usize, init: Init, device: &Device) -> Embedding {
    let c = EmbeddingConfig::new(vocab, d);
    match init {
        Init::Uniform => c
            .with_initializer(burn::nn::Initializer::Uniform {
                min: -Init::UNIFORM_EMBED_SCALE,
                max: Init::UNIFORM_EMBED_SCALE,
            })
            .init(device),
        _ => c.init(device),
    }
}

/// An LSTM as `init` draws it.
fn lstm(d_in: usize, hidden: usize, init: Init, device: &Device) -> FusedLstm {
    match init {
        Init::Uniform => FusedLstm::uniform(d_in, hidden, Init::UNIFORM_SCALE, device),
        _ => FusedLstm::new(d_in, hidden, device),
    }
}

impl TextVae {
    /// A text VAE (`text_vae`) or language model (`lstm_lm`) over `vocab`
    /// ids; weights from the device's RNG (seed it first).
    pub fn new(cfg: &ModelConfig, vocab: usize, device: &Device) -> Self {
        let t = &cfg.text;
        let lm = cfg.kind == ModelKind::LstmLm;
        let z = if lm { 1 } else { cfg.latent_dim };
        let z_in = t.z_in_input && !lm;
        let (i, bias) = (cfg.init, t.linear_bias);
        Self {
            encoder: (!lm).then(|| TextEncoder {
                embed: embedding(vocab, t.embed, i, device),
                lstm: lstm(t.embed, t.hidden, i, device),
                mean: dense_with_bias(t.hidden, z, i, bias, device),
                log_var: dense_with_bias(t.hidden, z, i, bias, device),
            }),
            embed: embedding(vocab, t.embed, i, device),
            init: (!lm).then(|| dense_with_bias(z, t.hidden, i, bias, device)),
            decoder: lstm(t.embed + if z_in { z } else { 0 }, t.hidden, i, device),
            out: dense_with_bias(t.hidden, vocab, i, bias, device),
            gmm: (!lm && t.prior == TextPrior::Gmm)
                .then(|| GmmPrior::new(cfg.gmm.components, z, device)),
            latent: z,
            vocab,
            z_in_input: z_in,
            embed_dropout: t.embed_dropout,
            output_dropout: t.output_dropout,
            word_dropout: t.word_dropout,
            init_kind: i,
            linear_bias: bias,
        }
    }

    /// Whether this is the language model (no encoder).
    pub fn is_lm(&self) -> bool {
        self.encoder.is_none()
    }

    /// The decoder's initial state from z.
    fn start(&self, z: Tensor<2>) -> State {
        let [n, _] = z.dims();
        match &self.init {
            Some(init) => {
                let cell = init.forward(z);
                State {
                    hidden: cell.clone().tanh(),
                    cell,
                }
            }
            None => State::zeros(n, self.decoder.hidden, &z.device()),
        }
    }

    /// The decoder's input at each position: embedding (dropped out in
    /// training), then z when it is fed at every step.
    fn inputs(&self, ids: Tensor<2, Int>, z: &Tensor<2>, noise: Option<u64>) -> Tensor<3> {
        let [n, t] = ids.dims();
        let e = dropout(self.embed.forward(ids), self.embed_dropout, noise, 0);
        if !self.z_in_input {
            return e;
        }
        let zt = z.clone().unsqueeze_dim::<3>(1).expand([n, t, self.latent]);
        Tensor::cat(vec![e, zt], 2)
    }

    /// Logits over the vocabulary for every position after the first,
    /// `[n, T−1, V]`, from the decoder inputs `<s> w₁ … wₙ` (padding after).
    pub fn logits(&self, x: &TokenBatch, z: Tensor<2>) -> Tensor<3> {
        let [n, t] = x.ids.dims();
        let ids = x.decoder_ids.clone().unwrap_or_else(|| x.ids.clone());
        let input = self.inputs(ids.narrow(1, 0, t - 1), &z, x.noise_key);
        let h = self.decoder.forward(input, self.start(z));
        let h = dropout(h, self.output_dropout, x.noise_key, 1);
        let [_, _, hd] = h.dims();
        self.out
            .forward(h.reshape([n * (t - 1), hd]))
            .reshape([n, t - 1, self.vocab])
    }

    /// Sentences decoded from `z` `[n, latent]`, token by token from `<s>`
    /// until `</s>` or `max_len` words: sampled from p(x|z) with the host
    /// stream [`key::TOKEN_SAMPLING`], or the most likely token at each step
    /// when `greedy`. Ids without `<s>` and `</s>`.
    pub fn generate(&self, z: Tensor<2>, max_len: usize, greedy: bool, seed: u64) -> Vec<Vec<u32>> {
        let [n, _] = z.dims();
        let device = z.device();
        let mut rng = stream(seed, Purpose::Eval, key::TOKEN_SAMPLING, 0);
        let mut state = self.start(z.clone());
        let mut prev = vec![BOS as i64; n];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut done = vec![false; n];
        for _ in 0..=max_len {
            let ids = Tensor::<2, Int>::from_data(TensorData::new(prev.clone(), [n, 1]), &device);
            let x = self
                .inputs(ids, &z, None)
                .reshape([n, self.decoder.input.weight.dims()[0]]);
            state = self.decoder.step(x, state);
            let logits = self.out.forward(state.hidden.clone());
            let p = crate::core::host::read(burn::tensor::activation::softmax(logits, 1));
            for (i, row) in p.chunks(self.vocab).enumerate() {
                if done[i] {
                    continue;
                }
                let tok = if greedy {
                    row.iter()
                        .enumerate()
                        .filter(|(k, _)| *k as u32 != BOS)
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(EOS, |(k, _)| k as u32)
                } else {
                    let mut u: f32 = rng.random::<f32>() * row.iter().sum::<f32>();
                    let mut pick = EOS;
                    for (k, &pk) in row.iter().enumerate() {
                        if u < pk {
                            pick = k as u32;
                            break;
                        }
                        u -= pk;
                    }
                    pick
                };
                if tok == EOS || out[i].len() >= max_len {
                    done[i] = true;
                } else {
                    out[i].push(tok);
                }
                prev[i] = tok as i64;
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        out
    }
}

/// Inverted dropout with a host-drawn mask from the stream `(key, Dropout,
/// which)`: the same mask on every device and on a resumed run. No key (not
/// training) or p = 0: the input unchanged.
fn dropout(x: Tensor<3>, p: f64, key: Option<u64>, which: u64) -> Tensor<3> {
    let Some(key) = key.filter(|_| p > 0.0) else {
        return x;
    };
    let dims = x.dims();
    let mut rng = stream(key, Purpose::Dropout, which, 0);
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|_| if rng.random::<f64>() < p { 0.0 } else { scale })
        .collect();
    x.clone() * Tensor::<3>::from_data(TensorData::new(mask, dims), &x.device())
}

impl LatentModel for TextVae {
    fn latent_dim(&self) -> usize {
        self.latent
    }

    fn encode(&self, x: &Batch) -> Posterior {
        let t = x.tokens();
        let [n, _] = t.ids.dims();
        let Some(enc) = &self.encoder else {
            let device = t.ids.device();
            return Posterior::Gaussian(GaussianPosterior {
                mean: Tensor::zeros([n, 1], &device),
                log_var: Tensor::zeros([n, 1], &device),
            });
        };
        let e = enc.embed.forward(t.ids.clone());
        let start = State::zeros(n, enc.lstm.hidden, &e.device());
        let outs = enc.lstm.forward(e, start);
        let last = FusedLstm::last_hidden(outs, &t.lengths);
        Posterior::Gaussian(GaussianPosterior {
            mean: enc.mean.forward(last.clone()),
            log_var: enc.log_var.forward(last),
        })
    }

    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        let t = x.tokens();
        let len = t.ids.dims()[1];
        let targets = t.ids.clone().narrow(1, 1, len - 1);
        let mask = t.mask.clone().narrow(1, 1, len - 1);
        categorical(targets, mask, self.logits(t, z))
    }

    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        match &self.gmm {
            Some(g) => mixture_log_prob(g.joint(z)),
            None => standard_normal_log_prob(z),
        }
    }

    /// Analytic per dimension under N(0, I) (exactly 0 for the language
    /// model); a mixture prior's one-sample estimate as one group.
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        let q = posterior
            .gaussian()
            .expect("a text VAE's posterior is Gaussian");
        if self.gmm.is_none() {
            return super::standard_normal_kl(q);
        }
        let [b, _] = z.dims();
        (q.log_prob(z.clone()) - self.log_prior(z)).reshape([b, 1])
    }

    /// Word dropout, and the key of the step's dropout masks.
    fn prepare_batch(&self, batch: Batch, step: usize, seed: u64) -> Batch {
        let Batch::Tokens(mut t) = batch else {
            return batch;
        };
        t.noise_key =
            Some(stream(seed, Purpose::Dropout, step as u64, key::STEP_DROPOUT_KEY).random());
        if self.word_dropout > 0.0 {
            let [n, len] = t.ids.dims();
            let mut rng = stream(seed, Purpose::WordDropout, step as u64, 0);
            // 1 where a word (not <s>, not padding) is replaced by <unk>.
            let mut drop = vec![0i64; n * len];
            for (i, &l) in t.lengths.iter().enumerate() {
                for p in 1..l.saturating_sub(1) {
                    drop[i * len + p] = (rng.random::<f64>() < self.word_dropout) as i64;
                }
            }
            let device = t.ids.device();
            let drop = Tensor::<2, Int>::from_data(TensorData::new(drop, [n, len]), &device);
            let keep = drop.clone().neg().add_scalar(1);
            t.decoder_ids = Some(t.ids.clone() * keep + drop.mul_scalar(UNK as i64));
        }
        Batch::Tokens(t)
    }

    fn prior_responsibilities(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        self.gmm.as_ref().map(|g| responsibilities(g.joint(z)))
    }

    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        let zd = self.latent;
        let draws = match &self.gmm {
            Some(g) => sample_diag_mixture(g, n, seed),
            None => crate::core::rng::host_normal(
                n,
                zd,
                seed,
                Purpose::Eval,
                key::SAMPLING,
                key::PRIOR_NORMAL,
            ),
        };
        crate::core::host::upload(draws, n, zd, device)
    }

    /// Text has no mean image: the greedy sentence is what `vaekit sample`
    /// writes instead ([`TextVae::generate`]). Here: z itself, for callers
    /// that only need a shape.
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        (z, None)
    }

    fn generate_tokens(
        &self,
        z: Tensor<2>,
        max_len: usize,
        greedy: bool,
        seed: u64,
    ) -> Option<Vec<Vec<u32>>> {
        Some(self.generate(z, max_len, greedy, seed))
    }

    fn encoder_params(&self) -> Vec<ParamId> {
        self.encoder
            .as_ref()
            .map(burn::module::list_param_ids)
            .unwrap_or_default()
    }

    /// The text VAE's; the language model has nothing to pre-train for.
    fn can_reset_decoder(&self) -> bool {
        !self.is_lm()
    }

    fn has_latent(&self) -> bool {
        !self.is_lm()
    }

    /// New decoder weights (embedding, z → state, LSTM, output layer) from
    /// the stream of `seed`; the encoder and the prior are kept.
    fn reset_decoder(self, seed: u64) -> Self {
        let device = self.out.weight.device();
        let v = self.vocab;
        let (e, h) = (self.embed.weight.dims()[1], self.decoder.hidden);
        let d_in = e + if self.z_in_input { self.latent } else { 0 };
        let z = self.latent;
        let has_init = self.init.is_some();
        let bias = self.linear_bias;
        // Drawn on the CPU from the seed, then loaded into modules on the
        // model's device: the same weights on every device (as build_model).
        let (embed, init, decoder, out) = {
            let host = Device::flex();
            let _guard = super::build::host_rng_lock();
            host.seed(seed ^ 0xdec0_de00);
            let i = self.init_kind;
            (
                embedding(v, e, i, &host).into_record(),
                has_init.then(|| dense_with_bias(z, h, i, bias, &host).into_record()),
                lstm(d_in, h, i, &host).into_record(),
                dense_with_bias(h, v, i, bias, &host).into_record(),
            )
        };
        Self {
            embed: EmbeddingConfig::new(v, e).init(&device).load_record(embed),
            init: init.map(|r| {
                LinearConfig::new(z, h)
                    .with_bias(bias)
                    .init(&device)
                    .load_record(r)
            }),
            decoder: FusedLstm::new(d_in, h, &device).load_record(decoder),
            out: LinearConfig::new(h, v)
                .with_bias(bias)
                .init(&device)
                .load_record(out),
            ..self
        }
    }
}
