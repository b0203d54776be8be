//! Every reader returns a clear error, never a panic, on any byte sequence.
//!
//! Property tests with proptest: random bytes, and random mutations of valid
//! files (which reach deeper into the parsers than noise does). Inputs that
//! ever crashed a reader live in `tests/corpus/` and are replayed first;
//! proptest also records failing seeds in `proptest-regressions/`.
//! `VAEKIT_FUZZ_CASES` raises the number of cases (default 2000 per reader).

use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use vaekit::config::ExperimentConfig;
use vaekit::data::{amat, cifar, idx};

fn cases() -> u32 {
    std::env::var("VAEKIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Run `f`; a panic fails the test with the input that caused it.
fn no_panic<T>(what: &str, input: &[u8], f: impl FnOnce() -> T) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!(
            "{what} panicked on input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn valid_idx() -> Vec<u8> {
    idx::encode(&idx::IdxArray {
        dims: vec![2, 3, 3],
        data: (0..18).collect(),
    })
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, bytes).unwrap();
    e.finish().unwrap()
}

/// A valid file with a few bytes changed, removed or appended.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len();
    (
        proptest::collection::vec((0..n.max(1), any::<u8>()), 0..6),
        0..n + 1,
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(move |(flips, cut, tail)| {
            let mut b = base.clone();
            for (i, v) in flips {
                if i < b.len() {
                    b[i] = v;
                }
            }
            b.truncate(cut);
            b.extend(tail);
            b
        })
}

#[test]
fn corpus_of_past_crashes_is_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        no_panic(&name, &bytes, || {
            let _ = idx::parse(Path::new("x"), &bytes);
            let _ = amat::parse(Path::new("x"), &String::from_utf8_lossy(&bytes), 784);
        });
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_parse_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        no_panic("idx::parse", &bytes, || idx::parse(Path::new("f"), &bytes));
    }

    #[test]
    fn idx_parse_mutated_files(bytes in mutated(valid_idx())) {
        no_panic("idx::parse", &bytes, || idx::parse(Path::new("f"), &bytes));
    }

    #[test]
    fn idx_read_mutated_gzip(bytes in mutated(gz(&valid_idx()))) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.gz");
        std::fs::write(&p, &bytes).unwrap();
        no_panic("idx::read", &bytes, || idx::read(&p));
    }

    #[test]
    fn cifar_parse_mutated_batches(bytes in mutated({
        let img: Vec<f32> = (0..2 * 3072).map(|i| (i % 7) as f32 / 7.0).collect();
        cifar::encode(&img, &[1, 9])
    })) {
        no_panic("cifar::parse", &bytes, || cifar::parse(&bytes, Path::new("f")));
    }

    #[test]
    fn text_folder_any_bytes(
        train in mutated(b"in the beginning god created\nthe heaven and the earth .\n\n<unk> a b\n".to_vec()),
        test in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.txt"), &train).unwrap();
        std::fs::write(dir.path().join("valid.txt"), b"god created\n").unwrap();
        std::fs::write(dir.path().join("test.txt"), &test).unwrap();
        let opts = vaekit::data::text::TextOptions {
            max_vocab: 4,
            min_count: 1,
            max_len: 5,
            long_sentences: vaekit::data::text::LongSentences::Truncate,
        };
        let mut got = None;
        no_panic("text::load_folder", &train, || {
            got = Some(vaekit::data::text::load_folder(dir.path(), &opts));
        });
        match got.unwrap() {
            // Whatever was read is well formed: <s> … </s>, at most max_len
            // words, every id inside the vocabulary.
            Ok(s) => {
                for set in [&s.train, &s.val, &s.test] {
                    for q in &set.sequences {
                        prop_assert!(q.len() >= 3 && q.len() <= 5 + 2);
                        prop_assert_eq!(q[0], vaekit::data::text::BOS);
                        prop_assert_eq!(*q.last().unwrap(), vaekit::data::text::EOS);
                        prop_assert!(q.iter().all(|&i| (i as usize) < set.vocab));
                    }
                }
            }
            // An error names the file.
            Err(e) => prop_assert!(e.to_string().contains(".txt"), "{}", e),
        }
    }

    #[test]
    fn amat_parse_any_text(text in "[01 \\n\\t.a-z]{0,80}") {
        no_panic("amat::parse", text.as_bytes(), || amat::parse(Path::new("f"), &text, 4));
    }

    #[test]
    fn config_any_toml_like_text(text in "[a-z_.=\\[\\]\"0-9 \\n-]{0,120}") {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, &text).unwrap();
        no_panic("config", text.as_bytes(), || ExperimentConfig::load(Some(&p), &[]));
    }

    #[test]
    fn config_overrides_any_value(key in "(model|train|data|schedule|optimizer|objective|monitor)\\.[a-z_]{1,12}", value in "[a-z0-9.\\[\\]\",-]{0,16}") {
        let item = format!("{key}={value}");
        no_panic("--set", item.as_bytes(), || ExperimentConfig::load(None, &[item.clone()]));
    }

    #[test]
    fn metrics_reader_any_bytes(bytes in mutated(br#"{"split":"train","step":1,"beta":1.0,"loss":3.0,"rec_ll":-2.0,"kl":1.0,"kl_per_dim":[1.0]}
{"split":"val","step":1,"beta":1.0,"elbo":-3.0,"rec_ll":-2.0,"kl":1.0,"kl_per_dim":[1.0]}
"#.to_vec())) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metrics.jsonl"), &bytes).unwrap();
        no_panic("RunLog::read", &bytes, || vaekit::report::runlog::RunLog::read(dir.path()));
    }

    #[test]
    fn checkpoint_state_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), &bytes).unwrap();
        no_panic("load_state", &bytes, || vaekit::train::checkpoint::load_state(dir.path()));
    }
}

fn tiny_model() -> vaekit::models::vae::Vae {
    let cfg = vaekit::config::ModelConfig {
        latent_dim: 2,
        hidden: vec![3],
        ..Default::default()
    };
    vaekit::models::vae::Vae::new(&cfg, 4, &burn::tensor::Device::flex())
}

fn valid_model_bytes() -> Vec<u8> {
    use burn::module::Module;
    tiny_model().into_record().into_bytes().unwrap().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn checkpoint_model_mutated_bytes(bytes in mutated(valid_model_bytes())) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.bpk"), &bytes).unwrap();
        no_panic("load_model", &bytes, || vaekit::train::checkpoint::load_model(dir.path(), vaekit::models::AnyModel::Vae(tiny_model())));
    }
}
