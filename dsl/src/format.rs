//! The formatter behind `exp fmt`: one canonical layout, comments kept.
//!
//! Layout rules: two-space indentation; a list, record, set or argument list stays on one
//! line when it fits in [`WIDTH`] columns and holds no comment, otherwise it is written one
//! item per line with trailing commas; single blank lines between items are kept, runs of
//! them collapsed; scale suffixes and units are spelt canonically (`4K` → `4k`,
//! `1 token` → `1 tokens`). The decisions depend only on the syntax tree and where the
//! comments sit in it, so formatting twice gives the same text, and the formatted file
//! lowers to the same graph (both are tested).

use crate::ast::*;
use crate::comments::{scan, Comment};
use crate::diagnostic::Diagnostic;
use crate::parse;
use crate::span::Span;

/// The line width the layout aims for.
pub const WIDTH: usize = 100;
const INDENT: usize = 2;

/// Formats a whole file. A file that does not parse is returned as its syntax error.
pub fn format_source(text: &str) -> Result<String, Diagnostic> {
    let module = parse::parse(0, text)?;
    let mut p = Printer { src: text, comments: scan(text), next: 0, last_end: 0, out: String::new() };
    p.items(&module.items, 0, text.len());
    let mut out = p.out.trim_end().to_string();
    out.push('\n');
    if out.trim().is_empty() {
        out.clear();
    }
    Ok(out)
}

struct Printer<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    /// The first comment not yet written.
    next: usize,
    /// End of the last thing written, in the source.
    last_end: usize,
    out: String,
}

