//! `AnyModel` is one list of variants (`any_model!` in src/models/build.rs):
//! it answers every `LatentModel` method as the model inside it does, the
//! list of forwarded methods is the trait's whole list, and a new model is
//! one more entry — here a throw-away one, trained by the real loop.

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor};
use std::sync::Mutex;
use vaekit::config::{ExperimentConfig, ModelConfig};
use vaekit::data::DataKind;
use vaekit::data::batches::host_normal;
use vaekit::data::tokens::TokenSet;
use vaekit::host::{read, read_indices, upload};
use vaekit::models::build::Weights;
use vaekit::models::vae::Vae;
use vaekit::models::{AnyModel, Batch, LatentModel, Posterior, build_model, text, vq};
use vaekit::rng::Purpose;
use vaekit::train::checkpoint::{TrainState, latest, load_model};
use vaekit::train::progress::Progress;
use vaekit::train::{Job, build_optimizer, fit};

/// The methods `LatentModel` declares, read off its source: the list the
/// forwarding of `any_model!` must cover.
fn trait_methods() -> Vec<String> {
    let src = include_str!("../src/models/mod.rs");
    let start = src
        .find("pub trait LatentModel")
        .expect("src/models/mod.rs declares LatentModel");
    let body = &src[start..];
    let end = body.find("\n}\n").expect("the trait's closing brace");
    let mut names: Vec<String> = body[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("    fn "))
        .map(|l| {
            l.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn the_enum_forwards_every_method_of_the_trait() {
    let methods = trait_methods();
    assert!(methods.len() >= 20, "read {methods:?}");
    assert_eq!(
        sorted(AnyModel::FORWARDED),
        methods,
        "a LatentModel method is missing from the forwarding list of any_model! \
         (src/models/build.rs): AnyModel would answer it with the trait's default"
    );
}

/// Whether two models hold the same tensors under the same names (enum
/// variants left out of the names; parameter ids too, as a re-initialised
/// layer gets fresh ones).
fn same_tensors<A: ModuleSnapshot, B: ModuleSnapshot>(a: &A, b: &B) -> bool {
    fn tensors<M: ModuleSnapshot>(m: &M) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = m
            .collect(None, None, true)
            .into_iter()
            .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
            .collect();
        v.sort();
        v
    }
    let (a, b) = (tensors(a), tensors(b));
    !a.is_empty() && a == b
}

/// The bytes of a model's record: what a checkpoint holds.
fn record_bytes<M: Module>(m: M) -> Vec<u8> {
    m.into_record().into_bytes().unwrap().to_vec()
}

fn ints<const D: usize>(t: Tensor<D, burn::tensor::Int>) -> Vec<usize> {
    read_indices(t)
}

/// q(z|x) as host values.
fn posterior_values(q: &Posterior) -> (Vec<Vec<f32>>, Vec<usize>) {
    match q {
        Posterior::Gaussian(g) => (vec![read(g.mean.clone()), read(g.log_var.clone())], vec![]),
        Posterior::Codes(c) => (
            vec![
                read(c.z.clone()),
                read(c.encoded.clone()),
                read(c.penalty.clone()),
            ],
            [ints(c.index.clone()), vec![c.codes]].concat(),
        ),
    }
}

/// A batch as host values.
fn batch_values(x: &Batch) -> (Vec<Vec<f32>>, Vec<Vec<usize>>, Option<u64>) {
    match x {
        Batch::Images(t) => (vec![read(t.clone())], vec![], None),
        Batch::Tokens(t) => (
            vec![read(t.mask.clone())],
            vec![
                ints(t.ids.clone()),
                t.lengths.clone(),
                t.decoder_ids.clone().map(ints).unwrap_or_default(),
            ],
            t.noise_key,
        ),
    }
}

/// Call every `LatentModel` method on `any` and on `inner` (the model inside
/// it) with the same inputs and compare the answers; returns the methods
/// called. THE list of calls: a method added to the trait and to the
/// forwarding must be added here too (the test checks the two lists match).
fn same_answers<M: LatentModel>(
    kind: &str,
    any: &AnyModel,
    inner: &M,
    x: &Batch,
) -> Vec<&'static str> {
    let device = Device::flex();
    let n = x.len();
    let mut called = Vec::new();
    macro_rules! check {
        ($name:literal, $a:expr, $b:expr) => {
            assert_eq!($a, $b, "{kind}: {} differs through AnyModel", $name);
            called.push($name);
        };
    }
    // The enum's answer, then the model's, to `m.$call`.
    macro_rules! both {
        ($name:literal, |$m:ident| $call:expr) => {{
            let answer_of_any = {
                let $m = any;
                $call
            };
            let answer_of_inner = {
                let $m = inner;
                $call
            };
            check!($name, answer_of_any, answer_of_inner);
        }};
    }

    both!("latent_dim", |m| m.latent_dim());
    both!("noise_dim", |m| m.noise_dim());
    both!("family", |m| m.family());
    let q = LatentModel::encode(any, x);
    both!("encode", |m| posterior_values(&LatentModel::encode(m, x)));
    let noise = any.noise_dim();
    let eps = upload(
        host_normal(n, noise, 5, Purpose::Noise, 0, 0),
        n,
        noise,
        &device,
    );
    let z = q.sample(eps.clone());
    both!("log_likelihood", |m| read(m.log_likelihood(x, z.clone())));
    both!("log_prior", |m| read(m.log_prior(z.clone())));
    both!("kl", |m| read(m.kl(&q, z.clone())));
    both!("penalty", |m| m.penalty(&q).map(read));
    both!("prepare_batch", |m| batch_values(&m.prepare_batch(
        x.clone(),
        3,
        7
    )));
    both!("prior_responsibilities", |m| m
        .prior_responsibilities(z.clone())
        .map(read));
    both!("sample_prior", |m| read(m.sample_prior(3, 11, &device)));
    both!("decode_mean", |m| {
        let (mean, std) = m.decode_mean(z.clone());
        (read(mean), std.map(read))
    });
    both!("generate_tokens", |m| (
        m.generate_tokens(z.clone(), 6, false, 13),
        m.generate_tokens(z.clone(), 6, true, 13)
    ));
    both!("encoder_params", |m| m.encoder_params());
    both!("has_latent", |m| m.has_latent());
    both!("can_reset_decoder", |m| m.can_reset_decoder());
    both!("latent_layers", |m| m.latent_layers());
    both!("sample_latent", |m| read(m.sample_latent(&q, eps.clone())));
    both!("log_weights", |m| {
        let k = 3;
        let eps_k = upload(
            host_normal(n * k, noise, 6, Purpose::Noise, 0, 0),
            n * k,
            noise,
            &device,
        );
        let (lw, lpx) = m.log_weights(&q, x, eps_k, k);
        (read(lw), read(lpx))
    });
    // The same weights, not equal ones: the enum lends the model's own.
    let same = match (any.plain_mlp(), inner.plain_mlp()) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            std::ptr::eq(a.mean, b.mean)
                && std::ptr::eq(a.encoder, b.encoder)
                && std::ptr::eq(a.decoder, b.decoder)
                && (a.latent, a.data_dim) == (b.latent, b.data_dim)
                && a.gaussian_log_var == b.gaussian_log_var
                && a.mixture.is_some() == b.mixture.is_some()
        }
        _ => false,
    };
    check!("plain_mlp", same, true);
    both!("forward", |m| {
        let f = m.forward(x, eps.clone());
        let terms = (
            read(f.terms.rec_ll),
            read(f.terms.kl),
            f.terms.penalty.map(read),
        );
        (terms, posterior_values(&f.posterior))
    });
    // The methods that take the model: the weights they return.
    check!(
        "after_step",
        same_tensors(
            &any.clone().after_step(&q, 1, 17),
            &inner.clone().after_step(&q, 1, 17)
        ),
        true
    );
    check!(
        "reset_decoder",
        same_tensors(
            &any.clone().reset_decoder(19),
            &inner.clone().reset_decoder(19)
        ),
        true
    );
    // Not a trait method: the enum's checkpoint record is the model's own.
    assert!(
        any.to_record().into_bytes().unwrap().to_vec() == record_bytes(inner.clone()),
        "{kind}: AnyModel's record is not the model's"
    );
    called
}

