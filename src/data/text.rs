//! Sentences from text files, in the Penn Treebank layout: `train.txt`,
//! `valid.txt` and `test.txt` in one folder, one sentence per line, tokens
//! separated by spaces, UTF-8.
//!
//! The vocabulary ([`Vocab`]) is built from the training split alone: the
//! `data.max_vocab` most frequent words seen at least `data.min_count` times
//! (ties broken by first appearance, so it is a function of the file), after
//! four reserved ids — `<pad>` 0, `<unk>` 1, `<s>` 2, `</s>` 3. Every other
//! word of any split reads as `<unk>`; a literal `<unk>` in the text (the Penn
//! Treebank has them: 5.1% of its training words) is that id too — one
//! unknown word, not a second word spelled `<unk>` — and the notes count
//! the two causes apart.
//!
//! A sentence of n words is stored as `<s> w₁ … wₙ </s>` (n + 2 ids): the
//! decoder reads `<s> w₁ … wₙ` and predicts `w₁ … wₙ </s>`, so n + 1 tokens
//! are predicted per sentence and `<s>` never is (`docs/likelihood.md`).
//!
//! What the reader does with awkward lines, each counted and reported in a
//! note that names the file and the first line concerned:
//! - empty lines and lines of only whitespace are skipped (a sentence with no
//!   word has nothing to model);
//! - sentences longer than `data.max_len` words are dropped
//!   (`data.long_sentences = "drop"`, the default) or cut to their first
//!   `max_len` words (`"truncate"`);
//! - bytes that are not UTF-8 and the reserved tokens `<s>`, `</s>`, `<pad>`
//!   inside the text are errors naming the file and line.

use super::tokens::TokenSet;
use crate::core::error::{Error, Result};
use crate::core::fsutil::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Padding: fills positions past a sentence's end.
pub const PAD: u32 = 0;
/// A word outside the vocabulary (and word dropout's replacement).
pub const UNK: u32 = 1;
/// Start of sentence: the decoder's first input, never predicted.
pub const BOS: u32 = 2;
/// End of sentence: predicted after the last word.
pub const EOS: u32 = 3;
/// The reserved tokens, at ids 0..4.
pub const SPECIALS: [&str; 4] = ["<pad>", "<unk>", "<s>", "</s>"];

/// What to do with a sentence longer than `data.max_len` words.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LongSentences {
    /// Leave it out (and count it).
    #[default]
    Drop,
    /// Keep its first `max_len` words (and count it).
    Truncate,
}

/// Words by id: the four reserved tokens, then the training split's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    words: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// A vocabulary of the reserved tokens followed by `words`, in that order.
    pub fn from_words(words: impl IntoIterator<Item = String>) -> Self {
        let words: Vec<String> = SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(words)
            .collect();
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Self { words, index }
    }

    /// The `max_vocab` (0 = no limit) most frequent words of `sentences`
    /// seen at least `min_count` times; ties by first appearance.
    pub fn build(sentences: &[Vec<&str>], max_vocab: usize, min_count: usize) -> Self {
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for w in sentences.iter().flatten() {
            if SPECIALS.contains(w) {
                continue;
            }
            let next = counts.len();
            counts.entry(w).or_insert((0, next)).0 += 1;
        }
        let mut ranked: Vec<(&str, usize, usize)> = counts
            .into_iter()
            .filter(|(_, (c, _))| *c >= min_count.max(1))
            .map(|(w, (c, first))| (w, c, first))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        if max_vocab > 0 {
            ranked.truncate(max_vocab);
        }
        Self::from_words(ranked.into_iter().map(|(w, _, _)| w.to_string()))
    }

    /// Number of ids, reserved tokens included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it holds only the reserved tokens.
    pub fn is_empty(&self) -> bool {
        self.words.len() <= SPECIALS.len()
    }

    /// The id of `word` (`<unk>` when it is not in the vocabulary).
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(UNK)
    }

    /// The word of `id` (`<unk>` for an id past the end).
    pub fn word(&self, id: u32) -> &str {
        self.words
            .get(id as usize)
            .map_or(SPECIALS[UNK as usize], String::as_str)
    }

    /// The words of a sentence's ids, without `<s>`, `</s>` and padding.
    pub fn sentence(&self, ids: &[u32]) -> String {
        ids.iter()
            .filter(|&&i| i != BOS && i != EOS && i != PAD)
            .map(|&i| self.word(i))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `vocab.txt`: one word per line, line i holding id i − 1.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut s = self.words.join("\n");
        s.push('\n');
        write_atomic(path, s.as_bytes())
    }

    /// Read a `vocab.txt` written by [`Vocab::write`].
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let words: Vec<String> = text.lines().map(str::to_string).collect();
        if words.len() < SPECIALS.len() || words[..SPECIALS.len()] != SPECIALS {
            return Err(Error::bad_file(
                path,
                format!(
                    "not a vaekit vocabulary: it must start with the lines {}",
                    SPECIALS.join(", ")
                ),
            ));
        }
        Ok(Self::from_words(words.into_iter().skip(SPECIALS.len())))
    }

    /// The first id at which two vocabularies differ, for messages.
    pub fn first_difference<'a>(&'a self, other: &'a Vocab) -> Option<(usize, &'a str, &'a str)> {
        fn at(v: &Vocab, i: usize) -> &str {
            v.words.get(i).map_or("(end)", String::as_str)
        }
        (0..self.len().max(other.len()))
            .find(|&i| self.words.get(i) != other.words.get(i))
            .map(|i| (i, at(self, i), at(other, i)))
    }
}

