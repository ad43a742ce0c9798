//! Expansion: from parsed modules to one flat namespace of definition *instances*. Loops
//! are unrolled (every combination of their bindings), names are interpolated (`cpt_{c}`),
//! `override` replaces imported definitions, and the selected profile replaces `let`
//! values. Nothing is type-checked here; [`crate::elaborate`] does that.

use crate::ast::*;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::load::Loaded;
use crate::span::{FileId, Span};
use crate::suggest::closest;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Most definitions an experiment may expand to, its loops unrolled: against runaway
/// matrices, which a few bytes can write (`for a in […], b in […], c in […]`). Each
/// definition costs about 1.5 KiB while checked and about as much again while planned
/// (`bench/plan.sh`: 100,000 nodes check in about 0.2 GiB), so the bound keeps any input
/// to a few GiB and seconds, while leaving a real sweep ten times the 100,000 nodes the
/// planner is measured at. Each iteration of a loop that holds only loops counts as a
/// definition, so loops that define nothing are bounded too.
pub const MAX_INSTANCES: usize = 1_000_000;
/// Deepest chain of `let` constants referring to each other.
pub const MAX_LET_DEPTH: usize = 64;

/// Loop variables in scope, innermost last.
#[derive(Debug, Default)]
pub struct Env {
    vars: Vec<(String, Rc<Bound>)>,
}

impl Env {
    pub fn get(&self, name: &str) -> Option<&Rc<Bound>> {
        self.vars.iter().rev().find(|(n, _)| n == name).map(|(_, b)| b)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(n, _)| n.as_str())
    }

    fn extended(&self, more: impl IntoIterator<Item = (String, Rc<Bound>)>) -> Env {
        let mut vars = self.vars.clone();
        vars.extend(more);
        Env { vars }
    }
}

/// The value a loop variable is bound to in one iteration.
#[derive(Debug)]
pub struct Bound {
    pub expr: Expr,
    /// The scope the value was written in.
    pub env: Rc<Env>,
    /// What `{var}` interpolates to, if the value can be part of a name.
    pub name_text: Option<String>,
}

/// One definition after loop expansion: `cpt_{c}` for `c = en_dominant` is the instance
/// `cpt_en_dominant`.
#[derive(Debug)]
pub struct Instance {
    pub name: String,
    pub def: Rc<Definition>,
    pub env: Rc<Env>,
    pub file: FileId,
    pub in_root: bool,
    /// The `for` loop that produced it.
    pub from_loop: Option<Span>,
    /// Replaced by an `override`: kept for positions, not in the namespace.
    pub dead: bool,
}

impl Instance {
    pub fn is_let(&self) -> bool {
        self.def.kind == DefKind::Let
    }
}

#[derive(Debug, Default)]
pub struct Namespace {
    pub experiment: Option<String>,
    pub header_span: Option<Span>,
    pub instances: Vec<Instance>,
    pub by_name: HashMap<String, usize>,
    pub profiles: Vec<String>,
    /// `let`s used as the list of a `for` loop (they are used, though not elaborated).
    pub loop_lets: Vec<usize>,
}

impl Namespace {
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn live_names(&self) -> impl Iterator<Item = &str> {
        self.instances.iter().filter(|i| !i.dead).map(|i| i.name.as_str())
    }
}

/// Expands `loaded` for `profile` (`None`: the file's own `let` values).
pub fn expand(loaded: &Loaded, profile: Option<&str>, diags: &mut Vec<Diagnostic>) -> Namespace {
    expand_bounded(loaded, profile, diags, MAX_INSTANCES)
}