fn images(rows: usize, cols: usize, n: usize) -> (DataKind, Batch) {
    let d = rows * cols;
    let pixels = (0..n * d)
        .map(|i| ((i * 7919) % 13) as f32 / 12.0)
        .collect();
    (
        DataKind::Images {
            rows,
            cols,
            channels: 1,
        },
        Batch::Images(upload(pixels, n, d, &Device::flex())),
    )
}

fn sentences() -> (DataKind, Batch) {
    let set = TokenSet {
        sequences: vec![
            vec![2, 4, 5, 6, 3],
            vec![2, 7, 8, 3],
            vec![2, 9, 4, 10, 11, 3],
        ],
        vocab: 12,
        pad: 0,
        words: None,
    };
    let kind = DataKind::Tokens {
        vocab: 12,
        max_len: set.max_len(),
    };
    (kind, Batch::Tokens(set.batch(&[0, 1, 2], &Device::flex())))
}

#[test]
fn the_enum_answers_every_method_as_the_model_inside() {
    let small = |kind: &str| {
        let mut c = ModelConfig {
            kind: kind.parse().unwrap(),
            latent_dim: 3,
            hidden: vec![8],
            ..ModelConfig::default()
        };
        c.gmm.components = 3;
        c.vamp.components = 3;
        c.vq_vae.codes = 8;
        c.vq_vae.code_dim = 4;
        c.vq_vae.dead_code_restart = true;
        c.text.embed = 8;
        c.text.hidden = 8;
        c.text.word_dropout = 0.3;
        c.text.embed_dropout = 0.2;
        c
    };
    for kind in [
        "vae",
        "gmm",
        "vamp",
        "vq_vae",
        "text_vae",
        "lstm_lm",
        "two_layer",
    ] {
        let cfg = small(kind);
        let (data, x) = match kind {
            "text_vae" | "lstm_lm" => sentences(),
            _ => images(8, 8, 4),
        };
        let any = build_model(&cfg, 3, &data, &Device::flex());
        let called = match &any {
            AnyModel::Vae(m) => same_answers(kind, &any, m, &x),
            AnyModel::VqVae(m) => same_answers(kind, &any, m, &x),
            AnyModel::Text(m) => same_answers(kind, &any, m, &x),
            AnyModel::TwoLayer(m) => same_answers(kind, &any, m, &x),
        };
        assert_eq!(
            sorted(&called),
            sorted(AnyModel::FORWARDED),
            "{kind}: same_answers must call every forwarded method"
        );
    }
}

