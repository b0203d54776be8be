//! The radially averaged power spectrum of a set of images, and how two
//! sets' spectra differ (Durall et al. 2020; Dzanic et al. 2020): whether
//! samples carry the data's energy at each spatial frequency — too much at
//! high frequencies is per-pixel noise, too little is blur.
//!
//! **Power.** For each image and channel x (`rows × cols` = R × C), with
//! x̄ its mean (the DC term is dropped),
//!
//! ```text
//! F(u, v) = Σ_{r,c} (x_{r,c} − x̄) e^{−2πi (u r / R + v c / C)}
//! P(u, v) = |F(u, v)|² / (R·C)
//! ```
//!
//! numpy's `abs(fft2(x − x.mean()))**2 / x.size`, averaged over channels
//! and images ([`power_map`]). With this normalisation Parseval reads
//! Σ_{u,v} P(u, v) = Σ_{r,c} (x_{r,c} − x̄)²: the mean of P over the R·C
//! frequencies is the image's (population) variance, and white noise of
//! variance σ² has E P(u, v) = σ² at every (u, v) ≠ (0, 0) — a flat
//! spectrum of height σ². The DFT is separable (rows, then columns) and
//! direct, with precomputed twiddles: O(R·C·(R + C)) per image (28 × 28:
//! 44k complex multiply-adds), any size, no power of two needed.
//!
//! **Radial bins.** (u, v) has the frequency (f_u, f_v) = (u/R, v/C) in
//! cycles per pixel, signed as numpy's `fftfreq` (u ≥ ⌈R/2⌉ stands for
//! u − R), and the radius ρ = √(f_u² + f_v²). With N = max(R, C), bin
//! b = round(N·ρ) (ties away from zero) holds the frequencies with
//! ρ ∈ [(b − ½)/N, (b + ½)/N); its centre is `freq[b]` = b/N. Bins
//! b = 0 … ⌊N/2⌋ are kept — bin 0 is the DC term alone (power ≈ 0 after
//! the mean is subtracted), bin ⌊N/2⌋ is centred on the Nyquist frequency
//! ½ — and the corners of the frequency square beyond them
//! (ρ ≥ (⌊N/2⌋ + ½)/N, diagonal directions only) are left out, so every
//! bin is a full ring of directions. `power[b]` is the mean of P over the
//! bin's frequencies, `counts[b]` their number (per image: 8 for bin 1 of
//! a square image, the (±1, 0), (0, ±1) and (±1, ±1) frequencies).
//! `power[b] · counts[b]` is the bin's energy: the part of Σ (x − x̄)² the
//! bin carries, per image.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default lower edge of "high frequency" for [`high_frequency_ratio`],
/// in cycles per pixel: half the Nyquist frequency, i.e. periods shorter
/// than 4 pixels (bins 7–14 of a 28 × 28 image, 8–16 of 32 × 32). The
/// strokes and shapes of 28 × 28 data are several pixels wide with soft
/// edges, so most of the data's variance lies below it; independent
/// per-pixel noise spreads its energy evenly over the frequencies, and the
/// rings above ½·Nyquist hold most of them (three quarters of the Nyquist
/// disc's area; 514 of the 651 kept frequencies of a 28 × 28 image), so
/// noise shows above it first, and blur removes energy there first.
pub const HF_CUTOFF: f64 = 0.25;

/// Powers below this count as this in [`log_spectral_distance`], so that
/// a bin with no energy at all (a constant image, a zero of a filter) gives
/// a large but finite log ratio. It is far below any power an image in
/// [0, 1] measurably has: rounding to 8 bits alone adds white noise of
/// power 1/(12·255²) ≈ 1.3·10⁻⁶.
pub const POWER_FLOOR: f64 = 1e-10;

/// A radially averaged power spectrum (see the module's documentation for
/// the bins and the normalisation).
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    /// Bin centres b/N, cycles per pixel: 0, 1/N, …, ⌊N/2⌋/N.
    pub freq: Vec<f64>,
    /// Mean power P(u, v) over the bin's frequencies, channels and images.
    pub power: Vec<f64>,
    /// Frequencies (u, v) in the bin, per image and channel.
    pub counts: Vec<usize>,
}

/// Images per unit of work: partial sums are taken per chunk and added in
/// chunk order, so the result does not depend on the number of threads.
const CHUNK: usize = 32;

