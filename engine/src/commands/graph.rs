//! `exp graph`: the experiment's graph as Graphviz dot or Mermaid, built with petgraph.

use super::experiment::open;
use crate::args::DrawFormat;
use petgraph::graph::DiGraph;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(
    file: &Path,
    format: DrawFormat,
    profile: Option<String>,
    store: Option<PathBuf>,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let Some((store, resolved)) = open(file, profile, store, color)? else { return Ok(ExitCode::FAILURE) };
    let mut g: DiGraph<String, String> = DiGraph::new();
    let ids: Vec<_> = resolved.nodes.iter().map(|n| g.add_node(format!("{}\n{}", n.name, n.kind))).collect();
    for (i, n) in resolved.nodes.iter().enumerate() {
        for inp in &n.inputs {
            g.add_edge(ids[inp.node], ids[i], inp.role.clone());
        }
    }
    match format {
        DrawFormat::Dot => {
            println!(
                "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];",
                resolved.experiment
            );
            for idx in g.node_indices() {
                let n = &resolved.nodes[idx.index()];
                let style = if store.contains(&n.identity) { ", style=filled, fillcolor=\"#e8f4e8\"" } else { "" };
                println!("  n{} [label=\"{}\\n{}\"{style}];", idx.index(), n.name, n.kind);
            }
            for e in g.edge_indices() {
                let (a, b) = g.edge_endpoints(e).expect("an edge has endpoints");
                println!("  n{} -> n{} [label=\"{}\"];", a.index(), b.index(), g[e]);
            }
            println!("}}");
        }
        DrawFormat::Mermaid => {
            println!("flowchart LR");
            for idx in g.node_indices() {
                let n = &resolved.nodes[idx.index()];
                println!("  n{}[\"{}<br/><small>{}</small>\"]", idx.index(), n.name, n.kind);
            }
            for e in g.edge_indices() {
                let (a, b) = g.edge_endpoints(e).expect("an edge has endpoints");
                println!("  n{} -->|{}| n{}", a.index(), g[e], b.index());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
