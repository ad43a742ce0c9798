//! Medical machine translation from the IgakuQA translations: each question in Japanese
//! and its English translation are a pair (`igakuqa.rs` reads both files).

use super::igakuqa::{self, questions_of, year_and_block};
use super::{Data, Gold, Item, Items, Lang, Read, SHOTS, TEMPLATE, YEARS};
use crate::StageError;
use exp_dsl::schema::{Param, Ty};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The parameters of `ejmmt(...)`.
pub const PARAMS: &[Param] =
    &[SHOTS, Param::required("direction", Ty::Enum(&["en-ja", "ja-en"]), "translation direction"), YEARS, TEMPLATE];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "en-ja")]
    EnJa,
    #[serde(rename = "ja-en")]
    JaEn,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::EnJa => "en-ja",
            Direction::JaEn => "ja-en",
        }
    }

    /// The language translated into, which the task is counted under.
    pub fn target(self) -> Lang {
        match self {
            Direction::EnJa => Lang::Ja,
            Direction::JaEn => Lang::En,
        }
    }
}

/// `ejmmt(...)` as lowered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub shots: usize,
    pub direction: Direction,
    /// The evaluated years (all when empty); the others give the shots.
    pub years: Vec<u32>,
    pub template: Option<String>,
}

/// `ejmmt_en-ja`.
pub fn id(spec: &Spec) -> String {
    format!("ejmmt_{}", spec.direction.name())
}

/// The files `load` reads, relative to the data folder, with whether each may be absent.
pub(super) fn reads() -> Vec<(String, bool)> {
    vec![(igakuqa::questions(), false), (igakuqa::translations(), false)]
}

/// Pairs of a question in Japanese and its English translation; the evaluated years give
/// the items, the other years the few-shot pool.
pub(super) fn load(data: &Data, spec: &Spec) -> Result<Read, StageError> {
    let to_ja = spec.direction == Direction::EnJa;
    let mut items: Items = Vec::new();
    let mut pool = Vec::new();
    for path in data.expand(&igakuqa::questions())? {
        let (year, group) = year_and_block(&path);
        let file = data.relative(&path);
        let ja = questions_of(data, &path, false)?;
        let en = questions_of(data, &path, true)?;
        for (ja, en) in ja.into_iter().zip(en) {
            let pair = match (ja, en) {
                (Ok(j), Ok(e)) => Ok((j.id, j.text, e.text)),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            let item = pair.map(|(id, ja, en)| {
                let (source, target) = if to_ja { (en, ja) } else { (ja, en) };
                Item {
                    id,
                    file: file.clone(),
                    group: group.clone(),
                    fields: json!({"source": source}),
                    options: Vec::new(),
                    answer_text: target.clone(),
                    gold: Gold::Text(target),
                }
            });
            if igakuqa::evaluated(&spec.years, &year) {
                items.push(item);
            } else if let Ok(item) = item {
                pool.push(item);
            }
        }
    }
    Ok(Read { pool, ..Read::items(items) })
}
