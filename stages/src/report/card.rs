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

use super::table::{escape, Table};
use crate::kinds::report::CORPUS_CARD;
use crate::{Context, Stage, StageError};
use exp_dsl::schema::KindSchema;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

pub struct CorpusCard;

/// The stored manifests around an input, found through the store layout.
struct Lineage {
    objects: PathBuf,
}

impl Lineage {
    /// From an input's artifact folder (`…/objects/ab/abcd…/artifact`).
    fn of(artifact: &Path) -> Option<(Lineage, Json)> {
        let object = artifact.parent()?;
        let objects = object.parent()?.parent()?.to_path_buf();
        let manifest = read(&object.join("manifest.json"))?;
        Some((Lineage { objects }, manifest))
    }

    fn manifest(&self, identity: &str) -> Option<Json> {
        read(&self.objects.join(identity.get(..2)?).join(identity).join("manifest.json"))
    }
}

fn read(path: &Path) -> Option<Json> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Parameters worth printing: set ones, compact; a mixture's members are listed apart.
fn params(m: &Json) -> String {
    m["params"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "members")
        .filter(|(_, v)| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
        .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), |s| format!("{s:?}"))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn metrics(m: &Json) -> String {
    m["metrics"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some(format!("{k} {}", v.as_f64()?)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per node of the chain under `manifest`, indented by depth.
fn chain(lineage: &Lineage, manifest: &Json, depth: usize, out: &mut String) {
    let id = manifest["identity"].as_str().unwrap_or_default();
    out.push_str(&format!(
        "{}- `{}` **{}**({}) — {} — identity `{}`\n",
        "  ".repeat(depth),
        manifest["name"].as_str().unwrap_or("?"),
        manifest["kind"].as_str().unwrap_or("?"),
        params(manifest),
        metrics(manifest),
        id.get(..12).unwrap_or(id)
    ));
    for f in manifest["files"].as_array().into_iter().flatten() {
        let hash = f["hash"].as_str().unwrap_or_default();
        out.push_str(&format!(
            "{}  - file `{}` blake3 `{}`\n",
            "  ".repeat(depth),
            f["path"].as_str().unwrap_or("?"),
            hash.get(..12).unwrap_or(hash)
        ));
    }
    for input in manifest["inputs"].as_array().into_iter().flatten() {
        if input["role"] == "tokenizer" {
            continue;
        }
        match input["identity"].as_str().and_then(|i| lineage.manifest(i)) {
            Some(m) => chain(lineage, &m, depth + 1, out),
            None => {
                out.push_str(&format!("{}- input {} not in this store\n", "  ".repeat(depth + 1), input["identity"]))
            }
        }
    }
}

fn by(composition: &Json, key: &str) -> Table {
    let total = composition["total"]["tokens"].as_f64().unwrap_or(0.0).max(1.0);
    Table {
        header: vec![key.trim_start_matches("by_").into(), "documents".into(), "tokens".into(), "share".into()],
        rows: composition["total"][key]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let tokens = v["tokens"].as_f64().unwrap_or(0.0);
                vec![
                    k.clone(),
                    v["documents"].to_string(),
                    format!("{tokens:.0}"),
                    format!("{:.1}%", 100.0 * tokens / total),
                ]
            })
            .collect(),
    }
}

fn card(name: &str, artifact: &Path) -> Result<String, StageError> {
    let composition_path = artifact.join("composition.json");
    let composition = read(&composition_path).ok_or_else(|| StageError::BadRecord {
        at: composition_path.display().to_string(),
        message: "no readable composition (is this a corpus?)".into(),
    })?;
    let (lineage, manifest) = Lineage::of(artifact)
        .ok_or_else(|| StageError::Param(format!("`{name}`: its manifest is not beside its artifact in the store")))?;
    let mut out = format!(
        "## {name}\n\nIdentity `{}`; {} documents, {} tokens; {}.\n\n### Tokens by language\n\n{}\n### Tokens by content type\n\n{}\n### Members\n\n",
        manifest["identity"].as_str().unwrap_or("?"),
        composition["total"]["documents"],
        composition["total"]["tokens"],
        params(&manifest),
        by(&composition, "by_language").to_markdown(),
        by(&composition, "by_content").to_markdown(),
    );
    let members = Table {
        header: ["member", "content", "documents read", "documents", "tokens", "weight"].map(String::from).to_vec(),
        rows: composition["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                vec![
                    m["name"].as_str().unwrap_or("?").to_string(),
                    m["content"].as_str().unwrap_or("").to_string(),
                    m["read"].to_string(),
                    m["written"]["documents"].to_string(),
                    m["written"]["tokens"].to_string(),
                    m["weight"].as_f64().map_or_else(String::new, |w| format!("{w:.3}")),
                ]
            })
            .collect(),
    };
    out.push_str(&members.to_markdown());
    out.push_str("\n### How each member was made\n\nEach line: the definition, its stage and settings, what it counted (kept, dropped, pairs, …), its identity; indented below it, its inputs and the files they read.\n\n");
    for input in manifest["inputs"].as_array().into_iter().flatten().filter(|i| i["role"] == "member") {
        if let Some(m) = input["identity"].as_str().and_then(|i| lineage.manifest(i)) {
            chain(&lineage, &m, 0, &mut out);
        }
    }
    Ok(out)
}

impl Stage for CorpusCard {
    fn schema(&self) -> &'static KindSchema {
        &CORPUS_CARD
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let mut md = format!("# Corpus cards (`{}`)\n\n", ctx.name);
        for input in ctx.inputs_for("corpora") {
            md.push_str(&card(&input.name, &input.dir)?);
            md.push('\n');
        }
        let write = |name: &str, text: &str| -> Result<(), StageError> {
            let path = ctx.out.join(name);
            std::fs::write(&path, text).map_err(StageError::io(&path))
        };
        write("card.md", &md)?;
        // The same text as a page: Markdown kept preformatted, which any browser shows.
        write(
            "card.html",
            &format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body><pre>{}</pre></body></html>\n",
                escape(&md),
                t = escape(ctx.name)
            ),
        )?;
        Ok(())
    }
}
