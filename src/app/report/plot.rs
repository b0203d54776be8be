//! Figures for one or several runs, as PNG (for slides) and SVG (for papers).
//!
//! Text is rendered with a font embedded in the binary (DejaVu Sans, through
//! plotters' pure-Rust `ab_glyph` path), so plotting needs no fontconfig or
//! freetype on the machine.
//!
//! One run: `kl_per_dim`, `kl_heatmap`, `kl_bars`, `active_units`, `elbo`,
//! `metrics` (every scalar the metric registry marks for plotting, one panel
//! each), and `component_usage` for mixture priors; for a VQ-VAE, `elbo`,
//! `metrics` and `codebook` (codes used and perplexity).
//! Several runs: also `overlay_elbo`, `overlay_kl` and `rate_distortion`, and
//! `overlay_components` (mixture priors) or `overlay_perplexity` (VQ-VAEs).

use super::runlog::RunLog;
use crate::core::error::{Error, Result};
use crate::metrics::{Metric, registry};
use plotters::coord::Shift;

pub mod samples;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
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
                format!("{v:.1}")
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

fn kl_label(v: &f64, log: bool) -> String {
    if log {
        let x = 10f64.powf(*v);
        if x >= 1.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.0e}")
        }
    } else {
        format!("{v:.2}")
    }
}

struct KlPerDim<'a> {
    run: &'a RunLog,
    log: bool,
}

impl Figure for KlPerDim<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let t = &self.run.train;
        let xmax = t.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        let (lo, hi) = y_range(
            t.iter().flat_map(|p| p.kl_per_dim.iter().copied()),
            self.log,
        );
        let bmax = t.iter().map(|p| p.beta).fold(0.0, f64::max).max(1e-3) * 1.05;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "KL per latent dimension — {}  (legend: final KL, nats)",
                    self.run.name
                ),
                text(30),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0f64..xmax, lo..hi)?
            .set_secondary_coord(0f64..xmax, 0f64..bmax);
        let log = self.log;
        chart
            .configure_mesh()
            .x_desc("training step")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc(if log {
                "KL (nats, log scale)"
            } else {
                "KL (nats)"
            })
            .y_label_formatter(&|v| kl_label(v, log))
            .label_style(text(18))
            .axis_desc_style(text(22))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("β (dashed)")
            .label_style(text(18))
            .axis_desc_style(text(22))
            .draw()?;
        let fin = self
            .run
            .train
            .last()
            .map(|p| p.kl_per_dim.clone())
            .unwrap_or_default();
        // With many dimensions only the top ten get a legend entry.
        let labelled = if fin.len() > 12 { 10 } else { fin.len() };
        for (rank, &j) in order_by_final(&fin).iter().enumerate() {
            let c = color(rank);
            let series = chart.draw_series(LineSeries::new(
                t.iter().filter_map(|p| {
                    p.kl_per_dim
                        .get(j)
                        .map(|&v| (p.step as f64, kl_value(v, log)))
                }),
                c.stroke_width(2),
            ))?;
            if rank < labelled {
                series
                    .label(format!("z{j}  ({:.2})", fin[j]))
                    .legend(line_key(c.stroke_width(3)));
            } else if rank == labelled {
                series
                    .label(format!("… {} more dimensions", fin.len() - labelled))
                    .legend(line_key(c));
            }
        }
        chart.draw_secondary_series(DashedLineSeries::new(
            t.iter().map(|p| (p.step as f64, p.beta)),
            8,
            5,
            BLACK.stroke_width(2),
        ))?;
        legend(&mut chart, 16, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}

struct Heatmap<'a> {
    run: &'a RunLog,
}

