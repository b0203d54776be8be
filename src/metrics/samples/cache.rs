//! Where the classifier and the NDB bins of a dataset are kept, so that
//! every run on that dataset is scored with the same features.
//!
//! The folder is `$VAEKIT_CACHE` when set, else `$XDG_CACHE_HOME/vaekit`,
//! else `~/.cache/vaekit`. Each reference is one folder named by a SHA-256
//! of everything it depends on (the images and labels, the classifier's
//! config, binarization, the number of bins, a format version); it is
//! written into a temporary folder and renamed into place, so a folder
//! with that name is always complete. Delete the folder to retrain.

use crate::core::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The cache root.
pub fn root() -> PathBuf {
    if let Some(p) = std::env::var_os("VAEKIT_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("vaekit");
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache").join("vaekit"),
        None => PathBuf::from(".vaekit-cache"),
    }
}

/// A running SHA-256 over the parts of a key.
pub struct Key(Sha256);

impl Key {
    pub fn new(kind: &str) -> Self {
        let mut h = Sha256::new();
        h.update(kind.as_bytes());
        h.update([0u8]);
        Key(h)
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    pub fn floats(self, v: &[f32]) -> Self {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.bytes(&bytes)
    }

    /// The first 16 hex digits.
    pub fn hex(self) -> String {
        self.0.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Publish a folder built at `tmp` as `dest` (rename; if another process
/// published it first, keep theirs).
pub fn publish(tmp: &Path, dest: &Path) -> Result<()> {
    match std::fs::rename(tmp, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(tmp);
            Ok(())
        }
        Err(e) => Err(Error::io(dest, e)),
    }
}

/// f64 values as little-endian bytes, and back (the bins' centroids).
pub fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f64_from(path: &Path, bytes: &[u8]) -> Result<Vec<f64>> {
    if bytes.len() % 8 != 0 {
        return Err(Error::bad_file(
            path,
            "truncated (not a whole number of f64 values); delete the folder to rebuild it",
        ));
    }
    Ok(bytes
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}
