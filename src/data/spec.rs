//! `data.spec`: which source a run reads, parsed once from its string form
//! (`synthetic`, `idx:DIR`, …) into a [`DataSpec`]. Config files keep the
//! string: the spec serializes to and deserializes from it. A new kind of
//! source is a variant here (its name in [`DataSpec::FORMS`], [`FromStr`]
//! and [`Display`]) and an arm of [`super::load`].

use crate::core::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A data source: a built-in generator or a reader of a folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DataSpec {
    /// `synthetic`: the built-in image generator ([`super::synthetic`]).
    Synthetic,
    /// `synthetic-text`: He et al. 2019's sentence generator
    /// ([`super::synthetic_text`]).
    SyntheticText,
    /// `idx:DIR`: MNIST-style IDX files, gzip or raw.
    Idx(PathBuf),
    /// `amat:DIR`: statically binarized MNIST `.amat` files.
    Amat(PathBuf),
    /// `cifar:DIR`: CIFAR-10's binary batches (32×32×3).
    Cifar(PathBuf),
    /// `text:DIR`: sentences in `train.txt`, `valid.txt`, `test.txt`.
    Text(PathBuf),
}

impl DataSpec {
    /// The forms a spec takes, for messages.
    pub const FORMS: &'static str =
        "`synthetic`, `idx:DIR`, `amat:DIR`, `cifar:DIR`, `text:DIR` or `synthetic-text`";

    /// Whether the source is sentences (token data).
    pub fn is_text(&self) -> bool {
        matches!(self, Self::SyntheticText | Self::Text(_))
    }

    /// Whether the source is images (what sample metrics compare).
    pub fn is_images(&self) -> bool {
        !self.is_text()
    }

    /// Whether the source is built in (nothing to read from disk).
    pub fn is_builtin(&self) -> bool {
        self.folder().is_none()
    }

    /// The folder a reader reads, if any.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            Self::Synthetic | Self::SyntheticText => None,
            Self::Idx(d) | Self::Amat(d) | Self::Cifar(d) | Self::Text(d) => Some(d),
        }
    }

    /// A short name for run and study names: `synthetic`, or the folder's name.
    pub fn label(&self) -> String {
        match self.folder() {
            Some(dir) => dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| dir.display().to_string()),
            None => self.to_string(),
        }
    }

    /// Parse `s`, or say why not (without the key, which callers name).
    fn parse(s: &str) -> std::result::Result<Self, String> {
        let expected = || format!("{s:?} is not a data spec; expected {}", Self::FORMS);
        match s {
            "synthetic" => return Ok(Self::Synthetic),
            "synthetic-text" => return Ok(Self::SyntheticText),
            _ => {}
        }
        let (prefix, dir) = s.split_once(':').ok_or_else(expected)?;
        let kind: fn(PathBuf) -> Self = match prefix {
            "idx" => Self::Idx,
            "amat" => Self::Amat,
            "cifar" => Self::Cifar,
            "text" => Self::Text,
            _ => return Err(expected()),
        };
        if dir.is_empty() {
            return Err(format!(
                "{s:?} names no folder; name the folder after the colon, e.g. {s}/path/to/data"
            ));
        }
        Ok(kind(PathBuf::from(dir)))
    }
}

impl FromStr for DataSpec {
    type Err = Error;

    /// A spec from its string form; the error names `data.spec` and lists
    /// the forms.
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s).map_err(|why| Error::Config(vec![format!("data.spec: {why}")]))
    }
}

impl TryFrom<String> for DataSpec {
    type Error = String;

    /// For serde: the config loader puts the key in front of the message.
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<DataSpec> for String {
    fn from(spec: DataSpec) -> String {
        spec.to_string()
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, dir) = match self {
            Self::Synthetic => return f.write_str("synthetic"),
            Self::SyntheticText => return f.write_str("synthetic-text"),
            Self::Idx(d) => ("idx", d),
            Self::Amat(d) => ("amat", d),
            Self::Cifar(d) => ("cifar", d),
            Self::Text(d) => ("text", d),
        };
        write!(f, "{prefix}:{}", dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_prints_back() {
        for s in [
            "synthetic",
            "synthetic-text",
            "idx:/data/mnist",
            "amat:rel/dir",
            "cifar:/c",
            "text:/corpus/ptb",
        ] {
            let spec: DataSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        let p: DataSpec = "idx:/a/b:c".parse().unwrap();
        assert_eq!(p, DataSpec::Idx("/a/b:c".into()));
    }

    /// "Add a data kind", checked: the match is exhaustive, so a new variant
    /// does not compile here until it is counted, and then `FORMS` (what
    /// every message lists) must name it in a form that parses to it and
    /// prints back.
    #[test]
    fn forms_name_every_variant() {
        fn index(s: &DataSpec) -> usize {
            match s {
                DataSpec::Synthetic => 0,
                DataSpec::SyntheticText => 1,
                DataSpec::Idx(_) => 2,
                DataSpec::Amat(_) => 3,
                DataSpec::Cifar(_) => 4,
                DataSpec::Text(_) => 5,
            }
        }
        let mut seen = [false; 6];
        for form in DataSpec::FORMS.split('`').skip(1).step_by(2) {
            let s = form.replace("DIR", "/d");
            let spec: DataSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
            seen[index(&spec)] = true;
        }
        assert!(seen.iter().all(|&b| b), "FORMS misses a variant: {seen:?}");
    }

    #[test]
    fn kinds_labels_and_folders() {
        let t: DataSpec = "text:/corpus/ptb".parse().unwrap();
        assert!(t.is_text() && !t.is_builtin());
        assert_eq!(t.label(), "ptb");
        assert_eq!(t.folder(), Some(Path::new("/corpus/ptb")));
        assert!(DataSpec::SyntheticText.is_text());
        assert!(DataSpec::Synthetic.is_images() && DataSpec::Synthetic.is_builtin());
        assert_eq!(DataSpec::Synthetic.label(), "synthetic");
    }

    #[test]
    fn bad_specs_name_the_key_and_the_forms() {
        for s in ["mnist", "png:/x", "Synthetic", ""] {
            let e = s.parse::<DataSpec>().unwrap_err().to_string();
            assert!(e.contains("data.spec") && e.contains("`idx:DIR`"), "{e}");
        }
        let e = "idx:".parse::<DataSpec>().unwrap_err().to_string();
        assert!(e.contains("name the folder"), "{e}");
    }

    #[test]
    fn serializes_as_its_string() {
        #[derive(Serialize, Deserialize)]
        struct T {
            spec: DataSpec,
        }
        let t: T = toml::from_str("spec = \"amat:/d\"").unwrap();
        assert_eq!(t.spec, DataSpec::Amat("/d".into()));
        assert_eq!(toml::to_string(&t).unwrap().trim(), "spec = \"amat:/d\"");
        assert!(toml::from_str::<T>("spec = \"nope\"").is_err());
    }
}