impl Figure for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let t = &self.run.train;
        let fin = t.last().map(|p| p.kl_per_dim.clone()).unwrap_or_default();
        let order = order_by_final(&fin);
        let nz = fin.len().max(1);
        let vmax = t
            .iter()
            .flat_map(|p| p.kl_per_dim.iter().copied())
            .filter(|v| v.is_finite())
            .fold(1e-9, f64::max);
        let (main, bar) = root.split_horizontally(SIZE.0 - 150);
        let xmax = t.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(&main)
            .caption(
                format!("KL per dimension over training — {}", self.run.name),
                text(30),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..xmax, (0..nz as i32).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("training step")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("latent dimension (by final KL)")
            .y_labels(nz.min(40))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(r) if (0..nz as i32).contains(r) => order
                    .get(nz - 1 - *r as usize)
                    .map(|j| format!("z{j}"))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(text(16))
            .axis_desc_style(text(22))
            .draw()?;
        let mut prev = 0.0;
        let mut cells = Vec::new();
        for p in t {
            let x1 = p.step as f64;
            for (rank, &j) in order.iter().enumerate() {
                let v = p.kl_per_dim.get(j).copied().unwrap_or(0.0);
                let row = (nz - 1 - rank) as i32;
                let c =
                    ViridisRGB.get_color_normalized(v.clamp(0.0, vmax) as f32, 0.0, vmax as f32);
                cells.push(Rectangle::new(
                    [
                        (prev, SegmentValue::Exact(row)),
                        (x1, SegmentValue::Exact(row + 1)),
                    ],
                    c.filled(),
                ));
            }
            prev = x1;
        }
        chart.draw_series(cells)?;
        // Colour bar.
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(80)
            .margin_bottom(80)
            .margin_right(20)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1.0, 0f64..vmax)?;
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc("KL (nats)")
            .label_style(text(16))
            .axis_desc_style(text(18))
            .draw()?;
        let steps = 100;
        cb.draw_series((0..steps).map(|i| {
            let (a, b) = (
                vmax * i as f64 / steps as f64,
                vmax * (i + 1) as f64 / steps as f64,
            );
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                ViridisRGB
                    .get_color_normalized(a as f32, 0.0, vmax as f32)
                    .filled(),
            )
        }))?;
        Ok(())
    }
}

struct Bars<'a> {
    run: &'a RunLog,
    log: bool,
}

impl Figure for Bars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let fin = self.run.final_kl_per_dim();
        let order = order_by_final(&fin);
        let n = fin.len().max(1);
        let log = self.log;
        let (lo, hi) = y_range(fin.iter().copied(), log);
        let base = if log { lo } else { 0.0 };
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Final KL per latent dimension — {}", self.run.name),
                text(30),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..n as f64, lo..hi)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("latent dimension (sorted by KL)")
            .y_desc(if log {
                "KL (nats, log scale)"
            } else {
                "KL (nats)"
            })
            .x_labels(n.min(40))
            .x_label_formatter(&|v| {
                let i = v.floor() as usize;
                match order.get(i) {
                    Some(j) if (v - v.floor()).abs() < 1e-9 => format!("z{j}"),
                    _ => String::new(),
                }
            })
            .y_label_formatter(&|v| kl_label(v, log))
            .label_style(text(16))
            .axis_desc_style(text(22))
            .draw()?;
        chart.draw_series(order.iter().enumerate().map(|(i, &j)| {
            let v = kl_value(fin[j], log);
            Rectangle::new(
                [(i as f64 + 0.1, base), (i as f64 + 0.9, v)],
                color(0).filled(),
            )
        }))?;
        Ok(())
    }
}

struct ActiveUnits<'a> {
    run: &'a RunLog,
}

impl Figure for ActiveUnits<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let v = &self.run.val;
        let nz = v
            .first()
            .and_then(|p| p.vector("kl_per_dim"))
            .map_or(1, |k| k.len())
            .max(1) as f64;
        let xmax = v.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        let mi_max = v.iter().filter_map(|p| p.get("mi")).fold(0.1, f64::max) * 1.1;
        let mut chart = dual_axes(
            root,
            format!("Active units and I(x;z) — {} (validation)", self.run.name),
            xmax,
            (0f64..nz + 0.5, "active units (A_u > δ)"),
            (0f64..mi_max, "I(x;z) (nats, dashed)"),
            true,
        )?;
        let au = v
            .iter()
            .filter_map(|p| p.get("active_units").map(|a| (p.step as f64, a)));
        let mi = v
            .iter()
            .filter_map(|p| p.get("mi").map(|m| (p.step as f64, m)));
        solid_and_dashed(
            &mut chart,
            (au.collect(), "active units"),
            (mi.collect(), "I(x;z)"),
        )
    }
}