/// [`expand`] with another bound than [`MAX_INSTANCES`] (tests reach it with small files).
fn expand_bounded(loaded: &Loaded, profile: Option<&str>, diags: &mut Vec<Diagnostic>, limit: usize) -> Namespace {
    let mut x =
        Expander { ns: Namespace::default(), diags, limit, expanded: 0, exhausted: false, reported: HashSet::new() };
    // Pass 1: headers, top-level `let`s and profiles, so loops may iterate over a `let`
    // written further down the file.
    let mut profiles: Vec<(&Profile, FileId)> = Vec::new();
    for (file, module) in &loaded.modules {
        let in_root = Some(*file) == loaded.root;
        for item in &module.items {
            match item {
                Item::Header { name, span } if in_root => {
                    if let Some(first) = x.ns.header_span {
                        x.report(
                            Diagnostic::error(
                                Code::TwoHeaders,
                                "the experiment is named twice",
                                *span,
                                "second `experiment` header",
                            )
                            .with_secondary(first, "first named here"),
                        );
                    } else {
                        x.ns.experiment = Some(name.clone());
                        x.ns.header_span = Some(*span);
                    }
                }
                Item::Profile(p) => profiles.push((p, *file)),
                Item::Def(d) if d.kind == DefKind::Let => {
                    x.add(Rc::new(d.clone()), &Rc::new(Env::default()), *file, in_root, None)
                }
                _ => {}
            }
        }
    }
    let order: HashMap<FileId, usize> = loaded.modules.iter().enumerate().map(|(i, (f, _))| (*f, i)).collect();
    x.apply_profiles(&profiles, profile, &order);
    // Pass 2: everything else, loops unrolled.
    for (file, module) in &loaded.modules {
        let in_root = Some(*file) == loaded.root;
        for item in &module.items {
            match item {
                Item::For(f) => x.expand_for(f, &Rc::new(Env::default()), *file, in_root),
                Item::Def(d) if d.kind != DefKind::Let => {
                    x.add(Rc::new(d.clone()), &Rc::new(Env::default()), *file, in_root, None)
                }
                _ => {}
            }
        }
    }
    x.ns
}

struct Expander<'d> {
    ns: Namespace,
    diags: &'d mut Vec<Diagnostic>,
    /// [`MAX_INSTANCES`], but for tests.
    limit: usize,
    /// Definitions met so far (made or refused), plus iterations of loops holding only
    /// loops: what [`MAX_INSTANCES`] bounds.
    expanded: usize,
    /// The bound was reached (and reported): nothing more is expanded.
    exhausted: bool,
    /// Diagnostics already given. A mistake inside a loop (a name every iteration
    /// repeats) would otherwise be reported once per iteration, and a large loop would
    /// fill memory with copies that are removed later anyway.
    reported: HashSet<(Code, Span, String)>,
}

