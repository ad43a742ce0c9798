//! Parameter values: each written value checked against its schema type and made
//! canonical (units and suffixes resolved, defaults filled, paths normalised).

use super::*;
use crate::codes::Code;

impl Elaborator<'_> {
    /// Elaborates a parameter value against its type, canonicalising it.
    pub(super) fn value(&mut self, expr: &Expr, ty: &'static Ty, env: &Rc<Env>, what: &str) -> Option<Value> {
        // An enum symbol or constructor name is not a definition reference: only loop
        // variables and `let`s are followed.
        let (expr, env) = self.resolve_alias(expr, env)?;
        let mismatch = |this: &mut Self| {
            let found = this.describe(&expr, &env);
            this.diags.push(Diagnostic::error(
                Code::WrongType,
                format!("`{what}` expects {}, found {found}", ty.describe()),
                expr.span,
                format!("expected {}", ty.describe()),
            ));
            None
        };
        match (ty, &expr.kind) {
            (
                Ty::Int { .. } | Ty::Float { .. } | Ty::Fraction | Ty::Count { .. } | Ty::Warmup,
                ExprKind::Quantity(q),
            ) => {
                let units: &[crate::ast::Unit] = match ty {
                    Ty::Count { unit, .. } => std::slice::from_ref(unit),
                    Ty::Warmup => &[crate::ast::Unit::Steps],
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
                        Code::OutOfRange,
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
                                Code::InvalidSymbol,
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
                            Code::InvalidSymbol,
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
                        Code::WrongType,
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
                            Code::GivenTwice,
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

    pub(super) fn unknown_constructor(
        &mut self,
        name: &str,
        span: Span,
        ctors: &[crate::schema::Constructor],
        what: &str,
    ) -> Option<Value> {
        let names: Vec<&str> = ctors.iter().map(|c| c.name).collect();
        self.diags.push(
            Diagnostic::error(
                Code::UnknownConstructor,
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
    pub(super) fn constructed(
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
            ok &= self.param(p, bound.get(p.name), span, "", what, &mut params, &mut inputs);
        }
        if let Some(c) = ctor {
            params.insert("type".into(), Value::Str(c.into()));
        }
        ok.then_some(Value::Map(params))
    }

    /// Converts a written number for a numeric type: suffixes applied, unit checked, range
    /// checked.
    pub(super) fn quantity_value(
        &mut self,
        q: &Quantity,
        ty: &Ty,
        what: &str,
        units: &[crate::ast::Unit],
    ) -> Option<Value> {
        let Some(n) = number(q) else {
            self.diags.push(Diagnostic::error(
                Code::OutOfRange,
                format!("`{}` is too large", q.number),
                q.span,
                "out of range",
            ));
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
                    Code::WrongUnit,
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
                Code::OutOfRange,
                format!("`{what}` must be {range}"),
                q.span,
                format!("found {}", this.sources.snippet(q.span)),
            ));
            None
        };
        match ty {
            Ty::Int { .. } | Ty::Count { .. } => {
                let (min, max) = match ty {
                    Ty::Int { min, max } => (*min, *max),
                    Ty::Count { min, .. } => (*min, i64::MAX),
                    _ => unreachable!("matched above"),
                };
                // A whole number too large for 64 bits is out of range, not fractional.
                if n.int.is_none() && !percent && n.float.fract() == 0.0 {
                    return out_of_range(self, format!("at most {max}"));
                }
                let Some(i) = n.int.filter(|_| !percent) else {
                    self.diags.push(Diagnostic::error(
                        Code::WrongType,
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
                    (Some(_), _) => out_of_range(self, "a whole number of steps, at least 0".into()),
                    (None, _) => {
                        let help = match n.int {
                            _ if (0.0..1.0).contains(&n.float) => {
                                // Rounded so 0.07 reads `7%`, not `7.000000000000001%`.
                                format!("write `{}%` for that share of all steps", (n.float * 1e11).round() / 1e9)
                            }
                            Some(i) if i >= 0 => format!("write `{i} steps` for a step count"),
                            _ => "write a share (`3%`) or a whole number of steps (`20 steps`)".to_string(),
                        };
                        self.diags.push(
                            Diagnostic::error(
                                Code::WrongUnit,
                                format!("`{what}` needs a unit"),
                                q.span,
                                "a share (`3%`) or a step count (`20 steps`)",
                            )
                            .with_help(help),
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
    pub(super) fn path(&self, written: &str, span: Span) -> String {
        let p = Path::new(written);
        if p.is_absolute() {
            return written.to_string();
        }
        let file_dir = self.sources.get(span.file).path.parent().map(Path::to_path_buf).unwrap_or_default();
        let full = normalise(&file_dir.join(p));
        relative_to(&full, &self.root_dir).display().to_string()
    }

    /// How an expression is named in "found …".
    pub(super) fn describe(&self, expr: &Expr, env: &Rc<Env>) -> String {
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

fn range_text(min: f64, max: f64) -> String {
    match (min.is_finite() && min > f64::MIN / 2.0 && min > i64::MIN as f64, max.is_finite() && max < i64::MAX as f64) {
        (true, true) => format!("between {min} and {max}"),
        (true, false) => format!("at least {min}"),
        (false, true) => format!("at most {max}"),
        (false, false) => "a finite number".into(),
    }
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