struct Elbo<'a> {
    run: &'a RunLog,
}

impl Figure for Elbo<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!("ELBO, reconstruction and KL — {}", self.run.name),
            text(30),
        )?;
        let (top, bottom) = root.split_vertically((SIZE.1 - 50) / 2);
        let (t, v) = (&self.run.train, &self.run.val);
        let xmax = t.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        // Top: ELBO and log p(x|z), nats per image.
        let vals = t
            .iter()
            .flat_map(|p| [p.rec_ll - p.kl, p.rec_ll])
            .chain(v.iter().flat_map(|p| [p.num("elbo"), p.num("rec_ll")]));
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in vals.filter(|x| x.is_finite()) {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        if !lo.is_finite() {
            (lo, hi) = (-1.0, 0.0);
        }
        // Clip the first steps' huge values so the trend stays readable.
        let late: Vec<f64> = t
            .iter()
            .skip(t.len() / 10)
            .map(|p| p.rec_ll - p.kl)
            .collect();
        if let Some(m) = late.iter().cloned().reduce(f64::min) {
            lo = lo.max(m - 0.5 * (hi - m).abs().max(1.0));
        }
        let mut c1 = ChartBuilder::on(&top)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..xmax, lo..hi + 0.02 * (hi - lo).abs().max(1.0))?;
        c1.configure_mesh()
            .y_desc("nats per image")
            .label_style(text(16))
            .axis_desc_style(text(20))
            .draw()?;
        let series: [(&str, Vec<(f64, f64)>, RGBColor, bool); 4] = [
            (
                "ELBO (train)",
                t.iter().map(|p| (p.step as f64, p.rec_ll - p.kl)).collect(),
                color(0),
                false,
            ),
            (
                "log p(x|z) (train)",
                t.iter().map(|p| (p.step as f64, p.rec_ll)).collect(),
                color(1),
                false,
            ),
            (
                "ELBO (val)",
                v.iter().map(|p| (p.step as f64, p.num("elbo"))).collect(),
                color(0),
                true,
            ),
            (
                "log p(x|z) (val)",
                v.iter().map(|p| (p.step as f64, p.num("rec_ll"))).collect(),
                color(1),
                true,
            ),
        ];
        for (name, pts, c, marker) in series {
            let w = if marker { 3 } else { 1 };
            c1.draw_series(LineSeries::new(
                pts.clone().into_iter().filter(|p| p.1 >= lo),
                c.stroke_width(w),
            ))?
            .label(name)
            .legend(line_key(c.stroke_width(w)));
            if marker {
                c1.draw_series(
                    pts.into_iter()
                        .filter(|p| p.1 >= lo)
                        .map(|p| Circle::new(p, 4, c.filled())),
                )?;
            }
        }
        legend(&mut c1, 16, SeriesLabelPosition::LowerRight)?;
        // Bottom: KL.
        let kmax = t
            .iter()
            .map(|p| p.kl)
            .chain(v.iter().map(|p| p.num("kl")))
            .filter(|x| x.is_finite())
            .fold(1e-3, f64::max);
        let mut c2 = ChartBuilder::on(&bottom)
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..xmax, 0f64..kmax * 1.05)?;
        c2.configure_mesh()
            .x_desc("training step")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("KL (nats)")
            .label_style(text(16))
            .axis_desc_style(text(20))
            .draw()?;
        c2.draw_series(LineSeries::new(
            t.iter().map(|p| (p.step as f64, p.kl)),
            color(2).stroke_width(1),
        ))?
        .label("KL (train)")
        .legend(line_key(color(2)));
        c2.draw_series(LineSeries::new(
            v.iter().map(|p| (p.step as f64, p.num("kl"))),
            color(2).stroke_width(3),
        ))?
        .label("KL (val)")
        .legend(line_key(color(2).stroke_width(3)));
        legend(&mut c2, 16, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}