/// How a text folder is read: the `[data]` keys for text.
#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    pub max_vocab: usize,
    pub min_count: usize,
    pub max_len: usize,
    pub long_sentences: LongSentences,
}

/// One split's lines as words, with what was skipped.
struct Lines<'a> {
    sentences: Vec<Vec<&'a str>>,
    notes: Vec<String>,
}

/// Split `text` (the contents of `path`) into sentences of words.
fn split_lines<'a>(path: &Path, text: &'a str, opts: &TextOptions) -> Result<Lines<'a>> {
    let mut sentences = Vec::new();
    let (mut empty, mut first_empty) = (0usize, 0usize);
    let (mut long, mut first_long) = (0usize, 0usize);
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            empty += 1;
            if first_empty == 0 {
                first_empty = i + 1;
            }
            continue;
        }
        if let Some(w) = words
            .iter()
            .find(|w| SPECIALS.contains(w) && **w != "<unk>")
        {
            return Err(Error::bad_file(
                path,
                format!(
                    "line {}: the token {w} is reserved (vaekit adds <s> and </s> itself and \
                     pads with <pad>); remove it from the text",
                    i + 1
                ),
            ));
        }
        let mut words = words;
        if words.len() > opts.max_len {
            long += 1;
            if first_long == 0 {
                first_long = i + 1;
            }
            match opts.long_sentences {
                LongSentences::Drop => continue,
                LongSentences::Truncate => words.truncate(opts.max_len),
            }
        }
        sentences.push(words);
    }
    let mut notes = Vec::new();
    let name = path.display();
    if empty > 0 {
        notes.push(format!(
            "{name}: skipped {empty} empty line(s) (first at line {first_empty})"
        ));
    }
    if long > 0 {
        let what = match opts.long_sentences {
            LongSentences::Drop => "dropped",
            LongSentences::Truncate => "truncated",
        };
        notes.push(format!(
            "{name}: {what} {long} sentence(s) longer than data.max_len = {} words (first at \
             line {first_long}); raise data.max_len to keep them{}",
            opts.max_len,
            if opts.long_sentences == LongSentences::Drop {
                ", or set data.long_sentences = \"truncate\""
            } else {
                ""
            }
        ));
    }
    Ok(Lines { sentences, notes })
}

/// The contents of `path` as UTF-8; the error names the line of the first
/// bad byte and how to convert the file.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::bad_file(
            path,
            format!(
                "line {line}: byte 0x{:02x} is not UTF-8; convert the file (e.g. `iconv -f \
                 latin1 -t utf-8`)",
                bytes[at]
            ),
        )
    })
}

/// How many words of a split read as `<unk>`, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct UnkCount {
    /// Words in the split.
    words: usize,
    /// The token `<unk>` written in the text (the Penn Treebank's rare words).
    literal: usize,
    /// Words outside the vocabulary.
    outside: usize,
}

/// Sentences as ids `<s> … </s>`, with the count of words read as `<unk>`.
fn encode(vocab: &Arc<Vocab>, sentences: &[Vec<&str>]) -> (TokenSet, UnkCount) {
    let mut count = UnkCount::default();
    let sequences = sentences
        .iter()
        .map(|s| {
            let mut ids = Vec::with_capacity(s.len() + 2);
            ids.push(BOS);
            for w in s {
                let id = vocab.id(w);
                if *w == SPECIALS[UNK as usize] {
                    count.literal += 1;
                } else if id == UNK {
                    count.outside += 1;
                }
                ids.push(id);
            }
            count.words += s.len();
            ids.push(EOS);
            ids
        })
        .collect();
    let set = TokenSet {
        sequences,
        vocab: vocab.len(),
        pad: PAD,
        words: Some(vocab.clone()),
    };
    (set, count)
}

