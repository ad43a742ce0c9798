//! Filters: documents in, fewer documents out. Each writes what it kept and, in
//! `dropped.json`, how many it dropped for each reason and a sample of dropped ids.

use super::{LANG, NONNEG, SEED};
use crate::artifacts::{Dropped, DroppedFor};
use crate::documents::{self, Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceParams {
    pub keep: Vec<String>,
}
impl Params for LicenceParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageParams {
    pub keep: Vec<String>,
}
impl Params for LanguageParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthParams {
    pub min_chars: u64,
    pub max_chars: Option<u64>,
}
impl Params for LengthParams {
    fn broken(&self) -> Vec<exp_dsl::schema::Broken> {
        let max = self.max_chars.unwrap_or(u64::MAX);
        crate::params::rule(self.min_chars <= max, "max_chars", || {
            format!("`max_chars` ({max}) is below `min_chars` ({}): every document would be dropped", self.min_chars)
        })
        .into_iter()
        .collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupParams {
    pub by: Vec<String>,
}
impl Params for DedupParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearDedupParams {
    pub threshold: f64,
    pub permutations: u64,
    pub shingle: u64,
    pub seed: u64,
}
impl Params for NearDedupParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecontaminateParams {
    pub ngram: u64,
}
impl Params for DecontaminateParams {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Train,
    Test,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitParams {
    pub keep: Side,
    pub ids: Option<String>,
    pub test_share: f64,
    pub seed: u64,
}
impl Params for SplitParams {}

const INPUT: Param = Param::required("input", Ty::Input(&[Artifact::Documents]), "the documents to filter");

pub static LICENCE: KindSchema = KindSchema {
    name: "licence",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with(
            "keep",
            Ty::List(&Ty::Str),
            Default::Strs(&["CC0", "CC-BY"]),
            "licence identifiers to keep; unknown licences are dropped",
        ),
    ],
    doc: "keep documents whose normalised licence is in `keep`",
    typed: typed::<LicenceParams>(),
};

pub static LANGUAGE: KindSchema = KindSchema {
    name: "language",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[INPUT, Param::required("keep", Ty::List(&LANG), "languages to keep")],
    doc: "keep documents identified as one of the languages",
    typed: typed::<LanguageParams>(),
};

pub static LENGTH: KindSchema = KindSchema {
    name: "length",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with("min_chars", NONNEG, Default::Int(1), "drop documents shorter than this"),
        Param::optional("max_chars", NONNEG, "drop documents longer than this"),
    ],
    doc: "length and simple quality rules",
    typed: typed::<LengthParams>(),
};

pub static DEDUP: KindSchema = KindSchema {
    name: "dedup",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with(
            "by",
            Ty::List(&Ty::Enum(&["id", "doi", "pmid", "text"])),
            Default::Strs(&["id"]),
            "identifiers compared",
        ),
        Param::optional(
            "against",
            Ty::List(&Ty::Input(&[Artifact::Documents])),
            "other sources whose documents win over these",
        ),
    ],
    doc: "exact deduplication by identifiers, within the input and against other sources",
    typed: typed::<DedupParams>(),
};

pub static NEAR_DEDUP: KindSchema = KindSchema {
    name: "near_dedup",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with(
            "threshold",
            Ty::Fraction,
            Default::Float(0.8),
            "Jaccard similarity above which two documents are duplicates",
        ),
        Param::with("permutations", Ty::Int { min: 16, max: 1024 }, Default::Int(128), "MinHash permutations"),
        Param::with("shingle", Ty::Int { min: 1, max: 64 }, Default::Int(5), "characters per shingle"),
        Param::with("seed", SEED, Default::Int(0), "MinHash seed"),
    ],
    doc: "near-duplicate removal with MinHash and LSH",
    typed: typed::<NearDedupParams>(),
};

