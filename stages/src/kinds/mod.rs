//! One module per stage kind or small family: each holds the kind's schema, its
//! parameters struct and its implementation (the trainer kinds: schema and struct only).

pub mod eval;
pub mod filters;
pub mod mix;
pub mod model;
pub mod parallel;
pub mod render;
pub mod sources;
pub mod tokenize;
pub mod train;
pub mod translate;

use exp_dsl::schema::Ty;

/// Languages a document may be in. `mixed` marks parallel En–Ja text.
pub const LANGS: &[&str] = &["en", "ja", "mixed"];
pub const LANG: Ty = Ty::Enum(LANGS);
pub const SEED: Ty = Ty::Int { min: 0, max: u32::MAX as i64 };
pub const COUNT: Ty = Ty::Int { min: 1, max: i64::MAX };
pub const NONNEG: Ty = Ty::Int { min: 0, max: i64::MAX };
