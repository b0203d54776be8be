//! Training throughput (images/s) of Burda et al. (2016)'s MNIST models at
//! their batch size, 20: one and two stochastic layers, k = 1 (the ELBO), 5
//! and 50 (the IWAE bound; the k-sample VAE costs the same), each model and
//! optimizer exactly as the `burda2016` study trains them
//! ([`vaekit::papers::burda2016::variant`]). At batch 20 the per-step
//! overhead counts as much as the arithmetic. Each step is what the
//! trainer does: upload a host batch and host noise, forward, backward, the
//! non-finite check's scalar read, Adam. Its PyTorch twin:
//! `python docs/python/burda_ref.py bench --layers L --objective iwae --k K`
//! (`benches/burda_side_by_side.sh` alternates the two).
//!
//! `cargo bench --bench burda_throughput [-- --layers 1|2 --k K --steps N --batch B]`

mod common;

use vaekit::config::ExperimentConfig;
use vaekit::host::upload;
use vaekit::models::{Batch, LatentModel};
use vaekit::papers::burda2016::variant;
use vaekit::train::{build_optimizer, samples_per_example};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vaekit::device::main_thread_computes();
    let layers: Vec<usize> = match common::arg("--layers").and_then(|v| v.parse().ok()) {
        Some(l) => vec![l],
        None => vec![1, 2],
    };
    let ks: Vec<usize> = match common::arg("--k").and_then(|v| v.parse().ok()) {
        Some(k) => vec![k],
        None => vec![1, 5, 50],
    };
    let batch = common::num_arg("--batch", 20);
    let ad = burn::tensor::Device::flex().autodiff();
    for &l in &layers {
        for &k in &ks {
            let cfg = ExperimentConfig::load(None, &variant(l, "iwae", k))
                .unwrap_or_else(|e| panic!("{e}"));
            let steps = common::num_arg("--steps", (20_000 / k).clamp(200, 2000));
            let model = cfg.build_model(&vaekit::data::DataKind::flat(784), &ad);
            let mut optim = build_optimizer(&cfg.optimizer);
            let (zd, rows) = (
                model.noise_dim(),
                batch * samples_per_example(&cfg.objective),
            );
            let data = common::binary_batches(batch, 784);
            let (_, final_loss, dt) = common::timed_steps(
                model,
                &cfg.objective,
                &mut optim,
                (10, steps),
                (rows, zd),
                &ad,
                |i| Batch::Images(upload(data[i % 8].clone(), batch, 784, &ad)),
            );
            println!(
                "vaekit train layers={l} k={k} batch={batch}: {:.0} images/s ({:.1} steps/s; {steps} steps in {dt:.2} s, final loss {final_loss:.1}, {})",
                (steps * batch) as f64 / dt,
                steps as f64 / dt,
                vaekit::core::fastmath::isa()
            );
        }
    }
}
