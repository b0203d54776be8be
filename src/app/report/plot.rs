//! Figures for one or several runs, as PNG (for slides) and SVG (for papers).
//!
//! Text is rendered with a font embedded in the binary (DejaVu Sans, through
//! plotters' pure-Rust `ab_glyph` path), so plotting needs no fontconfig or
//! freetype on the machine.
//!
//! One run: `kl_per_dim`, `kl_heatmap`, `kl_bars`, `active_units`, `elbo`,
//! `metrics` (every scalar the metric registry marks for plotting, one panel
//! each), and `component_usage` for mixture priors; for a VQ-VAE, `elbo`,
//! `metrics` and `codebook` (codes used and perplexity); and
//! `posterior_mean_space` for a run that recorded posterior-mean snapshots
//! (`monitor.posterior_mean_every`).
//! Several runs: also `overlay_elbo`, `overlay_kl` and `rate_distortion`, and
//! `overlay_components` (mixture priors) or `overlay_perplexity` (VQ-VAEs).

use super::runlog::RunLog;
use crate::core::error::{Error, Result};
use crate::metrics::{Metric, collapse, registry, usage};
use plotters::coord::Shift;

pub mod embedding;
mod overlay;
mod posterior_mean;
pub mod samples;
mod single;
pub mod spectrum;
use overlay::{Overlaid, Overlay, RateDistortion};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use single::{ActiveUnits, Bars, Codebook, Elbo, Heatmap, KlPerDim, Panels, Usage};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Figure size in pixels (PNG) and SVG user units.
pub const SIZE: (u32, u32) = (1200, 800);
const FONT: &str = "sans-serif";

static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
        if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_err() {
            panic!("the embedded DejaVu Sans font is invalid");
        }
    });
}

type PlotResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Tableau-10: distinguishable, print-friendly line colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Options of `vaekit plot`.
#[derive(Clone, Debug, Default)]
pub struct PlotOptions {
    /// KL axes on a log scale.
    pub log_kl: bool,
}

/// A figure drawn identically on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static;
}

fn render_both<F: Figure>(out: &Path, stem: &str, fig: &F) -> Result<Vec<PathBuf>> {
    register_font();
    let png = out.join(format!("{stem}.png"));
    let svg = out.join(format!("{stem}.svg"));
    let fail = |p: &Path, e: Box<dyn std::error::Error>| {
        Error::bad_file(p, format!("could not draw the figure: {e}"))
    };
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        fig.draw(&root).map_err(|e| fail(&png, e))?;
        root.present().map_err(|e| fail(&png, Box::new(e)))?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        fig.draw(&root).map_err(|e| fail(&svg, e))?;
        root.present().map_err(|e| fail(&svg, Box::new(e)))?;
    }
    Ok(vec![png, svg])
}

fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// The legend box every figure uses.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    size: u32,
    position: SeriesLabelPosition,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .label_font(text(size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(position)
        .draw()?;
    Ok(())
}

/// A training-step chart with a left and a right y axis, labelled.
type DualChart<'a, DB> = plotters::chart::DualCoordChartContext<
    'a,
    DB,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
>;

fn dual_axes<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, Shift>,
    title: String,
    xmax: f64,
    left: (std::ops::Range<f64>, &str),
    right: (std::ops::Range<f64>, &str),
    left_integers: bool,
) -> std::result::Result<DualChart<'a, DB>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let left_span = left.0.end - left.0.start;
    let mut chart = ChartBuilder::on(root)
        .caption(title, text(30))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0f64..xmax, left.0)?
        .set_secondary_coord(0f64..xmax, right.0);
    chart
        .configure_mesh()
        .x_desc("training step")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc(left.1)
        .y_label_formatter(&|v| {
            if left_integers {
                format!("{v:.0}")
            } else {
                axis_label(*v, left_span)
            }
        })
        .label_style(text(18))
        .axis_desc_style(text(22))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc(right.1)
        .label_style(text(18))
        .axis_desc_style(text(22))
        .draw()?;
    Ok(chart)
}

