//! The Gaussian-posterior VAE (Kingma & Welling 2014) with MLP encoder and
//! decoder, and a prior chosen by `model.kind`: the standard normal (`vae`),
//! a learned Gaussian mixture (`gmm`) or the VampPrior (`vamp`).

use super::config::{Arch, Likelihood, ModelConfig, ModelKind};
use super::nn::{ConvDecoder, ConvEncoder, ImageGrid, LikelihoodHead, Mlp, dense};
use super::prior::{
    GmmPrior, HostMixture, VampPrior, diag_gaussian_log_prob_pairs, mixture_log_prob,
    responsibilities,
};
use super::{Batch, GaussianPosterior, LatentModel, PlainMlp, Posterior, standard_normal_log_prob};
use crate::core::fused::linear;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, assert_shape};

/// Encoder MLP → (μ, log σ²) heads; decoder MLP → likelihood parameters.
#[derive(Module, Debug)]
pub struct Vae {
    pub encoder: Mlp,
    pub mean: Linear,
    pub log_var: Linear,
    pub decoder: Mlp,
    /// The MLP decoder's output layer (None with `arch = "conv"`).
    pub out: Option<Linear>,
    /// `arch = "conv"`: convolutions before the encoder MLP and after the decoder MLP.
    pub conv_enc: Option<ConvEncoder>,
    pub conv_dec: Option<ConvDecoder>,
    pub likelihood: LikelihoodHead,
    /// Set for `model.kind = "gmm"`.
    pub gmm: Option<GmmPrior>,
    /// Set for `model.kind = "vamp"`.
    pub vamp: Option<VampPrior>,
    #[module(skip)]
    pub data_dim: usize,
    #[module(skip)]
    pub latent: usize,
    /// How the dense weights were drawn (`model.init`): a decoder reset
    /// draws them the same way.
    #[module(skip)]
    pub init_kind: super::config::Init,
}

impl Vae {
    /// Build a VAE for images of `data_dim` pixels. Weights are drawn from
    /// the device's RNG: seed it first (`device.seed(s)`) for reproducibility.
    ///
    /// `arch = "conv"` needs square images whose side is a multiple of 4, with
    /// 1 or 3 channels ([`ImageGrid::of`] says whether `data_dim` qualifies).
    pub fn new(cfg: &ModelConfig, data_dim: usize, device: &Device) -> Self {
        let z = cfg.latent_dim;
        let conv = (cfg.arch == Arch::Conv).then(|| {
            let grid = ImageGrid::of(data_dim).expect("checked by the trainer");
            (
                ConvEncoder::new(grid, cfg.activation, device),
                ConvDecoder::new(
                    Some(cfg.hidden.first().copied().unwrap_or(z)),
                    grid,
                    cfg.activation,
                    device,
                ),
            )
        });
        let enc_in = conv.as_ref().map_or(data_dim, |(e, _)| e.out_dim());
        let mut enc_sizes = vec![enc_in];
        enc_sizes.extend(&cfg.hidden);
        let mut dec_sizes = vec![z];
        dec_sizes.extend(cfg.hidden.iter().rev());
        let last_enc = *enc_sizes.last().unwrap();
        let last_dec = *dec_sizes.last().unwrap();
        let (conv_enc, conv_dec) = match conv {
            Some((e, d)) => (Some(e), Some(d)),
            None => (None, None),
        };
        Self {
            encoder: Mlp::with_init(&enc_sizes, cfg.activation, cfg.init, device),
            mean: dense(last_enc, z, cfg.init, device),
            log_var: dense(last_enc, z, cfg.init, device),
            decoder: Mlp::with_init(&dec_sizes, cfg.activation, cfg.init, device),
            out: conv_dec
                .is_none()
                .then(|| dense(last_dec, data_dim, cfg.init, device)),
            conv_enc,
            conv_dec,
            likelihood: LikelihoodHead::from_config(cfg, data_dim, device),
            gmm: (cfg.kind == ModelKind::Gmm).then(|| GmmPrior::new(cfg.gmm.components, z, device)),
            vamp: (cfg.kind == ModelKind::Vamp)
                .then(|| VampPrior::new(cfg.vamp.components, data_dim, device)),
            data_dim,
            latent: z,
            init_kind: cfg.init,
        }
    }

    /// log π_k + log p_k(z) for each mixture component, `[n, K]`; None for
    /// the standard normal prior.
    fn prior_joint(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        if let Some(g) = &self.gmm {
            return Some(g.joint(z));
        }
        let v = self.vamp.as_ref()?;
        let q = self.encode(v.inputs());
        let [n, _] = z.dims();
        let k = q.mean.dims()[0];
        let pairs = diag_gaussian_log_prob_pairs(z, q.mean, q.log_var);
        Some(pairs.sub_scalar((k as f64).ln()).reshape([n, k]))
    }

