//! Slurm's own commands, called the way a careful user would: `sbatch --parsable` to
//! submit, one `squeue` for all of a run's jobs per poll (never one call per job), `sacct`
//! for jobs `squeue` has forgotten, one `scancel` for many jobs. Every call is counted,
//! so a run can say how hard it pressed on the controller.

use anyhow::{bail, Context as _};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A job's state as Slurm names it (`squeue -o %T`, `sacct -o State`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    /// Preempted: requeued (it becomes pending again) or, on clusters that cancel on
    /// preemption, its end. Not a failure while Slurm still shows it.
    Preempted,
    Requeued,
    Completed,
    Failed,
    Timeout,
    OutOfMemory,
    Cancelled,
    NodeFail,
    BootFail,
    Deadline,
    Other(String),
}

impl State {
    pub fn parse(text: &str) -> State {
        // `sacct` says `CANCELLED by 0`; a requeue may show `REQUEUE_HOLD`.
        match text.split_whitespace().next().unwrap_or("") {
            "PENDING" => State::Pending,
            "CONFIGURING" => State::Configuring,
            "RUNNING" => State::Running,
            "COMPLETING" => State::Completing,
            "SUSPENDED" => State::Suspended,
            "PREEMPTED" => State::Preempted,
            "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => State::Requeued,
            "COMPLETED" => State::Completed,
            "FAILED" => State::Failed,
            "TIMEOUT" => State::Timeout,
            "OUT_OF_MEMORY" => State::OutOfMemory,
            "CANCELLED" => State::Cancelled,
            "NODE_FAIL" => State::NodeFail,
            "BOOT_FAIL" => State::BootFail,
            "DEADLINE" => State::Deadline,
            other => State::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            State::Pending => "PENDING",
            State::Configuring => "CONFIGURING",
            State::Running => "RUNNING",
            State::Completing => "COMPLETING",
            State::Suspended => "SUSPENDED",
            State::Preempted => "PREEMPTED",
            State::Requeued => "REQUEUED",
            State::Completed => "COMPLETED",
            State::Failed => "FAILED",
            State::Timeout => "TIMEOUT",
            State::OutOfMemory => "OUT_OF_MEMORY",
            State::Cancelled => "CANCELLED",
            State::NodeFail => "NODE_FAIL",
            State::BootFail => "BOOT_FAIL",
            State::Deadline => "DEADLINE",
            State::Other(s) => s,
        }
    }

    /// Still Slurm's to finish: waiting, starting, running, ending, or preempted and
    /// requeued.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            State::Pending
                | State::Configuring
                | State::Running
                | State::Completing
                | State::Suspended
                | State::Preempted
                | State::Requeued
        )
    }
}

/// What Slurm says of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub state: State,
    /// As Slurm prints it: `1:12`, `2-03:04:05`.
    pub elapsed: String,
    /// Why it waits or ended (`Dependency`, `TimeLimit`, `NonZeroExitCode`…), if Slurm says.
    pub reason: String,
}

