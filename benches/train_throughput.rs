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

use std::time::Instant;
use vaekit::data::batches::host_normal;
use vaekit::host::upload;
use vaekit::models::{Batch, LatentModel};
use vaekit::rng::{Purpose, stream};
use vaekit::train::{apply_update, batch_loss, build_optimizer};

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
        let mut model = cfg.build_model(&vaekit::data::DataKind::flat(784), &ad);
        let mut optim = build_optimizer(&cfg.optimizer);
        // Eight fixed binary batches, as in the PyTorch reference.
        let mut rng = stream(0, Purpose::Init, 0, 0);
        let data: Vec<Vec<f32>> = (0..8)
            .map(|_| {
                (0..batch * 784)
                    .map(|_| (rand::Rng::random::<f32>(&mut rng) < 0.3) as u8 as f32)
                    .collect()
            })
            .collect();
        let warmup = 10;
        let mut t = Instant::now();
        let mut last = None;
        for i in 0..warmup + steps {
            if i == warmup {
                t = Instant::now();
            }
            let x = Batch::Images(upload(data[i % 8].clone(), batch, 784, &ad));
            let eps = upload(
                host_normal(batch, 20, 0, Purpose::Noise, i as u64, 0),
                batch,
                20,
                &ad,
            );
            // What `fit` does each step: the loss, its one scalar read (the
            // non-finite guard), the update and the model's own after-step.
            let x = model.prepare_batch(x, i, 0);
            let (l, posterior) = batch_loss(&model, &x, eps, 1.0, &cfg.objective, 0.0);
            let _guard = l.loss.clone().into_scalar::<f32>();
            model = apply_update(model, &mut optim, l.loss.clone(), 1e-3).after_step(
                &posterior,
                i + 1,
                0,
            );
            last = Some(l.loss);
        }
        let loss = last.unwrap().into_scalar::<f32>();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "vaekit train batch={batch}: {:.0} images/s  ({steps} steps in {dt:.2} s, final loss {loss:.1}, backend {backend}, {})",
            (steps * batch) as f64 / dt,
            vaekit::core::fastmath::isa()
        );
    }
}
