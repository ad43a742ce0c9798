//! Reports: comparisons across evaluations, and corpus cards.

use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};

pub static COMPARE: KindSchema = KindSchema {
    name: "compare",
    version: 1,
    output: Artifact::Report,
    role: Role::Plain,
    params: &[
        Param::required("evals", Ty::List(&Ty::Input(&[Artifact::Scores])), "evaluations to compare (e.g. `eval_*`)"),
        Param::with(
            "by",
            Ty::List(&Ty::Enum(&["task", "category", "language"])),
            Default::Strs(&["task", "category", "language"]),
            "tables and figures to produce",
        ),
        Param::with("plot", Ty::Enum(&["bars", "lines", "none"]), Default::Sym("bars"), "figure style"),
        Param::optional("corpora", Ty::List(&Ty::Input(&[Artifact::Corpus])), "corpora whose composition to chart"),
    ],
    doc: "tables and figures comparing models and corpora",
};

pub static CORPUS_CARD: KindSchema = KindSchema {
    name: "corpus_card",
    version: 1,
    output: Artifact::Report,
    role: Role::Plain,
    params: &[Param::required("corpora", Ty::List(&Ty::Input(&[Artifact::Corpus])), "corpora to describe")],
    doc: "a card per corpus: sources, licences, filters, tokens by language and type",
};
