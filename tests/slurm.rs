//! `exp run --executor slurm` on a real Slurm: Debian's slurm-wlm 22.05 and munge on
//! localhost, started by `.ci/run` (`.ci/slurm start DIR`, which exports `SLURM_CONF`).
//! Where no Slurm answers, these tests say so and pass; CI sets `EXP_REQUIRE_SLURM`, and
//! there a missing Slurm fails them.
//!
//! Submissions are counted by Slurm itself: `squeue --states=all` lists every job it has
//! not yet forgotten (5 minutes after it ended), with the script it ran, which lies in
//! the test's own store.

use crate::reproducible::artifacts;
use crate::util::{exp_with_env, root, Dir, Output};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a Slurm controller answers here.
fn slurm() -> bool {
    let answers = Command::new("squeue").args(["--noheader", "--format=%i"]).output().is_ok_and(|o| o.status.success());
    if !answers {
        assert!(
            std::env::var_os("EXP_REQUIRE_SLURM").is_none(),
            "EXP_REQUIRE_SLURM is set but no Slurm answers (SLURM_CONF={:?})",
            std::env::var_os("SLURM_CONF")
        );
        eprintln!("no Slurm answers here (start one with `.ci/slurm start DIR`): the Slurm executor is not tested");
    }
    answers
}

/// Every job Slurm knows whose script lies under `dir`: (id, state, script).
pub(crate) fn jobs_under(dir: &Path) -> Vec<(u64, String, String)> {
    let out =
        Command::new("squeue").args(["--noheader", "--states=all", "--format=%i|%T|%o"]).output().expect("squeue runs");
    let prefix = format!("{}/", dir.display());
    let mut jobs: Vec<(u64, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            Some((f.next()?.trim().parse().ok()?, f.next()?.to_string(), f.next()?.to_string()))
        })
        .filter(|(_, _, script)| script.starts_with(&prefix))
        .collect();
    jobs.sort();
    jobs
}

