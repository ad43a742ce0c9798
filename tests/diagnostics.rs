//! Snapshot tests of rendered diagnostics: one snapshot per file in
//! `tests/fixtures/invalid/`, the whole output of `exp check` as a user sees it when piped.

use crate::util::{exp, root};

#[test]
fn invalid_fixtures() {
    let dir = root().join("tests/fixtures/invalid");
    insta::glob!("fixtures/invalid/*.med", |path| {
        let name = path.file_name().expect("a file").to_str().expect("UTF-8 name");
        let out = exp(&dir, &["check", name]);
        assert_eq!(out.status, 1, "{name} must fail: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{name}");
        insta::assert_snapshot!(out.stderr);
    });
}

#[test]
fn warnings_only_fixtures_pass() {
    let dir = root().join("tests/fixtures/warnings");
    insta::glob!("fixtures/warnings/*.med", |path| {
        let name = path.file_name().expect("a file").to_str().expect("UTF-8 name");
        let out = exp(&dir, &["check", name]);
        assert_eq!(out.status, 0, "{name} has warnings only: {}", out.stderr);
        insta::assert_snapshot!(out.stderr);
    });
}
