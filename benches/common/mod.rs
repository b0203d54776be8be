//! Shared by the benches: command-line flags and the canonical model.
#![allow(dead_code)]

use vaekit::config::ExperimentConfig;

/// The value after `--name` on the command line, if any.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A numeric flag, or `default`.
pub fn num_arg(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The canonical MLP VAE of `../shared/bench/torch_vae_ref.py`:
/// 784-400-20, ReLU, Bernoulli decoder, Adam 1e-3.
pub fn canonical() -> ExperimentConfig {
    canonical_with(&[])
}

/// [`canonical`] with `key=value` overrides on top (validated as
/// `--set` is: a bad value is a clear error, not a silent default).
pub fn canonical_with(overrides: &[String]) -> ExperimentConfig {
    let mut all: Vec<String> = [
        "model.hidden=[400]",
        "model.latent_dim=20",
        "model.activation=\"relu\"",
    ]
    .map(String::from)
    .to_vec();
    all.extend_from_slice(overrides);
    ExperimentConfig::load(None, &all).unwrap_or_else(|e| panic!("{e}"))
}

/// Eight fixed binary batches of `batch` rows of `dim` pixels (p = 0.3), as
/// in the PyTorch references.
pub fn binary_batches(batch: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut rng = vaekit::rng::stream(0, vaekit::rng::Purpose::Init, 0, 0);
    (0..8)
        .map(|_| {
            (0..batch * dim)
                .map(|_| (rand::Rng::random::<f32>(&mut rng) < 0.3) as u8 as f32)
                .collect()
        })
        .collect()
}

/// `warmup` untimed then `steps` timed training steps, each what `fit`
/// does: the batch `batch_of(i)` through the model's input hook, host noise
/// of `rows` × `noise` for the objective, the loss, its one scalar read (the
/// non-finite guard), the update at lr 1e-3 and the model's after-step.
/// Returns the model, the last loss and the seconds of the timed steps.
pub fn timed_steps<M: vaekit::models::LatentModel>(
    mut model: M,
    objective: &vaekit::config::ObjectiveConfig,
    optim: &mut burn::optim::ModuleOptimizer,
    (warmup, steps): (usize, usize),
    (rows, noise): (usize, usize),
    device: &burn::tensor::Device,
    batch_of: impl Fn(usize) -> vaekit::models::Batch,
) -> (M, f32, f64) {
    use vaekit::rng::Purpose;
    let mut t = std::time::Instant::now();
    let mut last = None;
    for i in 0..warmup + steps {
        if i == warmup {
            t = std::time::Instant::now();
        }
        let x = model.prepare_batch(batch_of(i), i, 0);
        let eps = vaekit::host::upload(
            vaekit::data::batches::host_normal(rows, noise, 0, Purpose::Noise, i as u64, 0),
            rows,
            noise,
            device,
        );
        let (l, posterior) = vaekit::train::batch_loss(&model, &x, eps, 1.0, objective, 0.0);
        let _guard = l.loss.clone().into_scalar::<f32>();
        model = vaekit::train::apply_update(model, optim, l.loss.clone(), 1e-3, 0.0, &[])
            .after_step(&posterior, i + 1, 0);
        last = Some(l.loss);
    }
    let loss = last.expect("at least one step").into_scalar::<f32>();
    (model, loss, t.elapsed().as_secs_f64())
}
