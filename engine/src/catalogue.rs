//! The stage-kind catalogue of `docs/language.md`, generated from the registry
//! (`exp_stages::REGISTRY`) so that it cannot drift: `exp stages --markdown` prints it, and
//! an end-to-end test (`tests/docs.rs`) checks that the document holds exactly this text.

use exp_dsl::ast::DefKind;
use exp_dsl::schema::{Default, KindSchema};
use exp_stages::Kind;
use std::fmt::Write;

/// The definition keywords and the kinds each may hold.
pub fn keyword_table() -> String {
    let catalog = exp_stages::catalog();
    let mut out = String::from("| keyword | holds | made by |\n|---|---|---|\n");
    for def in DefKind::ALL.iter().copied().filter(|d| *d != DefKind::Let) {
        let kinds: Vec<String> = catalog
            .kinds
            .iter()
            .filter(|k| k.allowed_under(def) && k.name != catalog.mixture_kind)
            .map(|k| format!("`{}`", k.name))
            .collect();
        let made_by = if def == DefKind::Corpus {
            format!(
                "mixture algebra only (below); it lowers to the `{}` stage, which cannot be called directly",
                catalog.mixture_kind
            )
        } else {
            kinds.join(", ")
        };
        let holds = match def {
            DefKind::Pretrain => "a model made by continued pre-training".to_string(),
            DefKind::Finetune => "a model made by supervised fine-tuning".to_string(),
            d => exp_dsl::schema::Artifact::of_def(d).map_or_else(String::new, |a| a.describe().to_string()),
        };
        let _ = writeln!(out, "| `{}` | {holds} | {made_by} |", def.keyword());
    }
    out.push_str("| `let` | a constant (any value; see [`let`](#let-constants)) | — |\n");
    out
}

/// Every kind with its parameters, in registry order.
pub fn kinds() -> String {
    let mut out = String::new();
    for kind in exp_stages::REGISTRY {
        let k = kind.schema();
        let status = match kind {
            Kind::Here(_) | Kind::Trainer(_) => "",
            Kind::Planned(_) => " Planned: it checks and plans, and its nodes are blocked until it is built.",
        };
        let _ = writeln!(
            out,
            "### `{}`\n\n{} (makes {}; version {}).{status}\n",
            k.name,
            capital(k.doc),
            k.output.describe(),
            k.version
        );
        out.push_str(&parameters(k));
        out.push('\n');
    }
    out
}

fn parameters(k: &KindSchema) -> String {
    if k.params.is_empty() {
        return "No parameters.\n".to_string();
    }
    let mut out = String::from("| parameter | type | default | meaning |\n|---|---|---|---|\n");
    for p in k.params {
        let default = match (&p.default, p.default.written(&p.ty)) {
            (_, Some(written)) => format!("`{written}`"),
            (Default::Required, None) => "required".to_string(),
            (_, None) => "optional".to_string(),
        };
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', "\\n");
        let _ = writeln!(out, "| `{}` | {} | {} | {} |", p.name, cell(&p.ty.describe()), cell(&default), cell(p.doc));
    }
    out
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |first| first.to_uppercase().chain(c).collect())
}
