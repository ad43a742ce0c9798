//! Mixtures: what a `corpus` definition's algebra lowers to.

use super::SEED;
use crate::artifacts::{Composition, Counts, MemberTally, Tally};
use crate::documents::{self, Document};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};

/// A mixture node's parameters as lowering writes them: `content` (by member name) is
/// moved onto the members, so the node does not depend on the names.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixParams {
    pub budget: Option<u64>,
    pub seed: u64,
    pub members: Vec<Member>,
}
impl Params for MixParams {}

/// One member, in the order of the node's `member` inputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Passes over the member (`* 2`, `0.5 epochs`).
    pub weight: f64,
    /// Tokens to take from it (`@ 4B tokens`), which sets its weight.
    pub budget: Option<u64>,
    pub content: Option<String>,
}

/// The content type of a member that `content:` does not name.
const UNSPECIFIED: &str = "unspecified";

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
    typed: typed::<MixParams>(),
};

/// Mixes member documents. A member's weight `w` means `floor(w)` full passes over it and
/// each document once more with probability `w - floor(w)`, decided by a hash of the
/// seed, the member and the document id, so the result is the same on every run. With a
/// tokenizer, tokens are counted (SentencePiece ids, no BOS/EOS), a member budget sets
/// that member's weight to `budget / its tokens`, and a total budget then scales every
/// weight so the corpus comes to that many tokens. Writes the mixed documents and
/// `composition.json` (documents, characters and tokens per member, language and content
/// type).
pub struct Mixer;

impl Counts {
    fn add(&mut self, chars: u64, tokens: Option<u64>, copies: u64) {
        self.documents += copies;
        self.characters += chars * copies;
        if let Some(t) = tokens {
            *self.tokens.get_or_insert(0) += t * copies;
        }
    }
}

impl Tally {
    fn add(&mut self, doc: &Document, content: &str, tokens: Option<u64>, copies: u64) {
        let chars = doc.text.chars().count() as u64;
        self.documents += copies;
        self.characters += chars * copies;
        if let Some(t) = tokens {
            *self.tokens.get_or_insert(0) += t * copies;
        }
        self.by_language.entry(doc.lang.clone()).or_default().add(chars, tokens, copies);
        self.by_content.entry(content.to_string()).or_default().add(chars, tokens, copies);
    }
}

impl Stage for Mixer {
    fn schema(&self) -> &'static KindSchema {
        &MIX
    }

    /// The composition names each member by its definition.
    fn shows_names(&self) -> bool {
        true
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let tokenizer = match ctx.inputs_for("tokenizer").next() {
            Some(t) => Some(crate::kinds::tokenize::load_tokenizer(&t.dir)?),
            None => None,
        };
        let p: MixParams = ctx.params()?;
        let (seed, specs) = (p.seed, &p.members);
        let content_of =
            |index: usize| specs.get(index).and_then(|m| m.content.clone()).unwrap_or_else(|| UNSPECIFIED.to_string());
        let members: Vec<_> = ctx.inputs_for("member").collect();
        if members.len() != specs.len() {
            return Err(StageError::Param(format!("{} member inputs for {} members", members.len(), specs.len())));
        }

        // Pass 1, with a tokenizer: tokens per document, for budgets and the composition.
        let mut doc_tokens: Vec<Vec<u64>> = Vec::with_capacity(members.len());
        if let Some(tok) = &tokenizer {
            for (index, input) in members.iter().enumerate() {
                let mut counts = Vec::new();
                for doc in documents::read(&input.dir)? {
                    ctx.check_cancelled()?;
                    counts.push(tok.encode(&doc?.text).len() as u64);
                }
                ctx.reporter.progress(index as u64 + 1, Some(members.len() as u64), "members counted");
                doc_tokens.push(counts);
            }
        }
        let member_tokens: Vec<u64> = doc_tokens.iter().map(|c| c.iter().sum()).collect();
        let mut weights: Vec<f64> = members
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let spec = &specs[i];
                match (spec.budget, member_tokens.get(i)) {
                    (Some(b), Some(&t)) if t > 0 => b as f64 / t as f64,
                    _ => spec.weight,
                }
            })
            .collect();
        if let (Some(total), false) = (p.budget.map(|b| b as f64), member_tokens.is_empty()) {
            let planned: f64 = weights.iter().zip(&member_tokens).map(|(w, t)| w * *t as f64).sum();
            if planned > 0.0 {
                let scale = total / planned;
                weights.iter_mut().for_each(|w| *w *= scale);
            }
        }

        // Pass 2: sample and write.
        let mut out = documents::Writer::create(ctx.out)?;
        let mut total = Tally::default();
        let mut tallies = Vec::new();
        for (index, input) in members.iter().enumerate() {
            let weight = weights[index];
            let (full, fraction) = (weight.floor() as u64, weight.fract());
            let content = content_of(index);
            let mut tally = MemberTally {
                name: input.name.clone(),
                content: content.clone(),
                weight,
                read: 0,
                tokens_read: member_tokens.get(index).copied(),
                written: Tally::default(),
            };
            for (d, doc) in documents::read(&input.dir)?.enumerate() {
                ctx.check_cancelled()?;
                let doc = doc?;
                tally.read += 1;
                let tokens = doc_tokens.get(index).and_then(|c| c.get(d)).copied();
                let extra = u64::from(fraction > 0.0 && unit_hash(seed, index, &doc.id) < fraction);
                let copies = full + extra;
                for _ in 0..copies {
                    out.write(&doc)?;
                }
                tally.written.add(&doc, &content, tokens, copies);
                total.add(&doc, &content, tokens, copies);
            }
            ctx.reporter.progress(index as u64 + 1, Some(members.len() as u64), "members mixed");
            tallies.push(tally);
        }
        out.finish()?;
        let composition = Composition { members: tallies, total };
        crate::artifacts::write(ctx.out, &composition)?;
        let total = composition.total;
        ctx.reporter.metric("documents", None, total.documents as f64);
        ctx.reporter.metric("characters", None, total.characters as f64);
        if let Some(t) = total.tokens {
            ctx.reporter.metric("tokens", None, t as f64);
        }
        Ok(())
    }
}

/// A number in [0, 1) from the seed, member and document id.
fn unit_hash(seed: u64, member: usize, id: &str) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(&(member as u64).to_le_bytes());
    h.update(id.as_bytes());
    let bytes: [u8; 8] = h.finalize().as_bytes()[..8].try_into().expect("a blake3 digest has 32 bytes");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
