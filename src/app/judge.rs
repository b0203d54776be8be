//! `vaekit judge`: human evaluation of a run's samples on a small local web
//! page. Automated sample metrics correlate imperfectly with what people
//! see, so a person is shown, trial by trial,
//!
//! - **2AFC pairs**: one real test image and one sample x ~ p(x|z), sides
//!   at random, "Which image is real?" — 50% correct means people cannot
//!   tell the two apart;
//! - **realism ratings**: one image, 1–5 "How realistic?"; a third of these
//!   show a *real* image as a control, so the samples' mean is read against
//!   what the same person gives real data;
//! - **diversity ratings**: a 4×4 grid of samples, 1–5 "How diverse?".
//!
//! Every answer is appended as one JSON line to `RUN/judge/answers.jsonl`
//! (one `write_all` of a whole line, then `sync_data`: a crash loses at
//! most the answer being written), and `vaekit judge RUN --summary` turns
//! the file into 2AFC accuracy with an exact (Clopper–Pearson) confidence
//! interval and binomial test, and mean ratings with standard errors
//! (`RUN/judge/summary.json`).
//!
//! The trials are a seeded sequence drawn before the page opens, recorded
//! with its settings in `RUN/judge/session.json`, so a restarted server
//! continues the same sequence where the answers file ends. The server is
//! a single-threaded HTTP/1.1 loop on 127.0.0.1 (std only: one person, a
//! handful of small requests a minute); it polls non-blocking sockets so
//! that a browser's idle pre-connection never blocks the page's requests.

use super::run::LoadedRun;
use crate::core::error::{Error, Result};
use crate::core::rng::{Purpose, stream};
use crate::data::DataKind;
use burn::tensor::Device;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The folder of a run that holds the judge's files.
pub const DIR: &str = "judge";
/// One line per answer, appended.
pub const ANSWERS: &str = "answers.jsonl";
/// The session's settings (seed, mode, trials, checkpoint), written at its start.
pub const SESSION: &str = "session.json";
/// What `--summary` writes.
pub const SUMMARY: &str = "summary.json";
/// Side of the diversity grid (GRID × GRID samples).
pub const GRID: usize = 4;
/// Default number of trials.
pub const DEFAULT_TRIALS: usize = 40;

use crate::core::rng::key::{JUDGE_BINARIZE, JUDGE_REAL_ORDER as REAL_ORDER, JUDGE_TRIALS};

// ---------------------------------------------------------------------------
// The trial sequence: a pure function of (seed, mode, n, size of the test set).

/// Which trials a session has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// 2AFC pairs and ratings: blocks of 8 trials, 4 pairs, 3 realism
    /// ratings (one of a real image) and 1 diversity grid.
    Both,
    /// Only 2AFC pairs, in blocks of 2 (one real image on each side).
    Pairs,
    /// Only ratings: blocks of 4, 3 realism (one real) and 1 diversity grid.
    Rate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Both => "both",
            Mode::Pairs => "pairs",
            Mode::Rate => "rate",
        }
    }

    /// One block's trials, before they are shuffled. Blocks keep the 2AFC
    /// sides balanced (half of each block's pairs have the real image on
    /// the left) and the kinds in fixed proportions however many trials
    /// are asked for.
    fn block(self) -> &'static [Slot] {
        use Slot::*;
        match self {
            Mode::Both => &[
                Pair, Pair, Pair, Pair, RateSample, RateSample, RateReal, Diversity,
            ],
            Mode::Pairs => &[Pair, Pair],
            Mode::Rate => &[RateSample, RateSample, RateReal, Diversity],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Pair,
    RateSample,
    RateReal,
    Diversity,
}

/// Left or right on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

/// What a realism trial shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shown {
    Real,
    Sample,
}

/// The kind of a trial, as the answers file names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "2afc")]
    TwoAfc,
    #[serde(rename = "realism")]
    Realism,
    #[serde(rename = "diversity")]
    Diversity,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TwoAfc => "2afc",
            Kind::Realism => "realism",
            Kind::Diversity => "diversity",
        }
    }
}

/// One trial. Real images are named by their index in the data's test
/// split, samples by their index among the session's draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trial {
    Pair {
        real: usize,
        sample: usize,
        real_side: Side,
    },
    Realism {
        shown: Shown,
        /// A test index when `shown` is real, a sample index otherwise.
        image: usize,
    },
    Diversity {
        samples: Vec<usize>,
    },
}

/// The id of real test image `i` in the answers file.
pub fn real_id(i: usize) -> String {
    format!("real-{i}")
}

/// The id of sample `k` in the answers file.
pub fn sample_id(k: usize) -> String {
    format!("sample-{k}")
}

impl Trial {
    pub fn kind(&self) -> Kind {
        match self {
            Trial::Pair { .. } => Kind::TwoAfc,
            Trial::Realism { .. } => Kind::Realism,
            Trial::Diversity { .. } => Kind::Diversity,
        }
    }

    /// The images' ids as the answers file records them: a pair's left and
    /// right image, a rating's image, a grid's samples in reading order.
    pub fn image_ids(&self) -> Vec<String> {
        match self {
            Trial::Pair {
                real,
                sample,
                real_side: Side::Left,
            } => vec![real_id(*real), sample_id(*sample)],
            Trial::Pair {
                real,
                sample,
                real_side: Side::Right,
            } => vec![sample_id(*sample), real_id(*real)],
            Trial::Realism {
                shown: Shown::Real,
                image,
            } => vec![real_id(*image)],
            Trial::Realism {
                shown: Shown::Sample,
                image,
            } => vec![sample_id(*image)],
            Trial::Diversity { samples } => samples.iter().map(|&k| sample_id(k)).collect(),
        }
    }
}

/// A session's trials and how many samples they use (samples `0..samples`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub trials: Vec<Trial>,
    pub samples: usize,
}

/// The first `n` trials of the sequence of `(seed, mode)`, with real images
/// from a test split of `n_real` images (`n_real > 0`).
///
/// Trial `i` does not depend on `n`: each block is drawn from its own
/// stream, real images are taken in one seeded order of the whole test
/// split (starting over when it is used up) and samples are numbered in
/// order of use. So the same seed always gives the same sequence, and a
/// restarted session meets the trials it has not answered yet.
pub fn plan(seed: u64, mode: Mode, n: usize, n_real: usize) -> Plan {
    assert!(n_real > 0, "plan: no real images to show");
    let mut order: Vec<usize> = (0..n_real).collect();
    order.shuffle(&mut stream(seed, Purpose::Eval, JUDGE_TRIALS, REAL_ORDER));
    let (mut reals, mut samples) = (0usize, 0usize);
    let mut next_real = || {
        let i = order[reals % n_real];
        reals += 1;
        i
    };
    let mut next_sample = || {
        samples += 1;
        samples - 1
    };
    let mut trials = Vec::with_capacity(n);
    let mut block = 0u64;
    while trials.len() < n {
        let mut rng = stream(seed, Purpose::Eval, JUDGE_TRIALS, block);
        block += 1;
        let mut slots = mode.block().to_vec();
        slots.shuffle(&mut rng);
        let pairs = slots.iter().filter(|s| matches!(s, Slot::Pair)).count();
        let mut sides: Vec<Side> = (0..pairs)
            .map(|j| {
                if j < pairs / 2 {
                    Side::Left
                } else {
                    Side::Right
                }
            })
            .collect();
        sides.shuffle(&mut rng);
        let mut sides = sides.into_iter();
        for slot in slots {
            if trials.len() == n {
                break;
            }
            trials.push(match slot {
                Slot::Pair => Trial::Pair {
                    real: next_real(),
                    sample: next_sample(),
                    real_side: sides.next().expect("one side per pair"),
                },
                Slot::RateSample => Trial::Realism {
                    shown: Shown::Sample,
                    image: next_sample(),
                },
                Slot::RateReal => Trial::Realism {
                    shown: Shown::Real,
                    image: next_real(),
                },
                Slot::Diversity => Trial::Diversity {
                    samples: (0..GRID * GRID).map(|_| next_sample()).collect(),
                },
            });
        }
    }
    Plan { trials, samples }
}

// ---------------------------------------------------------------------------
// Answers: one JSON line each.

/// One line of `answers.jsonl`. Fields that do not apply to the trial's
/// kind are left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// When the answer arrived, RFC 3339 with milliseconds, local time.
    pub time: String,
    /// The trial's index in the session (0-based).
    pub trial: usize,
    pub kind: Kind,
    /// 2AFC: where the real image was, what was chosen, whether rightly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_side: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Realism: whether the image was a real control or a sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<Shown>,
    /// Ratings: 1 (not at all) to 5 (completely).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// The images shown (`real-<test index>`, `sample-<k>`): a pair left
    /// then right, a grid in reading order.
    pub images: Vec<String>,
    /// From the images appearing on the page to the click, as the page measured it.
    pub response_ms: u64,
    /// The session's seed (which fixes its trials and its samples).
    pub seed: u64,
}

