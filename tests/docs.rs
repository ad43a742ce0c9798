//! The documentation stays true by construction: the generated blocks of
//! `docs/language.md` are what the registry and the binary give today. With
//! `EXP_UPDATE_DOCS=1` the test rewrites them instead of failing.

use crate::util::{exp, root};

/// Replaces the text between `<!-- generated: NAME … -->` and the next
/// `<!-- end generated -->` with `body`.
fn with_block(doc: &str, name: &str, body: &str) -> String {
    let open = format!("<!-- generated: {name} ");
    let start = doc.find(&open).unwrap_or_else(|| panic!("docs/language.md has no `{open}` block"));
    let body_start = start + doc[start..].find("-->\n").expect("the marker closes") + 4;
    let end = body_start + doc[body_start..].find("<!-- end generated -->").expect("the block ends");
    format!("{}{body}{}", &doc[..body_start], &doc[end..])
}

#[test]
fn the_kind_catalogue_is_generated_from_the_registry() {
    // `tests/tour.rs` may rewrite the same file at the same time.
    let _lock = crate::tour::DOC_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let path = root().join("docs/language.md");
    let doc = std::fs::read_to_string(&path).expect("docs/language.md");
    let out = exp(&root(), &["stages", "--markdown"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let expected =
        with_block(&with_block(&doc, "keywords", &exp_engine::catalogue::keyword_table()), "kinds", &out.stdout);
    if std::env::var_os("EXP_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("rewrite docs/language.md");
    } else {
        assert!(doc == expected, "docs/language.md's generated blocks are stale: run `EXP_UPDATE_DOCS=1 cargo test -p exp-engine --test e2e docs`");
    }
}
