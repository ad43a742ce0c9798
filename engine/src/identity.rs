//! Node identities. An identity is blake3 over a canonical, versioned encoding of the
//! stage kind, its version, the canonical parameters, the ordered input identities and
//! the hashes of the files the node reads. The encoding is a JSON array whose maps are
//! sorted (`BTreeMap`) and whose floats are written in shortest round-trip form, so it is
//! the same on every run and platform; [`ENCODING`] names it, and changing it on purpose
//! means changing that name (the golden tests pin a few identities).

use exp_dsl::Value;
use serde::Serialize;
use std::collections::BTreeMap;

/// The name of the encoding, part of every identity.
pub const ENCODING: &str = "exp-identity/1";

/// One input of a node: the parameter it is bound to and the input's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InputId {
    pub role: String,
    pub identity: String,
}

/// One file a node reads, by its path relative to the experiment and its content hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct FileId {
    pub path: String,
    pub hash: String,
}

/// The identity of a node, as 64 hex digits.
pub fn identity(
    kind: &str,
    version: u32,
    params: &BTreeMap<String, Value>,
    inputs: &[InputId],
    files: &[FileId],
) -> String {
    let encoded = serde_json::to_vec(&(ENCODING, kind, version, params, inputs, files))
        .expect("parameters are plain JSON values and always serialise");
    blake3::hash(&encoded).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<String, Value> {
        let mut p = BTreeMap::new();
        p.insert("lr".to_string(), Value::map([("peak", Value::Float(1.5e-4)), ("floor", Value::Float(1.5e-5))]));
        p.insert("seq".to_string(), Value::Int(4096));
        p.insert("path".to_string(), Value::Str("data/a.jsonl".into()));
        p
    }

    /// Pinned identities: if one of these changes, the encoding changed, and every cached
    /// artifact of every user would be recomputed. Change [`ENCODING`] deliberately then.
    #[test]
    fn golden_identities() {
        assert_eq!(identity("jsonl", 1, &BTreeMap::new(), &[], &[]), GOLDEN_EMPTY);
        let inputs = [InputId { role: "base".into(), identity: "ab".repeat(32) }];
        let files = [FileId { path: "data/a.jsonl".into(), hash: "cd".repeat(32) }];
        assert_eq!(identity("cpt", 3, &params(), &inputs, &files), GOLDEN_FULL);
    }

    #[test]
    fn every_part_counts() {
        let base = identity("cpt", 1, &params(), &[], &[]);
        assert_ne!(base, identity("sft", 1, &params(), &[], &[]));
        assert_ne!(base, identity("cpt", 2, &params(), &[], &[]));
        let mut p = params();
        p.insert("seq".into(), Value::Int(2048));
        assert_ne!(base, identity("cpt", 1, &p, &[], &[]));
        let input = [InputId { role: "base".into(), identity: "00".repeat(32) }];
        assert_ne!(base, identity("cpt", 1, &params(), &input, &[]));
        let file = [FileId { path: "a".into(), hash: "00".repeat(32) }];
        assert_ne!(base, identity("cpt", 1, &params(), &[], &file));
        // Insertion order of parameters does not matter.
        let mut q = BTreeMap::new();
        for (k, v) in params().into_iter().rev() {
            q.insert(k, v);
        }
        assert_eq!(base, identity("cpt", 1, &q, &[], &[]));
    }

    const GOLDEN_EMPTY: &str = "b63768894081a1bfaa468b9b6a833235d5b5d2f5a3766abdfb409b331fc73cd5";
    const GOLDEN_FULL: &str = "40b4e696abbfc2126b0b66325a248576bc1f2dd5f3fe24e7af23097acd728cf7";
}
