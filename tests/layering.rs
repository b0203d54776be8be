//! The crate's dependencies point one way. Each top-level module of `src/` is
//! a layer, numbered from the bottom:
//!
//! | layer | module    | what it holds |
//! | ----- | --------- | ------------- |
//! | 0     | `core`    | batches and posteriors on a device, objective terms, errors, files, rng |
//! | 1     | `data`    | datasets of any kind, readers, batching, `[data]` config |
//! | 2     | `models`  | the model interface, the models, `[model]` config |
//! | 3     | `metrics` | the metric registry and the passes that feed it, `[monitor]` config |
//! | 4     | `train`   | the training loop, checkpoints, `metrics.jsonl`, the trainer's config |
//! | 5     | `app`     | experiment config, run directories, eval, sweeps, studies, reports |
//!
//! A file in layer L may name `crate::X` only for a module X of a layer
//! ≤ L, and the same for `super::super::…::X` chains that climb to the
//! crate root. Every such path counts — `use` lines, paths written inline,
//! unit tests, and rustdoc links in doc comments (a link to a higher layer
//! makes the lower one's docs depend on it) — while plain `//` comments do
//! not. Paths through the short re-exports of `lib.rs`
//! (`crate::config`, `crate::error`, ...) are refused: inside the crate
//! every path names its layer. Because no layer imports one above it, the
//! layers form no cycle; modules of one layer may use each other.
//! `src/lib.rs` (declarations) and `src/bin/` (the CLI, a user of the
//! library) are outside the layers.

use std::path::{Path, PathBuf};

const LAYERS: [&str; 6] = ["core", "data", "models", "metrics", "train", "app"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

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

/// The part of a line that can name a module: the code before a `//`
/// comment, or a doc comment's rustdoc links (`[`crate::x`]`, `[..](crate::x)`).
/// String literals holding `//` are rare enough in this crate not to matter,
/// and would only hide a path, never invent one.
fn code(line: &str) -> String {
    let trimmed = line.trim_start();
    if trimmed.starts_with("///") || trimmed.starts_with("//!") {
        // Only what sits inside a link's backticks or parentheses.
        let mut out = String::new();
        for part in trimmed.split(['[', ']', '(', ')']) {
            let p = part.trim_matches('`');
            if p.starts_with("crate::") || p.starts_with("super::") {
                out.push_str(p);
                out.push(' ');
            }
        }
        return out;
    }
    match line.find("//") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// Every `super::…::X` in `text` whose chain of `super`s is at least
/// `depth` long (the file's module depth below the crate root, so the chain
/// reaches the root), with its line number: (line, X).
fn root_supers(text: &str, depth: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = code(line);
        let mut rest = line.as_str();
        while let Some(i) = rest.find("super::") {
            let before_ok = i == 0 || {
                let c = rest[..i].chars().last().unwrap();
                !(c.is_alphanumeric() || c == '_' || c == ':')
            };
            let mut after = &rest[i..];
            let mut supers = 0;
            while let Some(r) = after.strip_prefix("super::") {
                supers += 1;
                after = r;
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if before_ok && supers >= depth && !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = &rest[i + "super::".len() * supers.max(1)..];
        }
    }
    out
}

/// Every `crate::X` in `text`, with its line number: (line, X).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = code(line);
        let mut rest = line.as_str();
        while let Some(i) = rest.find("crate::") {
            let before_ok = i == 0 || {
                let c = rest[..i].chars().last().unwrap();
                !(c.is_alphanumeric() || c == '_')
            };
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if before_ok && !name.is_empty() {
                out.push((n + 1, name));
            } else if before_ok && after.starts_with('{') {
                // `use crate::{a, b}`: every top-level name in the braces.
                let inner: String = after[1..].chars().take_while(|c| *c != '}').collect();
                for part in inner.split(',') {
                    let top: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !top.is_empty() {
                        out.push((n + 1, top));
                    }
                }
            }
            rest = &rest[i + "crate::".len()..];
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        if top == "lib.rs" || top == "bin" {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            problems.push(format!(
                "src/{}: outside every layer; put it in one of {LAYERS:?}",
                rel.display()
            ));
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        // src/metrics/mod.rs is `metrics` (depth 1), src/metrics/elbo.rs `metrics::elbo` (2).
        let depth = rel.components().count() - usize::from(rel.ends_with("mod.rs"));
        let climbing = root_supers(&text, depth)
            .into_iter()
            .filter(|(_, name)| layer_of(name).is_some());
        for (line, name) in crate_paths(&text).into_iter().chain(climbing) {
            match layer_of(&name) {
                Some(l) if l <= own => {}
                Some(l) => problems.push(format!(
                    "src/{}:{line}: crate::{name} is layer {l} ({}), above this file's layer {own} ({top})",
                    rel.display(),
                    LAYERS[l]
                )),
                None => problems.push(format!(
                    "src/{}:{line}: crate::{name} is not a layer; name the layer it lives in \
                     (the short paths of lib.rs are for users of the library)",
                    rel.display()
                )),
            }
        }
    }
    assert!(checked > 40, "only {checked} files found under src/");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_supers_that_climb_to_the_root() {
    // From src/metrics/elbo.rs (depth 2): two supers reach the root.
    let text = "use super::super::app::config;\nuse super::registry::Metric;\n\
                let x = super::super::super::train::fit;\n";
    assert_eq!(
        root_supers(text, 2),
        vec![(1, "app".to_string()), (3, "train".to_string())]
    );
    assert!(root_supers("use super::super::models::Vae;", 3).is_empty());
}

#[test]
fn the_checker_sees_what_it_must() {
    // The parser itself, on lines written to catch it out.
    let text = "use crate::app::config::X; // crate::train in a comment\n\
                let x = crate::core::host::read(t);\n\
                use crate::{data, models::AnyModel};\n\
                let not_it = mycrate::app::x;\n\
                /// [`crate::app`] linked from a doc comment\n\
                // crate::train in a plain comment\n";
    let found: Vec<(usize, String)> = crate_paths(text);
    assert_eq!(
        found,
        vec![
            (1, "app".to_string()),
            (2, "core".to_string()),
            (3, "data".to_string()),
            (3, "models".to_string()),
            (5, "app".to_string()),
        ]
    );
}
