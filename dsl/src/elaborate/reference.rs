//! Resolving names: loop variables and `let` constants to what they stand for,
//! references and globs to definitions (with cycle detection), and input parameters to
//! the keys of the nodes they connect to.

use super::*;
use crate::codes::Code;

impl Elaborator<'_> {
    pub(super) fn is_let(&self, name: &str) -> bool {
        self.ns.lookup(name).is_some_and(|i| self.ns.instances[i].is_let())
    }

    /// Follows loop variables and `let` constants to the expression they stand for.
    /// `None` when constants refer to each other in a cycle (reported here).
    pub(super) fn resolve_alias(&mut self, expr: &Expr, env: &Rc<Env>) -> Option<(Expr, Rc<Env>)> {
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
                                Code::Cycle,
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
    pub(super) fn inputs(
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
                    let glob = matches!(&item.kind, ExprKind::Ref(n) if n.is_glob());
                    match self.inputs(item, &env, arts, glob, &format!("{inline_name}[{i}]")) {
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
                        Code::BadGlob,
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
                if kind.is_some_and(|k| self.called_mixture(k, call)) {
                    return None;
                }
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
                            Code::WrongType,
                            format!(
                                "expected {}, found stage `{callee}`, which makes {}",
                                describe_arts(arts),
                                k.output.describe()
                            ),
                            call.callee.span,
                            format!("expected {}", describe_arts(arts)),
                        ),
                        None => Diagnostic::error(
                            Code::UnknownStage,
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
                    Code::WrongType,
                    format!("expected {expected}, found {found}"),
                    expr.span,
                    format!("expected {expected}"),
                ));
                None
            }
        }
    }

    pub(super) fn check_fits(&mut self, done: &Done, id: usize, arts: &[Artifact], span: Span) -> bool {
        if arts.iter().any(|a| done.art.fits(*a)) {
            return true;
        }
        let inst = &self.ns.instances[id];
        self.diags.push(
            Diagnostic::error(
                Code::WrongType,
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
    pub(super) fn reference(&mut self, name: &Name, env: &Rc<Env>) -> Option<usize> {
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
                Diagnostic::error(Code::UndefinedName, format!("`{text}` is not defined"), name.span, "not found")
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
                Code::Cycle,
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
    pub(super) fn glob(&mut self, name: &Name, env: &Rc<Env>) -> Option<Vec<usize>> {
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
                Code::BadGlob,
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

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    pub(super) fn globs() {
        assert!(glob_match("eval_*", "eval_en"));
        assert!(glob_match("*_en", "pubmed_en"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("eval_*", "cpt_en"));
        assert!(!glob_match("a*a", "a"));
    }
}
