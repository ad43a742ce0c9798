//! Reports: comparisons across evaluations, and corpus cards.

use crate::params::{typed, Params};
use exp_dsl::schema::{Artifact, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};

/// `compare` and `corpus_card` take inputs only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
impl Params for NoParams {}

pub static COMPARE: KindSchema = KindSchema {
    name: "compare",
    // 2: implemented; `by` and `plot` gave way to every table and figure.
    version: 2,
    output: Artifact::Report,
    role: Role::Plain,
    params: &[
        Param::required("evals", Ty::List(&Ty::Input(&[Artifact::Scores])), "evaluations to compare (e.g. `eval_*`)"),
        Param::optional("corpora", Ty::List(&Ty::Input(&[Artifact::Corpus])), "corpora whose composition to chart"),
        Param::optional(
            "training",
            Ty::List(&Ty::Input(&[Artifact::Model])),
            "trained models whose loss curves to plot (e.g. `cpt_*`)",
        ),
    ],
    doc: "tables and figures comparing models and corpora",
    typed: typed::<NoParams>(),
};

pub static CORPUS_CARD: KindSchema = KindSchema {
    name: "corpus_card",
    version: 1,
    output: Artifact::Report,
    role: Role::Plain,
    params: &[Param::required("corpora", Ty::List(&Ty::Input(&[Artifact::Corpus])), "corpora to describe")],
    doc: "a card per corpus: sources, licences, filters, tokens by language and type",
    typed: typed::<NoParams>(),
};
