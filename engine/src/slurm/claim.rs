//! Claims: which driver submits a node, across hosts sharing a store over NFS.
//!
//! The local executor's per-identity lock is an OS file lock, released by the kernel when
//! its process dies; over NFS such locks depend on the server's lock manager and the
//! client's mount options, so the Slurm executor does not rely on them. A driver claims a
//! node by creating `claims/<identity>.json` with `O_CREAT | O_EXCL` (`create_new`),
//! atomic on local file systems and on NFSv3 and later: of two drivers, exactly one
//! creates it. The file names its holder (host, pid, run) and, once `sbatch` answered, the
//! job. Another driver finding a claim waits for that job instead of submitting its own.
//! Whether a holder is gone is decided from what survives it: the job's state in Slurm
//! (a claim whose job Slurm no longer runs is stale) and, before the job id is written, the
//! holder's pid on its own host. A stale claim is moved aside by `rename` (one driver
//! wins) and compared with what was judged stale before it is deleted.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A claim older than this without a job id is stale even if its holder's host cannot be
/// checked: submitting a job takes seconds, not minutes.
const UNSUBMITTED_FOR_S: i64 = 600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub run: i64,
    /// Set once `sbatch` gave it.
    pub job: Option<u64>,
    /// When the claim was made (seconds since the epoch).
    pub at: i64,
}

impl Holder {
    pub fn me(run: i64) -> Holder {
        Holder {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            run,
            job: None,
            at: crate::clock::now_s(),
        }
    }

    fn same_driver(&self, other: &Holder) -> bool {
        (self.host.as_str(), self.pid, self.run) == (other.host.as_str(), other.pid, other.run)
    }

    /// Without a job: whether the holder is certainly gone (a dead pid on this host, or
    /// too old to be still submitting).
    pub fn abandoned(&self) -> bool {
        let here = gethostname::gethostname().to_string_lossy().into_owned();
        let dead_here = self.host == here && !Path::new(&format!("/proc/{}", self.pid)).exists();
        dead_here || crate::clock::now_s() - self.at > UNSUBMITTED_FOR_S
    }
}

/// What [`take`] found.
pub enum Taken {
    /// The claim is ours: submit.
    Mine,
    /// Another driver (or an earlier run of ours) holds it; `bytes` is the file as read,
    /// for [`break_stale`].
    Held { holder: Holder, bytes: Vec<u8> },
}

pub fn path(store: &Path, identity: &str) -> PathBuf {
    store.join("claims").join(format!("{identity}.json"))
}

/// Claims `identity` for `me`, unless someone holds it.
pub fn take(store: &Path, identity: &str, me: &Holder) -> std::io::Result<Taken> {
    let path = path(store, identity);
    fs::create_dir_all(path.parent().expect("claims/ has a parent"))?;
    match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => {
            f.write_all(&serde_json::to_vec(me).expect("a holder serialises"))?;
            f.sync_all()?;
            Ok(Taken::Mine)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Holder>(&bytes) {
                Ok(holder) => Ok(Taken::Held { holder, bytes }),
                // Created but not yet written (or written by a crashed holder): judged on
                // age, like a claim without a job.
                Err(_) => Ok(Taken::Held {
                    holder: Holder { host: String::new(), pid: 0, run: 0, job: None, at: modified_s(&path) },
                    bytes,
                }),
            },
            // Removed between the two calls: try again next time.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => take(store, identity, me),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Records the job of a claim we hold (written aside, then renamed over it).
pub fn set_job(store: &Path, identity: &str, holder: &Holder) -> std::io::Result<()> {
    let path = path(store, identity);
    let aside = path.with_extension(format!("json.{}", std::process::id()));
    let mut f = fs::File::create(&aside)?;
    f.write_all(&serde_json::to_vec(holder).expect("a holder serialises"))?;
    f.sync_all()?;
    fs::rename(&aside, &path)
}

/// Who holds `identity`, if anyone.
pub fn holder(store: &Path, identity: &str) -> Option<Holder> {
    serde_json::from_slice(&fs::read(path(store, identity)).ok()?).ok()
}

/// Gives up a claim, only if it is still ours (a later driver may have replaced it).
pub fn release(store: &Path, identity: &str, me: &Holder) {
    if holder(store, identity).is_some_and(|h| h.same_driver(me)) {
        fs::remove_file(path(store, identity)).ok();
    }
}

/// Removes a claim judged stale when it read as `seen`. Returns whether it did; a claim
/// that changed since (a new holder took it meanwhile) is put back.
pub fn break_stale(store: &Path, identity: &str, seen: &[u8]) -> bool {
    let path = path(store, identity);
    let aside = path.with_extension(format!("stale.{}.{}", std::process::id(), crate::clock::now_ns()));
    if fs::rename(&path, &aside).is_err() {
        return false; // another driver moved it first
    }
    if fs::read(&aside).is_ok_and(|b| b == seen) {
        fs::remove_file(&aside).ok();
        return true;
    }
    // Not what we judged: restore it unless yet another claim exists by now.
    if fs::hard_link(&aside, &path).is_ok() {
        fs::remove_file(&aside).ok();
    }
    false
}

fn modified_s(path: &Path) -> i64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn one_of_two_drivers_claims_a_node_and_the_other_sees_its_job() {
        let dir = tempfile::tempdir().expect("temp");
        let mut a = Holder::me(1);
        let b = Holder { pid: a.pid + 1, ..Holder::me(2) };
        assert!(matches!(take(dir.path(), ID, &a).expect("take"), Taken::Mine));
        assert!(matches!(take(dir.path(), ID, &b).expect("take"), Taken::Held { holder, .. } if holder.job.is_none()));
        a.job = Some(17);
        set_job(dir.path(), ID, &a).expect("set job");
        let Taken::Held { holder, bytes } = take(dir.path(), ID, &b).expect("take") else { panic!("held") };
        assert_eq!(holder.job, Some(17));
        // b may not release a's claim; a stale judgement on old bytes breaks nothing.
        release(dir.path(), ID, &b);
        assert!(!break_stale(dir.path(), ID, b"{}"));
        assert_eq!(super::holder(dir.path(), ID), Some(a.clone()));
        // Judged on what it is now, it goes, and b can claim it.
        assert!(break_stale(dir.path(), ID, &bytes));
        assert!(matches!(take(dir.path(), ID, &b).expect("take"), Taken::Mine));
        release(dir.path(), ID, &b);
        assert!(super::holder(dir.path(), ID).is_none());
    }

    #[test]
    fn a_claim_without_a_job_is_abandoned_when_its_process_is_gone() {
        let mut h = Holder::me(1);
        assert!(!h.abandoned(), "this process is alive");
        h.pid = u32::MAX - 1;
        assert!(h.abandoned());
        let far = Holder { host: "elsewhere".into(), pid: u32::MAX - 1, ..Holder::me(1) };
        assert!(!far.abandoned(), "on another host only age tells");
        assert!(Holder { at: 0, ..far }.abandoned());
    }
}
