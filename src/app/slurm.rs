//! Running sweeps and studies on a SLURM cluster: one job array of
//! `vaekit train --resume RUN` over the runs that are not finished (a run
//! folder holds its whole config, so a task needs nothing else), a
//! dependent job (`afterany`) that gathers the results, preemption and
//! time limits that lose nothing ([`crate::train::stop`]), and a status
//! view read from the run folders and `squeue`. `docs/cluster.md` shows the
//! script and every option.

use crate::core::error::{Error, Result};
use crate::core::fsutil::{create_dir_all, write_atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `sbatch` options a user sets (`--partition`, `--time`, ...).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SlurmArgs {
    /// Submit to SLURM: one job array of the unfinished runs, then a job gathering the results.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: write the scripts but do not submit them.
    #[arg(long, requires = "slurm")]
    pub dry_run: bool,
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    /// Time limit per task, e.g. 02:00:00.
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// Memory per task, e.g. 8G.
    #[arg(long, requires = "slurm")]
    pub mem: Option<String>,
    #[arg(long, requires = "slurm", default_value_t = 2)]
    pub cpus_per_task: usize,
    /// Generic resources, e.g. gpu:1 (the tasks then train with --device wgpu).
    #[arg(long, requires = "slurm")]
    pub gres: Option<String>,
    #[arg(long, requires = "slurm")]
    pub account: Option<String>,
    #[arg(long, requires = "slurm")]
    pub qos: Option<String>,
    /// Any other sbatch option, e.g. --sbatch-arg=--constraint=avx512 (repeatable).
    #[arg(long = "sbatch-arg", requires = "slurm", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Seconds before the time limit at which SLURM sends SIGUSR1 (the task
    /// then checkpoints and requeues itself); 0 = no warning.
    #[arg(long, requires = "slurm", default_value_t = 120)]
    pub signal_seconds: u64,
    /// Do not let SLURM requeue preempted tasks (#SBATCH --no-requeue).
    #[arg(long, requires = "slurm")]
    pub no_requeue: bool,
    /// Tasks running at once (the array's %N throttle; 0 = no limit): the
    /// sweep's and the studies' `--jobs`, set by the caller.
    #[arg(skip)]
    pub jobs: usize,
}

/// One submission, recorded in `DIR/slurm/submissions.json` so that
/// `--status` can match array tasks to runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    pub array_job: String,
    pub gather_job: Option<String>,
    /// Task i trains `runs[i]`.
    pub runs: Vec<PathBuf>,
    pub time: String,
}

/// What [`submit`] wrote and sent.
pub struct Submitted {
    pub array_script: PathBuf,
    pub gather_script: Option<PathBuf>,
    /// None for a dry run.
    pub submission: Option<Submission>,
    /// Runs left out because they are finished.
    pub finished: usize,
}

/// The `vaekit` binary the tasks run: this one, or the `vaekit` beside a
/// study binary.
pub fn vaekit_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot locate the running binary: {e}")))?;
    if exe.file_stem().is_some_and(|s| s == "vaekit") {
        return Ok(exe);
    }
    let sibling = exe.with_file_name(format!("vaekit{}", std::env::consts::EXE_SUFFIX));
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(Error::Usage(format!(
            "{}: the cluster tasks run `vaekit train --resume RUN`, but there is no vaekit binary \
             beside this one; build it (cargo build --release) first",
            sibling.display()
        )))
    }
}

/// Single-quote a word for bash.
pub fn sh(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn abs(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The `#SBATCH` lines every script shares.
fn common_lines(args: &SlurmArgs) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            s.push_str(&format!("#SBATCH --{k}={v}\n"));
        }
    };
    line("partition", &args.partition);
    line("account", &args.account);
    line("qos", &args.qos);
    s
}