    /// q(z|x).
    ///
    /// # Shapes
    /// - x: `[batch, data_dim]` -> mean, log_var `[batch, latent]`
    pub fn encode(&self, x: Tensor<2>) -> GaussianPosterior {
        assert_shape!(x, [.., self.data_dim]);
        let x = match &self.conv_enc {
            Some(c) => c.forward(x),
            None => x,
        };
        let h = self.encoder.forward(x);
        GaussianPosterior {
            mean: linear(&self.mean, h.clone()),
            log_var: linear(&self.log_var, h),
        }
    }

    /// The decoder's raw output (Bernoulli logits or Gaussian means).
    ///
    /// # Shapes
    /// - z: `[batch, latent]` -> `[batch, data_dim]`
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        assert_shape!(z, [.., self.latent]);
        let h = self.decoder.forward(z);
        match (&self.conv_dec, &self.out) {
            (Some(c), _) => c.forward(h),
            (None, Some(out)) => linear(out, h),
            (None, None) => unreachable!("a Vae has an output layer or a conv decoder"),
        }
    }
}

impl LatentModel for Vae {
    /// The MLP decoder can be re-drawn (a convolutional one is not offered).
    fn can_reset_decoder(&self) -> bool {
        self.conv_dec.is_none()
    }

    /// Li et al. (2019)'s reset: new weights for the decoder MLP and its
    /// output layer, drawn as `model.init` says on the CPU from `seed`,
    /// then loaded on the model's device; the encoder, the prior and the
    /// Gaussian likelihood's learned variance are kept.
    fn reset_decoder(self, seed: u64) -> Self {
        if !self.can_reset_decoder() {
            return self;
        }
        let device = self.mean.weight.device();
        let dims = |l: &Linear| {
            let [i, o] = l.weight.dims();
            (i, o)
        };
        let sizes: Vec<(usize, usize)> = self.decoder.layers.iter().map(dims).collect();
        let out = self.out.as_ref().map(dims);
        let init = self.init_kind;
        let (layers, out_rec) = {
            let host = Device::flex();
            let _guard = super::build::host_rng_lock();
            host.seed(seed ^ 0xdec0_de00);
            (
                sizes
                    .iter()
                    .map(|&(i, o)| dense(i, o, init, &host).into_record())
                    .collect::<Vec<_>>(),
                out.map(|(i, o)| dense(i, o, init, &host).into_record()),
            )
        };
        let decoder = Mlp {
            layers: sizes
                .iter()
                .zip(layers)
                .map(|(&(i, o), r)| {
                    burn::nn::LinearConfig::new(i, o)
                        .init(&device)
                        .load_record(r)
                })
                .collect(),
            activation: self.decoder.activation,
        };
        let out = out.zip(out_rec).map(|((i, o), r)| {
            burn::nn::LinearConfig::new(i, o)
                .init(&device)
                .load_record(r)
        });
        Self {
            decoder,
            out,
            ..self
        }
    }

    /// q(z|x): the convolutions (if any), the encoder MLP and the μ and
    /// log σ² heads.
    fn encoder_params(&self) -> Vec<burn::module::ParamId> {
        let mut ids = burn::module::list_param_ids(&self.encoder);
        ids.extend(burn::module::list_param_ids(&self.mean));
        ids.extend(burn::module::list_param_ids(&self.log_var));
        if let Some(c) = &self.conv_enc {
            ids.extend(burn::module::list_param_ids(c));
        }
        ids
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }

