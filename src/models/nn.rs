//! Building blocks: an MLP with a configurable nonlinearity, and the decoder
//! likelihood heads p(x|z).

use super::config::{Activation, Init, Likelihood, ModelConfig, VarianceSharing};
use crate::core::likelihood;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{gelu, leaky_relu, relu, sigmoid, tanh};
use burn::tensor::{Device, Tensor};

/// Apply a hidden-layer nonlinearity.
pub fn activate<const D: usize>(x: Tensor<D>, a: Activation) -> Tensor<D> {
    match a {
        Activation::Gelu => gelu(x),
        Activation::LeakyRelu => leaky_relu(x, 0.01),
        Activation::Tanh => tanh(x),
        Activation::Relu => relu(x),
    }
}

/// A stack of linear layers with a nonlinearity after each one.
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    /// Layers `sizes[0] -> sizes[1] -> ... -> sizes[n]`, each followed by `activation`.
    pub fn new(sizes: &[usize], activation: Activation, device: &Device) -> Self {
        Self::with_init(sizes, activation, Init::Default, device)
    }

    /// [`Mlp::new`] with the weights drawn as `init` says.
    pub fn with_init(sizes: &[usize], activation: Activation, init: Init, device: &Device) -> Self {
        let layers = sizes
            .windows(2)
            .map(|w| dense(w[0], w[1], init, device))
            .collect();
        Self { layers, activation }
    }

    /// # Shapes
    /// - x: `[batch, sizes[0]]` -> `[batch, sizes[n]]`
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.layers {
            x = activate(crate::core::fused::linear(layer, x), self.activation);
        }
        x
    }
}

/// A dense layer `d_in -> d_out` with its weights drawn as `init` says
/// (from the device's RNG, like burn's own initialisers).
pub fn dense(d_in: usize, d_out: usize, init: Init, device: &Device) -> Linear {
    dense_with_bias(d_in, d_out, init, true, device)
}

/// [`dense`], with or without a bias.
pub fn dense_with_bias(
    d_in: usize,
    d_out: usize,
    init: Init,
    bias: bool,
    device: &Device,
) -> Linear {
    let config = LinearConfig::new(d_in, d_out).with_bias(bias);
    match init {
        Init::Default => config.init(device),
        Init::Glorot => {
            let a = (6.0 / (d_in + d_out) as f64).sqrt();
            let mut layer = config
                .with_initializer(Initializer::Uniform { min: -a, max: a })
                .init(device);
            layer.bias = layer.bias.map(|b| b.map(|t| t.zeros_like()));
            layer
        }
        Init::Uniform => config
            .with_initializer(Initializer::Uniform {
                min: -Init::UNIFORM_SCALE,
                max: Init::UNIFORM_SCALE,
            })
            .init(device),
    }
}

/// The decoder's likelihood p(x|z): turns the decoder's last layer into a
/// per-example log-likelihood, a mean, or a sample.
#[derive(Module, Debug)]
pub struct LikelihoodHead {
    /// Gaussian only: unconstrained log σ², one value or one per pixel.
    pub log_var: Option<Param<Tensor<1>>>,
    #[module(skip)]
    pub kind: Likelihood,
    #[module(skip)]
    pub min_log_var: f64,
}

impl LikelihoodHead {
    /// The head `cfg` (`model.likelihood`, `variance`, `min_log_var`) asks
    /// for, over `data_dim` values.
    pub fn from_config(cfg: &ModelConfig, data_dim: usize, device: &Device) -> Self {
        Self::new(
            cfg.likelihood,
            cfg.variance,
            data_dim,
            cfg.min_log_var,
            device,
        )
    }

    pub fn new(
        kind: Likelihood,
        sharing: VarianceSharing,
        dim: usize,
        min_log_var: f64,
        device: &Device,
    ) -> Self {
        let log_var = match kind {
            Likelihood::Bernoulli => None,
            Likelihood::Gaussian => {
                let n = match sharing {
                    VarianceSharing::Shared => 1,
                    VarianceSharing::PerPixel => dim,
                };
                Some(Param::from_tensor(Tensor::zeros([n], device)))
            }
        };
        Self {
            log_var,
            kind,
            min_log_var,
        }
    }

    /// log σ² as a `[1, dim]` or `[1, 1]` row, clamped below at `min_log_var`.
    pub fn log_var_row(&self) -> Option<Tensor<2>> {
        self.log_var
            .as_ref()
            .map(|p| p.val().clamp_min(self.min_log_var).unsqueeze_dim::<2>(0))
    }

    /// log p(x|z) summed over pixels, every normalising constant kept.
    ///
    /// Bernoulli: `x·l + log σ(−l)` (= `x·l − softplus(l)`), one
    /// transcendental per pixel. Gaussian: `−½(log 2π + log σ² + (x−μ)²/σ²)`.
    ///
    /// # Shapes
    /// - x, out: `[batch, dim]` -> `[batch]`
    pub fn log_prob(&self, x: Tensor<2>, out: Tensor<2>) -> Tensor<1> {
        match self.log_var_row() {
            None => likelihood::bernoulli(x, out),
            Some(lv) => likelihood::gaussian(x, out, lv),
        }
    }

    /// E[x|z]: `sigmoid(l)` for Bernoulli, μ for Gaussian.
    pub fn mean(&self, out: Tensor<2>) -> Tensor<2> {
        match self.kind {
            Likelihood::Bernoulli => sigmoid(out),
            Likelihood::Gaussian => out,
        }
    }

    /// σ per pixel for Gaussian heads (`[1, dim]` or `[1, 1]`); None for Bernoulli.
    pub fn std(&self) -> Option<Tensor<2>> {
        self.log_var_row().map(|lv| lv.mul_scalar(0.5).exp())
    }
}