/// e^{−2πik/n} for k = 0 … n−1.
fn twiddles(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|k| {
            let a = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .collect()
}

/// The 2-D DFT of one real `rows × cols` image (row-major), as
/// (re, im) pairs, row-major in (u, v): a DFT along each row, then along
/// each column. `tmp` holds the row pass (`rows · cols`).
fn dft2_into(
    x: &[f64],
    rows: usize,
    cols: usize,
    tw_r: &[(f64, f64)],
    tw_c: &[(f64, f64)],
    tmp: &mut [(f64, f64)],
    out: &mut [(f64, f64)],
) {
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        for v in 0..cols {
            let (mut re, mut im) = (0.0, 0.0);
            let mut k = 0;
            for &xc in row {
                let (wr, wi) = tw_c[k];
                re += xc * wr;
                im += xc * wi;
                k += v;
                if k >= cols {
                    k -= cols;
                }
            }
            tmp[r * cols + v] = (re, im);
        }
    }
    out.iter_mut().for_each(|o| *o = (0.0, 0.0));
    for u in 0..rows {
        let dst = &mut out[u * cols..(u + 1) * cols];
        let mut k = 0;
        for r in 0..rows {
            let (wr, wi) = tw_r[k];
            for (o, &(yr, yi)) in dst.iter_mut().zip(&tmp[r * cols..(r + 1) * cols]) {
                o.0 += yr * wr - yi * wi;
                o.1 += yr * wi + yi * wr;
            }
            k += u;
            if k >= rows {
                k -= rows;
            }
        }
    }
}

/// The 2-D DFT of one image, allocating (for the tests).
#[cfg(test)]
fn dft2(x: &[f64], rows: usize, cols: usize) -> Vec<(f64, f64)> {
    let mut tmp = vec![(0.0, 0.0); rows * cols];
    let mut out = vec![(0.0, 0.0); rows * cols];
    dft2_into(
        x,
        rows,
        cols,
        &twiddles(rows),
        &twiddles(cols),
        &mut tmp,
        &mut out,
    );
    out
}

/// Σ |F(u, v)|² over the images and channels of `images`, unnormalised.
fn power_sum(images: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    let (tw_r, tw_c) = (twiddles(rows), twiddles(cols));
    let px = rows * cols;
    let mut x = vec![0.0f64; px];
    let mut tmp = vec![(0.0, 0.0); px];
    let mut f = vec![(0.0, 0.0); px];
    let mut sum = vec![0.0f64; px];
    for plane in images.chunks_exact(px) {
        let mean = plane.iter().map(|&v| v as f64).sum::<f64>() / px as f64;
        x.iter_mut()
            .zip(plane)
            .for_each(|(a, &v)| *a = v as f64 - mean);
        dft2_into(&x, rows, cols, &tw_r, &tw_c, &mut tmp, &mut f);
        sum.iter_mut()
            .zip(&f)
            .for_each(|(s, &(re, im))| *s += re * re + im * im);
    }
    sum
}

/// P(u, v) = |F(u, v)|²/(R·C), averaged over the `n` images and their
/// channels: `rows × cols`, row-major in (u, v), unshifted (DC at index 0,
/// as numpy's `fft2`). `images` is `[n, channels, rows, cols]`, flat.
/// Runs on every core.
pub fn power_map(images: &[f32], n: usize, channels: usize, rows: usize, cols: usize) -> Vec<f64> {
    assert!(
        n > 0 && channels > 0 && rows > 0 && cols > 0,
        "a spectrum needs at least one image of at least one pixel"
    );
    assert_eq!(
        images.len(),
        n * channels * rows * cols,
        "images must be [n, channels, rows, cols]"
    );
    let per = channels * rows * cols;
    let chunks = n.div_ceil(CHUNK);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(chunks);
    let next = AtomicUsize::new(0);
    let mut partial: Vec<Vec<f64>> = vec![Vec::new(); chunks];
    std::thread::scope(|s| {
        let next = &next;
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks {
                            break done;
                        }
                        let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
                        done.push((c, power_sum(&images[lo * per..hi * per], rows, cols)));
                    }
                })
            })
            .collect();
        for w in workers {
            for (c, sum) in w.join().expect("a spectrum worker panicked") {
                partial[c] = sum;
            }
        }
    });
    let mut map = vec![0.0f64; rows * cols];
    for p in &partial {
        map.iter_mut().zip(p).for_each(|(m, v)| *m += v);
    }
    let scale = 1.0 / ((n * channels) as f64 * (rows * cols) as f64);
    map.iter_mut().for_each(|m| *m *= scale);
    map
}