/// Waits until the job whose script ends with `script_end` under `dir` is running.
fn running_job(dir: &Path, script_end: &str, limit: Duration) -> u64 {
    let started = Instant::now();
    loop {
        if let Some((id, _, _)) =
            jobs_under(dir).into_iter().find(|(_, state, script)| state == "RUNNING" && script.ends_with(script_end))
        {
            return id;
        }
        assert!(started.elapsed() < limit, "no running job for {script_end}: {:?}", jobs_under(dir));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Two sources and their mixture; `ja` may be broken on purpose.
fn small_study(d: &Dir, ja: &str, settings: &str) {
    d.write("data/en.jsonl", "{\"id\":\"a1\",\"body\":\"an abstract\"}\n{\"id\":\"a2\",\"body\":\"another\"}\n");
    d.write("data/ja.jsonl", ja);
    d.write(
        "study.med",
        "experiment \"study\"\n\
         source en = jsonl(\"data/en.jsonl\", text: \"body\", id: \"id\", lang: en)\n\
         source ja = jsonl(\"data/ja.jsonl\", text: \"body\", id: \"id\", lang: ja)\n\
         corpus both = { en, ja * 2 }\n",
    );
    d.write("slurm.toml", format!("poll_seconds = 0.5\n{settings}"));
}

/// `exp run --executor slurm study.med` in `d`, in the background, its output piped.
pub(crate) fn start_driver(d: &Dir, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(["run", "--executor", "slurm"])
        .args(extra)
        .arg("study.med")
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the driver starts")
}

const JA: &str = "{\"id\":\"j1\",\"body\":\"fine\"}\n";

fn run(d: &Dir, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--executor", "slurm"];
    args.extend_from_slice(extra);
    args.push("study.med");
    exp_with_env(d.path(), &args, &[])
}

/// `exp run --executor slurm` of the toy study's definition `only` and what it needs,
/// into the fresh store `cluster/` of `d`.
pub struct Branch {
    args: Vec<String>,
}

impl Branch {
    /// `None` where no Slurm answers.
    pub fn new(d: &Dir, only: &str) -> Option<Branch> {
        if !slurm() {
            return None;
        }
        d.write("settings.toml", "poll_seconds = 0.5\n");
        let study = root().join("experiments/corpus-expansion.med").display().to_string();
        let args = ["run", "--executor", "slurm", "--settings", "settings.toml", "--store", "cluster", "--profile"];
        let args = args.iter().chain(&["toy", "--only", only, &study]).map(|s| s.to_string()).collect();
        Some(Branch { args })
    }

    pub fn run(&self, d: &Dir) -> Output {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        exp_with_env(d.path(), &args, &[])
    }
}

/// The toy study from its corpora through one CPT, SFT and evaluation, run on Slurm
/// (`out`, from [`Branch::run`]) into a fresh store: the identities of the local run that
/// made `local` and the same bytes (weights, shards, corpora, scores); a second run
/// submits nothing. The training test (`branch.rs`) runs both side by side, so the branch
/// is trained locally once.
pub fn the_same_as_local(d: &Dir, branch: &Branch, out: &Output, local: &Path) {
    let cluster = d.path().join("cluster");
    assert_eq!(out.status, 0, "{}", out.stderr);
    let jobs = jobs_under(&cluster);
    assert!(jobs.iter().all(|(_, state, _)| state == "COMPLETED"), "{jobs:?}");

    let (here, there) = (artifacts(local), artifacts(&cluster));
    assert_eq!(here.keys().collect::<Vec<_>>(), there.keys().collect::<Vec<_>>(), "the same identities");
    assert_eq!(jobs.len(), there.len(), "one job per node: {jobs:?}");
    for (identity, files) in &here {
        assert_eq!(files, &there[identity], "the artifact {identity} differs between the executors");
    }
    assert!(here.values().any(|f| f.contains_key("model.safetensors")), "model weights compared: {here:?}");

    let again = branch.run(d);
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert!(again.stderr.contains("slurm: 0 jobs submitted") && again.stderr.contains(" 0 sbatch"), "{}", again.stderr);
    assert_eq!(jobs_under(&cluster).len(), jobs.len());
}

#[test]
fn a_failing_node_ends_failed_with_its_log_and_its_dependents_are_cancelled() {
    if !slurm() {
        return;
    }
    let d = Dir::new();
    small_study(&d, "{\"id\":\"j1\",\"body\":\"fine\"}\n{\"id\":\"j2\" broken\n", "");
    let out = run(&d, &[]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("ended FAILED"), "{}", out.stderr);
    // The job's log, shown with the failure.
    assert!(out.stderr.contains("| failed: ") && out.stderr.contains("data/ja.jsonl:2: not JSON"), "{}", out.stderr);
    let status = exp_with_env(d.path(), &["status", "--store", ".exp"], &[]);
    let row = |name: &str| -> String {
        status.stdout.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_default().to_string()
    };
    assert!(row("ja").contains("FAILED") && row("en").contains("COMPLETED"), "{}", status.stdout);
    assert!(row("both").contains("CANCELLED"), "the dependent's job is cancelled: {}", status.stdout);
    let jobs = jobs_under(d.path());
    assert!(jobs.iter().all(|(_, s, _)| s != "PENDING"), "nothing left pending: {jobs:?}");
    let log = exp_with_env(d.path(), &["log", "study.med", "ja"], &[]);
    assert!(log.stdout.contains("exp job: ja (jsonl)") && log.stdout.contains("not JSON"), "{}", log.stdout);
    let show = exp_with_env(d.path(), &["show", "study.med", "ja"], &[]);
    assert!(show.stdout.contains("slurm job ") && show.stdout.contains("FAILED"), "{}", show.stdout);
}

/// Slurm counts a dependency on a job it has forgotten as met, so a job checks its inputs
/// itself: one whose input is not in the store fails at once, computing nothing.
#[test]
fn a_job_whose_input_is_not_published_fails_at_once() {
    if !slurm() {
        return;
    }
    let d = Dir::new();
    small_study(&d, JA, "");
    let out = run(&d, &[]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    // The mixture's job again, after its input `en` and itself left the store.
    let shown = |node: &str| exp_with_env(d.path(), &["show", "study.med", node], &[]).stdout;
    let object = |shown: &str| -> std::path::PathBuf {
        let line = shown.lines().find_map(|l| l.strip_prefix("stored at ")).expect("stored");
        d.path().join(line.split(" (").next().expect("a path"))
    };
    let (en, both) = (object(&shown("en")), object(&shown("both")));
    std::fs::remove_dir_all(en).expect("remove en");
    std::fs::remove_dir_all(both).expect("remove both");
    let script = d.path().join(".exp/logs/1/both.sh");
    let job = Command::new("bash").arg(&script).current_dir(d.path()).output().expect("the job script runs");
    let stderr = String::from_utf8_lossy(&job.stderr);
    assert_eq!(job.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("input `en` (") && stderr.contains("is not published in the store"), "{stderr}");
    assert!(!shown("both").contains("stored at"), "nothing computed");
}

/// One run, two ends Slurm decides: a node over its time limit (TIMEOUT) and one cancelled
/// from outside with `scancel` (CANCELLED).
#[test]
fn a_job_over_its_time_limit_ends_timeout_and_one_cancelled_outside_is_cancelled() {
    if !slurm() {
        return;
    }
    let d = Dir::new();
    small_study(&d, JA, "[nodes.en]\ntime = \"1\"\nsetup = [\"sleep 600\"]\n[nodes.ja]\nsetup = [\"sleep 600\"]\n");
    let driver = start_driver(&d, &["--keep-going"]);
    let ja = running_job(d.path(), "/ja.sh", Duration::from_secs(60));
    let cancelled = Command::new("scancel").arg(ja.to_string()).status().expect("scancel runs");
    assert!(cancelled.success());
    let out = driver.wait_with_output().expect("the driver ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("job {ja} ended CANCELLED")), "{stderr}");
    assert!(stderr.contains("ended TIMEOUT"), "{stderr}");
    let status = exp_with_env(d.path(), &["status", "--store", ".exp"], &[]);
    assert!(status.stdout.contains("TIMEOUT") && status.stdout.contains("CANCELLED"), "{}", status.stdout);
}

/// Ctrl-C cancels the run's jobs and exits with 130.
#[test]
fn ctrl_c_cancels_the_runs_jobs() {
    if !slurm() {
        return;
    }
    let d = Dir::new();
    small_study(&d, JA, "[nodes.ja]\nsetup = [\"sleep 600\"]\n");
    let driver = start_driver(&d, &[]);
    let ja = running_job(d.path(), "/ja.sh", Duration::from_secs(60));
    let sent = Command::new("kill").args(["-INT", &driver.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let out = driver.wait_with_output().expect("the driver ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("… ja cancelled"), "{stderr}");
    // The sleeping job and the mixture waiting for it are Slurm's no more. (A cancelled
    // job whose processes have not yet all exited is COMPLETING until Slurm's KillWait.)
    let started = Instant::now();
    while jobs_under(d.path()).iter().any(|(_, state, _)| state == "RUNNING" || state == "PENDING") {
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", jobs_under(d.path()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let ended = jobs_under(d.path());
    let cancelled = |state: &str| state == "CANCELLED" || state == "COMPLETING";
    assert!(ended.iter().any(|(id, state, _)| *id == ja && cancelled(state)), "{ended:?}");
}

/// A driver killed outright leaves its jobs running; the next run finds them and waits
/// for them instead of submitting them again.
#[test]
fn a_driver_killed_mid_run_is_followed_by_one_that_reattaches() {
    if !slurm() {
        return;
    }
    let d = Dir::new();
    small_study(&d, JA, "[nodes.ja]\nsetup = [\"sleep 6\"]\n");
    let mut driver = start_driver(&d, &[]);
    let ja = running_job(d.path(), "/ja.sh", Duration::from_secs(60));
    driver.kill().expect("kill -9");
    driver.wait().expect("reaped");
    let out = run(&d, &[]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("↺ ja: job {ja}, submitted earlier")), "{}", out.stderr);
    // en (done or running when killed), ja and the mixture: three jobs in all.
    let jobs = jobs_under(d.path());
    assert_eq!(jobs.len(), 3, "each node submitted once: {jobs:?}");
    let status = exp_with_env(d.path(), &["status", "--store", ".exp"], &[]);
    assert!(status.stdout.contains("found running, waited for"), "{}", status.stdout);
}

/// slurmd restarted while a job runs: the job (its slurmstepd is not slurmd's child)
/// finishes, and so does the run.
#[test]
fn slurmd_restarted_during_a_job_and_the_run_completes() {
    if !slurm() {
        return;
    }
    let conf = std::path::PathBuf::from(std::env::var_os("SLURM_CONF").expect("SLURM_CONF is set where Slurm answers"));
    let dir = conf.parent().expect("the test Slurm's folder").to_path_buf();
    let d = Dir::new();
    small_study(&d, JA, "[nodes.ja]\nsetup = [\"sleep 4\"]\n");
    let driver = start_driver(&d, &[]);
    let ja = running_job(d.path(), "/ja.sh", Duration::from_secs(60));
    let restarted = Command::new(root().join(".ci/slurm")).arg("restart-slurmd").arg(&dir).output().expect("runs");
    assert!(restarted.status.success(), "{}", String::from_utf8_lossy(&restarted.stderr));
    let out = driver.wait_with_output().expect("the driver ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let jobs = jobs_under(d.path());
    assert!(jobs.iter().any(|(id, state, _)| *id == ja && state == "COMPLETED"), "{jobs:?}");
    let verify = exp_with_env(d.path(), &["verify", "--store", ".exp"], &[]);
    assert!(verify.stdout.contains("verified 3 artifact(s): 3 intact"), "{}", verify.stdout);
}

#[test]
fn two_drivers_at_once_compute_each_node_once() {
    if !slurm() {
        return;
    }
    let d = Dir::new();
    small_study(&d, JA, "setup = [\"sleep 2\"]\n");
    let (a, b) = (start_driver(&d, &[]), start_driver(&d, &[]));
    let (a, b) = (a.wait_with_output().expect("a ends"), b.wait_with_output().expect("b ends"));
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(a.status.success() && b.status.success(), "{}\n{}", text(&a), text(&b));
    let jobs = jobs_under(d.path());
    assert_eq!(jobs.len(), 3, "each node submitted once: {jobs:?}\n{}\n{}", text(&a), text(&b));
    let submitted = |o: &std::process::Output| text(o).lines().filter(|l| l.starts_with("→ ")).count();
    assert_eq!(submitted(&a) + submitted(&b), 3, "{}\n{}", text(&a), text(&b));
}

#[test]
fn slurm_not_reachable_is_a_clear_error() {
    let d = Dir::new();
    small_study(&d, JA, "");
    // No Slurm commands at all.
    let out = exp_with_env(d.path(), &["run", "--executor", "slurm", "study.med"], &[("PATH", "/nonexistent")]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot reach Slurm: cannot run `squeue`"), "{}", out.stderr);
    // A configuration naming no file.
    let out =
        exp_with_env(d.path(), &["run", "--executor", "slurm", "study.med"], &[("SLURM_CONF", "/nowhere/slurm.conf")]);
    assert!(out.stderr.contains("SLURM_CONF names `/nowhere/slurm.conf`, which is not a file"), "{}", out.stderr);
    if !slurm() {
        return;
    }
    // A controller that does not answer: the port of nothing.
    let conf = std::fs::read_to_string(std::env::var("SLURM_CONF").expect("SLURM_CONF is set where Slurm answers"))
        .expect("slurm.conf");
    d.write("dead.conf", format!("{conf}\nSlurmctldPort=9\n"));
    let dead = d.path().join("dead.conf");
    let out = exp_with_env(
        d.path(),
        &["run", "--executor", "slurm", "study.med"],
        &[("SLURM_CONF", dead.to_str().expect("UTF-8"))],
    );
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot reach Slurm: `squeue --me` failed"), "{}", out.stderr);
    assert!(out.stderr.contains("Unable to contact slurm controller"), "{}", out.stderr);
    assert!(!d.path().join(".exp/logs/1").exists(), "nothing submitted, no run recorded");
}

/// Executor settings never enter an identity, and `plan` shows each node's job.
#[test]
fn the_same_graph_planned_locally_and_on_slurm_has_the_same_identities() {
    let d = Dir::new();
    small_study(&d, JA, "partition = \"debug\"\ntime = \"2:00:00\"\n[kinds.mix]\nmem = \"2G\"\n");
    let ids = |out: &Output| -> Vec<String> {
        out.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("run "))
            .map(|l| l.split_whitespace().nth(3).expect("an identity").to_string())
            .collect()
    };
    let local = exp_with_env(d.path(), &["plan", "study.med"], &[]);
    let slurm = exp_with_env(d.path(), &["plan", "--executor", "slurm", "study.med"], &[]);
    assert_eq!(slurm.status, 0, "{}", slurm.stderr);
    assert_eq!(ids(&local).len(), 3, "{}", local.stdout);
    assert_eq!(ids(&local), ids(&slurm));
    assert!(
        slurm.stdout.contains("↳ sbatch --partition=debug --time=2:00:00 --cpus-per-task=1 --mem=2G"),
        "{}",
        slurm.stdout
    );
}