/// The job array's script: task i trains run i.
pub fn array_script(
    name: &str,
    runs: &[PathBuf],
    exe: &Path,
    dir: &Path,
    args: &SlurmArgs,
) -> String {
    let n = runs.len();
    let throttle = if args.jobs > 0 {
        format!("%{}", args.jobs)
    } else {
        String::new()
    };
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name={name}\n"));
    s.push_str(&format!(
        "#SBATCH --array=0-{}{throttle}\n",
        n.saturating_sub(1)
    ));
    s.push_str(&format!(
        "#SBATCH --output={}/logs/%A_%a.out\n",
        abs(dir).join("slurm").display()
    ));
    s.push_str("#SBATCH --open-mode=append\n");
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", args.cpus_per_task));
    if let Some(t) = &args.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(m) = &args.mem {
        s.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    if let Some(g) = &args.gres {
        s.push_str(&format!("#SBATCH --gres={g}\n"));
    }
    s.push_str(&common_lines(args));
    s.push_str(if args.no_requeue {
        "#SBATCH --no-requeue\n"
    } else {
        "#SBATCH --requeue\n"
    });
    if args.signal_seconds > 0 {
        // B: the batch shell only — which `exec` makes vaekit itself.
        s.push_str(&format!(
            "#SBATCH --signal=B:USR1@{}\n",
            args.signal_seconds
        ));
    }
    for a in &args.sbatch_args {
        s.push_str(&format!("#SBATCH {a}\n"));
    }
    s.push_str("\n# Written by vaekit (docs/cluster.md). Task i trains RUNS[i]; a requeued task\n");
    s.push_str("# resumes its run from the newest checkpoint.\nset -euo pipefail\nRUNS=(\n");
    for r in runs {
        s.push_str(&format!("  {}\n", sh(&abs(r).display().to_string())));
    }
    s.push_str(")\nRUN=\"${RUNS[$SLURM_ARRAY_TASK_ID]}\"\n");
    s.push_str("exec >>\"$RUN/slurm.log\" 2>&1\n");
    s.push_str(
        "echo \"== $(date '+%F %T') task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname), restart ${SLURM_RESTART_COUNT:-0}\"\n",
    );
    let device = if args.gres.as_deref().is_some_and(|g| g.contains("gpu")) {
        " --device wgpu"
    } else {
        ""
    };
    s.push_str(&format!(
        "exec {} train --resume \"$RUN\"{device}\n",
        sh(&exe.display().to_string())
    ));
    s
}

/// The gathering job's script: `command` once the array has ended, however its tasks ended.
pub fn gather_script(name: &str, command: &[String], dir: &Path, args: &SlurmArgs) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name={name}-gather\n"));
    s.push_str(&format!(
        "#SBATCH --output={}/logs/gather_%j.out\n",
        abs(dir).join("slurm").display()
    ));
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", args.cpus_per_task));
    if let Some(m) = &args.mem {
        s.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    s.push_str(&common_lines(args));
    s.push_str("\n# Written by vaekit: evaluates the finished runs and writes the tables.\nset -euo pipefail\n");
    s.push_str(&format!(
        "cd {}\n",
        sh(&abs(Path::new(".")).display().to_string())
    ));
    s.push_str(&command.join(" "));
    s.push('\n');
    s
}

/// Run `sbatch ARGS SCRIPT` and return the job id it prints (`--parsable`).
fn sbatch(script: &Path, extra: &[String]) -> Result<String> {
    let sbatch = std::env::var("VAEKIT_SBATCH").unwrap_or_else(|_| "sbatch".into());
    let out = Command::new(&sbatch)
        .arg("--parsable")
        .args(extra)
        .arg(script)
        .output()
        .map_err(|e| {
            Error::Usage(format!(
                "could not run `{sbatch}` ({e}): is SLURM's client installed and on PATH? \
                 The script is written: {} (submit it yourself with sbatch, or use --dry-run)",
                script.display()
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "sbatch refused {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Usage(format!(
            "sbatch accepted {} but printed no job id ({:?})",
            script.display(),
            String::from_utf8_lossy(&out.stdout).trim()
        )));
    }
    Ok(id)
}

/// Whether a run folder holds a finished run.
pub fn is_finished(run: &Path) -> bool {
    run.join("summary.json").is_file()
}

/// Write the scripts for the unfinished `runs` into `DIR/slurm/`, submit the
/// array and (with `gather`) the dependent gathering job, and record the
/// submission. Nothing is submitted with `args.dry_run`, or when every run
/// is finished (then only `gather` would have work: it is submitted alone).
pub fn submit(
    name: &str,
    dir: &Path,
    runs: &[PathBuf],
    gather: Option<&[String]>,
    args: &SlurmArgs,
) -> Result<Submitted> {
    let todo: Vec<PathBuf> = runs.iter().filter(|r| !is_finished(r)).cloned().collect();
    let finished = runs.len() - todo.len();
    let exe = vaekit_binary()?;
    let slurm_dir = dir.join("slurm");
    create_dir_all(&slurm_dir.join("logs"))?;
    let array_path = slurm_dir.join("array.sbatch");
    let gather_path = slurm_dir.join("gather.sbatch");
    write_atomic(
        &array_path,
        array_script(name, &todo, &exe, dir, args).as_bytes(),
    )?;
    if let Some(cmd) = gather {
        write_atomic(&gather_path, gather_script(name, cmd, dir, args).as_bytes())?;
    }
    let gather_script_path = gather.map(|_| gather_path.clone());
    if args.dry_run {
        return Ok(Submitted {
            array_script: array_path,
            gather_script: gather_script_path,
            submission: None,
            finished,
        });
    }
    let array_job = if todo.is_empty() {
        String::new()
    } else {
        sbatch(&array_path, &[])?
    };
    let gather_job = match gather {
        Some(_) => {
            let dep = if array_job.is_empty() {
                vec![]
            } else {
                vec![format!("--dependency=afterany:{array_job}")]
            };
            Some(sbatch(&gather_path, &dep)?)
        }
        None => None,
    };
    let submission = Submission {
        array_job,
        gather_job,
        runs: todo.iter().map(|r| abs(r)).collect(),
        time: chrono::Local::now().to_rfc3339(),
    };
    let log_path = slurm_dir.join("submissions.json");
    let mut all = read_submissions(dir)?;
    all.push(submission.clone());
    write_atomic(
        &log_path,
        serde_json::to_string_pretty(&all).expect("json").as_bytes(),
    )?;
    Ok(Submitted {
        array_script: array_path,
        gather_script: gather_script_path,
        submission: Some(submission),
        finished,
    })
}

/// What the gathering job does once the array has ended.
#[derive(Clone, Debug)]
pub enum Gather {
    /// `vaekit report` over every run into `DIR/results.md` and
    /// `DIR/results.csv`, as the command makes them (a sweep).
    Report,
    /// The running binary again with these arguments and `--gather`: it
    /// evaluates and tabulates the finished runs (a study).
    Rerun(Vec<String>),
}

/// The gathering job's command line (each word quoted for bash where it
/// needs to be) for the runs of `dir`.
pub fn gather_command(gather: &Gather, dir: &Path, runs: &[PathBuf]) -> Result<Vec<String>> {
    let quote = |p: &Path| sh(&p.display().to_string());
    match gather {
        Gather::Report => {
            let exe = quote(&vaekit_binary()?);
            let all: Vec<String> = runs.iter().map(|r| quote(&abs(r))).collect();
            let dir = abs(dir);
            Ok(vec![format!(
                "{exe} report {runs} > {md}.tmp && mv {md}.tmp {md} && \
                 {exe} report {runs} --format csv > {csv}.tmp && mv {csv}.tmp {csv}",
                runs = all.join(" "),
                md = quote(&dir.join("results.md")),
                csv = quote(&dir.join("results.csv")),
            )])
        }
        Gather::Rerun(args) => {
            let exe = std::env::current_exe()
                .map_err(|e| Error::Usage(format!("cannot locate this binary: {e}")))?;
            let mut cmd = vec![quote(&exe)];
            cmd.extend(args.iter().map(|a| sh(a)));
            cmd.push("--gather".to_string());
            Ok(cmd)
        }
    }
}

/// The one way sweeps and studies go to the cluster: the job array of
/// `runs` (`jobs` at a time, default no limit) and its gathering job, then
/// what was submitted, printed for the user.
pub fn submit_with_gather(
    name: &str,
    dir: &Path,
    runs: &[PathBuf],
    gather: &Gather,
    cluster: &SlurmArgs,
    jobs: Option<usize>,
) -> Result<Submitted> {
    let command = gather_command(gather, dir, runs)?;
    let mut cluster = cluster.clone();
    cluster.jobs = jobs.unwrap_or(0);
    let sub = submit(name, dir, runs, Some(&command), &cluster)?;
    report_submission(&sub, runs.len());
    Ok(sub)
}

/// What `--slurm` did, for the user.
pub fn report_submission(sub: &Submitted, planned: usize) {
    println!(
        "{} runs planned, {} already finished; job array script {}",
        planned,
        sub.finished,
        sub.array_script.display()
    );
    if let Some(g) = &sub.gather_script {
        println!("gathering script {}", g.display());
    }
    match &sub.submission {
        None => println!("--dry-run: nothing submitted; submit with sbatch yourself"),
        Some(s) => {
            if s.array_job.is_empty() {
                println!("every run is finished: no array submitted");
            } else {
                println!(
                    "submitted job array {} ({} tasks)",
                    s.array_job,
                    s.runs.len()
                );
            }
            if let Some(g) = &s.gather_job {
                println!("submitted gathering job {g} (runs after the array ends)");
            }
        }
    }
}

/// Every submission made for `dir`, oldest first.
pub fn read_submissions(dir: &Path) -> Result<Vec<Submission>> {
    let path = dir.join("slurm").join("submissions.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::bad_file(
                &path,
                format!("not a vaekit submission record ({e}); delete it to start afresh"),
            )
        }),
        Err(_) => Ok(Vec::new()),
    }
}

