//! Sample-metric speed on N × N feature vectors: precision/recall/density/
//! coverage (k-NN balls), the cubic-kernel MMD² over all points, KID (100
//! subsets of 1,000), the Gaussian MMD² and the Fréchet distance — the
//! workloads of `docs/python/sample_metrics_ref.py bench` (prdc, torch,
//! scipy), on the same vectors: that script saves them to
//! `/tmp/vaekit_bench_{real,fake}.npy`, which this bench reads when present.
//!
//! `python docs/python/sample_metrics_ref.py bench --n 10000 --d 64` then
//! `cargo bench --bench sample_metrics [-- --n 10000 --d 64 --rounds 3]`

mod common;

use std::path::Path;
use std::time::Instant;
use vaekit::metrics::samples::{frechet, kernel, pairwise::Points, prdc};
use vaekit::rng::{Purpose, stream};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load_or_draw(path: &str, n: usize, d: usize, which: u64) -> Points {
    if Path::new(path).is_file() {
        let a = vaekit::data::sample_files::read(Path::new(path)).expect("a bench array");
        println!("read {} ({} × {})", path, a.n, a.dim);
        return Points::new(&a.values, a.n, a.dim);
    }
    println!(
        "{path} absent: drawing N(0, I) [{n}, {d}] here (run the Python bench first to share its vectors)"
    );
    let mut rng = stream(which, Purpose::Eval, 0, 0);
    let x: Vec<f32> = (0..n * d)
        .map(|_| rand::Rng::sample::<f32, _>(&mut rng, rand_distr::StandardNormal))
        .collect();
    Points::new(&x, n, d)
}

fn main() {
    vaekit::device::main_thread_computes();
    let n = common::num_arg("--n", 10_000);
    let d = common::num_arg("--d", 64);
    let rounds = common::num_arg("--rounds", 3);
    let real = load_or_draw("/tmp/vaekit_bench_real.npy", n, d, 1);
    let fake = load_or_draw("/tmp/vaekit_bench_fake.npy", n, d, 2);
    println!(
        "vaekit sample metrics on {} real × {} fake, d = {}; {} threads; {}",
        real.n,
        fake.n,
        real.d,
        rayon::current_num_threads(),
        vaekit::core::fastmath::isa()
    );
    let time = |name: &str, f: &dyn Fn() -> String| {
        let mut secs = Vec::new();
        let mut out = String::new();
        for _ in 0..rounds {
            let t = Instant::now();
            out = f();
            secs.push(t.elapsed().as_secs_f64());
        }
        secs.sort_by(f64::total_cmp);
        println!(
            "{name:<18} {:>8.3} s  (median of {rounds})  -> {out}",
            secs[secs.len() / 2]
        );
    };
    time("prdc (k=3 and 5)", &|| {
        let p = prdc::prdc(&real, &fake);
        format!(
            "precision {:.4}, recall {:.4}, density {:.4}, coverage {:.4}",
            p.precision, p.recall, p.density, p.coverage
        )
    });
    time("kid_full", &|| {
        format!("{:.6e}", kernel::mmd2(&real, &fake, kernel::Kernel::Cubic))
    });
    time("kid 100×1000", &|| {
        let (m, s) = kernel::kid(&real, &fake, 100, 1000, &mut stream(0, Purpose::Eval, 1, 1));
        format!("{m:.4e} ± {s:.4e}")
    });
    time("mmd2 gaussian", &|| {
        let bw = kernel::median_distance(&real);
        format!(
            "{:.6e} (bandwidth {bw:.3})",
            kernel::mmd2(&real, &fake, kernel::Kernel::Gaussian { bandwidth: bw })
        )
    });
    time("fd", &|| {
        let (a, b) = (
            frechet::Moments::of(&real.x, real.n, real.d),
            frechet::Moments::of(&fake.x, fake.n, fake.d),
        );
        format!("{:.6}", frechet::frechet(&a, &b))
    });
}