impl Answer {
    /// What makes a line inconsistent with its kind, if anything.
    fn problem(&self) -> Option<String> {
        let rating_ok = matches!(self.rating, Some(1..=5));
        match self.kind {
            Kind::TwoAfc => match (self.real_side, self.choice, self.correct) {
                (Some(r), Some(c), Some(ok)) if ok == (r == c) => None,
                (Some(_), Some(_), Some(_)) => {
                    Some("\"correct\" disagrees with \"choice\" and \"real_side\"".into())
                }
                _ => Some("a 2afc answer needs \"real_side\", \"choice\" and \"correct\"".into()),
            },
            Kind::Realism if self.shown.is_none() => {
                Some("a realism answer needs \"shown\" (\"real\" or \"sample\")".into())
            }
            Kind::Realism | Kind::Diversity if !rating_ok => Some(format!(
                "a {} answer needs a \"rating\" from 1 to 5",
                self.kind.as_str()
            )),
            _ => None,
        }
    }
}

/// Every answer in `path`, in order; a line that is not a well-formed
/// answer is an error naming the file and the line.
pub fn read_answers(path: &Path) -> Result<Vec<Answer>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_answers(&text, path)
}

/// [`read_answers`] on the file's text (blank lines are skipped).
pub fn parse_answers(text: &str, path: &Path) -> Result<Vec<Answer>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| {
            Error::bad_file(
                path,
                format!(
                    "line {}: {what}. Each line is one answer as `vaekit judge` writes it; \
                     fix or delete this line (a last line cut short when the judge was killed \
                     can be deleted) and run again",
                    i + 1
                ),
            )
        };
        let a: Answer =
            serde_json::from_str(line).map_err(|e| bad(format!("not an answer ({e})")))?;
        if let Some(p) = a.problem() {
            return Err(bad(p));
        }
        out.push(a);
    }
    Ok(out)
}

/// What the page posts for one trial.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub trial: usize,
    #[serde(default)]
    pub choice: Option<Side>,
    #[serde(default)]
    pub rating: Option<u8>,
    pub response_ms: f64,
}

/// Why a reply was refused: the HTTP status and a message for the page.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

fn refused(status: u16, message: impl Into<String>) -> Refused {
    Refused {
        status,
        message: message.into(),
    }
}

/// The answer `reply` makes to trial `trial`, or why it is not one
/// (`time` is the arrival time to record).
pub fn check_reply(
    trial: &Trial,
    reply: &Reply,
    seed: u64,
    time: String,
) -> std::result::Result<Answer, Refused> {
    if !reply.response_ms.is_finite() || reply.response_ms < 0.0 {
        return Err(refused(
            400,
            format!("response_ms {} is not a time in ms", reply.response_ms),
        ));
    }
    let mut a = Answer {
        time,
        trial: reply.trial,
        kind: trial.kind(),
        real_side: None,
        choice: None,
        correct: None,
        shown: None,
        rating: None,
        images: trial.image_ids(),
        response_ms: reply.response_ms.round() as u64,
        seed,
    };
    match (trial, reply.choice, reply.rating) {
        (Trial::Pair { real_side, .. }, Some(c), None) => {
            a.real_side = Some(*real_side);
            a.choice = Some(c);
            a.correct = Some(c == *real_side);
        }
        (Trial::Pair { .. }, _, _) => {
            return Err(refused(
                400,
                format!(
                    "trial {} is a pair: answer with \"choice\": \"left\" or \"right\" and no rating",
                    reply.trial
                ),
            ));
        }
        (_, None, Some(r @ 1..=5)) => {
            a.rating = Some(r);
            if let Trial::Realism { shown, .. } = trial {
                a.shown = Some(*shown);
            }
        }
        _ => {
            return Err(refused(
                400,
                format!(
                    "trial {} is a rating: answer with \"rating\" 1 to 5 and no choice",
                    reply.trial
                ),
            ));
        }
    }
    Ok(a)
}

/// Check the answers already in the file against the session's trials: a
/// restart must continue the sequence the answers came from.
fn check_against_plan(answers: &[Answer], plan: &Plan, seed: u64, path: &Path) -> Result<()> {
    if answers.len() > plan.trials.len() {
        return Err(Error::bad_file(
            path,
            format!(
                "{} answers for a session of {} trials; move {} aside to start a new session",
                answers.len(),
                plan.trials.len(),
                path.display()
            ),
        ));
    }
    for (i, (a, t)) in answers.iter().zip(&plan.trials).enumerate() {
        let why = if a.trial != i {
            Some(format!("answers trial {}, expected trial {i}", a.trial))
        } else if a.seed != seed {
            Some(format!("has seed {}, the session seed {seed}", a.seed))
        } else if a.kind != t.kind() || a.images != t.image_ids() {
            Some(format!(
                "a {} trial with images {:?}, but the session's trial {i} is a {} trial with {:?}",
                a.kind.as_str(),
                a.images,
                t.kind().as_str(),
                t.image_ids()
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::bad_file(
                path,
                format!(
                    "line {}: {why}. The answers come from another session (other --seed, \
                     --mode or --trials?); move {} aside to start a new one",
                    i + 1,
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Summary.

/// 2AFC accuracy with its exact interval and test.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TwoAfcSummary {
    pub n: usize,
    pub correct: usize,
    /// correct / n (None without 2AFC answers).
    pub accuracy: Option<f64>,
    /// The 95% Clopper–Pearson interval of the accuracy.
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
    pub ci_method: &'static str,
    /// Two-sided exact binomial test of accuracy = 0.5 (chance: people
    /// cannot tell samples from real images).
    pub p_value_vs_chance: Option<f64>,
}

/// Mean of 1–5 ratings.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RatingSummary {
    pub n: usize,
    pub mean: Option<f64>,
    /// Standard error of the mean, s/√n with the sample standard deviation
    /// (None for fewer than two ratings).
    pub se: Option<f64>,
}

impl RatingSummary {
    fn of(r: &[f64]) -> Self {
        let n = r.len();
        let mean = (n > 0).then(|| r.iter().sum::<f64>() / n as f64);
        let se = mean.filter(|_| n > 1).map(|m| {
            let var = r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            (var / n as f64).sqrt()
        });
        RatingSummary { n, mean, se }
    }

    fn text(&self) -> String {
        match (self.mean, self.se) {
            (Some(m), Some(se)) => format!("{m:.2} ± {se:.2} (n = {})", self.n),
            (Some(m), None) => format!("{m:.2} (n = {})", self.n),
            _ => "no answers".into(),
        }
    }
}

/// What `vaekit judge --summary` reports and writes to `summary.json`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub answers_file: String,
    pub n_answers: usize,
    /// The seeds of the sessions the answers came from.
    pub seeds: Vec<u64>,
    pub two_afc: TwoAfcSummary,
    /// Realism ratings of samples, and of the real images shown as controls.
    pub realism_samples: RatingSummary,
    pub realism_real: RatingSummary,
    pub diversity: RatingSummary,
    pub median_response_ms: Option<f64>,
}

/// The summary of `answers` (read from `file`).
pub fn summarize(answers: &[Answer], file: &Path) -> Summary {
    let pairs: Vec<&Answer> = answers.iter().filter(|a| a.kind == Kind::TwoAfc).collect();
    let n = pairs.len();
    let correct = pairs.iter().filter(|a| a.correct == Some(true)).count();
    let ci = (n > 0).then(|| clopper_pearson(correct as u64, n as u64, 0.05));
    let ratings = |keep: &dyn Fn(&Answer) -> bool| -> Vec<f64> {
        answers
            .iter()
            .filter(|a| keep(a))
            .filter_map(|a| a.rating.map(f64::from))
            .collect()
    };
    let mut seeds: Vec<u64> = answers.iter().map(|a| a.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut times: Vec<u64> = answers.iter().map(|a| a.response_ms).collect();
    times.sort_unstable();
    let median = (!times.is_empty()).then(|| {
        let m = times.len() / 2;
        if times.len() % 2 == 1 {
            times[m] as f64
        } else {
            (times[m - 1] + times[m]) as f64 / 2.0
        }
    });
    Summary {
        answers_file: file.display().to_string(),
        n_answers: answers.len(),
        seeds,
        two_afc: TwoAfcSummary {
            n,
            correct,
            accuracy: (n > 0).then(|| correct as f64 / n as f64),
            ci95_low: ci.map(|c| c.0),
            ci95_high: ci.map(|c| c.1),
            ci_method: "Clopper-Pearson (exact)",
            p_value_vs_chance: (n > 0).then(|| binomial_test_half(correct as u64, n as u64)),
        },
        realism_samples: RatingSummary::of(&ratings(&|a: &Answer| {
            a.kind == Kind::Realism && a.shown == Some(Shown::Sample)
        })),
        realism_real: RatingSummary::of(&ratings(&|a: &Answer| {
            a.kind == Kind::Realism && a.shown == Some(Shown::Real)
        })),
        diversity: RatingSummary::of(&ratings(&|a: &Answer| a.kind == Kind::Diversity)),
        median_response_ms: median,
    }
}

impl Summary {
    /// The summary as a few readable lines.
    pub fn text(&self) -> String {
        let t = &self.two_afc;
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let mut s = format!(
            "answers   {} ({} answers, seed {})\n",
            self.answers_file,
            self.n_answers,
            seeds.join(", ")
        );
        match (t.accuracy, t.ci95_low, t.ci95_high, t.p_value_vs_chance) {
            (Some(acc), Some(lo), Some(hi), Some(p)) => s.push_str(&format!(
                "2AFC      {} of {} correct: accuracy {:.1}%, 95% CI {:.1}–{:.1}% (Clopper–Pearson), \
                 p = {:.3} against 50% (exact binomial, two-sided)\n          \
                 50%: people could not tell samples from real images; 100%: they always could\n",
                t.correct,
                t.n,
                100.0 * acc,
                100.0 * lo,
                100.0 * hi,
                p
            )),
            _ => s.push_str("2AFC      no answers\n"),
        }
        s.push_str(&format!(
            "realism   samples {}; real images (control) {}   [1–5, mean ± s.e.]\n",
            self.realism_samples.text(),
            self.realism_real.text()
        ));
        s.push_str(&format!("diversity {}\n", self.diversity.text()));
        if let Some(m) = self.median_response_ms {
            s.push_str(&format!(
                "time      median {:.1} s per answer\n",
                m / 1000.0
            ));
        }
        s
    }
}

/// `vaekit judge RUN --summary`: read the answers, write `summary.json`.
pub fn summary(run: &Path) -> Result<Summary> {
    let path = run.join(DIR).join(ANSWERS);
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{}: no answers yet; `vaekit judge {}` opens the page that records them",
            path.display(),
            run.display()
        )));
    }
    let answers = read_answers(&path)?;
    if answers.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no answers yet; answer some trials on the page of `vaekit judge {}` first",
            path.display(),
            run.display()
        )));
    }
    let s = summarize(&answers, &path);
    let json = serde_json::to_string_pretty(&s).expect("a summary serializes");
    crate::core::fsutil::write_atomic(&run.join(DIR).join(SUMMARY), json.as_bytes())?;
    Ok(s)
}

