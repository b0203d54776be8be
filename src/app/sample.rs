//! Draw images from a trained model: z ~ p(z) (the model's own prior,
//! mixtures included), then x ~ p(x|z) (or the mean
//! E[x|z] when asked), tiled into a PNG grid.

use crate::core::error::{Error, Result};
use crate::core::rng::{Purpose, stream};
use crate::models::LatentModel;
use burn::tensor::Device;
use rand::Rng;
use std::path::{Path, PathBuf};

/// Drawn images and their shape.
pub struct Drawn {
    /// `n` images, each `[channels, rows, cols]`, values in [0, 1].
    pub pixels: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
}

/// `n` images from the run's latest checkpoint.
pub fn draw(run: &Path, n: usize, mean_only: bool, seed: u64, device: &Device) -> Result<Drawn> {
    let loaded = crate::app::run::open(run, device)?;
    let model = loaded.model;
    let crate::data::DataKind::Images {
        rows,
        cols,
        channels,
    } = loaded.data
    else {
        return Err(Error::Usage(format!(
            "{}: `vaekit sample` draws images; this model was trained on {}",
            run.display(),
            loaded.data.describe()
        )));
    };
    let z = model.sample_prior(n, seed, device);
    let mut rng = stream(seed, Purpose::Eval, u64::MAX, 2);
    let (mean, std) = model.decode_mean(z);
    let mean = crate::core::host::read(mean);
    let std = std.map(crate::core::host::read);
    let d = rows * cols * channels;
    let pixels = mean
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            if mean_only {
                return m.clamp(0.0, 1.0);
            }
            match &std {
                None => (rng.random::<f32>() < m) as u8 as f32,
                Some(s) => {
                    let sd = if s.len() == 1 { s[0] } else { s[i % d] };
                    let e: f32 = rng.sample(rand_distr::StandardNormal);
                    (m + sd * e).clamp(0.0, 1.0)
                }
            }
        })
        .collect();
    Ok(Drawn {
        pixels,
        rows,
        cols,
        channels,
    })
}

/// Tile images into a PNG (grayscale images in gray, 3-channel ones in
/// colour), `scale` screen pixels per image pixel.
pub fn write_grid(path: &Path, drawn: &Drawn, scale: u32) -> Result<PathBuf> {
    let Drawn {
        pixels,
        rows,
        cols,
        channels,
    } = drawn;
    let (rows, cols, channels) = (*rows, *cols, *channels);
    let plane = rows * cols;
    let d = plane * channels;
    let n = pixels.len() / d;
    let per_row = (n as f64).sqrt().ceil() as usize;
    let grid_rows = n.div_ceil(per_row);
    let gap = 2usize;
    let (w, h) = (per_row * (cols + gap) + gap, grid_rows * (rows + gap) + gap);
    let s = scale as usize;
    let mut img = image::RgbImage::from_pixel((w * s) as u32, (h * s) as u32, image::Rgb([40; 3]));
    for k in 0..n {
        let (gr, gc) = (k / per_row, k % per_row);
        for r in 0..rows {
            for c in 0..cols {
                let v = |ch: usize| {
                    let ch = ch.min(channels - 1);
                    (pixels[k * d + ch * plane + r * cols + c].clamp(0.0, 1.0) * 255.0).round()
                        as u8
                };
                let rgb = image::Rgb([v(0), v(1), v(2)]);
                let (y0, x0) = (
                    (gap + gr * (rows + gap) + r) * s,
                    (gap + gc * (cols + gap) + c) * s,
                );
                for dy in 0..s {
                    for dx in 0..s {
                        img.put_pixel((x0 + dx) as u32, (y0 + dy) as u32, rgb);
                    }
                }
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::bad_file(path, format!("PNG encoding failed: {e}")))?;
    crate::core::fsutil::write_atomic(path, &bytes)?;
    Ok(path.to_path_buf())
}
