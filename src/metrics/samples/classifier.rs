//! The feature network: a LeNet-5-like classifier (LeCun et al. 1998)
//! trained by vaekit on a dataset's labelled training split, from a seed.
//!
//! Inception weights cannot be had offline and mean little on 28×28
//! digits, so the Fréchet distance and the k-NN metrics use this network's
//! penultimate layer (84 units, after ReLU) instead, and the classifier
//! score and mode counts its softmax. Its test accuracy is stored with
//! every number computed from it. It is trained once per dataset and
//! cached ([`super::cache`]).
//!
//! Layers (side s, C channels): conv 5×5 C→6 (padding 2) · ReLU · max-pool
//! 2 → conv 5×5 6→16 · ReLU · max-pool 2 → linear 16·((s/2−4)/2)² → 120 ·
//! ReLU → 84 · ReLU → classes.

use crate::core::host;
use crate::core::rng::{Purpose, stream};
use crate::data::ImageSet;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Width of the feature layer.
pub const FEATURES: usize = 84;

/// How the classifier is trained; part of its cache key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            epochs: 12,
            batch_size: 64,
            lr: 2e-3,
            seed: 0,
        }
    }
}

#[derive(Module, Debug)]
pub struct LeNet {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    out: Linear,
    #[module(skip)]
    side: usize,
    #[module(skip)]
    channels: usize,
}

impl LeNet {
    /// For `side × side` images of `channels` channels (side even, ≥ 12), `classes` classes.
    pub fn new(side: usize, channels: usize, classes: usize, device: &Device) -> Self {
        let flat = 16 * ((side / 2 - 4) / 2).pow(2);
        Self {
            conv1: Conv2dConfig::new([channels, 6], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(device),
            conv2: Conv2dConfig::new([6, 16], [5, 5]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(flat, 120).init(device),
            fc2: LinearConfig::new(120, FEATURES).init(device),
            out: LinearConfig::new(FEATURES, classes).init(device),
            side,
            channels,
        }
    }

    /// Features `[b, 84]` and logits `[b, classes]` of images `[b, C·s·s]`.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [b, _] = x.dims();
        let x = x.reshape([b, self.channels, self.side, self.side]);
        let h = self.pool.forward(relu(self.conv1.forward(x)));
        let h = self.pool.forward(relu(self.conv2.forward(h)));
        let [_, c, hh, ww] = h.dims();
        let h = h.reshape([b, c * hh * ww]);
        let f = relu(self.fc2.forward(relu(self.fc1.forward(h))));
        let logits = self.out.forward(f.clone());
        (f, logits)
    }

    /// Features and class probabilities of `n` images, in batches of 500.
    pub fn features(&self, images: &[f32], n: usize, device: &Device) -> (Vec<f32>, Vec<f32>) {
        let d = images.len() / n.max(1);
        let (mut feats, mut probs) = (Vec::new(), Vec::new());
        for start in (0..n).step_by(500) {
            let rows = 500.min(n - start);
            let x = host::upload(
                images[start * d..(start + rows) * d].to_vec(),
                rows,
                d,
                device,
            );
            let (f, logits) = self.forward(x);
            feats.extend(host::read(f));
            probs.extend(host::read(softmax(logits, 1)));
        }
        (feats, probs)
    }
}

/// Whether a set's images suit the classifier: square, side even and ≥ 12.
pub fn fits(set: &ImageSet) -> bool {
    set.rows == set.cols && set.rows % 2 == 0 && set.rows >= 12
}

/// Images in [0, 1] drawn as Bernoulli pixels from `(seed, epoch)` when
/// `binarize` (as a Bernoulli VAE sees its data), else as they are.
fn epoch_images(set: &ImageSet, binarize: bool, seed: u64, epoch: usize) -> Vec<f32> {
    if !binarize {
        return set.images.clone();
    }
    let mut rng = stream(seed, Purpose::Binarize, 1000 + epoch as u64, 7);
    set.images
        .iter()
        .map(|&p| (rng.random::<f32>() < p) as u8 as f32)
        .collect()
}

/// Train on `train` (labels required) and return the network and its
/// accuracy on `test`; `progress` is told each epoch's mean loss.
pub fn train(
    train: &ImageSet,
    test: &ImageSet,
    classes: usize,
    binarize: bool,
    cfg: &ClassifierConfig,
    device: &Device,
    mut progress: impl FnMut(usize, f64),
) -> (LeNet, f64) {
    let labels = train.labels.as_ref().expect("the caller checks for labels");
    let ad = device.clone().autodiff();
    let record = {
        let _guard = crate::models::build::host_rng_lock();
        let host = Device::flex();
        host.seed(cfg.seed);
        LeNet::new(train.rows, train.channels, classes, &host).into_record()
    };
    let mut model = LeNet::new(train.rows, train.channels, classes, &ad).load_record(record);
    let mut optim = AdamConfig::new().init();
    let d = train.dim();
    for epoch in 0..cfg.epochs {
        let images = epoch_images(train, binarize, cfg.seed, epoch);
        let mut order: Vec<usize> = (0..train.n).collect();
        order.shuffle(&mut stream(
            cfg.seed,
            Purpose::Shuffle,
            1000 + epoch as u64,
            7,
        ));
        let mut total = 0.0;
        let batches = order.chunks(cfg.batch_size);
        let n_batches = batches.len();
        for idx in batches {
            let mut x = Vec::with_capacity(idx.len() * d);
            let mut onehot = vec![0f32; idx.len() * classes];
            for (r, &i) in idx.iter().enumerate() {
                x.extend_from_slice(&images[i * d..(i + 1) * d]);
                onehot[r * classes + labels[i] as usize] = 1.0;
            }
            let b = idx.len();
            let (_, logits) = model.forward(host::upload(x, b, d, &ad));
            let target = host::upload(onehot, b, classes, &ad);
            let loss = (log_softmax(logits, 1) * target).sum().neg() / b as f32;
            total += host::read(loss.clone())[0] as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model, grads);
        }
        progress(epoch + 1, total / n_batches.max(1) as f64);
    }
    let model = model.valid();
    let acc = accuracy(&model, test, binarize, cfg.seed, device);
    (model, acc)
}

