//! A t-SNE map of real and generated samples
//! ([`crate::metrics::samples::tsne`]): one panel coloured real against
//! samples, and, when classes are known, a second coloured by class; the
//! settings (perplexity, iterations, θ, start, number of points) in a
//! caption under the panels.

use super::{Figure, PlotResult, color, render_both, text};
use crate::core::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Characters per caption line (16 px text across the 1200 px figure).
const CAPTION_LINE: usize = 130;
/// More points than this are drawn with 1-pixel dots instead of 2.
const SMALL_DOTS_ABOVE: usize = 5000;

struct TsneMap<'a> {
    xy: &'a [[f64; 2]],
    is_real: &'a [bool],
    classes: Option<&'a [usize]>,
    title: &'a str,
    caption: &'a str,
}

/// The points in a fixed shuffled order (by a hash of the index), so that
/// neither the real points nor the samples nor any class are all drawn on
/// top of the others; the same order in every figure.
fn draw_order(n: usize) -> Vec<usize> {
    let mix = |i: usize| {
        let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by_key(|&i| mix(i));
    idx
}

/// One square data range for both axes (t-SNE distances mean the same in
/// every direction), padded by 5%.
fn square_range(xy: &[[f64; 2]]) -> (Range<f64>, Range<f64>) {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in xy.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        for c in 0..2 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    if lo[0] > hi[0] {
        return (-1.0..1.0, -1.0..1.0);
    }
    let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0).max(1e-9) * 1.05;
    let (cx, cy) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
    ((cx - half)..(cx + half), (cy - half)..(cy + half))
}

/// The caption in lines of at most [`CAPTION_LINE`] characters, broken
/// at spaces.
fn wrap(caption: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in caption.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > CAPTION_LINE {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One scatter panel: every point in `order`, coloured by its group's
/// colour (translucent), and a legend of the groups.
#[allow(clippy::too_many_arguments)]
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    xy: &[[f64; 2]],
    order: &[usize],
    range: &(Range<f64>, Range<f64>),
    groups: &[(String, RGBColor)],
    group_of: &dyn Fn(usize) -> usize,
    radius: i32,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(heading, text(22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(range.0.clone(), range.1.clone())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_desc("t-SNE 1")
        .y_desc("t-SNE 2")
        .label_style(text(14))
        .axis_desc_style(text(16))
        .draw()?;
    chart.draw_series(
        order
            .iter()
            .copied()
            .filter(|&i| xy[i][0].is_finite() && xy[i][1].is_finite())
            .map(|i| {
                let c = groups[group_of(i)].1;
                Circle::new((xy[i][0], xy[i][1]), radius, c.mix(0.5).filled())
            }),
    )?;
    // The legend's entries, as series without points.
    for (label, c) in groups {
        let c = *c;
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(label.as_str())
            .legend(move |(x, y)| Circle::new((x + 7, y), 4, c.filled()));
    }
    super::legend(&mut chart, 15, SeriesLabelPosition::UpperRight)
}

impl Figure for TsneMap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(self.title, text(26))?;
        let lines = wrap(self.caption);
        let foot = 12 + 22 * lines.len() as u32;
        let (main, bottom) = root.split_vertically(root.dim_in_pixel().1.saturating_sub(foot));
        for (k, line) in lines.iter().enumerate() {
            bottom.draw_text(line, &text(16), (20, 4 + 22 * k as i32))?;
        }
        let n = self.xy.len();
        let order = draw_order(n);
        let range = square_range(self.xy);
        let radius = if n > SMALL_DOTS_ABOVE { 1 } else { 2 };
        let real = self.is_real.iter().filter(|r| **r).count();
        let sides = [
            (format!("real ({real})"), color(0)),
            (format!("samples ({})", n - real), color(1)),
        ];
        let areas = if self.classes.is_some() {
            main.split_evenly((1, 2))
        } else {
            vec![main]
        };
        let is_real = self.is_real;
        panel(
            &areas[0],
            "real and samples",
            self.xy,
            &order,
            &range,
            &sides,
            &|i: usize| -> usize { if is_real[i] { 0 } else { 1 } },
            radius,
        )?;
        if let Some(classes) = self.classes {
            let count = classes.iter().map(|&c| c + 1).max().unwrap_or(0);
            let groups: Vec<(String, RGBColor)> = (0..count)
                .map(|c| {
                    let m = classes.iter().filter(|&&v| v == c).count();
                    (format!("class {c} ({m})"), color(c))
                })
                .collect();
            panel(
                &areas[1],
                "by class",
                self.xy,
                &order,
                &range,
                &groups,
                &|i: usize| classes[i],
                radius,
            )?;
        }
        Ok(())
    }
}

/// `stem.png` and `stem.svg` of a t-SNE map: `xy` the embedded points,
/// `is_real` which of them are real data (the others samples), `classes`
/// each point's class (the label of a real point, the classifier's
/// prediction for a sample) for a second panel, `caption` the line under
/// the panels — the settings and the number of points, e.g. from
/// [`crate::metrics::samples::tsne::TsneConfig::describe`]. Classes beyond
/// ten reuse the palette's colours.
///
/// Panics if `is_real` or `classes` does not have one entry per point.
pub fn tsne_figure(
    dir: &Path,
    stem: &str,
    xy: &[[f64; 2]],
    is_real: &[bool],
    classes: Option<&[usize]>,
    title: &str,
    caption: &str,
) -> Result<Vec<PathBuf>> {
    assert_eq!(
        is_real.len(),
        xy.len(),
        "t-SNE figure: one real/sample flag per point"
    );
    if let Some(c) = classes {
        assert_eq!(c.len(), xy.len(), "t-SNE figure: one class per point");
    }
    render_both(
        dir,
        stem,
        &TsneMap {
            xy,
            is_real,
            classes,
            title,
            caption,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_wrap_at_spaces() {
        let long = "word ".repeat(60);
        let lines = wrap(&long);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= CAPTION_LINE));
        assert_eq!(lines.join(" "), long.trim());
        assert_eq!(wrap("perplexity 30"), vec!["perplexity 30".to_string()]);
    }

    #[test]
    fn draw_order_is_a_permutation_and_shuffled() {
        let o = draw_order(1000);
        let mut s = o.clone();
        s.sort_unstable();
        assert_eq!(s, (0..1000).collect::<Vec<_>>());
        assert_ne!(o, s);
    }

    #[test]
    fn the_figure_is_written_with_and_without_classes() {
        let dir = tempfile::tempdir().unwrap();
        let n = 300;
        let xy: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                let t = i as f64 * 0.1;
                [
                    t.cos() * (1.0 + (i % 3) as f64),
                    t.sin() * (1.0 + (i % 3) as f64),
                ]
            })
            .collect();
        let is_real: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let classes: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let caption = "t-SNE of 300 points (150 real, 150 samples): perplexity 30, 1000 iterations, θ = 0.5, PCA init";
        for (stem, cls) in [("tsne", Some(&classes[..])), ("tsne_plain", None)] {
            let files =
                tsne_figure(dir.path(), stem, &xy, &is_real, cls, "test map", caption).unwrap();
            assert_eq!(files.len(), 2);
            for f in files {
                assert!(
                    std::fs::metadata(&f).unwrap().len() > 1000,
                    "{}",
                    f.display()
                );
            }
        }
    }
}