// ---------------------------------------------------------------------------
// Binomial statistics (exact, in log space: fine to a few thousand trials).

/// ln i! for i in 0..=n.
fn ln_factorials(n: u64) -> Vec<f64> {
    let mut f = Vec::with_capacity(n as usize + 1);
    let mut acc = 0.0f64;
    f.push(acc);
    for i in 1..=n {
        acc += (i as f64).ln();
        f.push(acc);
    }
    f
}

/// ln P(X = i) for X ~ Binomial(n, p).
fn ln_pmf(lf: &[f64], n: u64, i: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return if i == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if p >= 1.0 {
        return if i == n { 0.0 } else { f64::NEG_INFINITY };
    }
    let (n_, i_) = (n as usize, i as usize);
    lf[n_] - lf[i_] - lf[n_ - i_] + i as f64 * p.ln() + (n - i) as f64 * (-p).ln_1p()
}

/// P(lo ≤ X ≤ hi) for X ~ Binomial(n, p), summed in log space.
fn binomial_mass(lf: &[f64], n: u64, lo: u64, hi: u64, p: f64) -> f64 {
    let terms: Vec<f64> = (lo..=hi).map(|i| ln_pmf(lf, n, i, p)).collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return 0.0;
    }
    (m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln())
        .exp()
        .min(1.0)
}

/// P(X ≥ k) for X ~ Binomial(n, p).
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    binomial_mass(&ln_factorials(n), n, k, n, p)
}

/// P(X ≤ k) for X ~ Binomial(n, p).
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    binomial_mass(&ln_factorials(n), n, 0, k, p)
}

/// The root in [0, 1] of a monotone `f` (increasing if `increasing`) at
/// `target`, by bisection to the resolution of f64.
fn bisect(f: impl Fn(f64) -> f64, target: f64, increasing: bool) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if (f(mid) < target) == increasing {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The exact (Clopper–Pearson 1934) `1 − alpha` confidence interval of a
/// binomial proportion with `k` successes in `n > 0` trials: the lower bound
/// L solves P(X ≥ k | L) = alpha/2 (0 when k = 0), the upper U solves
/// P(X ≤ k | U) = alpha/2 (1 when k = n). Found by bisection on the
/// binomial tails, which are monotone in p.
pub fn clopper_pearson(k: u64, n: u64, alpha: f64) -> (f64, f64) {
    assert!(n > 0 && k <= n, "clopper_pearson: {k} of {n}");
    let lf = ln_factorials(n);
    let lower = if k == 0 {
        0.0
    } else {
        bisect(|p| binomial_mass(&lf, n, k, n, p), alpha / 2.0, true)
    };
    let upper = if k == n {
        1.0
    } else {
        bisect(|p| binomial_mass(&lf, n, 0, k, p), alpha / 2.0, false)
    };
    (lower, upper)
}

/// The two-sided exact binomial test of p = 1/2 for `k` successes in `n`:
/// the probability, under p = 1/2, of an outcome no more likely than `k`
/// (SciPy's `binomtest` convention, with its relative tolerance 1e-7).
pub fn binomial_test_half(k: u64, n: u64) -> f64 {
    let lf = ln_factorials(n);
    let at_k = ln_pmf(&lf, n, k, 0.5) + 1e-7f64.ln_1p();
    let terms: Vec<f64> = (0..=n)
        .map(|i| ln_pmf(&lf, n, i, 0.5))
        .filter(|&t| t <= at_k)
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln())
        .exp()
        .min(1.0)
}

// ---------------------------------------------------------------------------
// Images.

/// The pixels the page shows: the session's samples and the real test
/// images its trials use, all `[channels, rows, cols]` in [0, 1].
pub struct Pool {
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    /// Sample k at `k * dim`.
    pub samples: Vec<f32>,
    /// Real test images by their index in the test split.
    pub real: HashMap<usize, Vec<f32>>,
}

/// About 168 screen pixels for a single image's longer side.
const SINGLE_PX: usize = 168;
/// About 84 screen pixels for one cell of the diversity grid.
const CELL_PX: usize = 84;

impl Pool {
    fn dim(&self) -> usize {
        self.rows * self.cols * self.channels
    }

    fn sample(&self, k: usize) -> &[f32] {
        let d = self.dim();
        &self.samples[k * d..(k + 1) * d]
    }

    /// Nearest-neighbour scale for an image to be about `px` wide.
    fn scale(&self, px: usize) -> usize {
        ((px as f64 / self.rows.max(self.cols) as f64).round() as usize).max(1)
    }

    /// Paint `pixels` at (x0, y0) of `img`, `s` screen pixels per image pixel.
    fn paint(&self, img: &mut image::RgbImage, pixels: &[f32], x0: usize, y0: usize, s: usize) {
        let plane = self.rows * self.cols;
        for r in 0..self.rows {
            for c in 0..self.cols {
                let v = |ch: usize| {
                    let ch = ch.min(self.channels - 1);
                    (pixels[ch * plane + r * self.cols + c].clamp(0.0, 1.0) * 255.0).round() as u8
                };
                let rgb = image::Rgb([v(0), v(1), v(2)]);
                for dy in 0..s {
                    for dx in 0..s {
                        img.put_pixel((x0 + c * s + dx) as u32, (y0 + r * s + dy) as u32, rgb);
                    }
                }
            }
        }
    }

    /// One image, upscaled.
    fn single(&self, pixels: &[f32]) -> image::RgbImage {
        let s = self.scale(SINGLE_PX);
        let mut img = image::RgbImage::new((self.cols * s) as u32, (self.rows * s) as u32);
        self.paint(&mut img, pixels, 0, 0, s);
        img
    }