impl Expander<'_> {
    fn report(&mut self, d: Diagnostic) {
        if self.reported.insert((d.code, d.primary.span, d.message.clone())) {
            self.diags.push(d);
        }
    }

    /// Profiles of the same name in different files add up, applied in load order
    /// (imports first). A profile does not change a `let` that a later file (one importing
    /// the profile's file) redefined with `override`: the importing file's choice wins.
    fn apply_profiles(
        &mut self,
        profiles: &[(&Profile, FileId)],
        selected: Option<&str>,
        order: &HashMap<FileId, usize>,
    ) {
        let mut seen: HashMap<(&str, FileId), Span> = HashMap::new();
        for (p, file) in profiles {
            if let Some(first) = seen.get(&(p.name.text.as_str(), *file)) {
                self.report(
                    Diagnostic::error(
                        Code::DefinedTwice,
                        format!("profile `{}` is defined twice", p.name.text),
                        p.name.span,
                        "defined again here",
                    )
                    .with_secondary(*first, "first defined here"),
                );
                continue;
            }
            seen.insert((&p.name.text, *file), p.name.span);
            if !self.ns.profiles.contains(&p.name.text) {
                self.ns.profiles.push(p.name.text.clone());
            }
            let chosen = selected == Some(p.name.text.as_str());
            for o in &p.lets {
                let target = self.ns.lookup(&o.name.text).filter(|&i| self.ns.instances[i].is_let());
                let Some(i) = target else {
                    let lets = self.ns.instances.iter().filter(|i| i.is_let()).map(|i| i.name.as_str());
                    self.report(
                        Diagnostic::error(
                            Code::ProfileUnknownLet,
                            format!("profile `{}` sets `{}`, which is not a `let` constant", p.name.text, o.name.text),
                            o.name.span,
                            "no `let` of this name",
                        )
                        .with_suggestion(closest(&o.name.text, lets))
                        .with_help("a profile can only change the value of a top-level `let`"),
                    );
                    continue;
                };
                let redefined_later = order.get(&self.ns.instances[i].file) > order.get(file);
                if chosen && !redefined_later {
                    let inst = &mut self.ns.instances[i];
                    let mut def = (*inst.def).clone();
                    def.value = o.value.clone();
                    inst.def = Rc::new(def);
                }
            }
        }
    }

    fn add(&mut self, def: Rc<Definition>, env: &Rc<Env>, file: FileId, in_root: bool, from_loop: Option<Span>) {
        if self.exhausted {
            return;
        }
        self.expanded += 1;
        if self.expanded > self.limit {
            self.exhausted = true;
            self.report(Diagnostic::error(
                Code::TooManyDefinitions,
                format!("the experiment expands to more than {} definitions", grouped(self.limit)),
                def.name.span,
                "the limit was reached here",
            ));
            return;
        }
        if def.name.is_glob() {
            self.report(Diagnostic::error(
                Code::BadGlob,
                format!("a definition's name cannot contain `*`: `{}`", def.name.source_text()),
                def.name.span,
                "`*` only matches names, in references",
            ));
            return;
        }
        let name = match interpolate(&def.name, env) {
            Ok(n) => n,
            Err(d) => {
                self.report(d);
                return;
            }
        };
        if let Some(&prev) = self.ns.by_name.get(&name) {
            let earlier = &self.ns.instances[prev];
            let (prev_span, prev_file, prev_loop) = (earlier.def.name.span, earlier.file, earlier.from_loop);
            if def.is_override && prev_file != file {
                self.ns.instances[prev].dead = true;
            } else {
                let diag = if prev_span == def.name.span {
                    let var = env.names().last().unwrap_or("c").to_string();
                    Diagnostic::error(
                        Code::LoopNameTwice,
                        format!("every iteration of the loop defines `{name}`"),
                        def.name.span,
                        format!("gives `{name}` each time"),
                    )
                    .with_help(format!(
                        "interpolate the loop variable into the name, e.g. `{}_{{{var}}}`",
                        def.name.source_text()
                    ))
                } else if from_loop.is_some() || prev_loop.is_some() {
                    Diagnostic::error(
                        Code::LoopNameTwice,
                        format!("the name `{name}` is produced twice"),
                        def.name.span,
                        format!("`{}` gives `{name}` here", def.name.source_text()),
                    )
                    .with_secondary(prev_span, format!("`{name}` is already defined here"))
                    .with_help("make interpolated names unique, e.g. by interpolating every loop variable")
                } else {
                    Diagnostic::error(
                        Code::DefinedTwice,
                        format!("`{name}` is defined twice"),
                        def.name.span,
                        "defined again here",
                    )
                    .with_secondary(prev_span, "first defined here")
                    .with_help(if prev_file == file {
                        "rename one of them".to_string()
                    } else {
                        format!(
                            "to replace the imported definition, write `override {} {name} = …`",
                            def.kind.keyword()
                        )
                    })
                };
                self.report(diag);
                return;
            }
        } else if def.is_override {
            self.report(
                Diagnostic::error(
                    Code::OverrideNothing,
                    format!("nothing to override: no imported definition is named `{name}`"),
                    def.name.span,
                    "not defined in any import",
                )
                .with_suggestion(closest(&name, self.ns.live_names()))
                .with_help("remove `override` to define a new name"),
            );
        }
        let id = self.ns.instances.len();
        self.ns.by_name.insert(name.clone(), id);
        self.ns.instances.push(Instance { name, def, env: env.clone(), file, in_root, from_loop, dead: false });
    }

    fn expand_for(&mut self, f: &ForLoop, env: &Rc<Env>, file: FileId, in_root: bool) {
        let mut axes: Vec<(String, Vec<Rc<Bound>>)> = Vec::new();
        for b in &f.bindings {
            if axes.iter().any(|(n, _)| *n == b.var.text) {
                self.report(Diagnostic::error(
                    Code::LoopVariableTwice,
                    format!("loop variable `{}` is bound twice", b.var.text),
                    b.var.span,
                    "bound again here",
                ));
                return;
            }
            match self.list_items(&b.values, env, 0) {
                Ok(items) => {
                    if items.is_empty() {
                        self.report(
                            Diagnostic::warning(
                                Code::EmptyLoop,
                                "`for` over an empty list defines nothing",
                                b.values.span,
                                "empty list",
                            )
                            .with_help("add values to the list, or remove the loop"),
                        );
                    }
                    axes.push((b.var.text.clone(), items));
                }
                Err(d) => {
                    self.report(d);
                    return;
                }
            }
        }
        if self.exhausted {
            return;
        }
        // Every combination of the bindings (saturating: a `let` list bound five times
        // could overflow the count).
        let total = axes.iter().fold(1usize, |t, (_, v)| t.saturating_mul(v.len()));
        let defs = f.body.iter().filter(|i| matches!(i, Item::Def(_))).count();
        // Refuse before any work a loop that cannot fit, naming it and its arithmetic.
        let cost = total.saturating_mul(defs.max(1));
        if self.expanded.saturating_add(cost) > self.limit {
            self.exhausted = true;
            let sizes: Vec<String> = axes.iter().map(|(_, v)| grouped(v.len())).collect();
            let per = if defs == 0 { "loops".to_string() } else { plural(defs, "definition") };
            let header = Span::new(f.span.file, f.span.start, f.bindings.last().map_or(f.span.end, |b| b.span.end));
            self.report(
                Diagnostic::error(
                    Code::TooManyDefinitions,
                    format!("the experiment expands to more than {} definitions", grouped(self.limit)),
                    header,
                    format!("{} iterations of {per}", sizes.join(" × ")),
                )
                .with_help(format!(
                    "shrink the matrix, or split the experiment: {} more definitions fit here",
                    grouped(self.limit - self.expanded)
                )),
            );
            return;
        }
        // The body's definitions, shared by every iteration rather than copied into each.
        let body: Vec<Option<Rc<Definition>>> =
            f.body.iter().map(|i| if let Item::Def(d) = i { Some(Rc::new(d.clone())) } else { None }).collect();
        for n in 0..total {
            if defs == 0 {
                // An iteration that defines nothing itself still costs work.
                self.expanded += 1;
            }
            // Mixed-radix decomposition of n: the last binding varies fastest.
            let mut rest = n;
            let mut vars = Vec::with_capacity(axes.len());
            for (name, items) in axes.iter().rev() {
                vars.push((name.clone(), items[rest % items.len()].clone()));
                rest /= items.len();
            }
            vars.reverse();
            let inner = Rc::new(env.extended(vars));
            for (item, def) in f.body.iter().zip(&body) {
                match (item, def) {
                    (_, Some(d)) => self.add(d.clone(), &inner, file, in_root, Some(f.span)),
                    (Item::For(g), None) => self.expand_for(g, &inner, file, in_root),
                    _ => {}
                }
            }
            if self.exhausted {
                return;
            }
        }
    }

    /// The values a loop binding ranges over: a list literal, or a loop variable or `let`
    /// constant holding one.
    fn list_items(&mut self, expr: &Expr, env: &Rc<Env>, depth: usize) -> Result<Vec<Rc<Bound>>, Diagnostic> {
        match &expr.kind {
            ExprKind::List(items) => Ok(items
                .iter()
                .map(|e| Rc::new(Bound { expr: e.clone(), env: env.clone(), name_text: name_text(e, env) }))
                .collect()),
            ExprKind::Paren(inner) => self.list_items(inner, env, depth),
            ExprKind::Ref(name) if depth < MAX_LET_DEPTH => {
                if let Some(text) = name.plain() {
                    if let Some(b) = env.get(text) {
                        let b = b.clone();
                        return self.list_items(&b.expr, &b.env, depth + 1);
                    }
                    if let Some(i) = self.ns.lookup(text).filter(|&i| self.ns.instances[i].is_let()) {
                        self.ns.loop_lets.push(i);
                        let value = self.ns.instances[i].def.value.clone();
                        return self.list_items(&value, &Rc::new(Env::default()), depth + 1);
                    }
                }
                Err(not_a_list(expr))
            }
            _ => Err(not_a_list(expr)),
        }
    }
}

