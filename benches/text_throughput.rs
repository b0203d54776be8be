//! Throughput of the LSTM text VAE: training (sentences/s) and IWAE
//! evaluation (log-weights/s), the model of `docs/python/text_vae_ref.py`
//! (run that with `--encode-bos`: vaekit's encoder reads `<s>` too) so the
//! two can be run side by side.
//!
//! Default: vocabulary 1004, sentences of 12 ids (`<s>`, 10 words, `</s>`),
//! embedding 64, LSTM 128, latent 16, z fed at every decoder step, no
//! dropout, Adam 1e-3. `--ptb` is the Penn Treebank model of the `ptb`
//! study (texar's size): vocabulary 10,002, 21 words a sentence (PTB's mean
//! is 21.1), embedding 256, LSTM 256, latent 32; each size can also be set
//! (`--vocab --words --embed --hidden --latent`). Each training step is what
//! the trainer does: a batch on the device, host noise, forward, the
//! guard's scalar read, backward, Adam. Prints the CPU's vector
//! instruction set with the figures.
//!
//! `cargo bench --bench text_throughput [-- --ptb] [-- --batch B --steps N] [-- --k K --sentences M]`

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

/// `n` sentences of `<s>`, `words` uniform words of ids 4..vocab, `</s>`.
fn sentences(n: usize, words: usize, vocab: usize, seed: u64) -> Dataset {
    use rand::Rng;
    let mut rng = stream(seed, Purpose::Init, 1, 0);
    TokenSet {
        sequences: (0..n)
            .map(|_| {
                let mut s = vec![2u32];
                s.extend((0..words).map(|_| rng.random_range(4..vocab as u32)));
                s.push(3);
                s
            })
            .collect(),
        vocab,
        pad: 0,
        words: None,
    }
    .into()
}

fn main() {
    vaekit::device::main_thread_computes();
    let mut cfg = vaekit::config::ExperimentConfig::default();
    cfg.model.kind = ModelKind::TextVae;
    let ptb = std::env::args().any(|a| a == "--ptb");
    let (v0, w0, e0, h0, z0) = if ptb {
        (10_002, 21, 256, 256, 32)
    } else {
        (1004, 10, 64, 128, 16)
    };
    let vocab = common::num_arg("--vocab", v0);
    let words = common::num_arg("--words", w0);
    cfg.model.latent_dim = common::num_arg("--latent", z0);
    cfg.model.text.embed = common::num_arg("--embed", e0);
    cfg.model.text.hidden = common::num_arg("--hidden", h0);
    let device = burn::tensor::Device::flex();
    let threads = rayon::current_num_threads();
    println!(
        "vaekit text bench: cpu {} ({} threads), E={} H={} Z={} V={vocab} T={}",
        isa(),
        threads,
        cfg.model.text.embed,
        cfg.model.text.hidden,
        cfg.model.latent_dim,
        words + 2
    );
    let iwae_mode = common::arg("--k").is_some() || common::arg("--sentences").is_some();
    if !iwae_mode {
        let batch = common::num_arg("--batch", 32);
        let steps = common::num_arg("--steps", 200);
        let ad = device.clone().autodiff();
        let data = sentences(batch * 8, words, vocab, 0);
        let kind = data.kind();
        let model = cfg.build_model(&kind, &ad);
        let mut optim = build_optimizer(&cfg.optimizer);
        let warmup = 10;
        let (_, loss, dt) = common::timed_steps(
            model,
            &cfg.objective,
            &mut optim,
            (warmup, steps),
            (batch, cfg.model.latent_dim),
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
        let data = sentences(n, words, vocab, 1);
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