    /// Samples in a GRID × GRID grid, apart on mid-grey (which shows
    /// against dark and light backgrounds alike).
    fn grid(&self, samples: &[usize]) -> image::RgbImage {
        let s = self.scale(CELL_PX);
        let gap = 2 * s;
        let (w, h) = (
            GRID * (self.cols * s + gap) + gap,
            GRID * (self.rows * s + gap) + gap,
        );
        let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([128; 3]));
        for (j, &k) in samples.iter().enumerate() {
            let (gr, gc) = (j / GRID, j % GRID);
            let x0 = gap + gc * (self.cols * s + gap);
            let y0 = gap + gr * (self.rows * s + gap);
            self.paint(&mut img, self.sample(k), x0, y0, s);
        }
        img
    }

    /// Image `slot` of `trial` (a pair's left or right, a rating's image,
    /// a grid), as PNG bytes.
    pub fn png(&self, trial: &Trial, slot: usize) -> Option<Vec<u8>> {
        let real = |i: &usize| self.real.get(i).map(|v| self.single(v));
        let img = match (trial, slot) {
            (
                Trial::Pair {
                    real: r,
                    sample,
                    real_side,
                },
                0 | 1,
            ) => {
                let real_slot = if *real_side == Side::Left { 0 } else { 1 };
                if slot == real_slot {
                    real(r)?
                } else {
                    self.single(self.sample(*sample))
                }
            }
            (
                Trial::Realism {
                    shown: Shown::Real,
                    image,
                },
                0,
            ) => real(image)?,
            (
                Trial::Realism {
                    shown: Shown::Sample,
                    image,
                },
                0,
            ) => self.single(self.sample(*image)),
            (Trial::Diversity { samples }, 0) => self.grid(samples),
            _ => return None,
        };
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .ok()?;
        Some(bytes)
    }
}

/// The session's images from a loaded run: `plan.samples` samples x ~
/// p(x|z) drawn with `seed` as `vaekit sample` draws them, and the real
/// test images the plan uses, binarized when the model binarizes (each
/// pixel 1 with its grey level as probability, seeded per image) so that
/// real images and samples look alike.
fn pool(
    loaded: &LoadedRun,
    test: &crate::data::ImageSet,
    plan: &Plan,
    seed: u64,
    device: &Device,
) -> Pool {
    let (rows, cols, channels) = (test.rows, test.cols, test.channels);
    let (drawn, _) = super::sample::draw_from(
        &loaded.model,
        (rows, cols, channels),
        plan.samples.max(1),
        false,
        seed,
        device,
    );
    let binarize = loaded.config.model.binarizes();
    let mut reals = HashMap::new();
    for t in &plan.trials {
        let i = match t {
            Trial::Pair { real, .. }
            | Trial::Realism {
                shown: Shown::Real,
                image: real,
            } => *real,
            _ => continue,
        };
        reals.entry(i).or_insert_with(|| {
            let px = test.image(i);
            if binarize {
                let mut rng = stream(seed, Purpose::Binarize, JUDGE_BINARIZE, i as u64);
                px.iter()
                    .map(|&v| (rng.random::<f32>() < v) as u8 as f32)
                    .collect()
            } else {
                px.to_vec()
            }
        });
    }
    Pool {
        rows,
        cols,
        channels,
        samples: drawn.pixels,
        real: reals,
    }
}

// ---------------------------------------------------------------------------
// The session: settings, answers file, state.

/// The settings of a session, kept in `session.json` so a restart
/// continues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub seed: u64,
    pub mode: Mode,
    pub trials: usize,
    /// The checkpoint the samples were drawn from.
    pub checkpoint: String,
}

/// What `vaekit judge RUN` was asked (None: the session's, or the default).
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// 0: any free port.
    pub port: u16,
    pub trials: Option<usize>,
    pub mode: Option<Mode>,
    pub seed: Option<u64>,
}

/// The session's settings: those of `session.json` when answers exist
/// (flags that contradict them are an error: the answers would mix two
/// sequences), else the flags' or the defaults.
fn resolve_session(dir: &Path, opts: &ServeOptions, checkpoint: &Path) -> Result<Session> {
    let answers = dir.join(ANSWERS);
    let has_answers = std::fs::metadata(&answers)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    let session_path = dir.join(SESSION);
    let wanted = Session {
        seed: opts.seed.unwrap_or(0),
        mode: opts.mode.unwrap_or(Mode::Both),
        trials: opts.trials.unwrap_or(DEFAULT_TRIALS),
        checkpoint: checkpoint.display().to_string(),
    };
    if !has_answers || !session_path.is_file() {
        return Ok(wanted);
    }
    let bytes = crate::core::fsutil::read(&session_path)?;
    let old: Session = serde_json::from_slice(&bytes).map_err(|e| {
        Error::bad_file(
            &session_path,
            format!("not a judge session ({e}); delete it to start the session from the flags"),
        )
    })?;
    let mut clash = Vec::new();
    if opts.seed.is_some_and(|s| s != old.seed) {
        clash.push(format!("--seed {}", old.seed));
    }
    if opts.mode.is_some_and(|m| m != old.mode) {
        clash.push(format!("--mode {}", old.mode.as_str()));
    }
    if opts.trials.is_some_and(|t| t != old.trials) {
        clash.push(format!("--trials {}", old.trials));
    }
    if !clash.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds answers of a session with {}; run `vaekit judge` with those flags (or \
             without them) to continue it, or move {} aside to start a new session",
            answers.display(),
            clash.join(" "),
            dir.display()
        )));
    }
    if old.checkpoint != wanted.checkpoint {
        return Err(Error::Usage(format!(
            "{} holds answers about samples of {}, but the run's newest checkpoint is now {}; \
             move {} aside to judge the new checkpoint in a new session",
            answers.display(),
            old.checkpoint,
            wanted.checkpoint,
            dir.display()
        )));
    }
    Ok(old)
}

/// A running session: its trials and images, and the answers file.
pub struct Judge {
    pub plan: Plan,
    pub pool: Pool,
    pub seed: u64,
    answers_path: PathBuf,
    file: Option<std::fs::File>,
    /// The existing file does not end with a newline (a line cut short by
    /// a crash after its JSON was complete): start the next line on a new one.
    needs_newline: bool,
    /// The next trial to answer.
    pub next: usize,
    page: String,
    /// `127.0.0.1:PORT` and `localhost:PORT`: the Host headers accepted
    /// (another site's page cannot post answers through the browser).
    hosts: Vec<String>,
}

impl Judge {
    /// A session over `plan` and `pool`, continuing the answers in
    /// `answers_path` (checked against the plan). `note` is shown on the page.
    pub fn new(
        plan: Plan,
        pool: Pool,
        seed: u64,
        answers_path: PathBuf,
        title: &str,
        note: &str,
    ) -> Result<Self> {
        let (answers, needs_newline) = if answers_path.is_file() {
            let text =
                std::fs::read_to_string(&answers_path).map_err(|e| Error::io(&answers_path, e))?;
            (
                parse_answers(&text, &answers_path)?,
                !text.is_empty() && !text.ends_with('\n'),
            )
        } else {
            (Vec::new(), false)
        };
        check_against_plan(&answers, &plan, seed, &answers_path)?;
        let page = PAGE
            .replace("{{TITLE}}", &html_escape(title))
            .replace("{{NOTE}}", &html_escape(note));
        Ok(Judge {
            next: answers.len(),
            plan,
            pool,
            seed,
            answers_path,
            file: None,
            needs_newline,
            page,
            hosts: Vec::new(),
        })
    }

    /// Accept requests addressed to this port only.
    pub fn set_port(&mut self, port: u16) {
        self.hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    }

