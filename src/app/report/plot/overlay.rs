//! The figures that compare runs: validation curves overlaid, and the
//! rate–distortion plane.

use super::*;
use crate::app::report::runlog::ValPoint;
use crate::metrics::{elbo, usage};

/// The quantities whose curves are overlaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Overlaid {
    Elbo,
    Kl,
    /// A codebook's perplexity (VQ-VAEs).
    Perplexity,
    /// The effective number of mixture components.
    Components,
}

impl Overlaid {
    /// The metric drawn.
    fn metric(self) -> &'static Metric {
        match self {
            Self::Elbo => &elbo::ELBO,
            Self::Kl => &elbo::KL,
            Self::Perplexity => &usage::CODEBOOK_PERPLEXITY,
            Self::Components => &usage::COMPONENTS_EFFECTIVE,
        }
    }

    /// The figure's file stem.
    pub(super) fn stem(self) -> &'static str {
        match self {
            Self::Elbo => "overlay_elbo",
            Self::Kl => "overlay_kl",
            Self::Perplexity => "overlay_perplexity",
            Self::Components => "overlay_components",
        }
    }
}

/// Several runs' validation curves of one quantity, overlaid.
pub(super) struct Overlay<'a> {
    pub(super) runs: &'a [RunLog],
    pub(super) what: Overlaid,
    /// KL on a log axis (`vaekit plot --log`); other quantities ignore it.
    pub(super) log: bool,
}

impl Figure for Overlay<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let metric = self.what.metric().name;
        let log = self.log && self.what == Overlaid::Kl;
        let get = |p: &ValPoint| {
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
        if self.what != Overlaid::Elbo && !log {
            lo = 0.0;
        }
        let pad = 0.05 * (hi - lo).abs().max(1e-3);
        let (title, ydesc) = match self.what {
            Overlaid::Elbo => ("Validation ELBO by run", "ELBO (nats per image)"),
            Overlaid::Perplexity => (
                "Codebook perplexity by run",
                "perplexity exp(entropy of usage)",
            ),
            Overlaid::Components => (
                "Effective mixture components by run",
                "exp(entropy of component usage)",
            ),
            Overlaid::Kl if log => ("Validation KL by run", "KL (nats, log scale)"),
            Overlaid::Kl => ("Validation KL by run", "KL (nats)"),
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
                    kl_label(v, true, 0.0)
                } else {
                    axis_label(*v, hi - lo + 2.0 * pad)
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

/// The rate–distortion plane: one point per run at (KL, −log p(x|z)), with
/// lines of constant ELBO (R + D = −ELBO).
pub(super) struct RateDistortion<'a> {
    pub(super) runs: &'a [RunLog],
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