pub static DECONTAMINATE: KindSchema = KindSchema {
    name: "decontaminate",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::required(
            "against",
            Ty::List(&Ty::Input(&[Artifact::Documents])),
            "evaluation sets that must not leak into training data",
        ),
        Param::with(
            "ngram",
            Ty::Int { min: 1, max: 64 },
            Default::Int(13),
            "n-gram length (characters for Japanese, words for English)",
        ),
    ],
    doc: "drop documents sharing an n-gram with an evaluation set",
    typed: typed::<DecontaminateParams>(),
};

pub static SPLIT: KindSchema = KindSchema {
    name: "split",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::required("keep", Ty::Enum(&["train", "test"]), "which side to keep"),
        Param::optional("ids", Ty::Path, "file listing the ids of the test side (e.g. PubMedQA's ground truth)"),
        Param::with(
            "test_share",
            Ty::Fraction,
            Default::Float(0.5),
            "share of documents on the test side when no id list is given",
        ),
        Param::with("seed", SEED, Default::Int(0), "seed of the random split"),
    ],
    doc: "split a benchmark into its training and test sides without leakage",
    typed: typed::<SplitParams>(),
};

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
    let report = Dropped(
        dropped.iter().map(|(r, (n, ids))| (r.clone(), DroppedFor { documents: *n, sample: ids.clone() })).collect(),
    );
    crate::artifacts::write(ctx.out, &report)?;
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
        let keep = ctx.params::<LicenceParams>()?.keep;
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
        let p: LengthParams = ctx.params()?;
        let (min, max) = (p.min_chars as usize, p.max_chars.map(|m| m as usize));
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

/// Script-based language identification for the languages of the recipe: the share of
/// Japanese characters (kana and CJK ideographs) among Japanese characters and Latin
/// letters. At least half is `ja`, at most a tenth is `en`, in between is `mixed`
/// (parallel En–Ja text); no letters at all is `und`. Chinese counts as `ja`: the recipe's
/// sources hold no Chinese.
pub fn identify(text: &str) -> &'static str {
    let (mut ja, mut latin) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '\u{3040}'..='\u{30ff}'
            | '\u{31f0}'..='\u{31ff}'
            | '\u{4e00}'..='\u{9fff}'
            | '\u{3400}'..='\u{4dbf}'
            | '\u{ff66}'..='\u{ff9f}' => ja += 1,
            'a'..='z' | 'A'..='Z' => latin += 1,
            _ => {}
        }
    }
    if ja + latin == 0 {
        return "und";
    }
    let share = ja as f64 / (ja + latin) as f64;
    if share >= 0.5 {
        "ja"
    } else if share <= 0.1 {
        "en"
    } else {
        "mixed"
    }
}

/// Keeps documents identified as one of the `keep` languages.
pub struct LanguageFilter;

impl Stage for LanguageFilter {
    fn schema(&self) -> &'static KindSchema {
        &LANGUAGE
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let keep = ctx.params::<LanguageParams>()?.keep;
        filter(ctx, |doc| {
            let lang = identify(&doc.text);
            if keep.iter().any(|k| k == lang) {
                None
            } else {
                Some(format!("language {lang}"))
            }
        })
    }
}

/// The identifier values of a document for the `by` fields of `dedup`.
fn keys(doc: &Document, by: &[String]) -> Vec<String> {
    by.iter()
        .filter_map(|field| {
            let value = match field.as_str() {
                "id" => Some(doc.id.clone()),
                "text" => Some(
                    blake3::hash(doc.text.split_whitespace().collect::<Vec<_>>().join(" ").as_bytes())
                        .to_hex()
                        .to_string(),
                ),
                other => doc.meta.get(other).map(|v| v.trim().to_ascii_lowercase()),
            }?;
            (!value.is_empty()).then(|| format!("{field}:{value}"))
        })
        .collect()
}

/// Exact deduplication by identifiers (id, DOI, PMID, text hash) within the input and
/// against other sources, whose documents win.
pub struct Dedup;