/// An element of a bracketed sequence.
enum Elem<'a> {
    Expr(&'a Expr),
    Arg(&'a Arg),
    Field(&'a Field),
    Member(&'a Member),
}

impl Elem<'_> {
    fn span(&self) -> Span {
        match self {
            Elem::Expr(e) => e.span,
            Elem::Arg(a) => a.span,
            Elem::Field(f) => f.span,
            Elem::Member(m) => m.span,
        }
    }
}

impl Printer<'_> {
    fn column(&self) -> usize {
        self.out.rsplit('\n').next().map_or(0, |l| l.chars().count())
    }

    fn pad(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn has_comment_in(&self, span: Span) -> bool {
        self.comments[self.next..].iter().any(|c| c.start >= span.start && c.start < span.end)
    }

    fn blank_line_between(&self, from: usize, to: usize) -> bool {
        self.src.get(from..to).is_some_and(|s| s.matches('\n').count() >= 2)
    }

    /// Writes the comments before `pos` on their own lines, keeping one blank line where
    /// the source had any.
    fn leading(&mut self, pos: usize, indent: usize, first: bool) {
        let mut first = first;
        while let Some(c) = self.comments.get(self.next).filter(|c| c.start < pos).cloned() {
            if !first && self.blank_line_between(self.last_end, c.start) {
                self.out.push('\n');
            }
            self.pad(indent);
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.last_end = c.end;
            self.next += 1;
            first = false;
        }
        if !first && self.blank_line_between(self.last_end, pos) {
            self.out.push('\n');
        }
    }

    /// Appends a comment that follows `end` on the same source line.
    fn trailing(&mut self, end: usize) {
        self.last_end = self.last_end.max(end);
        if let Some(c) = self.comments.get(self.next).cloned() {
            let same_line = self.src.get(end..c.start).is_some_and(|s| !s.contains('\n'));
            if c.start >= end && same_line {
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.last_end = c.end;
                self.next += 1;
            }
        }
    }

    fn items(&mut self, items: &[Item], indent: usize, end: usize) {
        for (i, item) in items.iter().enumerate() {
            self.leading(item.span().start, indent, i == 0);
            self.pad(indent);
            self.item(item, indent);
            self.trailing(item.span().end);
            self.out.push('\n');
        }
        self.leading(end, indent, items.is_empty());
    }

    fn item(&mut self, item: &Item, indent: usize) {
        match item {
            Item::Header { name, .. } => self.out.push_str(&format!("experiment {}", quote(name))),
            Item::Import { path, .. } => self.out.push_str(&format!("import {}", quote(path))),
            Item::Profile(p) => {
                self.out.push_str(&format!("profile {} {{\n", p.name.text));
                for (i, l) in p.lets.iter().enumerate() {
                    self.leading(l.span.start, indent + INDENT, i == 0);
                    self.pad(indent + INDENT);
                    self.out.push_str(&format!("let {} = ", l.name.text));
                    self.expr(&l.value, indent + INDENT);
                    self.trailing(l.span.end);
                    self.out.push('\n');
                }
                self.leading(p.span.end - 1, indent + INDENT, p.lets.is_empty());
                self.pad(indent);
                self.out.push('}');
            }
            Item::For(f) => {
                self.out.push_str("for ");
                for (i, b) in f.bindings.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(&format!("{} in ", b.var.text));
                    self.expr(&b.values, indent);
                }
                self.out.push_str(" {\n");
                self.items(&f.body, indent + INDENT, f.span.end - 1);
                self.pad(indent);
                self.out.push('}');
            }
            Item::Def(d) => {
                if d.is_override {
                    self.out.push_str("override ");
                }
                self.out.push_str(&format!("{} {} = ", d.kind.keyword(), d.name.source_text()));
                self.expr(&d.value, indent);
                if let Some(w) = &d.with {
                    self.out.push_str(" with ");
                    self.record(w, indent);
                }
            }
        }
    }

    /// Writes an expression inline when it fits, else in block layout.
    fn expr(&mut self, e: &Expr, indent: usize) {
        if let Some(s) = self.inline(e) {
            if self.column() + s.chars().count() <= WIDTH {
                self.out.push_str(&s);
                return;
            }
        }
        match &e.kind {
            ExprKind::Call(c) => {
                self.out.push_str(&c.callee.source_text());
                let head = Span { end: c.trailing.as_ref().map_or(e.span.end, |t| t.span.start), ..e.span };
                let args: Option<Vec<String>> =
                    if self.has_comment_in(head) { None } else { c.args.iter().map(|a| self.inline_arg(a)).collect() };
                match args {
                    Some(a) if self.column() + a.join(", ").chars().count() + 2 <= WIDTH => {
                        self.out.push_str(&format!("({})", a.join(", ")))
                    }
                    _ => self.seq("(", ")", c.args.iter().map(Elem::Arg).collect(), indent, head.end),
                }
                if let Some(t) = &c.trailing {
                    self.out.push(' ');
                    self.record(t, indent);
                }
            }
            ExprKind::List(items) => self.seq("[", "]", items.iter().map(Elem::Expr).collect(), indent, e.span.end),
            ExprKind::Tuple(items) => self.seq("(", ")", items.iter().map(Elem::Expr).collect(), indent, e.span.end),
            ExprKind::Record(r) => self.record(r, indent),
            ExprKind::Set(members) => {
                self.seq("{", "}", members.iter().map(Elem::Member).collect(), indent, e.span.end)
            }
            ExprKind::Paren(inner) => {
                self.out.push('(');
                self.expr(inner, indent);
                self.out.push(')');
            }
            ExprKind::Mix { first, rest } => {
                self.expr(first, indent);
                for (op, term) in rest {
                    self.out.push_str(if *op == MixOp::Add { " + " } else { " - " });
                    self.expr(term, indent);
                }
            }
            // Atoms are always inline; they only reach here when they hold a comment, which
            // they cannot, or overflow the width, which is then unavoidable.
            _ => {
                let s = self.inline_unchecked(e);
                self.out.push_str(&s);
            }
        }
    }

    fn record(&mut self, r: &Record, indent: usize) {
        if !self.has_comment_in(r.span) {
            let s = inline_record(self, r);
            if self.column() + s.chars().count() <= WIDTH {
                self.out.push_str(&s);
                return;
            }
        }
        self.seq("{", "}", r.fields.iter().map(Elem::Field).collect(), indent, r.span.end);
    }

    /// One element per line, each followed by a comma and any comment on its line.
    fn seq(&mut self, open: &str, close: &str, elems: Vec<Elem>, indent: usize, end: usize) {
        self.out.push_str(open);
        self.out.push('\n');
        let inner = indent + INDENT;
        for (i, el) in elems.iter().enumerate() {
            let span = el.span();
            self.leading(span.start, inner, i == 0);
            self.pad(inner);
            match el {
                Elem::Expr(e) => self.expr(e, inner),
                Elem::Arg(a) => {
                    if let Some(n) = &a.name {
                        self.out.push_str(&format!("{}: ", n.text));
                    }
                    self.expr(&a.value, inner);
                }
                Elem::Field(f) => {
                    self.out.push_str(&format!("{}: ", f.key.text));
                    self.expr(&f.value, inner);
                }
                Elem::Member(m) => self.out.push_str(&inline_member(m)),
            }
            self.out.push(',');
            self.trailing(span.end);
            self.out.push('\n');
        }
        // Comments after the last element stay inside the brackets.
        self.leading(end.saturating_sub(1), inner, elems.is_empty());
        self.pad(indent);
        self.out.push_str(close);
        self.last_end = self.last_end.max(end);
    }

    /// The one-line form, or `None` when a comment sits inside.
    fn inline(&self, e: &Expr) -> Option<String> {
        (!self.has_comment_in(e.span)).then(|| self.inline_unchecked(e))
    }

    fn inline_arg(&self, a: &Arg) -> Option<String> {
        let v = self.inline(&a.value)?;
        Some(match &a.name {
            Some(n) => format!("{}: {v}", n.text),
            None => v,
        })
    }

    fn inline_unchecked(&self, e: &Expr) -> String {
        let list = |items: &[Expr]| items.iter().map(|i| self.inline_unchecked(i)).collect::<Vec<_>>().join(", ");
        match &e.kind {
            ExprKind::Quantity(q) => quantity(q),
            ExprKind::Str(s) => quote(s),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Ref(n) => n.source_text(),
            ExprKind::Call(c) => {
                let args: Vec<String> = c
                    .args
                    .iter()
                    .map(|a| match &a.name {
                        Some(n) => format!("{}: {}", n.text, self.inline_unchecked(&a.value)),
                        None => self.inline_unchecked(&a.value),
                    })
                    .collect();
                let mut s = format!("{}({})", c.callee.source_text(), args.join(", "));
                if let Some(t) = &c.trailing {
                    s.push(' ');
                    s.push_str(&inline_record(self, t));
                }
                s
            }
            ExprKind::List(items) => format!("[{}]", list(items)),
            ExprKind::Tuple(items) => format!("({})", list(items)),
            ExprKind::Paren(inner) => format!("({})", self.inline_unchecked(inner)),
            ExprKind::Record(r) => inline_record(self, r),
            ExprKind::Set(members) => {
                format!("{{ {} }}", members.iter().map(inline_member).collect::<Vec<_>>().join(", "))
            }
            ExprKind::Schedule { peak, floor, shape } => {
                let mut s = format!("{} -> {}", quantity(peak), quantity(floor));
                if let Some(sh) = shape {
                    s.push(' ');
                    s.push_str(&sh.text);
                }
                s
            }
            ExprKind::Mix { first, rest } => {
                let mut s = self.inline_unchecked(first);
                for (op, term) in rest {
                    s.push_str(if *op == MixOp::Add { " + " } else { " - " });
                    s.push_str(&self.inline_unchecked(term));
                }
                s
            }
        }
    }
}

fn inline_record(p: &Printer, r: &Record) -> String {
    if r.fields.is_empty() {
        return "{}".into();
    }
    let fields: Vec<String> =
        r.fields.iter().map(|f| format!("{}: {}", f.key.text, p.inline_unchecked(&f.value))).collect();
    format!("{{ {} }}", fields.join(", "))
}

fn inline_member(m: &Member) -> String {
    let mut s = m.name.source_text();
    if let Some(w) = &m.weight {
        s.push_str(&format!(" * {}", quantity(w)));
    }
    if let Some(b) = &m.budget {
        s.push_str(&format!(" @ {}", quantity(b)));
    }
    s
}

fn quantity(q: &Quantity) -> String {
    let mut s = q.number.clone();
    if let Some(x) = q.suffix {
        s.push_str(x.text());
    }
    if let Some(u) = q.unit {
        s.push(' ');
        s.push_str(u.text());
    }
    s
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::format_source;

    fn fmt(s: &str) -> String {
        format_source(s).expect("parses")
    }

    #[test]
    fn canonical_layout() {
        let src = "experiment   \"x\"\nsource a=jsonl( \"a.jsonl\",lang:en )   # trailing\n\n\n# lead\ncorpus c={a,b*2,d@4K tokens}with{seed:1}\n";
        assert_eq!(
            fmt(src),
            "experiment \"x\"\nsource a = jsonl(\"a.jsonl\", lang: en) # trailing\n\n# lead\ncorpus c = { a, b * 2, d @ 4k tokens } with { seed: 1 }\n"
        );
    }

    #[test]
    fn long_calls_break_one_argument_per_line_and_keep_inner_comments() {
        let src = "experiment \"x\"\nsource a = jsonl(\"a.jsonl\", # the file\n lang: en)\n";
        assert_eq!(fmt(src), "experiment \"x\"\nsource a = jsonl(\n  \"a.jsonl\", # the file\n  lang: en,\n)\n");
        let long = format!("experiment \"x\"\nsource a = jsonl(\"{}\", lang: en, text: \"body\")\n", "p".repeat(90));
        let out = fmt(&long);
        assert!(out.contains("jsonl(\n  \""), "{out}");
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn loops_and_profiles_indent() {
        let src = "experiment \"x\"\nprofile toy{let a=1\n}\nfor c in [a,b]{\ncorpus x_{c}={c}\n# end\n}\n";
        assert_eq!(
            fmt(src),
            "experiment \"x\"\nprofile toy {\n  let a = 1\n}\nfor c in [a, b] {\n  corpus x_{c} = { c }\n  # end\n}\n"
        );
    }

    #[test]
    fn empty_file_stays_empty() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("# only a comment\n"), "# only a comment\n");
    }
}
