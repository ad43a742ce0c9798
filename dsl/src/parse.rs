//! Parsing: `.med` text to [`ast::Module`] with the pest grammar in `med.pest`. pest's own
//! errors never reach the user: [`syntax_error`] turns them into a [`Diagnostic`] that says
//! what was expected in words.

use crate::ast::*;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "med.pest"]
struct MedParser;

/// Deepest nesting of brackets accepted. Real experiments nest three or four levels; the
/// limit keeps the recursive-descent parser far from the stack's end on hostile input.
pub const MAX_NESTING: usize = 64;

/// Parses one file. On a syntax error, returns the diagnostic for the first one.
pub fn parse(file: FileId, text: &str) -> Result<Module, Diagnostic> {
    check_nesting(file, text)?;
    let mut pairs = MedParser::parse(Rule::file, text).map_err(|_| detailed_error(file, text, Rule::file))?;
    let file_pair = pairs.next().expect("the `file` rule always yields one pair");
    let b = Builder { file, text };
    let items = file_pair.into_inner().filter(|p| p.as_rule() != Rule::EOI).map(|p| b.item(p)).collect();
    Ok(Module { items })
}

/// Most syntax errors reported for one file.
pub const MAX_SYNTAX_ERRORS: usize = 20;

/// Parses one file, reporting several syntax errors where there are several: after an
/// error, parsing resumes at the next line that starts (in column 0) with a keyword that
/// begins an item. The module holds what parsed; it is complete only without errors.
pub fn parse_recovering(file: FileId, text: &str) -> (Module, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut items = Vec::new();
    let mut masked: Option<String> = None;
    loop {
        // Text already reported on is blanked (newlines kept), so positions stay those of
        // the real file.
        let current = masked.as_deref().unwrap_or(text);
        match parse(file, current) {
            Ok(m) => {
                items.extend(m.items);
                break;
            }
            Err(d) => {
                let at = d.primary.span.end.max(d.primary.span.start);
                let nesting = d.code == Code::NestedTooDeep;
                diagnostics.push(d);
                match next_item_start(text, at) {
                    Some(next) if !nesting && diagnostics.len() < MAX_SYNTAX_ERRORS => {
                        let blank: String = text[..next].bytes().map(|b| if b == b'\n' { '\n' } else { ' ' }).collect();
                        masked = Some(blank + &text[next..]);
                    }
                    _ => break,
                }
            }
        }
    }
    (Module { items }, diagnostics)
}

/// The start of the first line after `pos` that begins with an item keyword.
fn next_item_start(text: &str, pos: usize) -> Option<usize> {
    const STARTS: [&str; 15] = [
        "experiment",
        "import",
        "profile",
        "for",
        "override",
        "tokenizer",
        "source",
        "corpus",
        "dataset",
        "model",
        "pretrain",
        "finetune",
        "eval",
        "report",
        "let",
    ];
    let mut line = text.get(pos..)?.find('\n').map(|i| pos + i + 1)?;
    while line < text.len() {
        let rest = &text[line..];
        let word: &str = rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("");
        if STARTS.contains(&word) {
            return Some(line);
        }
        line += rest.find('\n').map_or(rest.len(), |i| i + 1);
    }
    None
}

/// Parses a standalone expression (used by tests and by the formatter's self-check).
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Diagnostic> {
    check_nesting(file, text)?;
    let mut pairs = MedParser::parse(Rule::expr, text).map_err(|_| detailed_error(file, text, Rule::expr))?;
    let pair = pairs.next().expect("the `expr` rule yields one pair");
    Ok(Builder { file, text }.expr(pair))
}

fn check_nesting(file: FileId, text: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::error(
                        Code::NestedTooDeep,
                        format!("brackets nest more than {MAX_NESTING} levels deep"),
                        Span::new(file, i, i + 1),
                        "too deep here",
                    )
                    .with_help("split the expression into `let` constants"));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// What a grammar rule is called in an "expected …" message.
fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::header => "`experiment \"name\"`",
        Rule::import => "`import`",
        Rule::profile => "`profile`",
        Rule::for_loop => "`for`",
        Rule::definition | Rule::def_kind => "a definition (`source`, `corpus`, `model`, `pretrain`, `let`, …)",
        Rule::kw_override => "`override`",
        Rule::expr | Rule::rhs | Rule::arg => "an expression",
        Rule::schedule => "a schedule",
        Rule::quantity | Rule::number => "a number",
        Rule::suffix => "a suffix (`k`, `M`, `B`, `%`)",
        Rule::unit => "a unit (`tokens`, `steps`, `epochs`, `docs`, `seqs`)",
        Rule::string => "a string",
        Rule::boolean => "`true` or `false`",
        Rule::call => "a call",
        Rule::named_arg => "a named argument",
        Rule::list => "a list",
        Rule::paren => "`(`",
        Rule::record => "a record `{ key: value }`",
        Rule::field => "a field `key: value`",
        Rule::set => "a set of mixture members `{ a, b }`",
        Rule::member => "a mixture member",
        Rule::weight => "`* factor`",
        Rule::budget => "`@ budget`",
        Rule::reference | Rule::name => "a name",
        Rule::ident | Rule::ident_chars => "a name",
        Rule::interpolation => "`{variable}`",
        Rule::kw_with => "`with`",
        Rule::kw_in => "`in`",
        Rule::kw_let => "`let`",
        Rule::binding => "a loop binding `x in [...]`",
        Rule::let_override => "`let name = value`",
        _ => return None,
    })
}

/// Parses again with pest's error detail on, which also records the literal tokens
/// (`=`, `)`, `,`) expected at the failure. It costs time, so only the error path pays.
fn detailed_error(file: FileId, text: &str, rule: Rule) -> Diagnostic {
    pest::set_error_detail(true);
    let result = MedParser::parse(rule, text);
    pest::set_error_detail(false);
    match result {
        Err(e) => syntax_error(file, text, &e),
        Ok(_) => unreachable!("the same input cannot parse the second time"),
    }
}

fn syntax_error(file: FileId, text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let mut pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe_rule(*r)).map(str::to_string).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    if let Some(attempts) = e.parse_attempts() {
        if attempts.max_position >= pos {
            if attempts.max_position > pos {
                expected.clear();
            }
            pos = attempts.max_position;
            for token in attempts.expected_tokens() {
                // Punctuation only: keywords, letters and digit ranges are covered by the
                // rule descriptions.
                let token = token.to_string();
                if !token.is_empty()
                    && token.chars().all(|c| c.is_ascii_punctuation() && c != '_')
                    && token != ".."
                    && token != "#"
                {
                    expected.push(format!("`{token}`"));
                }
            }
        }
    }
    // pest reports the position before skipped whitespace; point at what follows it.
    let skipped = text[pos..].len() - text[pos..].trim_start_matches([' ', '\t', '\r']).len();
    pos += skipped;
    expected.sort();
    expected.dedup();
    if let Some(open) = unterminated_string(text, pos) {
        return Diagnostic::error(
            Code::Syntax,
            "unterminated string",
            Span::new(file, open, open + 1),
            "this string is not closed on its line",
        )
        .with_help("close it with `\"`; a string cannot span lines (write `\\n` for a line break)");
    }
    let found = describe_found(&text[pos..]);
    let end = (pos + found.1).min(text.len());
    if expected.is_empty() {
        return Diagnostic::error(Code::Syntax, format!("unexpected {}", found.0), Span::new(file, pos, end), "not expected here")
            .with_help("`experiment`, `import`, `profile`, `for`, `in`, `override`, `with`, `let`, `true` and `false` are keywords, not names");
    }
    let expectation = match expected.as_slice() {
        [] => unreachable!("handled above"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let word: String = text[pos..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    let keywords = ["experiment", "import", "profile", "for", "override"]
        .into_iter()
        .chain(crate::ast::DefKind::ALL.iter().map(|k| k.keyword()));
    Diagnostic::error(
        Code::Syntax,
        format!("expected {expectation}, found {}", found.0),
        Span::new(file, pos, end),
        format!("expected {expectation}"),
    )
    .with_suggestion(if word.is_empty() { None } else { crate::suggest::closest(&word, keywords) })
}

/// The opening quote of a string left open on the line of `pos`, if any.
fn unterminated_string(text: &str, pos: usize) -> Option<usize> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    let line = &text[line_start..line_end];
    let comment = comment_start(line).unwrap_or(line.len());
    let (mut open, mut escaped) = (None, false);
    for (i, c) in line[..comment].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if open.is_some() => escaped = true,
            '"' => open = if open.is_some() { None } else { Some(line_start + i) },
            _ => {}
        }
    }
    open
}

/// A short description of the text at an error position and its byte length.
fn describe_found(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else {
        return ("end of file".into(), 0);
    };
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').take(40).collect();
        let len = word.len();
        return (format!("`{word}`"), len);
    }
    if c == '\n' {
        return ("end of line".into(), 1);
    }
    if c.is_control() {
        return (format!("control character U+{:04X}", c as u32), c.len_utf8());
    }
    (format!("`{c}`"), c.len_utf8())
}

