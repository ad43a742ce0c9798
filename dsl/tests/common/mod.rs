//! Helpers shared by the integration tests: checking text with the real stage catalogue
//! and comparing graphs by structure.

#![allow(dead_code)]

use exp_dsl::{check_text, Checked, Graph, Options};
use std::path::{Path, PathBuf};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("dsl/ has a parent").to_path_buf()
}

/// Checks `text` as if it were the file at `path` (imports resolve from there).
pub fn check(path: &Path, text: &str, profile: Option<&str>) -> Checked {
    check_text(
        path,
        text,
        &exp_stages::catalog(),
        &Options { profile: profile.map(str::to_string), all_profiles: false },
    )
}

/// The lowered graph, or a panic with the rendered diagnostics.
pub fn lower(path: &Path, text: &str, profile: Option<&str>) -> Graph {
    let checked = check(path, text, profile);
    match checked.graph {
        Some(g) => g,
        None => {
            panic!("{}\n--- in ---\n{text}", exp_dsl::diagnostic::render(&checked.sources, &checked.diagnostics, false))
        }
    }
}

/// What identity is made of: every node's key, kind, version, parameters and inputs,
/// without names and positions.
pub fn structure(g: &Graph) -> Vec<String> {
    let mut v: Vec<String> = g
        .nodes
        .iter()
        .map(|n| serde_json::to_string(&(&n.key, &n.kind, n.version, &n.params, &n.inputs)).expect("serialises"))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Names and everything else, positions aside.
pub fn with_names(g: &Graph) -> Vec<String> {
    let mut v: Vec<String> = g
        .nodes
        .iter()
        .map(|n| {
            serde_json::to_string(&(&n.name, &n.key, &n.kind, n.version, &n.params, &n.inputs)).expect("serialises")
        })
        .collect();
    v.sort();
    v
}