/// How many times each command was called.
#[derive(Debug, Default)]
pub struct Calls {
    pub sbatch: AtomicUsize,
    pub squeue: AtomicUsize,
    pub sacct: AtomicUsize,
    pub scancel: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct Slurm {
    pub calls: Calls,
}

impl Slurm {
    /// Checks that Slurm's commands are here and the controller answers: one `squeue`.
    pub fn connect() -> anyhow::Result<Slurm> {
        if let Ok(conf) = std::env::var("SLURM_CONF") {
            if !Path::new(&conf).is_file() {
                bail!("cannot reach Slurm: SLURM_CONF names `{conf}`, which is not a file");
            }
        }
        let slurm = Slurm::default();
        // This user's jobs: the controller filters them, so the probe is cheap on a busy cluster.
        let out = slurm.call("squeue", &["--noheader", "--format=%i", "--me"]).map_err(|e| {
            anyhow::anyhow!("cannot reach Slurm: {e:#}; the Slurm executor needs Slurm's commands (sbatch, squeue, scancel) on PATH")
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!(
                "cannot reach Slurm: `squeue --me` failed: {}{}",
                stderr.trim(),
                std::env::var("SLURM_CONF").map(|c| format!(" (SLURM_CONF={c})")).unwrap_or_default()
            );
        }
        Ok(slurm)
    }

    fn call(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let counter = match program {
            "sbatch" => &self.calls.sbatch,
            "squeue" => &self.calls.squeue,
            "sacct" => &self.calls.sacct,
            _ => &self.calls.scancel,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Command::new(program).args(args).output().with_context(|| format!("cannot run `{program}`"))
    }

    /// Submits `script` (its `#SBATCH` lines carry the job's options) after the jobs in
    /// `after` succeed; a dependency that can never be met cancels the job rather than
    /// leaving it pending.
    pub fn submit(&self, script: &Path, after: &[u64]) -> anyhow::Result<u64> {
        let mut args = vec!["--parsable".to_string(), "--kill-on-invalid-dep=yes".to_string()];
        if !after.is_empty() {
            let ids: Vec<String> = after.iter().map(u64::to_string).collect();
            args.push(format!("--dependency=afterok:{}", ids.join(":")));
        }
        args.push(script.display().to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.call("sbatch", &refs)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("sbatch refused the job: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        // `--parsable` prints `id` or `id;cluster`.
        let id = stdout.trim().split(';').next().unwrap_or("");
        id.parse().with_context(|| format!("sbatch printed `{}`, not a job id", stdout.trim()))
    }

    /// The state of each of `jobs` that Slurm still knows, in one `squeue`. Finished jobs
    /// are shown until `MinJobAge` (300 s by default), then forgotten: absent here.
    pub fn states(&self, jobs: &[u64]) -> anyhow::Result<HashMap<u64, Job>> {
        if jobs.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = jobs.iter().map(u64::to_string).collect();
        let list = format!("--jobs={}", ids.join(","));
        let out = self.call("squeue", &["--noheader", "--states=all", "--format=%i|%T|%M|%r", &list])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            // Every id forgotten: squeue says so and exits 1.
            if stderr.contains("Invalid job id") {
                return Ok(HashMap::new());
            }
            bail!("`squeue` failed: {}", stderr.trim());
        }
        Ok(parse_table(&String::from_utf8_lossy(&out.stdout)))
    }

    /// How forgotten jobs ended, from accounting (`sacct`), or where a cluster has no
    /// accounting database, from the job completion log (`sacct -c`). Jobs neither knows
    /// are absent.
    pub fn final_states(&self, jobs: &[u64]) -> HashMap<u64, Job> {
        if jobs.is_empty() {
            return HashMap::new();
        }
        let ids: Vec<String> = jobs.iter().map(u64::to_string).collect();
        let list = format!("--jobs={}", ids.join(","));
        let base = ["--noheader", "--parsable2", "--format=JobID,State,Elapsed,Reason", list.as_str()];
        for completion_log in [false, true] {
            let mut args: Vec<&str> = base.to_vec();
            if completion_log {
                args.insert(0, "--completion");
                // The completion log has no Reason field.
                args[3] = "--format=JobID,State,Elapsed";
            }
            let Ok(out) = self.call("sacct", &args) else { return HashMap::new() };
            if out.status.success() {
                return parse_table(&String::from_utf8_lossy(&out.stdout));
            }
        }
        HashMap::new()
    }

    /// Cancels jobs, in one call.
    pub fn cancel(&self, jobs: &[u64]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = jobs.iter().map(u64::to_string).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let out = self.call("scancel", &refs)?;
        if !out.status.success() {
            bail!("scancel failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

/// `id|STATE|elapsed|reason` lines; a job listed twice (a requeue, job steps in `sacct`)
/// keeps its last line, and steps (`12.batch`) are skipped.
fn parse_table(text: &str) -> HashMap<u64, Job> {
    let mut jobs = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split('|');
        let Some(Ok(id)) = fields.next().map(|f| f.trim().parse::<u64>()) else { continue };
        let state = State::parse(fields.next().unwrap_or(""));
        let elapsed = fields.next().unwrap_or("").to_string();
        let reason = fields.next().unwrap_or("").to_string();
        jobs.insert(id, Job { state, elapsed, reason });
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_and_sacct_lines_parse_with_the_last_record_winning() {
        let jobs = parse_table(
            "12|RUNNING|1:02|None\n13|PENDING|0:00|Dependency\n12.batch|COMPLETED|1:02|\n\
             14|CANCELLED by 0|0:00|\n14|PENDING|0:00|BeginTime\n15|OUT_OF_MEMORY|0:09|\n",
        );
        assert_eq!(jobs[&12].state, State::Running);
        assert_eq!(jobs[&13].reason, "Dependency");
        assert_eq!(jobs[&14].state, State::Pending, "a requeue adds a record; the last one counts");
        assert_eq!(jobs[&15].state, State::OutOfMemory);
        assert!(State::parse("PREEMPTED").is_live() && !State::parse("TIMEOUT").is_live());
        assert_eq!(State::parse("CANCELLED by 0").as_str(), "CANCELLED");
    }
}
