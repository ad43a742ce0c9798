//! The `jats` reader: PMC Open Access articles in JATS XML (`.nxml`), one article per file.
//! The text is the title, the abstract and the body's section titles and paragraphs; the
//! metadata: PMID, PMCID, DOI, journal, year, and the licence normalised from
//! `<permissions>` (`crate::licence`).

use super::{file_label, finish, Fields};
use super::{OnError, LIMIT, ON_ERROR, PATH};
use crate::documents::{Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use roxmltree::{Document as Xml, Node, ParsingOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;

const XLINK: &str = "http://www.w3.org/1999/xlink";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JatsParams {
    pub path: String,
    pub limit: Option<u64>,
    pub on_error: OnError,
}
impl Params for JatsParams {}

pub static JATS: KindSchema = KindSchema {
    name: "jats",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, LIMIT, ON_ERROR],
    doc: "PMC JATS `.nxml`: body text, ids, and the licence from `<permissions>`",
    typed: typed::<JatsParams>(),
};

pub struct JatsReader;

impl Stage for JatsReader {
    fn schema(&self) -> &'static KindSchema {
        &JATS
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: JatsParams = ctx.params()?;
        let files = crate::files::expand(ctx.root, &p.path)?;
        let fields = Fields::plain(None, None, p.limit, p.on_error);
        let mut out = Writer::create(ctx.out)?;
        for file in &files {
            if fields.full(out.documents) {
                break;
            }
            ctx.check_cancelled()?;
            let mut text = String::new();
            crate::files::open(file)?.read_to_string(&mut text).map_err(StageError::io(file))?;
            let doc = article(&text, &file_label(file))
                .map_err(|message| StageError::BadRecord { at: file.display().to_string(), message });
            let Some(doc) = fields.policy(ctx, doc)? else { continue };
            out.write(&doc)?;
        }
        finish(ctx, out, files.len(), &fields)
    }
}

/// One JATS article as a document (English: PMC OA is the English subset).
pub fn article(xml: &str, label: &str) -> Result<Document, String> {
    let options = ParsingOptions { allow_dtd: true, ..ParsingOptions::default() };
    let doc = Xml::parse_with_options(xml, options).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    let first = |tag: &str| root.descendants().find(|n| n.has_tag_name(tag));
    let mut meta = BTreeMap::new();
    for id in root.descendants().filter(|n| n.has_tag_name("article-id")) {
        let key = match id.attribute("pub-id-type") {
            Some("pmid") => "pmid",
            Some("pmc" | "pmcid") => "pmcid",
            Some("doi") => "doi",
            _ => continue,
        };
        meta.entry(key.to_string()).or_insert_with(|| text_of(id));
    }
    if let Some(j) = first("journal-title") {
        meta.insert("journal".into(), text_of(j));
    }
    if let Some(y) = root
        .descendants()
        .find(|n| n.has_tag_name("pub-date"))
        .and_then(|d| d.children().find(|c| c.has_tag_name("year")))
    {
        meta.insert("year".into(), text_of(y));
    }
    let licence = match first("license") {
        Some(l) => crate::licence::normalise(l.attribute((XLINK, "href")), l.attribute("license-type"), &text_of(l)),
        None => "unknown".into(),
    };
    meta.insert("licence".into(), licence);
    let mut parts = Vec::new();
    if let Some(t) = first("article-title") {
        parts.push(text_of(t));
    }
    if let Some(a) = first("abstract") {
        parts.extend(blocks(a));
    }
    if let Some(b) = first("body") {
        parts.extend(blocks(b));
    }
    let text = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("\n");
    if text.is_empty() {
        return Err("the article has no title, abstract or body text".into());
    }
    let id = meta.get("pmcid").or(meta.get("pmid")).or(meta.get("doi")).cloned().unwrap_or_else(|| label.to_string());
    Ok(Document { id, text, lang: "en".into(), source: label.to_string(), meta })
}

/// The section titles and paragraphs under `node`, in order.
fn blocks(node: Node) -> Vec<String> {
    node.descendants()
        .filter(|n| {
            (n.has_tag_name("p") || n.has_tag_name("title")) && !n.ancestors().skip(1).any(|a| a.has_tag_name("p"))
        })
        .map(text_of)
        .collect()
}

/// All text under a node, whitespace collapsed.
fn text_of(node: Node) -> String {
    let raw: String = node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect();
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::article;

    #[test]
    fn licences_of_the_bundled_pmc_sample() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pmc-oa");
        let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("fixtures")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "nxml"))
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).expect("read");
                let doc = article(&text, "x").expect("parses");
                (e.file_name().to_string_lossy().into_owned(), doc.meta["licence"].clone())
            })
            .collect();
        found.sort();
        let expected = [
            ("1471-2180-11-174.nxml", "CC-BY"),
            ("1472-6831-8-11.nxml", "CC-BY"),
            ("6605965a.nxml", "unknown"),
            ("ehp-116-1694.nxml", "PDM"),
            ("mds526.nxml", "CC-BY-NC"),
            ("pntd.0002065.nxml", "CC-BY"),
            ("pone.0000217.nxml", "unknown"),
            ("pone.0046493.nxml", "CC-BY"),
        ];
        let found: Vec<(&str, &str)> = found.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn article_text_and_ids() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pmc-oa/1471-2180-11-174.nxml");
        let doc = article(&std::fs::read_to_string(path).expect("read"), "x").expect("parses");
        assert_eq!(doc.meta["pmid"], "21810267");
        assert_eq!(doc.meta["doi"], "10.1186/1471-2180-11-174");
        assert_eq!(doc.id, "3166277");
        assert!(doc.text.len() > 10_000, "{}", doc.text.len());
        assert!(!doc.text.contains("<p>") && !doc.text.contains("</"), "markup left in the text");
    }

    #[test]
    fn a_file_cut_short_is_an_error() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pmc-oa/mds526.nxml");
        let text = std::fs::read_to_string(path).expect("read");
        let err = article(&text[..text.len() / 2], "x").expect_err("cut");
        assert!(err.contains("not well-formed"), "{err}");
    }
}
