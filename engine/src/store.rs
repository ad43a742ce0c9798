//! The content-addressed store: one folder per identity under `objects/`, holding the
//! artifact and its `manifest.json`. An artifact is written into a temporary folder under
//! `tmp/` and renamed into place only when complete and synced, so a killed stage leaves
//! nothing a later run could mistake for a result; leftover temporary folders are removed
//! when the store is next opened and nobody holds their lock.

use crate::identity::{FileId, InputId};
use crate::index::Index;
use crate::lock::NodeLock;
use anyhow::{bail, Context as _};
use exp_dsl::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Named with the artifact formats the stages read: the corpus card follows lineage
/// through manifests (`exp_stages::artifacts::Manifest`).
pub const MANIFEST: &str = exp_stages::artifacts::MANIFEST;
pub const ARTIFACT: &str = "artifact";
pub const LOG: &str = "log.txt";
/// The folders every store has (`open` makes them; a Slurm job checks they are there).
const FOLDERS: [&str; 4] = ["objects", "tmp", "locks", "logs"];

/// Everything known about one stored node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub identity: String,
    pub encoding: String,
    pub kind: String,
    pub version: u32,
    /// The definition that produced it (a label: the same artifact may serve other names).
    pub name: String,
    pub experiment: String,
    pub params: BTreeMap<String, Value>,
    pub inputs: Vec<InputId>,
    pub files: Vec<FileId>,
    pub outputs: Vec<Output>,
    pub metrics: BTreeMap<String, f64>,
    pub started_at: i64,
    pub seconds: f64,
    pub host: String,
    pub exp_version: String,
}

/// One file of an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub path: String,
    pub bytes: u64,
    pub hash: String,
}

pub struct Store {
    pub root: PathBuf,
    /// Behind a mutex so the scheduler's worker threads can share the store. `None` in a
    /// Slurm job: only the driver writes the index (SQLite over NFS from many hosts at
    /// once is not safe), a job only adds files.
    index: Option<Mutex<Index>>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> anyhow::Result<Store> {
        for sub in FOLDERS {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).with_context(|| format!("cannot create the store at `{}`", root.display()))?;
        }
        let probe = root.join("tmp").join(format!(".probe-{}", std::process::id()));
        fs::write(&probe, b"").with_context(|| format!("the store `{}` is not writable", root.display()))?;
        let _ = fs::remove_file(&probe);
        let index = Index::open(&root.join("index.sqlite"))
            .with_context(|| format!("cannot open the store's index `{}`", root.join("index.sqlite").display()))?;
        let store = Store { root: root.to_path_buf(), index: Some(Mutex::new(index)) };
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Opens an existing store for a Slurm job: its files only, never the index.
    pub fn open_files(root: &Path) -> anyhow::Result<Store> {
        for sub in FOLDERS {
            if !root.join(sub).is_dir() {
                bail!(
                    "`{}` is not a store (no `{sub}/`): is the store on a file system this node shares?",
                    root.display()
                );
            }
        }
        Ok(Store { root: root.to_path_buf(), index: None })
    }

    pub fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the index leaves SQLite consistent (transactions roll
        // back), so a poisoned lock is safe to take over.
        self.index
            .as_ref()
            .expect("the store was opened with its index (only a Slurm job opens it without)")
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn object_dir(&self, identity: &str) -> PathBuf {
        self.root.join("objects").join(&identity[..2.min(identity.len())]).join(identity)
    }

    /// Whether a complete artifact of this identity is stored.
    pub fn contains(&self, identity: &str) -> bool {
        self.object_dir(identity).join(MANIFEST).is_file()
    }

    pub fn manifest(&self, identity: &str) -> anyhow::Result<Manifest> {
        let path = self.object_dir(identity).join(MANIFEST);
        let bytes = fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("the manifest `{}` does not parse", path.display()))
    }

    pub fn artifact_dir(&self, identity: &str) -> PathBuf {
        self.object_dir(identity).join(ARTIFACT)
    }

    /// The lock that makes one process compute `identity` at a time.
    pub fn lock(&self, identity: &str) -> std::io::Result<NodeLock> {
        NodeLock::acquire(&self.lock_path(identity))
    }

    fn lock_path(&self, identity: &str) -> PathBuf {
        self.root.join("locks").join(format!("{identity}.lock"))
    }

    /// A fresh temporary folder for computing `identity`, with an empty `artifact/`.
    pub fn temporary(&self, identity: &str) -> std::io::Result<PathBuf> {
        let dir = self.root.join("tmp").join(format!("{identity}.{}.{}", std::process::id(), crate::clock::now_ns()));
        fs::create_dir_all(dir.join(ARTIFACT))?;
        Ok(dir)
    }

