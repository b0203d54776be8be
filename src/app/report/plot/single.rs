//! The figures of one run: KL per dimension (lines, heatmap, bars), active
//! units and I(x;z), the ELBO and its terms, the registry's scalar panels,
//! and the prior's or codebook's usage.

use super::*;
use crate::app::report::runlog::ValPoint;
use crate::metrics::{collapse, elbo, usage};

pub(super) struct KlPerDim<'a> {
    pub(super) run: &'a RunLog,
    pub(super) log: bool,
}

impl Figure for KlPerDim<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let t = &self.run.train;
        // Past the last train line when a stop ended the run mid-interval.
        let last_mark = self
            .run
            .interventions
            .iter()
            .map(|i| i.0)
            .max()
            .unwrap_or(0);
        let xmax = t.last().map(|p| p.step).unwrap_or(1).max(1).max(last_mark) as f64;
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
            .y_label_formatter(&|v| kl_label(v, log, hi - lo))
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
                    .label(format!("z{j}  ({})", nats_label(fin[j])))
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
        intervention_markers(&mut chart, &self.run.interventions, lo..hi)?;
        legend(&mut chart, 16, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}

/// `train.on_collapse`'s interventions: a dashed red vertical line at each
/// step, the remedy written beside its top.
fn intervention_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    interventions: &[(usize, String)],
    y: std::ops::Range<f64>,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let red = RGBColor(200, 30, 30);
    for (k, (step, remedy)) in interventions.iter().enumerate() {
        let x = *step as f64;
        let series = chart.draw_series(DashedLineSeries::new(
            [(x, y.start), (x, y.end)],
            10,
            6,
            red.stroke_width(2),
        ))?;
        if k == 0 {
            series
                .label("intervention (train.on_collapse)")
                .legend(line_key(red.stroke_width(2)));
        }
        // Staggered down the axis so that close markers keep their labels apart.
        let frac = 0.97 - 0.06 * (k % 4) as f64;
        chart.draw_series(std::iter::once(Text::new(
            format!(" {remedy}"),
            (x, y.start + frac * (y.end - y.start)),
            text(16).color(&red),
        )))?;
    }
    Ok(())
}

pub(super) struct Heatmap<'a> {
    pub(super) run: &'a RunLog,
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

pub(super) struct Bars<'a> {
    pub(super) run: &'a RunLog,
    pub(super) log: bool,
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
            .y_label_formatter(&|v| kl_label(v, log, hi - lo))
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

pub(super) struct ActiveUnits<'a> {
    pub(super) run: &'a RunLog,
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
            .and_then(|p| p.vector(elbo::KL_PER_DIM.name))
            .map_or(1, |k| k.len())
            .max(1) as f64;
        let xmax = v.last().map(|p| p.step).unwrap_or(1).max(1) as f64;
        let mi_max = v
            .iter()
            .filter_map(|p| p.get(collapse::MI.name))
            .fold(0.1, f64::max)
            * 1.1;
        let mut chart = dual_axes(
            root,
            format!("Active units and I(x;z) — {} (validation)", self.run.name),
            xmax,
            (0f64..nz + 0.5, "active units (A_u > δ)"),
            (0f64..mi_max, "I(x;z) (nats, dashed)"),
            true,
        )?;
        let au = v.iter().filter_map(|p| {
            p.get(collapse::ACTIVE_UNITS.name)
                .map(|a| (p.step as f64, a))
        });
        let mi = v
            .iter()
            .filter_map(|p| p.get(collapse::MI.name).map(|m| (p.step as f64, m)));
        intervention_markers(&mut chart, &self.run.interventions, 0.0..nz + 0.5)?;
        solid_and_dashed(
            &mut chart,
            (au.collect(), "active units"),
            (mi.collect(), "I(x;z)"),
        )
    }
}

pub(super) struct Elbo<'a> {
    pub(super) run: &'a RunLog,
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
        let vals = t.iter().flat_map(|p| [p.rec_ll - p.kl, p.rec_ll]).chain(
            v.iter()
                .flat_map(|p| [p.num(elbo::ELBO.name), p.num(elbo::REC_LL.name)]),
        );
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
                v.iter()
                    .map(|p| (p.step as f64, p.num(elbo::ELBO.name)))
                    .collect(),
                color(0),
                true,
            ),
            (
                "log p(x|z) (val)",
                v.iter()
                    .map(|p| (p.step as f64, p.num(elbo::REC_LL.name)))
                    .collect(),
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
            .chain(v.iter().map(|p| p.num(elbo::KL.name)))
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
            v.iter().map(|p| (p.step as f64, p.num(elbo::KL.name))),
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
pub(super) struct Usage<'a> {
    pub(super) run: &'a RunLog,
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
            .filter(|p| p.vector(usage::COMPONENT_USAGE.name).is_some())
            .collect();
        let k = v
            .last()
            .and_then(|p| p.vector(usage::COMPONENT_USAGE.name))
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
                    p.vector(usage::COMPONENT_USAGE.name)
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
                v.iter().filter_map(|p| {
                    p.get(usage::COMPONENTS_EFFECTIVE.name)
                        .map(|e| (p.step as f64, e))
                }),
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
pub(super) struct Codebook<'a> {
    pub(super) run: &'a RunLog,
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
            .filter(|p| {
                p.get(usage::CODES_USED.name).is_some()
                    || p.vector(usage::CODEBOOK_USAGE.name).is_some()
            })
            .collect();
        let k = v
            .last()
            .and_then(|p| p.vector(usage::CODEBOOK_USAGE.name))
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
        let used = v.iter().filter_map(|p| {
            p.get(usage::CODES_USED.name)
                .map(|u| (p.step as f64, u / k))
        });
        let perplexity = v.iter().filter_map(|p| {
            p.get(usage::CODEBOOK_PERPLEXITY.name)
                .map(|e| (p.step as f64, e))
        });
        solid_and_dashed(
            &mut chart,
            (used.collect(), "codes used / K (1 − dead / K)"),
            (perplexity.collect(), "perplexity"),
        )
    }
}

/// Every scalar metric the registry marks for plotting that the run's
/// validation lines hold, one panel each (`metrics.png`): a metric added to
/// the registry shows here with no change to this file.
pub(super) struct Panels<'a> {
    pub(super) run: &'a RunLog,
    pub(super) metrics: Vec<&'static Metric>,
}

impl<'a> Panels<'a> {
    pub(super) fn of(run: &'a RunLog) -> Option<Self> {
        let metrics: Vec<&'static Metric> = registry::all()
            .iter()
            .filter(|m| m.plot)
            .filter(|m| run.val.iter().any(|p| Self::value(p, m).is_some()))
            .collect();
        (!metrics.is_empty()).then_some(Self { run, metrics })
    }

    fn value(p: &ValPoint, m: &Metric) -> Option<f64> {
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
                .y_label_formatter(&|v| axis_label(*v, span))
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