/// Turns pest pairs into AST nodes. The grammar guarantees the shapes matched here; the
/// `expect`s name the rule that guarantees them.
struct Builder<'t> {
    file: FileId,
    text: &'t str,
}

/// The end of `text[start..end]` once trailing whitespace and comments are removed.
/// Strings never span lines, so a `#` is found to be a comment by looking at its line only.
fn trim_end(text: &str, start: usize, mut end: usize) -> usize {
    // pest's skip is `(WHITESPACE | COMMENT)*` and a comment is always followed by a line
    // break or the end of the file, so most spans need no work at all.
    let ends_clean = !text[start..end].ends_with(|c: char| c.is_whitespace()) && end < text.len();
    if ends_clean {
        return end;
    }
    loop {
        end = start + text[start..end].trim_end().len();
        let line_start = text[start..end].rfind('\n').map_or(start, |i| start + i + 1);
        match comment_start(&text[line_start..end]) {
            Some(c) => end = line_start + c,
            None => return end,
        }
    }
}

/// Byte offset of a `#` comment in one line, outside strings.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

impl Builder<'_> {
    /// A pair's span without the whitespace and comments pest leaves at its end (it
    /// skips them before trying an optional part that then does not match).
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), trim_end(self.text, s.start(), s.end()))
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident { text: p.as_str().to_string(), span: self.span(&p) }
    }

    fn item(&self, p: Pair<Rule>) -> Item {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::header => {
                let s = p.into_inner().nth(1).expect("header: keyword then string");
                Item::Header { name: self.string(s), span }
            }
            Rule::import => {
                let s = p.into_inner().nth(1).expect("import: keyword then string");
                Item::Import { path: self.string(s), span }
            }
            Rule::profile => {
                let mut inner = p.into_inner().skip(1);
                let name = self.ident(inner.next().expect("profile: name"));
                let lets = inner
                    .map(|l| {
                        let lspan = self.span(&l);
                        let mut li = l.into_inner().skip(1);
                        let name = self.ident(li.next().expect("let: name"));
                        let value = self.expr(li.next().expect("let: value"));
                        LetOverride { name, value, span: lspan }
                    })
                    .collect();
                Item::Profile(Profile { name, lets, span })
            }
            Rule::for_loop => {
                let mut bindings = Vec::new();
                let mut body = Vec::new();
                for c in p.into_inner().skip(1) {
                    match c.as_rule() {
                        Rule::binding => {
                            let bspan = self.span(&c);
                            let mut bi = c.into_inner();
                            let var = self.ident(bi.next().expect("binding: variable"));
                            let values = self.expr(bi.nth(1).expect("binding: `in` then values"));
                            bindings.push(Binding { var, values, span: bspan });
                        }
                        _ => body.push(self.item(c)),
                    }
                }
                Item::For(ForLoop { bindings, body, span })
            }
            Rule::definition => Item::Def(self.definition(p)),
            r => unreachable!("grammar yields no item {r:?}"),
        }
    }

    fn definition(&self, p: Pair<Rule>) -> Definition {
        let span = self.span(&p);
        let mut inner = p.into_inner().peekable();
        let is_override = inner.peek().is_some_and(|p| p.as_rule() == Rule::kw_override);
        if is_override {
            inner.next();
        }
        let kind_pair = inner.next().expect("definition: keyword");
        let kind = DefKind::from_keyword(kind_pair.as_str()).expect("def_kind lists exactly the DefKind keywords");
        let kind_span = self.span(&kind_pair);
        let name = self.name(inner.next().expect("definition: name"));
        let mut rhs = inner.next().expect("definition: right-hand side").into_inner();
        let value = self.expr(rhs.next().expect("rhs: expression"));
        let with = rhs.nth(1).map(|r| self.record(r));
        Definition { is_override, kind, kind_span, name, value, with, span }
    }

    fn name(&self, p: Pair<Rule>) -> Name {
        let span = self.span(&p);
        let parts = p
            .into_inner()
            .map(|part| match part.as_rule() {
                Rule::ident_chars => NamePart::Text(part.as_str().to_string()),
                Rule::interpolation => {
                    NamePart::Var(self.ident(part.into_inner().next().expect("interpolation: variable")))
                }
                Rule::glob_star => NamePart::Star,
                r => unreachable!("grammar yields no name part {r:?}"),
            })
            .collect();
        Name { parts, span }
    }

    fn string(&self, p: Pair<Rule>) -> String {
        let raw = p.into_inner().next().map_or("", |i| i.as_str());
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn quantity(&self, p: Pair<Rule>) -> Quantity {
        let span = self.span(&p);
        let mut q = Quantity { number: String::new(), suffix: None, unit: None, span };
        for part in p.into_inner() {
            match part.as_rule() {
                Rule::number => q.number = part.as_str().to_string(),
                Rule::suffix => q.suffix = Suffix::from_text(part.as_str()),
                Rule::unit => q.unit = Unit::from_text(part.as_str()),
                r => unreachable!("grammar yields no quantity part {r:?}"),
            }
        }
        q
    }

    fn record(&self, p: Pair<Rule>) -> Record {
        let span = self.span(&p);
        let fields = p
            .into_inner()
            .map(|f| {
                let fspan = self.span(&f);
                let mut fi = f.into_inner();
                let key = self.ident(fi.next().expect("field: key"));
                let value = self.expr(fi.next().expect("field: value"));
                Field { key, value, span: fspan }
            })
            .collect();
        Record { fields, span }
    }

    fn expr(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::expr => {
                let mut inner = p.into_inner();
                let first = self.expr(inner.next().expect("expr: first term"));
                let mut rest = Vec::new();
                while let Some(op) = inner.next() {
                    let op = if op.as_str() == "+" { MixOp::Add } else { MixOp::Remove };
                    rest.push((op, self.expr(inner.next().expect("expr: term after operator"))));
                }
                if rest.is_empty() {
                    first
                } else {
                    Expr { kind: ExprKind::Mix { first: Box::new(first), rest }, span }
                }
            }
            Rule::schedule => {
                let mut inner = p.into_inner();
                let peak = self.quantity(inner.next().expect("schedule: peak"));
                let floor = self.quantity(inner.next().expect("schedule: floor"));
                let shape = inner.next().map(|s| self.ident(s));
                Expr { kind: ExprKind::Schedule { peak, floor, shape }, span }
            }
            Rule::quantity => Expr { kind: ExprKind::Quantity(self.quantity(p)), span },
            Rule::string => Expr { kind: ExprKind::Str(self.string(p)), span },
            Rule::boolean => Expr { kind: ExprKind::Bool(p.as_str() == "true"), span },
            Rule::reference => Expr { kind: ExprKind::Ref(self.name(p)), span },
            Rule::call => {
                let mut inner = p.into_inner();
                let callee = self.name(inner.next().expect("call: callee"));
                let mut args = Vec::new();
                let mut trailing = None;
                for a in inner {
                    match a.as_rule() {
                        Rule::arg => {
                            let aspan = self.span(&a);
                            let a = a.into_inner().next().expect("arg: named or positional");
                            if a.as_rule() == Rule::named_arg {
                                let mut ni = a.into_inner();
                                let name = self.ident(ni.next().expect("named arg: name"));
                                let value = self.expr(ni.next().expect("named arg: value"));
                                args.push(Arg { name: Some(name), value, span: aspan });
                            } else {
                                args.push(Arg { name: None, value: self.expr(a), span: aspan });
                            }
                        }
                        Rule::record => trailing = Some(self.record(a)),
                        r => unreachable!("grammar yields no call part {r:?}"),
                    }
                }
                Expr { kind: ExprKind::Call(Call { callee, args, trailing }), span }
            }
            Rule::list => Expr { kind: ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()), span },
            Rule::paren => {
                let mut items: Vec<Expr> = p.into_inner().map(|e| self.expr(e)).collect();
                if items.len() > 1 {
                    Expr { kind: ExprKind::Tuple(items), span }
                } else {
                    let only = items.pop().expect("paren: one expression");
                    Expr { kind: ExprKind::Paren(Box::new(only)), span }
                }
            }
            Rule::record => Expr { kind: ExprKind::Record(self.record(p)), span },
            Rule::set => {
                let members = p
                    .into_inner()
                    .map(|m| {
                        let mspan = self.span(&m);
                        let mut mi = m.into_inner();
                        let name = self.name(mi.next().expect("member: name"));
                        let mut member = Member { name, weight: None, budget: None, span: mspan };
                        for part in mi {
                            let rule = part.as_rule();
                            let q = self.quantity(part.into_inner().next().expect("weight/budget: quantity"));
                            if rule == Rule::budget {
                                member.budget = Some(q);
                            } else {
                                member.weight = Some(q);
                            }
                        }
                        member
                    })
                    .collect();
                Expr { kind: ExprKind::Set(members), span }
            }
            r => unreachable!("grammar yields no expression {r:?}"),
        }
    }
}
