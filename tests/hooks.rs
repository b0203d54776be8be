//! A model that needs to act around the training step gets a hook without
//! any edit to the loop: `LatentModel::prepare_batch` (a schedule on its
//! inputs) and a `StepHook` passed to `fit` (a trainer-side procedure before
//! each update). Here a model of our own, outside the crate, uses both.

mod common;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use std::sync::Mutex;
use vaekit::config::ExperimentConfig;
use vaekit::data::DataKind;
use vaekit::models::build::Weights;
use vaekit::models::vae::Vae;
use vaekit::models::{Batch, LatentModel, Posterior};
use vaekit::train::checkpoint::TrainState;
use vaekit::train::progress::Progress;
use vaekit::train::{Job, StepHook, build_optimizer, fit};

/// Steps at which the input hook ran, in order.
static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// A VAE whose training inputs are blanked by its input hook: every pixel 0.
#[derive(Module, Debug)]
struct Blanked {
    inner: Vae,
}

impl LatentModel for Blanked {
    fn latent_dim(&self) -> usize {
        self.inner.latent_dim()
    }
    fn encode(&self, x: &Batch) -> Posterior {
        LatentModel::encode(&self.inner, x)
    }
    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        self.inner.log_likelihood(x, z)
    }
    fn kl(&self, posterior: &Posterior, z: Tensor<2>) -> Tensor<2> {
        self.inner.kl(posterior, z)
    }
    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        self.inner.decode_mean(z)
    }
    fn prepare_batch(&self, batch: Batch, step: usize, _seed: u64) -> Batch {
        SEEN.lock().unwrap().push(step);
        Batch::Images(batch.images().clone().zeros_like())
    }
}

impl Weights for Blanked {}

/// Counts its calls and the examples it was shown.
#[derive(Default)]
struct Counter {
    steps: Vec<usize>,
    examples: usize,
}

impl<M> StepHook<M> for Counter {
    fn before_step(&mut self, model: M, _: &mut ModuleOptimizer, batch: &Batch, step: usize) -> M {
        self.steps.push(step);
        self.examples += batch.len();
        model
    }
}

/// At step 3 only, one encoder-only update before the joint step (the
/// shape of He et al.'s aggressive inference-network training), checking
/// that it moved the encoder and left the decoder alone.
#[derive(Default)]
struct EncoderOnce {
    checked: bool,
}

impl StepHook<Blanked> for EncoderOnce {
    fn before_step(
        &mut self,
        model: Blanked,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        step: usize,
    ) -> Blanked {
        if step != 3 {
            return model;
        }
        // (The encoder's first bias: its weights see blank inputs, so no gradient.)
        let read = |m: &Blanked| {
            let bias = m.inner.encoder.layers[0].bias.as_ref().unwrap().val();
            (
                vaekit::host::read(bias),
                vaekit::host::read(m.inner.decoder.layers[0].weight.val()),
            )
        };
        let before = read(&model);
        // `batch` has been through the model's input hook already.
        let eps = Tensor::zeros([batch.len(), model.latent_dim()], &batch.images().device());
        let objective = vaekit::config::ObjectiveConfig::default();
        let (loss, _) = vaekit::train::batch_loss(&model, batch, eps, 1.0, &objective, 0.0);
        let mut grads = loss.loss.backward();
        let encoder = GradientsParams::from_module(&mut grads, &model.inner.encoder);
        let model = optim.step(1e-2, model, encoder);
        let after = read(&model);
        assert!(before.0 != after.0, "the encoder moved");
        assert!(before.1 == after.1, "the decoder did not");
        self.checked = true;
        model
    }
}

#[test]
fn the_loop_runs_a_models_input_hook_and_a_step_hook_on_every_step() {
    let mut cfg = ExperimentConfig::default();
    cfg.data.synthetic_size = 300;
    cfg.model.hidden = vec![32];
    cfg.model.latent_dim = 2;
    cfg.train.epochs = 2;
    cfg.train.batch_size = 64;
    cfg.optimizer.lr = 0.05;
    cfg.train.log_every = 1;
    let tmp = tempfile::tempdir().unwrap();
    let data = vaekit::run::load_data(&cfg).unwrap();
    let dev = Device::flex();
    let kind: DataKind = data.splits.train.kind();
    let model = Blanked {
        inner: cfg.build_model(&kind, &dev.clone().autodiff()).into_vae(),
    };
    let job = Job {
        name: "hooks",
        seed: cfg.seed,
        device_name: "cpu",
        trainer: cfg.trainer(),
        monitor: &cfg.monitor,
        data: &data,
        run: tmp.path(),
        device: &dev,
        remedies: cfg.collapse_remedies(),
    };
    let state = TrainState::initial(&cfg.trainer(), &cfg.monitor, kind);
    let mut counter = Counter::default();
    let mut encoder_once = EncoderOnce::default();
    fit(
        &job,
        model,
        build_optimizer(&cfg.optimizer),
        state,
        Some(Progress::Quiet),
        &mut [&mut counter, &mut encoder_once],
    )
    .unwrap();
    assert!(encoder_once.checked, "the encoder-only hook ran at step 3");

    // 270 training images in batches of 64: 5 steps an epoch, 10 in all,
    // each hook once per step, in order.
    let all: Vec<usize> = (0..10).collect();
    assert_eq!(*SEEN.lock().unwrap(), all);
    assert_eq!(counter.steps, all);
    assert_eq!(counter.examples, 2 * 270);

    // What the model trained on is what its hook returned: blank images,
    // which a Bernoulli decoder learns to predict almost exactly, while the
    // validation set (real shapes, no hook) stays far from that.
    let train = common::series(tmp.path(), "train", "rec_ll");
    assert_eq!(train.len(), 10);
    assert!(train[9] > train[0], "{train:?}");
    // 784 pixels of 0: −log p(x|z) = Σ softplus(logit) falls toward 0.
    let val_rec = *common::series(tmp.path(), "val", "rec_ll").last().unwrap();
    assert!(train[9] > -20.0, "train log p(x|z) {train:?}");
    assert!(val_rec < -500.0, "validation log p(x|z) {val_rec}");
}
