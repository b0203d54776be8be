//! IWAE evaluation throughput (log-weights/s) of the canonical MLP VAE
//! (784-400-20, ReLU, Bernoulli decoder), k importance samples per image —
//! the workload of `../shared/bench/torch_vae_ref.py iwae`, run side by side.
//! With `--prior gmm|vamp` (K = `--components`) or `--likelihood gaussian`,
//! the same network with a mixture prior or a Gaussian decoder — the
//! workload of `benches/torch_mixture_ref.py`.
//!
//! `cargo bench --bench iwae_throughput [-- --k 5000 --images 20 --path generic|fast|both
//!  --prior vae|gmm|vamp --components 10 --likelihood bernoulli|gaussian]`

mod common;

use std::time::Instant;
use vaekit::data::{Dataset, ImageSet};
use vaekit::metrics::iwae::{IwaeOptions, evaluate};
use vaekit::rng::{Purpose, stream};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vaekit::device::main_thread_computes();
    let k = common::num_arg("--k", 5000);
    let n = common::num_arg("--images", 20);
    let path = common::arg("--path").unwrap_or_else(|| "both".into());
    let prior = common::arg("--prior").unwrap_or_else(|| "vae".into());
    let components = common::num_arg("--components", 10);
    let likelihood = common::arg("--likelihood").unwrap_or_else(|| "bernoulli".into());
    let cfg = common::canonical_with(&[
        format!("model.kind=\"{prior}\""),
        format!("model.gmm.components={components}"),
        format!("model.vamp.components={components}"),
        format!("model.likelihood=\"{likelihood}\""),
    ]);
    let what = match prior.as_str() {
        "vae" => likelihood.clone(),
        _ => format!("{prior} K={components}, {likelihood}"),
    };
    let device = burn::tensor::Device::flex();
    let model = cfg.build_model(&vaekit::data::DataKind::flat(784), &device);
    let mut rng = stream(0, Purpose::Init, 1, 0);
    let data = Dataset::from(ImageSet {
        images: (0..n * 784)
            .map(|_| (rand::Rng::random::<f32>(&mut rng) < 0.3) as u8 as f32)
            .collect(),
        n,
        rows: 28,
        cols: 28,
        channels: 1,
        labels: None,
        binary: true,
    });
    let opts = IwaeOptions {
        k,
        chunk: 500,
        seed: 0,
    };
    let report = |name: &str, f: &dyn Fn() -> Vec<f64>| {
        let t = Instant::now();
        let lp = f();
        let dt = t.elapsed().as_secs_f64();
        let mean = lp.iter().sum::<f64>() / lp.len() as f64;
        println!(
            "vaekit iwae k={k} {what} ({name}): {:.0} log-weights/s  ({n} images in {dt:.2} s, mean log p {mean:.2}, {})",
            (n * k) as f64 / dt,
            vaekit::core::fastmath::isa()
        );
    };
    if path == "generic" || path == "both" {
        report("generic burn path", &|| {
            evaluate(&model, &data, &opts, &device).log_px
        });
    }
    if path == "fast" || path == "both" {
        report("fast path", &|| {
            vaekit::metrics::fast_mlp::evaluate(&model, &data, &opts)
                .expect("MLP model")
                .log_px
        });
    }
}
