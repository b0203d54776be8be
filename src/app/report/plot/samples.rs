//! Figures of the sample metrics: NDB's bins (data against samples), the
//! class histogram of each mixture component's samples, and a latent-space
//! view coloured by class.

use super::{Figure, PlotResult, color, render_both, text};
use crate::core::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// NDB: each bin's share of the real data and of the samples, bins sorted
/// by the real share; significantly different bins marked.
struct NdbBins<'a> {
    real: &'a [f64],
    fake: &'a [f64],
    significant: &'a [bool],
    title: &'a str,
}

impl Figure for NdbBins<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let k = self.real.len();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| self.real[b].total_cmp(&self.real[a]));
        let hi = self
            .real
            .iter()
            .chain(self.fake)
            .copied()
            .fold(1e-9, f64::max)
            * 1.1;
        let different = self.significant.iter().filter(|s| **s).count();
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{} — NDB {different}/{k} bins", self.title),
                text(28),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..k as f64, 0f64..hi)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("K-means bin (sorted by the data's share)")
            .y_desc("share of points")
            .label_style(text(16))
            .axis_desc_style(text(22))
            .draw()?;
        chart
            .draw_series(order.iter().enumerate().map(|(i, &b)| {
                Rectangle::new(
                    [(i as f64 + 0.05, 0.0), (i as f64 + 0.5, self.real[b])],
                    color(0).filled(),
                )
            }))?
            .label("data")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color(0).filled()));
        chart
            .draw_series(order.iter().enumerate().map(|(i, &b)| {
                Rectangle::new(
                    [(i as f64 + 0.5, 0.0), (i as f64 + 0.95, self.fake[b])],
                    color(1).filled(),
                )
            }))?
            .label("samples")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color(1).filled()));
        chart
            .draw_series(
                order
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| self.significant[**b])
                    .map(|(i, &b)| {
                        let top = self.real[b].max(self.fake[b]);
                        Circle::new((i as f64 + 0.5, top + hi * 0.02), 3, BLACK.filled())
                    }),
            )?
            .label("significantly different (α = 0.05)")
            .legend(|(x, y)| Circle::new((x + 7, y), 3, BLACK.filled()));
        super::legend(&mut chart, 18, SeriesLabelPosition::UpperRight)
    }
}

/// Counts of predicted classes per mixture component.
struct ComponentClasses<'a> {
    table: &'a [Vec<usize>],
    title: &'a str,
}

impl Figure for ComponentClasses<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let k = self.table.len().max(1);
        let c = self.table.first().map_or(1, |r| r.len()).max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Samples of each prior component, by predicted class — {}",
                    self.title
                ),
                text(26),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..c as f64, 0f64..k as f64)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("prior component")
            .x_labels(c + 1)
            .y_labels(k.min(40) + 1)
            .x_label_formatter(&|v| {
                if v.fract() == 0.0 && (*v as usize) < c {
                    format!("{}", *v as usize)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| {
                if v.fract() == 0.0 && (*v as usize) < k {
                    format!("{}", *v as usize)
                } else {
                    String::new()
                }
            })
            .label_style(text(16))
            .axis_desc_style(text(22))
            .draw()?;
        for (i, row) in self.table.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            chart.draw_series(row.iter().enumerate().map(|(j, &n)| {
                let v = n as f64 / total;
                Rectangle::new(
                    [(j as f64, i as f64), (j as f64 + 1.0, i as f64 + 1.0)],
                    ViridisRGB.get_color_normalized(v as f32, 0.0, 1.0).filled(),
                )
            }))?;
            if k <= 30 {
                chart.draw_series(row.iter().enumerate().filter(|(_, n)| **n > 0).map(
                    |(j, &n)| {
                        Text::new(
                            format!("{n}"),
                            (j as f64 + 0.3, i as f64 + 0.6),
                            if (n as f64 / total) > 0.5 {
                                text(14).color(&BLACK)
                            } else {
                                text(14).color(&WHITE)
                            },
                        )
                    },
                ))?;
            }
        }
        Ok(())
    }
}

/// Points in two dimensions coloured by class.
struct Latent<'a> {
    xy: &'a [[f64; 2]],
    labels: &'a [u8],
    axes: (&'a str, &'a str),
    title: &'a str,
}

impl Figure for Latent<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let range = |i: usize| {
            let (lo, hi) = self
                .xy
                .iter()
                .map(|p| p[i])
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            if lo < hi {
                let pad = 0.05 * (hi - lo);
                (lo - pad)..(hi + pad)
            } else {
                -1.0..1.0
            }
        };
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, text(28))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(range(0), range(1))?;
        chart
            .configure_mesh()
            .x_desc(self.axes.0)
            .y_desc(self.axes.1)
            .label_style(text(16))
            .axis_desc_style(text(22))
            .draw()?;
        let classes = self
            .labels
            .iter()
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(1);
        for c in 0..classes {
            chart
                .draw_series(
                    self.xy
                        .iter()
                        .zip(self.labels)
                        .filter(|(_, l)| **l as usize == c)
                        .map(|(p, _)| Circle::new((p[0], p[1]), 2, color(c).mix(0.6).filled())),
                )?
                .label(format!("class {c}"))
                .legend(move |(x, y)| Circle::new((x + 7, y), 4, color(c).filled()));
        }
        super::legend(&mut chart, 16, SeriesLabelPosition::UpperRight)
    }
}

/// `stem.png` and `stem.svg` of NDB's bins.
pub fn ndb_bins(
    out: &Path,
    stem: &str,
    real: &[f64],
    fake: &[f64],
    significant: &[bool],
    title: &str,
) -> Result<Vec<PathBuf>> {
    render_both(
        out,
        stem,
        &NdbBins {
            real,
            fake,
            significant,
            title,
        },
    )
}

/// `stem.png` and `stem.svg` of the component × class table.
pub fn component_classes(
    out: &Path,
    stem: &str,
    table: &[Vec<usize>],
    title: &str,
) -> Result<Vec<PathBuf>> {
    render_both(out, stem, &ComponentClasses { table, title })
}

/// `stem.png` and `stem.svg` of 2-D points coloured by class.
pub fn latent_classes(
    out: &Path,
    stem: &str,
    xy: &[[f64; 2]],
    labels: &[u8],
    axes: (&str, &str),
    title: &str,
) -> Result<Vec<PathBuf>> {
    render_both(
        out,
        stem,
        &Latent {
            xy,
            labels,
            axes,
            title,
        },
    )
}