/// Mixture priors: usage of each component over training, and the
/// effective number of components exp(H(ū)).
struct Usage<'a> {
    run: &'a RunLog,
}

impl Figure for Usage<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let v: Vec<_> = self
            .run
            .val
            .iter()
            .filter(|p| p.vector("component_usage").is_some())
            .collect();
        let k = v
            .last()
            .and_then(|p| p.vector("component_usage"))
            .map_or(1, |u| u.len());
        let xmax = v.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        let mut chart = dual_axes(
            root,
            format!("Mixture component usage — {} (validation)", self.run.name),
            xmax,
            (0f64..1.0, "usage ū_k (mean responsibility)"),
            (0f64..k as f64 + 0.5, "effective components exp(H) (dashed)"),
            false,
        )?;
        for c in 0..k {
            let col = color(c);
            let s = chart.draw_series(LineSeries::new(
                v.iter().filter_map(|p| {
                    p.vector("component_usage")
                        .and_then(|u| u.get(c).copied())
                        .map(|u| (p.step as f64, u))
                }),
                col.stroke_width(2),
            ))?;
            if c < 10 {
                s.label(format!("component {c}"))
                    .legend(line_key(col.stroke_width(2)));
            }
        }
        chart
            .draw_secondary_series(DashedLineSeries::new(
                v.iter()
                    .filter_map(|p| p.get("components_effective").map(|e| (p.step as f64, e))),
                8,
                5,
                BLACK.stroke_width(3),
            ))?
            .label("exp(H)")
            .legend(line_key(BLACK.stroke_width(3)));
        legend(&mut chart, 16, SeriesLabelPosition::UpperRight)
    }
}

/// VQ-VAE: the fraction of codes used and the codebook perplexity over training.
struct Codebook<'a> {
    run: &'a RunLog,
}

impl Figure for Codebook<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let v: Vec<_> = self
            .run
            .val
            .iter()
            .filter(|p| p.get("codes_used").is_some() || p.vector("codebook_usage").is_some())
            .collect();
        let k = v
            .last()
            .and_then(|p| p.vector("codebook_usage"))
            .map_or(1, |u| u.len())
            .max(1) as f64;
        let xmax = v.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        let mut chart = dual_axes(
            root,
            format!("Codebook usage — {} (validation, K = {k})", self.run.name),
            xmax,
            (0f64..1.02, "fraction of codes used"),
            (0f64..k * 1.02, "perplexity exp(entropy of usage) (dashed)"),
            false,
        )?;
        let used = v
            .iter()
            .filter_map(|p| p.get("codes_used").map(|u| (p.step as f64, u / k)));
        let perplexity = v
            .iter()
            .filter_map(|p| p.get("codebook_perplexity").map(|e| (p.step as f64, e)));
        solid_and_dashed(
            &mut chart,
            (used.collect(), "codes used / K (1 − dead / K)"),
            (perplexity.collect(), "perplexity"),
        )
    }
}

/// Several runs' validation curves of one quantity, overlaid.
struct Overlay<'a> {
    runs: &'a [RunLog],
    what: &'static str,
    /// KL on a log axis (`vaekit plot --log`); other quantities ignore it.
    log: bool,
}

