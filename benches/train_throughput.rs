//! Training throughput (images/s) of the canonical MLP VAE: 784-400-20,
//! ReLU, Bernoulli decoder, Adam 1e-3 — the model of
//! `../shared/bench/torch_vae_ref.py train`, so the two can be run side by
//! side. Each step is what the trainer does: upload a host batch and host
//! noise, forward, backward, Adam update. Timing ends with a device read so
//! queued work is counted.
//!
//! `cargo bench --bench train_throughput [-- --backend flex|wgpu|ndarray --steps N --batch B]`
//! (`ndarray` needs `--features ndarray`).

mod common;

use vaekit::host::upload;
use vaekit::models::Batch;
use vaekit::train::build_optimizer;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vaekit::device::main_thread_computes();
    let batches: Vec<usize> = match common::arg("--batch").and_then(|b| b.parse().ok()) {
        Some(b) => vec![b],
        None => vec![128, 1024],
    };
    let backend_arg = common::arg("--backend").unwrap_or_else(|| "flex".into());
    let backend = backend_arg.as_str();
    let device = match backend {
        "flex" => burn::tensor::Device::flex(),
        "wgpu" => vaekit::device::resolve(vaekit::config::DeviceChoice::Wgpu)
            .unwrap_or_else(|e| panic!("{e}")),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => burn::tensor::Device::ndarray(),
        other => {
            panic!("unknown --backend {other} (flex, wgpu, or ndarray with --features ndarray)")
        }
    };
    let ad = device.clone().autodiff();
    let cfg = common::canonical();
    for batch in batches {
        let default_steps = match (backend, batch >= 1024) {
            ("wgpu", _) => 20,
            (_, true) => 40,
            (_, false) => 200,
        };
        let steps = common::num_arg("--steps", default_steps);
        let model = cfg.build_model(&vaekit::data::DataKind::flat(784), &ad);
        let mut optim = build_optimizer(&cfg.optimizer);
        // Eight fixed binary batches, as in the PyTorch reference.
        let data = common::binary_batches(batch, 784);
        let (_, loss, dt) = common::timed_steps(
            model,
            &cfg.objective,
            &mut optim,
            (10, steps),
            (batch, 20),
            &ad,
            |i| Batch::Images(upload(data[i % 8].clone(), batch, 784, &ad)),
        );
        println!(
            "vaekit train batch={batch}: {:.0} images/s  ({steps} steps in {dt:.2} s, final loss {loss:.1}, backend {backend}, {})",
            (steps * batch) as f64 / dt,
            vaekit::core::fastmath::isa()
        );
    }
}