/// One measured series on the left axis (a line with dots) and one on the
/// right (dashed), with the legend.
fn solid_and_dashed<'a, DB: DrawingBackend + 'a>(
    chart: &mut DualChart<'a, DB>,
    left: (Vec<(f64, f64)>, &str),
    right: (Vec<(f64, f64)>, &str),
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let solid = color(0).stroke_width(3);
    chart
        .draw_series(LineSeries::new(left.0.clone(), solid))?
        .label(left.1)
        .legend(line_key(solid));
    chart.draw_series(left.0.iter().map(|&p| Circle::new(p, 4, color(0).filled())))?;
    let dashed = color(3).stroke_width(3);
    chart
        .draw_secondary_series(DashedLineSeries::new(right.0, 8, 5, dashed))?
        .label(right.1)
        .legend(line_key(dashed));
    legend(chart, 18, SeriesLabelPosition::LowerRight)
}

/// A legend key: a short line in the series' style.
fn line_key(style: impl Into<ShapeStyle>) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    let style = style.into();
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style)
}

/// Dimensions ordered by final KL, largest first.
fn order_by_final(kl: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..kl.len()).collect();
    idx.sort_by(|&a, &b| kl[b].total_cmp(&kl[a]));
    idx
}

/// Floor for KL values on a log axis.
const LOG_FLOOR: f64 = 1e-4;

fn y_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        let v = if log { v.max(LOG_FLOOR).log10() } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if !log {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - if log { pad } else { 0.0 }, hi + pad)
}

fn kl_value(v: f64, log: bool) -> f64 {
    if log { v.max(LOG_FLOOR).log10() } else { v }
}

/// A KL axis label; `span` is the axis' range (hi − lo) in its units.
fn kl_label(v: &f64, log: bool, span: f64) -> String {
    if log {
        let x = 10f64.powf(*v);
        if x >= 1.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.0e}")
        }
    } else {
        axis_label(*v, span)
    }
}

