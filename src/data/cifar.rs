//! CIFAR-10's binary format (Krizhevsky 2009, "CIFAR-10 binary version"):
//! `data_batch_1.bin` … `data_batch_5.bin` (training) and `test_batch.bin`,
//! each a sequence of 3,073-byte records: one label byte, then 1,024 red,
//! 1,024 green and 1,024 blue bytes, each plane row-major 32×32. That is
//! vaekit's own layout (`[channels, rows, cols]`), so pixels are copied as
//! they come, scaled to [0, 1].

use super::ImageSet;
use crate::core::error::{Error, Result};
use std::path::Path;

/// Side of a CIFAR image.
pub const SIDE: usize = 32;
/// Bytes per record: label + 3 × 32 × 32 pixels.
pub const RECORD: usize = 1 + 3 * SIDE * SIDE;

/// Parse one batch file's bytes into a dataset; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<ImageSet> {
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(Error::bad_file(
            path,
            format!(
                "{} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each: \
                 a label byte and 32×32×3 pixels); is this the binary version of CIFAR-10?",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(Error::bad_file(
                path,
                format!(
                    "record {i} has label {}; CIFAR-10 labels are 0–9, so this is not a CIFAR-10 batch \
                     (CIFAR-100's two label bytes are not supported)",
                    rec[0]
                ),
            ));
        }
        labels.push(rec[0]);
        images.extend(rec[1..].iter().map(|&b| b as f32 / 255.0));
    }
    Ok(ImageSet {
        images,
        n,
        rows: SIDE,
        cols: SIDE,
        channels: 3,
        labels: Some(labels),
        binary: false,
    })
}

fn read(path: &Path) -> Result<ImageSet> {
    parse(&crate::core::fsutil::read(path)?, path)
}

/// The training batches present (at least one) and the test batch of `dir`.
pub fn load(dir: &Path) -> Result<(ImageSet, ImageSet)> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory (data.spec = cifar:DIR wants a folder holding \
             data_batch_1.bin … data_batch_5.bin and test_batch.bin)",
            dir.display()
        )));
    }
    let mut train: Option<ImageSet> = None;
    for b in 1..=5 {
        let path = dir.join(format!("data_batch_{b}.bin"));
        if !path.is_file() {
            continue;
        }
        let d = read(&path)?;
        train = Some(match train {
            None => d,
            Some(mut t) => {
                t.images.extend(d.images);
                t.labels.as_mut().unwrap().extend(d.labels.unwrap());
                t.n += d.n;
                t
            }
        });
    }
    let train = train.ok_or_else(|| {
        Error::Usage(format!(
            "{}: no data_batch_1.bin … data_batch_5.bin (the CIFAR-10 binary version's training batches)",
            dir.display()
        ))
    })?;
    let test_path = dir.join("test_batch.bin");
    if !test_path.is_file() {
        return Err(Error::Usage(format!(
            "{}: missing; a cifar folder holds data_batch_*.bin and test_batch.bin",
            test_path.display()
        )));
    }
    Ok((train, read(&test_path)?))
}

/// Encode images and labels as one CIFAR-10 batch file (for tests and
/// converting other colour data): `images` `[n, 3, 32, 32]` in [0, 1].
pub fn encode(images: &[f32], labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * RECORD);
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        let img = &images[i * (RECORD - 1)..(i + 1) * (RECORD - 1)];
        out.extend(
            img.iter()
                .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_channel_planes_in_order() {
        // Two records: pixel value = channel·10 + (row == col) for record 0.
        let mut bytes = Vec::new();
        for r in 0..2u8 {
            bytes.push(r + 3);
            for c in 0..3u8 {
                for i in 0..SIDE {
                    for j in 0..SIDE {
                        bytes.push(c * 10 + (i == j) as u8 + r * 100);
                    }
                }
            }
        }
        let d = parse(&bytes, Path::new("x.bin")).unwrap();
        assert_eq!(
            (d.n, d.rows, d.cols, d.channels, d.dim()),
            (2, 32, 32, 3, 3072)
        );
        assert_eq!(d.labels, Some(vec![3, 4]));
        let img = d.image(1);
        // Green plane, row 5, column 5 of record 1: 10 + 1 + 100.
        assert!((img[1024 + 5 * 32 + 5] - 111.0 / 255.0).abs() < 1e-7);
        assert!((img[2048 + 5 * 32 + 6] - 120.0 / 255.0).abs() < 1e-7);
        // encode is parse's inverse.
        assert_eq!(encode(&d.images, d.labels.as_ref().unwrap()), bytes);
    }

    #[test]
    fn malformed_batches_are_named() {
        let p = Path::new("data_batch_1.bin");
        let e = parse(&[0u8; 3072], p).unwrap_err().to_string();
        assert!(e.contains("data_batch_1.bin") && e.contains("3073"), "{e}");
        let mut bad = vec![0u8; RECORD];
        bad[0] = 42;
        let e = parse(&bad, p).unwrap_err().to_string();
        assert!(e.contains("label 42"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("data_batch_1.bin"), "{e}");
    }
}