    /// Append one answer as one line: a single `write_all` of the whole
    /// line, then `sync_data`, so a crash leaves every earlier line intact.
    fn append(&mut self, a: &Answer) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.answers_path)?,
            );
        }
        let mut line = serde_json::to_string(a).map_err(std::io::Error::other)?;
        line.push('\n');
        if self.needs_newline {
            line.insert(0, '\n');
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(line.as_bytes())?;
        f.sync_data()?;
        self.needs_newline = false;
        Ok(())
    }

    /// Record a reply: `Ok(true)` when it was appended, `Ok(false)` for a
    /// repeat of an answered trial (a double click, a re-sent request:
    /// nothing is added).
    pub fn answer(&mut self, reply: &Reply) -> std::result::Result<bool, Refused> {
        let n = self.plan.trials.len();
        if reply.trial < self.next {
            return Ok(false);
        }
        if self.next >= n {
            return Err(refused(409, format!("all {n} trials are answered")));
        }
        if reply.trial != self.next {
            return Err(refused(
                409,
                format!(
                    "trial {} answered before trial {}; reload the page",
                    reply.trial, self.next
                ),
            ));
        }
        let time = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        let a = check_reply(&self.plan.trials[self.next], reply, self.seed, time)?;
        self.append(&a).map_err(|e| {
            refused(
                500,
                format!("could not write {}: {e}", self.answers_path.display()),
            )
        })?;
        self.next += 1;
        Ok(true)
    }

    /// The next trial as the page reads it.
    fn trial_json(&self) -> serde_json::Value {
        let n = self.plan.trials.len();
        let Some(t) = self.plan.trials.get(self.next) else {
            return json!({"done": true, "of": n, "answered": self.next});
        };
        let slots = if t.kind() == Kind::TwoAfc { 2 } else { 1 };
        let images: Vec<String> = (0..slots)
            .map(|s| format!("/img/{}-{s}.png", self.next))
            .collect();
        let (prompt, low, high) = match t.kind() {
            Kind::TwoAfc => ("Which image is real?", "", ""),
            Kind::Realism => (
                "How realistic is this image?",
                "1 = clearly not a real image",
                "5 = looks completely real",
            ),
            Kind::Diversity => (
                "How diverse are these 16 images?",
                "1 = all alike",
                "5 = as varied as real images",
            ),
        };
        json!({
            "done": false,
            "trial": self.next,
            "of": n,
            "kind": t.kind().as_str(),
            "prompt": prompt,
            "images": images,
            "low": low,
            "high": high,
        })
    }

    /// The response to one request.
    pub fn handle(&mut self, req: &Request) -> Response {
        if let Some(h) = &req.host
            && !self.hosts.is_empty()
            && !self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h))
        {
            return Response::error(403, &format!("Host {h} is not this judge's address"));
        }
        let path = req.path.split('?').next().unwrap_or("");
        match (req.method.as_str(), path) {
            ("GET", "/" | "/index.html") => Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: self.page.clone().into_bytes(),
                cache: false,
            },
            ("GET", "/trial") => Response::json(200, &self.trial_json()),
            ("POST", "/answer") => match serde_json::from_slice::<Reply>(&req.body) {
                Err(e) => Response::error(400, &format!("not an answer: {e}")),
                Ok(reply) => match self.answer(&reply) {
                    Ok(added) => Response::json(
                        200,
                        &json!({"ok": true, "recorded": added, "next": self.next}),
                    ),
                    Err(r) => Response::error(r.status, &r.message),
                },
            },
            ("GET", "/favicon.ico") => Response {
                status: 204,
                content_type: "text/plain",
                body: Vec::new(),
                cache: true,
            },
            ("GET", p) if p.starts_with("/img/") => {
                let png = p
                    .strip_prefix("/img/")
                    .and_then(|s| s.strip_suffix(".png"))
                    .and_then(|s| s.split_once('-'))
                    .and_then(|(t, s)| Some((t.parse::<usize>().ok()?, s.parse::<usize>().ok()?)))
                    .and_then(|(t, s)| self.pool.png(self.plan.trials.get(t)?, s));
                match png {
                    Some(body) => Response {
                        status: 200,
                        content_type: "image/png",
                        body,
                        cache: true,
                    },
                    None => Response::error(404, &format!("no image {p}")),
                }
            }
            (_, "/" | "/index.html" | "/trial" | "/answer") => {
                Response::error(405, &format!("{} {path}: method not allowed", req.method))
            }
            _ => Response::error(404, &format!("no page {path}")),
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `vaekit judge RUN`: load the run, draw the session's images, and serve
/// the page until the process is stopped. `ready` receives the page's URL
/// once the server listens; `say` the progress messages.
pub fn serve(
    run: &Path,
    opts: &ServeOptions,
    device: &Device,
    ready: &mut dyn FnMut(&str),
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let dir = run.join(DIR);
    // The session's settings first: a clash with earlier answers is
    // reported before any work.
    let ckpt = crate::train::checkpoint::latest(run)?;
    let session = resolve_session(&dir, opts, &ckpt)?;
    if session.trials == 0 {
        return Err(Error::Usage(
            "--trials 0: a session needs at least one trial".into(),
        ));
    }
    // The port next, so that a busy one is reported before the slow part.
    let listener = TcpListener::bind(("127.0.0.1", opts.port)).map_err(|e| {
        Error::Usage(format!(
            "--port {}: cannot listen on 127.0.0.1:{} ({e}); choose another port, or --port 0 \
             for any free one",
            opts.port, opts.port
        ))
    })?;
    let loaded = super::run::open(run, device)?;
    let DataKind::Images {
        rows,
        cols,
        channels,
    } = loaded.data
    else {
        return Err(Error::Usage(format!(
            "{}: `vaekit judge` shows images; this model was trained on {} \
             (text runs: `vaekit sample` writes sentences to read)",
            run.display(),
            loaded.data.describe()
        )));
    };
    // The real images: the data's test split, loaded as the sample
    // metrics load their reference (seed 0, no limit).
    let mut cfg = loaded.config.data.clone();
    cfg.limit = 0;
    say(&format!("loading the test split of {}", cfg.spec));
    let splits = crate::data::load(&cfg, 0)?;
    let Some(test) = splits.test.images() else {
        return Err(Error::Usage(format!(
            "{}: `vaekit judge` compares images; this data is {}",
            cfg.spec,
            splits.test.kind().describe()
        )));
    };
    if (test.rows, test.cols, test.channels) != (rows, cols, channels) || test.n == 0 {
        return Err(Error::Usage(format!(
            "{}: its test images are {} ({} of them) but the model draws {}; the run's data \
             has changed since it was trained",
            cfg.spec,
            test.shape_text(),
            test.n,
            loaded.data.describe()
        )));
    }
    let plan = plan(session.seed, session.mode, session.trials, test.n);
    say(&format!(
        "drawing {} samples x ~ p(x|z) (seed {}) for {} trials ({})",
        plan.samples,
        session.seed,
        session.trials,
        session.mode.as_str()
    ));
    let pool = pool(&loaded, test, &plan, session.seed, device);
    let binarized = loaded.config.model.binarizes();
    let mut note = format!(
        "Samples are drawn from the model, x ~ p(x|z) with z ~ p(z); real images come from \
         the test split of {}.",
        cfg.spec
    );
    if binarized {
        note.push_str(
            " The model draws black-and-white pixels, so the real images are binarized the \
             same way (each pixel white with its grey level as the probability) to look alike.",
        );
    }
    crate::core::fsutil::create_dir_all(&dir)?;
    crate::core::fsutil::write_atomic(
        &dir.join(SESSION),
        serde_json::to_string_pretty(&session)
            .expect("a session serializes")
            .as_bytes(),
    )?;
    let title = run
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| run.display().to_string());
    let mut judge = Judge::new(plan, pool, session.seed, dir.join(ANSWERS), &title, &note)?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io(&dir, e))?
        .port();
    judge.set_port(port);
    if judge.next > 0 {
        say(&format!(
            "continuing: {} of {} trials already answered in {}",
            judge.next,
            judge.plan.trials.len(),
            dir.join(ANSWERS).display()
        ));
    }
    ready(&format!("http://127.0.0.1:{port}/"));
    say(&format!(
        "answers go to {}, one line each; stop with Ctrl-C (nothing is lost), \
         `vaekit judge {} --summary` reports them",
        dir.join(ANSWERS).display(),
        run.display()
    ));
    serve_forever(listener, &mut judge, say)
}

// ---------------------------------------------------------------------------
// HTTP/1.1, the little the page needs.

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub host: Option<String>,
    pub body: Vec<u8>,
}

/// One response; every connection is closed after it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Whether the browser may keep it (images); the page and /trial change.
    pub cache: bool,
}

impl Response {
    fn json(status: u16, v: &serde_json::Value) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
            cache: false,
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Response::json(status, &json!({ "error": message }))
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            204 => "No Content",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Payload Too Large",
            _ => "Internal Server Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: {}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if self.cache {
                "max-age=3600"
            } else {
                "no-store"
            }
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Largest request head and body accepted (the page's are far smaller).
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// The request at the start of `buf`: None while it is incomplete,
/// `Some(Err(status))` when it is malformed or too large.
pub fn parse_request(buf: &[u8]) -> Option<std::result::Result<Request, u16>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (buf.len() > MAX_HEAD).then_some(Err(413));
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Some(Err(400));
    };
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(path)) = (first.next(), first.next()) else {
        return Some(Err(400));
    };
    let (mut len, mut host) = (0usize, None);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            match v.parse() {
                Ok(n) if n <= MAX_BODY => len = n,
                Ok(_) => return Some(Err(413)),
                Err(_) => return Some(Err(400)),
            }
        } else if k.eq_ignore_ascii_case("host") {
            host = Some(v.to_string());
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            // Browsers send fetch() bodies with a length; chunked is not needed.
            return Some(Err(400));
        }
    }
    let body = buf.get(end + 4..end + 4 + len)?;
    Some(Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        host,
        body: body.to_vec(),
    }))
}

/// An open connection and what it has sent so far.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    opened: Instant,
}

/// A connection that has sent nothing complete in this long is dropped (a
/// browser's speculative pre-connection, a stalled client).
const IDLE: Duration = Duration::from_secs(30);

impl Conn {
    /// Read what has arrived; answer once the request is complete. Returns
    /// whether to keep the connection open.
    fn poll(&mut self, judge: &mut Judge) -> bool {
        let mut chunk = [0u8; 8192];
        let mut closed = false;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        let response = match parse_request(&self.buf) {
            None => return !closed && self.opened.elapsed() < IDLE,
            Some(Err(status)) => Response::error(status, "malformed request"),
            Some(Ok(req)) => judge.handle(&req),
        };
        // Small responses to a local client: write them whole, blocking,
        // with a timeout so a client that stops reading cannot stall the loop.
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_write_timeout(Some(Duration::from_secs(5)));
        let _ = self.stream.write_all(&response.bytes());
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        false
    }
}

