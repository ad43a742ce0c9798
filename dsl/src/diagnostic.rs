//! Diagnostics are built apart from their rendering: the checker produces [`Diagnostic`]
//! values, and [`render`] turns them into rustc-style text (via `codespan-reporting`) or
//! [`to_json`] into machine-readable records. Message text is lowercase and puts names in
//! backticks; the error catalogue is in `docs/language.md`.

pub use crate::codes::Code;
use crate::span::{SourceMap, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term;
use serde::Serialize;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a short message shown under it.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One error or warning about an experiment file.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, e.g. `E0204`, from the one table of codes ([`Code`]); the catalogue in
    /// `docs/language.md` explains each.
    pub code: Code,
    pub message: String,
    /// Where the problem is; the message under it says what was expected.
    pub primary: Label,
    /// Related places (the earlier definition, the loop that produced a name, …).
    pub secondary: Vec<Label>,
    /// `help:` lines.
    pub help: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        debug_assert!(!code.is_warning(), "{code} is a warning code");
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label { span, message: label.into() },
            secondary: Vec::new(),
            help: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        debug_assert!(code.is_warning(), "{code} is an error code");
        Diagnostic {
            severity: Severity::Warning,
            code,
            message: message.into(),
            primary: Label { span, message: label.into() },
            secondary: Vec::new(),
            help: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds `help: did you mean …?` when there is a suggestion.
    #[must_use]
    pub fn with_suggestion(self, suggestion: Option<String>) -> Self {
        match suggestion {
            Some(s) => self.with_help(format!("did you mean `{s}`?")),
            None => self,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Adapter so codespan-reporting can read our [`SourceMap`].
struct CsFiles<'a>(&'a SourceMap);

impl<'a> Files<'a> for CsFiles<'a> {
    type FileId = usize;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: usize) -> Result<&'a str, FilesError> {
        Ok(&self.0.get(id).name)
    }
    fn source(&'a self, id: usize) -> Result<&'a str, FilesError> {
        Ok(&self.0.get(id).text)
    }
    fn line_index(&'a self, id: usize, byte_index: usize) -> Result<usize, FilesError> {
        Ok(self.0.get(id).line_col(byte_index).0 - 1)
    }
    fn line_range(&'a self, id: usize, line_index: usize) -> Result<Range<usize>, FilesError> {
        let file = self.0.get(id);
        file.line_range(line_index)
            .ok_or(FilesError::LineTooLarge { given: line_index, max: file.line_col(file.text.len()).0 - 1 })
    }
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<usize> {
    let base = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    let mut labels = vec![cs::Label::primary(d.primary.span.file, d.primary.span.start..d.primary.span.end)
        .with_message(&d.primary.message)];
    labels.extend(
        d.secondary
            .iter()
            .map(|l| cs::Label::secondary(l.span.file, l.span.start..l.span.end).with_message(&l.message)),
    );
    base.with_code(d.code.as_str())
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(d.help.iter().map(|h| format!("help: {h}")).collect())
}

/// Most diagnostics rendered in full; the rest are counted, since a generated file can
/// produce thousands of the same message.
pub const MAX_RENDERED: usize = 200;

/// Renders diagnostics in rustc's layout. `color` chooses ANSI colours (a terminal) or
/// plain text (a pipe or a file).
pub fn render(sources: &SourceMap, diagnostics: &[Diagnostic], color: bool) -> String {
    let mut buffer = if color { term::termcolor::Buffer::ansi() } else { term::termcolor::Buffer::no_color() };
    let config = term::Config::default();
    let files = CsFiles(sources);
    // Errors first, so a flood of warnings never hides them.
    let mut ordered: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    ordered.extend(diagnostics.iter().filter(|d| !d.is_error()));
    for d in ordered.iter().take(MAX_RENDERED) {
        // Writing into an in-memory buffer only fails on a span outside its file, which
        // the checker never produces; fall back to a one-line form rather than lose it.
        if term::emit(&mut buffer, &config, &files, &to_codespan(d)).is_err() {
            let line = format!(
                "{}[{}]: {} ({})\n",
                severity_word(d.severity),
                d.code,
                d.message,
                sources.location(d.primary.span)
            );
            buffer = append_plain(buffer, &line);
        }
    }
    if ordered.len() > MAX_RENDERED {
        buffer =
            append_plain(buffer, &format!("… and {} more diagnostics not shown\n\n", ordered.len() - MAX_RENDERED));
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn append_plain(mut buffer: term::termcolor::Buffer, line: &str) -> term::termcolor::Buffer {
    use std::io::Write;
    // An in-memory buffer cannot fail to accept bytes.
    let _ = buffer.write_all(line.as_bytes());
    buffer
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

#[derive(Serialize)]
struct JsonLabel {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: String,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    severity: Severity,
    code: Code,
    message: String,
    primary: JsonLabel,
    secondary: Vec<JsonLabel>,
    help: Vec<String>,
}

fn json_label(sources: &SourceMap, l: &Label) -> JsonLabel {
    let f = sources.get(l.span.file);
    let (line, column) = f.line_col(l.span.start);
    let (end_line, end_column) = f.line_col(l.span.end);
    JsonLabel { file: f.name.clone(), line, column, end_line, end_column, message: l.message.clone() }
}

/// Diagnostics as JSON values (one per diagnostic), for editors and scripts.
pub fn to_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Vec<serde_json::Value> {
    diagnostics
        .iter()
        .map(|d| {
            let j = JsonDiagnostic {
                severity: d.severity,
                code: d.code,
                message: d.message.clone(),
                primary: json_label(sources, &d.primary),
                secondary: d.secondary.iter().map(|l| json_label(sources, l)).collect(),
                help: d.help.clone(),
            };
            serde_json::to_value(j).unwrap_or(serde_json::Value::Null)
        })
        .collect()
}
