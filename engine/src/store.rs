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
/// blake3 of `manifest.json`'s bytes, so `exp verify` finds a changed manifest too (one
/// that still parses, with a flipped digit in a metric, say).
pub const MANIFEST_HASH: &str = "manifest.blake3";
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
    /// What opening found wrong with the index and did about it (the commands say so).
    pub repaired: Option<String>,
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
        let path = root.join(INDEX);
        let cannot = || format!("cannot open the store's index `{}`", path.display());
        let sound = match Index::open(&path) {
            Ok(index) => !index.has_no_nodes()? || !has_objects(root),
            Err(e) if Index::is_damaged(&e) => false,
            Err(e) => return Err(e).with_context(cannot),
        };
        let mut repaired = None;
        if !sound {
            // The index is damaged, or lost while artifacts remain: one process repairs
            // it, and one waiting meanwhile finds it repaired.
            let _lock = NodeLock::acquire(&root.join("locks").join("index.lock"))?;
            let damaged = match Index::open(&path) {
                Ok(_) => None,
                Err(e) if Index::is_damaged(&e) => Some(move_aside(&path, &e)?),
                Err(e) => return Err(e).with_context(cannot),
            };
            let store =
                Store { root: root.to_path_buf(), repaired: None, index: Some(Mutex::new(Index::open(&path)?)) };
            if damaged.is_some() || store.index().has_no_nodes()? {
                let rebuilt = store.rebuild_index()?;
                let why = damaged.unwrap_or_else(|| "lost".into());
                repaired = Some(format!("the store's index {why}; rebuilt from the manifests: {rebuilt}"));
            }
        }
        let index = Index::open(&path).with_context(cannot)?;
        let store = Store { root: root.to_path_buf(), repaired, index: Some(Mutex::new(index)) };
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Records every stored node in the index from its manifest (nodes, lineage, metrics,
    /// and a definition for each experiment and name that has none), after checking the
    /// artifact against its manifest: a manifest that does not read, or disagrees with
    /// its artifact, is quarantined and never served. What only runs recorded (their
    /// history, per-step metrics, Slurm jobs) is not in any manifest and stays lost.
    pub fn rebuild_index(&self) -> anyhow::Result<Rebuilt> {
        let mut rebuilt = Rebuilt::default();
        let mut good = Vec::new();
        for identity in self.stored()? {
            let _lock = self.lock(&identity)?;
            let checked = self.manifest(&identity).and_then(|m| {
                let problems = self.verify(&identity)?;
                Ok(if m.identity != identity {
                    Err("its manifest is another node's".to_string())
                } else if problems.is_empty() {
                    Ok(m)
                } else {
                    Err(problems.join(", "))
                })
            });
            match checked {
                Ok(Ok(m)) => good.push(m),
                Ok(Err(why)) => rebuilt.quarantined.push((identity.clone(), why, self.quarantine(&identity)?)),
                Err(e) => rebuilt.quarantined.push((identity.clone(), format!("{e:#}"), self.quarantine(&identity)?)),
            }
        }
        let names: BTreeMap<&str, &str> = good.iter().map(|m| (m.identity.as_str(), m.name.as_str())).collect();
        // The newest manifest of each definition is what its experiment last ran.
        let mut newest: BTreeMap<(&str, &str), &Manifest> = BTreeMap::new();
        let index = self.index();
        for m in &good {
            let inputs: Vec<(String, String)> = m.inputs.iter().map(|i| (i.role.clone(), i.identity.clone())).collect();
            let metrics: Vec<(String, Option<u64>, f64)> =
                m.metrics.iter().map(|(k, v)| (k.clone(), None, *v)).collect();
            let bytes = m.outputs.iter().map(|o| o.bytes).sum();
            let params = serde_json::to_string(&m.params)?;
            index.put_node(&m.identity, &m.kind, m.version, &m.name, &params, &inputs, bytes, m.seconds, &metrics)?;
            let slot = newest.entry((m.experiment.as_str(), m.name.as_str())).or_insert(m);
            if m.started_at > slot.started_at {
                *slot = m;
            }
        }
        for ((experiment, _), m) in &newest {
            let inputs: Vec<serde_json::Value> = m
                .inputs
                .iter()
                .map(|i| serde_json::json!({ "role": i.role, "name": names.get(i.identity.as_str()).unwrap_or(&"?"), "identity": i.identity }))
                .collect();
            let record = crate::index::DefinitionRecord {
                name: m.name.clone(),
                identity: m.identity.clone(),
                kind: m.kind.clone(),
                version: m.version,
                params: serde_json::to_string(&m.params)?,
                inputs: serde_json::to_string(&inputs)?,
                files: serde_json::to_string(&m.files)?,
            };
            index.restore_definition(experiment, &record)?;
        }
        rebuilt.nodes = good.len();
        rebuilt.definitions = newest.len();
        Ok(rebuilt)
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
        Ok(Store { root: root.to_path_buf(), repaired: None, index: None })
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
        write_synced(&temporary.join(MANIFEST_HASH), blake3::hash(&bytes).to_hex().as_bytes())?;
        sync_tree(temporary)?;
        let target = self.object_dir(&manifest.identity);
        if target.exists() {
            // Complete already (another process, before we took the lock): keep that one.
            fs::remove_dir_all(temporary).ok();
            return Ok(manifest);
        }
        let parent = target.parent().expect("object folders have a parent");
        fs::create_dir_all(parent)?;
        exp_stages::faults::point("publish");
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
        // Stores from before the manifest's hash was kept have none to compare with.
        if let Ok(expected) = fs::read(self.object_dir(identity).join(MANIFEST_HASH)) {
            let bytes = fs::read(self.object_dir(identity).join(MANIFEST))?;
            if blake3::hash(&bytes).to_hex().as_bytes() != expected.as_slice() {
                problems.push(format!("`{MANIFEST}` changed"));
            }
        }
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

/// The index's file in a store.
pub const INDEX: &str = "index.sqlite";

/// What [`Store::rebuild_index`] did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub nodes: usize,
    pub definitions: usize,
    /// (identity, what was wrong, where it went).
    pub quarantined: Vec<(String, String, PathBuf)>,
}

impl std::fmt::Display for Rebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} nodes, {} definitions", self.nodes, self.definitions)?;
        if !self.quarantined.is_empty() {
            write!(f, "; {} quarantined", self.quarantined.len())?;
            for (identity, why, to) in &self.quarantined {
                write!(f, "\n  {}: {why}; moved to {}", &identity[..12.min(identity.len())], to.display())?;
            }
        }
        Ok(())
    }
}

