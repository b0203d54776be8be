//! Sweeps and studies on a real SLURM: a one-node cluster on localhost
//! (Debian's `slurmctld`, `slurmd`, `slurm-client`; `auth/none`, daemons
//! in the foreground as root), started and stopped by the test. A sweep
//! submitted, finished and gathered equals the same sweep run locally; a
//! study's `--slurm` results equal its local results; a running task
//! requeued by `scontrol requeue` (SIGTERM) and then warned by SIGUSR1
//! resumes twice and ends with the summary of a run never interrupted;
//! `--status` during and after; a broken `sbatch` is a clear error.
//!
//! Without the SLURM packages (or not as root) the test prints SKIPPED;
//! `.ci/run` installs them and sets `VAEKIT_REQUIRE_SLURM=1`, which turns
//! the skip into a failure.

mod common;

use common::{assert_clean_error, text};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    daemons: Vec<Child>,
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        || ["/usr/sbin", "/usr/bin"]
            .iter()
            .any(|d| Path::new(d).join(cmd).is_file())
}

fn daemon_path(cmd: &str) -> String {
    for d in ["/usr/sbin", "/usr/bin"] {
        let p = Path::new(d).join(cmd);
        if p.is_file() {
            return p.display().to_string();
        }
    }
    cmd.to_string()
}

impl Cluster {
    /// A fresh one-node cluster, or None (SKIPPED) where SLURM cannot run.
    fn start() -> Option<Cluster> {
        let missing: Vec<&str> = [
            "slurmctld",
            "slurmd",
            "sbatch",
            "squeue",
            "scontrol",
            "scancel",
        ]
        .into_iter()
        .filter(|c| !which(c))
        .collect();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let why = if !missing.is_empty() {
            format!(
                "{} not installed (apt-get install slurmctld slurmd slurm-client)",
                missing.join(", ")
            )
        } else if !root {
            "the test cluster's daemons run as root".to_string()
        } else {
            String::new()
        };
        if !why.is_empty() {
            assert!(
                std::env::var("VAEKIT_REQUIRE_SLURM").is_err(),
                "VAEKIT_REQUIRE_SLURM is set but {why}"
            );
            println!("SKIPPED: {why}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host =
            String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout).unwrap();
        let host = host.trim();
        // Ports of our own, away from a real cluster's 6817/6818 and from other test runs.
        let port = 20_000 + (std::process::id() % 20_000) as u16 * 2;
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let conf = d.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=vaekittest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
                 AuthType=auth/none\nCredType=cred/none\nSlurmctldPort={port}\nSlurmdPort={}\n\
                 StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
                 SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\n\
                 SchedulerType=sched/backfill\nSchedulerParameters=batch_sched_delay=0\n\
                 SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
                 JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
                 JobCompType=jobcomp/none\nReturnToService=2\nKillWait=30\n\
                 AuthInfo=cred_expire=5\n\
                 NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 State=UNKNOWN\n\
                 PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
                port + 1,
                d = d.display()
            ),
        )
        .unwrap();
        let spawn = |cmd: &str, args: &[&str]| {
            Command::new(daemon_path(cmd))
                .args(args)
                .env("SLURM_CONF", &conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{cmd}: {e}"))
        };
        let daemons = vec![
            spawn("slurmctld", &["-D", "-c", "-i"]),
            spawn("slurmd", &["-D"]),
        ];
        let cluster = Cluster { dir, conf, daemons };
        cluster.wait("the node to come up", 60, || {
            let o = cluster
                .cmd("sinfo")
                .args(["-h", "-o", "%t"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&o.stdout)
                .contains("idle")
                .then_some(())
        });
        Some(cluster)
    }

    /// `program` with this cluster's config.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn vaekit(&self, bin: &str, args: &[&str], cwd: &Path) -> Output {
        self.cmd(bin)
            .args(args)
            .current_dir(cwd)
            .env("VAEKIT_CACHE", self.dir.path().join("cache"))
            .output()
            .expect("run vaekit")
    }

