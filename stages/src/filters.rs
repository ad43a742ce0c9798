//! Filters: documents in, fewer documents out. Each writes what it kept and, in
//! `dropped.json`, how many it dropped for each reason and a sample of dropped ids.

use crate::documents::{self, Document, Writer};
use crate::kinds::filters::{LENGTH, LICENCE};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use std::collections::BTreeMap;

/// Dropped ids kept as a sample per reason.
const SAMPLE: usize = 20;

/// Runs `keep` over every input document: `Ok(None)` keeps it, `Ok(Some(reason))` drops it.
fn filter(ctx: &Context, keep: impl Fn(&Document) -> Option<String>) -> Result<(), StageError> {
    let mut out = Writer::create(ctx.out)?;
    let mut dropped: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for input in ctx.inputs_for("input") {
        for doc in documents::read(&input.dir)? {
            ctx.check_cancelled()?;
            let doc = doc?;
            match keep(&doc) {
                None => out.write(&doc)?,
                Some(reason) => {
                    let entry = dropped.entry(reason).or_default();
                    entry.0 += 1;
                    if entry.1.len() < SAMPLE {
                        entry.1.push(doc.id.clone());
                    }
                }
            }
        }
    }
    let kept = out.documents;
    out.finish()?;
    let report: BTreeMap<&String, serde_json::Value> =
        dropped.iter().map(|(r, (n, ids))| (r, serde_json::json!({ "documents": n, "sample": ids }))).collect();
    let path = ctx.out.join("dropped.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap_or_default()).map_err(StageError::io(&path))?;
    let total_dropped: u64 = dropped.values().map(|(n, _)| n).sum();
    ctx.reporter.metric("kept", None, kept as f64);
    ctx.reporter.metric("dropped", None, total_dropped as f64);
    for (reason, (n, _)) in &dropped {
        ctx.reporter.log(&format!("dropped {n}: {reason}"));
    }
    Ok(())
}

/// Keeps documents whose normalised licence is in `keep`; unknown licences are dropped.
pub struct LicenceFilter;

impl Stage for LicenceFilter {
    fn schema(&self) -> &'static KindSchema {
        &LICENCE
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let keep: Vec<String> = match ctx.param("keep") {
            Value::List(l) => l
                .iter()
                .filter_map(|v| if let Value::Str(s) = v { Some(s.to_ascii_uppercase()) } else { None })
                .collect(),
            _ => Vec::new(),
        };
        filter(ctx, |doc| {
            let licence = doc.meta.get("licence").map_or("unknown", String::as_str);
            if keep.iter().any(|k| k.eq_ignore_ascii_case(licence)) {
                None
            } else {
                Some(format!("licence {licence}"))
            }
        })
    }
}

/// Drops documents shorter than `min_chars` or longer than `max_chars`.
pub struct LengthFilter;

impl Stage for LengthFilter {
    fn schema(&self) -> &'static KindSchema {
        &LENGTH
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let min = ctx.int_param("min_chars").unwrap_or(1).max(0) as usize;
        let max = ctx.int_param("max_chars").map(|m| m.max(0) as usize);
        filter(ctx, |doc| {
            let n = doc.text.chars().count();
            if n < min {
                Some(format!("shorter than {min} characters"))
            } else if max.is_some_and(|m| n > m) {
                Some(format!("longer than {} characters", max.unwrap_or_default()))
            } else {
                None
            }
        })
    }
}
