//! Elaboration: type-checks every definition instance against the stage catalogue and
//! lowers it to graph [`Node`]s. References are resolved here (to definitions, `let`
//! constants, loop variables or enumerated symbols), parameters are bound and
//! canonicalised, defaults filled, mixture algebra evaluated to a flat member list, and
//! dependency cycles found. Errors are collected, and a definition whose inputs failed is
//! skipped quietly, so that one mistake gives one message.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::expand::{interpolate, Env, Namespace, MAX_LET_DEPTH};
use crate::graph::{node_key, Input, Node};
use crate::load::normalise;
use crate::schema::{Artifact, Catalog, Default, KindSchema, Param, Ty};
use crate::span::{SourceMap, Span};
use crate::suggest::closest;
use crate::value::{number, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Longest chain of definitions depending on each other.
pub const MAX_DEPTH: usize = 2_000;

#[derive(Clone, Debug)]
enum State {
    Pending,
    InProgress,
    Failed,
    Done(Done),
}

#[derive(Clone, Debug)]
struct Done {
    key: String,
    art: Artifact,
    /// For a corpus: its members and `with` fields, inherited by `corpus b = a + { … }`.
    mixture: Option<Rc<Mixture>>,
}

#[derive(Clone, Debug, Default)]
struct Mixture {
    members: Vec<MemberVal>,
    with: Vec<(Field, Rc<Env>)>,
}

#[derive(Clone, Debug)]
struct MemberVal {
    key: String,
    name: String,
    weight: Value,
    budget: Value,
}

pub struct Elaborator<'a> {
    catalog: &'a Catalog,
    sources: &'a SourceMap,
    root_dir: PathBuf,
    ns: &'a Namespace,
    pub diags: Vec<Diagnostic>,
    state: Vec<State>,
    used: Vec<bool>,
    stack: Vec<usize>,
    pub nodes: Vec<Node>,
}

type Bound = HashMap<&'static str, (Expr, Rc<Env>, Span)>;

