//! Mixture algebra: `a + { b * 2 } - { c }` evaluated to a flat, sorted member list and
//! lowered to one `mix` node with the `with { … }` parameters.

use super::*;
use crate::codes::Code;

impl Elaborator<'_> {
    pub(super) fn corpus(&mut self, id: usize) -> Option<Done> {
        let inst = &self.ns.instances[id];
        let (def, env, name) = (inst.def.clone(), inst.env.clone(), inst.name.clone());
        let at = self.sources.location(def.name.span);
        self.mixture_node(&def.value, def.with.as_ref(), &env, &name, at)
    }

    /// Lowers mixture algebra (with its `with { … }` parameters) to a `mix` node.
    pub(super) fn mixture_node(
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
                Code::MixtureAlgebra,
                format!("the mixture `{name}` has no members"),
                value.span,
                "empty mixture",
            ));
            return None;
        }
        if let Some(with) = with {
            for (i, f) in with.fields.iter().enumerate() {
                if let Some(first) = with.fields[..i].iter().find(|g| g.key.text == f.key.text) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::GivenTwice,
                            format!("parameter `{}` is given twice", f.key.text),
                            f.span,
                            "given again here",
                        )
                        .with_secondary(first.span, "first given here"),
                    );
                    return None;
                }
            }
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
            ok &= self.param(p, bound.get(p.name), value.span, name, "a mixture", &mut params, &mut inputs);
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
                    Code::BudgetWithoutTokenizer,
                    format!("token budgets in `{name}` need a tokenizer to count tokens"),
                    value.span,
                    "a budget is set in this mixture",
                )
                .with_help("add `with { tokenizer: … }`"),
            );
            return None;
        }
        // `content` names members; it is lowered onto the members themselves, so the node
        // does not depend on the names (names of members a mixture does not have are
        // ignored: a map shared by the corpora built from each other names them all).
        let content = match params.remove("content") {
            Some(Value::Map(m)) => m,
            _ => BTreeMap::new(),
        };
        params.insert(
            "members".into(),
            Value::List(
                members
                    .iter()
                    .map(|m| {
                        let kind = content.get(&m.name).cloned().unwrap_or(Value::Null);
                        Value::map([("weight", m.weight.clone()), ("budget", m.budget.clone()), ("content", kind)])
                    })
                    .collect(),
            ),
        );
        inputs.extend(members.iter().map(|m| Input { role: "member".into(), node: m.key.clone() }));
        let key = self.push_node(kind, name, "corpus", params, inputs, at);
        Some(Done { key, art: Artifact::Corpus, mixture: Some(Rc::new(mixture)) })
    }

    /// Evaluates mixture algebra to a member list.
    pub(super) fn mixture(&mut self, expr: &Expr, env: &Rc<Env>) -> Option<Mixture> {
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
                                        Code::MixtureAlgebra,
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
                                    Code::MixtureAlgebra,
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
                    // A loop variable or `let` stands for a definition or for a whole
                    // mixture, whose members join this one.
                    let alias = m.name.plain().filter(|t| env.get(t).is_some() || self.is_let(t));
                    let (name, menv) = match alias {
                        None => (m.name.clone(), env.clone()),
                        Some(_) => {
                            let as_ref = Expr { kind: ExprKind::Ref(m.name.clone()), span: m.name.span };
                            let Some((target, tenv)) = self.resolve_alias(&as_ref, &env) else {
                                ok = false;
                                continue;
                            };
                            match target.kind {
                                ExprKind::Ref(n) => (n, tenv),
                                _ if m.weight.is_some() || m.budget.is_some() => {
                                    self.diags.push(Diagnostic::error(
                                        Code::MixtureAlgebra,
                                        format!(
                                            "`{}` is a mixture; a weight or budget applies to one subcorpus",
                                            m.name.source_text()
                                        ),
                                        m.span,
                                        "weight or budget on a mixture",
                                    ));
                                    ok = false;
                                    continue;
                                }
                                _ => {
                                    let Some(inner) = self.mixture(&target, &tenv) else {
                                        ok = false;
                                        continue;
                                    };
                                    for member in inner.members {
                                        if out.members.iter().any(|x| x.key == member.key) {
                                            self.diags.push(Diagnostic::error(
                                                Code::MixtureAlgebra,
                                                format!("`{}` is listed twice in the mixture", member.name),
                                                m.span,
                                                "listed again here",
                                            ));
                                            ok = false;
                                        } else {
                                            out.members.push(member);
                                        }
                                    }
                                    continue;
                                }
                            }
                        }
                    };
                    let ids = if name.is_glob() {
                        self.glob(&name, &menv)
                    } else {
                        self.reference(&name, &menv).map(|i| vec![i])
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
                        Some(q) => self.quantity_value(q, &Ty::TOKENS, "budget", &[crate::ast::Unit::Tokens]),
                        None => Some(Value::Null),
                    };
                    let (Some(weight), Some(budget)) = (weight, budget) else {
                        ok = false;
                        continue;
                    };
                    if weight.as_f64() == Some(0.0) {
                        self.diags.push(
                            Diagnostic::error(Code::OutOfRange, "a mixture weight must be above 0", m.span, "weight 0")
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
                                Code::MixtureAlgebra,
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
                        Code::WrongType,
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
}
