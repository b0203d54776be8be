//! Reading samples produced by *any* generator (this crate's VAEs, a GAN, a
//! diffusion model, a Python script) so they can be scored against real
//! data. Three formats are accepted, because they are what other tools write
//! without extra code:
//!
//! - `.npy` (`np.save`, format versions 1–3): `uint8` (`|u1`), `bool`
//!   (`|b1`), `float32` (`<f4`) or `float64` (`<f8`), C order, shaped
//!   `[N, rows, cols]` (grayscale), `[N, rows, cols, C]` or `[N, C, rows, cols]`
//!   with C = 1 or 3 (images), or `[N, D]` (vectors);
//! - a folder of `.png` files, one sample each, taken in file-name order;
//! - IDX (MNIST's format, optionally gzipped): `[N, rows, cols]`,
//!   `[N, rows, cols, C]` or `[N, D]` unsigned bytes.
//!
//! Images come out channel-first like [`ImageSet`](super::ImageSet); bytes are
//! scaled to [0, 1], floats kept as they are. Every malformed input is an
//! error naming the file and what to do about it.

use crate::core::error::{Error, Result};
use crate::core::fsutil::write_atomic;
use crate::data::idx;
use std::path::{Path, PathBuf};

/// What a sample file held.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleArray {
    /// `n * dim` values, row-major per example; images are laid out
    /// `[channels, rows, cols]` per example (channel-first, like `ImageSet`),
    /// bytes scaled to [0, 1] (uint8 / 255, bool 0/1), floats kept as they are.
    pub values: Vec<f32>,
    pub n: usize,
    /// `Some((rows, cols, channels))` for images; `None` for flat `[N, D]` vectors.
    pub image: Option<(usize, usize, usize)>,
    /// Values per example.
    pub dim: usize,
    /// Where it came from and its format, e.g.
    /// `samples.npy (uint8, [1000, 28, 28])`, for messages.
    pub describe: String,
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";
const NPY_DTYPES: &str = "uint8 ('|u1'), bool ('|b1'), float32 ('<f4') or float64 ('<f8')";

