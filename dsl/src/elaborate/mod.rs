//! Elaboration: type-checks every definition instance against the stage catalogue and
//! lowers it to graph [`Node`]s. References are resolved here (to definitions, `let`
//! constants, loop variables or enumerated symbols), parameters are bound and
//! canonicalised, defaults filled, mixture algebra evaluated to a flat member list, and
//! dependency cycles found. Errors are collected, and a definition whose inputs failed is
//! skipped quietly, so that one mistake gives one message.
//!
//! The work is split by concern: this module holds the state and the binding of calls
//! to stage kinds; `reference.rs` resolves names and inputs, `mixture.rs` evaluates
//! mixture algebra, `value.rs` canonicalises parameter values.

mod mixture;
mod reference;
mod value;

use crate::ast::*;
use crate::codes::Code;
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
pub(crate) enum State {
    Pending,
    InProgress,
    Failed,
    Done(Done),
}

#[derive(Clone, Debug)]
pub(crate) struct Done {
    key: String,
    art: Artifact,
    /// For a corpus: its members and `with` fields, inherited by `corpus b = a + { … }`.
    mixture: Option<Rc<Mixture>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Mixture {
    members: Vec<MemberVal>,
    with: Vec<(Field, Rc<Env>)>,
}

#[derive(Clone, Debug)]
pub(crate) struct MemberVal {
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

pub(crate) type Bound = HashMap<&'static str, (Expr, Rc<Env>, Span)>;

impl<'a> Elaborator<'a> {
    pub fn new(catalog: &'a Catalog, sources: &'a SourceMap, root_dir: &Path, ns: &'a Namespace) -> Self {
        let n = ns.instances.len();
        // `loop_lets` has an entry per loop expansion (an inner loop over a `let` adds
        // one per outer iteration): mark them rather than search it per definition.
        let mut used = vec![false; n];
        for &i in &ns.loop_lets {
            used[i] = true;
        }
        Elaborator {
            catalog,
            sources,
            root_dir: normalise(root_dir),
            ns,
            diags: Vec::new(),
            state: vec![State::Pending; n],
            used,
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
            // Constants, tokenizers and sources exist to be used; corpora, datasets, models,
            // evaluations and reports are results in their own right.
            let reportable = matches!(inst.def.kind, DefKind::Let | DefKind::Tokenizer | DefKind::Source);
            if inst.in_root && !inst.dead && reportable && !self.used[id] {
                self.diags.push(
                    Diagnostic::warning(
                        Code::Unused,
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
                Code::Cycle,
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
                Diagnostic::error(
                    Code::KeywordMismatch,
                    "`with { … }` sets the parameters of a mixture",
                    with.span,
                    "not a mixture",
                )
                .with_help("put the parameters in the call: `f(x) { key: value }`"),
            );
        }
        let (expr, env) = self.resolve_alias(&def.value, &env)?;
        let ExprKind::Call(call) = &expr.kind else {
            self.diags.push(
                Diagnostic::error(
                    Code::WrongType,
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
                    Code::UnknownStage,
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
        if self.called_mixture(kind, call) {
            return None;
        }
        if !kind.allowed_under(def) {
            let fits: Vec<&str> =
                DefKind::ALL.iter().filter(|d| kind.allowed_under(**d)).map(|d| d.keyword()).collect();
            self.diags.push(
                Diagnostic::error(
                    Code::KeywordMismatch,
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

    /// A mixture is written as algebra (`{ a, b }`), never as a call of its stage kind,
    /// which would bypass the member checks. Reports and returns true for such a call.
    fn called_mixture(&mut self, kind: &KindSchema, call: &Call) -> bool {
        if kind.name != self.catalog.mixture_kind {
            return false;
        }
        self.diags.push(
            Diagnostic::error(
                Code::KeywordMismatch,
                format!("`{}` is written as a mixture, not called", kind.name),
                call.callee.span,
                "a call of the mixture stage",
            )
            .with_help("write the members in braces: `{ a, b * 2 } with { seed: 1 }`"),
        );
        true
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
                name,
                &format!("stage `{}`", kind.name),
                &mut params,
                &mut inputs,
            );
        }
        if !ok {
            return None;
        }
        // Rules between parameters, judged on the lowered values (defaults included).
        let upstream = crate::schema::Upstream { nodes: &self.nodes, inputs: &inputs, root: &self.root_dir };
        let broken = (kind.typed.rules)(&params, &upstream);
        for b in &broken {
            let at = bound.get(b.param).map_or(span, |(_, _, s)| *s);
            self.diags.push(
                Diagnostic::error(
                    Code::ParameterRule,
                    b.message.clone(),
                    at,
                    format!("`{}` breaks a rule of `{}`", b.param, kind.name),
                )
                .with_help(format!("see `exp stages {}`", kind.name)),
            );
        }
        broken.is_empty().then(|| self.push_node(kind, name, def, params, inputs, at))
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
        owner: &str,
        what: &str,
        params: &mut BTreeMap<String, Value>,
        inputs: &mut Vec<Input>,
    ) -> bool {
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
                            Code::MissingParameter,
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
                        Code::MisplacedPositional,
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
                                Code::MisplacedPositional,
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
                                    Code::UnknownParameter,
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
                        Code::GivenTwice,
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
}

fn describe_arts(arts: &[Artifact]) -> String {
    arts.iter().map(|a| a.describe()).collect::<Vec<_>>().join(" or ")
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
        Default::Schedule { peak, floor, shape } => Value::map([
            ("peak", Value::Float(*peak)),
            ("floor", Value::Float(*floor)),
            ("shape", Value::Str((*shape).to_string())),
        ]),
        Default::WarmupFraction(f) => Value::map([("fraction", Value::Float(*f))]),
        Default::WarmupSteps(s) => Value::map([("steps", Value::Int(*s))]),
        // Lowered as the constructor call `name` with no arguments would be.
        Default::Variant(name) => {
            let Ty::Variant(ctors) = ty else { return None };
            let ctor = ctors.iter().find(|c| c.name == *name)?;
            let mut fields = BTreeMap::new();
            for p in ctor.params {
                fields.insert(p.name.to_string(), default_value(&p.default, &p.ty)?);
            }
            fields.insert("type".into(), Value::Str((*name).to_string()));
            Value::Map(fields)
        }
    })
}