/// numpy's `fftfreq` index: k for k < ⌈n/2⌉, k − n above.
fn signed(k: usize, n: usize) -> f64 {
    if k <= (n - 1) / 2 {
        k as f64
    } else {
        k as f64 - n as f64
    }
}

/// The radial bin of frequency (u, v) of a `rows × cols` image, or `None`
/// for a corner beyond the Nyquist bin.
fn bin_of(u: usize, v: usize, rows: usize, cols: usize) -> Option<usize> {
    let big = rows.max(cols) as f64;
    // N·ρ, exact for square images (√(u² + v²)).
    let fu = signed(u, rows) * big / rows as f64;
    let fv = signed(v, cols) * big / cols as f64;
    let b = (fu * fu + fv * fv).sqrt().round() as usize;
    (b <= rows.max(cols) / 2).then_some(b)
}

/// The radial average of a power map from [`power_map`].
pub fn radial_average(map: &[f64], rows: usize, cols: usize) -> Spectrum {
    assert_eq!(map.len(), rows * cols, "the map must be rows × cols");
    let big = rows.max(cols);
    let bins = big / 2 + 1;
    let mut power = vec![0.0f64; bins];
    let mut counts = vec![0usize; bins];
    for u in 0..rows {
        for v in 0..cols {
            if let Some(b) = bin_of(u, v, rows, cols) {
                power[b] += map[u * cols + v];
                counts[b] += 1;
            }
        }
    }
    for (p, &c) in power.iter_mut().zip(&counts) {
        if c > 0 {
            *p /= c as f64;
        }
    }
    Spectrum {
        freq: (0..bins).map(|b| b as f64 / big as f64).collect(),
        power,
        counts,
    }
}

/// The radially averaged power spectrum of `n` images `[n, channels, rows,
/// cols]` (flat, channel-first per image, values in [0, 1]).
pub fn radial_spectrum(
    images: &[f32],
    n: usize,
    channels: usize,
    rows: usize,
    cols: usize,
) -> Spectrum {
    radial_average(&power_map(images, n, channels, rows, cols), rows, cols)
}

/// Bins at or above `cutoff` (a bin centre within 10⁻¹² of the cutoff
/// counts as at it).
fn at_or_above(s: &Spectrum, cutoff: f64) -> impl Iterator<Item = usize> + '_ {
    (0..s.freq.len()).filter(move |&b| s.freq[b] >= cutoff - 1e-12)
}

/// The energy in the bins whose centre is at or above `cutoff` (cycles per
/// pixel): Σ_b power[b]·counts[b], the mean over images and channels of
/// the part of Σ (x − x̄)² those frequencies carry.
pub fn energy(s: &Spectrum, cutoff: f64) -> f64 {
    at_or_above(s, cutoff)
        .map(|b| s.power[b] * s.counts[b] as f64)
        .sum()
}

/// `energy(fake, cutoff) / energy(real, cutoff)`: above 1, the samples
/// carry more high-frequency energy than the data (noise); below 1, less
/// (blur). Both spectra must come from images of one size.
pub fn high_frequency_ratio(fake: &Spectrum, real: &Spectrum, cutoff: f64) -> f64 {
    assert_eq!(
        fake.freq, real.freq,
        "spectra of images of different sizes cannot be compared"
    );
    energy(fake, cutoff) / energy(real, cutoff)
}