/// Decimals that keep a linear axis' ticks apart: about ten ticks over
/// `span`, at steps of 1, 2 or 5 × 10ⁿ, so one decimal past the span's
/// leading digit is enough (a KL axis from 0 to 0.023 nats reads 0.002,
/// 0.004, …, not 0.00, 0.00, 0.01, …).
fn axis_decimals(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    (1.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
}

/// `v` with the decimals its axis' `span` needs.
fn axis_label(v: f64, span: f64) -> String {
    let d = axis_decimals(span);
    let s = format!("{v:.d$}");
    // No "-0.00" on an axis.
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A value in nats for a legend: two decimals, or three significant
/// digits below 0.1 so that 0.004 and 0.012 stay apart.
fn nats_label(v: f64) -> String {
    if v.abs() >= 0.1 || v == 0.0 || !v.is_finite() {
        format!("{v:.2}")
    } else {
        let d = (2.0 - v.abs().log10().floor()) as usize;
        format!("{v:.d$}")
    }
}

/// Write every figure for `runs` into `out` (default: `RUN/plots` for one
/// run, `plots/` for several). Returns the files written.
pub fn plot_runs(dirs: &[PathBuf], out: Option<&Path>, opts: &PlotOptions) -> Result<Vec<PathBuf>> {
    if dirs.is_empty() {
        return Err(Error::Usage(
            "vaekit plot: name at least one run directory".into(),
        ));
    }
    let runs: Vec<RunLog> = dirs
        .iter()
        .map(|d| RunLog::read(d))
        .collect::<Result<_>>()?;
    let out = match out {
        Some(o) => o.to_path_buf(),
        None if runs.len() == 1 => runs[0].dir.join("plots"),
        None => PathBuf::from("plots"),
    };
    crate::core::fsutil::create_dir_all(&out)?;
    let mut files = Vec::new();
    let prefix = |r: &RunLog, stem: &str| {
        if runs.len() == 1 {
            stem.to_string()
        } else {
            format!("{}-{stem}", r.name)
        }
    };
    for r in &runs {
        if r.train.is_empty() {
            return Err(Error::Usage(format!(
                "{}: metrics.jsonl has no training lines yet; nothing to plot",
                r.dir.display()
            )));
        }
        // Which figures a run gets follows from the metrics its lines hold.
        let has = |name: &str| {
            r.val
                .iter()
                .any(|p| p.get(name).is_some() || p.vector(name).is_some())
        };
        // Codes have no latent dimensions (their KL is the constant P·ln K):
        // no per-dimension KL figures for them.
        let codebook = has(usage::CODEBOOK_USAGE.name) || has(usage::CODES_USED.name);
        if !codebook {
            files.extend(render_both(
                &out,
                &prefix(r, "kl_per_dim"),
                &KlPerDim {
                    run: r,
                    log: opts.log_kl,
                },
            )?);
            files.extend(render_both(
                &out,
                &prefix(r, "kl_heatmap"),
                &Heatmap { run: r },
            )?);
            files.extend(render_both(
                &out,
                &prefix(r, "kl_bars"),
                &Bars {
                    run: r,
                    log: opts.log_kl,
                },
            )?);
        }
        if has(collapse::ACTIVE_UNITS.name) || !codebook {
            files.extend(render_both(
                &out,
                &prefix(r, "active_units"),
                &ActiveUnits { run: r },
            )?);
        }
        files.extend(render_both(&out, &prefix(r, "elbo"), &Elbo { run: r })?);
        if let Some(panels) = Panels::of(r) {
            files.extend(render_both(&out, &prefix(r, "metrics"), &panels)?);
        }
        if has(usage::COMPONENT_USAGE.name) {
            files.extend(render_both(
                &out,
                &prefix(r, "component_usage"),
                &Usage { run: r },
            )?);
        }
        if codebook {
            files.extend(render_both(
                &out,
                &prefix(r, "codebook"),
                &Codebook { run: r },
            )?);
        }
        let grad = crate::metrics::grad_noise::history(&r.dir);
        if !grad.is_empty() {
            files.extend(render_both(
                &out,
                &prefix(r, "grad_snr"),
                &grad_snr_curve(&r.name, &grad),
            )?);
        }
        let snapshots = crate::metrics::posterior_mean::read(&r.dir)?;
        if let Some(fig) = posterior_mean::PosteriorMeanSpace::of(&r.name, &snapshots) {
            files.extend(render_both(&out, &prefix(r, "posterior_mean_space"), &fig)?);
        }
    }
    if runs.len() > 1 {
        files.extend(render_both(
            &out,
            Overlaid::Elbo.stem(),
            &Overlay {
                runs: &runs,
                what: Overlaid::Elbo,
                log: false,
            },
        )?);
        files.extend(render_both(
            &out,
            Overlaid::Kl.stem(),
            &Overlay {
                runs: &runs,
                what: Overlaid::Kl,
                log: opts.log_kl,
            },
        )?);
        let all =
            |f: fn(&super::runlog::ValPoint) -> bool| runs.iter().all(|r| r.val.iter().any(f));
        let what = if all(|p| p.get(usage::CODEBOOK_PERPLEXITY.name).is_some()) {
            Some(Overlaid::Perplexity)
        } else if all(|p| p.get(usage::COMPONENTS_EFFECTIVE.name).is_some()) {
            Some(Overlaid::Components)
        } else {
            None
        };
        if let Some(what) = what {
            files.extend(render_both(
                &out,
                what.stem(),
                &Overlay {
                    runs: &runs,
                    what,
                    log: false,
                },
            )?);
        }
    }
    files.extend(render_both(
        &out,
        "rate_distortion",
        &RateDistortion { runs: &runs },
    )?);
    Ok(files)
}

/// The gradient-noise monitor's measurements over training: log₁₀ of the
/// mean SNR over each group's parameter elements.
fn grad_snr_curve(name: &str, grad: &[(usize, crate::metrics::Record)]) -> Curve {
    let series = |group: &str| {
        let key = format!("{group}_grad_snr");
        let pts: Vec<(f64, f64, f64)> = grad
            .iter()
            .filter_map(|(step, r)| Some((*step as f64, r.float(&key)?.log10(), 0.0)))
            .collect();
        (!pts.is_empty()).then(|| (group.to_string(), pts))
    };
    let m = grad
        .last()
        .and_then(|(_, r)| r.count("grad_estimates"))
        .unwrap_or(0);
    Curve {
        title: format!("Gradient signal-to-noise ratio ({m} estimates per point) — {name}"),
        x_label: "step".into(),
        y_label: "log₁₀ mean SNR over parameters".into(),
        log_x: false,
        series: ["encoder", "decoder"]
            .into_iter()
            .filter_map(series)
            .collect(),
    }
}

/// A study's summary curve: one line per series through (x, mean) points,
/// with ± one standard deviation as error bars (std 0 draws none).
#[derive(Clone, Debug)]
pub struct Curve {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Plot x on a log₁₀ axis (x must be positive).
    pub log_x: bool,
    /// (label, points (x, mean, std)).
    pub series: Vec<(String, Vec<(f64, f64, f64)>)>,
}

impl Figure for Curve {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let tx = |x: f64| if self.log_x { x.log10() } else { x };
        let pts = || {
            self.series
                .iter()
                .flat_map(|(_, p)| p.iter())
                .filter(|p| p.1.is_finite() && (!self.log_x || p.0 > 0.0))
        };
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, m, s) in pts() {
            let s = if s.is_finite() { s } else { 0.0 };
            (x0, x1) = (x0.min(tx(x)), x1.max(tx(x)));
            (y0, y1) = (y0.min(m - s), y1.max(m + s));
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let (xpad, ypad) = (0.05 * (x1 - x0).max(1e-3), 0.08 * (y1 - y0).max(1e-3));
        // Ticks exactly at the x values measured (k, β, K), not at round
        // numbers of the (possibly log) axis.
        let mut ticks: Vec<f64> = pts().map(|p| tx(p.0)).collect();
        ticks.sort_by(f64::total_cmp);
        ticks.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, text(30))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(x0 - xpad..x1 + xpad, y0 - ypad..y1 + ypad)?;
        let log_x = self.log_x;
        let fmt_x = move |v: &f64| {
            let x = if log_x { 10f64.powf(*v) } else { *v };
            // Measured values print as given: 128, 0.25, 5000.
            let r = (x * 1e6).round() / 1e6;
            format!("{r}")
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|_| String::new())
            .label_style(text(18))
            .axis_desc_style(text(22))
            .draw()?;
        let y_low = y0 - ypad;
        for &t in &ticks {
            chart.draw_series(LineSeries::new(
                [(t, y_low), (t, y1 + ypad)],
                BLACK.mix(0.15).stroke_width(1),
            ))?;
            let (px, py) = chart.backend_coord(&(t, y_low));
            root.draw(&Text::new(
                fmt_x(&t),
                (px, py + 8),
                text(18).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                )),
            ))?;
        }
        for (i, (label, points)) in self.series.iter().enumerate() {
            let c = color(i);
            let p: Vec<(f64, f64, f64)> = points
                .iter()
                .filter(|p| p.1.is_finite() && (!log_x || p.0 > 0.0))
                .map(|&(x, m, s)| (tx(x), m, if s.is_finite() { s } else { 0.0 }))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    p.iter().map(|&(x, m, _)| (x, m)),
                    c.stroke_width(3),
                ))?
                .label(label.clone())
                .legend(line_key(c.stroke_width(3)));
            chart.draw_series(
                p.iter()
                    .map(|&(x, m, _)| Circle::new((x, m), 5, c.filled())),
            )?;
            chart.draw_series(p.iter().filter(|q| q.2 > 0.0).map(|&(x, m, s)| {
                ErrorBar::new_vertical(x, m - s, m, m + s, c.stroke_width(2), 10)
            }))?;
        }
        // The legend goes where it hides the least of the lines: a curve
        // rising to the top right (the decoder's SNR against k) would
        // otherwise run under it.
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let mut pix = Vec::new();
        for (_, points) in &self.series {
            let p: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.1.is_finite() && (!log_x || p.0 > 0.0))
                .map(|&(x, m, _)| (tx(x), m))
                .collect();
            pix.extend(p.iter().map(|q| chart.backend_coord(q)));
            for w in p.windows(2) {
                pix.extend((1..16).map(|j| {
                    let f = f64::from(j) / 16.0;
                    chart.backend_coord(&(
                        w[0].0 + f * (w[1].0 - w[0].0),
                        w[0].1 + f * (w[1].1 - w[0].1),
                    ))
                }));
            }
        }
        let longest = self.series.iter().map(|(l, _)| l.chars().count());
        let size = (
            (11.0 * longest.max().unwrap_or(0) as f64) as i32 + 60,
            24 * self.series.len() as i32 + 16,
        );
        legend(&mut chart, 18, emptiest_corner(xr, yr, size, &pix))
    }
}

