//! Loading an experiment: reading the root file and, transitively, every `import`, each
//! once. Unreadable files, non-UTF-8 bytes, import cycles and syntax errors become
//! diagnostics; loading goes on with the files it could read so that one pass reports as
//! much as it can.

use crate::ast::{Item, Module};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::parse;
use crate::span::{FileId, SourceMap, Span};
use std::path::{Component, Path, PathBuf};

/// Every file of an experiment, parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    /// Parsed modules, imports before the files that import them; the root is last.
    pub modules: Vec<(FileId, Module)>,
    pub root: Option<FileId>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads `path` and its imports.
pub fn load_file(path: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let mut stack = Vec::new();
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => {
            let root = load_bytes(&mut loaded, &mut stack, name, path, bytes);
            loaded.root = Some(root);
        }
        Err(e) => {
            // No file to point into: a diagnostic on an empty stand-in file names the path.
            let id = loaded.sources.add(name.clone(), path, String::new());
            loaded.root = Some(id);
            loaded.diagnostics.push(Diagnostic::error(
                Code::CannotRead,
                format!("cannot read `{name}`: {}", io_reason(&e)),
                Span::new(id, 0, 0),
                "this file",
            ));
        }
    }
    loaded
}

/// Loads an experiment from text (imports are resolved relative to `path`'s folder).
pub fn load_text(name: &str, path: &Path, text: String) -> Loaded {
    let mut loaded = Loaded::default();
    let mut stack = Vec::new();
    let root = load_bytes(&mut loaded, &mut stack, name.to_string(), path, text.into_bytes());
    loaded.root = Some(root);
    loaded
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string().to_lowercase(),
    }
}

fn load_bytes(loaded: &mut Loaded, stack: &mut Vec<PathBuf>, name: String, path: &Path, bytes: Vec<u8>) -> FileId {
    let (text, bad_utf8) = match String::from_utf8(bytes) {
        Ok(t) => (t, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
        }
    };
    let id = loaded.sources.add(name, path, text);
    if let Some(at) = bad_utf8 {
        loaded.diagnostics.push(
            Diagnostic::error(Code::NotText, "file is not valid UTF-8", Span::new(id, at, at + 1), "invalid byte here")
                .with_help(".med files are UTF-8 text"),
        );
        return id;
    }
    let text = &loaded.sources.get(id).text;
    if let Some(nul) = text.find('\0') {
        loaded.diagnostics.push(
            Diagnostic::error(
                Code::NotText,
                "file contains a NUL byte; is it binary?",
                Span::new(id, nul, nul + 1),
                "NUL byte here",
            )
            .with_help(".med files are UTF-8 text"),
        );
        return id;
    }
    let (module, syntax_errors) = parse::parse_recovering(id, text);
    if !syntax_errors.is_empty() {
        loaded.diagnostics.extend(syntax_errors);
        return id;
    }
    stack.push(normalise(path));
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for item in &module.items {
        let Item::Import { path: rel, span } = item else { continue };
        let target = dir.join(rel);
        let key = normalise(&target);
        if let Some(pos) = stack.iter().position(|p| *p == key) {
            let chain: Vec<String> =
                stack[pos..].iter().chain(std::iter::once(&key)).map(|p| p.display().to_string()).collect();
            loaded.diagnostics.push(
                Diagnostic::error(
                    Code::ImportCycle,
                    format!("import cycle: {}", chain.join(" → ")),
                    *span,
                    "this import closes the cycle",
                )
                .with_help("move the shared definitions into a file that both import"),
            );
            continue;
        }
        let already = loaded.sources.files().iter().any(|f| normalise(&f.path) == key);
        if already {
            continue;
        }
        match std::fs::read(&target) {
            Ok(bytes) => {
                load_bytes(loaded, stack, key.display().to_string(), &target, bytes);
            }
            Err(e) => loaded.diagnostics.push(Diagnostic::error(
                Code::CannotRead,
                format!("cannot import `{rel}`: {}", io_reason(&e)),
                *span,
                format!("looked for `{}`", key.display()),
            )),
        }
    }
    stack.pop();
    loaded.modules.push((id, module));
    id
}

/// Lexical normalisation (`a/./b/../c` → `a/c`), used to recognise the same file reached
/// by different relative paths without touching the filesystem.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