/// The root-mean-square over the non-DC bins of log10(P_fake / P_real),
/// each power floored at [`POWER_FLOOR`]: 0 for equal spectra, 1 for
/// spectra a factor 10 apart in every bin. Bins every frequency of which
/// lies beyond the kept rings (none, for the sizes vaekit reads) are
/// skipped.
pub fn log_spectral_distance(fake: &Spectrum, real: &Spectrum) -> f64 {
    assert_eq!(
        fake.freq, real.freq,
        "spectra of images of different sizes cannot be compared"
    );
    let (mut sum, mut k) = (0.0f64, 0usize);
    for b in 1..fake.freq.len() {
        if fake.counts[b] == 0 || real.counts[b] == 0 {
            continue;
        }
        let d = (fake.power[b].max(POWER_FLOOR) / real.power[b].max(POWER_FLOOR)).log10();
        sum += d * d;
        k += 1;
    }
    if k == 0 { 0.0 } else { (sum / k as f64).sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// splitmix64, and standard normals by Box–Muller: the tests need no
    /// crate.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// Uniform in (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (a, b) = (self.uniform(), self.uniform());
            (-2.0 * a.ln()).sqrt() * (2.0 * PI * b).cos()
        }
    }

    /// Σ (x − x̄)² of one plane, in f64 from the stored f32 values.
    fn sum_sq_dev(plane: &[f32]) -> f64 {
        let m = plane.iter().map(|&v| v as f64).sum::<f64>() / plane.len() as f64;
        plane.iter().map(|&v| (v as f64 - m).powi(2)).sum()
    }

    /// Circular 3 × 3 box filter of each `rows × cols` plane, scaled by
    /// `scale` (1/9 for the mean filter, 1 for the plain sum).
    fn box3(images: &[f32], rows: usize, cols: usize, scale: f64) -> Vec<f32> {
        let mut out = Vec::with_capacity(images.len());
        for plane in images.chunks_exact(rows * cols) {
            for r in 0..rows {
                for c in 0..cols {
                    let mut s = 0.0f64;
                    for dr in [rows - 1, 0, 1] {
                        for dc in [cols - 1, 0, 1] {
                            s += plane[((r + dr) % rows) * cols + (c + dc) % cols] as f64;
                        }
                    }
                    out.push((s * scale) as f32);
                }
            }
        }
        out
    }

    /// |H(u, v)|² of that filter: H = scale · (1 + 2 cos 2πu/R)(1 + 2 cos 2πv/C).
    fn box3_gain(u: usize, v: usize, rows: usize, cols: usize, scale: f64) -> f64 {
        let h = scale
            * (1.0 + 2.0 * (2.0 * PI * u as f64 / rows as f64).cos())
            * (1.0 + 2.0 * (2.0 * PI * v as f64 / cols as f64).cos());
        h * h
    }

    /// The hand count of the first bins of a square image, and every
    /// frequency either in a bin or in a corner beyond ½ + ½/N.
    #[test]
    fn bins_follow_the_stated_convention() {
        let n = 28;
        let s = radial_average(&vec![1.0; n * n], n, n);
        assert_eq!(s.freq.len(), 15);
        assert_eq!(s.freq[14], 0.5);
        assert_eq!(s.freq[7], HF_CUTOFF);
        // DC; (±1,0),(0,±1),(±1,±1) (√2 rounds to 1); (±2,0),(0,±2),(±2,±1),(±1,±2).
        assert_eq!(&s.counts[..3], &[1, 8, 12]);
        // The numbers HF_CUTOFF's documentation quotes.
        assert_eq!(s.counts.iter().sum::<usize>(), 651);
        assert_eq!(s.counts[7..].iter().sum::<usize>(), 514);
        let corners = (0..n * n)
            .filter(|&i| {
                let (u, v) = (signed(i / n, n), signed(i % n, n));
                (u * u + v * v).sqrt() >= 14.5
            })
            .count();
        assert!(corners > 0);
        assert_eq!(s.counts.iter().sum::<usize>() + corners, n * n);
        // A constant map averages to itself in every bin.
        assert!(s.power.iter().all(|&p| p == 1.0));
        // Non-square and odd: N = 7 → bins 0..=3, every one filled.
        let s = radial_average(&vec![1.0; 7 * 4], 7, 4);
        assert_eq!(s.freq, vec![0.0, 1.0 / 7.0, 2.0 / 7.0, 3.0 / 7.0]);
        assert!(s.counts.iter().all(|&c| c > 0), "{:?}", s.counts);
        assert_eq!(s.counts[0], 1);
    }

    /// The separable DFT against the O(R²C²) definition, on non-square
    /// sizes (even and odd).
    #[test]
    fn separable_dft_equals_the_brute_force_definition() {
        let mut rng = Rng(11);
        for (rows, cols) in [(6, 5), (7, 4), (1, 9), (5, 1)] {
            let x: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect();
            let fast = dft2(&x, rows, cols);
            for u in 0..rows {
                for v in 0..cols {
                    let (mut re, mut im) = (0.0, 0.0);
                    for r in 0..rows {
                        for c in 0..cols {
                            let a = -2.0
                                * PI
                                * (u as f64 * r as f64 / rows as f64
                                    + v as f64 * c as f64 / cols as f64);
                            re += x[r * cols + c] * a.cos();
                            im += x[r * cols + c] * a.sin();
                        }
                    }
                    let (fr, fi) = fast[u * cols + v];
                    assert!(
                        (fr - re).abs() < 1e-10 && (fi - im).abs() < 1e-10,
                        "{rows}×{cols} ({u},{v}): ({fr},{fi}) vs ({re},{im})"
                    );
                }
            }
        }
    }

    /// Parseval with this normalisation: Σ_{u,v} P = Σ (x − x̄)², averaged
    /// over images and channels; and the radial bins plus the corners hold
    /// the whole map.
    #[test]
    fn parseval_holds_on_random_images() {
        let mut rng = Rng(3);
        for (n, ch, rows, cols) in [(4, 3, 9, 7), (70, 1, 8, 8), (2, 2, 5, 12)] {
            let images: Vec<f32> = (0..n * ch * rows * cols)
                .map(|_| rng.uniform() as f32)
                .collect();
            let map = power_map(&images, n, ch, rows, cols);
            let want = images
                .chunks_exact(rows * cols)
                .map(sum_sq_dev)
                .sum::<f64>()
                / (n * ch) as f64;
            let got: f64 = map.iter().sum();
            assert!((got / want - 1.0).abs() < 1e-12, "{got} vs {want}");
            assert!(map[0] < 1e-20 * want, "DC left: {}", map[0]);
            let s = radial_average(&map, rows, cols);
            let corners: f64 = (0..rows * cols)
                .filter(|&i| bin_of(i / cols, i % cols, rows, cols).is_none())
                .map(|i| map[i])
                .sum();
            assert!(((energy(&s, 0.0) + corners) / want - 1.0).abs() < 1e-12);
        }
    }

    /// The spectrum of a set is the mean of its images' spectra, whatever
    /// the chunks and threads (100 images: 4 chunks).
    #[test]
    fn a_sets_spectrum_is_the_mean_of_its_images() {
        let mut rng = Rng(5);
        let (n, rows, cols) = (100, 6, 6);
        let images: Vec<f32> = (0..n * rows * cols).map(|_| rng.uniform() as f32).collect();
        let all = radial_spectrum(&images, n, 1, rows, cols);
        let mut mean = vec![0.0; all.power.len()];
        for img in images.chunks_exact(rows * cols) {
            let s = radial_spectrum(img, 1, 1, rows, cols);
            mean.iter_mut()
                .zip(&s.power)
                .for_each(|(m, p)| *m += p / n as f64);
        }
        for (a, m) in all.power.iter().zip(&mean) {
            assert!((a - m).abs() <= 1e-13 * m.abs().max(1e-3), "{a} vs {m}");
        }
    }

    /// 0.5 + 0.5 cos 2π(k₁r + k₂c)/N puts all its energy, N²/8 (N²/4 at
    /// Nyquist, a single self-conjugate frequency), in the bin of radius
    /// √(k₁² + k₂²)/N.
    #[test]
    fn a_cosine_lands_in_its_bin() {
        let n = 28;
        for (k1, k2, bin, total) in [
            (0, 5, 5, n * n / 8),
            (3, 4, 5, n * n / 8),
            (6, 8, 10, n * n / 8),
            (1, 1, 1, n * n / 8),
            (0, 14, 14, n * n / 4),
        ] {
            let img: Vec<f32> = (0..n * n)
                .map(|i| {
                    let (r, c) = ((i / n) as f64, (i % n) as f64);
                    (0.5 + 0.5 * (2.0 * PI * (k1 as f64 * r + k2 as f64 * c) / n as f64).cos())
                        as f32
                })
                .collect();
            let s = radial_spectrum(&img, 1, 1, n, n);
            let exact = sum_sq_dev(&img);
            assert!(
                (exact / total as f64 - 1.0).abs() < 1e-6,
                "{exact} vs {total}"
            );
            let in_bin = s.power[bin] * s.counts[bin] as f64;
            assert!(
                (in_bin / exact - 1.0).abs() < 1e-10,
                "({k1},{k2}): {in_bin} vs {exact}"
            );
            for (b, (&p, &c)) in s.power.iter().zip(&s.counts).enumerate() {
                if b != bin {
                    assert!(p * (c as f64) < 1e-10 * exact, "({k1},{k2}) bin {b}: {p}");
                }
            }
        }
    }

    /// White noise of variance σ²: every non-DC bin ≈ σ². A bin's mean over
    /// n images of `count` frequencies has variance at most 2σ⁴/(n·count)
    /// (|F|²/RC is σ²·Exp(1), or σ²χ²₁ at self-conjugate frequencies,
    /// and F(−u,−v) repeats F(u,v)); each bin is checked within 5 of those
    /// standard deviations.
    #[test]
    fn white_noise_has_a_flat_spectrum_at_its_variance() {
        let (n, rows, cols, sigma) = (200, 28, 28, 0.1);
        let mut rng = Rng(17);
        let images: Vec<f32> = (0..n * rows * cols)
            .map(|_| (0.5 + sigma * rng.normal()) as f32)
            .collect();
        let s = radial_spectrum(&images, n, 1, rows, cols);
        let var = sigma * sigma;
        for b in 1..s.freq.len() {
            let tol = 5.0 * var * (2.0 / (n * s.counts[b]) as f64).sqrt();
            assert!(
                (s.power[b] - var).abs() < tol,
                "bin {b}: {} vs {var} ± {tol}",
                s.power[b]
            );
        }
        // All rings together: within 5 standard deviations of σ².
        let k: usize = s.counts[1..].iter().sum();
        let mean = energy(&s, 1e-9) / k as f64;
        assert!(
            (mean / var - 1.0).abs() < 5.0 * (2.0 / (n * k) as f64).sqrt(),
            "{mean}"
        );
    }

    /// Convolution theorem, exactly: a circular 3 × 3 box sum multiplies
    /// each image's P(u, v) by |H(u, v)|². Integer-valued images (k/16)
    /// keep the filtered f32 values exact.
    #[test]
    fn a_box_filter_multiplies_the_power_by_its_gain() {
        let (n, ch, rows, cols) = (5, 2, 10, 7);
        let mut rng = Rng(23);
        let images: Vec<f32> = (0..n * ch * rows * cols)
            .map(|_| (rng.next_u64() % 17) as f32 / 16.0)
            .collect();
        let blurred = box3(&images, rows, cols, 1.0);
        let white = power_map(&images, n, ch, rows, cols);
        let got = power_map(&blurred, n, ch, rows, cols);
        let scale = white.iter().cloned().fold(0.0, f64::max);
        let mut want = vec![0.0; rows * cols];
        for u in 0..rows {
            for v in 0..cols {
                want[u * cols + v] = white[u * cols + v] * box3_gain(u, v, rows, cols, 1.0);
                assert!(
                    (got[u * cols + v] - want[u * cols + v]).abs() < 1e-11 * scale,
                    "({u},{v}): {} vs {}",
                    got[u * cols + v],
                    want[u * cols + v]
                );
            }
        }
        let (a, b) = (
            radial_average(&got, rows, cols),
            radial_average(&want, rows, cols),
        );
        for (x, y) in a.power.iter().zip(&b.power) {
            assert!((x - y).abs() < 1e-11 * scale);
        }
    }

    /// A known non-flat spectrum: white noise through the 3 × 3 mean filter
    /// has, in bin b, σ² times the mean of |H|² over the bin's frequencies,
    /// within 5 standard deviations (variance ≤ 2σ⁴ Σ_bin |H|⁴ / (n·count²)).
    /// Its high-frequency ratio against the filtered set is the analytic
    /// count / Σ|H|² above the cutoff.
    #[test]
    fn blurred_noise_follows_the_filters_gain() {
        let (n, rows, cols, sigma) = (300, 28, 28, 0.1);
        let mut rng = Rng(29);
        let images: Vec<f32> = (0..n * rows * cols)
            .map(|_| (0.5 + sigma * rng.normal()) as f32)
            .collect();
        let blurred = box3(&images, rows, cols, 1.0 / 9.0);
        let white = radial_spectrum(&images, n, 1, rows, cols);
        let smooth = radial_spectrum(&blurred, n, 1, rows, cols);
        let var = sigma * sigma;
        let bins = smooth.freq.len();
        let (mut h2, mut h4) = (vec![0.0; bins], vec![0.0; bins]);
        for u in 0..rows {
            for v in 0..cols {
                if let Some(b) = bin_of(u, v, rows, cols) {
                    let g = box3_gain(u, v, rows, cols, 1.0 / 9.0);
                    h2[b] += g;
                    h4[b] += g * g;
                }
            }
        }
        for b in 1..bins {
            let c = smooth.counts[b] as f64;
            let want = var * h2[b] / c;
            let tol = 5.0 * var * (2.0 * h4[b] / n as f64).sqrt() / c + 1e-12;
            assert!(
                (smooth.power[b] - want).abs() < tol,
                "bin {b}: {} vs {want} ± {tol}",
                smooth.power[b]
            );
        }
        // The ratio: white noise has far more energy above the cutoff.
        let first = (HF_CUTOFF * rows as f64).round() as usize;
        let points: f64 = smooth.counts[first..].iter().sum::<usize>() as f64;
        let (g2, g4): (f64, f64) = (h2[first..].iter().sum(), h4[first..].iter().sum());
        let want = points / g2;
        let got = high_frequency_ratio(&white, &smooth, HF_CUTOFF);
        let rel = 5.0 * ((2.0 / (n as f64 * points)).sqrt() + (2.0 * g4 / n as f64).sqrt() / g2);
        assert!(got > 1.0);
        assert!((got / want - 1.0).abs() < rel, "{got} vs {want} (±{rel})");
        assert!(high_frequency_ratio(&smooth, &white, HF_CUTOFF) < 1.0);
    }

    /// Scaling images by 2 (exact in f32) scales every power by 4: the
    /// ratio is 4 at any cutoff, the log-spectral distance log10 4; a
    /// spectrum against itself is 1 and 0.
    #[test]
    fn ratio_and_distance_of_a_scaled_set() {
        let mut rng = Rng(31);
        let (n, rows, cols) = (3, 12, 12);
        let images: Vec<f32> = (0..n * rows * cols)
            .map(|_| rng.uniform() as f32 * 0.5)
            .collect();
        let doubled: Vec<f32> = images.iter().map(|v| v * 2.0).collect();
        let a = radial_spectrum(&images, n, 1, rows, cols);
        let b = radial_spectrum(&doubled, n, 1, rows, cols);
        for cutoff in [0.0, 0.1, HF_CUTOFF, 0.5] {
            assert!((high_frequency_ratio(&b, &a, cutoff) - 4.0).abs() < 1e-12);
        }
        assert!((log_spectral_distance(&b, &a) - 4f64.log10()).abs() < 1e-12);
        assert!((log_spectral_distance(&a, &b) - 4f64.log10()).abs() < 1e-12);
        assert_eq!(log_spectral_distance(&a, &a), 0.0);
        assert_eq!(high_frequency_ratio(&a, &a, HF_CUTOFF), 1.0);
        // A constant set has no power: floored, finite.
        let flat = radial_spectrum(&vec![0.3f32; rows * cols], 1, 1, rows, cols);
        let d = log_spectral_distance(&a, &flat);
        assert!(d.is_finite() && d > 5.0, "{d}");
    }

    /// "Noisy, not blurry" on images whose spectra are known: smooth data
    /// (blurred noise); samples = data + N(0, s²) pixel noise, whose
    /// spectrum is the data's plus s² in every bin; means = the data
    /// blurred once more. Samples have excess high-frequency energy,
    /// means too little.
    #[test]
    fn pixel_noise_raises_and_blur_lowers_the_high_frequencies() {
        let (n, rows, cols, s) = (200, 28, 28, 0.05);
        let mut rng = Rng(37);
        let raw: Vec<f32> = (0..n * rows * cols)
            .map(|_| (0.5 + 0.3 * rng.normal()) as f32)
            .collect();
        let data = box3(&raw, rows, cols, 1.0 / 9.0);
        let samples: Vec<f32> = data
            .iter()
            .map(|&v| (v as f64 + s * rng.normal()) as f32)
            .collect();
        let means = box3(&data, rows, cols, 1.0 / 9.0);
        let real = radial_spectrum(&data, n, 1, rows, cols);
        let noisy = radial_spectrum(&samples, n, 1, rows, cols);
        let blurry = radial_spectrum(&means, n, 1, rows, cols);
        assert!(high_frequency_ratio(&noisy, &real, HF_CUTOFF) > 1.5);
        assert!(high_frequency_ratio(&blurry, &real, HF_CUTOFF) < 0.5);
        // The noise's flat s² on top of the data's spectrum, at high
        // frequencies (where it dominates), bin by bin within 5 sd.
        for b in 7..noisy.freq.len() {
            let excess = noisy.power[b] - real.power[b];
            let tol = 5.0 * (real.power[b] + s * s) * (2.0 / (n * noisy.counts[b]) as f64).sqrt();
            assert!(
                (excess - s * s).abs() < tol,
                "bin {b}: {excess} vs {}",
                s * s
            );
        }
        assert!(log_spectral_distance(&noisy, &real) > 0.1);
        assert!(log_spectral_distance(&blurry, &real) > 0.1);
    }

    /// The deterministic image sets of `docs/python/spectrum_check.py`.
    fn formula_sets() -> (Vec<f32>, Vec<f32>) {
        let (n, ch, rows, cols) = (3usize, 2usize, 8usize, 6usize);
        let mut a = Vec::new();
        let mut b = Vec::new();
        for i in 0..n {
            for k in 0..ch {
                for r in 0..rows {
                    for c in 0..cols {
                        let va = (i * 7 + k * 3 + r * 5 + c * 11 + r * c * 2 + r * r) % 16;
                        let vb = (i * 5 + k * 13 + r * 3 + c * c + r * c) % 9;
                        a.push(va as f32 / 15.0f32);
                        b.push(vb as f32 / 8.0f32);
                    }
                }
            }
        }
        (a, b)
    }

    /// Against numpy (`numpy.fft.fft2`, numpy 2.4.6), values printed by
    /// `/work/venv/bin/python docs/python/spectrum_check.py`, which builds
    /// the same two sets (3 images × 2 channels × 8 × 6) from the same
    /// formula, bins with `fftfreq` as documented here, and prints
    /// repr()s. Agreement to 1e-12 relative.
    #[test]
    fn matches_numpy_on_formula_images() {
        let (a, b) = formula_sets();
        let sa = radial_spectrum(&a, 3, 2, 8, 6);
        let sb = radial_spectrum(&b, 3, 2, 8, 6);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1e-12);
        assert_eq!(sa.freq, vec![0.0, 0.125, 0.25, 0.375, 0.5]);
        assert_eq!(sa.counts, NUMPY_COUNTS.to_vec());
        for (i, (x, y)) in sa.power.iter().zip(NUMPY_POWER_A).enumerate() {
            assert!(
                close(*x, y) || (i == 0 && x.abs() < 1e-25),
                "A bin {i}: {x} vs {y}"
            );
        }
        for (i, (x, y)) in sb.power.iter().zip(NUMPY_POWER_B).enumerate() {
            assert!(
                close(*x, y) || (i == 0 && x.abs() < 1e-25),
                "B bin {i}: {x} vs {y}"
            );
        }
        assert!(close(energy(&sa, HF_CUTOFF), NUMPY_ENERGY_A));
        assert!(close(energy(&sb, HF_CUTOFF), NUMPY_ENERGY_B));
        assert!(close(
            high_frequency_ratio(&sb, &sa, HF_CUTOFF),
            NUMPY_HF_RATIO_BA
        ));
        assert!(close(log_spectral_distance(&sb, &sa), NUMPY_LSD_BA));
    }

    // Printed by `/work/venv/bin/python docs/python/spectrum_check.py`
    // (numpy 2.4.6); freq = [0, 0.125, 0.25, 0.375, 0.5]. The DC bin's
    // power is rounding (≈ 1e-32) on both sides.
    const NUMPY_COUNTS: [usize; 5] = [1, 4, 10, 16, 12];
    const NUMPY_POWER_A: [f64; 5] = [
        2.345354687831567e-32,
        0.15074313126336103,
        0.08612345751738279,
        0.10215203254285511,
        0.07561204136782014,
    ];
    const NUMPY_POWER_B: [f64; 5] = [
        4.930380657631324e-32,
        0.04495062231594031,
        0.10677060082438357,
        0.08927619351514116,
        0.11377688832972183,
    ];
    const NUMPY_ENERGY_A: f64 = 3.4030115922733515;
    const NUMPY_ENERGY_B: f64 = 3.8614477644427563;
    const NUMPY_HF_RATIO_BA: f64 = 1.1347148429380314;
    const NUMPY_LSD_BA: f64 = 0.2827452139753004;
}