/// A run's state, for `--status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// A config and nothing else yet.
    Planned,
    Queued,
    Running,
    Done,
    /// Stopped by a signal with a checkpoint (waiting to be requeued or resumed).
    Preempted,
    /// Ended without a summary; the last lines of its log.
    Failed(String),
    /// Checkpoints but neither queued nor finished (an interrupted local run).
    Partial,
}

impl RunState {
    pub fn label(&self) -> &'static str {
        match self {
            RunState::Planned => "planned",
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Preempted => "preempted",
            RunState::Failed(_) => "failed",
            RunState::Partial => "partial",
        }
    }
}

/// `squeue`'s view of the tasks of `job`: task id → state (PENDING, RUNNING, ...).
fn squeue(job: &str) -> Option<Vec<(String, String)>> {
    let squeue = std::env::var("VAEKIT_SQUEUE").unwrap_or_else(|_| "squeue".into());
    let out = Command::new(squeue)
        .args(["-h", "-r", "-j", job, "-o", "%i|%T"])
        .output()
        .ok()?;
    if !out.status.success() {
        return Some(Vec::new()); // a job SLURM has forgotten: none of its tasks is queued
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.split_once('|')
                    .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
            })
            .collect(),
    )
}

/// The last `n` non-empty lines of a file.
fn tail(path: &Path, n: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    Some(lines[lines.len().saturating_sub(n)..].join("\n"))
}