/// The server loop: accept, read and answer, one request at a time, until
/// the process is stopped. With no connection open it waits in `accept`
/// (no CPU while the person thinks); with some open, sockets are
/// non-blocking and polled, so a connection that sends nothing (a
/// browser's speculative pre-connection) never holds up the others.
fn serve_forever(
    listener: TcpListener,
    judge: &mut Judge,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut conns: Vec<Conn> = Vec::new();
    let total = judge.plan.trials.len();
    let mut announced = judge.next >= total;
    let open = |stream: TcpStream, conns: &mut Vec<Conn>| {
        if stream.set_nonblocking(true).is_ok() {
            conns.push(Conn {
                stream,
                buf: Vec::new(),
                opened: Instant::now(),
            });
        }
    };
    loop {
        let idle = conns.is_empty();
        listener
            .set_nonblocking(!idle)
            .map_err(|e| Error::Usage(format!("cannot serve on 127.0.0.1: {e}")))?;
        let mut active = false;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    open(stream, &mut conns);
                    active = true;
                    if idle {
                        // Woken by a connection: take whatever else is
                        // waiting without blocking, then serve.
                        let _ = listener.set_nonblocking(true);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock: nothing more waiting. Anything else (a
                // connection reset before it was accepted, descriptors
                // short for a moment): try again on the next turn.
                Err(_) => break,
            }
        }
        let before = conns.len();
        let answered = judge.next;
        conns.retain_mut(|c| c.poll(judge));
        active |= conns.len() != before;
        if judge.next != answered && judge.next >= total && !announced {
            announced = true;
            say(&format!(
                "all {total} trials answered; stop with Ctrl-C and run `vaekit judge RUN --summary`"
            ));
        }
        if !active {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The page: plain HTML, CSS and JavaScript, nothing fetched from elsewhere.
/// Ids the browser test clicks: `#left`, `#right`, `#rate-1`..`#rate-5`;
/// it reads `#progress` ("trial i of N" once the trial's images are shown
/// and its buttons enabled), `#prompt` and `#done`.
const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vaekit judge — {{TITLE}}</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f3f3f0; color: #222; text-align: center; }
  header { background: #2b3a55; color: #fff; padding: 10px 16px; display: flex; justify-content: space-between; }
  #prompt { font-size: 24px; margin: 22px 0 14px; min-height: 30px; }
  #pair button { background: #fff; border: 4px solid #bbb; border-radius: 6px; padding: 8px; margin: 0 18px; cursor: pointer; }
  #pair button:hover:enabled { border-color: #2b6cb0; }
  #pair { display: flex; justify-content: center; }
  img { display: block; image-rendering: pixelated; image-rendering: crisp-edges; }
  #single img { margin: 0 auto; border: 4px solid #bbb; border-radius: 6px; background: #fff; padding: 8px; }
  #rates { margin-top: 18px; }
  #rates button { font-size: 20px; width: 64px; height: 52px; margin: 0 5px; border-radius: 6px; border: 2px solid #888; background: #fff; cursor: pointer; }
  #rates button:hover:enabled { background: #dbe7f7; }
  #scale { display: flex; justify-content: space-between; width: 380px; margin: 6px auto 0; font-size: 13px; color: #555; }
  button:disabled { opacity: 0.45; cursor: default; }
  #done { font-size: 24px; margin-top: 70px; }
  #error { color: #b00020; min-height: 20px; }
  #note, #keys { font-size: 13px; color: #555; max-width: 660px; margin: 10px auto; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header><span>vaekit judge — {{TITLE}}</span><span id="progress">loading…</span></header>
<main>
  <div id="prompt"></div>
  <div id="pair" hidden>
    <button id="left" type="button" disabled><img id="left-img" alt="left image"></button>
    <button id="right" type="button" disabled><img id="right-img" alt="right image"></button>
  </div>
  <div id="single" hidden><img id="single-img" alt="image to rate"></div>
  <div id="rates" hidden>
    <button id="rate-1" type="button" disabled>1</button>
    <button id="rate-2" type="button" disabled>2</button>
    <button id="rate-3" type="button" disabled>3</button>
    <button id="rate-4" type="button" disabled>4</button>
    <button id="rate-5" type="button" disabled>5</button>
    <div id="scale"><span id="scale-low"></span><span id="scale-high"></span></div>
  </div>
  <div id="done" hidden></div>
  <p id="error"></p>
  <p id="note">{{NOTE}}</p>
  <p id="keys">Keys: ← or → picks a side; 1 to 5 gives a rating. Take your time; there is no feedback.</p>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let trial = null;   // the trial shown, as /trial sent it
let shownAt = 0;    // when its images appeared (performance.now())
let busy = false;   // an answer is on its way

function enable(on) {
  for (const b of document.querySelectorAll("#pair button, #rates button")) b.disabled = !on;
}

function loaded(img, src) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("could not load " + src));
    img.src = src;
  });
}

async function next() {
  enable(false);
  let t;
  try {
    const r = await fetch("/trial", { cache: "no-store" });
    t = await r.json();
  } catch (e) {
    $("error").textContent = "The judge does not answer (" + e.message + "): is `vaekit judge` still running? Reload once it is.";
    return;
  }
  trial = t;
  if (t.done) {
    for (const id of ["pair", "single", "rates"]) $(id).hidden = true;
    $("prompt").textContent = "";
    $("progress").textContent = "all " + t.of + " trials answered";
    $("done").textContent = "Done: all " + t.of + " trials are answered. Thank you! You can close this page.";
    $("done").hidden = false;
    return;
  }
  const pair = t.kind === "2afc";
  $("progress").textContent = "loading trial " + (t.trial + 1) + " of " + t.of;
  $("prompt").textContent = t.prompt;
  $("pair").hidden = !pair;
  $("single").hidden = pair;
  $("rates").hidden = pair;
  $("scale-low").textContent = t.low;
  $("scale-high").textContent = t.high;
  const imgs = pair ? [$("left-img"), $("right-img")] : [$("single-img")];
  try {
    await Promise.all(imgs.map((img, i) => loaded(img, t.images[i])));
  } catch (e) {
    $("error").textContent = e.message + "; reload the page.";
    return;
  }
  // Shown and answerable from now: the response time starts here.
  shownAt = performance.now();
  $("progress").textContent = "trial " + (t.trial + 1) + " of " + t.of;
  enable(true);
}

async function answer(extra) {
  if (!trial || trial.done || busy) return;
  busy = true;
  enable(false);
  const body = Object.assign({ trial: trial.trial, response_ms: Math.round(performance.now() - shownAt) }, extra);
  try {
    const r = await fetch("/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok) {
      const e = await r.json().catch(() => ({ error: r.statusText }));
      $("error").textContent = e.error;
    } else {
      $("error").textContent = "";
    }
  } catch (e) {
    $("error").textContent = "The answer was not sent (" + e.message + "); click again.";
    busy = false;
    enable(true);
    return;
  }
  busy = false;
  await next();
}

