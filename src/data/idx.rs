//! Reader and writer for the IDX format of MNIST, Fashion-MNIST and KMNIST
//! (`train-images-idx3-ubyte[.gz]`, ...). Gzip is detected from the file's
//! magic bytes, not its name. Every malformed file is an error that names the
//! file and what is wrong with it.

use crate::core::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// An unsigned-byte IDX array: its dimensions and row-major data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Largest file we decompress (guards against gzip bombs): 2 GiB.
const MAX_BYTES: u64 = 2 << 30;

/// Read a file, transparently un-gzipping it when it starts with 1f 8b.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = crate::core::fsutil::read(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .take(MAX_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| Error::bad_file(path, format!("damaged gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parse IDX bytes. `path` is only used in error messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    let bad = |what: String| Error::bad_file(path, what);
    if bytes.len() < 4 {
        return Err(bad(format!(
            "not an IDX file: {} bytes, shorter than the 4-byte header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: magic number starts {:02x} {:02x}, expected 00 00 \
             (is this the right file, e.g. train-images-idx3-ubyte?)",
            bytes[0], bytes[1]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "IDX element type 0x{:02x} is not supported; only unsigned bytes (0x08) are",
            bytes[2]
        )));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(bad("IDX header declares 0 dimensions".into()));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(bad(format!(
            "truncated IDX header: {ndim} dimensions need {header} bytes, file has {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n as u64 <= MAX_BYTES)
        .ok_or_else(|| bad(format!("IDX dimensions {dims:?} are implausibly large")))?;
    let body = &bytes[header..];
    if body.len() != expected {
        let how = if body.len() < expected {
            "truncated"
        } else {
            "has trailing bytes"
        };
        return Err(bad(format!(
            "{how}: dimensions {dims:?} need {expected} data bytes, file has {}",
            body.len()
        )));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Read and parse an IDX file (gzip or raw).
pub fn read(path: &Path) -> Result<IdxArray> {
    parse(path, &read_maybe_gz(path)?)
}

/// Encode an unsigned-byte IDX array (used by the tests).
pub fn encode(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_raw_and_gzip() {
        let a = IdxArray {
            dims: vec![3, 2, 2],
            data: (0..12).collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("x-idx3-ubyte");
        std::fs::write(&raw, encode(&a)).unwrap();
        assert_eq!(read(&raw).unwrap(), a);

        let gz = dir.path().join("x-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &encode(&a)).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read(&gz).unwrap(), a);
    }

    #[test]
    fn every_kind_of_bad_bytes_is_an_error_naming_the_file() {
        let p = Path::new("some/train-images-idx3-ubyte");
        let good = encode(&IdxArray {
            dims: vec![2, 2],
            data: vec![1, 2, 3, 4],
        });
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "shorter"),
            (vec![1, 0, 8, 1], "magic"),
            (vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0], "element type"),
            (vec![0, 0, 8, 0], "0 dimensions"),
            (vec![0, 0, 8, 3, 0, 0], "truncated IDX header"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([good.clone(), vec![9]].concat(), "trailing"),
            (
                vec![0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255],
                "implausibly",
            ),
        ];
        for (bytes, needle) in cases {
            let err = parse(p, &bytes).unwrap_err().to_string();
            assert!(err.contains("train-images-idx3-ubyte"), "{err}");
            assert!(err.contains(needle), "expected {needle:?} in {err}");
        }
    }

    #[test]
    fn damaged_gzip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.gz");
        std::fs::write(&p, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("gzip"), "{err}");
    }
}
