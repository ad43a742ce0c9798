//! `parallel`: pairs documents of two sources by an identifier and writes each pair as one
//! training text, the language order chosen per pair by a seeded hash (`order: shuffled`,
//! the recipe's randomised En–Ja order) or fixed. Unpaired documents are counted.

use super::SEED;
use crate::documents::{self, Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Shuffled,
    First,
    Second,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelParams {
    pub by: String,
    pub order: Order,
    pub separator: String,
    pub seed: u64,
}
impl Params for ParallelParams {}

pub static PARALLEL: KindSchema = KindSchema {
    name: "parallel",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        Param::required("first", Ty::Input(&[Artifact::Documents]), "one side (e.g. English abstracts)"),
        Param::required("second", Ty::Input(&[Artifact::Documents]), "the other side (e.g. their translations)"),
        Param::with("by", Ty::Enum(&["id", "doi", "pmid"]), Default::Sym("id"), "identifier pairing the two sides"),
        Param::with(
            "order",
            Ty::Enum(&["shuffled", "first", "second"]),
            Default::Sym("shuffled"),
            "language order in each pair: random per pair, or fixed",
        ),
        Param::with("separator", Ty::Str, Default::Str("\n\n"), "text between the two sides"),
        Param::with("seed", SEED, Default::Int(0), "seed of the per-pair order"),
    ],
    doc: "pair documents of two sources by id into one training text each",
    typed: typed::<ParallelParams>(),
};

pub struct Parallel;

fn key(doc: &Document, by: &str) -> Option<String> {
    match by {
        "id" => Some(doc.id.clone()),
        other => doc.meta.get(other).cloned(),
    }
}

impl Stage for Parallel {
    fn schema(&self) -> &'static KindSchema {
        &PARALLEL
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: ParallelParams = ctx.params()?;
        let (by, order, separator, seed) = (p.by.as_str(), p.order, p.separator.as_str(), p.seed);
        let second_dir =
            ctx.inputs_for("second").next().ok_or_else(|| StageError::Param("no `second` input".into()))?;
        let mut second: HashMap<String, Document> = HashMap::new();
        for doc in documents::read(&second_dir.dir)? {
            let doc = doc?;
            if let Some(k) = key(&doc, by) {
                second.insert(k, doc);
            }
        }
        let mut out = Writer::create(ctx.out)?;
        let (mut unpaired, mut first_first) = (0u64, 0u64);
        for input in ctx.inputs_for("first") {
            for doc in documents::read(&input.dir)? {
                ctx.check_cancelled()?;
                let a = doc?;
                let Some(b) = key(&a, by).and_then(|k| second.remove(&k)) else {
                    unpaired += 1;
                    continue;
                };
                let a_first = match order {
                    Order::First => true,
                    Order::Second => false,
                    Order::Shuffled => super::filters::unit(seed, &a.id) < 0.5,
                };
                first_first += u64::from(a_first);
                let text = if a_first {
                    format!("{}{separator}{}", a.text, b.text)
                } else {
                    format!("{}{separator}{}", b.text, a.text)
                };
                let mut meta = a.meta.clone();
                meta.insert(
                    "languages".into(),
                    if a_first { format!("{}-{}", a.lang, b.lang) } else { format!("{}-{}", b.lang, a.lang) },
                );
                out.write(&Document { id: a.id.clone(), text, lang: "mixed".into(), source: a.source.clone(), meta })?;
            }
        }
        let pairs = out.documents;
        out.finish()?;
        unpaired += second.len() as u64;
        ctx.reporter.metric("pairs", None, pairs as f64);
        ctx.reporter.metric("unpaired", None, unpaired as f64);
        ctx.reporter.metric("first_side_first", None, first_first as f64);
        ctx.reporter.log(&format!(
            "{pairs} pairs, {first_first} with the first side first; {unpaired} documents without a partner"
        ));
        Ok(())
    }
}