    fn encode(&self, x: &Batch) -> Posterior {
        Posterior::Gaussian(Vae::encode(self, x.images().clone()))
    }

    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        self.likelihood.log_prob(x.images().clone(), self.decode(z))
    }

    fn log_prior(&self, z: Tensor<2>) -> Tensor<1> {
        match self.prior_joint(z.clone()) {
            Some(joint) => mixture_log_prob(joint),
            None => standard_normal_log_prob(z),
        }
    }

    /// Analytic per dimension for the standard normal; for mixtures the
    /// one-sample estimate log q(z|x) − log p(z) as a single group `[batch, 1]`.
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        let posterior = posterior.gaussian().expect("a Vae's posterior is Gaussian");
        if self.gmm.is_none() && self.vamp.is_none() {
            return super::standard_normal_kl(posterior);
        }
        let [b, _] = z.dims();
        (posterior.log_prob(z.clone()) - self.log_prior(z)).reshape([b, 1])
    }

    /// Mixture priors: pick a component per draw (by the mixing weights, or
    /// uniformly for the VampPrior), then z ~ N(μ_k, σ_k²).
    fn sample_prior(&self, n: usize, seed: u64, device: &Device) -> Tensor<2> {
        let zd = self.latent;
        let (means, log_vars, weights) = if let Some(g) = &self.gmm {
            let w = crate::core::host::read(burn::tensor::activation::softmax(g.logits.val(), 0));
            (
                crate::core::host::read(g.means.val()),
                crate::core::host::read(g.log_vars.val()),
                w,
            )
        } else if let Some(v) = &self.vamp {
            let q = self.encode(v.inputs());
            let k = q.mean.dims()[0];
            (
                crate::core::host::read(q.mean),
                crate::core::host::read(q.log_var),
                vec![1.0 / k as f32; k],
            )
        } else {
            let draws = crate::core::rng::host_normal(
                n,
                zd,
                seed,
                crate::core::rng::Purpose::Eval,
                crate::core::rng::key::SAMPLING,
                crate::core::rng::key::PRIOR_NORMAL,
            );
            return crate::core::host::upload(draws, n, zd, device);
        };
        let out = super::prior::sample_host_mixture(&means, &log_vars, &weights, n, seed);
        crate::core::host::upload(out, n, zd, device)
    }

    fn prior_responsibilities(&self, z: Tensor<2>) -> Option<Tensor<2>> {
        self.prior_joint(z).map(responsibilities)
    }

    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        (self.likelihood.mean(self.decode(z)), self.likelihood.std())
    }

    fn plain_mlp(&self) -> Option<PlainMlp<'_>> {
        if self.conv_enc.is_some() {
            return None;
        }
        let mixture = match (&self.gmm, &self.vamp) {
            (Some(g), _) => Some(HostMixture::of_gmm(g)),
            (None, Some(v)) => {
                let q = self.encode(v.inputs());
                Some(HostMixture::equal_weights(q.mean, q.log_var))
            }
            (None, None) => None,
        };
        let gaussian_log_var = match self.likelihood.kind {
            Likelihood::Bernoulli => None,
            Likelihood::Gaussian => Some(crate::core::host::read(self.likelihood.log_var_row()?)),
        };
        Some(PlainMlp {
            encoder: &self.encoder.layers,
            mean: &self.mean,
            log_var: &self.log_var,
            decoder: &self.decoder.layers,
            out: self.out.as_ref()?,
            activation: self.encoder.activation,
            latent: self.latent,
            data_dim: self.data_dim,
            mixture,
            gaussian_log_var,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn shapes_and_terms() {
        let device = burn::tensor::Device::flex();
        device.seed(0);
        let cfg = ModelConfig {
            latent_dim: 3,
            hidden: vec![8, 6],
            ..ModelConfig::default()
        };
        let vae = Vae::new(&cfg, 5, &device);
        let x = Tensor::<2>::from_data(
            TensorData::new(
                vec![0.0f32, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
                [2, 5],
            ),
            &device,
        );
        let f = vae.forward(&Batch::Images(x), Tensor::zeros([2, 3], &device));
        assert_eq!(f.terms.rec_ll.dims(), [2]);
        assert_eq!(f.terms.kl.dims(), [2, 3]);
        let kl = crate::core::host::read(f.terms.kl);
        assert!(kl.iter().all(|&k| k >= 0.0));
        // A Bernoulli log-likelihood of binary data is ≤ 0.
        let ll = crate::core::host::read(f.terms.rec_ll);
        assert!(ll.iter().all(|&l| l <= 0.0));
    }

    #[test]
    fn gaussian_head_log_prob_matches_closed_form() {
        let device = burn::tensor::Device::flex();
        let cfg = ModelConfig {
            likelihood: Likelihood::Gaussian,
            ..ModelConfig::default()
        };
        let head = LikelihoodHead::new(cfg.likelihood, cfg.variance, 2, -6.0, &device);
        // σ² = 1 at init: log N(x; μ, 1) summed over 2 pixels.
        let x = Tensor::<2>::from_floats([[0.5, -1.0]], &device);
        let mu = Tensor::<2>::from_floats([[0.0, 1.0]], &device);
        let got = head.log_prob(x, mu).into_scalar::<f32>() as f64;
        let c = -0.5 * (2.0 * std::f64::consts::PI).ln();
        let want = (c - 0.5 * 0.25) + (c - 0.5 * 4.0);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn bernoulli_head_matches_log_sigmoid_closed_form() {
        let device = burn::tensor::Device::flex();
        let head = LikelihoodHead::new(Likelihood::Bernoulli, Default::default(), 3, -6.0, &device);
        let x = Tensor::<2>::from_floats([[1.0, 0.0, 1.0]], &device);
        let l = [2.0f64, -30.0, -40.0];
        let logits = Tensor::<2>::from_floats([[l[0] as f32, l[1] as f32, l[2] as f32]], &device);
        let got = head.log_prob(x, logits).into_scalar::<f32>() as f64;
        // log σ(2) + log(1 − σ(−30)) + log σ(−40), the last ≈ −40 (no overflow).
        let ls = |v: f64| -(1.0 + (-v).exp()).ln();
        let want = ls(2.0) + ls(30.0) + (-40.0 - (-40f64).exp().ln_1p());
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}