/// Read samples from a folder of PNGs, a `.npy` file or an IDX file (raw or gzipped).
pub fn read(path: &Path) -> Result<SampleArray> {
    if !path.exists() {
        return Err(Error::Usage(format!(
            "{}: no such file or folder (samples are a .npy file, an IDX file or a folder of \
             .png images)",
            path.display()
        )));
    }
    if path.is_dir() {
        return read_png_folder(path);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if ext.as_deref() == Some("npz") {
        return Err(Error::bad_file(
            path,
            "np.savez archives are not read; save the one sample array with \
             np.save(\"samples.npy\", arr)",
        ));
    }
    let bytes = idx::read_maybe_gz(path)?;
    if ext.as_deref() == Some("npy") || bytes.starts_with(NPY_MAGIC) {
        return parse_npy(path, &bytes);
    }
    let arr = idx::parse(path, &bytes).map_err(|e| match e {
        Error::BadFile { path, what } => Error::BadFile {
            path,
            what: format!(
                "{what} (sample files are read as .npy, IDX or a folder of .png images; \
                 name a NumPy file *.npy)"
            ),
        },
        other => other,
    })?;
    let layout = layout(path, &arr.dims, false, "IDX uint8")?;
    let values = arr.data.iter().map(|&b| b as f32 / 255.0).collect();
    let describe = format!("{} (IDX uint8, {:?})", path.display(), arr.dims);
    Ok(finish(layout, values, describe))
}

/// How a shape maps onto samples.
struct Layout {
    n: usize,
    dim: usize,
    image: Option<(usize, usize, usize)>,
    /// Channel-last data that must be moved to channel-first.
    transpose: bool,
}

/// Interpret `shape`, or explain which shapes are accepted.
fn layout(path: &Path, shape: &[usize], channel_first_ok: bool, what: &str) -> Result<Layout> {
    let rgb = |c: usize| c == 1 || c == 3;
    let (image, transpose) = match *shape {
        [_, _] => (None, false),
        [_, h, w] => (Some((h, w, 1)), false),
        [_, h, w, c] if rgb(c) => (Some((h, w, c)), c > 1),
        [_, c, h, w] if channel_first_ok && rgb(c) => (Some((h, w, c)), false),
        _ => {
            let first = if channel_first_ok {
                ", [N, rows, cols, C] or [N, C, rows, cols] with C = 1 or 3"
            } else {
                ", [N, rows, cols, C] with C = 1 or 3"
            };
            return Err(Error::bad_file(
                path,
                format!(
                    "{what} array of shape {shape:?} is not a set of samples; accepted shapes are \
                     [N, rows, cols] (grayscale images){first} (images), or [N, D] (vectors)"
                ),
            ));
        }
    };
    let n = shape.first().copied().unwrap_or(0);
    if n == 0 {
        return Err(Error::bad_file(
            path,
            format!("shape {shape:?} holds no samples (N = 0)"),
        ));
    }
    let dim: usize = shape.iter().skip(1).product();
    if dim == 0 {
        return Err(Error::bad_file(
            path,
            format!("shape {shape:?}: every sample is empty"),
        ));
    }
    Ok(Layout {
        n,
        dim,
        image,
        transpose,
    })
}

fn finish(layout: Layout, values: Vec<f32>, describe: String) -> SampleArray {
    let values = match (layout.transpose, layout.image) {
        (true, Some((rows, cols, ch))) => channel_last_to_first(&values, rows * cols, ch),
        _ => values,
    };
    SampleArray {
        values,
        n: layout.n,
        image: layout.image,
        dim: layout.dim,
        describe,
    }
}

/// `[.., pixels, channels]` per example to `[.., channels, pixels]`.
fn channel_last_to_first(values: &[f32], pixels: usize, channels: usize) -> Vec<f32> {
    let per = pixels * channels;
    let mut out = vec![0.0; values.len()];
    for (src, dst) in values.chunks_exact(per).zip(out.chunks_exact_mut(per)) {
        for p in 0..pixels {
            for c in 0..channels {
                dst[c * pixels + p] = src[p * channels + c];
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Dtype {
    U8,
    Bool,
    F32,
    F64,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        Some(match descr {
            "|u1" | "<u1" | "u1" => Dtype::U8,
            "|b1" | "b1" => Dtype::Bool,
            "<f4" => Dtype::F32,
            "<f8" => Dtype::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::Bool => 1,
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "uint8",
            Dtype::Bool => "bool",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }
}

/// The value of `key` in a `.npy` header dict: a quoted string's contents,
/// a tuple's contents without the parentheses, or a bare word.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|k| header.find(k.as_str()).map(|i| i + k.len()))?;
    let rest = header
        .get(at..)?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    match rest.chars().next()? {
        q @ ('\'' | '"') => {
            let body = &rest[1..];
            body.find(q).map(|end| &body[..end])
        }
        '(' => rest.find(')').map(|end| &rest[1..end]),
        _ => {
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            Some(rest[..end].trim())
        }
    }
}

/// Parse the bytes of a `.npy` file. `path` is only used in messages.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<SampleArray> {
    let bad = |what: String| Error::bad_file(path, what);
    if bytes.len() < 10 || !bytes.starts_with(NPY_MAGIC) {
        return Err(bad(
            "not a .npy file: it does not start with \\x93NUMPY (write it with np.save)".into(),
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => return Err(bad("truncated .npy header".into())),
        _ => {
            return Err(bad(format!(
                ".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are); \
                 re-save it with np.save"
            )));
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(format!(
                "truncated .npy header: it declares {header_len} bytes, the file ends first"
            ))
        })?;
    let header = String::from_utf8_lossy(&bytes[start..end]);
    let field = |key: &str| {
        header_value(&header, key).ok_or_else(|| {
            bad(format!(
                "the .npy header has no readable '{key}': {}",
                header.trim()
            ))
        })
    };
    let descr = field("descr")?;
    let Some(dtype) = Dtype::parse(descr) else {
        let what = if descr.starts_with('>') {
            format!("big-endian data ('{descr}') is not read")
        } else {
            format!("dtype '{descr}' is not supported")
        };
        return Err(bad(format!(
            "{what}; accepted: {NPY_DTYPES}. Convert before saving: arr.astype(np.uint8) for \
             pixels in 0..=255, or arr.astype(np.float32) for values in [0, 1]"
        )));
    };
    match field("fortran_order")? {
        "False" => {}
        "True" => {
            return Err(bad(
                "fortran_order is True (column-major data); save it in C order with \
                 np.save(path, np.ascontiguousarray(arr))"
                    .into(),
            ));
        }
        other => {
            return Err(bad(format!(
                "unreadable fortran_order {other:?} in the .npy header"
            )));
        }
    }
    let shape_text = field("shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| {
            bad(format!(
                "unreadable shape ({shape_text}) in the .npy header"
            ))
        })?;
    let layout = layout(path, &shape, true, dtype.name())?;
    let expected = shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} is implausibly large")))?;
    let data = &bytes[end..];
    if data.len() != expected {
        let how = if data.len() < expected {
            "truncated file"
        } else {
            "trailing bytes"
        };
        return Err(bad(format!(
            "{how}: shape {shape:?} of {} needs {expected} data bytes, found {}",
            dtype.name(),
            data.len()
        )));
    }
    let values: Vec<f32> = match dtype {
        Dtype::U8 => data.iter().map(|&b| b as f32 / 255.0).collect(),
        Dtype::Bool => data
            .iter()
            .map(|&b| if b != 0 { 1.0 } else { 0.0 })
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let v = values[i];
        let why = if v.is_nan() || matches!(dtype, Dtype::F32) {
            format!("{v}")
        } else {
            format!("{v} as float32 (float64 values beyond ±3.4e38 overflow)")
        };
        return Err(bad(format!(
            "value at index {i} (sample {}) is {why}; samples must be finite numbers \
             (check the generator's output, e.g. with np.isfinite(arr).all())",
            i / layout.dim
        )));
    }
    let describe = format!("{} ({}, {shape:?})", path.display(), dtype.name());
    Ok(finish(layout, values, describe))
}

/// Every `*.png` directly in `dir`, in file-name order, one sample each.
fn read_png_folder(dir: &Path) -> Result<SampleArray> {
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) && p.is_file() {
            files.push(p);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "no .png files in {}: a sample folder holds one PNG per sample \
             (or pass a .npy or IDX file instead)",
            dir.display()
        )));
    }
    let mut values = Vec::new();
    let mut first: Option<(&Path, u32, u32, usize)> = None;
    for file in &files {
        let bytes = crate::core::fsutil::read(file)?;
        let img =
            image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).map_err(|e| {
                Error::bad_file(
                    file,
                    format!(
                        "cannot decode this PNG ({e}); re-save it or move it out of the folder"
                    ),
                )
            })?;
        let (w, h) = (img.width(), img.height());
        let channels = match first {
            None => {
                // Grayscale-typed (L8/La8/L16/La16) -> 1 channel; anything else -> RGB.
                let ch = if img.color().has_color() { 3 } else { 1 };
                first = Some((file.as_path(), w, h, ch));
                values.reserve(files.len() * (w as usize) * (h as usize) * ch);
                ch
            }
            Some((f0, w0, h0, ch)) => {
                if (w, h) != (w0, h0) {
                    return Err(Error::bad_file(
                        file,
                        format!(
                            "is {w}×{h} pixels (width×height) but {} is {w0}×{h0}; every sample \
                             image must have the same size",
                            f0.display()
                        ),
                    ));
                }
                ch
            }
        };
        if channels == 1 {
            values.extend(img.to_luma8().as_raw().iter().map(|&b| b as f32 / 255.0));
        } else {
            let rgb = img.to_rgb8();
            for c in 0..3 {
                values.extend(
                    rgb.as_raw()
                        .iter()
                        .skip(c)
                        .step_by(3)
                        .map(|&b| b as f32 / 255.0),
                );
            }
        }
    }
    let (w, h, ch) = first.map_or((0, 0, 1), |(_, w, h, ch)| (w as usize, h as usize, ch));
    let describe = format!(
        "{} ({} PNG files, {h}×{w} {})",
        dir.display(),
        files.len(),
        if ch == 1 { "grayscale" } else { "RGB" }
    );
    let layout = layout(dir, &[files.len(), h, w, ch], false, "PNG")?;
    Ok(SampleArray {
        values,
        n: layout.n,
        image: layout.image,
        dim: layout.dim,
        describe,
    })
}

