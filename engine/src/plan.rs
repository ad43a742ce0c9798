//! Planning: for every node, whether the store already holds it and, if not, why it must
//! run. Reasons come from comparing the node with a record of the same definition: the
//! store's record of the experiment's last run, or another experiment file (`--against`).
//! `exp diff` uses the same comparison.

use crate::index::DefinitionRecord;
use crate::resolve::Resolved;
use crate::store::Store;
use exp_dsl::Value;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The store holds the artifact.
    Cached,
    /// It must be computed, for these reasons.
    Run(Vec<String>),
    /// It cannot be computed: a missing file, an unimplemented stage, a blocked input.
    Blocked(String),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub node: usize,
    pub decision: Decision,
}

/// The record of node `i` as the index keeps it (and as diffs compare it).
pub fn record(resolved: &Resolved, i: usize) -> DefinitionRecord {
    let n = &resolved.nodes[i];
    let inputs: Vec<serde_json::Value> = n
        .inputs
        .iter()
        .map(|inp| json!({ "role": inp.role, "name": resolved.nodes[inp.node].name, "identity": resolved.nodes[inp.node].identity }))
        .collect();
    let files: Vec<serde_json::Value> =
        n.file_paths.iter().zip(&n.files).map(|(p, f)| json!({ "path": p, "hash": f.hash })).collect();
    DefinitionRecord {
        name: n.name.clone(),
        identity: n.identity.clone(),
        kind: n.kind.clone(),
        version: n.version,
        params: serde_json::to_string(&n.params).expect("parameters serialise"),
        inputs: serde_json::to_string(&inputs).expect("inputs serialise"),
        files: serde_json::to_string(&files).expect("files serialise"),
    }
}

/// Plans every node: cached, or to run with reasons from `previous` (the record of the same
/// definition name, if any).
pub fn plan(resolved: &Resolved, store: &Store, previous: &dyn Fn(&str) -> Option<DefinitionRecord>) -> Vec<Step> {
    resolved
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let decision = if let Some(problem) = &n.problem {
                Decision::Blocked(problem.clone())
            } else if store.contains(&n.identity) {
                Decision::Cached
            } else {
                let reasons = match previous(&n.name) {
                    None => vec!["never run".to_string()],
                    Some(old) if old.identity == n.identity => {
                        vec!["not in the store (removed, or never completed)".to_string()]
                    }
                    Some(old) => {
                        let r = differences(&old, &record(resolved, i));
                        if r.is_empty() {
                            vec!["identity changed".to_string()]
                        } else {
                            r
                        }
                    }
                };
                Decision::Run(reasons)
            };
            Step { node: i, decision }
        })
        .collect()
}

/// What changed from `old` to `new`, in words: stage, version, each parameter (by dotted
/// path), each input, each file.
pub fn differences(old: &DefinitionRecord, new: &DefinitionRecord) -> Vec<String> {
    let mut out = Vec::new();
    if old.kind != new.kind {
        out.push(format!("stage changed `{}` → `{}`", old.kind, new.kind));
    } else if old.version != new.version {
        out.push(format!("stage `{}` version {} → {}", new.kind, old.version, new.version));
    }
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    diff_values("", &parse(&old.params), &parse(&new.params), &mut out);
    let list = |s: &str| serde_json::from_str::<Vec<BTreeMap<String, String>>>(s).unwrap_or_default();
    // Inputs are matched by role and name, not position: a mixture lists its members in
    // key order, which moves when one member changes.
    let (old_inputs, new_inputs) = (list(&old.inputs), list(&new.inputs));
    let same = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
        a.get("role") == b.get("role") && a.get("name") == b.get("name")
    };
    for input in &new_inputs {
        let name = input.get("name").map_or("?", String::as_str);
        match old_inputs.iter().find(|o| same(o, input)) {
            Some(o) if o.get("identity") == input.get("identity") => {}
            Some(_) => out.push(format!("input `{name}` changed")),
            None => out.push(format!("input `{name}` added")),
        }
    }
    for o in old_inputs.iter().filter(|o| !new_inputs.iter().any(|n| same(o, n))) {
        out.push(format!("input `{}` removed", o.get("name").map_or("?", String::as_str)));
    }
    let (old_files, new_files) = (list(&old.files), list(&new.files));
    for f in &new_files {
        let path = f.get("path").map_or("?", String::as_str);
        match old_files.iter().find(|o| o.get("path") == f.get("path")) {
            Some(o) if o.get("hash") == f.get("hash") => {}
            Some(_) => out.push(format!("file `{path}` changed")),
            None => out.push(format!("file `{path}` added")),
        }
    }
    for o in old_files.iter().filter(|o| !new_files.iter().any(|f| f.get("path") == o.get("path"))) {
        out.push(format!("file `{}` removed", o.get("path").map_or("?", String::as_str)));
    }
    out
}

fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Map(a), Value::Map(b)) => {
            for (k, v) in b {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match a.get(k) {
                    Some(w) => diff_values(&p, w, v, out),
                    None => out.push(format!("parameter `{p}` added: {}", show(v))),
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                out.push(format!("parameter `{p}` removed"));
            }
        }
        _ if old == new => {}
        // A long list (a mixture's members) would bury the line; its length says enough,
        // and the inputs' lines say which member came or went.
        (Value::List(a), Value::List(b)) if show(old).len() + show(new).len() > 120 => {
            out.push(format!("parameter `{path}` changed: {} → {} entries", a.len(), b.len()))
        }
        _ => out.push(format!("parameter `{path}` changed {} → {}", show(old), show(new))),
    }
}

/// A value in the `.med` spelling where it has one.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Str(s) => format!("{s:?}"),
        Value::Float(f) if (1e-3..1e6).contains(&f.abs()) || *f == 0.0 => format!("{f}"),
        Value::Float(f) => format!("{f:e}"),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(params: &str, inputs: &str, files: &str) -> DefinitionRecord {
        DefinitionRecord {
            name: "x".into(),
            identity: "i".into(),
            kind: "cpt".into(),
            version: 1,
            params: params.into(),
            inputs: inputs.into(),
            files: files.into(),
        }
    }

    #[test]
    fn reasons_name_what_changed() {
        let old = rec(
            r#"{"lr":{"peak":0.00015,"floor":1.5e-5},"seq":4096}"#,
            r#"[{"role":"base","name":"base","identity":"a"},{"role":"data","name":"tok","identity":"b"}]"#,
            r#"[{"path":"data/a.jsonl","hash":"1"}]"#,
        );
        let mut new = rec(
            r#"{"lr":{"peak":0.0003,"floor":1.5e-5},"seq":4096,"seed":1}"#,
            r#"[{"role":"base","name":"base","identity":"a"},{"role":"data","name":"tok","identity":"c"}]"#,
            r#"[{"path":"data/a.jsonl","hash":"2"}]"#,
        );
        new.version = 2;
        assert_eq!(
            differences(&old, &new),
            [
                "stage `cpt` version 1 → 2",
                "parameter `lr.peak` changed 1.5e-4 → 3e-4",
                "parameter `seed` added: 1",
                "input `tok` changed",
                "file `data/a.jsonl` changed",
            ]
        );
        assert!(differences(&old, &old).is_empty());
        let members =
            |n: usize| format!(r#"{{"members":[{}]}}"#, vec![r#"{"weight":1.0,"content":"web crawl"}"#; n].join(","));
        assert_eq!(
            differences(&rec(&members(21), "[]", "[]"), &rec(&members(20), "[]", "[]")),
            ["parameter `members` changed: 21 → 20 entries"]
        );
    }
}
