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
#[derive(Clone, Debug)]
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
    Ok(draw_from(&model, (rows, cols, channels), n, mean_only, seed, device).0)
}

/// `n` images from `model` for data of shape `(rows, cols, channels)`, and
/// the latents `z ~ p(z)` (host, `[n, latent]`) they were decoded from.
pub fn draw_from<M: LatentModel>(
    model: &M,
    (rows, cols, channels): (usize, usize, usize),
    n: usize,
    mean_only: bool,
    seed: u64,
    device: &Device,
) -> (Drawn, Vec<f32>) {
    let z = model.sample_prior(n, seed, device);
    let z_host = crate::core::host::read(z.clone());
    let mut rng = stream(
        seed,
        Purpose::Eval,
        crate::core::rng::key::SAMPLING,
        crate::core::rng::key::SAMPLE_PIXELS,
    );
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
    (
        Drawn {
            pixels,
            rows,
            cols,
            channels,
        },
        z_host,
    )
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

/// Sentences from a text run, as a text file's contents: `n` drawn from
/// the prior (z ~ p(z), then each token from p(x_t | x_<t, z), or the most
/// likely token with `greedy`); reconstructions of the first test
/// sentences (z = the posterior mean, greedy decoding); and a homotopy
/// between two test sentences (Bowman et al. 2016): z = (1 − t)·μ(a) + t·μ(b)
/// for t = 0, 0.125, …, 1, each decoded greedily.
pub fn sentences(run: &Path, n: usize, greedy: bool, seed: u64, device: &Device) -> Result<String> {
    let loaded = crate::app::run::open(run, device)?;
    let crate::data::DataKind::Tokens { max_len, .. } = loaded.data else {
        return Err(Error::Usage(format!(
            "{}: this model was trained on {}; sentences come from text runs",
            run.display(),
            loaded.data.describe()
        )));
    };
    let vocab = crate::data::Vocab::read(&run.join(crate::app::run::VOCAB_FILE))?;
    let model = &loaded.model;
    let words = max_len.max(3) - 2;
    let decode = |z, greedy| {
        model
            .generate_tokens(z, words, greedy, seed)
            .expect("a token model generates sentences")
    };
    let mut out = format!(
        "# vaekit sample {}  (checkpoint {}, seed {seed})\n\n## {n} sentences from the prior: z ~ p(z), {}\n",
        run.display(),
        loaded.checkpoint.display(),
        if greedy {
            "then the most likely token at each step"
        } else {
            "then x ~ p(x|z) token by token"
        }
    );
    for (i, s) in decode(model.sample_prior(n, seed, device), greedy)
        .iter()
        .enumerate()
    {
        out.push_str(&format!("{:>3}. {}\n", i + 1, vocab.sentence(s)));
    }
    let data = crate::app::run::load_run_data(&loaded.config, run)?;
    let crate::data::Dataset::Tokens(test) = &data.splits.test else {
        return Ok(out);
    };
    let m = test.len().min(n.clamp(2, 10));
    if m < 2 {
        out.push_str(
            "\n(the test split has fewer than two sentences: no reconstructions or homotopy)\n",
        );
        return Ok(out);
    }
    let batch = crate::core::batch::Batch::Tokens(test.batch(&(0..m).collect::<Vec<_>>(), device));
    let Some(q) = model.encode(&batch).gaussian().cloned() else {
        return Ok(out);
    };
    out.push_str(&format!(
        "\n## reconstructions of the first {m} test sentences: z = posterior mean, greedy\n"
    ));
    let recon = decode(q.mean.clone(), true);
    for (i, r) in recon.iter().enumerate() {
        out.push_str(&format!(
            "  > {}\n  < {}\n",
            vocab.sentence(&test.sequences[i]),
            vocab.sentence(r)
        ));
    }
    let steps = 8;
    let zd = q.mean.dims()[1];
    let means = crate::core::host::read(q.mean);
    let (a, b) = (&means[..zd], &means[zd..2 * zd]);
    let path: Vec<f32> = (0..=steps)
        .flat_map(|s| {
            let t = s as f32 / steps as f32;
            a.iter().zip(b).map(move |(x, y)| (1.0 - t) * x + t * y)
        })
        .collect();
    out.push_str(&format!(
        "\n## homotopy between test sentences 1 and 2: z = (1−t)·μ(a) + t·μ(b), greedy\n  a: {}\n",
        vocab.sentence(&test.sequences[0])
    ));
    for (s, r) in decode(crate::core::host::upload(path, steps + 1, zd, device), true)
        .iter()
        .enumerate()
    {
        out.push_str(&format!(
            "  t={:.3}  {}\n",
            s as f64 / steps as f64,
            vocab.sentence(r)
        ));
    }
    out.push_str(&format!("  b: {}\n", vocab.sentence(&test.sequences[1])));
    Ok(out)
}