$("left").addEventListener("click", () => answer({ choice: "left" }));
$("right").addEventListener("click", () => answer({ choice: "right" }));
for (let k = 1; k <= 5; k++) $("rate-" + k).addEventListener("click", () => answer({ rating: k }));
document.addEventListener("keydown", (e) => {
  if (!trial || trial.done) return;
  if (trial.kind === "2afc") {
    if (e.key === "ArrowLeft") $("left").click();
    if (e.key === "ArrowRight") $("right").click();
  } else if (["1", "2", "3", "4", "5"].includes(e.key)) {
    $("rate-" + e.key).click();
  }
});
next();
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trial_sequence_is_a_function_of_the_seed_with_balanced_sides() {
        for mode in [Mode::Both, Mode::Pairs, Mode::Rate] {
            let a = plan(3, mode, 40, 100);
            assert_eq!(
                a,
                plan(3, mode, 40, 100),
                "{mode:?}: same seed, same trials"
            );
            assert_ne!(
                a,
                plan(4, mode, 40, 100),
                "{mode:?}: another seed, other trials"
            );
            assert_eq!(a.trials.len(), 40);
            // A longer session starts with the shorter one: a restart meets
            // the same trials whatever comes after.
            assert_eq!(plan(3, mode, 64, 100).trials[..40], a.trials[..]);
            // Samples are numbered in order of use, each used once.
            let mut used: Vec<usize> = a
                .trials
                .iter()
                .flat_map(|t| match t {
                    Trial::Pair { sample, .. } => vec![*sample],
                    Trial::Realism {
                        shown: Shown::Sample,
                        image,
                    } => vec![*image],
                    Trial::Diversity { samples } => samples.clone(),
                    _ => vec![],
                })
                .collect();
            used.sort_unstable();
            assert_eq!(used, (0..a.samples).collect::<Vec<_>>(), "{mode:?}");
        }
        // Sides: exactly half of the pairs have the real image on the left
        // in whole blocks.
        let pairs = plan(7, Mode::Pairs, 40, 100);
        let left = |p: &Plan| {
            p.trials
                .iter()
                .filter(|t| {
                    matches!(
                        t,
                        Trial::Pair {
                            real_side: Side::Left,
                            ..
                        }
                    )
                })
                .count()
        };
        assert_eq!(left(&pairs), 20);
        let both = plan(7, Mode::Both, 40, 100);
        let count = |k: Kind| both.trials.iter().filter(|t| t.kind() == k).count();
        assert_eq!(
            (
                count(Kind::TwoAfc),
                count(Kind::Realism),
                count(Kind::Diversity)
            ),
            (20, 15, 5)
        );
        assert_eq!(left(&both), 10);
        let real_controls = both
            .trials
            .iter()
            .filter(|t| {
                matches!(
                    t,
                    Trial::Realism {
                        shown: Shown::Real,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(real_controls, 5);
        // The sides are not always in the same order.
        let firsts: Vec<Side> = (0..20)
            .filter_map(|s| match &plan(s, Mode::Pairs, 1, 100).trials[0] {
                Trial::Pair { real_side, .. } => Some(*real_side),
                _ => None,
            })
            .collect();
        assert!(firsts.contains(&Side::Left) && firsts.contains(&Side::Right));
        // Ratings only in `rate`, pairs only in `pairs`.
        assert!(
            plan(1, Mode::Rate, 40, 100)
                .trials
                .iter()
                .all(|t| t.kind() != Kind::TwoAfc)
        );
        assert!(
            plan(1, Mode::Pairs, 40, 100)
                .trials
                .iter()
                .all(|t| t.kind() == Kind::TwoAfc)
        );
        // Real images: distinct until the test split is used up.
        let reals: Vec<usize> = plan(2, Mode::Pairs, 30, 30)
            .trials
            .iter()
            .filter_map(|t| match t {
                Trial::Pair { real, .. } => Some(*real),
                _ => None,
            })
            .collect();
        let mut sorted = reals.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..30).collect::<Vec<_>>());
    }

    fn tiny_pool(n_samples: usize) -> Pool {
        Pool {
            rows: 2,
            cols: 3,
            channels: 1,
            samples: (0..n_samples * 6).map(|i| (i % 7) as f32 / 6.0).collect(),
            real: (0..10).map(|i| (i, vec![i as f32 / 10.0; 6])).collect(),
        }
    }

    fn reply(trial: usize, choice: Option<Side>, rating: Option<u8>) -> Reply {
        Reply {
            trial,
            choice,
            rating,
            response_ms: 812.4,
        }
    }

    #[test]
    fn answers_are_checked_appended_once_and_continued_after_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(ANSWERS);
        let p = plan(5, Mode::Both, 8, 10);
        let mut j = Judge::new(p.clone(), tiny_pool(p.samples), 5, path.clone(), "t", "n").unwrap();
        let answer_of = |t: &Trial, i: usize| match t {
            Trial::Pair { .. } => reply(i, Some(Side::Left), None),
            _ => reply(i, None, Some(4)),
        };
        // Out of order: refused.
        assert_eq!(
            j.answer(&answer_of(&p.trials[1], 1)).unwrap_err().status,
            409
        );
        // The wrong kind of answer: refused, nothing written.
        let wrong = match &p.trials[0] {
            Trial::Pair { .. } => reply(0, None, Some(3)),
            _ => reply(0, Some(Side::Right), None),
        };
        assert_eq!(j.answer(&wrong).unwrap_err().status, 400);
        let mut bad_rating = answer_of(&p.trials[0], 0);
        if bad_rating.rating.is_some() {
            bad_rating.rating = Some(6);
            assert_eq!(j.answer(&bad_rating).unwrap_err().status, 400);
        }
        let mut bad_time = answer_of(&p.trials[0], 0);
        bad_time.response_ms = -1.0;
        assert_eq!(j.answer(&bad_time).unwrap_err().status, 400);
        assert!(!path.exists());
        // In order: recorded; a repeat is accepted and adds nothing.
        assert_eq!(j.answer(&answer_of(&p.trials[0], 0)), Ok(true));
        assert_eq!(j.answer(&answer_of(&p.trials[0], 0)), Ok(false));
        assert_eq!(j.answer(&answer_of(&p.trials[1], 1)), Ok(true));
        let lines = read_answers(&path).unwrap();
        assert_eq!(lines.len(), 2);
        for (i, a) in lines.iter().enumerate() {
            assert_eq!((a.trial, a.seed, a.response_ms), (i, 5, 812));
            assert_eq!(a.images, p.trials[i].image_ids());
            assert!(
                chrono::DateTime::parse_from_rfc3339(&a.time).is_ok(),
                "{}",
                a.time
            );
            if let Trial::Pair { real_side, .. } = p.trials[i] {
                assert_eq!(a.correct, Some(real_side == Side::Left));
            }
        }
        // Through HTTP: the next trial, a duplicate post, a bad body.
        let req = |method: &str, path: &str, body: &str| Request {
            method: method.into(),
            path: path.into(),
            host: None,
            body: body.as_bytes().to_vec(),
        };
        let t: serde_json::Value =
            serde_json::from_slice(&j.handle(&req("GET", "/trial", "")).body).unwrap();
        assert_eq!(t["trial"], 2);
        assert_eq!(t["of"], 8);
        let dup = j.handle(&req(
            "POST",
            "/answer",
            r#"{"trial": 1, "choice": "left", "rating": null, "response_ms": 3}"#,
        ));
        assert_eq!(dup.status, 200);
        assert_eq!(j.handle(&req("POST", "/answer", "{")).status, 400);
        assert_eq!(j.handle(&req("GET", "/answer", "")).status, 405);
        assert_eq!(j.handle(&req("GET", "/img/0-0.png", "")).status, 200);
        assert_eq!(j.handle(&req("GET", "/img/99-0.png", "")).status, 404);
        assert_eq!(read_answers(&path).unwrap().len(), 2);
        // Another site's page cannot post through the browser.
        j.set_port(8787);
        let mut foreign = req("GET", "/trial", "");
        foreign.host = Some("evil.example:80".into());
        assert_eq!(j.handle(&foreign).status, 403);
        // A restart continues at trial 2; another seed's session is refused.
        drop(j);
        let mut j = Judge::new(p.clone(), tiny_pool(p.samples), 5, path.clone(), "t", "n").unwrap();
        assert_eq!(j.next, 2);
        for (i, t) in p.trials.iter().enumerate().skip(2) {
            assert_eq!(j.answer(&answer_of(t, i)), Ok(true));
        }
        assert_eq!(
            j.answer(&answer_of(&p.trials[7], 8)).unwrap_err().status,
            409
        );
        assert_eq!(read_answers(&path).unwrap().len(), 8);
        let other = plan(6, Mode::Both, 8, 10);
        let e = Judge::new(other.clone(), tiny_pool(other.samples), 6, path, "t", "n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 1") && e.contains("move"), "{e}");
    }

    #[test]
    fn a_line_cut_short_without_its_newline_is_continued_on_a_new_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(ANSWERS);
        let p = plan(1, Mode::Rate, 4, 10);
        let mut j = Judge::new(p.clone(), tiny_pool(p.samples), 1, path.clone(), "t", "n").unwrap();
        j.answer(&reply(0, None, Some(2))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.trim_end()).unwrap();
        let mut j = Judge::new(p.clone(), tiny_pool(p.samples), 1, path.clone(), "t", "n").unwrap();
        j.answer(&reply(1, None, Some(3))).unwrap();
        assert_eq!(read_answers(&path).unwrap().len(), 2);
    }

    #[test]
    fn the_summary_of_a_hand_written_file() {
        let text = r#"
{"time":"2026-12-02T10:00:00.001+00:00","trial":0,"kind":"2afc","real_side":"left","choice":"left","correct":true,"images":["real-3","sample-0"],"response_ms":900,"seed":1}
{"time":"2026-12-02T10:00:01.002+00:00","trial":1,"kind":"2afc","real_side":"right","choice":"left","correct":false,"images":["sample-1","real-8"],"response_ms":1100,"seed":1}
{"time":"2026-12-02T10:00:02.003+00:00","trial":2,"kind":"2afc","real_side":"right","choice":"right","correct":true,"images":["sample-2","real-1"],"response_ms":700,"seed":1}
{"time":"2026-12-02T10:00:03.004+00:00","trial":3,"kind":"realism","shown":"sample","rating":2,"images":["sample-3"],"response_ms":1500,"seed":1}
{"time":"2026-12-02T10:00:04.005+00:00","trial":4,"kind":"realism","shown":"sample","rating":4,"images":["sample-4"],"response_ms":1300,"seed":1}
{"time":"2026-12-02T10:00:05.006+00:00","trial":5,"kind":"realism","shown":"real","rating":5,"images":["real-0"],"response_ms":600,"seed":1}
{"time":"2026-12-02T10:00:06.007+00:00","trial":6,"kind":"diversity","rating":3,"images":["sample-5"],"response_ms":2000,"seed":1}
"#;
        let path = Path::new("RUN/judge/answers.jsonl");
        let s = summarize(&parse_answers(text, path).unwrap(), path);
        assert_eq!(s.n_answers, 7);
        assert_eq!(s.seeds, vec![1]);
        let t = &s.two_afc;
        assert_eq!((t.n, t.correct), (3, 2));
        assert!((t.accuracy.unwrap() - 2.0 / 3.0).abs() < 1e-15);
        // 2 of 3: scipy.stats.binomtest(2, 3).proportion_ci(method='exact')
        // = (0.09429932405071303, 0.9915962413403874) (SciPy 1.17.1); p-value 1.0.
        assert!((t.ci95_low.unwrap() - 0.094_299_324_050_713_03).abs() < 1e-9);
        assert!((t.ci95_high.unwrap() - 0.991_596_241_340_387_4).abs() < 1e-9);
        assert!((t.p_value_vs_chance.unwrap() - 1.0).abs() < 1e-12);
        // Samples rated 2 and 4: mean 3, s = √2, s.e. = √2/√2 = 1.
        assert_eq!(s.realism_samples.n, 2);
        assert!((s.realism_samples.mean.unwrap() - 3.0).abs() < 1e-15);
        assert!((s.realism_samples.se.unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(
            (s.realism_real.n, s.realism_real.mean, s.realism_real.se),
            (1, Some(5.0), None)
        );
        assert_eq!((s.diversity.n, s.diversity.mean), (1, Some(3.0)));
        // Times 600 700 900 1100 1300 1500 2000: the median is 1100.
        assert_eq!(s.median_response_ms, Some(1100.0));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["two_afc"]["correct"], 2);
        assert_eq!(json["realism_real"]["se"], serde_json::Value::Null);
        assert!(s.text().contains("2 of 3 correct"), "{}", s.text());
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_number() {
        let path = Path::new("RUN/judge/answers.jsonl");
        let good = r#"{"time":"t","trial":0,"kind":"diversity","rating":3,"images":[],"response_ms":1,"seed":0}"#;
        for (bad, says) in [
            (r#"{"time":"t","trial":1,"kind":"divers"#, "not an answer"),
            (
                r#"{"time":"t","trial":1,"kind":"maybe","images":[],"response_ms":1,"seed":0}"#,
                "not an answer",
            ),
            (
                r#"{"time":"t","trial":1,"kind":"2afc","real_side":"left","choice":"left","correct":false,"images":[],"response_ms":1,"seed":0}"#,
                "\"correct\" disagrees",
            ),
            (
                r#"{"time":"t","trial":1,"kind":"realism","rating":3,"images":[],"response_ms":1,"seed":0}"#,
                "\"shown\"",
            ),
            (
                r#"{"time":"t","trial":1,"kind":"diversity","rating":0,"images":[],"response_ms":1,"seed":0}"#,
                "from 1 to 5",
            ),
        ] {
            let e = parse_answers(&format!("{good}\n{bad}\n"), path)
                .unwrap_err()
                .to_string();
            assert!(e.contains("RUN/judge/answers.jsonl"), "{e}");
            assert!(e.contains("line 2:"), "{e}");
            assert!(e.contains(says), "{e}");
            assert!(e.contains("delete"), "{e}");
        }
    }

    /// Reference values from SciPy 1.17.1, computed independently of this
    /// code: `scipy.stats.binomtest(k, n).proportion_ci(method='exact')`
    /// (Clopper–Pearson, from the beta distribution's quantiles) and
    /// `binomtest(k, n).pvalue` (two-sided, p = 0.5).
    #[test]
    fn clopper_pearson_and_the_binomial_test_match_scipy() {
        #[rustfmt::skip]
        let cases: [(u64, u64, f64, f64, f64); 9] = [
            (7, 10, 0.3475471499399921, 0.9332604888222655, 0.34375),
            (0, 10, 0.0, 0.30849710781876294, 0.001953125),
            (10, 10, 0.6915028921812371, 1.0, 0.001953125),
            (4, 8, 0.15701277048705803, 0.842987229512942, 1.0),
            (50, 100, 0.39832112950330095, 0.6016788704966991, 1.0),
            (520, 1000, 0.4885148824521466, 0.5513670573054663, 0.2174482932041415),
            (1, 1, 0.025000000000000022, 1.0, 1.0),
            (3, 20, 0.03207093718554477, 0.37892682654529564, 0.0025768280029296875),
            (1234, 2500, 0.47381918663760997, 0.5133958231483927, 0.5352661709465233),
        ];
        for (k, n, lo, hi, p) in cases {
            let (l, u) = clopper_pearson(k, n, 0.05);
            assert!((l - lo).abs() < 1e-9, "{k}/{n}: lower {l} vs {lo}");
            assert!((u - hi).abs() < 1e-9, "{k}/{n}: upper {u} vs {hi}");
            let pv = binomial_test_half(k, n);
            assert!(
                (pv - p).abs() < 1e-9 * p.max(1e-3),
                "{k}/{n}: p {pv} vs {p}"
            );
        }
    }

    /// The defining property, by brute force: at the returned bounds the
    /// binomial tails are exactly alpha/2, summed term by term directly (no
    /// log space) from the pmf.
    #[test]
    fn clopper_pearson_bounds_put_alpha_over_two_in_each_tail() {
        let pmf = |n: u64, i: u64, p: f64| {
            let mut c = 1.0f64;
            for j in 0..i {
                c = c * (n - j) as f64 / (j + 1) as f64;
            }
            c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32)
        };
        for n in [1u64, 2, 5, 13, 40, 100] {
            for k in 0..=n {
                let (l, u) = clopper_pearson(k, n, 0.05);
                assert!(l <= k as f64 / n as f64 && k as f64 / n as f64 <= u);
                if k > 0 {
                    let upper: f64 = (k..=n).map(|i| pmf(n, i, l)).sum();
                    assert!((upper - 0.025).abs() < 1e-10, "{k}/{n}: P(X≥k|L) = {upper}");
                } else {
                    assert_eq!(l, 0.0);
                }
                if k < n {
                    let lower: f64 = (0..=k).map(|i| pmf(n, i, u)).sum();
                    assert!((lower - 0.025).abs() < 1e-10, "{k}/{n}: P(X≤k|U) = {lower}");
                } else {
                    assert_eq!(u, 1.0);
                }
            }
        }
        assert!((binomial_cdf(3, 10, 0.5) - 176.0 / 1024.0).abs() < 1e-14);
        assert!((binomial_upper_tail(8, 10, 0.5) - 56.0 / 1024.0).abs() < 1e-14);
    }

    #[test]
    fn requests_parse_when_complete() {
        let r = b"POST /answer HTTP/1.1\r\nHost: 127.0.0.1:9\r\ncontent-length: 4\r\n\r\nabcd";
        assert_eq!(parse_request(&r[..r.len() - 1]), None);
        let req = parse_request(r).unwrap().unwrap();
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.host.as_deref()),
            ("POST", "/answer", Some("127.0.0.1:9"))
        );
        assert_eq!(req.body, b"abcd");
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\n\r\n")
                .unwrap()
                .unwrap()
                .path,
            "/"
        );
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Some(Err(413))
        );
    }

    #[test]
    fn images_are_upscaled_pngs() {
        let pool = tiny_pool(16);
        let decode = |b: Vec<u8>| image::load_from_memory(&b).unwrap().to_rgb8();
        let one = decode(
            pool.png(
                &Trial::Realism {
                    shown: Shown::Sample,
                    image: 1,
                },
                0,
            )
            .unwrap(),
        );
        // 2×3 pixels, 168/3 = 56 screen pixels per pixel.
        assert_eq!(one.dimensions(), (168, 112));
        assert_eq!(one.get_pixel(0, 0), one.get_pixel(55, 55));
        let grid = decode(
            pool.png(
                &Trial::Diversity {
                    samples: (0..16).collect(),
                },
                0,
            )
            .unwrap(),
        );
        assert!(grid.width() > 4 * 84);
        let pair = Trial::Pair {
            real: 3,
            sample: 0,
            real_side: Side::Right,
        };
        let right = decode(pool.png(&pair, 1).unwrap());
        assert_eq!(right.get_pixel(0, 0).0, [77, 77, 77]); // real-3: 0.3 grey
        assert!(pool.png(&pair, 2).is_none());
    }
}
