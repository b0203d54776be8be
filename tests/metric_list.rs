//! "Add a metric" is one `Metric` const and one line in `registry::all()`
//! (docs/architecture.md, "Where a change goes"). The second half is easy
//! to forget — a const that is declared but not listed is computed nowhere
//! and written to no file, without an error — so this test reads the
//! sources, as `tests/layering.rs` does: every `Metric` declared under
//! `src/metrics/` (a `const X: Metric` item, or a `sample_metric!(X, ...)`
//! declaration) must be listed in `all()`, and `all()` lists nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The consts of type `Metric` declared in the metrics layer, with the
/// file of each.
fn declared() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics"),
        &mut files,
    );
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("const ") {
            let rest = &text[i + "const ".len()..];
            let id = ident_at(rest);
            if !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && rest[id.len()..].trim_start().starts_with(": Metric")
            {
                out.push((id.to_string(), f.clone()));
            }
        }
        // `sample_metric!(X, ...)`, `grad_metric!(X, ...)`: every declaring macro.
        for (i, _) in text.match_indices("_metric!(") {
            let id = ident_at(text[i + "_metric!(".len()..].trim_start());
            // The macro's own definition names `$id`, not a metric.
            if !id.is_empty() {
                out.push((id.to_string(), f.clone()));
            }
        }
    }
    out
}

/// The names listed in `registry::all()`: the last path segment of each entry.
fn listed() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics/registry.rs");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find("static ALL: &[Metric] = &[")
        .expect("registry::all() holds a static list");
    let body = &text[start..];
    let body = &body[body.find('[').unwrap() + 1..];
    let body = &body[body.find("&[").unwrap() + 2..body.find("];").unwrap()];
    body.split(',')
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(|e| e.rsplit("::").next().unwrap().to_string())
        .collect()
}

#[test]
fn every_declared_metric_is_listed_in_the_registry_and_nothing_else() {
    let declared = declared();
    assert!(
        declared.len() >= 40,
        "the scan found only {} metrics: has the declaration form changed?",
        declared.len()
    );
    let listed = listed();
    let missing: Vec<String> = declared
        .iter()
        .filter(|(id, _)| !listed.contains(id))
        .map(|(id, f)| format!("{id} ({})", f.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "declared but not in registry::all() (so computed nowhere): {missing:?}"
    );
    let names: BTreeSet<&str> = declared.iter().map(|(id, _)| id.as_str()).collect();
    let stray: Vec<&String> = listed
        .iter()
        .filter(|l| !names.contains(l.as_str()))
        .collect();
    assert!(stray.is_empty(), "listed but not found declared: {stray:?}");
}

#[test]
fn the_registry_lists_as_many_metrics_as_the_scan_finds() {
    // The scan and the library agree: as many distinct consts as metrics.
    let declared: BTreeSet<String> = declared().into_iter().map(|(id, _)| id).collect();
    assert_eq!(declared.len(), vaekit::metrics::registry::all().len());
}