fn not_a_list(expr: &Expr) -> Diagnostic {
    Diagnostic::error(
        Code::ForOverNonList,
        "a `for` loop needs a list to iterate over",
        expr.span,
        "expected a list `[a, b]` or a `let` holding one",
    )
}

/// What `{var}` becomes in a name when `var` is bound to `e`.
fn name_text(e: &Expr, env: &Env) -> Option<String> {
    let raw = match &e.kind {
        ExprKind::Ref(n) if !n.is_glob() => {
            if let Some(b) = n.plain().and_then(|t| env.get(t)) {
                return b.name_text.clone();
            }
            interpolate(n, env).ok()?
        }
        ExprKind::Str(s) => s.clone(),
        ExprKind::Quantity(q) => format!("{}{}", q.number, q.suffix.map_or("", Suffix::text)),
        ExprKind::Bool(b) => b.to_string(),
        _ => return None,
    };
    Some(raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect())
}

/// Resolves `{var}` parts of a name in `env`.
pub fn interpolate(name: &Name, env: &Env) -> Result<String, Diagnostic> {
    let mut out = String::new();
    for part in &name.parts {
        match part {
            NamePart::Text(t) => out.push_str(t),
            NamePart::Star => out.push('*'),
            NamePart::Var(v) => match env.get(&v.text) {
                Some(b) => match &b.name_text {
                    Some(t) => out.push_str(t),
                    None => {
                        return Err(Diagnostic::error(
                            Code::BadInterpolation,
                            format!("`{{{}}}` cannot be part of a name", v.text),
                            v.span,
                            "its value is not a name, string or number",
                        ))
                    }
                },
                None => {
                    return Err(Diagnostic::error(
                        Code::BadInterpolation,
                        format!("unknown loop variable `{}`", v.text),
                        v.span,
                        "not bound by an enclosing `for`",
                    )
                    .with_suggestion(closest(&v.text, env.names())))
                }
            },
        }
    }
    Ok(out)
}