impl Figure for Overlay<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let metric = match self.what {
            "perplexity" => "codebook_perplexity",
            "components" => "components_effective",
            what => what,
        };
        let log = self.log && self.what == "kl";
        let get = |p: &super::runlog::ValPoint| {
            let v = p.get(metric).unwrap_or(f64::NAN);
            if log { kl_value(v, true) } else { v }
        };
        let xmax = self
            .runs
            .iter()
            .filter_map(|r| r.val.last())
            .map(|p| p.step)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in self
            .runs
            .iter()
            .flat_map(|r| r.val.iter().map(get))
            .filter(|v| v.is_finite())
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if self.what != "elbo" && !log {
            lo = 0.0;
        }
        let pad = 0.05 * (hi - lo).abs().max(1e-3);
        let (title, ydesc) = match self.what {
            "elbo" => ("Validation ELBO by run", "ELBO (nats per image)"),
            "perplexity" => (
                "Codebook perplexity by run",
                "perplexity exp(entropy of usage)",
            ),
            "components" => (
                "Effective mixture components by run",
                "exp(entropy of component usage)",
            ),
            _ if log => ("Validation KL by run", "KL (nats, log scale)"),
            _ => ("Validation KL by run", "KL (nats)"),
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, text(30))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..xmax, lo - pad..hi + pad)?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc(ydesc)
            .y_label_formatter(&|v| {
                if log {
                    kl_label(v, true)
                } else {
                    format!("{v:.1}")
                }
            })
            .label_style(text(18))
            .axis_desc_style(text(22))
            .draw()?;
        for (i, r) in self.runs.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(
                    r.val.iter().map(|p| (p.step as f64, get(p))),
                    c.stroke_width(3),
                ))?
                .label(r.name.clone())
                .legend(line_key(c.stroke_width(3)));
        }
        legend(&mut chart, 16, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}

/// Every scalar metric the registry marks for plotting that the run's
/// validation lines hold, one panel each (`metrics.png`): a metric added to
/// the registry shows here with no change to this file.
struct Panels<'a> {
    run: &'a RunLog,
    metrics: Vec<&'static Metric>,
}

impl<'a> Panels<'a> {
    fn of(run: &'a RunLog) -> Option<Self> {
        let metrics: Vec<&'static Metric> = registry::all()
            .iter()
            .filter(|m| m.plot)
            .filter(|m| run.val.iter().any(|p| Self::value(p, m).is_some()))
            .collect();
        (!metrics.is_empty()).then_some(Self { run, metrics })
    }

    fn value(p: &super::runlog::ValPoint, m: &Metric) -> Option<f64> {
        registry::read(&p.metrics, m.name)
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite())
    }
}

impl Figure for Panels<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&format!("Validation metrics — {}", self.run.name), text(30))?;
        let cols = self.metrics.len().min(3);
        let rows = self.metrics.len().div_ceil(cols);
        let xmax = self.run.val.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        for (area, m) in root.split_evenly((rows, cols)).iter().zip(&self.metrics) {
            let pts: Vec<(f64, f64)> = self
                .run
                .val
                .iter()
                .filter_map(|p| Self::value(p, m).map(|v| (p.step as f64, v)))
                .collect();
            let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            // A flat series gets a window around its value, not a zoom into rounding.
            let flat = hi - lo <= 1e-9 * hi.abs().max(lo.abs()).max(1.0);
            let pad = if flat {
                (0.1 * hi.abs()).max(0.5)
            } else {
                0.08 * (hi - lo)
            };
            let span = hi - lo + 2.0 * pad;
            let decimals = (2.0 - span.log10().floor()).clamp(0.0, 6.0) as usize;
            let mut chart = ChartBuilder::on(area)
                .caption(m.label, text(20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..xmax, lo - pad..hi + pad)?;
            chart
                .configure_mesh()
                .x_desc("training step")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.decimals$}"))
                .label_style(text(14))
                .axis_desc_style(text(16))
                .draw()?;
            chart.draw_series(LineSeries::new(
                pts.iter().copied(),
                color(0).stroke_width(3),
            ))?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color(0).filled())))?;
        }
        Ok(())
    }
}

/// The rate–distortion plane: one point per run at (KL, −log p(x|z)), with
/// lines of constant ELBO (R + D = −ELBO).
struct RateDistortion<'a> {
    runs: &'a [RunLog],
}

