//! `vaekit sweep`: a grid of config values × seeds, run locally N at a time,
//! one run directory each. A re-run skips finished runs and resumes
//! interrupted ones. Each run is fully described by its own `config.toml`;
//! `--plan-only` writes those configs without training, so the same grid can
//! go to a cluster as a job array of `vaekit train --resume RUN` (which
//! starts a run that has a config and no checkpoint yet). Do not run two
//! sweeps on the same folder at once.

use crate::app::config::ExperimentConfig;
use crate::core::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One grid axis: `key=v1,v2,...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for Axis {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (key, vals) = s.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--grid {s:?}: expected KEY=V1,V2,... (e.g. schedule.beta=1,2,4)"
            ))
        })?;
        // Values may be arrays: split on commas outside brackets.
        let mut values = Vec::new();
        let (mut depth, mut cur) = (0i32, String::new());
        for c in vals.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    values.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        values.push(cur);
        let values: Vec<String> = values
            .into_iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if key.trim().is_empty() || values.is_empty() {
            return Err(Error::Usage(format!(
                "--grid {s:?}: expected KEY=V1,V2,..."
            )));
        }
        Ok(Axis {
            key: key.trim().to_string(),
            values,
        })
    }
}

/// Parse `--seeds`: `0..4` (inclusive, as in the docs' `0..4` = five seeds) or `1,5,9`.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let bad = || {
        Error::Usage(format!(
            "--seeds {s:?}: expected A..B (inclusive) or a list like 0,1,2"
        ))
    };
    if let Some((a, b)) = s.split_once("..") {
        let (a, b): (u64, u64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if b < a {
            return Err(bad());
        }
        return Ok((a..=b).collect());
    }
    s.split(',')
        .map(|v| v.trim().parse().map_err(|_| bad()))
        .collect()
}

/// One planned run.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    pub dir: PathBuf,
    /// `--set` overrides that define it (grid values, name and seed).
    pub overrides: Vec<String>,
    /// The resolved config.
    pub config: ExperimentConfig,
}

/// A directory-name-safe rendering of a value.
fn slug(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every combination of the axes, for every seed, each validated as a config.
/// Each run's `name` is its grid point (`vae-beta=4`), shared by its seeds, so
/// `vaekit report` groups seeds together by default.
pub fn plan(
    base: Option<&Path>,
    fixed: &[String],
    axes: &[Axis],
    seeds: &[u64],
    out: &Path,
) -> Result<Vec<PlannedRun>> {
    if axes.iter().any(|a| a.key == "seed" || a.key == "name") {
        return Err(Error::Usage(
            "--grid seed=... / name=...: seeds go in --seeds; names are made from the grid".into(),
        ));
    }
    let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
    for axis in axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                axis.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((axis.key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let base_name = ExperimentConfig::load(base, fixed)?.name;
    let mut runs: Vec<PlannedRun> = Vec::new();
    for combo in &combos {
        let mut name = base_name.clone();
        for (k, v) in combo {
            let short = k.rsplit('.').next().unwrap_or(k);
            name.push_str(&format!("-{short}={}", slug(v)));
        }
        for &seed in seeds {
            let mut overrides = fixed.to_vec();
            overrides.extend(combo.iter().map(|(k, v)| format!("{k}={v}")));
            overrides.push(format!("name={name}"));
            overrides.push(format!("seed={seed}"));
            // Fail before anything runs if any combination is invalid.
            let config = ExperimentConfig::load(base, &overrides)?;
            let dir = out.join(format!("{name}-seed{seed}"));
            if runs.iter().any(|r| r.dir == dir) {
                return Err(Error::Usage(format!(
                    "the grid names {} twice (a repeated value or seed, or two values that \
                     read the same in a folder name); make every grid point distinct",
                    dir.display()
                )));
            }
            runs.push(PlannedRun {
                dir,
                overrides,
                config,
            });
        }
    }
    Ok(runs)
}

/// `--plan-only`: write each run's resolved `config.toml` without training,
/// for a cluster job array (`vaekit train --resume RUN` starts such a run).
pub fn write_configs(runs: &[PlannedRun]) -> Result<()> {
    for r in runs {
        crate::core::fsutil::create_dir_all(&r.dir)?;
        let path = r.dir.join("config.toml");
        if !path.is_file() {
            crate::core::fsutil::write_atomic(&path, r.config.to_toml().as_bytes())?;
        }
    }
    Ok(())
}

/// What happened to one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    AlreadyDone,
    Finished,
    Failed(String),
}

/// Run the plan `jobs` at a time with the `vaekit` binary `exe`.
pub fn run(
    exe: &Path,
    base: Option<&Path>,
    runs: &[PlannedRun],
    jobs: usize,
) -> Vec<(PathBuf, Outcome)> {
    use std::sync::Mutex;
    let next = Mutex::new(0usize);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(r) = runs.get(i) else { break };
                    let outcome = run_one(exe, base, r);
                    let line = match &outcome {
                        Outcome::AlreadyDone => "already finished".to_string(),
                        Outcome::Finished => "finished".to_string(),
                        Outcome::Failed(e) => format!("FAILED: {e}"),
                    };
                    println!("[{}/{}] {}: {line}", i + 1, runs.len(), r.dir.display());
                    results.lock().unwrap().push((r.dir.clone(), outcome));
                }
            });
        }
    });
    let mut out = results.into_inner().unwrap();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn run_one(exe: &Path, base: Option<&Path>, r: &PlannedRun) -> Outcome {
    // A folder from an earlier sweep must hold this very config.
    let cfg_path = r.dir.join("config.toml");
    if cfg_path.is_file() {
        match ExperimentConfig::load(Some(&cfg_path), &[]) {
            Ok(existing) if existing == r.config => {}
            Ok(_) => {
                return Outcome::Failed(format!(
                    "{} holds a different config than this sweep plans; remove the folder or use another --out",
                    cfg_path.display()
                ));
            }
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    }
    if r.dir.join("summary.json").is_file() {
        return Outcome::AlreadyDone;
    }
    let mut cmd = Command::new(exe);
    cmd.arg("train");
    if r.dir.join("config.toml").is_file() {
        cmd.arg("--resume").arg(&r.dir);
    } else {
        if let Some(b) = base {
            cmd.arg("--config").arg(b);
        }
        for o in &r.overrides {
            cmd.arg("--set").arg(o);
        }
        cmd.arg("--out").arg(&r.dir);
    }
    // The run's output goes to RUN/train.log (appended to on resume).
    if let Err(e) = std::fs::create_dir_all(&r.dir) {
        return Outcome::Failed(format!("{}: {e}", r.dir.display()));
    }
    let log = r.dir.join("train.log");
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(format!("{}: {e}", log.display())),
    };
    let err_file = match file.try_clone() {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(format!("{}: {e}", log.display())),
    };
    match cmd.stdout(file).stderr(err_file).status() {
        Ok(s) if s.success() => Outcome::Finished,
        Ok(_) => Outcome::Failed(format!("see {}", log.display())),
        Err(e) => Outcome::Failed(format!("could not start {}: {e}", exe.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_seeds_and_plan() {
        let a: Axis = "schedule.beta=1,2,4".parse().unwrap();
        assert_eq!(a.values, vec!["1", "2", "4"]);
        let h: Axis = "model.hidden=[400, 200],[100]".parse().unwrap();
        assert_eq!(h.values, vec!["[400, 200]", "[100]"]);
        assert!("nokey".parse::<Axis>().is_err());
        assert_eq!(parse_seeds("0..4").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_seeds("3,7").unwrap(), vec![3, 7]);
        assert!(parse_seeds("4..1").is_err());
        let plan = plan(
            None,
            &[],
            &[a, "objective.free_bits=0,0.5".parse().unwrap()],
            &[0, 1],
            Path::new("out"),
        )
        .unwrap();
        assert_eq!(plan.len(), 3 * 2 * 2);
        assert_eq!(plan[0].dir, Path::new("out/vae-beta=1-free_bits=0-seed0"));
        assert!(plan[0].overrides.contains(&"seed=0".to_string()));
        // Seeds of one grid point share a name, so reports group them.
        assert_eq!(plan[0].config.name, "vae-beta=1-free_bits=0");
        assert_eq!(plan[1].config.name, plan[0].config.name);
        // Repeated values or a seed axis are refused.
        let twice: Axis = "schedule.beta=1,1".parse().unwrap();
        assert!(super::plan(None, &[], &[twice], &[0], Path::new("o")).is_err());
        assert!(
            super::plan(
                None,
                &[],
                &["seed=1,2".parse().unwrap()],
                &[0],
                Path::new("o")
            )
            .is_err()
        );
        // An invalid value anywhere in the grid fails the whole plan up front.
        let bad: Axis = "schedule.beta=1,-1".parse().unwrap();
        assert!(super::plan(None, &[], &[bad], &[0], Path::new("o")).is_err());
    }
}
