//! Mixtures: what a `corpus` definition's algebra lowers to.

use super::SEED;
use crate::documents::{self, Document};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use exp_dsl::Value;

/// Members, weights and budgets come from the mixture expression; these are the
/// parameters `with { … }` may set.
pub static MIX: KindSchema = KindSchema {
    name: "mix",
    version: 1,
    output: Artifact::Corpus,
    role: Role::Plain,
    params: &[
        Param::optional(
            "tokenizer",
            Ty::Input(&[Artifact::Tokenizer]),
            "counts tokens for budgets and the composition",
        ),
        Param::optional("budget", Ty::TOKENS, "total tokens of the corpus (members scaled to fit)"),
        Param::with("seed", SEED, Default::Int(0), "seed of up- and down-sampling"),
        Param::with(
            "content",
            Ty::Map(&Ty::Str),
            Default::Empty,
            "content type per member name, for the composition breakdown",
        ),
    ],
    doc: "a corpus mixed from subcorpora, deterministic with a seed",
};

/// Mixes member documents with their weights: `floor(w)` full passes over a member, and
/// each document once more with probability `w - floor(w)`, decided by a hash of the seed,
/// the member and the document id so the result is the same on every run. Writes the
/// mixed documents and `composition.json`.
pub struct Mixer;

#[derive(Debug, Default, serde::Serialize)]
struct Tally {
    documents: u64,
    characters: u64,
    by_language: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, doc: &Document, copies: u64) {
        let chars = doc.text.chars().count() as u64 * copies;
        self.documents += copies;
        self.characters += chars;
        *self.by_language.entry(doc.lang.clone()).or_default() += chars;
    }
}

#[derive(serde::Serialize)]
struct MemberTally {
    name: String,
    weight: f64,
    read: u64,
    written: Tally,
}

impl Stage for Mixer {
    fn schema(&self) -> &'static KindSchema {
        &MIX
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        if ctx.inputs_for("tokenizer").next().is_some() || ctx.param("budget") != &Value::Null {
            return Err(StageError::Param(
                "token budgets and token counts need the `tokenize` stage's tokenizer, which `mix` does not run yet; \
                 remove the budget and tokenizer to mix by weight"
                    .into(),
            ));
        }
        let seed = ctx.int_param("seed").unwrap_or(0);
        let members: Vec<&Value> = match ctx.param("members") {
            Value::List(m) => m.iter().collect(),
            _ => Vec::new(),
        };
        let mut out = documents::Writer::create(ctx.out)?;
        let mut total = Tally::default();
        let mut tallies = Vec::new();
        for (index, input) in ctx.inputs_for("member").enumerate() {
            let weight = members.get(index).and_then(|m| m.get("weight")).and_then(Value::as_f64).unwrap_or(1.0);
            let (full, fraction) = (weight.floor() as u64, weight.fract());
            let mut tally = MemberTally { name: input.name.clone(), weight, read: 0, written: Tally::default() };
            for doc in documents::read(&input.dir)? {
                ctx.check_cancelled()?;
                let doc = doc?;
                tally.read += 1;
                let extra = u64::from(fraction > 0.0 && unit_hash(seed, index, &doc.id) < fraction);
                let copies = full + extra;
                for _ in 0..copies {
                    out.write(&doc)?;
                }
                tally.written.add(&doc, copies);
                total.add(&doc, copies);
            }
            ctx.reporter.progress(index as u64 + 1, Some(members.len() as u64), "members");
            tallies.push(tally);
        }
        out.finish()?;
        let composition = serde_json::json!({ "members": tallies, "total": total });
        let path = ctx.out.join("composition.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&composition).unwrap_or_default())
            .map_err(StageError::io(&path))?;
        ctx.reporter.metric("documents", None, total.documents as f64);
        ctx.reporter.metric("characters", None, total.characters as f64);
        Ok(())
    }
}

/// A number in [0, 1) from the seed, member and document id.
fn unit_hash(seed: i64, member: usize, id: &str) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(&(member as u64).to_le_bytes());
    h.update(id.as_bytes());
    let bytes: [u8; 8] = h.finalize().as_bytes()[..8].try_into().expect("a blake3 digest has 32 bytes");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
