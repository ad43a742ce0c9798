//! `corpus_card`: a card per corpus, generated from the graph as the store recorded it —
//! the paper's Table B.1 made automatic. For each corpus: its identity, its tokens by
//! language and content type, and per member the whole chain that made it: every stage
//! with its parameters (origins, licences kept, thresholds, translation engines,
//! pairing), what it kept and dropped, the files it read with their hashes, and each
//! node's identity.
//!
//! The chain is read from the stored manifests: an input's artifact folder sits in its
//! object folder beside `manifest.json` (`objects/<id[..2]>/<id>/{artifact,manifest.json}`,
//! the engine's store layout), and a manifest names its inputs by identity.

use super::table::Table;
use super::text::{code, html, markdown};
use super::NoParams;
use crate::artifacts::{self, Composition, Manifest};
use crate::params::typed;
use crate::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Param, Role, Ty};
use exp_dsl::Value;
use std::path::{Path, PathBuf};

pub static CORPUS_CARD: KindSchema = KindSchema {
    name: "corpus_card",
    // 2: only members are named in the chains; no metric about how a run went.
    // 3: what users and data wrote is shown as text: Markdown-escaped, settings and files
    //    as code spans (`report::text`).
    version: 3,
    output: Artifact::Report,
    role: Role::Plain,
    params: &[Param::required("corpora", Ty::List(&Ty::Input(&[Artifact::Corpus])), "corpora to describe")],
    doc: "a card per corpus: sources, licences, filters, tokens by language and type",
    typed: typed::<NoParams>(),
};

pub struct CorpusCard;

/// The stored manifests around an input, found through the store layout.
struct Lineage {
    objects: PathBuf,
}

impl Lineage {
    /// From an input's artifact folder (`…/objects/ab/abcd…/artifact`).
    fn of(artifact: &Path) -> Option<(Lineage, Manifest)> {
        let object = artifact.parent()?;
        let objects = object.parent()?.parent()?.to_path_buf();
        let manifest = artifacts::read(object).ok()?;
        Some((Lineage { objects }, manifest))
    }

    /// The manifest of a stored node; none when the node is not in this store.
    fn manifest(&self, identity: &str) -> Option<Manifest> {
        artifacts::read(&self.objects.join(identity.get(..2)?).join(identity)).ok()
    }
}

/// A value as the manifest holds it, in JSON.
fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "?".into())
}

/// A count that may be absent, as JSON writes it (`null` when absent).
fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "null".into(), |n| n.to_string())
}

