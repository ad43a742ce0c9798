//! The `pubmed_xml` reader: PubMed/MEDLINE XML (`PubmedArticleSet`, plain or `.gz`),
//! streamed with quick-xml so a baseline file of tens of thousands of articles is read in
//! bounded memory. Each article gives one document: the title and the abstract sections
//! (`LABEL: text`), with PMID, DOI, journal, year and MeSH descriptors as metadata.

use super::{ending_at, file_label, finish, write_all, Fields};
use super::{OnError, LICENCE, LIMIT, ON_ERROR, PATH};
use crate::documents::{Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PubmedParams {
    pub path: String,
    pub licence: Option<String>,
    pub limit: Option<u64>,
    pub on_error: OnError,
}
impl Params for PubmedParams {}

pub static PUBMED_XML: KindSchema = KindSchema {
    name: "pubmed_xml",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, LICENCE, LIMIT, ON_ERROR],
    doc: "PubMed/MEDLINE XML: title and abstract sections, PMID, DOI, journal, year, MeSH",
    typed: typed::<PubmedParams>(),
};

pub struct PubmedReader;

/// Elements of inline markup within a field's text.
const INLINE: [&str; 5] = ["sub", "sup", "i", "b", "u"];

impl Stage for PubmedReader {
    fn schema(&self) -> &'static KindSchema {
        &PUBMED_XML
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: PubmedParams = ctx.params()?;
        let files = crate::files::expand(ctx.root, &p.path)?;
        let fields = Fields::plain(None, p.licence.as_deref(), p.limit, p.on_error);
        let mut out = Writer::create(ctx.out)?;
        for file in &files {
            if !write_all(ctx, &mut out, &fields, documents(crate::files::open(file)?, file, &fields))? {
                break;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}

/// The articles of one PubMed XML stream (already decompressed), one document each. XML
/// that is not well-formed, or an article without a PMID, is a bad record and the end of
/// the stream: a malformed file cannot be read past its fault, so skipping skips the rest.
pub fn documents<'a>(
    input: impl Read + 'a,
    file: &'a Path,
    fields: &'a Fields,
) -> impl Iterator<Item = Result<Document, StageError>> + 'a {
    let label = file_label(file);
    let mut reader = Reader::from_reader(BufReader::new(input));
    let mut articles = Articles::default();
    let documents = std::iter::from_fn(move || {
        let next = articles.next(&mut reader).map_err(|message| StageError::BadRecord {
            at: format!("{}: byte {}", file.display(), reader.buffer_position()),
            message,
        });
        next.map(|doc| {
            doc.map(|mut doc| {
                if let Some(l) = fields.licence() {
                    doc.meta.entry("licence".into()).or_insert_with(|| l.to_string());
                }
                doc.source = format!("{label}:{}", doc.id);
                doc
            })
        })
        .transpose()
    });
    ending_at(documents, |_| true)
}

/// Streaming state: the path of open elements and the article being read.
#[derive(Default)]
struct Articles {
    buf: Vec<u8>,
    path: Vec<String>,
    article: Option<Partial>,
}

#[derive(Default)]
struct Partial {
    pmid: String,
    title: String,
    sections: Vec<String>,
    label: Option<String>,
    meta: BTreeMap<String, String>,
    mesh: Vec<String>,
    doi_pending: bool,
    text: String,
}