/// `1234567` as `1,234,567`, as numbers are written in messages.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{} {word}s", grouped(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The namespace, the diagnostics and the sources of `text` expanded under `limit`.
    fn expand_text(text: &str, limit: usize) -> (Namespace, Vec<Diagnostic>, Loaded) {
        let loaded = crate::load::load_text("t.med", Path::new("t.med"), text.to_string());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut diags = Vec::new();
        let ns = expand_bounded(&loaded, None, &mut diags, limit);
        (ns, diags, loaded)
    }

    fn numbers(n: usize) -> String {
        format!("[{}]", (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
    }

    /// The one E0112 among `diags`, as `file:line:column`, message and label.
    fn too_many(diags: &[Diagnostic], loaded: &Loaded) -> (String, String, String) {
        let found: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == Code::TooManyDefinitions).collect();
        assert_eq!(found.len(), 1, "{diags:?}");
        let d = found[0];
        (loaded.sources.location(d.primary.span), d.message.clone(), d.primary.message.clone())
    }

    #[test]
    fn loops_may_reach_the_bound_exactly() {
        let (ns, diags, _) = expand_text(
            "experiment \"x\"\nsource s = jsonl(\"s.jsonl\")\nfor a in [0, 1, 2], b in [0, 1, 2] {\n  source r_{a}_{b} = jsonl(\"r.jsonl\")\n}\n",
            10,
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(ns.instances.len(), 10);
    }

    #[test]
    fn a_loop_past_the_bound_is_refused_before_it_expands_naming_the_loop() {
        let (ns, diags, loaded) = expand_text(
            "experiment \"x\"\nsource s = jsonl(\"s.jsonl\")\nfor a in [0, 1, 2], b in [0, 1, 2, 3] {\n  source r_{a}_{b} = jsonl(\"r.jsonl\")\n}\n",
            10,
        );
        let (at, message, label) = too_many(&diags, &loaded);
        assert_eq!(at, "t.med:3:1");
        assert_eq!(message, "the experiment expands to more than 10 definitions");
        assert_eq!(label, "3 × 4 iterations of 1 definition");
        assert_eq!(diags[0].help, ["shrink the matrix, or split the experiment: 9 more definitions fit here"]);
        assert_eq!(ns.instances.len(), 1, "nothing of the loop is expanded");
    }

    #[test]
    fn nested_loops_are_refused_at_the_loop_that_reaches_the_bound() {
        // Each outer iteration counts one (it defines nothing itself), each inner one
        // three: 4, 8, then 12 > 10 at the third.
        let (ns, diags, loaded) = expand_text(
            &format!(
                "experiment \"x\"\nfor a in {} {{\n  for b in [0, 1, 2] {{\n    source r_{{a}}_{{b}} = jsonl(\"r.jsonl\")\n  }}\n}}\n",
                numbers(5)
            ),
            10,
        );
        let (at, _, label) = too_many(&diags, &loaded);
        assert_eq!(at, "t.med:3:3");
        assert_eq!(label, "3 iterations of 1 definition");
        assert_eq!(ns.instances.len(), 6);
    }

    #[test]
    fn definitions_past_the_bound_outside_loops_are_refused_where_it_is_reached() {
        let text: String = (0..5).map(|i| format!("source s{i} = jsonl(\"s.jsonl\")\n")).collect();
        let (ns, diags, loaded) = expand_text(&format!("experiment \"x\"\n{text}"), 3);
        let (at, _, label) = too_many(&diags, &loaded);
        assert_eq!(at, "t.med:5:8");
        assert_eq!(label, "the limit was reached here");
        assert_eq!(ns.instances.len(), 3);
    }

    #[test]
    fn loops_that_define_nothing_are_bounded_too() {
        // A billion iterations of an empty loop: refused at once, not iterated.
        let l = numbers(1000);
        let (_, diags, loaded) = expand_text(
            &format!("experiment \"x\"\nfor a in {l}, b in {l}, c in {l} {{\n  for d in [] {{\n    source r_{{d}} = jsonl(\"r.jsonl\")\n  }}\n}}\n"),
            MAX_INSTANCES,
        );
        let (at, message, label) = too_many(&diags, &loaded);
        assert_eq!(at, "t.med:2:1");
        assert_eq!(message, "the experiment expands to more than 1,000,000 definitions");
        assert_eq!(label, "1,000 × 1,000 × 1,000 iterations of loops");
    }

    #[test]
    fn a_matrix_whose_size_overflows_is_refused_not_a_panic() {
        // 100^12 combinations: more than a 64-bit count holds.
        let vars: Vec<String> = (0..12).map(|i| format!("v{i} in l")).collect();
        let names: String = (0..12).map(|i| format!("_{{v{i}}}")).collect();
        let (_, diags, loaded) = expand_text(
            &format!(
                "experiment \"x\"\nlet l = {}\nfor {} {{\n  source r{names} = jsonl(\"r.jsonl\")\n}}\n",
                numbers(100),
                vars.join(", ")
            ),
            MAX_INSTANCES,
        );
        let (at, _, _) = too_many(&diags, &loaded);
        assert_eq!(at, "t.med:3:1");
    }

    #[test]
    fn a_mistake_every_iteration_repeats_is_reported_once() {
        let (ns, diags, _) = expand_text(
            &format!("experiment \"x\"\nfor a in {} {{\n  source r = jsonl(\"r.jsonl\")\n}}\n", numbers(1000)),
            MAX_INSTANCES,
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, Code::LoopNameTwice);
        assert_eq!(ns.instances.len(), 1);
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
