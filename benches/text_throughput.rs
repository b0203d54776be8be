//! Throughput of the LSTM text VAE: training (sentences/s) and IWAE
//! evaluation (log-weights/s), the model of `docs/python/text_vae_ref.py`
//! (run that with `--encode-bos`: vaekit's encoder reads `<s>` too) so the
//! two can be run side by side.
//!
//! Vocabulary 1004, sentences of 12 ids (`<s>`, 10 words, `</s>`),
//! embedding 64, LSTM 128, latent 16, z fed at every decoder step, no
//! dropout, Adam 1e-3. Each training step is what the trainer does: a
//! batch on the device, host noise, forward, the guard's scalar read,
//! backward, Adam. Prints the CPU's vector instruction set with the figures.
//!
//! `cargo bench --bench text_throughput [-- --batch B --steps N] [-- --k K --sentences M]`

mod common;

use std::time::Instant;
use vaekit::data::{Dataset, TokenSet};
use vaekit::metrics::iwae::{IwaeOptions, evaluate};
use vaekit::models::config::ModelKind;
use vaekit::rng::{Purpose, stream};
use vaekit::train::build_optimizer;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The instruction set the fused kernels run with.
fn isa() -> &'static str {
    vaekit::core::fastmath::isa()
}

/// `n` sentences of `<s>`, 10 uniform words, `</s>`.
fn sentences(n: usize, seed: u64) -> Dataset {
    use rand::Rng;
    let mut rng = stream(seed, Purpose::Init, 1, 0);
    TokenSet {
        sequences: (0..n)
            .map(|_| {
                let mut s = vec![2u32];
                s.extend((0..10).map(|_| rng.random_range(4..1004u32)));
                s.push(3);
                s
            })
            .collect(),
        vocab: 1004,
        pad: 0,
        words: None,
    }
    .into()
}

fn main() {
    vaekit::device::main_thread_computes();
    let mut cfg = vaekit::config::ExperimentConfig::default();
    cfg.model.kind = ModelKind::TextVae;
    cfg.model.latent_dim = 16;
    cfg.model.text.embed = common::num_arg("--embed", 64);
    cfg.model.text.hidden = common::num_arg("--hidden", 128);
    let device = burn::tensor::Device::flex();
    let threads = rayon::current_num_threads();
    println!(
        "vaekit text bench: cpu {} ({} threads), E={} H={} Z=16 V=1004 T=12",
        isa(),
        threads,
        cfg.model.text.embed,
        cfg.model.text.hidden
    );
    let iwae_mode = common::arg("--k").is_some() || common::arg("--sentences").is_some();
    if !iwae_mode {
        let batch = common::num_arg("--batch", 32);
        let steps = common::num_arg("--steps", 200);
        let ad = device.clone().autodiff();
        let data = sentences(batch * 8, 0);
        let kind = data.kind();
        let model = cfg.build_model(&kind, &ad);
        let mut optim = build_optimizer(&cfg.optimizer);
        let warmup = 10;
        let (_, loss, dt) = common::timed_steps(
            model,
            &cfg.objective,
            &mut optim,
            (warmup, steps),
            (batch, 16),
            &ad,
            |i| {
                let idx: Vec<usize> = ((i % 8) * batch..(i % 8 + 1) * batch).collect();
                data.batch(&idx, None, &ad)
            },
        );
        println!(
            "vaekit text train batch={batch}: {:.0} sentences/s  ({steps} steps in {dt:.2} s, final loss {loss:.1}, cpu {})",
            (steps * batch) as f64 / dt,
            isa()
        );
    } else {
        let k = common::num_arg("--k", 5000);
        let n = common::num_arg("--sentences", 20);
        let data = sentences(n, 1);
        let model = cfg.build_model(&data.kind(), &device);
        let opts = IwaeOptions {
            k,
            chunk: common::num_arg("--chunk", 500),
            seed: 0,
        };
        let t = Instant::now();
        let per = evaluate(&model, &data, &opts, &device);
        let dt = t.elapsed().as_secs_f64();
        let mean = per.log_px.iter().sum::<f64>() / n as f64;
        println!(
            "vaekit text iwae k={k}: {:.0} log-weights/s  ({n} sentences in {dt:.2} s, mean log p {mean:.2}, cpu {})",
            (n * k) as f64 / dt,
            isa()
        );
    }
}