/// Whether any artifact folder is under `objects/`.
fn has_objects(root: &Path) -> bool {
    let Ok(shards) = fs::read_dir(root.join("objects")) else { return false };
    shards.flatten().any(|s| fs::read_dir(s.path()).is_ok_and(|mut d| d.next().is_some()))
}

/// Moves a damaged index (and its WAL files) aside, kept for whoever wants to look;
/// returns what happened, in words.
fn move_aside(path: &Path, e: &rusqlite::Error) -> anyhow::Result<String> {
    let aside = path.with_extension(format!("sqlite.damaged-{}", crate::clock::now_ns()));
    fs::rename(path, &aside).with_context(|| format!("moving the damaged index `{}` aside", path.display()))?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            fs::rename(&side, PathBuf::from(format!("{}{suffix}", aside.display()))).ok();
        }
    }
    Ok(format!("was damaged ({e}) and is kept as `{}`", aside.display()))
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

    /// Publishes a two-file artifact under `id`, recorded in the index as a run would.
    fn stored(store: &Store, id: &str, text: &str) -> Manifest {
        let tmp = store.temporary(id).expect("temporary");
        fs::write(tmp.join(ARTIFACT).join("documents.jsonl"), text).expect("write");
        fs::create_dir_all(tmp.join(ARTIFACT).join("sub")).expect("mkdir");
        fs::write(tmp.join(ARTIFACT).join("sub/composition.json"), "{\"total\": 3}\n").expect("write");
        let mut m = manifest(id);
        m.metrics = BTreeMap::from([("kept".to_string(), 3.0)]);
        let m = store.publish(&tmp, m).expect("publish");
        let metrics = [("kept".to_string(), None, 3.0)];
        store.index().put_node(id, "jsonl", 1, "n", "{}", &[], 10, 0.5, &metrics).expect("recorded");
        m
    }

    /// Every byte of an artifact's files and of its manifest, flipped one bit at a time
    /// (every 7th byte, so the test stays quick), is found by `verify`.
    #[test]
    fn every_flipped_byte_of_an_artifact_or_its_manifest_is_found() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path()).expect("store");
        stored(&store, ID, "{\"id\":\"a\",\"text\":\"hyperammonemia\"}\n");
        let obj = store.object_dir(ID);
        let files = [
            obj.join(MANIFEST),
            obj.join(ARTIFACT).join("documents.jsonl"),
            obj.join(ARTIFACT).join("sub/composition.json"),
        ];
        let mut flips = 0;
        for file in &files {
            let original = fs::read(file).expect("read");
            for at in (0..original.len()).step_by(7) {
                let mut bytes = original.clone();
                bytes[at] ^= 0x20;
                fs::write(file, &bytes).expect("flip");
                let found = store.verify(ID).map_or(true, |p| !p.is_empty());
                assert!(found, "a flip at byte {at} of {} went unnoticed", file.display());
                flips += 1;
            }
            fs::write(file, &original).expect("restore");
            assert!(store.verify(ID).expect("verify").is_empty());
        }
        assert!(flips > 60, "{flips}");
    }

    #[test]
    fn a_lost_or_damaged_index_is_rebuilt_from_the_manifests() {
        const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path()).expect("store");
        assert!(store.repaired.is_none());
        stored(&store, ID, "{}\n");
        stored(&store, OTHER, "{\"b\":1}\n");
        drop(store);
        let index = dir.path().join(INDEX);
        let remove_index = || {
            for suffix in ["", "-wal", "-shm"] {
                fs::remove_file(format!("{}{suffix}", index.display())).ok();
            }
        };
        // Deleted: rebuilt on opening, every node and its metrics back.
        remove_index();
        let store = Store::open(dir.path()).expect("reopen");
        let repaired = store.repaired.clone().expect("repaired");
        assert!(repaired.contains("index lost; rebuilt from the manifests: 2 nodes"), "{repaired}");
        assert_eq!(store.index().metrics(ID).expect("metrics"), vec![("kept".to_string(), None, 3.0)]);
        drop(store);
        // Truncated: kept aside, rebuilt.
        let bytes = fs::read(&index).expect("index");
        fs::write(&index, &bytes[..bytes.len().min(1000)]).expect("truncate");
        for suffix in ["-wal", "-shm"] {
            fs::remove_file(format!("{}{suffix}", index.display())).ok();
        }
        let store = Store::open(dir.path()).expect("reopen");
        let repaired = store.repaired.clone().expect("repaired");
        assert!(repaired.contains("was damaged") && repaired.contains("2 nodes"), "{repaired}");
        let kept = fs::read_dir(dir.path())
            .expect("store")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("damaged"));
        assert!(kept, "the damaged index is kept aside");
        let mut ids = store.index().identities().expect("identities");
        ids.sort();
        assert_eq!(ids, vec![ID.to_string(), OTHER.to_string()]);
        // A manifest that disagrees with its artifact is quarantined, never served.
        fs::write(store.artifact_dir(OTHER).join("documents.jsonl"), "{\"b\":2}\n").expect("alter");
        drop(store);
        fs::write(&index, b"not a database at all, but long enough to be read as a header page").expect("overwrite");
        let store = Store::open(dir.path()).expect("reopen");
        let repaired = store.repaired.clone().expect("repaired");
        assert!(
            repaired.contains("1 nodes")
                && repaired.contains("1 quarantined")
                && repaired.contains("`documents.jsonl` changed"),
            "{repaired}"
        );
        assert!(store.contains(ID) && !store.contains(OTHER));
        // An intact index is left alone.
        drop(store);
        assert!(Store::open(dir.path()).expect("reopen").repaired.is_none());
    }
}
