//! The Slurm executor: every node to compute becomes a Slurm job running `exp job` on a
//! compute node, against a store on a file system the cluster shares.
//!
//! - `settings.rs`: the settings file (`slurm.toml`): partition, account, time limits per
//!   kind or node, extra `sbatch` options, jobs in flight, poll interval.
//! - `script.rs`: a node's `sbatch` options (from its stage's `Resources`) and its job
//!   script (minijinja), kept under `logs/<run>/` with the job's output.
//! - `client.rs`: `sbatch`, one batched `squeue` per poll, `sacct`, `scancel`; job states.
//! - `claim.rs`: which driver submits a node, across hosts, without OS file locks.
//! - `driver.rs`: the driver loop on the submitting host.
//! - `job.rs`: the compute-node side (`exp job`).
//!
//! Nothing here enters an identity: a node computed by a job is the node computed here.

pub mod claim;
pub mod client;
pub mod driver;
pub mod job;
pub mod script;
pub mod settings;

pub use client::Slurm;
pub use settings::Settings;

/// What a Slurm run asked of Slurm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Jobs this run submitted.
    pub submitted: usize,
    /// Jobs of an earlier (or another) driver this run found running and waited for.
    pub reattached: usize,
    pub sbatch: usize,
    pub squeue: usize,
    pub sacct: usize,
    pub scancel: usize,
}
