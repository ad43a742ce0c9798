//! Every stage kind's parameters struct agrees with its schema, and every default lives in
//! the schema: for each kind, a node written with its required parameters only lowers to
//! the same node as one with every default written out (constructor defaults included),
//! and those lowered parameters read into the kind's struct and write back unchanged.

use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use exp_dsl::{check_text, Options, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Definitions of every artifact type, for the inputs a kind needs.
const PRELUDE: &str = r#"experiment "kinds"
tokenizer tok = sentencepiece("t.model")
source docs = jsonl("d.jsonl")
corpus corp = { docs } with { tokenizer: tok }
dataset toks = tokenize(docs, tok)
model base = mixtral(tiny, tokenizer: tok)
eval scores = jmedbench(base, [crade], data: "data")
"#;

fn input_name(arts: &[Artifact]) -> &'static str {
    match arts[0] {
        Artifact::Tokenizer => "tok",
        Artifact::Documents => "docs",
        Artifact::Corpus => "corp",
        Artifact::Tokens => "toks",
        Artifact::Model => "base",
        Artifact::Scores => "scores",
        Artifact::Report => unreachable!("no kind takes a report"),
    }
}

/// A valid value of `ty` as written in a `.med` file; with `full`, records and constructors
/// write out every default too.
fn sample(ty: &Ty, full: bool) -> String {
    match ty {
        Ty::Int { min, .. } => (*min).max(0).to_string(),
        Ty::Float { min, .. } => if min.is_finite() { min.max(0.0) } else { 0.0 }.to_string(),
        Ty::Fraction => "0.5".into(),
        Ty::Bool => "true".into(),
        Ty::Str | Ty::Path => "\"x\"".into(),
        Ty::Enum(options) => options[0].into(),
        Ty::Count { min, .. } => (*min).max(1).to_string(),
        Ty::Warmup => "10 steps".into(),
        Ty::Schedule => "1e-4".into(),
        Ty::List(item) => format!("[{}]", sample(item, full)),
        Ty::Tuple(items) => format!("({})", items.iter().map(|t| sample(t, full)).collect::<Vec<_>>().join(", ")),
        Ty::Map(_) => "{}".into(),
        Ty::Struct(fields) => format!("{{ {} }}", arguments(fields, full).join(", ")),
        Ty::Variant(ctors) => {
            let args = arguments(ctors[0].params, full);
            format!("{}({})", ctors[0].name, args.join(", "))
        }
        Ty::Input(arts) => input_name(arts).into(),
    }
}

/// `name: value` for each required parameter, and with `full` for each default.
fn arguments(params: &[Param], full: bool) -> Vec<String> {
    params
        .iter()
        .filter_map(|p| match (&p.default, p.default.written(&p.ty)) {
            (Default::Required, _) => Some(format!("{}: {}", p.name, sample(&p.ty, full))),
            (_, Some(written)) if full => Some(format!("{}: {written}", p.name)),
            _ => None,
        })
        .collect()
}

fn keyword(kind: &KindSchema) -> &'static str {
    match (kind.output, kind.role) {
        (_, Role::Pretrain) => "pretrain",
        (_, Role::Finetune) => "finetune",
        (Artifact::Tokenizer, _) => "tokenizer",
        (Artifact::Documents, _) => "source",
        (Artifact::Corpus, _) => "corpus",
        (Artifact::Tokens, _) => "dataset",
        (Artifact::Model, _) => "model",
        (Artifact::Scores, _) => "eval",
        (Artifact::Report, _) => "report",
    }
}

/// The lowered parameters of the definition `under_test` after the prelude.
fn lowered(definition: &str) -> BTreeMap<String, Value> {
    let text = format!("{PRELUDE}{definition}\n");
    let checked = check_text(Path::new("kinds.med"), &text, &exp_stages::catalog(), &Options::default());
    let errors: Vec<String> = checked.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{definition}: {errors:?}");
    let graph = checked.graph.expect("no errors, so a graph");
    graph.nodes.into_iter().find(|n| n.name == "under_test").expect("the definition is a node").params
}

fn assert_typed(kind: &KindSchema, params: &BTreeMap<String, Value>) {
    let upstream = exp_dsl::schema::Upstream { nodes: &[], inputs: &[], root: Path::new(".") };
    assert_eq!((kind.typed.rules)(params, &upstream), vec![], "{}: the defaults break a rule", kind.name);
    let back = (kind.typed.round_trip)(params).unwrap_or_else(|e| panic!("{}: {e}", kind.name));
    assert_eq!(&back, params, "{}: the struct and the schema disagree", kind.name);
}

#[test]
fn every_default_is_in_the_schema_and_fits_the_kinds_struct() {
    let catalog = exp_stages::catalog();
    for kind in catalog.kinds.iter().filter(|k| k.name != catalog.mixture_kind) {
        let call = |full: bool| {
            format!("{} under_test = {}({})", keyword(kind), kind.name, arguments(kind.params, full).join(", "))
        };
        let omitted = lowered(&call(false));
        let written = lowered(&call(true));
        assert_eq!(omitted, written, "{}: a default written out changes the node", kind.name);
        let declared: Vec<&str> = kind
            .params
            .iter()
            .filter(|p| !matches!(p.ty, Ty::Input(_) | Ty::List(Ty::Input(_))))
            .map(|p| p.name)
            .collect();
        let lowered_names: Vec<&str> = omitted.keys().map(String::as_str).collect();
        let mut sorted = declared.clone();
        sorted.sort_unstable();
        assert_eq!(lowered_names, sorted, "{}: the lowered node shows every parameter", kind.name);
        assert_typed(kind, &omitted);
    }
}

#[test]
fn a_mixture_node_fits_the_mix_struct() {
    let catalog = exp_stages::catalog();
    let plain = lowered("corpus under_test = { docs * 2 }");
    assert_typed(catalog.mixture(), &plain);
    let budgeted = lowered(
        "corpus under_test = { corp, docs @ 1k tokens } with { tokenizer: tok, budget: 2k tokens, seed: 3, content: { docs: \"papers\" } }",
    );
    assert_typed(catalog.mixture(), &budgeted);
}

#[test]
fn rules_between_parameters_are_checked() {
    let text = format!("{PRELUDE}pretrain under_test = cpt(base, toks, global_batch: 3, micro_batch: 2)\n");
    let checked = check_text(Path::new("kinds.med"), &text, &exp_stages::catalog(), &Options::default());
    let codes: Vec<(&str, &str)> = checked.diagnostics.iter().map(|d| (d.code.as_str(), d.message.as_str())).collect();
    assert_eq!(
        codes,
        [("E0214", "`global_batch` (3) must be a whole number of micro-batches of `micro_batch` (2)")],
        "{:?}",
        checked.diagnostics
    );
}
