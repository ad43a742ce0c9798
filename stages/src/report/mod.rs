//! Reports: `compare` (tables and figures across models and corpora) and `corpus_card`
//! (each corpus's sources, filters and counts, from the graph). Figures are drawn by
//! [`figures`], tables written by [`table`], text from users and data escaped by [`text`].

pub mod card;
pub mod compare;
pub mod figures;
pub mod table;
pub mod text;

use crate::params::Params;
use serde::{Deserialize, Serialize};

/// `compare` and `corpus_card` take inputs only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
impl Params for NoParams {}