/// Accuracy on a labelled set (binarized once from `seed` when `binarize`).
pub fn accuracy(model: &LeNet, set: &ImageSet, binarize: bool, seed: u64, device: &Device) -> f64 {
    let Some(labels) = &set.labels else {
        return f64::NAN;
    };
    let images = epoch_images(set, binarize, seed, usize::MAX / 2);
    let (_, probs) = model.features(&images, set.n, device);
    let classes = probs.len() / set.n.max(1);
    let pred = super::classes::argmax_rows(&probs, classes);
    pred.iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count() as f64
        / set.n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_synthetic_shapes() {
        // The built-in shapes, three classes: three thousand images and five
        // epochs separate squares, ellipses and triangles far above
        // chance (1/3).
        let mk = |n, split| {
            let s = crate::data::synthetic::generate(n, 3, split);
            ImageSet {
                images: s.images,
                n,
                rows: 28,
                cols: 28,
                channels: 1,
                labels: Some(s.labels),
                binary: false,
            }
        };
        let (tr, te) = (mk(3000, 0), mk(300, 1));
        let cfg = ClassifierConfig {
            epochs: 5,
            batch_size: 32,
            lr: 2e-3,
            seed: 1,
        };
        let dev = Device::flex();
        let mut losses = Vec::new();
        let (model, acc) = train(&tr, &te, 3, false, &cfg, &dev, |_, l| losses.push(l));
        assert!(acc > 0.8, "accuracy {acc}, losses {losses:?}");
        assert!(losses[4] < losses[0], "{losses:?}");
        let (f, p) = model.features(&te.images, te.n, &dev);
        assert_eq!((f.len(), p.len()), (300 * FEATURES, 300 * 3));
        assert!(f.iter().all(|v| *v >= 0.0));
    }
}
