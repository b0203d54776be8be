//! Draw images from a trained model: z ~ p(z) (the model's own prior,
//! mixtures included), then x ~ p(x|z) (or the mean
//! E[x|z] when asked), tiled into a PNG grid.

use crate::error::{Error, Result};
use crate::models::LatentModel;
use crate::rng::{Purpose, stream};
use burn::tensor::Device;
use rand::Rng;
use std::path::{Path, PathBuf};

/// `n` images (each `rows × cols`, values in [0, 1]) from the run's latest checkpoint.
pub fn draw(
    run: &Path,
    n: usize,
    mean_only: bool,
    seed: u64,
    device: &Device,
) -> Result<(Vec<f32>, usize, usize)> {
    let loaded = crate::run::open(run, device)?;
    let model = loaded.model;
    let [rows, cols] = loaded.image_shape;
    let z = model.sample_prior(n, seed, device);
    let mut rng = stream(seed, Purpose::Eval, u64::MAX, 2);
    let (mean, std) = model.decode_mean(z);
    let mean = crate::host::read(mean);
    let std = std.map(crate::host::read);
    let d = rows * cols;
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
    Ok((pixels, rows, cols))
}

/// Tile images into a grayscale PNG, `scale` screen pixels per image pixel.
pub fn write_grid(
    path: &Path,
    pixels: &[f32],
    rows: usize,
    cols: usize,
    scale: u32,
) -> Result<PathBuf> {
    let d = rows * cols;
    let n = pixels.len() / d;
    let per_row = (n as f64).sqrt().ceil() as usize;
    let grid_rows = n.div_ceil(per_row);
    let gap = 2usize;
    let (w, h) = (per_row * (cols + gap) + gap, grid_rows * (rows + gap) + gap);
    let s = scale as usize;
    let mut img = image::GrayImage::from_pixel((w * s) as u32, (h * s) as u32, image::Luma([40]));
    for k in 0..n {
        let (gr, gc) = (k / per_row, k % per_row);
        for r in 0..rows {
            for c in 0..cols {
                let v = (pixels[k * d + r * cols + c].clamp(0.0, 1.0) * 255.0).round() as u8;
                let (y0, x0) = (
                    (gap + gr * (rows + gap) + r) * s,
                    (gap + gc * (cols + gap) + c) * s,
                );
                for dy in 0..s {
                    for dx in 0..s {
                        img.put_pixel((x0 + dx) as u32, (y0 + dy) as u32, image::Luma([v]));
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
    crate::fsutil::write_atomic(path, &bytes)?;
    Ok(path.to_path_buf())
}