impl Stage for Dedup {
    fn schema(&self) -> &'static KindSchema {
        &DEDUP
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let by = ctx.params::<DedupParams>()?.by;
        let mut others = std::collections::HashSet::new();
        for input in ctx.inputs_for("against") {
            for doc in documents::read(&input.dir)? {
                others.extend(keys(&doc?, &by));
            }
        }
        let seen = std::cell::RefCell::new(std::collections::HashSet::new());
        filter(ctx, |doc| {
            let ks = keys(doc, &by);
            if let Some(k) = ks.iter().find(|k| others.contains(*k)) {
                return Some(format!("{} found in another source", k.split(':').next().unwrap_or("id")));
            }
            let mut seen = seen.borrow_mut();
            if let Some(k) = ks.iter().find(|k| seen.contains(*k)) {
                return Some(format!("duplicate {} within the source", k.split(':').next().unwrap_or("id")));
            }
            seen.extend(ks);
            None
        })
    }
}

/// The n-grams of a text: characters (without whitespace) for Japanese, lowercase words
/// otherwise.
fn ngrams(text: &str, n: usize) -> Vec<String> {
    if identify(text) == "ja" {
        let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
        chars.windows(n).map(|w| w.iter().collect()).collect()
    } else {
        let words: Vec<String> =
            text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        words.windows(n).map(|w| w.join(" ")).collect()
    }
}

/// Drops documents sharing an n-gram with an evaluation set.
pub struct Decontaminate;

impl Stage for Decontaminate {
    fn schema(&self) -> &'static KindSchema {
        &DECONTAMINATE
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let n = ctx.params::<DecontaminateParams>()?.ngram as usize;
        let mut held_out = std::collections::HashSet::new();
        for input in ctx.inputs_for("against") {
            for doc in documents::read(&input.dir)? {
                held_out.extend(ngrams(&doc?.text, n));
            }
        }
        filter(ctx, |doc| {
            ngrams(&doc.text, n)
                .iter()
                .any(|g| held_out.contains(g))
                .then(|| format!("shares a {n}-gram with an evaluation set"))
        })
    }
}

/// Splits a benchmark into training and test sides: by an id file (a JSON object or list,
/// or one id per line) when given, else by a seeded hash of the id.
pub struct Split;

impl Stage for Split {
    fn schema(&self) -> &'static KindSchema {
        &SPLIT
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: SplitParams = ctx.params()?;
        let keep_test = p.keep == Side::Test;
        let ids: Option<std::collections::HashSet<String>> = match &p.ids {
            Some(path) => {
                let file = ctx.root.join(path);
                let text = std::fs::read_to_string(&file).map_err(StageError::io(&file))?;
                Some(match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                    Ok(serde_json::Value::Array(a)) => {
                        a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect()
                    }
                    _ => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
                })
            }
            None => None,
        };
        let (share, seed) = (p.test_share, p.seed);
        filter(ctx, |doc| {
            let in_test = match &ids {
                Some(set) => set.contains(&doc.id),
                None => unit(seed, &doc.id) < share,
            };
            (in_test != keep_test).then(|| if in_test { "test side".to_string() } else { "training side".to_string() })
        })
    }
}

/// A number in [0, 1) from a seed and a string.
pub(crate) fn unit(seed: u64, s: &str) -> f64 {
    let h = blake3::Hasher::new().update(&seed.to_le_bytes()).update(s.as_bytes()).finalize();
    let bytes: [u8; 8] = h.as_bytes()[..8].try_into().expect("a blake3 digest has 32 bytes");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Near-duplicate removal: MinHash signatures of character shingles, banded for
/// locality-sensitive hashing; a document whose estimated Jaccard similarity with an
/// earlier one reaches the threshold is dropped.
pub struct NearDedup;

impl Stage for NearDedup {
    fn schema(&self) -> &'static KindSchema {
        &NEAR_DEDUP
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: NearDedupParams = ctx.params()?;
        let (threshold, seed) = (p.threshold, p.seed);
        let (perms, shingle) = (p.permutations as usize, p.shingle as usize);
        let (bands, rows) = bands_for(threshold, perms);
        let salts: Vec<u64> = (0..perms as u64).map(|i| splitmix(seed ^ splitmix(i))).collect();
        let buckets = std::cell::RefCell::new(vec![std::collections::HashMap::<u64, Vec<usize>>::new(); bands]);
        let kept = std::cell::RefCell::new(Vec::<Vec<u64>>::new());
        filter(ctx, |doc| {
            let sig = minhash(&doc.text, shingle, &salts);
            let mut buckets = buckets.borrow_mut();
            let mut kept = kept.borrow_mut();
            let band_keys: Vec<u64> = (0..bands).map(|b| fnv(&sig[b * rows..(b + 1) * rows])).collect();
            for (b, key) in band_keys.iter().enumerate() {
                for &other in buckets[b].get(key).into_iter().flatten() {
                    let same = sig.iter().zip(&kept[other]).filter(|(a, b)| a == b).count();
                    if same as f64 / perms as f64 >= threshold {
                        return Some(format!("near-duplicate (Jaccard ≥ {threshold})"));
                    }
                }
            }
            let index = kept.len();
            kept.push(sig);
            for (b, key) in band_keys.into_iter().enumerate() {
                buckets[b].entry(key).or_default().push(index);
            }
            None
        })
    }
}