/// A text folder's three splits, encoded with the training split's
/// vocabulary, and the notes to show the user.
pub struct TextSplits {
    pub train: TokenSet,
    pub val: TokenSet,
    pub test: TokenSet,
    pub notes: Vec<String>,
}

/// Read `dir/{train,valid,test}.txt`.
pub fn load_folder(dir: &Path, opts: &TextOptions) -> Result<TextSplits> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory (data.spec = text:DIR wants a folder holding train.txt, \
             valid.txt and test.txt, one sentence per line)",
            dir.display()
        )));
    }
    let mut texts = Vec::new();
    for name in ["train.txt", "valid.txt", "test.txt"] {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Error::Usage(format!(
                "{}: missing; a text folder holds train.txt, valid.txt and test.txt (one \
                 sentence per line, tokens separated by spaces)",
                path.display()
            )));
        }
        let text = read_utf8(&path)?;
        texts.push((path, text));
    }
    let mut notes = Vec::new();
    let mut lines = Vec::new();
    for (path, text) in &texts {
        let l = split_lines(path, text, opts)?;
        if l.sentences.is_empty() {
            return Err(Error::bad_file(
                path,
                format!(
                    "no sentence left (the file is empty, or every sentence is longer than \
                     data.max_len = {})",
                    opts.max_len
                ),
            ));
        }
        notes.extend(l.notes);
        lines.push(l.sentences);
    }
    let vocab = Arc::new(Vocab::build(&lines[0], opts.max_vocab, opts.min_count));
    let mut sets = Vec::new();
    for ((path, _), sentences) in texts.iter().zip(&lines) {
        let (set, unk) = encode(&vocab, sentences);
        let share = |n: usize| 100.0 * n as f64 / unk.words.max(1) as f64;
        if unk.literal > 0 {
            notes.push(format!(
                "{}: {:.2}% of words are the token <unk> in the text itself; they are vaekit's \
                 unknown word (id {UNK}), not a word of the vocabulary",
                path.display(),
                share(unk.literal),
            ));
        }
        if unk.outside > 0 {
            notes.push(format!(
                "{}: {:.2}% of words are outside the vocabulary of {} and read as <unk>",
                path.display(),
                share(unk.outside),
                vocab.len()
            ));
        }
        sets.push(set);
    }
    let test = sets.pop().expect("three splits");
    let val = sets.pop().expect("three splits");
    let train = sets.pop().expect("three splits");
    Ok(TextSplits {
        train,
        val,
        test,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max_len: usize, long: LongSentences) -> TextOptions {
        TextOptions {
            max_vocab: 0,
            min_count: 1,
            max_len,
            long_sentences: long,
        }
    }

    fn folder(train: &[u8], valid: &[u8], test: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (n, b) in [
            ("train.txt", train),
            ("valid.txt", valid),
            ("test.txt", test),
        ] {
            std::fs::write(dir.path().join(n), b).unwrap();
        }
        dir
    }

    #[test]
    fn vocabulary_ranks_by_count_then_first_appearance_and_caps() {
        let s = vec![vec!["b", "a", "c", "a"], vec!["c", "d", "<unk>"]];
        let v = Vocab::build(&s, 0, 1);
        // a:2, c:2 (a first), b:1, d:1 (b first); <unk> is reserved.
        assert_eq!(v.words[4..], ["a", "c", "b", "d"]);
        assert_eq!(Vocab::build(&s, 2, 1).len(), 6);
        assert_eq!(Vocab::build(&s, 0, 2).words[4..], ["a", "c"]);
        assert_eq!(v.id("zzz"), UNK);
        assert_eq!(v.id("<unk>"), UNK);
        assert_eq!(v.word(v.id("c")), "c");
    }

    #[test]
    fn vocabulary_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vocab::from_words(["x".to_string(), "y".to_string()]);
        let p = dir.path().join("vocab.txt");
        v.write(&p).unwrap();
        assert_eq!(Vocab::read(&p).unwrap(), v);
        std::fs::write(&p, "x\ny\n").unwrap();
        assert!(
            Vocab::read(&p)
                .unwrap_err()
                .to_string()
                .contains("vocab.txt")
        );
    }

    #[test]
    fn sentences_are_wrapped_and_unknown_words_counted() {
        let d = folder(b"a b\nb c a\n", b"a\n", b"a z z\n");
        let s = load_folder(d.path(), &opts(10, LongSentences::Drop)).unwrap();
        let v = s.train.words.clone().unwrap();
        assert_eq!(s.train.sequences[0], vec![BOS, v.id("a"), v.id("b"), EOS]);
        assert_eq!(s.test.sequences[0], vec![BOS, v.id("a"), UNK, UNK, EOS]);
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("test.txt") && n.contains("66.67%")),
            "{:?}",
            s.notes
        );
        assert_eq!(s.train.predicted_tokens(), 3 + 4);
    }

    #[test]
    fn a_literal_unk_is_the_unknown_id_and_counted_apart() {
        let d = folder(b"a <unk> b\n<unk> a\n", b"a z\n", b"<unk>\n");
        let s = load_folder(d.path(), &opts(10, LongSentences::Drop)).unwrap();
        let v = s.train.words.clone().unwrap();
        // a, b: <unk> is not a word of the vocabulary.
        assert_eq!(v.len(), SPECIALS.len() + 2);
        assert_eq!(s.train.sequences[1], vec![BOS, UNK, v.id("a"), EOS]);
        let all = s.notes.join("\n");
        assert!(
            all.contains("train.txt: 40.00% of words are the token <unk>"),
            "{all}"
        );
        assert!(
            all.contains("valid.txt: 50.00% of words are outside the vocabulary"),
            "{all}"
        );
        assert!(!all.contains("valid.txt: 0"), "{all}");
    }

    /// Mikolov's Penn Treebank, as papers use it: 10,000 types (9,999 words
    /// with `<unk>`, plus the end of sentence) become vaekit's 4 reserved
    /// ids and 9,998 words; every valid and test word is in the vocabulary,
    /// and the three splits keep all their sentences.
    #[test]
    fn the_penn_treebank_reads_with_its_unk_as_the_unknown_word() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ptb");
        if !dir.join("train.txt").is_file() {
            return;
        }
        let s = load_folder(&dir, &opts(100, LongSentences::Drop)).unwrap();
        assert_eq!(
            (s.train.len(), s.val.len(), s.test.len()),
            (42068, 3370, 3761)
        );
        let v = s.train.words.clone().unwrap();
        assert_eq!(v.len(), SPECIALS.len() + 9998);
        // Counted by hand from the file: words, and <unk> among them.
        let text = std::fs::read_to_string(dir.join("train.txt")).unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        let literal = words.iter().filter(|w| **w == "<unk>").count();
        let ids: Vec<u32> = s
            .train
            .sequences
            .iter()
            .flat_map(|q| q[1..q.len() - 1].to_vec())
            .collect();
        assert_eq!(ids.len(), words.len());
        assert_eq!(ids.iter().filter(|&&i| i == UNK).count(), literal);
        assert!(
            !s.notes.iter().any(|n| n.contains("outside")),
            "{:?}",
            s.notes
        );
        // Predicted tokens: words + one </s> per sentence.
        assert_eq!(s.train.predicted_tokens(), words.len() + 42068);
    }

    #[test]
    fn empty_and_long_lines_are_counted_with_their_first_line() {
        let d = folder(b"a\n\n   \na b c d\nb\n", b"a\n", b"a\n");
        let s = load_folder(d.path(), &opts(3, LongSentences::Drop)).unwrap();
        assert_eq!(s.train.len(), 2);
        let all = s.notes.join("\n");
        assert!(
            all.contains("skipped 2 empty line(s) (first at line 2)"),
            "{all}"
        );
        assert!(
            all.contains("dropped 1 sentence(s)") && all.contains("line 4"),
            "{all}"
        );
        let s = load_folder(d.path(), &opts(3, LongSentences::Truncate)).unwrap();
        assert_eq!(s.train.len(), 3);
        assert_eq!(s.train.sequences[1].len(), 3 + 2);
    }

    #[test]
    fn bad_bytes_and_reserved_tokens_name_file_and_line() {
        let d = folder(b"a\nb \xff c\n", b"a\n", b"a\n");
        let e = load_folder(d.path(), &opts(9, LongSentences::Drop))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("train.txt") && e.contains("line 2") && e.contains("0xff"),
            "{e}"
        );
        let d = folder(b"a\n", b"a </s>\n", b"a\n");
        let e = load_folder(d.path(), &opts(9, LongSentences::Drop))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("valid.txt") && e.contains("line 1") && e.contains("</s>"),
            "{e}"
        );
        let d = folder(b"a\n", b"a\n", b"\n\n");
        let e = load_folder(d.path(), &opts(9, LongSentences::Drop))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("test.txt") && e.contains("no sentence"), "{e}");
    }
}
