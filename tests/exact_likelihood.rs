//! The IWAE evaluator against log-likelihoods computed another way:
//! a linear-Gaussian model with a closed-form log p(x), the same with two
//! stochastic layers, and a 1-D latent model integrated by brute force on
//! a fine grid.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use vaekit::config::{Activation, Likelihood, ModelConfig, ModelKind, TwoLayerConfig};
use vaekit::data::{Dataset, ImageSet};
use vaekit::metrics::iwae::{IwaeOptions, evaluate, mean_se};
use vaekit::models::Batch;
use vaekit::models::LatentModel;
use vaekit::models::nn::Mlp;
use vaekit::models::two_layer::{GaussianLayer, TwoLayerVae};
use vaekit::models::vae::Vae;

const D: usize = 4;
const Z: usize = 2;
/// Decoder weights in Burn's `[in, out]` layout: x = z·W + b + σ·e. The two
/// rows are orthogonal, so the exact posterior has a diagonal covariance.
const W: [[f64; D]; Z] = [[1.0, 0.5, -0.5, 0.2], [0.5, -1.0, 0.0, 0.0]];
const B: [f64; D] = [0.1, -0.2, 0.3, 0.0];
const SIGMA2: f64 = 0.3;

fn linear(weight: Vec<f64>, rows: usize, cols: usize, bias: Vec<f64>, dev: &Device) -> Linear {
    let w: Vec<f32> = weight.iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = bias.iter().map(|&v| v as f32).collect();
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [rows, cols]), dev)),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [cols]),
            dev,
        ))),
    }
}

/// The linear-Gaussian VAE; `exact_posterior` sets q(z|x) to p(z|x), else a
/// deliberately imperfect q (shifted mean, inflated variance).
fn linear_gaussian(exact_posterior: bool, dev: &Device) -> Vae {
    if exact_posterior {
        linear_gaussian_with(0.0, 1.0, dev)
    } else {
        linear_gaussian_with(0.3, 1.8, dev)
    }
}

/// The linear-Gaussian VAE with q(z|x) = N(μ(x) + shift, inflate·Σ), where
/// N(μ(x), Σ) is the exact posterior p(z|x).
fn linear_gaussian_with(shift: f64, inflate: f64, dev: &Device) -> Vae {
    let cfg = ModelConfig {
        latent_dim: Z,
        hidden: vec![],
        likelihood: Likelihood::Gaussian,
        ..ModelConfig::default()
    };
    let mut vae = Vae::new(&cfg, D, dev);
    let wflat: Vec<f64> = W.iter().flatten().copied().collect();
    vae.out = Some(linear(wflat, Z, D, B.to_vec(), dev));
    vae.likelihood.log_var = Some(Param::from_tensor(Tensor::from_floats(
        [SIGMA2.ln() as f32],
        dev,
    )));
    // Posterior: Σ_jj = 1 / (1 + |w_j|²/σ²); μ = (x − b)·A with A = Wᵀ Σ / σ².
    let sig: Vec<f64> = W
        .iter()
        .map(|r| 1.0 / (1.0 + r.iter().map(|v| v * v).sum::<f64>() / SIGMA2))
        .collect();
    let mut a = vec![0f64; D * Z];
    for d in 0..D {
        for j in 0..Z {
            a[d * Z + j] = W[j][d] * sig[j] / SIGMA2;
        }
    }
    let c: Vec<f64> = (0..Z)
        .map(|j| -(0..D).map(|d| B[d] * a[d * Z + j]).sum::<f64>())
        .collect();
    vae.mean = linear(a, D, Z, c.iter().map(|v| v + shift).collect(), dev);
    vae.log_var = linear(
        vec![0.0; D * Z],
        D,
        Z,
        sig.iter().map(|s| (s * inflate).ln()).collect(),
        dev,
    );
    vae
}

/// log N(x; b, WᵀW + σ²I) in f64 by Cholesky.
fn exact_log_px(x: &[f64]) -> f64 {
    let mut c = [[0f64; D]; D];
    for i in 0..D {
        for j in 0..D {
            c[i][j] =
                (0..Z).map(|k| W[k][i] * W[k][j]).sum::<f64>() + if i == j { SIGMA2 } else { 0.0 };
        }
    }
    log_normal(x, &B, &c)
}

