//! The radially averaged power spectra of the data, the samples and the
//! decoder means ([`crate::metrics::samples::spectrum`]) on one log-scale
//! figure, with the high-frequency cutoff as a dashed vertical line.

use super::{Figure, PlotResult, color, line_key, render_both, text};
use crate::core::error::Result;
use crate::metrics::samples::spectrum::{POWER_FLOOR, Spectrum, high_frequency_ratio};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Power against frequency, one line per set; the first is the reference.
struct Spectra<'a> {
    curves: &'a [(&'a str, &'a Spectrum)],
    cutoff: f64,
    title: &'a str,
}

/// A spectrum's points without the DC bin (no power once the means are
/// subtracted) or empty bins, powers floored for the log axis.
fn points(s: &Spectrum) -> Vec<(f64, f64)> {
    (1..s.freq.len())
        .filter(|&b| s.counts[b] > 0 && s.power[b].is_finite())
        .map(|b| (s.freq[b], s.power[b].max(POWER_FLOOR)))
        .collect()
}

impl Figure for Spectra<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let lines: Vec<Vec<(f64, f64)>> = self.curves.iter().map(|(_, s)| points(s)).collect();
        let fold = |f: fn(&(f64, f64)) -> f64| {
            lines
                .iter()
                .flatten()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                })
        };
        let (x0, x1) = match fold(|p| p.0) {
            (a, b) if a < b => (a, b),
            _ => (0.0, 0.5),
        };
        let pad = 0.02 * (x1 - x0);
        let (y0, y1) = match fold(|p| p.1) {
            (a, b) if a < b => (a / 2.0, b * 2.0),
            (a, _) if a.is_finite() => (a / 10.0, a * 10.0),
            _ => (1e-6, 1.0),
        };
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Radially averaged power spectrum — {}", self.title),
                text(28),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("spatial frequency (cycles per pixel)")
            .y_desc("power |F|²/(rows·cols), log scale")
            .x_label_formatter(&|v| format!("{v:.2}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .label_style(text(16))
            .axis_desc_style(text(22))
            .draw()?;
        if self.cutoff > x0 - pad && self.cutoff < x1 + pad {
            let dashed = BLACK.mix(0.5).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(self.cutoff, y0), (self.cutoff, y1)],
                    8,
                    6,
                    dashed,
                ))?
                .label(format!(
                    "high-frequency cutoff, {:.2} cycles/pixel (dashed)",
                    self.cutoff
                ))
                .legend(line_key(dashed));
        }
        let reference = self.curves.first().map(|(_, s)| *s);
        for (i, ((name, s), line)) in self.curves.iter().zip(&lines).enumerate() {
            // The reference (the data) in black, the others in the palette.
            let col = if i == 0 { BLACK } else { color(i - 1) };
            let style = col.stroke_width(3);
            let label = match reference {
                Some(r) if i > 0 && r.freq == s.freq => format!(
                    "{name}  (high-frequency ratio {:.2})",
                    high_frequency_ratio(s, r, self.cutoff)
                ),
                _ => name.to_string(),
            };
            chart
                .draw_series(LineSeries::new(line.clone(), style))?
                .label(label)
                .legend(line_key(style));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        }
        super::legend(&mut chart, 18, SeriesLabelPosition::UpperRight)
    }
}

/// `stem.png` and `stem.svg`: the spectra of `curves` (name, spectrum),
/// the first the reference (the data, in black) against which the others'
/// legend entries give the high-frequency ratio above `cutoff` (cycles per
/// pixel, drawn dashed). x runs from the first bin above DC to the Nyquist
/// bin; y is the mean power on a log scale.
pub fn spectra(
    dir: &Path,
    stem: &str,
    curves: &[(&str, &Spectrum)],
    cutoff: f64,
    title: &str,
) -> Result<Vec<PathBuf>> {
    render_both(
        dir,
        stem,
        &Spectra {
            curves,
            cutoff,
            title,
        },
    )
}
