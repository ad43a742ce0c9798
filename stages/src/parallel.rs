//! `parallel`: pairs documents of two sources by an identifier and writes each pair as one
//! training text, the language order chosen per pair by a seeded hash (`order: shuffled`,
//! the recipe's randomised En–Ja order) or fixed. Unpaired documents are counted.

use crate::documents::{self, Document, Writer};
use crate::kinds::translate::{Order, ParallelParams, PARALLEL};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::KindSchema;
use std::collections::HashMap;

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
                    Order::Shuffled => crate::filters::unit(seed, &a.id) < 0.5,
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