/// A `.npy` v1.0 header for `descr` and `shape`, padded to 64 bytes.
fn npy_header(path: &Path, descr: &str, shape: &[usize], len: usize) -> Result<Vec<u8>> {
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(len) {
        return Err(Error::Usage(format!(
            "{}: cannot write {len} values as shape {shape:?}",
            path.display()
        )));
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    dict.push_str(&" ".repeat((64 - (10 + dict.len() + 1) % 64) % 64));
    dict.push('\n');
    let hlen = u16::try_from(dict.len()).map_err(|_| {
        Error::Usage(format!(
            "{}: shape {shape:?} is too long for a .npy header",
            path.display()
        ))
    })?;
    let mut out = Vec::with_capacity(10 + dict.len() + len.saturating_mul(4));
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&hlen.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    Ok(out)
}

/// Write `values` shaped `shape` as a `.npy` (v1.0, `|u1`, C order), atomically.
pub fn write_npy_u8(path: &Path, values: &[u8], shape: &[usize]) -> Result<()> {
    let mut out = npy_header(path, "|u1", shape, values.len())?;
    out.extend_from_slice(values);
    write_atomic(path, &out)
}

/// Write `values` shaped `shape` as a `.npy` (v1.0, `<f4`, C order), atomically.
pub fn write_npy_f32(path: &Path, values: &[f32], shape: &[usize]) -> Result<()> {
    let mut out = npy_header(path, "<f4", shape, values.len())?;
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made `.npy` of format `major` with header dict `dict`.
    fn npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = NPY_MAGIC.to_vec();
        out.extend_from_slice(&[major, 0]);
        let header = format!("{dict}\n");
        if major == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn dict(descr: &str, fortran: &str, shape: &str) -> String {
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
    }

    fn err(bytes: &[u8]) -> String {
        parse_npy(Path::new("s.npy"), bytes)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn npy_round_trips_u8_images_and_f32_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.npy");
        let bytes: Vec<u8> = (0..24).collect();
        write_npy_u8(&p, &bytes, &[2, 3, 4]).unwrap();
        let s = read(&p).unwrap();
        assert_eq!((s.n, s.dim, s.image), (2, 12, Some((3, 4, 1))));
        assert_eq!(
            s.values,
            bytes.iter().map(|&b| b as f32 / 255.0).collect::<Vec<_>>()
        );
        assert!(s.describe.contains("uint8, [2, 3, 4]"), "{}", s.describe);

        let p = dir.path().join("z.npy");
        let v = [0.5f32, -1.25, 3.0, 1e-3, 7.0, 0.0];
        write_npy_f32(&p, &v, &[3, 2]).unwrap();
        let s = read(&p).unwrap();
        assert_eq!((s.n, s.dim, s.image), (3, 2, None));
        assert_eq!(s.values, v);
        assert!(write_npy_f32(&p, &v, &[4, 2]).is_err());
    }

    #[test]
    fn channel_last_becomes_channel_first_and_channel_first_stays() {
        // 1 image, 2×2 pixels, 3 channels; byte = pixel * 3 + channel.
        let data: Vec<u8> = (0..12).collect();
        let s = parse_npy(
            Path::new("s.npy"),
            &npy(1, &dict("|u1", "False", "(1, 2, 2, 3)"), &data),
        )
        .unwrap();
        assert_eq!(s.image, Some((2, 2, 3)));
        // Row 1, col 0 is pixel 2; its green (channel 1) byte is 2 * 3 + 1 = 7,
        // and lands at channel 1 * 4 pixels + pixel 2 = 6.
        assert_eq!(s.values[6], 7.0 / 255.0);
        for p in 0..4 {
            for c in 0..3 {
                assert_eq!(s.values[c * 4 + p], (p * 3 + c) as f32 / 255.0);
            }
        }
        let data: Vec<u8> = (0..75).collect();
        let s = parse_npy(
            Path::new("s.npy"),
            &npy(1, &dict("|u1", "False", "(1, 3, 5, 5)"), &data),
        )
        .unwrap();
        assert_eq!(s.image, Some((5, 5, 3)));
        assert_eq!(
            s.values,
            data.iter().map(|&b| b as f32 / 255.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn v2_header_and_bool_are_read() {
        let s = parse_npy(
            Path::new("s.npy"),
            &npy(2, &dict("|b1", "False", "(2, 2)"), &[0, 1, 1, 0]),
        )
        .unwrap();
        assert_eq!((s.n, s.dim, s.image), (2, 2, None));
        assert_eq!(s.values, [0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn bad_npy_files_are_explained() {
        let good = npy(1, &dict("|u1", "False", "(2, 2)"), &[1, 2, 3, 4]);
        let e = err(&good[..good.len() - 1]);
        assert!(
            e.contains("truncated") && e.contains("4 data bytes, found 3") && e.contains("s.npy"),
            "{e}"
        );
        let e = err(&npy(1, &dict("|u1", "True", "(2, 2)"), &[1, 2, 3, 4]));
        assert!(e.contains("ascontiguousarray"), "{e}");
        let e = err(&npy(1, &dict("<i8", "False", "(1, 1)"), &[0; 8]));
        assert!(e.contains("uint8") && e.contains("'<i8'"), "{e}");
        let e = err(&npy(1, &dict(">f4", "False", "(1, 1)"), &[0; 4]));
        assert!(e.contains("big-endian"), "{e}");
        let e = err(&npy(1, &dict("|u1", "False", "(0, 4)"), &[]));
        assert!(e.contains("no samples"), "{e}");
        let e = err(&npy(1, &dict("|u1", "False", "(5,)"), &[0; 5]));
        assert!(e.contains("[5]") && e.contains("[N, D]"), "{e}");
        assert!(err(b"\x93NUMPY").contains("np.save"));
        assert!(err(&good[..12]).contains("header"));
    }

    #[test]
    fn non_finite_values_are_rejected_with_their_index() {
        let v = [0.0f32, 1.0, 2.0, f32::NAN];
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let e = err(&npy(1, &dict("<f4", "False", "(2, 2)"), &data));
        assert!(
            e.contains("index 3") && e.contains("sample 1") && e.contains("NaN"),
            "{e}"
        );
    }

    #[test]
    fn png_folder_is_read_in_file_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for (k, name) in [(2u8, "s2.png"), (0, "s0.png"), (1, "s1.PNG")] {
            let img =
                image::GrayImage::from_fn(4, 5, |x, y| image::Luma([(x + 4 * y) as u8 + 20 * k]));
            img.save_with_format(dir.path().join(name), image::ImageFormat::Png)
                .unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
        let s = read(dir.path()).unwrap();
        assert_eq!((s.n, s.dim, s.image), (3, 20, Some((5, 4, 1))));
        let want: Vec<f32> = (0..3u8)
            .flat_map(|k| (0..20u8).map(move |i| (i + 20 * k) as f32 / 255.0))
            .collect();
        assert_eq!(s.values, want);
    }

    #[test]
    fn png_folder_errors_name_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no .png files in"), "{e}");
        image::GrayImage::new(4, 5)
            .save(dir.path().join("a.png"))
            .unwrap();
        image::GrayImage::new(5, 4)
            .save(dir.path().join("b.png"))
            .unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("a.png") && e.contains("b.png") && e.contains("5×4"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("b.png")).unwrap();
        std::fs::write(dir.path().join("c.png"), b"not a png").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.png") && e.contains("decode"), "{e}");
    }

    #[test]
    fn idx_images_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples-idx3-ubyte");
        let mut bytes = vec![0u8, 0, 0x08, 0x03];
        for d in [2u32, 2, 3] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend(0..12u8);
        std::fs::write(&p, &bytes).unwrap();
        let s = read(&p).unwrap();
        assert_eq!((s.n, s.dim, s.image), (2, 6, Some((2, 3, 1))));
        assert_eq!(s.values[11], 11.0 / 255.0);
        assert!(s.describe.contains("IDX"), "{}", s.describe);
        let e = read(&dir.path().join("missing.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.npy"), "{e}");
    }
}
