//! `posterior_mean_space`: He et al. (2019)'s Figures 1–2 — for each of a
//! few snapshots over training, every example's model posterior mean
//! E_{p(z|x)}[z] (x axis) against its encoder mean μ_φ(x) (y axis), the
//! diagonal dashed. One colour per latent dimension.

use super::*;
use crate::metrics::posterior_mean::Snapshot;

/// Panels drawn: the first snapshot, the last, and evenly between.
pub const PANELS: usize = 6;

pub(super) struct PosteriorMeanSpace<'a> {
    pub(super) name: &'a str,
    pub(super) snapshots: Vec<&'a Snapshot>,
}

impl<'a> PosteriorMeanSpace<'a> {
    /// At most [`PANELS`] snapshots of `all`, evenly spaced, first and last kept.
    pub(super) fn of(name: &'a str, all: &'a [Snapshot]) -> Option<Self> {
        if all.is_empty() {
            return None;
        }
        let k = all.len().min(PANELS);
        let mut idx: Vec<usize> = (0..k)
            .map(|i| {
                if k == 1 {
                    0
                } else {
                    (i * (all.len() - 1) + (k - 1) / 2) / (k - 1)
                }
            })
            .collect();
        idx.dedup();
        Some(Self {
            name,
            snapshots: idx.into_iter().map(|i| &all[i]).collect(),
        })
    }
}

impl Figure for PosteriorMeanSpace<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!(
                "posterior-mean space — {}: x = model E[z|x] (quadrature), y = encoder μ(x)",
                self.name
            ),
            text(24),
        )?;
        // One scale for every panel, so panels compare.
        let lim = self
            .snapshots
            .iter()
            .flat_map(|s| s.model_mean.iter().chain(&s.encoder_mean))
            .filter(|v| v.is_finite())
            .fold(0.5f64, |m, v| m.max(v.abs()))
            * 1.05;
        let panels = root.split_evenly((2, 3));
        for (i, (panel, s)) in panels.iter().zip(&self.snapshots).enumerate() {
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("step {} (epoch {})", s.step, s.epoch), text(18))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(-lim..lim, -lim..lim)?;
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(5)
                .label_style(text(13))
                .draw()?;
            chart.draw_series(DashedLineSeries::new(
                [(-lim, -lim), (lim, lim)],
                6,
                4,
                BLACK.mix(0.5).stroke_width(1),
            ))?;
            for d in 0..s.dim {
                let pts = s
                    .model_mean
                    .chunks(s.dim)
                    .zip(s.encoder_mean.chunks(s.dim))
                    .map(|(m, e)| (m[d], e[d]))
                    .filter(|(a, b)| a.is_finite() && b.is_finite());
                let c = color(d);
                let series =
                    chart.draw_series(pts.map(|p| Circle::new(p, 2, c.mix(0.6).filled())))?;
                if s.dim > 1 && i == 0 {
                    series
                        .label(format!("z{d}"))
                        .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
                }
            }
            if s.dim > 1 && i == 0 {
                legend(&mut chart, 14, SeriesLabelPosition::UpperLeft)?;
            }
        }
        Ok(())
    }
}
