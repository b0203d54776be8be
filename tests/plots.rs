//! Every figure renders from a small fixture run, as a PNG of the stated
//! size and a well-formed SVG.

use std::path::{Path, PathBuf};
use vaekit::report::plot::{PlotOptions, SIZE, plot_runs};

/// A fixture run: 5 latent dims, two of which collapse over 40 logged steps.
fn fixture(dir: &Path, scale: f64) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for s in 1..=40usize {
        let t = s as f64 / 40.0;
        let kl: Vec<f64> = (0..5)
            .map(|j| {
                if j < 3 {
                    scale * (j + 1) as f64 * t
                } else {
                    0.5 * (1.0 - t)
                }
            })
            .collect();
        let total: f64 = kl.iter().sum();
        lines.push_str(&serde_json::json!({
            "split": "train", "step": s * 10, "epoch": t * 4.0, "beta": t.min(1.0), "loss": 100.0 - 20.0 * t + total,
            "rec_ll": -100.0 + 20.0 * t, "kl": total, "kl_per_dim": kl, "lr": 1e-3, "images_per_s": 1000.0, "time_s": s as f64
        }).to_string());
        lines.push('\n');
        if s % 10 == 0 {
            lines.push_str(&serde_json::json!({
                "split": "val", "step": s * 10, "epoch": t * 4.0, "beta": 1.0, "elbo": -95.0 + 15.0 * t, "rec_ll": -90.0 + 20.0 * t,
                "kl": total, "kl_per_dim": kl, "active_units": 3 + (s < 20) as usize, "activity": [1.0, 1.0, 1.0, 0.0, 0.0],
                "posterior_var": [0.1, 0.1, 0.1, 1.0, 1.0], "mi": 2.0 * t, "time_s": s as f64
            }).to_string());
            lines.push('\n');
        }
    }
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    dir.to_path_buf()
}

fn check_png(p: &Path) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!((img.width(), img.height()), SIZE, "{}", p.display());
    // Not blank: the figure has dark (text, axes) and light (background) pixels.
    let g = img.to_luma8();
    let dark = g.pixels().filter(|p| p.0[0] < 80).count();
    let light = g.pixels().filter(|p| p.0[0] > 240).count();
    assert!(
        dark > 1000 && light > 100_000,
        "{}: dark {dark}, light {light}",
        p.display()
    );
}

fn check_svg(p: &Path) {
    let s = std::fs::read_to_string(p).unwrap();
    assert!(
        s.contains("<svg") && s.trim_end().ends_with("</svg>"),
        "{}",
        p.display()
    );
    assert!(s.contains("<text"), "{}: the SVG has labels", p.display());
}

#[test]
fn one_run_gets_every_single_run_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture(&tmp.path().join("run-a"), 1.0);
    let files = plot_runs(&[run.clone()], None, &PlotOptions::default()).unwrap();
    for stem in [
        "kl_per_dim",
        "kl_heatmap",
        "kl_bars",
        "active_units",
        "elbo",
        "metrics",
        "rate_distortion",
    ] {
        check_png(&run.join("plots").join(format!("{stem}.png")));
        check_svg(&run.join("plots").join(format!("{stem}.svg")));
    }
    assert_eq!(files.len(), 14);
    // Log scale renders too.
    let out = tmp.path().join("log");
    plot_runs(&[run], Some(&out), &PlotOptions { log_kl: true }).unwrap();
    check_png(&out.join("kl_per_dim.png"));
}

#[test]
fn several_runs_get_overlays_and_the_rate_distortion_plane() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fixture(&tmp.path().join("beta-1"), 1.0);
    let b = fixture(&tmp.path().join("beta-4"), 0.3);
    let out = tmp.path().join("figs");
    plot_runs(&[a, b], Some(&out), &PlotOptions::default()).unwrap();
    for stem in [
        "overlay_elbo",
        "overlay_kl",
        "rate_distortion",
        "beta-1-kl_per_dim",
        "beta-4-kl_heatmap",
    ] {
        check_png(&out.join(format!("{stem}.png")));
        check_svg(&out.join(format!("{stem}.svg")));
    }
}

#[test]
fn a_folder_without_metrics_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let e = plot_runs(&[tmp.path().to_path_buf()], None, &PlotOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no metrics.jsonl"), "{e}");
}