/// The image shape a convolutional model works on: square, with a side that
/// is a multiple of 4, and 1 (grayscale) or 3 (RGB) channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageGrid {
    pub channels: usize,
    pub side: usize,
}

impl ImageGrid {
    /// The grid of flat images of `data_dim` values, if the conv models can
    /// take it. The channel count follows from `data_dim` alone: side² is a
    /// square and 3·side² never is, so 784 is 28×28×1 and 3072 is 32×32×3.
    pub fn of(data_dim: usize) -> Option<Self> {
        [1, 3].into_iter().find_map(|channels| {
            if data_dim % channels != 0 {
                return None;
            }
            let pixels = data_dim / channels;
            let side = (pixels as f64).sqrt().round() as usize;
            (side * side == pixels && side % 4 == 0 && side > 0).then_some(Self { channels, side })
        })
    }

    /// Values per image.
    pub fn dim(&self) -> usize {
        self.channels * self.side * self.side
    }
}

/// A convolutional encoder for square images (1 or 3 channels) whose side is
/// a multiple of 4: two stride-2 convolutions (4×4 kernels, padding 1;
/// 28 → 14 → 7, 32 → 16 → 8) with 32 and 64 channels, then flattened.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    pub conv1: burn::nn::conv::Conv2d,
    pub conv2: burn::nn::conv::Conv2d,
    #[module(skip)]
    pub side: usize,
    #[module(skip)]
    pub channels: usize,
    #[module(skip)]
    pub activation: Activation,
}

/// Channels of the second convolution, and so of the decoder's first map.
pub const CONV_CHANNELS: usize = 64;

impl ConvEncoder {
    pub fn new(grid: ImageGrid, activation: Activation, device: &Device) -> Self {
        use burn::nn::PaddingConfig2d;
        use burn::nn::conv::Conv2dConfig;
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(grid.channels, 32),
            conv2: conv(32, CONV_CHANNELS),
            side: grid.side,
            channels: grid.channels,
            activation,
        }
    }

    /// Width of the flattened output.
    pub fn out_dim(&self) -> usize {
        CONV_CHANNELS * (self.side / 4) * (self.side / 4)
    }

    /// # Shapes
    /// - x: `[batch, side·side]` -> `[batch, 64·(side/4)²]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        self.forward_map(x).reshape([b, self.out_dim()])
    }

    /// The feature map before flattening.
    ///
    /// # Shapes
    /// - x: `[batch, channels·side·side]` -> `[batch, 64, side/4, side/4]`
    pub fn forward_map(&self, x: Tensor<2>) -> Tensor<4> {
        let [b, _] = x.dims();
        let x = x.reshape([b, self.channels, self.side, self.side]);
        let h = activate(self.conv1.forward(x), self.activation);
        activate(self.conv2.forward(h), self.activation)
    }
}

/// The mirror of [`ConvEncoder`]: a linear layer to a 64×(side/4)² map
/// (none when the input already is a map, as in the VQ-VAE), then two
/// stride-2 transposed convolutions back to `side × side`.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    pub input: Option<Linear>,
    pub deconv1: burn::nn::conv::ConvTranspose2d,
    pub deconv2: burn::nn::conv::ConvTranspose2d,
    #[module(skip)]
    pub side: usize,
    #[module(skip)]
    pub channels: usize,
    #[module(skip)]
    pub activation: Activation,
}

impl ConvDecoder {
    /// `latent = None`: no input layer; use [`ConvDecoder::forward_map`].
    pub fn new(
        latent: Option<usize>,
        grid: ImageGrid,
        activation: Activation,
        device: &Device,
    ) -> Self {
        let side = grid.side;
        use burn::nn::conv::ConvTranspose2dConfig;
        let deconv = |i, o| {
            ConvTranspose2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        Self {
            input: latent.map(|l| {
                LinearConfig::new(l, CONV_CHANNELS * (side / 4) * (side / 4)).init(device)
            }),
            deconv1: deconv(CONV_CHANNELS, 32),
            deconv2: deconv(32, grid.channels),
            side,
            channels: grid.channels,
            activation,
        }
    }

    /// The decoder's raw output (logits or means), flattened.
    ///
    /// # Shapes
    /// - z: `[batch, latent]` -> `[batch, side·side]`
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let [b, _] = z.dims();
        let q = self.side / 4;
        let input = self
            .input
            .as_ref()
            .expect("a decoder built with an input layer");
        let h = activate(input.forward(z), self.activation).reshape([b, CONV_CHANNELS, q, q]);
        self.forward_map(h)
    }

    /// From a 64×(side/4)² feature map.
    ///
    /// # Shapes
    /// - h: `[batch, 64, side/4, side/4]` -> `[batch, channels·side·side]`
    pub fn forward_map(&self, h: Tensor<4>) -> Tensor<2> {
        let [b, _, _, _] = h.dims();
        let h = activate(self.deconv1.forward(h), self.activation);
        self.deconv2
            .forward(h)
            .reshape([b, self.channels * self.side * self.side])
    }
}

#[cfg(test)]
mod grid_tests {
    use super::ImageGrid;

    #[test]
    fn image_grid_follows_from_the_number_of_values() {
        let g = |channels, side| Some(ImageGrid { channels, side });
        assert_eq!(ImageGrid::of(784), g(1, 28));
        assert_eq!(ImageGrid::of(3072), g(3, 32));
        assert_eq!(ImageGrid::of(64), g(1, 8));
        assert_eq!(ImageGrid::of(3 * 64), g(3, 8));
        // 10×10 (side not a multiple of 4), 30 values (not square either way).
        assert_eq!(ImageGrid::of(100), None);
        assert_eq!(ImageGrid::of(30), None);
        assert_eq!(ImageGrid::of(0), None);
    }
}
