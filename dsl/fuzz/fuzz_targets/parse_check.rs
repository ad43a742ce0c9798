//! Parse + check + format of arbitrary bytes must never panic or hang.
//!
//! Run: `cargo install cargo-fuzz` then, from `dsl/`, `cargo fuzz run parse_check`
//! (see docs/language.md, "Fuzzing").
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let catalog = exp_stages::catalog();
    let options = exp_dsl::Options { profile: None, all_profiles: true };
    let checked = exp_dsl::check_text(Path::new("fuzz.med"), text, &catalog, &options);
    let _ = exp_dsl::diagnostic::render(&checked.sources, &checked.diagnostics, false);
    if let Ok(formatted) = exp_dsl::format::format_source(text) {
        // Formatting is idempotent on anything that parses.
        assert_eq!(exp_dsl::format::format_source(&formatted).ok().as_deref(), Some(formatted.as_str()));
    }
});
