//! Resolution: the lowered graph of a checked experiment, with every node's identity.
//! Identities are computed in topological order, so each node's inputs are known when it
//! is hashed. The files a node reads (its `Path` parameters, globs expanded against the
//! experiment's folder) enter its identity by content: a path parameter is replaced by a
//! marker and the files are listed as (parameter/file name, blake3 of the bytes), so
//! moving a data folder or spelling its path differently reruns nothing, while changing
//! one byte of one file reruns everything downstream of it.

use crate::identity::{identity, FileId, InputId};
use crate::index::Index;
use exp_dsl::schema::{Catalog, Read, Ty};
use exp_dsl::{Graph, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A node with its identity.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub name: String,
    /// The definition keyword, or `inline`.
    pub def: String,
    pub kind: String,
    pub version: u32,
    /// Canonical parameters as written (paths included): what plans and diffs show.
    pub params: BTreeMap<String, Value>,
    pub inputs: Vec<Input>,
    /// The files read, as they enter the identity (`parameter/file name`, content hash).
    pub files: Vec<FileId>,
    /// The same files by their path relative to the experiment, for messages.
    pub file_paths: Vec<String>,
    pub identity: String,
    /// `file:line:column` of the definition.
    pub at: String,
    /// Why the node cannot be computed, if it cannot (a missing file, an unimplemented
    /// stage, an input that cannot be computed).
    pub problem: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Input {
    pub role: String,
    /// Index of the input node in [`Resolved::nodes`].
    pub node: usize,
}

/// An experiment ready to plan and run.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub experiment: String,
    /// The `.med` file, canonical: the key of its records in the index.
    pub file: PathBuf,
    /// Its folder: paths in parameters are relative to it.
    pub root: PathBuf,
    pub nodes: Vec<Node>,
}

impl Resolved {
    /// Blocks the nodes only a cluster runs (`trainer: megatron(…)`), and what needs them,
    /// for the local executor.
    pub fn on_this_machine(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].problem.is_some() {
                continue;
            }
            let node = &self.nodes[i];
            let cluster = crate::stages::implementation(&node.kind).and_then(|s| s.cluster(&node.params));
            let problem = match cluster {
                Some(c) => Some(format!(
                    "trains with Megatron-LM on {} × {} GPUs: run it with `--executor slurm`",
                    c.nodes, c.gpus_per_node
                )),
                None => node
                    .inputs
                    .iter()
                    .find(|inp| self.nodes[inp.node].problem.is_some())
                    .map(|bad| format!("input `{}` cannot be computed", self.nodes[bad.node].name)),
            };
            self.nodes[i].problem = problem;
        }
    }

    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The node of a definition a user named, or why there is none, with the closest name.
    pub fn named(&self, name: &str) -> Result<usize, String> {
        self.by_name(name).ok_or_else(|| {
            let hint = exp_dsl::suggest::closest(name, self.nodes.iter().map(|n| n.name.as_str()));
            format!("no such definition{}", hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default())
        })
    }

    /// The inputs of node `i` as identities, in order.
    pub fn input_ids(&self, i: usize) -> Vec<InputId> {
        self.nodes[i]
            .inputs
            .iter()
            .map(|inp| InputId { role: inp.role.clone(), identity: self.nodes[inp.node].identity.clone() })
            .collect()
    }

    /// Nodes that (transitively) use node `i`.
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut marked = vec![false; self.nodes.len()];
        marked[i] = true;
        for (j, n) in self.nodes.iter().enumerate().skip(i + 1) {
            if n.inputs.iter().any(|inp| marked[inp.node]) {
                marked[j] = true;
                out.push(j);
            }
        }
        out
    }
}

/// The entry of the hashed parameters that holds the definition names of a kind whose
/// artifact shows them ([`exp_stages::Stage::shows_names`]).
pub const NAMES: &str = "<names>";

