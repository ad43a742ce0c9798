//! Mixtures: what a `corpus` definition's algebra lowers to.

use super::SEED;
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};

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
        Param::optional("budget", Ty::Tokens, "total tokens of the corpus (members scaled to fit)"),
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