/// log N(x; mean, c) in f64 by Cholesky.
fn log_normal(x: &[f64], mean: &[f64; D], c: &[[f64; D]; D]) -> f64 {
    let mut l = [[0f64; D]; D];
    for i in 0..D {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            l[i][j] = if i == j {
                (c[i][i] - s).sqrt()
            } else {
                (c[i][j] - s) / l[j][j]
            };
        }
    }
    let r: Vec<f64> = (0..D).map(|i| x[i] - mean[i]).collect();
    let mut y = [0f64; D];
    for i in 0..D {
        y[i] = (r[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let logdet: f64 = 2.0 * (0..D).map(|i| l[i][i].ln()).sum::<f64>();
    -0.5 * (D as f64 * (2.0 * std::f64::consts::PI).ln()
        + logdet
        + y.iter().map(|v| v * v).sum::<f64>())
}

/// n draws from the linear-Gaussian model itself.
fn samples(n: usize) -> (Dataset, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut images = Vec::new();
    let mut exact = Vec::new();
    for _ in 0..n {
        let z: Vec<f64> = (0..Z)
            .map(|_| rng.sample(rand_distr::StandardNormal))
            .collect();
        let x: Vec<f64> = (0..D)
            .map(|d| {
                let e: f64 = rng.sample(rand_distr::StandardNormal);
                (0..Z).map(|j| z[j] * W[j][d]).sum::<f64>() + B[d] + SIGMA2.sqrt() * e
            })
            .collect();
        exact.push(exact_log_px(&x));
        images.extend(x.iter().map(|&v| v as f32));
    }
    (rows_of_d(images, n), exact)
}

/// `n` examples of `D` values as a dataset.
fn rows_of_d(images: Vec<f32>, n: usize) -> Dataset {
    Dataset::from(ImageSet {
        images,
        n,
        rows: 1,
        cols: D,
        channels: 1,
        labels: None,
        binary: false,
    })
}

fn opts(k: usize, chunk: usize) -> IwaeOptions {
    IwaeOptions { k, chunk, seed: 3 }
}

#[test]
fn exact_posterior_gives_exact_log_px_for_every_k() {
    let dev = Device::flex();
    let model = linear_gaussian(true, &dev);
    let (data, exact) = samples(50);
    for k in [1, 7, 100] {
        let per = evaluate(&model, &data, &opts(k, 64), &dev);
        for (got, want) in per.log_px.iter().zip(&exact) {
            assert!((got - want).abs() < 2e-4, "k={k}: {got} vs exact {want}");
        }
    }
}

#[test]
fn bound_rises_with_k_toward_the_exact_value() {
    let dev = Device::flex();
    let model = linear_gaussian(false, &dev);
    let (data, exact) = samples(300);
    let exact_mean = exact.iter().sum::<f64>() / exact.len() as f64;
    let mut prev = f64::NEG_INFINITY;
    let mut elbo = 0.0;
    for k in [1, 10, 100, 2000] {
        let per = evaluate(&model, &data, &opts(k, 500), &dev);
        let (lk, _, bad) = mean_se(&per.log_px);
        assert_eq!(bad, 0);
        if k == 1 {
            elbo = mean_se(&per.elbo).0;
        }
        assert!(lk > prev, "L_{k} = {lk} did not rise above {prev}");
        assert!(
            lk <= exact_mean + 1e-3,
            "L_{k} = {lk} above exact {exact_mean}"
        );
        prev = lk;
        if k == 2000 {
            // Within Monte-Carlo error of the exact value: the per-example
            // gaps L_k − log p(x) have a mean within 4 standard errors of 0.
            let gaps: Vec<f64> = per.log_px.iter().zip(&exact).map(|(a, b)| a - b).collect();
            let (gap, se, _) = mean_se(&gaps);
            assert!(gap.abs() < 4.0 * se + 2e-3, "gap {gap} ± {se}");
        }
    }
    // The imperfect q leaves a visible gap at k = 1, which k closes.
    assert!(
        elbo < exact_mean - 0.05,
        "ELBO {elbo} vs exact {exact_mean}"
    );
}

#[test]
fn chunking_and_batching_do_not_change_the_numbers() {
    let dev = Device::flex();
    let model = linear_gaussian(false, &dev);
    let (data, _) = samples(20);
    let a = evaluate(&model, &data, &opts(300, 300), &dev);
    let b = evaluate(&model, &data, &opts(300, 7), &dev);
    for (x, y) in a.log_px.iter().zip(&b.log_px) {
        assert!((x - y).abs() < 1e-9, "{x} vs {y}");
    }
    let c = evaluate(
        &model,
        &data,
        &IwaeOptions {
            seed: 4,
            ..opts(300, 300)
        },
        &dev,
    );
    assert_ne!(a.log_px, c.log_px, "another seed draws other samples");
}

#[test]
fn brute_force_integral_of_a_nonlinear_1d_model_agrees() {
    // Bernoulli decoder through a GELU hidden layer, 1-D latent, 6 pixels;
    // q(z|x) = p(z), so the weights are p(x|z).
    let dev = Device::flex();
    dev.seed(5);
    let cfg = ModelConfig {
        latent_dim: 1,
        hidden: vec![8],
        ..ModelConfig::default()
    };
    let mut model = Vae::new(&cfg, 6, &dev);
    model.mean = linear(vec![0.0; 8], 8, 1, vec![0.0], &dev);
    model.log_var = linear(vec![0.0; 8], 8, 1, vec![0.0], &dev);
    // Sharpen the decoder so log p(x|z) varies strongly with z.
    let out = model.out.as_mut().unwrap();
    out.weight = Param::from_tensor(out.weight.val().mul_scalar(6.0));
    let xs: Vec<f32> = vec![
        1., 0., 1., 1., 0., 0., 0., 0., 0., 1., 1., 1., 1., 1., 1., 0., 1., 0.,
    ];
    let data = Dataset::from(ImageSet {
        images: xs.clone(),
        n: 3,
        rows: 1,
        cols: 6,
        channels: 1,
        labels: None,
        binary: true,
    });

    // Trapezoid rule on [-10, 10] with 20,001 points, in f64 on the host.
    let g = 20_001usize;
    let h = 20.0 / (g - 1) as f64;
    let grid: Vec<f64> = (0..g).map(|i| -10.0 + i as f64 * h).collect();
    let zt = Tensor::<2>::from_data(
        TensorData::new(grid.iter().map(|&v| v as f32).collect::<Vec<_>>(), [g, 1]),
        &dev,
    );
    let per = evaluate(&model, &data, &opts(20_000, 2_000), &dev);
    let gaps: Vec<(f64, f64)> = (0..3)
        .map(|i| {
            let x = Tensor::<2>::from_data(
                TensorData::new(xs[i * 6..i * 6 + 6].to_vec(), [1, 6]),
                &dev,
            )
            .expand([g, 6]);
            let ll = vaekit::host::read(model.log_likelihood(&Batch::Images(x), zt.clone()));
            // log ∫ p(x|z)^p N(z) dz for p = 1 (the likelihood) and p = 2.
            let integral = |p: f64| {
                let terms: Vec<f64> = ll
                    .iter()
                    .zip(&grid)
                    .enumerate()
                    .map(|(j, (&l, &z))| {
                        let w = if j == 0 || j == g - 1 { 0.5 } else { 1.0 };
                        p * l as f64 - 0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln()
                            + (w * h).ln()
                    })
                    .collect();
                let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
            };
            let exact = integral(1.0);
            // Delta-method standard error of log p̂: sqrt(Var w / k) / E w.
            let rel_var = (integral(2.0) - 2.0 * exact).exp() - 1.0;
            let se = (rel_var / 20_000.0).sqrt();
            assert!(
                se > 1e-4,
                "the test needs a model whose weights vary (se {se})"
            );
            (per.log_px[i] - exact, se)
        })
        .collect();
    for (gap, se) in &gaps {
        assert!(
            gap.abs() < 4.0 * se + 1e-4,
            "IWAE − brute force = {gap}, se {se}"
        );
    }
}

#[test]
fn effective_sample_size_is_k_for_the_exact_posterior_and_small_for_a_misplaced_q() {
    use vaekit::core::posterior::Family;
    use vaekit::data::DataKind;
    use vaekit::metrics::config::MonitorConfig;
    use vaekit::metrics::iwae::EvalReport;
    let dev = Device::flex();
    let (data, _) = samples(40);
    let k = 500;
    let monitor = MonitorConfig::default();
    let report = |model: &Vae| {
        let per = evaluate(model, &data, &opts(k, 100), &dev);
        let r = EvalReport::new(
            &per,
            "test",
            &DataKind::flat(D),
            Family::Gaussian,
            &monitor,
            3,
        );
        (per, r)
    };
    // q = p(z|x): every weight is p(x), so (Σw)²/Σw² = k (up to f32 rounding
    // of the log-weights), and no example is flagged.
    let (per, exact) = report(&linear_gaussian(true, &dev));
    for e in &per.ess {
        assert!(
            (e / k as f64) > 0.999 && *e <= k as f64 + 1e-6,
            "ESS {e} of {k}"
        );
    }
    assert_eq!(exact.metrics.count("ess_low"), Some(0));
    assert!(!exact.table().contains("warning"), "{}", exact.table());
    // q four posterior standard deviations off and far too narrow: a few
    // weights carry the sum, ESS/k collapses and the warning fires.
    let (per, bad) = report(&linear_gaussian_with(2.0, 0.05, &dev));
    let frac = bad.metrics.float("ess_mean_frac").unwrap();
    assert!(frac < 0.05, "mean ESS/k {frac}");
    let low = bad.metrics.count("ess_low").unwrap();
    assert!(low > 0, "no example below 1% of k: {:?}", per.ess);
    assert_eq!(
        low,
        per.ess.iter().filter(|e| **e < 0.01 * k as f64).count(),
        "ess_low counts the per-example values below the threshold"
    );
    let table = bad.table();
    assert!(
        table.contains("warning") && table.contains(&format!("{low} of 40")),
        "{table}"
    );
}

// ---- Two stochastic layers: h2 → h1 → x, linear-Gaussian, one unit each. ----

/// p(h1|h2) = N(ALPHA·h2 + A1, S2); p(x|h1) = N(h1·W[0] + B, σ²I).
const ALPHA: f64 = 0.8;
const A1: f64 = 0.2;
const S2: f64 = 0.5;

/// A layer with no hidden units: mean = w·input + b, log σ = log_sigma.
fn gaussian_layer(
    w: Vec<f64>,
    d_in: usize,
    d_out: usize,
    b: Vec<f64>,
    log_sigma: Vec<f64>,
    dev: &Device,
) -> GaussianLayer {
    GaussianLayer {
        net: Mlp {
            layers: vec![],
            activation: Activation::Tanh,
        },
        mean: linear(w, d_in, d_out, b, dev),
        log_sigma: linear(vec![0.0; d_in * d_out], d_in, d_out, log_sigma, dev),
    }
}

/// The two-layer linear-Gaussian model with q(h1|x) q(h2|h1) set to the
/// exact posterior p(h1|x) p(h2|h1) (which factorises so: x ⟂ h2 | h1),
/// its means shifted by `shift` and its variances scaled by `inflate`.
fn two_layer(shift: f64, inflate: f64, dev: &Device) -> TwoLayerVae {
    let cfg = ModelConfig {
        kind: ModelKind::TwoLayer,
        latent_dim: 1,
        hidden: vec![],
        likelihood: Likelihood::Gaussian,
        two_layer: TwoLayerConfig {
            latent_dim: 1,
            hidden: vec![],
        },
        ..ModelConfig::default()
    };
    let mut m = TwoLayerVae::new(&cfg, D, dev);
    let w = W[0];
    m.out = linear(w.to_vec(), 1, D, B.to_vec(), dev);
    m.likelihood.log_var = Some(Param::from_tensor(Tensor::from_floats(
        [SIGMA2.ln() as f32],
        dev,
    )));
    m.p1 = gaussian_layer(vec![ALPHA], 1, 1, vec![A1], vec![0.5 * S2.ln()], dev);
    // p(h1|x): precision λ = 1/v1 + |w|²/σ², v1 = α² + s²;
    // mean = (a/v1 + w·(x − b)/σ²)/λ.
    let v1 = ALPHA * ALPHA + S2;
    let lam = 1.0 / v1 + w.iter().map(|v| v * v).sum::<f64>() / SIGMA2;
    let weights: Vec<f64> = w.iter().map(|v| v / (SIGMA2 * lam)).collect();
    let bias = A1 / (v1 * lam) - (0..D).map(|d| w[d] * B[d]).sum::<f64>() / (SIGMA2 * lam);
    let ls = |precision: f64| 0.5 * (inflate / precision).ln();
    m.q1 = gaussian_layer(weights, D, 1, vec![bias + shift], vec![ls(lam)], dev);
    // p(h2|h1): precision p2 = 1 + α²/s²; mean = α(h1 − a)/(s² p2).
    let p2 = 1.0 + ALPHA * ALPHA / S2;
    m.q2 = gaussian_layer(
        vec![ALPHA / (S2 * p2)],
        1,
        1,
        vec![-ALPHA * A1 / (S2 * p2) + shift],
        vec![ls(p2)],
        dev,
    );
    m
}

/// log N(x; w·a + b, v1·w wᵀ + σ²I), the two-layer model's marginal.
fn two_layer_log_px(x: &[f64]) -> f64 {
    let w = W[0];
    let v1 = ALPHA * ALPHA + S2;
    let mut c = [[0f64; D]; D];
    let mut mean = [0f64; D];
    for i in 0..D {
        mean[i] = w[i] * A1 + B[i];
        for j in 0..D {
            c[i][j] = v1 * w[i] * w[j] + if i == j { SIGMA2 } else { 0.0 };
        }
    }
    log_normal(x, &mean, &c)
}

/// n draws of x from the two-layer model, ancestrally.
fn two_layer_samples(n: usize) -> (Dataset, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut normal = || -> f64 { rng.sample(rand_distr::StandardNormal) };
    let (mut images, mut exact) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let h2 = normal();
        let h1 = ALPHA * h2 + A1 + S2.sqrt() * normal();
        let x: Vec<f64> = (0..D)
            .map(|d| h1 * W[0][d] + B[d] + SIGMA2.sqrt() * normal())
            .collect();
        exact.push(two_layer_log_px(&x));
        images.extend(x.iter().map(|&v| v as f32));
    }
    (rows_of_d(images, n), exact)
}

#[test]
fn two_layers_exact_posterior_gives_exact_log_px_for_every_k() {
    let dev = Device::flex();
    let model = two_layer(0.0, 1.0, &dev);
    let (data, exact) = two_layer_samples(50);
    for k in [1, 7, 100] {
        let per = evaluate(&model, &data, &opts(k, 64), &dev);
        for (got, want) in per.log_px.iter().zip(&exact) {
            assert!((got - want).abs() < 2e-4, "k={k}: {got} vs exact {want}");
        }
    }
}

#[test]
fn two_layers_bound_rises_with_k_toward_the_exact_value() {
    let dev = Device::flex();
    let model = two_layer(0.3, 1.8, &dev);
    let (data, exact) = two_layer_samples(300);
    let exact_mean = exact.iter().sum::<f64>() / exact.len() as f64;
    let mut prev = f64::NEG_INFINITY;
    for k in [1, 10, 100, 2000] {
        let per = evaluate(&model, &data, &opts(k, 500), &dev);
        let (lk, _, bad) = mean_se(&per.log_px);
        assert_eq!(bad, 0);
        assert!(lk > prev, "L_{k} = {lk} did not rise above {prev}");
        assert!(
            lk <= exact_mean + 1e-3,
            "L_{k} = {lk} above exact {exact_mean}"
        );
        prev = lk;
        if k == 1 {
            // The ELBO of the forward pass (rec − per-dimension KL terms) is
            // an unbiased estimate of the same bound as L_1.
            let (elbo, se, _) = mean_se(&per.elbo);
            assert!(
                (elbo - lk).abs() < 4.0 * se + 0.05,
                "ELBO {elbo} vs L_1 {lk}"
            );
            assert!(lk < exact_mean - 0.05, "L_1 {lk} vs exact {exact_mean}");
        }
        if k == 2000 {
            let gaps: Vec<f64> = per.log_px.iter().zip(&exact).map(|(a, b)| a - b).collect();
            let (gap, se, _) = mean_se(&gaps);
            assert!(gap.abs() < 4.0 * se + 2e-3, "gap {gap} ± {se}");
        }
    }
}

// ---- The posterior-mean space (He et al. 2019, Figures 1–2). ----

/// On the linear-Gaussian model, E_{p(z|x)}[z] by quadrature over a 2-D
/// grid is the closed-form posterior mean (the exact encoder's μ(x)), and
/// it does not follow the encoder: with q's mean shifted by 0.3 the
/// quadrature still gives the true mean, while the encoder means reported
/// beside it are the shifted ones.
#[test]
fn posterior_mean_by_quadrature_is_the_linear_gaussian_posterior_mean() {
    use vaekit::metrics::posterior_mean::{Grid, posterior_means};
    let dev = Device::flex();
    let (data, _) = samples(12);
    let idx: Vec<usize> = (0..12).collect();
    let grid = Grid::new(Z, 5.0, 0.05);
    let exact = linear_gaussian(true, &dev);
    let (model_mean, encoder_mean) = posterior_means(&exact, &data, &idx, &grid, &dev);
    // The exact encoder's means are the closed form.
    for (m, e) in model_mean.iter().zip(&encoder_mean) {
        assert!((m - e).abs() < 2e-3, "quadrature {m} vs closed form {e}");
    }
    assert!(
        encoder_mean.iter().any(|e| e.abs() > 0.5),
        "{encoder_mean:?}"
    );
    let shifted = linear_gaussian_with(0.3, 1.8, &dev);
    let (m2, e2) = posterior_means(&shifted, &data, &idx, &grid, &dev);
    for i in 0..m2.len() {
        assert!((m2[i] - model_mean[i]).abs() < 2e-3);
        assert!((e2[i] - (encoder_mean[i] + 0.3)).abs() < 1e-4);
    }
}
