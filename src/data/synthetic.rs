//! A built-in image dataset with known ground-truth factors, generated from a
//! seed at run time (no download).
//!
//! Each 28×28 image shows one white shape on black, like dSprites
//! (Matthey et al. 2017) at MNIST's size. Five independent factors:
//!
//! | factor   | values                                  |
//! |----------|-----------------------------------------|
//! | shape    | square, ellipse, triangle (discrete)    |
//! | scale    | uniform in [0.5, 1]                     |
//! | rotation | uniform in [0, 2π)                      |
//! | x, y     | shape centre, uniform in [9, 19] pixels |
//!
//! so a model that uses its latents well should end up with about five
//! active units. Edges are anti-aliased by 4×4 supersampling, so pixels are
//! intensities in [0, 1] (binarized dynamically for Bernoulli decoders).

use crate::core::rng::{Purpose, stream};
use rand::Rng;
use rayon::prelude::*;

/// Side of the square images.
pub const SIDE: usize = 28;
/// Number of ground-truth factors.
pub const N_FACTORS: usize = 5;
/// Names of the factors, in the order of [`Synthetic::factors`].
pub const FACTOR_NAMES: [&str; N_FACTORS] = ["shape", "scale", "rotation", "x", "y"];

/// Generated images and the factors that produced them.
pub struct Synthetic {
    /// `n * 784` intensities in [0, 1], row-major.
    pub images: Vec<f32>,
    /// `n` rows of `[shape, scale, rotation, x, y]`.
    pub factors: Vec<[f32; N_FACTORS]>,
    /// Shape index per image (0 square, 1 ellipse, 2 triangle), as a label.
    pub labels: Vec<u8>,
}

/// Generate `n` images from `seed`; `split` (0 train, 1 test) picks an
/// independent stream so the test set never repeats training draws.
pub fn generate(n: usize, seed: u64, split: u64) -> Synthetic {
    let mut rng = stream(seed, Purpose::Synthetic, split, 0);
    let factors: Vec<[f32; N_FACTORS]> = (0..n)
        .map(|_| {
            [
                rng.random_range(0..3u8) as f32,
                rng.random_range(0.5f32..1.0),
                rng.random_range(0.0f32..std::f32::consts::TAU),
                rng.random_range(9.0f32..19.0),
                rng.random_range(9.0f32..19.0),
            ]
        })
        .collect();
    let mut images = vec![0f32; n * SIDE * SIDE];
    images
        .par_chunks_mut(SIDE * SIDE)
        .zip(factors.par_iter())
        .for_each(|(img, f)| render(img, f));
    let labels = factors.iter().map(|f| f[0] as u8).collect();
    Synthetic {
        images,
        factors,
        labels,
    }
}

/// Is the point (u, v), in the shape's own unit frame, inside the shape?
fn inside(shape: u8, u: f32, v: f32) -> bool {
    match shape {
        0 => u.abs() <= 0.8 && v.abs() <= 0.8,
        1 => u * u + (v * v) / 0.3 <= 1.0,
        _ => {
            // Equilateral triangle with circumradius 1.1, apex up.
            let r = 1.1f32;
            let (s3, half) = (3f32.sqrt(), 0.5 * r);
            v >= -half && s3 * u + v <= r && -s3 * u + v <= r
        }
    }
}

fn render(img: &mut [f32], f: &[f32; N_FACTORS]) {
    const SS: usize = 4;
    let (shape, scale, rot, cx, cy) = (f[0] as u8, f[1], f[2], f[3], f[4]);
    let size = 8.0 * scale; // pixels per unit of the shape frame
    let (sin, cos) = rot.sin_cos();
    for py in 0..SIDE {
        for px in 0..SIDE {
            let mut hits = 0;
            for sy in 0..SS {
                for sx in 0..SS {
                    let x = px as f32 + (sx as f32 + 0.5) / SS as f32 - cx;
                    let y = py as f32 + (sy as f32 + 0.5) / SS as f32 - cy;
                    // Rotate by -rot and scale into the unit frame; image y points down.
                    let u = (cos * x + sin * y) / size;
                    let v = (sin * x - cos * y) / size;
                    hits += inside(shape, u, v) as u32;
                }
            }
            img[py * SIDE + px] = hits as f32 / (SS * SS) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_images_other_seed_other_images() {
        let a = generate(50, 3, 0);
        let b = generate(50, 3, 0);
        let c = generate(50, 4, 0);
        let t = generate(50, 3, 1);
        assert_eq!(a.images, b.images);
        assert_eq!(a.factors, b.factors);
        assert_ne!(a.images, c.images);
        assert_ne!(a.images, t.images);
    }

    #[test]
    fn images_are_intensities_and_shapes_are_visible() {
        let s = generate(200, 0, 0);
        assert!(s.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
        for (img, f) in s.images.chunks(SIDE * SIDE).zip(&s.factors) {
            let mass: f32 = img.iter().sum();
            // Area scales with scale²: a visible shape, never the whole frame.
            assert!(mass > 10.0 && mass < 400.0, "mass {mass} for {f:?}");
            // The centre pixel of the shape is lit.
            let (cx, cy) = (f[3] as usize, f[4] as usize);
            assert!(img[cy * SIDE + cx] > 0.0, "{f:?}");
        }
        // All three shapes occur.
        for k in 0..3u8 {
            assert!(s.labels.contains(&k));
        }
    }

    #[test]
    fn area_matches_closed_form() {
        // The square's area is (1.6·8·scale)² pixels, whatever its rotation.
        let f = [0.0, 0.75, 0.4, 14.0, 14.0];
        let mut img = vec![0f32; SIDE * SIDE];
        render(&mut img, &f);
        let area: f32 = img.iter().sum();
        let exact = (1.6f32 * 8.0 * 0.75).powi(2);
        assert!((area - exact).abs() / exact < 0.03, "{area} vs {exact}");
    }
}