/// Parameters worth printing: set ones, compact; a mixture's members are listed apart.
/// They hold what users wrote (licences, content types, paths): shown as a [`code`] span.
fn params(m: &Manifest) -> String {
    m.params
        .iter()
        .filter(|(k, _)| *k != "members")
        .filter(|(_, v)| match v {
            Value::Null => false,
            Value::Map(o) => !o.is_empty(),
            _ => true,
        })
        .map(|(k, v)| match v {
            Value::Str(s) => format!("{k}: {s:?}"),
            v => format!("{k}: {}", json(v)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The node's metrics; an undefined one (written as `null`) is left out, and so is one
/// about how its run went rather than what it made.
fn metrics(m: &Manifest) -> String {
    m.metrics
        .iter()
        .filter(|(k, v)| v.is_finite() && !artifacts::RUN_METRICS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per node of the chain under `manifest`, indented by depth. Only a member is
/// named (`label`, as the mixture's composition names it): a manifest's `name` is the
/// definition that happened to compute it first, so a card showing it would depend on
/// the store's history rather than on its identity.
fn chain(lineage: &Lineage, manifest: &Manifest, label: Option<&str>, depth: usize, out: &mut String) {
    let id = manifest.identity.as_str();
    out.push_str(&format!(
        "{}- {}**{}**({}) — {} — identity {}\n",
        "  ".repeat(depth),
        label.map(|l| format!("{} ", code(l))).unwrap_or_default(),
        markdown(&manifest.kind),
        code(&params(manifest)),
        markdown(&metrics(manifest)),
        code(id.get(..12).unwrap_or(id))
    ));
    for f in &manifest.files {
        let hash = f.hash.as_str();
        out.push_str(&format!(
            "{}  - file {} blake3 {}\n",
            "  ".repeat(depth),
            code(&f.path),
            code(hash.get(..12).unwrap_or(hash))
        ));
    }
    for input in &manifest.inputs {
        if input.role == "tokenizer" {
            continue;
        }
        match lineage.manifest(&input.identity) {
            Some(m) => chain(lineage, &m, None, depth + 1, out),
            None => out.push_str(&format!(
                "{}- input {} not in this store\n",
                "  ".repeat(depth + 1),
                code(&input.identity)
            )),
        }
    }
}

fn by(composition: &Composition, key: &str) -> Table {
    let total = (composition.total.tokens.unwrap_or(0) as f64).max(1.0);
    let groups = if key == "by_language" { &composition.total.by_language } else { &composition.total.by_content };
    Table {
        header: vec![key.trim_start_matches("by_").into(), "documents".into(), "tokens".into(), "share".into()],
        rows: groups
            .iter()
            .map(|(k, v)| {
                let tokens = v.tokens.unwrap_or(0) as f64;
                vec![
                    k.clone(),
                    v.documents.to_string(),
                    format!("{tokens:.0}"),
                    format!("{:.1}%", 100.0 * tokens / total),
                ]
            })
            .collect(),
    }
}

fn card(name: &str, artifact: &Path) -> Result<String, StageError> {
    let composition: Composition = artifacts::read(artifact).map_err(|e| {
        let why = match e {
            StageError::BadRecord { message, .. } => message,
            StageError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        StageError::BadRecord {
            at: artifact.join(artifacts::COMPOSITION).display().to_string(),
            message: format!("no readable composition (is this a corpus?): {why}"),
        }
    })?;
    let (lineage, manifest) = Lineage::of(artifact)
        .ok_or_else(|| StageError::Param(format!("`{name}`: its manifest is not beside its artifact in the store")))?;
    let mut out = format!(
        "## {}\n\nIdentity {}; {} documents, {} tokens; {}.\n\n### Tokens by language\n\n{}\n### Tokens by content type\n\n{}\n### Members\n\n",
        markdown(name),
        code(&manifest.identity),
        composition.total.documents,
        count(composition.total.tokens),
        code(&params(&manifest)),
        by(&composition, "by_language").to_markdown(),
        by(&composition, "by_content").to_markdown(),
    );
    let members = Table {
        header: ["member", "content", "documents read", "documents", "tokens", "weight"].map(String::from).to_vec(),
        rows: composition
            .members
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.content.clone(),
                    m.read.to_string(),
                    m.written.documents.to_string(),
                    count(m.written.tokens),
                    Some(m.weight).filter(|w| w.is_finite()).map_or_else(String::new, |w| format!("{w:.3}")),
                ]
            })
            .collect(),
    };
    out.push_str(&members.to_markdown());
    out.push_str("\n### How each member was made\n\nEach line: the member (by its name in the mixture) or, indented below it, what it was made from; its stage and settings, what it counted (kept, dropped, pairs, …), its identity; indented below it, its inputs and the files they read.\n\n");
    // The mixture lists its members in the order of its `member` inputs.
    let members = manifest.inputs.iter().filter(|i| i.role == "member");
    for (input, tally) in members.zip(&composition.members) {
        if let Some(m) = lineage.manifest(&input.identity) {
            chain(&lineage, &m, Some(&tally.name), 0, &mut out);
        }
    }
    Ok(out)
}

impl Stage for CorpusCard {
    fn schema(&self) -> &'static KindSchema {
        &CORPUS_CARD
    }

    /// The cards title themselves and each corpus by its definition name.
    fn shows_names(&self) -> bool {
        true
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let mut md = format!("# Corpus cards ({})\n\n", code(ctx.name));
        for input in ctx.inputs_for("corpora") {
            md.push_str(&card(&input.name, &input.dir)?);
            md.push('\n');
        }
        let write = |name: &str, text: &str| -> Result<(), StageError> {
            let path = crate::files::inside(ctx.out, name)?;
            std::fs::write(&path, text).map_err(StageError::io(&path))
        };
        write("card.md", &md)?;
        // The same text as a page: Markdown kept preformatted, which any browser shows.
        write(
            "card.html",
            &format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body><pre>{}</pre></body></html>\n",
                html(&md),
                t = html(ctx.name)
            ),
        )?;
        Ok(())
    }
}