/// The state of every run folder (a folder with `config.toml`) under `dir`,
/// from the folders and, where it answers, `squeue`.
pub fn status(dir: &Path, runs: &[PathBuf]) -> Result<Vec<(PathBuf, RunState)>> {
    let subs = read_submissions(dir)?;
    // The newest submission of each run decides its task.
    let mut queue: std::collections::HashMap<PathBuf, String> = Default::default();
    let mut asked: std::collections::HashMap<String, Option<Vec<(String, String)>>> =
        Default::default();
    for s in &subs {
        if s.array_job.is_empty() {
            continue;
        }
        let tasks = asked
            .entry(s.array_job.clone())
            .or_insert_with(|| squeue(&s.array_job))
            .clone();
        for (i, r) in s.runs.iter().enumerate() {
            let id = format!("{}_{i}", s.array_job);
            let state = tasks.as_ref().and_then(|t| {
                t.iter()
                    .find(|(tid, _)| *tid == id)
                    .map(|(_, st)| st.clone())
            });
            match state {
                Some(st) => {
                    queue.insert(abs(r), st);
                }
                None => {
                    queue.remove(&abs(r));
                }
            }
        }
    }
    Ok(runs
        .iter()
        .map(|r| {
            let state = if is_finished(r) {
                RunState::Done
            } else if let Some(st) = queue.get(&abs(r)) {
                match st.as_str() {
                    "RUNNING" | "COMPLETING" => RunState::Running,
                    _ => RunState::Queued,
                }
            } else if r.join(crate::train::STOPPED_FILE).is_file() {
                RunState::Preempted
            } else {
                let log = ["slurm.log", "train.log"]
                    .iter()
                    .map(|f| r.join(f))
                    .find(|p| p.is_file());
                let failed = log.as_ref().and_then(|l| {
                    let t = tail(l, 5)?;
                    t.contains("error").then_some(t)
                });
                match failed {
                    Some(t) => RunState::Failed(t),
                    None if r.join("checkpoints").is_dir() => RunState::Partial,
                    None => RunState::Planned,
                }
            };
            (r.clone(), state)
        })
        .collect())
}

