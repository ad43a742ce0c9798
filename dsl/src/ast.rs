//! The syntax tree of one `.med` file, as written: nothing is resolved here. Every node
//! carries the [`Span`] it was parsed from.

use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `experiment "name"`
    Header {
        name: String,
        span: Span,
    },
    /// `import "path.med"`
    Import {
        path: String,
        span: Span,
    },
    /// `profile toy { let x = … }`: overrides of `let` constants chosen with `--profile`.
    Profile(Profile),
    For(ForLoop),
    Def(Definition),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Header { span, .. } | Item::Import { span, .. } => *span,
            Item::Profile(p) => p.span,
            Item::For(f) => f.span,
            Item::Def(d) => d.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: Ident,
    pub lets: Vec<LetOverride>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LetOverride {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `for c in [a, b], lr in [1e-4, 3e-4] { … }`: the body is instantiated for every
/// combination of the bindings (a matrix when there are several).
#[derive(Clone, Debug, PartialEq)]
pub struct ForLoop {
    pub bindings: Vec<Binding>,
    /// Only `Item::For` and `Item::Def`.
    pub body: Vec<Item>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub var: Ident,
    pub values: Expr,
    pub span: Span,
}

/// The keyword of a definition: it states the type of what the name holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefKind {
    Tokenizer,
    Source,
    Corpus,
    Dataset,
    Model,
    Pretrain,
    Finetune,
    Eval,
    Report,
    Let,
}

impl DefKind {
    pub const ALL: [DefKind; 10] = [
        DefKind::Tokenizer,
        DefKind::Source,
        DefKind::Corpus,
        DefKind::Dataset,
        DefKind::Model,
        DefKind::Pretrain,
        DefKind::Finetune,
        DefKind::Eval,
        DefKind::Report,
        DefKind::Let,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            DefKind::Tokenizer => "tokenizer",
            DefKind::Source => "source",
            DefKind::Corpus => "corpus",
            DefKind::Dataset => "dataset",
            DefKind::Model => "model",
            DefKind::Pretrain => "pretrain",
            DefKind::Finetune => "finetune",
            DefKind::Eval => "eval",
            DefKind::Report => "report",
            DefKind::Let => "let",
        }
    }

    pub fn from_keyword(s: &str) -> Option<DefKind> {
        DefKind::ALL.into_iter().find(|k| k.keyword() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    /// `override corpus x = …` replaces an imported definition of the same name.
    pub is_override: bool,
    pub kind: DefKind,
    pub kind_span: Span,
    pub name: Name,
    pub value: Expr,
    /// `… with { seed: 7 }`: parameters of a mixture.
    pub with: Option<Record>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

/// A possibly interpolated or glob name: `cpt_{c}`, `eval_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub parts: Vec<NamePart>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamePart {
    Text(String),
    Var(Ident),
    Star,
}

impl Name {
    /// The name when it has no interpolation and no glob.
    pub fn plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [NamePart::Text(t)] => Some(t),
            _ => None,
        }
    }

    pub fn is_glob(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, NamePart::Star))
    }

    /// The source spelling, e.g. `cpt_{c}`.
    pub fn source_text(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                NamePart::Text(t) => t.clone(),
                NamePart::Var(v) => format!("{{{}}}", v.text),
                NamePart::Star => "*".to_string(),
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Quantity(Quantity),
    Str(String),
    Bool(bool),
    Ref(Name),
    Call(Call),
    List(Vec<Expr>),
    /// `(a, b)`; a single parenthesised expression is [`ExprKind::Paren`].
    Tuple(Vec<Expr>),
    Paren(Box<Expr>),
    Record(Record),
    /// `{ a, b * 2, c @ 4B tokens }`
    Set(Vec<Member>),
    /// `peak -> floor shape`
    Schedule {
        peak: Quantity,
        floor: Quantity,
        shape: Option<Ident>,
    },
    /// `first (+|-) rest…`, left-associative mixture algebra.
    Mix {
        first: Box<Expr>,
        rest: Vec<(MixOp, Expr)>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixOp {
    Add,
    Remove,
}

/// A number as written: digits, optional scale suffix and unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    /// The digits as written (`1.5e-4`, `44.2`, `1_000`).
    pub number: String,
    pub suffix: Option<Suffix>,
    pub unit: Option<Unit>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suffix {
    Thousand,
    Million,
    Billion,
    Trillion,
    Percent,
}

impl Suffix {
    pub fn from_text(s: &str) -> Option<Suffix> {
        Some(match s {
            "k" | "K" => Suffix::Thousand,
            "M" => Suffix::Million,
            "B" | "G" => Suffix::Billion,
            "T" => Suffix::Trillion,
            "%" => Suffix::Percent,
            _ => return None,
        })
    }

    /// Canonical spelling used by the formatter.
    pub fn text(self) -> &'static str {
        match self {
            Suffix::Thousand => "k",
            Suffix::Million => "M",
            Suffix::Billion => "B",
            Suffix::Trillion => "T",
            Suffix::Percent => "%",
        }
    }

    /// Power of ten the suffix multiplies by.
    pub fn exponent(self) -> i32 {
        match self {
            Suffix::Thousand => 3,
            Suffix::Million => 6,
            Suffix::Billion => 9,
            Suffix::Trillion => 12,
            Suffix::Percent => -2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Tokens,
    Docs,
    Steps,
    Epochs,
    Seqs,
}

impl Unit {
    pub fn from_text(s: &str) -> Option<Unit> {
        Some(match s {
            "tokens" | "token" => Unit::Tokens,
            "docs" | "doc" => Unit::Docs,
            "steps" | "step" => Unit::Steps,
            "epochs" | "epoch" => Unit::Epochs,
            "seqs" | "seq" => Unit::Seqs,
            _ => return None,
        })
    }

    pub fn text(self) -> &'static str {
        match self {
            Unit::Tokens => "tokens",
            Unit::Docs => "docs",
            Unit::Steps => "steps",
            Unit::Epochs => "epochs",
            Unit::Seqs => "seqs",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub callee: Name,
    pub args: Vec<Arg>,
    /// `f(x) { key: value }`: named arguments written after the call.
    pub trailing: Option<Record>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub fields: Vec<Field>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub name: Name,
    /// `* 2`: up- or down-sampling factor (epochs over the subcorpus).
    pub weight: Option<Quantity>,
    /// `@ 4B tokens`: sample the subcorpus to this many tokens.
    pub budget: Option<Quantity>,
    pub span: Span,
}