/// Gives every node of `graph` (checked from `file`) its identity. File hashes come from
/// the fingerprint cache in `index` when there is one.
pub fn resolve(graph: &Graph, file: &Path, catalog: &Catalog, index: Option<&Index>) -> Resolved {
    let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let root = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut nodes: Vec<Node> = Vec::with_capacity(graph.nodes.len());
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    // The files a (parameter, path) names, hashed once per resolution: a sweep reads the
    // same files from many nodes (one file under fifty limits, say), and each expansion
    // costs a glob, a stat, a path canonicalisation and an index query.
    let mut hashed: HashMap<(&str, &str), Result<Vec<Hashed>, String>> = HashMap::new();
    for g in &graph.nodes {
        let inputs: Vec<Input> =
            g.inputs.iter().map(|i| Input { role: i.role.clone(), node: by_key[i.node.as_str()] }).collect();
        let schema = catalog.kind(&g.kind);
        let mut files = Vec::new();
        let mut file_paths = Vec::new();
        let mut problem = None;
        let mut hashed_params = BTreeMap::new();
        // A kind that reads only some files of a folder says which; otherwise the
        // files are what its `Path` parameters name.
        let declared = schema.and_then(|s| (s.typed.reads)(&g.params));
        let mut found = Vec::new();
        for (name, value) in &g.params {
            let ty = schema.and_then(|s| s.param(name)).map(|p| &p.ty);
            let mut paths = Vec::new();
            let stripped = match ty {
                Some(ty) => strip_paths(ty, value, &mut paths),
                None => value.clone(),
            };
            hashed_params.insert(name.clone(), stripped);
            if declared.is_none() {
                for pattern in paths {
                    found.push(
                        hashed
                            .entry((name.as_str(), pattern))
                            .or_insert_with(|| hash_files(&root, pattern, name, index))
                            .clone(),
                    );
                }
            }
        }
        if let Some(reads) = &declared {
            // Sorted by name and each file once, however many patterns match it.
            let all: Result<Vec<Hashed>, String> =
                reads.iter().map(|r| hash_declared(&root, r, index)).collect::<Result<Vec<_>, _>>().map(|v| {
                    let mut all: Vec<Hashed> = v.into_iter().flatten().collect();
                    all.sort_by(|a, b| a.0.path.cmp(&b.0.path));
                    all.dedup_by(|a, b| a.0.path == b.0.path);
                    all
                });
            found.push(all);
        }
        for result in found {
            match result {
                Ok(hashed) => {
                    for (id, path) in hashed {
                        files.push(id);
                        file_paths.push(path);
                    }
                }
                Err(e) => problem = Some(e),
            }
        }
        if problem.is_none() {
            if let Some(bad) = inputs.iter().find(|i| nodes[i.node].problem.is_some()) {
                problem = Some(format!("input `{}` cannot be computed", nodes[bad.node].name));
            }
        }
        if problem.is_none() && crate::stages::implementation(&g.kind).is_none() {
            problem = Some(format!("stage `{}` has no implementation yet", g.kind));
        }
        if crate::stages::implementation(&g.kind).is_some_and(|s| s.shows_names()) {
            // Its artifact shows these names (a report's title and rows), so they are
            // part of what it is. No parameter can be called `<names>`.
            let names = inputs.iter().map(|i| Value::Str(nodes[i.node].name.clone())).collect();
            let shown = Value::map([("node", Value::Str(g.name.clone())), ("inputs", Value::List(names))]);
            hashed_params.insert(NAMES.to_string(), shown);
        }
        let input_ids: Vec<InputId> =
            inputs.iter().map(|i| InputId { role: i.role.clone(), identity: nodes[i.node].identity.clone() }).collect();
        let id = identity(&g.kind, g.version, &hashed_params, &input_ids, &files);
        by_key.entry(g.key.as_str()).or_insert(nodes.len());
        nodes.push(Node {
            name: g.name.clone(),
            def: g.def.clone(),
            kind: g.kind.clone(),
            version: g.version,
            params: g.params.clone(),
            inputs,
            files,
            file_paths,
            identity: id,
            at: g.at.clone(),
            problem,
        });
    }
    Resolved { experiment: graph.experiment.clone(), file, root, nodes }
}

/// The value with every `Path` replaced by a marker, collecting the paths.
fn strip_paths<'v>(ty: &Ty, value: &'v Value, paths: &mut Vec<&'v str>) -> Value {
    match (ty, value) {
        (Ty::Path, Value::Str(s)) => {
            paths.push(s);
            Value::Str("<file>".into())
        }
        (Ty::List(t), Value::List(items)) => Value::List(items.iter().map(|v| strip_paths(t, v, paths)).collect()),
        (Ty::Struct(fields), Value::Map(m)) => Value::Map(strip_fields(fields, m, paths)),
        (Ty::Variant(ctors), Value::Map(m)) => {
            let ctor = match m.get("type") {
                Some(Value::Str(t)) => ctors.iter().find(|c| c.name == t),
                _ => None,
            };
            match ctor {
                Some(c) => Value::Map(strip_fields(c.params, m, paths)),
                None => value.clone(),
            }
        }
        _ => value.clone(),
    }
}

fn strip_fields<'v>(
    fields: &[exp_dsl::schema::Param],
    m: &'v BTreeMap<String, Value>,
    paths: &mut Vec<&'v str>,
) -> BTreeMap<String, Value> {
    m.iter()
        .map(|(k, v)| {
            let v = match fields.iter().find(|f| f.name == k) {
                Some(f) => strip_paths(&f.ty, v, paths),
                None => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// A file's entry in an identity and its path for messages.
type Hashed = (FileId, String);

/// Expands a path parameter and hashes each file: (`param/file name` → content hash, the
/// path relative to the experiment).
fn hash_files(root: &Path, pattern: &str, param: &str, index: Option<&Index>) -> Result<Vec<Hashed>, String> {
    let files = exp_stages::files::expand(root, pattern).map_err(|e| format!("parameter `{param}`: {e}"))?;
    files
        .iter()
        .map(|f| {
            let name = f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            hash_one(root, f, format!("{param}/{name}"), index)
        })
        .collect()
}

/// The files a kind declares it reads under a folder, named in the identity by their
/// path inside the folder (`data/jmed-llm/crade.csv`), so moving the folder reruns nothing.
fn hash_declared(root: &Path, read: &Read, index: Option<&Index>) -> Result<Vec<Hashed>, String> {
    let base = root.join(&read.base);
    let files = match exp_stages::files::expand(&base, &read.pattern) {
        Ok(files) => files,
        Err(_) if !read.required => Vec::new(),
        Err(e) => return Err(format!("parameter `{}`: {e}", read.param)),
    };
    files
        .iter()
        .map(|f| {
            let inside = f.strip_prefix(&base).unwrap_or(f).display().to_string();
            hash_one(root, f, format!("{}/{inside}", read.param), index)
        })
        .collect()
}

fn hash_one(root: &Path, file: &Path, name: String, index: Option<&Index>) -> Result<Hashed, String> {
    let hash = match index {
        Some(ix) => crate::fingerprint::cached_hash(ix, file).map_err(|e| e.to_string()),
        None => crate::fingerprint::hash_file(file).map_err(|e| e.to_string()),
    }
    .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    Ok((FileId { path: name, hash }, file.strip_prefix(root).unwrap_or(file).display().to_string()))
}