impl Figure for RateDistortion<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let pts: Vec<(String, f64, f64)> = self
            .runs
            .iter()
            .filter_map(|r| {
                r.final_rate_distortion()
                    .map(|(k, d)| (r.name.clone(), k, d))
            })
            .filter(|p| p.1.is_finite() && p.2.is_finite())
            .collect();
        // Equal spans on both axes, so lines of constant ELBO run at 45°.
        let rmax = pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let dmin = pts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
        let dmax = pts.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
        let (dmin, dmax) = if dmin.is_finite() {
            (dmin, dmax)
        } else {
            (0.0, 1.0)
        };
        let span = rmax.max(dmax - dmin) * 1.3 + 1.0;
        let d0 = (0.5 * (dmin + dmax) - 0.5 * span).max(0.0);
        let d1 = d0 + span;
        let mut chart = ChartBuilder::on(root)
            .caption("Rate–distortion plane (test set)", text(30))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..span, d0..d1)?;
        chart
            .configure_mesh()
            .x_desc("rate R = KL(q(z|x) ‖ p(z))  (nats)")
            .y_desc("distortion D = −log p(x|z)  (nats)")
            .label_style(text(18))
            .axis_desc_style(text(22))
            .draw()?;
        // Iso-ELBO lines R + D = c, labelled where they leave the top or left edge.
        let step = nice_step(2.0 * span / 8.0);
        let mut c = (d0 / step).ceil() * step;
        while c < d1 + span {
            let (x0, y0) = if c > d1 { (c - d1, d1) } else { (0.0, c) };
            let (x1, y1) = if c - span < d0 {
                (c - d0, d0)
            } else {
                (span, c - span)
            };
            chart.draw_series(DashedLineSeries::new(
                [(x0, y0), (x1, y1)],
                6,
                6,
                BLACK.mix(0.35).stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("ELBO −{c:.0}"),
                (x0 + 0.01 * span, y0 - 0.01 * span),
                text(14).color(&BLACK.mix(0.6)),
            )))?;
            c += step;
        }
        for (i, (name, r, d)) in pts.iter().enumerate() {
            let col = color(i);
            chart
                .draw_series(std::iter::once(Circle::new((*r, *d), 8, col.filled())))?
                .label(format!("{name}  (R {r:.1}, D {d:.1})"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 6, col.filled()));
        }
        legend(&mut chart, 16, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_step(x: f64) -> f64 {
    let p = 10f64.powf(x.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&s| s >= x)
        .unwrap_or(10.0 * p)
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
        let codebook = has("codebook_usage") || has("codes_used");
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
        if has("active_units") || !codebook {
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
        if has("component_usage") {
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
    }
    if runs.len() > 1 {
        files.extend(render_both(
            &out,
            "overlay_elbo",
            &Overlay {
                runs: &runs,
                what: "elbo",
                log: false,
            },
        )?);
        files.extend(render_both(
            &out,
            "overlay_kl",
            &Overlay {
                runs: &runs,
                what: "kl",
                log: opts.log_kl,
            },
        )?);
        let all =
            |f: fn(&super::runlog::ValPoint) -> bool| runs.iter().all(|r| r.val.iter().any(f));
        let what = if all(|p| p.get("codebook_perplexity").is_some()) {
            Some("perplexity")
        } else if all(|p| p.get("components_effective").is_some()) {
            Some("components")
        } else {
            None
        };
        if let Some(what) = what {
            files.extend(render_both(
                &out,
                &format!("overlay_{what}"),
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
        legend(&mut chart, 18, SeriesLabelPosition::UpperRight)
    }
}

/// Draw `curve` as `out/stem.png` and `.svg`.
pub fn plot_curve(out: &Path, stem: &str, curve: &Curve) -> Result<Vec<PathBuf>> {
    crate::core::fsutil::create_dir_all(out)?;
    render_both(out, stem, curve)
}
