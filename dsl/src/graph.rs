//! The lowered experiment: an engine-independent list of nodes, each with its stage kind,
//! canonical parameters and ordered inputs. This is what `exp show --lowered` prints and
//! what the engine hashes.
//!
//! A node's `key` is a blake3 digest of its kind, parameters and its inputs' keys: it does
//! not depend on the definition's name, position, formatting or comments, so the inputs of
//! a node refer to other nodes by key. (The engine's identity adds the kind's version and
//! the content of the files a node reads.)

use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub experiment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Structural key (hex blake3): kind, params and input keys.
    pub key: String,
    /// The definition's name (or `parent.param` for an inline call); a label only.
    pub name: String,
    /// The definition keyword (`source`, `corpus`, `pretrain`, …).
    pub def: String,
    pub kind: String,
    pub version: u32,
    pub params: BTreeMap<String, Value>,
    pub inputs: Vec<Input>,
    /// `file:line:column` of the definition; a label only.
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The parameter the input is bound to (`base`, `data`, `member`, …).
    pub role: String,
    /// The input node's key.
    pub node: String,
}

/// The key of a node from its kind, canonical parameters and inputs.
pub fn node_key(kind: &str, params: &BTreeMap<String, Value>, inputs: &[Input]) -> String {
    #[derive(Serialize)]
    struct Keyed<'a> {
        kind: &'a str,
        params: &'a BTreeMap<String, Value>,
        inputs: &'a [Input],
    }
    // serde_json writes maps in BTreeMap order and floats in shortest round-trip form, so
    // the encoding is canonical.
    let bytes = serde_json::to_vec(&Keyed { kind, params, inputs }).expect("values always serialise");
    blake3::hash(&bytes).to_hex().to_string()
}

impl Graph {
    pub fn node(&self, key: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.key == key)
    }

    pub fn by_name(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Orders nodes so that inputs come before their users and ties are broken by key and
    /// name: the order is the same however the source file orders its definitions.
    pub fn sort(&mut self) {
        let mut nodes = std::mem::take(&mut self.nodes);
        nodes.sort_by(|a, b| (&a.key, &a.name).cmp(&(&b.key, &b.name)));
        nodes.dedup_by(|a, b| a.key == b.key && a.name == b.name);
        let index: HashMap<&str, Vec<usize>> = nodes.iter().enumerate().fold(HashMap::new(), |mut m, (i, n)| {
            m.entry(n.key.as_str()).or_default().push(i);
            m
        });
        let mut pending: Vec<usize> =
            nodes.iter().map(|n| n.inputs.iter().filter(|i| index.contains_key(i.node.as_str())).count()).collect();
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for input in &n.inputs {
                if let Some(sources) = index.get(input.node.as_str()) {
                    // Nodes with the same key are interchangeable; depend on the first.
                    users[sources[0]].push(i);
                }
            }
        }
        let mut ready: BTreeSet<usize> = (0..nodes.len()).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(nodes.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &u in &users[i] {
                pending[u] -= 1;
                if pending[u] == 0 {
                    ready.insert(u);
                }
            }
        }
        // A cycle cannot reach here (the checker rejects them); keep any leftovers anyway.
        let placed: BTreeSet<usize> = order.iter().copied().collect();
        order.extend((0..nodes.len()).filter(|i| !placed.contains(i)));
        let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
        self.nodes = order.into_iter().filter_map(|i| slots[i].take()).collect();
    }
}
