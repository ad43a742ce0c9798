//! Reports: `compare` (tables and figures across models and corpora) and `corpus_card`
//! (each corpus's sources, filters and counts, from the graph). Figures are drawn by
//! [`figures`], tables written by [`table`].

pub mod card;
pub mod compare;
pub mod figures;
pub mod table;
