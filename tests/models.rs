//! The models beyond the plain VAE, on the shared trainer: mixture priors
//! (learned GMM, VampPrior) and β-VAE capacity annealing.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use vaekit::config::{Arch, ExperimentConfig, MixtureConfig, ModelConfig, ObjectiveKind};
use vaekit::models::Batch;
use vaekit::models::LatentModel;
use vaekit::models::vae::Vae;
use vaekit::train::progress::Progress;

fn quick(kind: &str) -> ExperimentConfig {
    let mut c = ExperimentConfig::default();
    c.model = ModelConfig {
        kind: kind.parse().unwrap(),
        latent_dim: 4,
        hidden: vec![64],
        gmm: MixtureConfig { components: 5 },
        vamp: MixtureConfig { components: 5 },
        ..ModelConfig::default()
    };
    c.data.synthetic_size = 1200;
    c.train.epochs = 3;
    c.train.log_every = 5;
    c
}

/// Train and return (mean loss of the first two logged intervals, of the last two).
fn loss_first_last(cfg: &ExperimentConfig) -> (f64, f64, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let s = vaekit::run::train(cfg, tmp.path(), &Device::flex(), Some(Progress::Quiet)).unwrap();
    let lines = common::metrics_lines(tmp.path());
    let train = common::series(tmp.path(), "train", "loss");
    let n = train.len();
    let val_last = lines
        .iter()
        .rev()
        .find(|l| l["split"] == "val")
        .unwrap()
        .clone();
    assert!(s.test.float("elbo").unwrap().is_finite());
    (
        (train[0] + train[1]) / 2.0,
        (train[n - 2] + train[n - 1]) / 2.0,
        val_last,
    )
}

