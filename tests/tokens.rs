//! Token sequences go through the same trainer, monitor, metric registry and
//! IWAE evaluator as images. A bag-of-words VAE defined here, outside the
//! crate, learns which of two topics a sentence is drawn from: its latent
//! becomes active and carries about ln 2 nats, and the run records that it
//! was trained on tokens.

mod common;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use vaekit::config::ExperimentConfig;
use vaekit::data::{DataKind, Dataset, Prepared, Splits, TokenSet};
use vaekit::metrics::iwae::{IwaeOptions, evaluate, mean_se};
use vaekit::models::build::Weights;
use vaekit::models::{Batch, GaussianPosterior, LatentModel, Posterior, standard_normal_kl};
use vaekit::train::checkpoint::{self, TrainState};
use vaekit::train::progress::Progress;
use vaekit::train::{Job, build_optimizer, fit};

const VOCAB: usize = 11;
const Z: usize = 2;

/// q(z|x) from the mean embedding of the sentence's tokens; p(x|z) a
/// unigram distribution over the vocabulary, a softmax of z.
#[derive(Module, Debug)]
struct BagOfWords {
    embed: Embedding,
    mean: Linear,
    log_var: Linear,
    decode: Linear,
}

impl BagOfWords {
    fn new(device: &Device) -> Self {
        Self {
            embed: EmbeddingConfig::new(VOCAB, 16).init(device),
            mean: LinearConfig::new(16, Z).init(device),
            log_var: LinearConfig::new(16, Z).init(device),
            decode: LinearConfig::new(Z, VOCAB).init(device),
        }
    }

    fn tokens(x: &Batch) -> &vaekit::models::TokenBatch {
        match x {
            Batch::Tokens(t) => t,
            Batch::Images(_) => panic!("a bag-of-words model reads tokens"),
        }
    }
}

impl LatentModel for BagOfWords {
    fn latent_dim(&self) -> usize {
        Z
    }

    fn encode(&self, x: &Batch) -> Posterior {
        let t = Self::tokens(x);
        let [b, len] = t.ids.dims();
        let e = self.embed.forward(t.ids.clone()); // [b, T, 16]
        let mask = t.mask.clone().reshape([b, len, 1]);
        let n = t.mask.clone().sum_dim(1).clamp_min(1.0); // [b, 1]
        let h = (e * mask).sum_dim(1).reshape([b, 16]) / n;
        Posterior::Gaussian(GaussianPosterior {
            mean: self.mean.forward(h.clone()),
            log_var: self.log_var.forward(h),
        })
    }

    /// Σ over real tokens of log p(token | z): padding counts for nothing.
    fn log_likelihood(&self, x: &Batch, z: Tensor<2>) -> Tensor<1> {
        let t = Self::tokens(x);
        let [b, len] = t.ids.dims();
        // The same unigram logits at every position.
        let logits = self
            .decode
            .forward(z)
            .unsqueeze_dim::<3>(1)
            .expand([b, len, VOCAB]);
        vaekit::core::likelihood::categorical(t.ids.clone(), t.mask.clone(), logits)
    }

    fn kl(&self, posterior: &Posterior, _z: Tensor<2>) -> Tensor<2> {
        standard_normal_kl(posterior.gaussian().expect("Gaussian"))
    }

    fn decode_mean(&self, z: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        (softmax(self.decode.forward(z), 1), None)
    }
}

impl Weights for BagOfWords {}

/// Sentences of 3 to 8 tokens, each from one of two topics: ids 1–5 or 6–10
/// (0 is padding).
fn topics(n: usize, seed: u64) -> TokenSet {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let sequences = (0..n)
        .map(|i| {
            let base = if i % 2 == 0 { 1 } else { 6 };
            let len = rng.random_range(3..=8);
            (0..len).map(|_| base + rng.random_range(0..5u32)).collect()
        })
        .collect();
    TokenSet {
        sequences,
        vocab: VOCAB,
        pad: 0,
        words: None,
    }
}

#[test]
fn a_token_model_trains_is_monitored_and_evaluated_like_an_image_model() {
    let mut cfg = ExperimentConfig::default();
    cfg.train.epochs = 8;
    cfg.train.batch_size = 32;
    cfg.train.log_every = 10;
    cfg.optimizer.lr = 1e-2;
    let data = Prepared {
        splits: Splits {
            train: topics(480, 1).into(),
            val: topics(100, 2).into(),
            test: topics(100, 3).into(),
            source: "two topics (test)".into(),
            notes: Vec::new(),
        },
        dynamic_binarize: false,
    };
    let kind = data.splits.train.kind();
    assert_eq!(
        kind,
        DataKind::Tokens {
            vocab: VOCAB,
            max_len: 8
        }
    );
    let dev = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let job = Job {
        name: "tokens",
        seed: 0,
        device_name: "cpu",
        trainer: cfg.trainer(),
        monitor: &cfg.monitor,
        data: &data,
        run: tmp.path(),
        device: &dev,
        remedies: cfg.collapse_remedies(),
    };
    dev.seed(0);
    let model = BagOfWords::new(&dev.clone().autodiff());
    let state = TrainState::initial(&cfg.trainer(), &cfg.monitor, kind.clone());
    let summary = fit(
        &job,
        model,
        build_optimizer(&cfg.optimizer),
        state,
        Some(Progress::Quiet),
        &mut [],
    )
    .unwrap();

    // The run says what it was trained on: the summary and every checkpoint.
    assert_eq!(summary.data_kind.as_ref(), Some(&kind));
    let newest = checkpoint::latest(tmp.path()).unwrap();
    assert_eq!(checkpoint::load_state(&newest).unwrap().data, kind);

    // The monitor's Gaussian metrics apply to tokens too. One bit of topic
    // is worth learning: at least one unit is active and I(x;z) is near
    // ln 2 (its estimator cannot exceed log 100 here, and one sample per
    // sentence adds noise).
    let t = &summary.test;
    assert!(t.count("active_units").unwrap() >= 1, "{t:?}");
    let mi = t.float("mi").unwrap();
    assert!((0.4..1.2).contains(&mi), "I(x;z) = {mi}");
    let loss = common::series(tmp.path(), "train", "loss");
    assert!(loss.last() < loss.first(), "{loss:?}");

    // The k-sample bound on padded batches: above the ELBO, and the
    // sentences' log-likelihoods are bounded by a uniform unigram's.
    let trained = checkpoint::load_model(&newest, BagOfWords::new(&dev)).unwrap();
    let test: Dataset = topics(60, 4).into();
    let per = evaluate(
        &trained,
        &test,
        &IwaeOptions {
            k: 200,
            chunk: 50,
            seed: 0,
        },
        &dev,
    );
    let (lk, _, bad) = mean_se(&per.log_px);
    let (elbo, _, _) = mean_se(&per.elbo);
    assert_eq!(bad, 0);
    assert!(lk > elbo, "L_200 {lk} vs ELBO {elbo}");
    let Dataset::Tokens(s) = &test else {
        unreachable!()
    };
    let mean_len = s.sequences.iter().map(Vec::len).sum::<usize>() as f64 / 60.0;
    // A topic-aware model needs at most ln 5 per token (+ the topic bit);
    // a uniform one over the 10 words would need ln 10.
    assert!(
        -lk < mean_len * (10f64).ln(),
        "NLL {} vs {mean_len} tokens",
        -lk
    );
    assert!(
        per.ess
            .iter()
            .all(|e| *e >= 1.0 - 1e-9 && *e <= 200.0 + 1e-9)
    );
}