/// Bands × rows for a threshold: the split whose S-curve midpoint `(1/b)^(1/r)` is nearest.
fn bands_for(threshold: f64, perms: usize) -> (usize, usize) {
    (1..=perms)
        .filter(|b| perms.is_multiple_of(*b))
        .map(|b| (b, perms / b))
        .min_by(|x, y| {
            let mid = |(b, r): (usize, usize)| (1.0 / b as f64).powf(1.0 / r as f64);
            (mid(*x) - threshold).abs().total_cmp(&(mid(*y) - threshold).abs())
        })
        .unwrap_or((perms, 1))
}

fn minhash(text: &str, shingle: usize, salts: &[u64]) -> Vec<u64> {
    let chars: Vec<char> = text.chars().collect();
    let shingles: Vec<u64> = if chars.len() <= shingle {
        vec![fnv_str(text)]
    } else {
        chars.windows(shingle).map(|w| fnv_str(&w.iter().collect::<String>())).collect()
    };
    salts.iter().map(|&salt| shingles.iter().map(|&h| splitmix(h ^ salt)).min().unwrap_or(u64::MAX)).collect()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fnv_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn fnv(values: &[u64]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| (h ^ v).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_of_real_texts() {
        assert_eq!(identify("高アンモニア血症をきたす疾患はどれか。"), "ja");
        assert_eq!(identify("What disease causes hyperammonemia?"), "en");
        assert_eq!(identify("What disease causes hyperammonemia?\n\n高アンモニア血症をきたす疾患はどれか。"), "mixed");
        assert_eq!(identify("von Gierke病の原因となる酵素はどれか。"), "ja");
        assert_eq!(identify("12345"), "und");
    }

    #[test]
    fn bands_approximate_the_threshold() {
        let (b, r) = bands_for(0.8, 128);
        assert_eq!(b * r, 128);
        let mid = (1.0 / b as f64).powf(1.0 / r as f64);
        assert!((mid - 0.8).abs() < 0.1, "{b}×{r}: {mid}");
    }

    #[test]
    fn minhash_estimates_similarity() {
        let salts: Vec<u64> = (0..256).map(splitmix).collect();
        let a = "Patients with mild asthma were treated with budesonide-formoterol as needed for a year.";
        let b = "Patients with mild asthma were treated with budesonide-formoterol as needed for one year.";
        let c = "The national examination covers internal medicine, surgery and public health in Japan.";
        let agree = |x: &str, y: &str| {
            let (p, q) = (minhash(x, 5, &salts), minhash(y, 5, &salts));
            p.iter().zip(&q).filter(|(u, v)| u == v).count() as f64 / 256.0
        };
        assert!(agree(a, b) > 0.7, "{}", agree(a, b));
        assert!(agree(a, c) < 0.2, "{}", agree(a, c));
    }

    #[test]
    fn japanese_ngrams_are_characters_and_english_are_words() {
        assert_eq!(ngrams("高アンモ ニア", 3), ["高アン", "アンモ", "ンモニ", "モニア"]);
        assert_eq!(ngrams("The cat sat, down.", 2), ["the cat", "cat sat", "sat down"]);
    }
}
