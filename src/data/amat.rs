//! Reader for statically binarized MNIST (Larochelle & Murray 2011):
//! `binarized_mnist_{train,valid,test}.amat`, one image per line as
//! space-separated 0/1 values.

use crate::core::error::{Error, Result};
use std::path::Path;

/// Parse `.amat` text into a flat row-major `Vec<f32>` of `n * dim` values.
/// Every line must have the same number of values (784 for MNIST), each 0 or 1.
pub fn parse(path: &Path, text: &str, dim: usize) -> Result<(Vec<f32>, usize)> {
    let mut out = Vec::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let before = out.len();
        for tok in line.split_ascii_whitespace() {
            let v = match tok {
                "0" => 0.0,
                "1" => 1.0,
                _ => {
                    return Err(Error::bad_file(
                        path,
                        format!("line {}: value {tok:?} is not 0 or 1", i + 1),
                    ));
                }
            };
            out.push(v);
        }
        let got = out.len() - before;
        if got != dim {
            return Err(Error::bad_file(
                path,
                format!("line {}: {got} values, expected {dim}", i + 1),
            ));
        }
        n += 1;
    }
    if n == 0 {
        return Err(Error::bad_file(path, "no images in file"));
    }
    Ok((out, n))
}

/// Read an `.amat` file.
pub fn read(path: &Path, dim: usize) -> Result<(Vec<f32>, usize)> {
    let bytes = super::idx::read_maybe_gz(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::bad_file(path, "not a text file (expected lines of 0/1 values)"))?;
    parse(path, text, dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = Path::new("binarized_mnist_test.amat");
        let (v, n) = parse(p, "0 1 1\n1 0 0\n\n", 3).unwrap();
        assert_eq!(n, 2);
        assert_eq!(v, vec![0., 1., 1., 1., 0., 0.]);
        for (text, needle) in [
            ("0 1\n", "2 values"),
            ("0 2 1\n", "\"2\""),
            ("", "no images"),
        ] {
            let e = parse(p, text, 3).unwrap_err().to_string();
            assert!(
                e.contains(needle) && e.contains("binarized_mnist_test.amat"),
                "{e}"
            );
        }
    }
}