impl Articles {
    /// The next complete article, `None` at the end of the file.
    fn next<R: std::io::BufRead>(&mut self, reader: &mut Reader<R>) -> Result<Option<Document>, String> {
        loop {
            self.buf.clear();
            let event = reader.read_event_into(&mut self.buf).map_err(|e| format!("not well-formed XML: {e}"))?;
            match event {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if name == "PubmedArticle" {
                        self.article = Some(Partial::default());
                    }
                    if let Some(a) = self.article.as_mut() {
                        // Inline markup (`<sub>`, `<i>`) inside a field keeps the text so far.
                        if !INLINE.contains(&name.as_str()) {
                            a.text.clear();
                        }
                        let attr = |key: &[u8]| {
                            e.attributes()
                                .flatten()
                                .find(|x| x.key.as_ref() == key)
                                .map(|x| String::from_utf8_lossy(&x.value).into_owned())
                        };
                        match name.as_str() {
                            "AbstractText" => a.label = attr(b"Label"),
                            "ArticleId" | "ELocationID" => {
                                a.doi_pending = attr(b"IdType").or(attr(b"EIdType")).as_deref() == Some("doi");
                            }
                            _ => {}
                        }
                    }
                    self.path.push(name);
                }
                Event::Text(t) => {
                    if let Some(a) = self.article.as_mut() {
                        a.text.push_str(&t.decode().map_err(|e| format!("bad text: {e}"))?);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(a) = self.article.as_mut() {
                        if let Ok(Some(c)) = r.resolve_char_ref() {
                            a.text.push(c);
                        }
                    }
                }
                Event::End(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    let parent = self.path.iter().rev().nth(1).cloned().unwrap_or_default();
                    self.path.pop();
                    let Some(a) = self.article.as_mut() else { continue };
                    let text = a.text.split_whitespace().collect::<Vec<_>>().join(" ");
                    match name.as_str() {
                        n if INLINE.contains(&n) => continue,
                        "PMID" if parent == "MedlineCitation" && a.pmid.is_empty() => a.pmid = text,
                        "ArticleTitle" => a.title = text,
                        "AbstractText" => {
                            let section = match a.label.take() {
                                Some(l) => format!("{l}: {text}"),
                                None => text,
                            };
                            a.sections.push(section);
                        }
                        "Title" if parent == "Journal" => {
                            a.meta.insert("journal".into(), text);
                        }
                        "Year" if parent == "PubDate" => {
                            a.meta.entry("year".into()).or_insert(text);
                        }
                        "DescriptorName" => a.mesh.push(text),
                        "ArticleId" | "ELocationID" if a.doi_pending => {
                            a.meta.entry("doi".into()).or_insert(text);
                            a.doi_pending = false;
                        }
                        "PubmedArticle" => {
                            let mut a = self.article.take().expect("inside an article");
                            if a.pmid.is_empty() {
                                return Err("an article without a PMID".into());
                            }
                            if !a.mesh.is_empty() {
                                a.meta.insert("mesh".into(), a.mesh.join("; "));
                            }
                            a.meta.insert("pmid".into(), a.pmid.clone());
                            let text = std::iter::once(a.title)
                                .chain(a.sections)
                                .filter(|s| !s.is_empty())
                                .collect::<Vec<_>>()
                                .join("\n");
                            return Ok(Some(Document {
                                id: a.pmid,
                                text,
                                lang: "en".into(),
                                source: String::new(),
                                meta: a.meta,
                            }));
                        }
                        _ => {}
                    }
                    if let Some(a) = self.article.as_mut() {
                        a.text.clear();
                    }
                }
                Event::Eof => {
                    if self.article.is_some() || !self.path.is_empty() {
                        return Err("the file ends inside an element (cut short?)".into());
                    }
                    return Ok(None);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &str) -> Result<Vec<Document>, String> {
        let mut reader = Reader::from_reader(xml.as_bytes());
        let mut a = Articles::default();
        let mut docs = Vec::new();
        while let Some(d) = a.next(&mut reader)? {
            docs.push(d);
        }
        Ok(docs)
    }

    fn sample() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pubmed-xml/pubmed-29768149.xml");
        std::fs::read_to_string(path).expect("the bundled MEDLINE record")
    }

    #[test]
    fn reads_the_bundled_medline_record() {
        let docs = read_all(&sample()).expect("parses");
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d.id, "29768149");
        assert_eq!(d.meta["doi"], "10.1056/NEJMoa1715274");
        assert_eq!(d.meta["journal"], "The New England journal of medicine");
        assert_eq!(d.meta["year"], "2018");
        assert!(d.meta["mesh"].contains("Asthma"), "{}", d.meta["mesh"]);
        assert!(
            d.text.starts_with(
                "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma.\nBACKGROUND: In patients"
            ),
            "{}",
            d.text
        );
        assert!(d.text.contains("a fast-acting β 2-agonist may be"), "inline <sub> keeps its text: {}", d.text);
        assert!(d.text.contains("METHODS: "));
    }

    #[test]
    fn a_file_cut_short_is_an_error() {
        let xml = sample();
        let err = read_all(&xml[..xml.len() / 2]).expect_err("cut");
        assert!(err.contains("cut short") || err.contains("not well-formed"), "{err}");
    }
}