/// The status as a table, with the failed runs' last log lines after it.
pub fn status_table(states: &[(PathBuf, RunState)]) -> String {
    let mut s = String::new();
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (run, st) in states {
        s.push_str(&format!("{:<10} {}\n", st.label(), run.display()));
        match counts.iter_mut().find(|(l, _)| *l == st.label()) {
            Some(c) => c.1 += 1,
            None => counts.push((st.label(), 1)),
        }
    }
    s.push_str(&format!(
        "{} runs: {}\n",
        states.len(),
        counts
            .iter()
            .map(|(l, n)| format!("{n} {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (run, st) in states {
        if let RunState::Failed(t) = st {
            s.push_str(&format!("\n{} failed; its log ends:\n{t}\n", run.display()));
        }
    }
    s
}

/// After a run stopped on `signal` inside a SLURM task: a time-limit warning
/// (SIGUSR1) is requeued here (`scontrol requeue`), since SLURM would end
/// the task at its limit; a SIGTERM came from SLURM itself (preemption,
/// `scontrol requeue`), which requeues the task without help. Returns what
/// to tell the user.
pub fn after_stop(signal: &str) -> Option<String> {
    let job = std::env::var("SLURM_JOB_ID").ok()?;
    let task = match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        (Ok(a), Ok(t)) => format!("{a}_{t}"),
        _ => job,
    };
    if signal != "SIGUSR1" {
        return Some(format!(
            "SLURM task {task}: stopped on {signal}; SLURM requeues it if the job is requeueable"
        ));
    }
    let scontrol = std::env::var("VAEKIT_SCONTROL").unwrap_or_else(|_| "scontrol".into());
    Some(
        match Command::new(&scontrol).args(["requeue", &task]).output() {
            Ok(o) if o.status.success() => {
                format!("SLURM task {task}: requeued (scontrol requeue)")
            }
            Ok(o) => format!(
                "SLURM task {task}: `scontrol requeue` failed ({}); resume it with `vaekit train --resume RUN`",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!(
                "SLURM task {task}: could not run {scontrol} ({e}); resume it with `vaekit train --resume RUN`"
            ),
        },
    )
}

/// Exit status of a run stopped at a checkpoint by a signal.
pub const EXIT_STOPPED: i32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_array_script_lists_the_runs_and_every_option() {
        let args = SlurmArgs {
            slurm: true,
            partition: Some("gpu".into()),
            time: Some("01:00:00".into()),
            mem: Some("8G".into()),
            gres: Some("gpu:1".into()),
            account: Some("lab".into()),
            qos: Some("high".into()),
            sbatch_args: vec!["--constraint=avx512".into()],
            signal_seconds: 90,
            jobs: 3,
            cpus_per_task: 4,
            ..Default::default()
        };
        let runs = vec![PathBuf::from("/r/a-seed0"), PathBuf::from("/r/it's")];
        let s = array_script(
            "sweep",
            &runs,
            Path::new("/bin/vaekit"),
            Path::new("/r"),
            &args,
        );
        for want in [
            "#SBATCH --array=0-1%3",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=01:00:00",
            "#SBATCH --mem=8G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --account=lab",
            "#SBATCH --qos=high",
            "#SBATCH --constraint=avx512",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --requeue",
            "#SBATCH --signal=B:USR1@90",
            "'/r/a-seed0'",
            r"'/r/it'\''s'",
            "exec '/bin/vaekit' train --resume \"$RUN\" --device wgpu",
        ] {
            assert!(s.contains(want), "{want} missing from:\n{s}");
        }
        let plain = array_script(
            "x",
            &runs,
            Path::new("/bin/vaekit"),
            Path::new("/r"),
            &SlurmArgs {
                no_requeue: true,
                signal_seconds: 0,
                ..Default::default()
            },
        );
        assert!(
            plain.contains("#SBATCH --array=0-1\n")
                && plain.contains("--no-requeue")
                && !plain.contains("--signal")
        );
        assert!(!plain.contains("--device"));
    }
}
