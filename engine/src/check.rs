//! `exp run --check`: recompute nodes the store already holds and compare byte for byte,
//! in the spirit of `nix build --check`. An artifact must be a function of its identity
//! alone; a node whose recomputation differs names its first differing file. Nothing
//! is published: each node is recomputed into a scratch folder under `tmp/`, with a
//! scratch cache (so no resumable state or translation cache of an earlier run is
//! reused), while it holds the node's lock (so no `gc` or other run moves the stored
//! artifact meanwhile). A stage that cannot be deterministic (a served model, GPU
//! kernels) says so ([`exp_stages::Determinism`]) and is not recomputed.

use crate::events::{Event, Events, Finished};
use crate::resolve::Resolved;
use crate::run::{compute, Computed};
use crate::store::{outputs, Output, Store, ARTIFACT};
use exp_stages::Determinism;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// What checking one node found.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The same bytes: this many files.
    Same(usize),
    /// A file differs (or is only on one side): the first, in path order, and how.
    Differs {
        file: String,
        how: String,
    },
    /// Not recomputed: the stage says why it cannot give the same bytes.
    NotDeterministic(String),
    /// Not recomputed: not in the store, or an input is not (run it first).
    NotStored(String),
    /// The recomputation failed.
    Failed(String),
    Cancelled,
}

impl Verdict {
    /// Whether `exp run --check` fails because of it.
    pub fn fails(&self) -> bool {
        matches!(self, Verdict::Differs { .. } | Verdict::Failed(_))
    }
}

/// Checks the nodes `selected` (indices into `resolved`), in order, each on `threads`
/// CPU slots; `events` sees each recomputation as a node of a run.
pub fn check(
    resolved: &Resolved,
    selected: &[usize],
    store: &Store,
    threads: usize,
    cancel: &AtomicBool,
    events: Arc<dyn Events>,
) -> anyhow::Result<Vec<(usize, Verdict)>> {
    let mut out = Vec::new();
    for &i in selected {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            out.push((i, Verdict::Cancelled));
            continue;
        }
        out.push((i, check_one(resolved, i, store, threads, cancel, events.clone())?));
    }
    Ok(out)
}

fn check_one(
    resolved: &Resolved,
    i: usize,
    store: &Store,
    threads: usize,
    cancel: &AtomicBool,
    events: Arc<dyn Events>,
) -> anyhow::Result<Verdict> {
    let node = &resolved.nodes[i];
    if let Some(problem) = &node.problem {
        return Ok(Verdict::NotStored(problem.clone()));
    }
    let stage = crate::stages::implementation(&node.kind)
        .ok_or_else(|| anyhow::anyhow!("stage `{}` has no implementation yet", node.kind))?;
    if let Determinism::Not(why) = stage.determinism(&node.params) {
        return Ok(Verdict::NotDeterministic(why));
    }
    if let Some(missing) = node.inputs.iter().find(|inp| !store.contains(&resolved.nodes[inp.node].identity)) {
        let name = &resolved.nodes[missing.node].name;
        return Ok(Verdict::NotStored(format!("its input `{name}` is not in the store")));
    }
    let _lock = store.lock(&node.identity)?;
    if !store.contains(&node.identity) {
        return Ok(Verdict::NotStored("not in the store: run it first".into()));
    }
    let scratch = store.temporary(&node.identity)?;
    let cache = scratch.join("cache");
    let started = Instant::now();
    events.event(Event::NodeStarted { node: node.name.clone(), kind: node.kind.clone(), cpus: threads, gpus: 0 });
    let computed = compute(resolved, i, store, &scratch, &cache, cancel, events.clone(), threads);
    let verdict = match computed {
        Ok(Computed::Done(_)) => compare(&store.artifact_dir(&node.identity), &scratch.join(ARTIFACT)),
        Ok(Computed::Failed(message)) => Ok(Verdict::Failed(message)),
        Ok(Computed::Cancelled) => Ok(Verdict::Cancelled),
        Err(e) => Ok(Verdict::Failed(format!("{e:#}"))),
    };
    std::fs::remove_dir_all(&scratch).ok();
    let verdict = verdict?;
    events.event(Event::NodeFinished {
        node: node.name.clone(),
        kind: node.kind.clone(),
        at: node.at.clone(),
        seconds: started.elapsed().as_secs_f64(),
        outcome: Finished::Checked { same: !verdict.fails(), verdict: describe(&verdict) },
    });
    Ok(verdict)
}