impl<'a> Elaborator<'a> {
    pub fn new(catalog: &'a Catalog, sources: &'a SourceMap, root_dir: &Path, ns: &'a Namespace) -> Self {
        let n = ns.instances.len();
        Elaborator {
            catalog,
            sources,
            root_dir: normalise(root_dir),
            ns,
            diags: Vec::new(),
            state: vec![State::Pending; n],
            used: vec![false; n],
            stack: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Elaborates every definition, then warns about unused ones.
    pub fn run(&mut self) {
        for id in 0..self.ns.instances.len() {
            let inst = &self.ns.instances[id];
            if !inst.dead && !inst.is_let() {
                self.instance(id);
            }
        }
        for (id, inst) in self.ns.instances.iter().enumerate() {
            let reportable = matches!(
                inst.def.kind,
                DefKind::Let
                    | DefKind::Tokenizer
                    | DefKind::Source
                    | DefKind::Corpus
                    | DefKind::Dataset
                    | DefKind::Model
            );
            if inst.in_root && !inst.dead && reportable && !self.used[id] {
                self.diags.push(
                    Diagnostic::warning(
                        "W0001",
                        format!("`{}` is defined but never used", inst.name),
                        inst.def.name.span,
                        "never used",
                    )
                    .with_help("use it in another definition, or remove it"),
                );
            }
        }
    }

    // --- definitions ---------------------------------------------------------------------

    fn instance(&mut self, id: usize) -> Option<Done> {
        match &self.state[id] {
            State::Done(d) => return Some(d.clone()),
            State::Failed => return None,
            State::InProgress | State::Pending => {}
        }
        if matches!(self.state[id], State::InProgress) {
            return None; // reported by `reference`, which sees the cycle first
        }
        if self.stack.len() >= MAX_DEPTH {
            let inst = &self.ns.instances[id];
            self.diags.push(Diagnostic::error(
                "E0107",
                format!("definitions depend on each other more than {MAX_DEPTH} levels deep"),
                inst.def.name.span,
                "the limit was reached here",
            ));
            self.state[id] = State::Failed;
            return None;
        }
        self.state[id] = State::InProgress;
        self.stack.push(id);
        let result =
            if self.ns.instances[id].def.kind == DefKind::Corpus { self.corpus(id) } else { self.stage_definition(id) };
        self.stack.pop();
        self.state[id] = match &result {
            Some(d) => State::Done(d.clone()),
            None => State::Failed,
        };
        result
    }

    fn stage_definition(&mut self, id: usize) -> Option<Done> {
        let inst = &self.ns.instances[id];
        let (def, env, name) = (inst.def.clone(), inst.env.clone(), inst.name.clone());
        if let Some(with) = &def.with {
            self.diags.push(
                Diagnostic::error("E0209", "`with { … }` sets the parameters of a mixture", with.span, "not a mixture")
                    .with_help("put the parameters in the call: `f(x) { key: value }`"),
            );
        }
        let (expr, env) = self.resolve_alias(&def.value, &env)?;
        let ExprKind::Call(call) = &expr.kind else {
            self.diags.push(
                Diagnostic::error(
                    "E0204",
                    format!("expected a stage call, found {}", self.describe(&expr, &env)),
                    expr.span,
                    "expected a call like `jsonl(\"data/*.jsonl\")`",
                )
                .with_help(format!(
                    "a `{}` definition is made by a stage: {}",
                    def.kind.keyword(),
                    self.kinds_for(def.kind).join(", ")
                )),
            );
            return None;
        };
        let kind = self.stage_kind(call, def.kind)?;
        let at = self.sources.location(def.name.span);
        let key = self.stage_node(kind, call, expr.span, &env, &name, def.kind.keyword(), at)?;
        Some(Done { key, art: kind.output, mixture: None })
    }

    /// The stage kinds a definition keyword may hold, for help lines.
    fn kinds_for(&self, def: DefKind) -> Vec<String> {
        let mut v: Vec<String> =
            self.catalog.kinds.iter().filter(|k| k.allowed_under(def)).map(|k| format!("`{}`", k.name)).collect();
        if v.len() > 8 {
            v.truncate(8);
            v.push("…".into());
        }
        v
    }

    fn stage_kind(&mut self, call: &Call, def: DefKind) -> Option<&'static KindSchema> {
        let callee = call.callee.source_text();
        let Some(kind) = self.catalog.kind(&callee).filter(|_| call.callee.plain().is_some()) else {
            let fitting: Vec<&str> =
                self.catalog.kinds.iter().filter(|k| k.allowed_under(def)).map(|k| k.name).collect();
            let all = self.catalog.kinds.iter().map(|k| k.name);
            let suggestion = closest(&callee, fitting.iter().copied()).or_else(|| closest(&callee, all));
            self.diags.push(
                Diagnostic::error(
                    "E0201",
                    format!("unknown stage `{callee}`"),
                    call.callee.span,
                    "no stage of this name",
                )
                .with_suggestion(suggestion)
                .with_help(format!(
                    "stages for `{}`: {}",
                    def.keyword(),
                    self.kinds_for(def).join(", ")
                )),
            );
            return None;
        };
        if !kind.allowed_under(def) {
            let fits: Vec<&str> =
                DefKind::ALL.iter().filter(|d| kind.allowed_under(**d)).map(|d| d.keyword()).collect();
            self.diags.push(
                Diagnostic::error(
                    "E0209",
                    format!(
                        "stage `{}` makes {}, which a `{}` definition cannot hold",
                        kind.name,
                        kind.output.describe(),
                        def.keyword()
                    ),
                    call.callee.span,
                    format!("`{}` expects {}", def.keyword(), self.kinds_for(def).join(", ")),
                )
                .with_help(format!("declare it with `{}`", fits.join("` or `"))),
            );
            return None;
        }
        Some(kind)
    }

    /// Binds a call's arguments to a stage kind's parameters and creates its node.
    #[allow(clippy::too_many_arguments)]
    fn stage_node(
        &mut self,
        kind: &'static KindSchema,
        call: &Call,
        span: Span,
        env: &Rc<Env>,
        name: &str,
        def: &str,
        at: String,
    ) -> Option<String> {
        let (bound, mut ok) = self.bind(kind.params, call, env, &format!("stage `{}`", kind.name));
        let mut params = BTreeMap::new();
        let mut inputs = Vec::new();
        for p in kind.params {
            ok &= self.param(
                p,
                bound.get(p.name),
                span,
                env,
                name,
                &format!("stage `{}`", kind.name),
                &mut params,
                &mut inputs,
            );
        }
        ok.then(|| self.push_node(kind, name, def, params, inputs, at))
    }

    fn push_node(
        &mut self,
        kind: &KindSchema,
        name: &str,
        def: &str,
        params: BTreeMap<String, Value>,
        inputs: Vec<Input>,
        at: String,
    ) -> String {
        let key = node_key(kind.name, &params, &inputs);
        self.nodes.push(Node {
            key: key.clone(),
            name: name.to_string(),
            def: def.to_string(),
            kind: kind.name.to_string(),
            version: kind.version,
            params,
            inputs,
            at,
        });
        key
    }

    /// Elaborates one parameter (given or defaulted) into `params` or `inputs`.
    #[allow(clippy::too_many_arguments)]
    fn param(
        &mut self,
        p: &'static Param,
        given: Option<&(Expr, Rc<Env>, Span)>,
        call_span: Span,
        env: &Rc<Env>,
        owner: &str,
        what: &str,
        params: &mut BTreeMap<String, Value>,
        inputs: &mut Vec<Input>,
    ) -> bool {
        let _ = env;
        let input_types = match &p.ty {
            Ty::Input(arts) => Some((*arts, false)),
            Ty::List(Ty::Input(arts)) => Some((*arts, true)),
            _ => None,
        };
        match (given, input_types) {
            (Some((e, env, _)), Some((arts, many))) => {
                let inline_name = format!("{owner}.{}", p.name);
                match self.inputs(e, env, arts, many, &inline_name) {
                    Some(keys) => {
                        inputs.extend(keys.into_iter().map(|node| Input { role: p.name.to_string(), node }));
                        true
                    }
                    None => false,
                }
            }
            (Some((e, env, _)), None) => match self.value(e, &p.ty, env, p.name) {
                Some(v) => {
                    params.insert(p.name.to_string(), v);
                    true
                }
                None => false,
            },
            (None, _) => match default_value(&p.default, &p.ty) {
                Some(v) => {
                    if input_types.is_none() {
                        params.insert(p.name.to_string(), v);
                    }
                    true
                }
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            "E0203",
                            format!("missing parameter `{}` of {what}", p.name),
                            call_span,
                            format!("`{}` is required", p.name),
                        )
                        .with_help(format!(
                            "add `{}: …` ({}): {}",
                            p.name,
                            p.ty.describe(),
                            p.doc
                        )),
                    );
                    false
                }
            },
        }
    }

    /// Matches positional, named and trailing-record arguments to parameters. The flag is
    /// false when an argument could not be placed (the error is reported); the arguments
    /// that could are still returned, so their own errors are found in the same pass.
    fn bind(&mut self, params: &'static [Param], call: &Call, env: &Rc<Env>, what: &str) -> (Bound, bool) {
        let mut bound: Bound = HashMap::new();
        let mut ok = true;
        let mut seen_named = false;
        let trailing = call.trailing.iter().flat_map(|r| r.fields.iter()).map(|f| (Some(&f.key), &f.value, f.span));
        let args = call.args.iter().map(|a| (a.name.as_ref(), &a.value, a.span)).chain(trailing);
        for (position, (name, value, span)) in args.enumerate() {
            let param = match name {
                None if seen_named => {
                    self.diags.push(Diagnostic::error(
                        "E0207",
                        "positional argument after named ones",
                        span,
                        "give this argument a name",
                    ));
                    ok = false;
                    continue;
                }
                None => match params.get(position) {
                    Some(p) => p,
                    None => {
                        self.diags.push(
                            Diagnostic::error(
                                "E0207",
                                format!("too many positional arguments to {what}"),
                                span,
                                format!("{what} takes {} positional arguments at most", params.len()),
                            )
                            .with_help(format!(
                                "its parameters are: {}",
                                params.iter().map(|p| format!("`{}`", p.name)).collect::<Vec<_>>().join(", ")
                            )),
                        );
                        ok = false;
                        continue;
                    }
                },
                Some(n) => {
                    seen_named = true;
                    match params.iter().find(|p| p.name == n.text) {
                        Some(p) => p,
                        None => {
                            self.diags.push(
                                Diagnostic::error(
                                    "E0202",
                                    format!("unknown parameter `{}` for {what}", n.text),
                                    n.span,
                                    "unknown parameter",
                                )
                                .with_suggestion(closest(&n.text, params.iter().map(|p| p.name)))
                                .with_help(format!(
                                    "{what} takes: {}",
                                    params.iter().map(|p| format!("`{}`", p.name)).collect::<Vec<_>>().join(", ")
                                )),
                            );
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            if let Some((_, _, first)) = bound.get(param.name) {
                self.diags.push(
                    Diagnostic::error(
                        "E0208",
                        format!("parameter `{}` is given twice", param.name),
                        span,
                        "given again here",
                    )
                    .with_secondary(*first, "first given here"),
                );
                ok = false;
                continue;
            }
            bound.insert(param.name, (value.clone(), env.clone(), span));
        }
        (bound, ok)
    }

    // --- references ------------------------------------------------------------------------

    /// Follows loop variables and `let` constants to the expression they stand for.
    /// `None` when constants refer to each other in a cycle (reported here).
    fn resolve_alias(&mut self, expr: &Expr, env: &Rc<Env>) -> Option<(Expr, Rc<Env>)> {
        let (mut expr, mut env) = (expr.clone(), env.clone());
        let mut followed: Vec<usize> = Vec::new();
        for _ in 0..=MAX_LET_DEPTH {
            let ExprKind::Ref(name) = &expr.kind else { break };
            let Some(text) = name.plain() else { break };
            if let Some(b) = env.get(text) {
                let b = b.clone();
                expr = b.expr.clone();
                env = b.env.clone();
                continue;
            }
            match self.ns.lookup(text) {
                Some(i) if self.ns.instances[i].is_let() => {
                    self.used[i] = true;
                    if let Some(start) = followed.iter().position(|&f| f == i) {
                        let chain: Vec<&str> = followed[start..]
                            .iter()
                            .chain(std::iter::once(&i))
                            .map(|&f| self.ns.instances[f].name.as_str())
                            .collect();
                        let inst = &self.ns.instances[i];
                        self.diags.push(
                            Diagnostic::error(
                                "E0107",
                                format!("constant `{text}` refers to itself: {}", chain.join(" → ")),
                                inst.def.name.span,
                                "defined in terms of itself",
                            )
                            .with_help("give one of the constants a value"),
                        );
                        return None;
                    }
                    followed.push(i);
                    let inst = &self.ns.instances[i];
                    expr = inst.def.value.clone();
                    env = inst.env.clone();
                }
                _ => break,
            }
        }
        if let ExprKind::Paren(inner) = &expr.kind {
            let inner = (**inner).clone();
            return self.resolve_alias(&inner, &env);
        }
        Some((expr, env))
    }

    /// Resolves an input parameter: references (globs too, where `many`), inline stage
    /// calls and, where `many`, lists of them. Returns the input keys, sorted for globs.
    fn inputs(
        &mut self,
        expr: &Expr,
        env: &Rc<Env>,
        arts: &[Artifact],
        many: bool,
        inline_name: &str,
    ) -> Option<Vec<String>> {
        let (expr, env) = self.resolve_alias(expr, env)?;
        match &expr.kind {
            ExprKind::List(items) if many => {
                let mut keys = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.inputs(item, &env, arts, false, &format!("{inline_name}[{i}]")) {
                        Some(k) => keys.extend(k),
                        None => ok = false,
                    }
                }
                ok.then_some(keys)
            }
            ExprKind::Ref(name) if name.is_glob() => {
                let mut keys = Vec::new();
                for id in self.glob(name, &env)? {
                    let done = self.instance(id)?;
                    if !self.check_fits(&done, id, arts, name.span) {
                        return None;
                    }
                    keys.push(done.key);
                }
                keys.sort();
                if !many {
                    self.diags.push(Diagnostic::error(
                        "E0106",
                        "a glob stands for a list here, where one input is expected",
                        name.span,
                        "matches a list of definitions",
                    ));
                    return None;
                }
                Some(keys)
            }
            ExprKind::Ref(name) => {
                let id = self.reference(name, &env)?;
                // The keyword states the type, so a mismatch is reported even when the
                // referenced definition itself has errors.
                if let Some(declared) = Artifact::of_def(self.ns.instances[id].def.kind) {
                    let stub = Done { key: String::new(), art: declared, mixture: None };
                    if !self.check_fits(&stub, id, arts, name.span) {
                        return None;
                    }
                }
                let done = self.instance(id)?;
                self.check_fits(&done, id, arts, name.span).then(|| vec![done.key])
            }
            // An inline mixture where a corpus (or documents) is expected.
            ExprKind::Set(_) | ExprKind::Mix { .. } if arts.iter().any(|a| Artifact::Corpus.fits(*a)) => {
                let at = self.sources.location(expr.span);
                self.mixture_node(&expr, None, &env, inline_name, at).map(|d| vec![d.key])
            }
            ExprKind::Call(call) => {
                let kind = self.catalog.kind(&call.callee.source_text());
                let Some(kind) = kind.filter(|k| arts.iter().any(|a| k.output.fits(*a))) else {
                    let fitting: Vec<&str> = self
                        .catalog
                        .kinds
                        .iter()
                        .filter(|k| arts.iter().any(|a| k.output.fits(*a)))
                        .map(|k| k.name)
                        .collect();
                    let callee = call.callee.source_text();
                    let d = match kind {
                        Some(k) => Diagnostic::error(
                            "E0204",
                            format!(
                                "expected {}, found stage `{callee}`, which makes {}",
                                describe_arts(arts),
                                k.output.describe()
                            ),
                            call.callee.span,
                            format!("expected {}", describe_arts(arts)),
                        ),
                        None => Diagnostic::error(
                            "E0201",
                            format!("unknown stage `{callee}`"),
                            call.callee.span,
                            "no stage of this name",
                        )
                        .with_suggestion(closest(&callee, fitting.iter().copied())),
                    };
                    self.diags.push(d);
                    return None;
                };
                let at = self.sources.location(expr.span);
                let key = self.stage_node(kind, call, expr.span, &env, inline_name, "inline", at)?;
                Some(vec![key])
            }
            _ => {
                let found = self.describe(&expr, &env);
                let expected = if many { format!("a list of {}", describe_arts(arts)) } else { describe_arts(arts) };
                self.diags.push(Diagnostic::error(
                    "E0204",
                    format!("expected {expected}, found {found}"),
                    expr.span,
                    format!("expected {expected}"),
                ));
                None
            }
        }
    }

    fn check_fits(&mut self, done: &Done, id: usize, arts: &[Artifact], span: Span) -> bool {
        if arts.iter().any(|a| done.art.fits(*a)) {
            return true;
        }
        let inst = &self.ns.instances[id];
        self.diags.push(
            Diagnostic::error(
                "E0204",
                format!("expected {}, found {} `{}`", describe_arts(arts), done.art.describe(), inst.name),
                span,
                format!("this is {}", done.art.describe()),
            )
            .with_secondary(
                inst.def.name.span,
                format!("`{}` is defined here as `{}`", inst.name, inst.def.kind.keyword()),
            ),
        );
        false
    }

    /// Resolves a definition name; reports unknown names and cycles.
    fn reference(&mut self, name: &Name, env: &Rc<Env>) -> Option<usize> {
        let text = match interpolate(name, env) {
            Ok(t) => t,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let Some(id) = self.ns.lookup(&text).filter(|&i| !self.ns.instances[i].is_let()) else {
            let suggestion = closest(&text, self.ns.live_names());
            self.diags.push(
                Diagnostic::error("E0101", format!("`{text}` is not defined"), name.span, "not found")
                    .with_suggestion(suggestion),
            );
            return None;
        };
        self.used[id] = true;
        if matches!(self.state[id], State::InProgress) {
            let start = self.stack.iter().position(|&s| s == id).unwrap_or(0);
            let chain: Vec<&str> = self.stack[start..]
                .iter()
                .chain(std::iter::once(&id))
                .map(|&i| self.ns.instances[i].name.as_str())
                .collect();
            let mut d = Diagnostic::error(
                "E0107",
                format!("`{text}` depends on itself: {}", chain.join(" → ")),
                name.span,
                "this reference closes the cycle",
            )
            .with_help("a definition cannot use its own result; break the cycle");
            for &i in &self.stack[start..] {
                let inst = &self.ns.instances[i];
                d = d.with_secondary(inst.def.name.span, format!("`{}` defined here", inst.name));
            }
            self.diags.push(d);
            for &i in &self.stack[start..] {
                self.state[i] = State::Failed;
            }
            return None;
        }
        Some(id)
    }

    /// The live definitions a glob matches (not `let`s), in namespace order.
    fn glob(&mut self, name: &Name, env: &Rc<Env>) -> Option<Vec<usize>> {
        let pattern = match interpolate(name, env) {
            Ok(p) => p,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let ids: Vec<usize> = self
            .ns
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| !i.dead && !i.is_let() && glob_match(&pattern, &i.name))
            .map(|(id, _)| id)
            .collect();
        if ids.is_empty() {
            self.diags.push(Diagnostic::error(
                "E0106",
                format!("`{pattern}` matches no definition"),
                name.span,
                "matches nothing",
            ));
            return None;
        }
        for &id in &ids {
            self.used[id] = true;
        }
        Some(ids)
    }

    // --- mixtures ----------------------------------------------------------------------------

    fn corpus(&mut self, id: usize) -> Option<Done> {
        let inst = &self.ns.instances[id];
        let (def, env, name) = (inst.def.clone(), inst.env.clone(), inst.name.clone());
        let at = self.sources.location(def.name.span);
        self.mixture_node(&def.value, def.with.as_ref(), &env, &name, at)
    }

    /// Lowers mixture algebra (with its `with { … }` parameters) to a `mix` node.
    fn mixture_node(
        &mut self,
        value: &Expr,
        with: Option<&Record>,
        env: &Rc<Env>,
        name: &str,
        at: String,
    ) -> Option<Done> {
        let mut mixture = self.mixture(value, env)?;
        if mixture.members.is_empty() {
            self.diags.push(Diagnostic::error(
                "E0210",
                format!("the mixture `{name}` has no members"),
                value.span,
                "empty mixture",
            ));
            return None;
        }
        if let Some(with) = with {
            // Own `with` fields override inherited ones of the same name.
            mixture.with.retain(|(f, _)| !with.fields.iter().any(|g| g.key.text == f.key.text));
            mixture.with.extend(with.fields.iter().map(|f| (f.clone(), env.clone())));
        }
        let kind = self.catalog.mixture();
        // Bind `with` fields as named arguments, each in the scope it was written in.
        let mut params = BTreeMap::new();
        let mut inputs = Vec::new();
        let mut ok = true;
        let mut bound: Bound = HashMap::new();
        for (field, fenv) in &mixture.with {
            let call = Call {
                callee: Name { parts: vec![NamePart::Text(kind.name.into())], span: value.span },
                args: Vec::new(),
                trailing: Some(Record { fields: vec![field.clone()], span: field.span }),
            };
            let (b, placed) = self.bind(kind.params, &call, fenv, "a mixture");
            bound.extend(b);
            ok &= placed;
        }
        for p in kind.params {
            ok &= self.param(p, bound.get(p.name), value.span, env, name, "a mixture", &mut params, &mut inputs);
        }
        if !ok {
            return None;
        }
        let mut members = mixture.members.clone();
        members.sort_by(|a, b| a.key.cmp(&b.key));
        let uses_budget =
            params.get("budget").is_some_and(|b| *b != Value::Null) || members.iter().any(|m| m.budget != Value::Null);
        if uses_budget && !inputs.iter().any(|i: &Input| i.role == "tokenizer") {
            self.diags.push(
                Diagnostic::error(
                    "E0211",
                    format!("token budgets in `{name}` need a tokenizer to count tokens"),
                    value.span,
                    "a budget is set in this mixture",
                )
                .with_help("add `with { tokenizer: … }`"),
            );
            return None;
        }
        params.insert(
            "members".into(),
            Value::List(
                members
                    .iter()
                    .map(|m| Value::map([("weight", m.weight.clone()), ("budget", m.budget.clone())]))
                    .collect(),
            ),
        );
        inputs.extend(members.iter().map(|m| Input { role: "member".into(), node: m.key.clone() }));
        let key = self.push_node(kind, name, "corpus", params, inputs, at);
        Some(Done { key, art: Artifact::Corpus, mixture: Some(Rc::new(mixture)) })
    }

    /// Evaluates mixture algebra to a member list.
    fn mixture(&mut self, expr: &Expr, env: &Rc<Env>) -> Option<Mixture> {
        let (expr, env) = self.resolve_alias(expr, env)?;
        match &expr.kind {
            ExprKind::Mix { first, rest } => {
                let mut acc = self.mixture(first, &env)?;
                let mut ok = true;
                for (op, term) in rest {
                    let Some(other) = self.mixture(term, &env) else {
                        ok = false;
                        continue;
                    };
                    for m in other.members {
                        let present = acc.members.iter().position(|a| a.key == m.key);
                        match (op, present) {
                            (MixOp::Add, None) => acc.members.push(m),
                            (MixOp::Remove, Some(i)) => {
                                acc.members.remove(i);
                            }
                            (MixOp::Add, Some(_)) => {
                                self.diags.push(
                                    Diagnostic::error(
                                        "E0210",
                                        format!("`{}` is already in the mixture", m.name),
                                        term.span,
                                        "added again here",
                                    )
                                    .with_help(format!(
                                        "to change its weight, remove it first: `- {{ {0} }} + {{ {0} * 2 }}`",
                                        m.name
                                    )),
                                );
                                ok = false;
                            }
                            (MixOp::Remove, None) => {
                                self.diags.push(Diagnostic::error(
                                    "E0210",
                                    format!("`{}` is not in the mixture, so it cannot be removed", m.name),
                                    term.span,
                                    "not a member",
                                ));
                                ok = false;
                            }
                        }
                    }
                }
                ok.then_some(acc)
            }
            ExprKind::Set(members) => {
                let mut out = Mixture::default();
                let mut ok = true;
                for m in members {
                    let ids = if m.name.is_glob() {
                        self.glob(&m.name, &env)
                    } else {
                        self.reference(&m.name, &env).map(|i| vec![i])
                    };
                    let Some(ids) = ids else {
                        ok = false;
                        continue;
                    };
                    let weight = match &m.weight {
                        Some(q) => self.quantity_value(
                            q,
                            &Ty::Float { min: 0.0, max: f64::INFINITY },
                            "weight",
                            &[crate::ast::Unit::Epochs],
                        ),
                        None => Some(Value::Float(1.0)),
                    };
                    let budget = match &m.budget {
                        Some(q) => self.quantity_value(q, &Ty::Tokens, "budget", &[crate::ast::Unit::Tokens]),
                        None => Some(Value::Null),
                    };
                    let (Some(weight), Some(budget)) = (weight, budget) else {
                        ok = false;
                        continue;
                    };
                    if weight.as_f64() == Some(0.0) {
                        self.diags.push(
                            Diagnostic::error("E0205", "a mixture weight must be above 0", m.span, "weight 0")
                                .with_help("remove the member instead"),
                        );
                        ok = false;
                    }
                    for id in ids {
                        let Some(done) = self.instance(id) else {
                            ok = false;
                            continue;
                        };
                        if !self.check_fits(&done, id, &[Artifact::Documents], m.name.span) {
                            ok = false;
                            continue;
                        }
                        let name = self.ns.instances[id].name.clone();
                        if out.members.iter().any(|x| x.key == done.key) {
                            self.diags.push(Diagnostic::error(
                                "E0210",
                                format!("`{name}` is listed twice in the mixture"),
                                m.span,
                                "listed again here",
                            ));
                            ok = false;
                            continue;
                        }
                        out.members.push(MemberVal {
                            key: done.key,
                            name,
                            weight: weight.clone(),
                            budget: budget.clone(),
                        });
                    }
                }
                ok.then_some(out)
            }
            ExprKind::Ref(name) if !name.is_glob() => {
                let id = self.reference(name, &env)?;
                let done = self.instance(id)?;
                if let Some(m) = &done.mixture {
                    return Some((**m).clone());
                }
                if !self.check_fits(&done, id, &[Artifact::Documents], name.span) {
                    return None;
                }
                let name = self.ns.instances[id].name.clone();
                Some(Mixture {
                    members: vec![MemberVal { key: done.key, name, weight: Value::Float(1.0), budget: Value::Null }],
                    with: Vec::new(),
                })
            }
            _ => {
                let found = self.describe(&expr, &env);
                self.diags.push(
                    Diagnostic::error(
                        "E0204",
                        format!("expected a mixture, found {found}"),
                        expr.span,
                        "expected `{ a, b }`, a corpus, or `a + { b }`",
                    )
                    .with_help("a corpus is written as mixture algebra: `en_dominant + { pubmed_ja }`"),
                );
                None
            }
        }
    }

    // --- values --------------------------------------------------------------------------------

    /// Elaborates a parameter value against its type, canonicalising it.
    fn value(&mut self, expr: &Expr, ty: &'static Ty, env: &Rc<Env>, what: &str) -> Option<Value> {
        // An enum symbol or constructor name is not a definition reference: only loop
        // variables and `let`s are followed.
        let (expr, env) = self.resolve_alias(expr, env)?;
        let mismatch = |this: &mut Self| {
            let found = this.describe(&expr, &env);
            this.diags.push(Diagnostic::error(
                "E0204",
                format!("`{what}` expects {}, found {found}", ty.describe()),
                expr.span,
                format!("expected {}", ty.describe()),
            ));
            None
        };
        match (ty, &expr.kind) {
            (
                Ty::Int { .. } | Ty::Float { .. } | Ty::Fraction | Ty::Tokens | Ty::Steps | Ty::Warmup,
                ExprKind::Quantity(q),
            ) => {
                let units: &[crate::ast::Unit] = match ty {
                    Ty::Tokens => &[crate::ast::Unit::Tokens],
                    Ty::Steps | Ty::Warmup => &[crate::ast::Unit::Steps],
                    _ => &[],
                };
                self.quantity_value(q, ty, what, units)
            }
            (Ty::Schedule, ExprKind::Quantity(q)) => {
                let peak = self.quantity_value(q, &Ty::Float { min: 0.0, max: f64::INFINITY }, what, &[])?;
                Some(Value::map([("peak", peak.clone()), ("floor", peak), ("shape", Value::Str("constant".into()))]))
            }
            (Ty::Schedule, ExprKind::Schedule { peak, floor, shape }) => {
                let peak_v = self.quantity_value(peak, &Ty::Float { min: 0.0, max: f64::INFINITY }, what, &[])?;
                let floor_v = self.quantity_value(floor, &Ty::Float { min: 0.0, max: f64::INFINITY }, what, &[])?;
                if floor_v.as_f64() > peak_v.as_f64() {
                    self.diags.push(Diagnostic::error(
                        "E0205",
                        format!("`{what}` falls from its peak to its floor, but the floor is higher"),
                        expr.span,
                        "floor above peak",
                    ));
                    return None;
                }
                const SHAPES: &[&str] = &["cosine", "linear", "constant"];
                let shape = match shape {
                    None => "cosine".to_string(),
                    Some(s) if SHAPES.contains(&s.text.as_str()) => s.text.clone(),
                    Some(s) => {
                        self.diags.push(
                            Diagnostic::error(
                                "E0212",
                                format!("unknown schedule shape `{}`", s.text),
                                s.span,
                                "expected `cosine`, `linear` or `constant`",
                            )
                            .with_suggestion(closest(&s.text, SHAPES.iter().copied())),
                        );
                        return None;
                    }
                };
                Some(Value::map([("peak", peak_v), ("floor", floor_v), ("shape", Value::Str(shape))]))
            }
            (Ty::Bool, ExprKind::Bool(b)) => Some(Value::Bool(*b)),
            (Ty::Str, ExprKind::Str(s)) => Some(Value::Str(s.clone())),
            (Ty::Path, ExprKind::Str(s)) => Some(Value::Str(self.path(s, expr.span))),
            (Ty::Enum(options), ExprKind::Str(_) | ExprKind::Ref(_)) => {
                let text = match &expr.kind {
                    ExprKind::Str(s) => s.clone(),
                    ExprKind::Ref(n) if n.plain().is_some() => n.source_text(),
                    _ => return mismatch(self),
                };
                if options.contains(&text.as_str()) {
                    Some(Value::Str(text))
                } else {
                    self.diags.push(
                        Diagnostic::error(
                            "E0212",
                            format!("`{text}` is not a valid `{what}`"),
                            expr.span,
                            format!("expected {}", ty.describe()),
                        )
                        .with_suggestion(closest(&text, options.iter().copied())),
                    );
                    None
                }
            }
            (Ty::List(item), ExprKind::List(items)) => {
                let values: Vec<Option<Value>> = items.iter().map(|e| self.value(e, item, &env, what)).collect();
                values.into_iter().collect::<Option<Vec<_>>>().map(Value::List)
            }
            (Ty::Tuple(tys), ExprKind::Tuple(items)) => {
                if tys.len() != items.len() {
                    self.diags.push(Diagnostic::error(
                        "E0204",
                        format!("`{what}` expects a tuple of {}, found {}", tys.len(), items.len()),
                        expr.span,
                        format!("expected {} values", tys.len()),
                    ));
                    return None;
                }
                let values: Vec<Option<Value>> =
                    items.iter().zip(tys.iter()).map(|(e, t)| self.value(e, t, &env, what)).collect();
                values.into_iter().collect::<Option<Vec<_>>>().map(Value::List)
            }
            (Ty::Map(item), ExprKind::Record(r)) => {
                let mut out = BTreeMap::new();
                let mut ok = true;
                for f in &r.fields {
                    if out.contains_key(&f.key.text) {
                        self.diags.push(Diagnostic::error(
                            "E0208",
                            format!("field `{}` is given twice", f.key.text),
                            f.key.span,
                            "given again here",
                        ));
                        ok = false;
                        continue;
                    }
                    match self.value(&f.value, item, &env, &f.key.text) {
                        Some(v) => {
                            out.insert(f.key.text.clone(), v);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(Value::Map(out))
            }
            (Ty::Struct(fields), ExprKind::Record(r)) => {
                let call =
                    Call { callee: Name { parts: vec![], span: r.span }, args: Vec::new(), trailing: Some(r.clone()) };
                self.constructed(fields, &call, expr.span, &env, &format!("`{what}`"), None)
            }
            (Ty::Variant(ctors), ExprKind::Call(call)) => {
                let name = call.callee.source_text();
                match ctors.iter().find(|c| c.name == name) {
                    Some(c) => {
                        self.constructed(c.params, call, expr.span, &env, &format!("`{}`", c.name), Some(c.name))
                    }
                    None => self.unknown_constructor(&name, call.callee.span, ctors, what),
                }
            }
            (Ty::Variant(ctors), ExprKind::Ref(n)) if n.plain().is_some() => {
                let name = n.source_text();
                match ctors.iter().find(|c| c.name == name) {
                    Some(c) => {
                        let call = Call { callee: n.clone(), args: Vec::new(), trailing: None };
                        self.constructed(c.params, &call, expr.span, &env, &format!("`{}`", c.name), Some(c.name))
                    }
                    None => self.unknown_constructor(&name, n.span, ctors, what),
                }
            }
            _ => mismatch(self),
        }
    }

    fn unknown_constructor(
        &mut self,
        name: &str,
        span: Span,
        ctors: &[crate::schema::Constructor],
        what: &str,
    ) -> Option<Value> {
        let names: Vec<&str> = ctors.iter().map(|c| c.name).collect();
        self.diags.push(
            Diagnostic::error(
                "E0213",
                format!("`{name}` is not a valid `{what}`"),
                span,
                format!("expected one of: {}", names.join(", ")),
            )
            .with_suggestion(closest(name, names.iter().copied())),
        );
        None
    }

    /// A record or constructor call bound against `fields`, defaults filled; constructors
    /// record their name under `type`.
    fn constructed(
        &mut self,
        fields: &'static [Param],
        call: &Call,
        span: Span,
        env: &Rc<Env>,
        what: &str,
        ctor: Option<&str>,
    ) -> Option<Value> {
        let (bound, mut ok) = self.bind(fields, call, env, what);
        let mut params = BTreeMap::new();
        let mut inputs = Vec::new();
        for p in fields {
            ok &= self.param(p, bound.get(p.name), span, env, "", what, &mut params, &mut inputs);
        }
        if let Some(c) = ctor {
            params.insert("type".into(), Value::Str(c.into()));
        }
        ok.then_some(Value::Map(params))
    }

    /// Converts a written number for a numeric type: suffixes applied, unit checked, range
    /// checked.
    fn quantity_value(&mut self, q: &Quantity, ty: &Ty, what: &str, units: &[crate::ast::Unit]) -> Option<Value> {
        let Some(n) = number(q) else {
            self.diags.push(Diagnostic::error("E0205", format!("`{}` is too large", q.number), q.span, "out of range"));
            return None;
        };
        if let Some(u) = q.unit {
            let allowed = units.contains(&u);
            if !allowed {
                let expected = if units.is_empty() {
                    "no unit".to_string()
                } else {
                    units.iter().map(|u| format!("`{}`", u.text())).collect::<Vec<_>>().join(" or ")
                };
                self.diags.push(Diagnostic::error(
                    "E0206",
                    format!("unit `{}` does not apply to `{what}`", u.text()),
                    q.span,
                    format!("expected {expected}"),
                ));
                return None;
            }
        }
        let percent = q.suffix == Some(crate::ast::Suffix::Percent);
        let out_of_range = |this: &mut Self, range: String| {
            this.diags.push(Diagnostic::error(
                "E0205",
                format!("`{what}` must be {range}"),
                q.span,
                format!("found {}", this.sources.snippet(q.span)),
            ));
            None
        };
        match ty {
            Ty::Int { .. } | Ty::Tokens | Ty::Steps => {
                let (min, max) = match ty {
                    Ty::Int { min, max } => (*min, *max),
                    _ => (0, i64::MAX),
                };
                let Some(i) = n.int.filter(|_| !percent) else {
                    self.diags.push(Diagnostic::error(
                        "E0204",
                        format!("`{what}` expects {}, found {}", ty.describe(), self.sources.snippet(q.span)),
                        q.span,
                        "not a whole number",
                    ));
                    return None;
                };
                if i < min || i > max {
                    return out_of_range(self, range_text(min as f64, max as f64));
                }
                Some(Value::Int(i))
            }
            Ty::Warmup => {
                if percent {
                    if !(0.0..=1.0).contains(&n.float) {
                        return out_of_range(self, "between 0% and 100%".into());
                    }
                    return Some(Value::map([("fraction", Value::Float(n.float))]));
                }
                match (q.unit, n.int) {
                    (Some(_), Some(i)) if i >= 0 => Some(Value::map([("steps", Value::Int(i))])),
                    _ => {
                        self.diags.push(
                            Diagnostic::error(
                                "E0206",
                                format!("`{what}` needs a unit"),
                                q.span,
                                "a share (`3%`) or a step count (`20 steps`)",
                            )
                            .with_help(format!("write `{0}%` for a share of all steps or `{0} steps`", q.number)),
                        );
                        None
                    }
                }
            }
            Ty::Fraction => {
                if !(0.0..=1.0).contains(&n.float) {
                    return out_of_range(self, "between 0 and 1 (0% and 100%)".into());
                }
                Some(Value::Float(n.float))
            }
            Ty::Float { min, max } => {
                if n.float < *min || n.float > *max {
                    return out_of_range(self, range_text(*min, *max));
                }
                Some(Value::Float(n.float))
            }
            _ => None,
        }
    }

    /// A path as written, made relative to the root experiment's folder so the same file
    /// named from an imported file in another folder gives the same value.
    fn path(&self, written: &str, span: Span) -> String {
        let p = Path::new(written);
        if p.is_absolute() {
            return written.to_string();
        }
        let file_dir = self.sources.get(span.file).path.parent().map(Path::to_path_buf).unwrap_or_default();
        let full = normalise(&file_dir.join(p));
        relative_to(&full, &self.root_dir).display().to_string()
    }

    /// How an expression is named in "found …".
    fn describe(&self, expr: &Expr, env: &Rc<Env>) -> String {
        match &expr.kind {
            ExprKind::Quantity(_) | ExprKind::Schedule { .. } => format!("`{}`", self.sources.snippet(expr.span)),
            ExprKind::Str(s) => format!("the string \"{s}\""),
            ExprKind::Bool(b) => format!("`{b}`"),
            ExprKind::Ref(n) => {
                let text = interpolate(n, env).unwrap_or_else(|_| n.source_text());
                match self.ns.lookup(&text) {
                    Some(i) => format!("{} `{text}`", self.ns.instances[i].def.kind.keyword()),
                    None => format!("the name `{text}`"),
                }
            }
            ExprKind::Call(c) => format!("a call to `{}`", c.callee.source_text()),
            ExprKind::List(_) => "a list".into(),
            ExprKind::Tuple(_) => "a tuple".into(),
            ExprKind::Paren(e) => self.describe(e, env),
            ExprKind::Record(_) => "a record".into(),
            ExprKind::Set(_) => "a set of mixture members".into(),
            ExprKind::Mix { .. } => "a mixture expression".into(),
        }
    }
}

fn describe_arts(arts: &[Artifact]) -> String {
    arts.iter().map(|a| a.describe()).collect::<Vec<_>>().join(" or ")
}

fn range_text(min: f64, max: f64) -> String {
    match (min.is_finite() && min > f64::MIN / 2.0 && min > i64::MIN as f64, max.is_finite() && max < i64::MAX as f64) {
        (true, true) => format!("between {min} and {max}"),
        (true, false) => format!("at least {min}"),
        (false, true) => format!("at most {max}"),
        (false, false) => "a finite number".into(),
    }
}

fn default_value(d: &Default, ty: &Ty) -> Option<Value> {
    Some(match d {
        Default::Required => return None,
        Default::Optional => Value::Null,
        Default::Int(i) => Value::Int(*i),
        Default::Float(f) => Value::Float(*f),
        Default::Bool(b) => Value::Bool(*b),
        Default::Str(s) | Default::Sym(s) => Value::Str((*s).to_string()),
        Default::Floats(fs) => Value::List(fs.iter().map(|f| Value::Float(*f)).collect()),
        Default::Strs(ss) => Value::List(ss.iter().map(|s| Value::Str((*s).to_string())).collect()),
        Default::Empty if matches!(ty, Ty::Map(_) | Ty::Struct(_)) => Value::Map(BTreeMap::new()),
        Default::Empty => Value::List(Vec::new()),
    })
}

/// `*` matches any run of characters.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("eval_*", "eval_en"));
        assert!(glob_match("*_en", "pubmed_en"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("eval_*", "cpt_en"));
        assert!(!glob_match("a*a", "a"));
    }
}