/// The corner of the plotting area (pixel ranges `x`, `y`) where a legend
/// box of `size` (width, height) covers the fewest of the pixels `pts`;
/// ties go to upper right, upper left, lower right, lower left, in that
/// order.
fn emptiest_corner(
    x: std::ops::Range<i32>,
    y: std::ops::Range<i32>,
    size: (i32, i32),
    pts: &[(i32, i32)],
) -> SeriesLabelPosition {
    // plotters' default gap between the legend and the plotting area's edge.
    const GAP: i32 = 10;
    let (w, h) = size;
    let (left, right) = (x.start + GAP, x.end - GAP - w);
    let (top, bottom) = (y.start + GAP, y.end - GAP - h);
    [
        (SeriesLabelPosition::UpperRight, right, top),
        (SeriesLabelPosition::UpperLeft, left, top),
        (SeriesLabelPosition::LowerRight, right, bottom),
        (SeriesLabelPosition::LowerLeft, left, bottom),
    ]
    .into_iter()
    .min_by_key(|&(_, x0, y0)| {
        pts.iter()
            .filter(|&&(px, py)| (x0..=x0 + w).contains(&px) && (y0..=y0 + h).contains(&py))
            .count()
    })
    .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// Draw `curve` as `out/stem.png` and `.svg`.
pub fn plot_curve(out: &Path, stem: &str, curve: &Curve) -> Result<Vec<PathBuf>> {
    crate::core::fsutil::create_dir_all(out)?;
    render_both(out, stem, curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: SeriesLabelPosition) -> &'static str {
        match p {
            SeriesLabelPosition::UpperRight => "upper right",
            SeriesLabelPosition::UpperLeft => "upper left",
            SeriesLabelPosition::LowerRight => "lower right",
            SeriesLabelPosition::LowerLeft => "lower left",
            _ => "other",
        }
    }

    #[test]
    fn axis_labels_keep_neighbouring_ticks_apart() {
        // plotters' ticks for a range: about ten, at 1, 2 or 5 × 10^n
        // steps. Whatever the span, no two ticks may print alike.
        // Spans from 10⁻³ to 10³, 300 of them, log-spaced.
        for span in (0..300).map(|i| 10f64.powf(-3.0 + 0.02 * f64::from(i))) {
            let mut axis = RangedCoordf64::from(0.0..span);
            let ticks = axis.key_points(12);
            let labels: Vec<String> = ticks.iter().map(|&v| axis_label(v, span)).collect();
            for w in labels.windows(2) {
                assert_ne!(
                    w[0], w[1],
                    "span {span}: ticks {ticks:?} print as {labels:?}"
                );
            }
            axis = RangedCoordf64::from(-span..0.0);
            let ticks = axis.key_points(12);
            let labels: Vec<String> = ticks.iter().map(|&v| axis_label(v, span)).collect();
            assert!(!labels.iter().any(|l| l.starts_with("-0") && l.trim_matches(&['-', '0', '.'][..]).is_empty()));
        }
        assert_eq!(axis_label(0.004, 0.023), "0.004");
        assert_eq!(axis_label(-120.0, 40.0), "-120");
        assert_eq!(axis_label(-0.0, 1.0), "0.0");
        assert_eq!(nats_label(0.0123), "0.0123");
        assert_eq!(nats_label(0.004), "0.00400");
        assert_eq!(nats_label(1.5), "1.50");
        assert_eq!(nats_label(0.0), "0.00");
    }

    #[test]
    fn the_legend_goes_to_the_corner_that_hides_the_fewest_points() {
        // A 1000×600 area, a 200×100 box.
        let corner = |pts: &[(i32, i32)]| name(emptiest_corner(0..1000, 0..600, (200, 100), pts));
        assert_eq!(
            corner(&[]),
            "upper right",
            "an empty plot keeps the default"
        );
        // A line rising to the top right: that corner is taken.
        let rising: Vec<(i32, i32)> = (0..=100).map(|i| (10 * i, 600 - 6 * i)).collect();
        assert_eq!(corner(&rising), "upper left");
        // Points in every corner but the lower left.
        let three = [(950, 50), (50, 50), (950, 550), (960, 40)];
        assert_eq!(corner(&three), "lower left");
        // Fewest, not none: two in the upper left, one everywhere else but
        // upper right's three.
        let counts = [
            (980, 20),
            (985, 25),
            (975, 30),
            (30, 30),
            (40, 40),
            (950, 560),
            (40, 560),
        ];
        assert_eq!(corner(&counts), "lower right");
    }
}