/// The stored artifact against its recomputation: the first file (in path order) that
/// differs, is missing or is new.
pub fn compare(stored: &Path, again: &Path) -> anyhow::Result<Verdict> {
    let (a, b) = (outputs(stored)?, outputs(again)?);
    let find = |list: &[Output], path: &str| list.iter().position(|o| o.path == path);
    let mut paths: Vec<&str> = a.iter().chain(&b).map(|o| o.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let how = match (find(&a, path), find(&b, path)) {
            (Some(x), Some(y)) if a[x].hash == b[y].hash => continue,
            (Some(_), Some(_)) => first_difference(&stored.join(path), &again.join(path))?,
            (Some(_), None) => "not written by the recomputation".to_string(),
            (None, _) => "written by the recomputation only".to_string(),
        };
        return Ok(Verdict::Differs { file: path.to_string(), how });
    }
    Ok(Verdict::Same(a.len()))
}

/// Where two files first differ: the byte offset and, for text, the line.
fn first_difference(a: &Path, b: &Path) -> anyhow::Result<String> {
    let (x, y) = (std::fs::read(a)?, std::fs::read(b)?);
    let at = x.iter().zip(&y).position(|(p, q)| p != q).unwrap_or(x.len().min(y.len()));
    let line = x[..at].iter().filter(|&&c| c == b'\n').count() + 1;
    Ok(format!("first differs at byte {at} (line {line}); {} bytes stored, {} recomputed", x.len(), y.len()))
}

/// The verdict in words, as `exp run --check` prints it.
pub fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Same(1) => "the same bytes (1 file)".into(),
        Verdict::Same(files) => format!("the same bytes ({files} files)"),
        Verdict::Differs { file, how } => format!("differs: `{file}` {how}"),
        Verdict::NotDeterministic(why) => format!("not checked: not deterministic ({why})"),
        Verdict::NotStored(why) => format!("not checked: {why}"),
        Verdict::Failed(message) => format!("the recomputation failed: {message}"),
        Verdict::Cancelled => "cancelled".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_file_is_named_with_where_it_differs() {
        let (a, b) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
        for d in [a.path(), b.path()] {
            std::fs::write(d.join("a.txt"), "same\n").expect("write");
            std::fs::create_dir(d.join("sub")).expect("mkdir");
        }
        std::fs::write(a.path().join("sub/log.jsonl"), "{\"step\":1}\n{\"step\":2,\"t\":1}\n").expect("write");
        std::fs::write(b.path().join("sub/log.jsonl"), "{\"step\":1}\n{\"step\":2,\"t\":9}\n").expect("write");
        assert_eq!(
            compare(a.path(), b.path()).expect("compares"),
            Verdict::Differs {
                file: "sub/log.jsonl".into(),
                how: "first differs at byte 25 (line 2); 28 bytes stored, 28 recomputed".into()
            }
        );
        std::fs::write(b.path().join("sub/log.jsonl"), "{\"step\":1}\n{\"step\":2,\"t\":1}\n").expect("write");
        assert_eq!(compare(a.path(), b.path()).expect("compares"), Verdict::Same(2));
        std::fs::write(b.path().join("extra"), "").expect("write");
        let v = compare(a.path(), b.path()).expect("compares");
        assert_eq!(v, Verdict::Differs { file: "extra".into(), how: "written by the recomputation only".into() });
        assert!(v.fails() && !Verdict::NotDeterministic("x".into()).fails());
    }
}