    /// Completes a temporary folder: lists and hashes the outputs, writes the manifest,
    /// syncs everything and renames the folder into place. The caller holds the lock.
    pub fn publish(&self, temporary: &Path, mut manifest: Manifest) -> anyhow::Result<Manifest> {
        manifest.outputs = outputs(&temporary.join(ARTIFACT))?;
        let path = temporary.join(MANIFEST);
        let bytes = serde_json::to_vec_pretty(&manifest).context("writing the manifest")?;
        write_synced(&path, &bytes)?;
        sync_tree(temporary)?;
        let target = self.object_dir(&manifest.identity);
        if target.exists() {
            // Complete already (another process, before we took the lock): keep that one.
            fs::remove_dir_all(temporary).ok();
            return Ok(manifest);
        }
        let parent = target.parent().expect("object folders have a parent");
        fs::create_dir_all(parent)?;
        fs::rename(temporary, &target).with_context(|| format!("publishing `{}`", target.display()))?;
        fs::File::open(parent).and_then(|d| d.sync_all()).ok();
        Ok(manifest)
    }

    /// Removes temporary folders of computations that are not running any more.
    fn remove_stale_temporaries(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(identity) = name.split('.').next().filter(|i| i.len() == 64) else { continue };
            if let Ok(Some(_lock)) = NodeLock::try_acquire(&self.lock_path(identity)) {
                fs::remove_dir_all(entry.path()).ok();
            }
        }
    }

    /// Checks a stored artifact's files against its manifest. `Ok(problems)`: empty when
    /// intact.
    pub fn verify(&self, identity: &str) -> anyhow::Result<Vec<String>> {
        let manifest = self.manifest(identity)?;
        let dir = self.artifact_dir(identity);
        let actual = outputs(&dir)?;
        let mut problems = Vec::new();
        for expected in &manifest.outputs {
            match actual.iter().find(|o| o.path == expected.path) {
                None => problems.push(format!("`{}` is missing", expected.path)),
                Some(o) if o.hash != expected.hash => problems.push(format!("`{}` changed", expected.path)),
                Some(_) => {}
            }
        }
        for o in &actual {
            if !manifest.outputs.iter().any(|e| e.path == o.path) {
                problems.push(format!("`{}` was added", o.path));
            }
        }
        Ok(problems)
    }

    /// Moves a damaged artifact out of the way (to `quarantine/`) so it is never served.
    pub fn quarantine(&self, identity: &str) -> anyhow::Result<PathBuf> {
        let target = self.root.join("quarantine").join(format!("{identity}.{}", crate::clock::now_ns()));
        fs::create_dir_all(self.root.join("quarantine"))?;
        fs::rename(self.object_dir(identity), &target)?;
        self.index().forget_node(identity)?;
        Ok(target)
    }

    /// Every identity with a folder under `objects/`.
    pub fn stored(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(self.root.join("objects"))? {
            for entry in fs::read_dir(shard?.path())? {
                out.push(entry?.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a stored node; returns the bytes freed.
    pub fn remove(&self, identity: &str) -> anyhow::Result<u64> {
        let dir = self.object_dir(identity);
        let bytes = tree_size(&dir);
        let _lock = self.lock(identity)?;
        fs::remove_dir_all(&dir).with_context(|| format!("removing `{}`", dir.display()))?;
        self.index().forget_node(identity)?;
        Ok(bytes)
    }
}

/// Every file under `dir`, relative, with size and hash, sorted by path.
pub fn outputs(dir: &Path) -> anyhow::Result<Vec<Output>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("listing `{}`", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).expect("walked from dir").display().to_string();
                let bytes = entry.metadata()?.len();
                out.push(Output { path: rel, bytes, hash: crate::fingerprint::hash_file(&path)? });
            } else {
                bail!("`{}` is neither a file nor a folder; artifacts hold plain files", path.display());
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path).with_context(|| format!("writing `{}`", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// fsyncs every file and folder under `dir` (stages write through buffers; the rename
/// must not publish data still in flight).
fn sync_tree(dir: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            fs::File::open(entry.path())?.sync_all()?;
        }
    }
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn manifest(identity: &str) -> Manifest {
        Manifest {
            identity: identity.to_string(),
            encoding: crate::identity::ENCODING.into(),
            kind: "jsonl".into(),
            version: 1,
            name: "n".into(),
            experiment: "x.med".into(),
            params: BTreeMap::new(),
            inputs: Vec::new(),
            files: Vec::new(),
            outputs: Vec::new(),
            metrics: BTreeMap::new(),
            started_at: 0,
            seconds: 0.0,
            host: "test".into(),
            exp_version: crate::VERSION.into(),
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// The stages read a published manifest with their own type of it (the corpus card):
    /// it reads every field, and writes the same bytes back.
    #[test]
    fn a_published_manifest_reads_as_the_stages_type_of_it() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path()).expect("store");
        let tmp = store.temporary(ID).expect("temporary");
        fs::write(tmp.join(ARTIFACT).join("documents.jsonl"), "{}\n").expect("write");
        let mut m = manifest(ID);
        m.params = BTreeMap::from([
            ("seed".to_string(), Value::Int(7)),
            ("budget".to_string(), Value::Null),
            ("share".to_string(), Value::Float(0.25)),
            ("keep".to_string(), Value::List(vec![Value::Str("cc-by".into())])),
        ]);
        m.inputs = vec![InputId { role: "member".into(), identity: "ab".repeat(32) }];
        m.files = vec![FileId { path: "data/a.jsonl".into(), hash: "cd".repeat(32) }];
        m.metrics = BTreeMap::from([("kept".to_string(), 3.0), ("dropped".to_string(), 1.5)]);
        let published = store.publish(&tmp, m).expect("publish");
        let read: exp_stages::artifacts::Manifest =
            exp_stages::artifacts::read(&store.object_dir(ID)).expect("the stages read it");
        assert_eq!(
            serde_json::to_value(&read).expect("a value"),
            serde_json::to_value(&published).expect("a value"),
            "the two types of manifest.json differ"
        );
        let bytes = fs::read(store.object_dir(ID).join(MANIFEST)).expect("manifest");
        assert_eq!(serde_json::to_vec_pretty(&read).expect("bytes"), bytes);
    }

    #[test]
    fn a_crash_before_publishing_leaves_nothing_served_and_is_cleaned_up() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path()).expect("store");
        // A stage wrote half its output, then the process died before the rename.
        let tmp = store.temporary(ID).expect("temporary");
        fs::write(tmp.join(ARTIFACT).join("documents.jsonl"), "{\"half\":").expect("write");
        assert!(!store.contains(ID), "an unpublished artifact is never served");
        drop(store);
        // The next process finds the leftover, sees nobody holds its lock, removes it.
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).expect("tmp").count(), 0);
        assert!(!store.contains(ID));
        // A complete publication is served, with its outputs listed and hashed.
        let tmp = store.temporary(ID).expect("temporary");
        fs::write(tmp.join(ARTIFACT).join("documents.jsonl"), "{}\n").expect("write");
        let m = store.publish(&tmp, manifest(ID)).expect("publish");
        assert!(store.contains(ID));
        assert_eq!(m.outputs.len(), 1);
        assert_eq!(store.manifest(ID).expect("manifest"), m);
        assert!(store.verify(ID).expect("verify").is_empty());
    }

    #[test]
    fn a_leftover_of_a_running_computation_is_kept() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path()).expect("store");
        let _lock = store.lock(ID).expect("lock");
        let _tmp = store.temporary(ID).expect("temporary");
        let _other = Store::open(dir.path()).expect("second opener");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).expect("tmp").count(), 1);
    }

    #[test]
    fn the_second_of_two_concurrent_computations_waits_then_reuses() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let first = store.lock(ID).expect("lock");
        let waited = Arc::new(AtomicBool::new(false));
        let (s2, w2) = (store.clone(), waited.clone());
        let second = std::thread::spawn(move || {
            let _lock = s2.lock(ID).expect("lock");
            w2.store(true, Ordering::SeqCst);
            s2.contains(ID)
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!waited.load(Ordering::SeqCst), "the second computation waits for the lock");
        let tmp = store.temporary(ID).expect("temporary");
        store.publish(&tmp, manifest(ID)).expect("publish");
        drop(first);
        assert!(second.join().expect("thread"), "after the wait, it finds the artifact");
    }

    #[test]
    fn a_manifest_that_does_not_parse_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path()).expect("store");
        let obj = store.object_dir(ID);
        fs::create_dir_all(&obj).expect("dir");
        fs::write(obj.join(MANIFEST), "{ not json").expect("write");
        let err = format!("{:#}", store.manifest(ID).expect_err("bad manifest"));
        assert!(err.contains("does not parse") && err.contains(MANIFEST), "{err}");
        assert!(!store.verify(ID).is_ok_and(|p| p.is_empty()));
    }
}