#[test]
fn mixture_prior_models_train_and_log_component_usage() {
    for kind in ["gmm", "vamp"] {
        let (first, last, val) = loss_first_last(&quick(kind));
        assert!(last < first - 20.0, "{kind}: loss {first} → {last}");
        let usage: Vec<f64> = serde_json::from_value(val["component_usage"].clone()).unwrap();
        assert_eq!(usage.len(), 5);
        assert!(
            (usage.iter().sum::<f64>() - 1.0).abs() < 1e-4,
            "{kind}: {usage:?}"
        );
        let eff = val["components_effective"].as_f64().unwrap();
        assert!((1.0..=5.0 + 1e-9).contains(&eff), "{kind}: {eff}");
        // The mixture KL is one group: the total.
        assert_eq!(val["kl_per_dim"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn capacity_annealing_holds_the_kl_near_the_capacity() {
    let mut cfg = quick("vae");
    cfg.objective.kind = ObjectiveKind::Capacity;
    cfg.objective.capacity_max = 3.0;
    cfg.objective.capacity_steps = 1; // C = 3 nats from the start
    cfg.objective.gamma = 100.0;
    let (first, last, val) = loss_first_last(&cfg);
    assert!(last < first, "loss {first} → {last}");
    let kl = val["kl"].as_f64().unwrap();
    assert!((kl - 3.0).abs() < 1.0, "KL {kl} should sit near C = 3");
}

#[test]
fn vamp_prior_with_the_image_as_its_only_pseudo_input_has_zero_kl() {
    // p(z) = q(z | u) with u = x, so log q(z|x) − log p(z) = 0 for every z.
    let dev = Device::flex();
    let mut cfg = quick("vamp");
    cfg.model.vamp.components = 1;
    let mut model: Vae = cfg
        .build_model(&vaekit::data::DataKind::flat(6), &dev)
        .into_vae();
    let x = [0.2f32, 0.7, 0.5, 0.9, 0.1, 0.4];
    let logits: Vec<f32> = x.iter().map(|p| (p / (1.0 - p)).ln()).collect();
    model.vamp.as_mut().unwrap().pseudo =
        Param::from_tensor(Tensor::<1>::from_floats(logits.as_slice(), &dev).reshape([1, 6]));
    let xt = Tensor::<1>::from_floats(x.as_slice(), &dev)
        .reshape([1, 6])
        .expand([3, 6]);
    let eps = Tensor::<2>::from_floats(
        [
            [0.5, -1.0, 0.3, 2.0],
            [0.0, 0.0, 0.0, 0.0],
            [-1.5, 0.7, 1.1, -0.2],
        ],
        &dev,
    );
    let f = model.forward(&Batch::Images(xt), eps);
    for k in vaekit::host::read(f.terms.kl) {
        assert!(k.abs() < 1e-4, "KL {k}");
    }
}

#[test]
fn iwae_bound_of_mixture_models_lies_above_their_elbo() {
    let dev = Device::flex();
    for kind in ["gmm", "vamp"] {
        let cfg = quick(kind);
        let model = cfg.build_model(&vaekit::data::DataKind::flat(784), &dev);
        let data = vaekit::run::load_data(&cfg).unwrap();
        let test = data.splits.test.subset(&(0..30).collect::<Vec<_>>());
        let opts = vaekit::metrics::iwae::IwaeOptions {
            k: 200,
            chunk: 50,
            seed: 1,
        };
        let per = vaekit::metrics::iwae::evaluate(&model, &test, &opts, &dev);
        let (lk, _, bad) = vaekit::metrics::iwae::mean_se(&per.log_px);
        let (elbo, _, _) = vaekit::metrics::iwae::mean_se(&per.elbo);
        assert_eq!(bad, 0);
        assert!(lk > elbo, "{kind}: L_200 {lk} vs ELBO {elbo}");
    }
}

#[test]
fn sampling_from_a_gmm_prior_follows_its_mixing_weights() {
    let dev = Device::flex();
    let mut cfg = quick("gmm");
    cfg.model.gmm.components = 2;
    cfg.model.latent_dim = 1;
    let mut model: Vae = cfg
        .build_model(&vaekit::data::DataKind::flat(6), &dev)
        .into_vae();
    let g = model.gmm.as_mut().unwrap();
    g.means = Param::from_tensor(Tensor::from_floats([[-10.0], [10.0]], &dev));
    g.log_vars = Param::from_tensor(Tensor::from_floats([[0.0], [0.0]], &dev));
    g.logits = Param::from_tensor(Tensor::from_floats([0.0, 3f32.ln()], &dev));
    let z = vaekit::host::read(model.sample_prior(4000, 3, &dev));
    let right = z.iter().filter(|&&v| v > 0.0).count() as f64 / 4000.0;
    // Weights 1/4 and 3/4; the binomial standard error is 0.007.
    assert!((right - 0.75).abs() < 0.03, "{right}");
    let mean_right = z
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| v as f64)
        .sum::<f64>()
        / (right * 4000.0);
    assert!((mean_right - 10.0).abs() < 0.1, "{mean_right}");
}

#[test]
fn iwae_objective_trains_and_validation_iwae_is_logged() {
    let mut cfg = quick("vae");
    cfg.objective.kind = ObjectiveKind::Iwae;
    cfg.objective.k = 4;
    cfg.train.val_iwae_k = 20;
    let (first, last, val) = loss_first_last(&cfg);
    assert!(last < first - 20.0, "loss {first} → {last}");
    assert_eq!(val["iwae_k"], 20);
    // On the same validation images the 20-sample bound lies above the ELBO.
    assert!(
        val["iwae"].as_f64().unwrap() > val["elbo"].as_f64().unwrap(),
        "{val}"
    );
}

#[test]
fn convolutional_vae_trains_and_evaluates() {
    let mut cfg = quick("vae");
    cfg.model.arch = Arch::Conv;
    cfg.model.hidden = vec![32];
    cfg.data.synthetic_size = 400;
    cfg.train.epochs = 2;
    cfg.train.log_every = 2;
    let (first, last, _) = loss_first_last(&cfg);
    assert!(last < first, "loss {first} → {last}");
    // The IWAE bound works through the same interface.
    let dev = Device::flex();
    let model = cfg.build_model(&vaekit::data::DataKind::flat(784), &dev);
    let data = vaekit::run::load_data(&cfg).unwrap();
    let test = data.splits.test.subset(&[0, 1, 2]);
    let per = vaekit::metrics::iwae::evaluate(
        &model,
        &test,
        &vaekit::metrics::iwae::IwaeOptions {
            k: 20,
            chunk: 10,
            seed: 0,
        },
        &dev,
    );
    assert!(per.log_px.iter().all(|v| v.is_finite()));
    assert!(
        vaekit::metrics::fast_mlp::evaluate(
            &model,
            &test,
            &vaekit::metrics::iwae::IwaeOptions {
                k: 20,
                chunk: 10,
                seed: 0
            }
        )
        .is_none()
    );
}

#[test]
fn vq_vae_trains_logs_codebook_usage_and_restarts_revive_dead_codes() {
    use vaekit::config::CodebookUpdate;
    let mut used_by = Vec::new();
    for (update, restart) in [
        (CodebookUpdate::Ema, false),
        (CodebookUpdate::Loss, false),
        (CodebookUpdate::Ema, true),
    ] {
        let mut cfg = quick("vq_vae");
        cfg.model.vq_vae.codes = 64;
        cfg.model.vq_vae.code_dim = 8;
        cfg.model.vq_vae.codebook_update = update;
        cfg.model.vq_vae.dead_code_restart = restart;
        cfg.data.synthetic_size = 1500;
        cfg.train.epochs = 2;
        cfg.train.batch_size = 64;
        let (first, last, val) = loss_first_last(&cfg);
        if update == CodebookUpdate::Ema {
            assert!(last < first, "{update:?}/{restart}: loss {first} → {last}");
        } else {
            // A loss-driven codebook moves at Adam's pace and lags the encoder:
            // its commitment term first grows for ~100 steps (docs/models.md).
            // The reconstruction improves from the start.
            let rec = val["rec_ll"].as_f64().unwrap();
            assert!(
                rec > -543.0 * 0.8,
                "{update:?}: validation log p(x|z_q) {rec}"
            );
        }
        let used = val["codes_used"].as_u64().unwrap();
        assert_eq!(used + val["dead_codes"].as_u64().unwrap(), 64);
        let usage: Vec<f64> = serde_json::from_value(val["component_usage"].clone()).unwrap();
        assert_eq!(usage.iter().filter(|&&u| u > 0.0).count() as u64, used);
        assert!((usage.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let perplexity = val["codebook_perplexity"].as_f64().unwrap();
        assert!(perplexity >= 1.0 && perplexity <= used as f64 + 1e-9);
        // The names of earlier versions are still written, with the same values.
        assert_eq!(val["components_effective"], val["codebook_perplexity"]);
        assert_eq!(val["component_usage"], val["codebook_usage"]);
        // KL is one group holding P·ln K (a 7×7 grid of codes from 28×28 images).
        let kl = val["kl_per_dim"].as_array().unwrap();
        assert_eq!(kl.len(), 1);
        assert!((kl[0].as_f64().unwrap() - 49.0 * 64f64.ln()).abs() < 1e-3);
        assert!(val["mi"].is_null(), "no Gaussian I(x;z) for one-hot codes");
        // The commitment (+ codebook) loss is logged on its own.
        assert!(val["penalty"].as_f64().unwrap() > 0.0, "{val}");
        used_by.push(used);
    }
    // Moving dead codes onto encoder outputs puts more of the codebook to use.
    assert!(used_by[2] > used_by[0], "codes used: {used_by:?}");
}

#[test]
fn vq_vae_resumes_bit_for_bit_with_restarts_and_moving_averages() {
    // Train 2 epochs straight; then start again from the first epoch's
    // checkpoint in a fresh folder. Restarts draw from (seed, step) and the
    // moving averages live in the checkpoint, so both runs end identical.
    let dev = Device::flex();
    let mut cfg = quick("vq_vae");
    cfg.model.vq_vae.codes = 16;
    cfg.model.vq_vae.code_dim = 4;
    cfg.model.vq_vae.dead_code_restart = true;
    cfg.data.synthetic_size = 300;
    cfg.train.epochs = 2;
    cfg.train.batch_size = 32;
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    let straight = vaekit::run::train(&cfg, &a, &dev, Some(Progress::Quiet)).unwrap();
    let ckpts = vaekit::train::checkpoint::list(&a);
    assert_eq!(ckpts.len(), 2);
    let first = &ckpts[0];
    let dest = b.join("checkpoints").join(first.file_name().unwrap());
    std::fs::create_dir_all(&dest).unwrap();
    for f in ["model.bpk", "optim.bpk", "state.json"] {
        std::fs::copy(first.join(f), dest.join(f)).unwrap();
    }
    std::fs::copy(a.join("config.toml"), b.join("config.toml")).unwrap();
    std::fs::copy(a.join("metrics.jsonl"), b.join("metrics.jsonl")).unwrap();
    let resumed = vaekit::run::resume(&b, None, &dev, Some(Progress::Quiet)).unwrap();
    assert_eq!(straight.test.float("elbo"), resumed.test.float("elbo"));
    assert_eq!(
        serde_json::to_string(&straight.test).unwrap(),
        serde_json::to_string(&resumed.test).unwrap()
    );
    let (ma, mb) = (
        vaekit::run::open(&a, &dev).unwrap().model.into_vq(),
        vaekit::run::open(&b, &dev).unwrap().model.into_vq(),
    );
    let read = |t: Tensor<2>| vaekit::host::read(t);
    assert_eq!(read(ma.codebook.val()), read(mb.codebook.val()));
    assert_eq!(read(ma.ema_sum.val()), read(mb.ema_sum.val()));
}

#[test]
fn vq_vae_checkpoints_carry_the_moving_averages() {
    // Save and reload: the codebook, its moving averages and the weights come back.
    let dev = Device::flex();
    let mut cfg = quick("vq_vae");
    cfg.model.vq_vae.codes = 16;
    cfg.model.vq_vae.code_dim = 4;
    let tmp = tempfile::tempdir().unwrap();
    cfg.data.synthetic_size = 300;
    cfg.train.epochs = 1;
    vaekit::run::train(&cfg, tmp.path(), &dev, Some(Progress::Quiet)).unwrap();
    let loaded = vaekit::run::open(tmp.path(), &dev).unwrap();
    let m = loaded.model.into_vq();
    let fresh = cfg
        .build_model(&vaekit::data::DataKind::flat(784), &dev)
        .into_vq();
    let read = |t: Tensor<2>| vaekit::host::read(t);
    // Training moved the moving averages away from their initial value (N = 1).
    let counts = vaekit::host::read(m.ema_count.val());
    assert!(counts.iter().any(|&c| (c - 1.0).abs() > 1e-3), "{counts:?}");
    assert_ne!(read(m.codebook.val()), read(fresh.codebook.val()));
    // The three saved together: every code is its moving-average mean,
    // e_k = m_k / Ñ_k with Ñ the Laplace-smoothed counts.
    let (book, sums) = (read(m.codebook.val()), read(m.ema_sum.val()));
    let total: f32 = counts.iter().sum();
    for k in 0..16 {
        let n = (counts[k] + 1e-5) / (total + 16.0 * 1e-5) * total;
        for j in 0..4 {
            let want = sums[k * 4 + j] / n;
            assert!(
                (book[k * 4 + j] - want).abs() <= 1e-4 * want.abs().max(1.0),
                "code {k}"
            );
        }
    }
}