// ---- Adding a model: one more entry in the list. ----

/// Steps at which the toy's input hook and after-step hook ran.
static PREPARED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static AFTER: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// A throw-away model: a VAE whose trainer-facing hooks leave a trace, and
/// whose other answers differ from the trait's defaults (a zero penalty, a
/// decoder reset it does not really do).
#[derive(Module, Debug)]
struct Toy {
    inner: Vae,
}

impl LatentModel for Toy {
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
        PREPARED.lock().unwrap().push(step);
        batch
    }
    fn after_step(self, _: &Posterior, step: usize, _seed: u64) -> Self {
        AFTER.lock().unwrap().push(step);
        self
    }
    fn penalty(&self, posterior: &Posterior) -> Option<Tensor<1>> {
        let mean = &posterior.gaussian().expect("Gaussian").mean;
        Some(Tensor::zeros([mean.dims()[0]], &mean.device()))
    }
    fn can_reset_decoder(&self) -> bool {
        true
    }
}

vaekit::any_model! {
    /// The real models and the toy: the list a contributor extends.
    #[allow(dead_code)]
    enum WithToy {
        Vae(Vae) => into_vae,
        VqVae(vq::VqVae) => into_vq,
        Text(text::TextVae) => into_text,
        Toy(Toy) => into_toy,
    }
}

#[test]
fn a_new_model_is_one_more_entry_and_the_trainer_drives_it() {
    let mut cfg = ExperimentConfig::default();
    cfg.data.synthetic_size = 300;
    cfg.model.hidden = vec![16];
    cfg.model.latent_dim = 2;
    cfg.train.epochs = 1;
    cfg.train.batch_size = 64;
    cfg.train.log_every = 1;
    let tmp = tempfile::tempdir().unwrap();
    let data = vaekit::run::load_data(&cfg).unwrap();
    let dev = Device::flex();
    let kind: DataKind = data.splits.train.kind();
    let toy = |device: &Device| {
        WithToy::Toy(Toy {
            inner: cfg.build_model(&kind, device).into_vae(),
        })
    };
    let model = toy(&dev.clone().autodiff());

    // Its own answers, not the trait's defaults, through the enum.
    let (_, x) = images(28, 28, 2);
    let plain = toy(&dev);
    let q = LatentModel::encode(&plain, &x);
    assert!(plain.penalty(&q).is_some(), "penalty is the toy's");
    assert!(plain.can_reset_decoder(), "can_reset_decoder is the toy's");
    assert_eq!(WithToy::FORWARDED, AnyModel::FORWARDED);
    assert_eq!(plain.variant(), "Toy");

    let job = Job {
        name: "toy",
        seed: cfg.seed,
        device_name: "cpu",
        trainer: cfg.trainer(),
        monitor: &cfg.monitor,
        data: &data,
        run: tmp.path(),
        device: &dev,
        remedies: cfg.collapse_remedies(),
    };
    let state = TrainState::initial(&cfg.trainer(), &cfg.monitor, kind.clone());
    PREPARED.lock().unwrap().clear();
    AFTER.lock().unwrap().clear();
    let trained = fit(
        &job,
        model,
        build_optimizer(&cfg.optimizer),
        state,
        Some(Progress::Quiet),
        &mut [],
    )
    .unwrap();
    assert!(trained.test.float("elbo").unwrap().is_finite());
    // 270 training images in batches of 64: 5 steps, each through both hooks.
    assert_eq!(*PREPARED.lock().unwrap(), (0..5).collect::<Vec<_>>());
    assert_eq!(*AFTER.lock().unwrap(), (1..=5).collect::<Vec<_>>());

    // Its checkpoint is the toy's own record, and loads back into a toy.
    let ckpt = latest(tmp.path()).unwrap();
    let loaded = load_model(&ckpt, toy(&dev)).unwrap();
    let bytes = std::fs::read(ckpt.join("model.bpk")).unwrap();
    assert_eq!(loaded.to_record().into_bytes().unwrap().to_vec(), bytes);
    let err = load_model(&ckpt, WithToy::Vae(loaded.into_toy().inner))
        .map(|_| ())
        .err();
    // (A Vae and a Toy of the same Vae have different tensor names.)
    assert!(err.is_some(), "a toy's checkpoint does not fit a bare VAE");
}