    /// Poll `f` every 200 ms until it answers, at most `secs` seconds.
    fn wait<T>(&self, what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let t0 = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if t0.elapsed() > Duration::from_secs(secs) {
                let log =
                    |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let q = self
                    .cmd("squeue")
                    .output()
                    .map(|o| text(&o))
                    .unwrap_or_default();
                panic!(
                    "timed out after {secs} s waiting for {what}\nsqueue:\n{q}\nslurmctld.log (end):\n{}\nslurmd.log (end):\n{}",
                    tail(&log("slurmctld.log"), 20),
                    tail(&log("slurmd.log"), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The queue's lines `id state`, tasks expanded.
    fn queue(&self) -> Vec<(String, String)> {
        let o = self
            .cmd("squeue")
            .args(["-h", "-r", "-o", "%i %T"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect()
    }

    fn wait_empty(&self, secs: u64) {
        self.wait("the queue to empty", secs, || {
            self.queue().is_empty().then_some(())
        });
    }

    /// A requeued task waits for the job credential to expire (BeginTime:
    /// two minutes by default, five seconds here, `AuthInfo=cred_expire=5`:
    /// a task restarted sooner is killed, "job credential revoked").
    fn wait_requeued(&self, task: &str) {
        self.wait(&format!("{task} to be pending again"), 60, || {
            self.queue()
                .iter()
                .any(|(id, st)| id == task && st == "PENDING")
                .then_some(())
        });
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Cancel every job before stopping slurmd, then the daemons.
        let _ = self.cmd("scancel").args(["--user", "root"]).output();
        std::thread::sleep(Duration::from_millis(500));
        for d in self.daemons.iter_mut().rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let l: Vec<&str> = s.lines().collect();
    l[l.len().saturating_sub(n)..].join("\n")
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// A summary without its clock readings.
fn numbers(mut s: serde_json::Value) -> serde_json::Value {
    let o = s.as_object_mut().unwrap();
    for k in ["wall_time_s", "train_images_per_s", "device"] {
        o.remove(k);
    }
    s
}

const VAEKIT: &str = env!("CARGO_BIN_EXE_vaekit");

#[test]
fn sweeps_and_studies_on_a_real_slurm_cluster() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let grid = [
        "--grid",
        "schedule.beta=1,2",
        "--seeds",
        "0..1",
        "--set",
        "train.epochs=2",
        "--set",
        "data.synthetic_size=400",
        "--set",
        "model.hidden=[64]",
    ];

    // A broken sbatch: a missing binary, a rejected option. Nothing is queued.
    let mut args = vec!["sweep", "--out", "broken", "--slurm"];
    args.extend(grid);
    let o = cluster
        .cmd(VAEKIT)
        .args(&args)
        .current_dir(w)
        .env("VAEKIT_SBATCH", "/nonexistent/sbatch")
        .output()
        .unwrap();
    assert_clean_error(&o, &["could not run `/nonexistent/sbatch`", "array.sbatch"]);
    let mut args = vec![
        "sweep",
        "--out",
        "broken",
        "--slurm",
        "--partition",
        "nosuch",
    ];
    args.extend(grid);
    let o = cluster.vaekit(VAEKIT, &args, w);
    assert_clean_error(&o, &["sbatch refused", "array.sbatch", "partition"]);
    assert!(cluster.queue().is_empty());

    // The 4-run sweep, locally and on the cluster: the same table.
    let mut args = vec!["sweep", "--out", "local", "--jobs", "2"];
    args.extend(grid);
    let o = cluster.vaekit(VAEKIT, &args, w);
    assert!(o.status.success(), "{}", text(&o));
    let mut args = vec!["sweep", "--out", "cluster", "--slurm", "--jobs", "2"];
    args.extend(grid);
    let o = cluster.vaekit(VAEKIT, &args, w);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("submitted job array") && t.contains("gathering job"),
        "{t}"
    );
    let status = text(&cluster.vaekit(VAEKIT, &["sweep", "--status", "cluster"], w));
    assert!(status.contains("4 runs:"), "{status}");
    cluster.wait_empty(180);
    let status = text(&cluster.vaekit(VAEKIT, &["sweep", "--status", "cluster"], w));
    assert!(status.contains("4 runs: 4 done"), "{status}");
    let local_runs: Vec<String> = [
        "beta=1-seed0",
        "beta=1-seed1",
        "beta=2-seed0",
        "beta=2-seed1",
    ]
    .iter()
    .map(|r| format!("local/vae-{r}"))
    .collect();
    let mut report = vec!["report"];
    report.extend(local_runs.iter().map(String::as_str));
    let local_table = String::from_utf8(cluster.vaekit(VAEKIT, &report, w).stdout).unwrap();
    let gathered = std::fs::read_to_string(w.join("cluster/results.md")).unwrap();
    assert_eq!(gathered, local_table);
    assert!(w.join("cluster/results.csv").is_file());
    for r in ["beta=1-seed0", "beta=2-seed1"] {
        assert_eq!(
            numbers(json(&w.join(format!("cluster/vae-{r}/summary.json")))),
            numbers(json(&w.join(format!("local/vae-{r}/summary.json"))))
        );
        assert!(w.join(format!("cluster/vae-{r}/slurm.log")).is_file());
    }
    // Submitting again submits nothing new but the gathering.
    let mut args = vec!["sweep", "--out", "cluster", "--slurm"];
    args.extend(grid);
    let t = text(&cluster.vaekit(VAEKIT, &args, w));
    assert!(
        t.contains("4 already finished") && t.contains("no array submitted"),
        "{t}"
    );
    cluster.wait_empty(60);

    // Preemption: a long run requeued by SLURM (SIGTERM), then warned of its
    // time limit (SIGUSR1, which requeues itself), finishes as a run that
    // was never interrupted.
    let long = [
        "--seeds",
        "0",
        "--set",
        "train.epochs=3",
        "--set",
        "train.log_every=20",
        "--set",
        "data.synthetic_size=12000",
    ];
    let mut args = vec!["sweep", "--out", "pre", "--slurm"];
    args.extend(long);
    let o = cluster.vaekit(VAEKIT, &args, w);
    assert!(o.status.success(), "{}", text(&o));
    let run = w.join("pre/vae-seed0");
    let task = cluster.wait("the task to start", 60, || {
        cluster
            .queue()
            .into_iter()
            .find(|(id, st)| id.ends_with("_0") && st == "RUNNING")
            .map(|(id, _)| id)
    });
    let trained_a_little = |after: usize| {
        cluster.wait("training steps", 120, || {
            let lines = std::fs::read_to_string(run.join("metrics.jsonl")).ok()?;
            (lines.lines().filter(|l| l.contains("\"train\"")).count() > after).then_some(())
        })
    };
    trained_a_little(0);
    let o = cluster
        .cmd("scontrol")
        .args(["requeue", &task])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stopped = cluster.wait("the checkpoint on SIGTERM", 60, || {
        run.join("stopped.json")
            .is_file()
            .then(|| json(&run.join("stopped.json")))
    });
    assert_eq!(stopped["signal"], "SIGTERM");
    let status = text(&cluster.vaekit(VAEKIT, &["sweep", "--status", "pre"], w));
    assert!(
        status.contains("queued") || status.contains("preempted"),
        "{status}"
    );
    cluster.wait_requeued(&task);
    cluster.wait("the requeued task to run", 60, || {
        cluster
            .queue()
            .iter()
            .any(|(id, st)| *id == task && st == "RUNNING")
            .then_some(())
    });
    let step_before = stopped["step"].as_u64().unwrap() as usize;
    cluster.wait("the resumed run to train", 120, || {
        let lines = std::fs::read_to_string(run.join("metrics.jsonl")).ok()?;
        let last = lines.lines().rev().find(|l| l.contains("\"train\""))?;
        let v: serde_json::Value = serde_json::from_str(last).ok()?;
        (v["step"].as_u64()? as usize > step_before + 20 && !run.join("stopped.json").is_file())
            .then_some(())
    });
    let o = cluster
        .cmd("scancel")
        .args(["--signal=USR1", "--batch", &task])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stopped = cluster.wait("the checkpoint on SIGUSR1", 60, || {
        run.join("stopped.json")
            .is_file()
            .then(|| json(&run.join("stopped.json")))
    });
    assert_eq!(stopped["signal"], "SIGUSR1");
    cluster.wait_requeued(&task);
    cluster.wait_empty(240);
    let log = std::fs::read_to_string(run.join("slurm.log")).unwrap();
    assert!(
        log.contains("restart 2") && log.contains("requeued (scontrol requeue)"),
        "{log}"
    );
    // The same run, never interrupted, here.
    let twin = w.join("twin/vae-seed0");
    std::fs::create_dir_all(&twin).unwrap();
    std::fs::copy(run.join("config.toml"), twin.join("config.toml")).unwrap();
    let o = cluster.vaekit(VAEKIT, &["train", "--resume", twin.to_str().unwrap()], w);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        numbers(json(&run.join("summary.json"))),
        numbers(json(&twin.join("summary.json")))
    );
    let status = text(&cluster.vaekit(VAEKIT, &["sweep", "--status", "pre"], w));
    assert!(status.contains("1 runs: 1 done"), "{status}");

    // A study: `--slurm` gives the results of the local study.
    let study = env!("CARGO_BIN_EXE_annealing");
    let base = [
        "--quick",
        "--seeds",
        "0",
        "--set",
        "train.epochs=1",
        "--set",
        "data.synthetic_size=400",
        "--k",
        "5",
    ];
    let mut args = base.to_vec();
    args.extend(["--out", "study-local"]);
    let o = cluster.vaekit(study, &args, w);
    assert!(o.status.success(), "{}", text(&o));
    let mut args = base.to_vec();
    args.extend(["--out", "study-cluster", "--slurm", "--dry-run"]);
    let o = cluster.vaekit(study, &args, w);
    assert!(
        o.status.success() && text(&o).contains("nothing submitted"),
        "{}",
        text(&o)
    );
    assert!(cluster.queue().is_empty());
    let mut args = base.to_vec();
    args.extend(["--out", "study-cluster", "--slurm"]);
    let o = cluster.vaekit(study, &args, w);
    assert!(o.status.success(), "{}", text(&o));
    let mut args = base.to_vec();
    args.extend(["--out", "study-cluster", "--status"]);
    let o = cluster.vaekit(study, &args, w);
    assert!(text(&o).contains(" runs: "), "{}", text(&o));
    cluster.wait_empty(300);
    assert_eq!(
        std::fs::read_to_string(w.join("study-cluster/results.csv")).unwrap(),
        std::fs::read_to_string(w.join("study-local/results.csv")).unwrap()
    );
    assert!(w.join("study-cluster/figures").is_dir());
}
