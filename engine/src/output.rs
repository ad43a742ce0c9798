//! Printing diagnostics to the terminal: colour only when stderr is a terminal (or asked
//! for), plain text when piped.

use crate::args::Color;
use exp_dsl::{diagnostic, Checked, Severity};
use std::io::IsTerminal;

pub fn use_color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Prints a check's diagnostics to stderr as text.
pub fn print_diagnostics(checked: &Checked, color: bool) {
    let text = diagnostic::render(&checked.sources, &checked.diagnostics, color);
    eprint!("{text}");
}

/// Prints diagnostics as JSON lines to stdout.
pub fn print_json(checked: &Checked) {
    for value in diagnostic::to_json(&checked.sources, &checked.diagnostics) {
        println!("{value}");
    }
}

/// "2 errors, 1 warning".
pub fn summary(checked: &Checked) -> String {
    let errors = checked.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = checked.diagnostics.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}
