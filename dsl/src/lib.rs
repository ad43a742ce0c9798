//! The `.med` experiment language: parsing ([`parse`]), loading imports ([`load`]),
//! expansion of loops and profiles ([`expand`]), type checking and lowering to an
//! engine-independent [`Graph`] ([`elaborate`]), diagnostics ([`diagnostic`]) and the
//! formatter ([`format`]). It depends on nothing heavy: stage kinds reach it only as
//! parameter schemas in a [`schema::Catalog`].
//!
//! The entry points are [`check_file`] and [`check_text`].

pub mod ast;
pub mod codes;
pub mod comments;
pub mod diagnostic;
pub mod elaborate;
pub mod expand;
pub mod format;
pub mod graph;
pub mod load;
pub mod parse;
pub mod schema;
pub mod span;
pub mod suggest;
pub mod typed;
pub mod value;

pub use codes::Code;
pub use diagnostic::{Diagnostic, Severity};
pub use graph::{Graph, Input, Node};
pub use schema::Catalog;
pub use span::SourceMap;
pub use value::Value;

use diagnostic::Diagnostic as Diag;
use load::Loaded;
use span::Span;
use std::path::Path;

/// What checking an experiment gives: every diagnostic, and the lowered graph when there
/// was no error.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub graph: Option<Graph>,
    /// Profiles the experiment declares.
    pub profiles: Vec<String>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Options of a check.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The profile whose `let` values to use; `None` for the file's own.
    pub profile: Option<String>,
    /// Also check every declared profile (what `exp check` does), reporting their errors.
    pub all_profiles: bool,
}

/// Checks and lowers the experiment in `path` and its imports.
pub fn check_file(path: &Path, catalog: &Catalog, options: &Options) -> Checked {
    let (path, catalog, options) = (path.to_path_buf(), *catalog, options.clone());
    on_big_stack(move || analyse(load::load_file(&path), &path, &catalog, &options))
}

/// Checks and lowers an experiment given as text; imports resolve relative to `path`.
pub fn check_text(path: &Path, text: &str, catalog: &Catalog, options: &Options) -> Checked {
    let (path, text, catalog, options) = (path.to_path_buf(), text.to_string(), *catalog, options.clone());
    on_big_stack(move || analyse(load::load_text(&path.display().to_string(), &path, text), &path, &catalog, &options))
}

/// Elaboration recurses along chains of definitions (up to [`elaborate::MAX_DEPTH`]);
/// it runs on a thread whose stack has room for the deepest chain allowed.
fn on_big_stack(f: impl FnOnce() -> Checked + Send + 'static) -> Checked {
    const STACK: usize = 256 << 20;
    std::thread::Builder::new()
        .name("exp-check".into())
        .stack_size(STACK)
        .spawn(f)
        .expect("spawning the checker thread only fails when the OS is out of threads")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn analyse(loaded: Loaded, path: &Path, catalog: &Catalog, options: &Options) -> Checked {
    let mut diagnostics = loaded.diagnostics.clone();
    let parsed_ok = diagnostics.iter().all(|d| !d.is_error());
    let root_dir = path.parent().unwrap_or(Path::new(""));
    let mut graph = None;
    let mut profiles = Vec::new();
    if let Some(root) = loaded.root.filter(|_| parsed_ok) {
        let mut first = Vec::new();
        let (g, p) = lower(&loaded, root, root_dir, catalog, options.profile.as_deref(), &mut first);
        graph = g;
        profiles = p;
        let mut passes = vec![first];
        if options.all_profiles {
            for other in profiles.clone() {
                if Some(other.as_str()) != options.profile.as_deref() {
                    let mut more = Vec::new();
                    lower(&loaded, root, root_dir, catalog, Some(&other), &mut more);
                    passes.push(more);
                }
            }
        }
        // A definition that one profile needs is not unused: keep an unused-definition
        // warning only if every profile checked gave it.
        let is_unused = |d: &Diag| d.code == Code::Unused;
        let unused_spans: Vec<std::collections::HashSet<Span>> =
            passes.iter().map(|p| p.iter().filter(|d| is_unused(d)).map(|d| d.primary.span).collect()).collect();
        let everywhere = |d: &Diag| unused_spans.iter().all(|spans| spans.contains(&d.primary.span));
        let unused: Vec<Diag> = passes[0].iter().filter(|d| is_unused(d) && everywhere(d)).cloned().collect();
        diagnostics.extend(passes.into_iter().flatten().filter(|d| !is_unused(d)));
        diagnostics.extend(unused);
    }
    dedup(&mut diagnostics);
    let graph = if diagnostics.iter().any(Diag::is_error) { None } else { graph };
    Checked { sources: loaded.sources, diagnostics, graph, profiles }
}

fn lower(
    loaded: &Loaded,
    root: span::FileId,
    root_dir: &Path,
    catalog: &Catalog,
    profile: Option<&str>,
    diagnostics: &mut Vec<Diag>,
) -> (Option<Graph>, Vec<String>) {
    let ns = expand::expand(loaded, profile, diagnostics);
    if let Some(p) = profile {
        if !ns.profiles.iter().any(|x| x == p) {
            let span = ns.header_span.unwrap_or(Span::new(root, 0, 0));
            diagnostics.push(
                Diag::error(
                    Code::UnknownProfile,
                    format!("the experiment has no profile `{p}`"),
                    span,
                    "in this experiment",
                )
                .with_suggestion(suggest::closest(p, ns.profiles.iter().map(String::as_str)))
                .with_help(if ns.profiles.is_empty() {
                    "it declares no profiles".to_string()
                } else {
                    format!("its profiles: {}", ns.profiles.join(", "))
                }),
            );
        }
    }
    let Some(experiment) = ns.experiment.clone() else {
        let text = &loaded.sources.get(root).text;
        let (span, message) = if text.trim().is_empty() {
            (Span::new(root, 0, text.len()), "the file is empty")
        } else {
            (Span::new(root, 0, 0), "the file does not name its experiment")
        };
        diagnostics.push(
            Diag::error(Code::NoHeader, message, span, "expected `experiment \"name\"` first")
                .with_help("start the file with `experiment \"my-study\"`"),
        );
        return (None, ns.profiles);
    };
    let mut elab = elaborate::Elaborator::new(catalog, &loaded.sources, root_dir, &ns);
    elab.run();
    diagnostics.append(&mut elab.diags);
    let mut g = Graph { experiment, profile: profile.map(str::to_string), nodes: std::mem::take(&mut elab.nodes) };
    g.sort();
    (Some(g), ns.profiles)
}

/// Removes repeated diagnostics (a `let` used twice reports its error once) and orders
/// them by position.
fn dedup(diagnostics: &mut Vec<Diag>) {
    let mut seen = std::collections::HashSet::new();
    diagnostics.retain(|d| seen.insert((d.code, d.primary.span, d.message.clone())));
    diagnostics.sort_by_key(|d| (d.primary.span.file, d.primary.span.start));
}
