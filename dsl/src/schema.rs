//! Parameter schemas. Every stage kind declares its inputs and parameters as a
//! [`KindSchema`]; the checker applies it (names, types, units, ranges, defaults) and the
//! lowering uses it to fill defaults and canonicalise values. Schemas are static data so
//! the `stages` crate can declare them as constants, one per stage kind.

use crate::ast::{DefKind, Unit};
use crate::Value;
use std::collections::BTreeMap;

/// The type of an artifact that flows along the graph's edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Artifact {
    Tokenizer,
    /// A stream of documents (id, text, language, metadata).
    Documents,
    /// A mixture of document streams; usable wherever documents are.
    Corpus,
    /// Tokenised, packed shards (Megatron `.bin/.idx`).
    Tokens,
    Model,
    Scores,
    Report,
}

impl Artifact {
    /// How the type is named in messages ("a corpus").
    pub fn describe(self) -> &'static str {
        match self {
            Artifact::Tokenizer => "a tokenizer",
            Artifact::Documents => "documents (a source)",
            Artifact::Corpus => "a corpus",
            Artifact::Tokens => "a tokenised dataset",
            Artifact::Model => "a model",
            Artifact::Scores => "evaluation scores",
            Artifact::Report => "a report",
        }
    }

    /// Whether a value of type `self` may be used where `expected` is asked for.
    pub fn fits(self, expected: Artifact) -> bool {
        self == expected || (self == Artifact::Corpus && expected == Artifact::Documents)
    }

    /// The artifact type a definition keyword declares (`None` for `let`).
    pub fn of_def(kind: DefKind) -> Option<Artifact> {
        Some(match kind {
            DefKind::Tokenizer => Artifact::Tokenizer,
            DefKind::Source => Artifact::Documents,
            DefKind::Corpus => Artifact::Corpus,
            DefKind::Dataset => Artifact::Tokens,
            DefKind::Model | DefKind::Pretrain | DefKind::Finetune => Artifact::Model,
            DefKind::Eval => Artifact::Scores,
            DefKind::Report => Artifact::Report,
            DefKind::Let => return None,
        })
    }
}

/// The type of a parameter value.
#[derive(Debug)]
pub enum Ty {
    /// A whole number; scale suffixes (`4k`, `2M`) allowed, no unit.
    Int {
        min: i64,
        max: i64,
    },
    /// A real number; suffixes allowed, no unit.
    Float {
        min: f64,
        max: f64,
    },
    /// A share between 0 and 1, written `3%` or `0.03`.
    Fraction,
    Bool,
    Str,
    /// A file path or glob, relative to the `.med` file that writes it.
    Path,
    /// One of a fixed set of symbols, written bare (`en`) or as a string.
    Enum(&'static [&'static str]),
    /// A whole count of something, written with or without its unit: `44.2B tokens`,
    /// `2 epochs`, `1024 seqs`; at least `min`.
    Count {
        unit: Unit,
        min: i64,
    },
    /// A warm-up: a share of all steps (`3%`) or a step count (`20 steps`).
    Warmup,
    /// A learning rate: a constant or `peak -> floor shape`.
    Schedule,
    List(&'static Ty),
    Tuple(&'static [Ty]),
    /// A free record `{ key: value }` whose values all have one type.
    Map(&'static Ty),
    /// A record with known fields.
    Struct(&'static [Param]),
    /// A value built by a constructor call, e.g. `command("bin/mt")` or `igakuqa(shots: 3)`.
    Variant(&'static [Constructor]),
    /// An input edge: a reference to a definition (or an inline stage call) of one of
    /// these artifact types.
    Input(&'static [Artifact]),
}

impl Ty {
    /// A token count, at least 0.
    pub const TOKENS: Ty = Ty::Count { unit: Unit::Tokens, min: 0 };

    /// How the type is named in "expected …" messages.
    pub fn describe(&self) -> String {
        match self {
            Ty::Int { .. } => "a whole number".into(),
            Ty::Float { .. } => "a number".into(),
            Ty::Fraction => "a share (`3%` or `0.03`)".into(),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Str => "a string".into(),
            Ty::Path => "a file path (a string)".into(),
            Ty::Enum(options) => {
                format!("one of {}", options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "))
            }
            Ty::Count { unit, .. } => {
                let example = match unit {
                    Unit::Tokens => "44.2B tokens",
                    Unit::Docs => "200 docs",
                    Unit::Steps => "20 steps",
                    Unit::Epochs => "2 epochs",
                    Unit::Seqs => "1024 seqs",
                };
                format!("a count of {} (`{example}`)", unit.text())
            }
            Ty::Warmup => "a warm-up (`3%` of the steps or `20 steps`)".into(),
            Ty::Schedule => "a learning rate (`1.5e-4` or `1.5e-4 -> 1.5e-5 cosine`)".into(),
            Ty::List(t) => format!("a list of {}", t.describe_plural()),
            Ty::Tuple(ts) => format!("a tuple of {}", ts.len()),
            Ty::Map(t) => format!("a record of {}", t.describe_plural()),
            Ty::Struct(_) => "a record `{ key: value }`".into(),
            Ty::Variant(cs) => {
                let names: Vec<String> = cs.iter().take(6).map(|c| format!("`{}(…)`", c.name)).collect();
                format!("one of {}{}", names.join(", "), if cs.len() > 6 { ", …" } else { "" })
            }
            Ty::Input(arts) => arts.iter().map(|a| a.describe()).collect::<Vec<_>>().join(" or "),
        }
    }

    fn describe_plural(&self) -> String {
        match self {
            Ty::Input(_) | Ty::Variant(_) => self.describe(),
            Ty::Str => "strings".into(),
            Ty::Int { .. } => "whole numbers".into(),
            Ty::Float { .. } => "numbers".into(),
            other => other.describe(),
        }
    }
}

/// A default value, written as data so schemas stay `const`.
#[derive(Debug)]
pub enum Default {
    /// The parameter must be given.
    Required,
    /// The parameter may be left out; it is then absent (null) in the lowered node.
    Optional,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    /// An enum symbol.
    Sym(&'static str),
    Floats(&'static [f64]),
    Strs(&'static [&'static str]),
    /// An empty list.
    Empty,
    /// A learning-rate schedule: `peak -> floor shape`.
    Schedule {
        peak: f64,
        floor: f64,
        shape: &'static str,
    },
    /// A warm-up of a share of all steps (`3%`).
    WarmupFraction(f64),
    /// A warm-up of a step count (`20 steps`).
    WarmupSteps(i64),
    /// The constructor of a `Variant` parameter called with every default (`exp`).
    Variant(&'static str),
}

impl Default {
    /// The default as a `.med` file would write it (`None` when there is none to write):
    /// what `exp stages` shows, and what the tests write out to check that writing a
    /// default changes nothing.
    pub fn written(&self, ty: &Ty) -> Option<String> {
        let floats = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(", ");
        Some(match self {
            Default::Required | Default::Optional => return None,
            Default::Int(i) => i.to_string(),
            Default::Float(f) => f.to_string(),
            Default::Bool(b) => b.to_string(),
            Default::Str(s) => format!("{s:?}"),
            Default::Sym(s) => (*s).to_string(),
            Default::Floats(v) if matches!(ty, Ty::Tuple(_)) => format!("({})", floats(v)),
            Default::Floats(v) => format!("[{}]", floats(v)),
            Default::Strs(v) => format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")),
            Default::Empty if matches!(ty, Ty::Map(_) | Ty::Struct(_)) => "{}".to_string(),
            Default::Empty => "[]".to_string(),
            Default::Schedule { peak, floor, shape } => format!("{peak} -> {floor} {shape}"),
            Default::WarmupFraction(f) => format!("{}%", f * 100.0),
            Default::WarmupSteps(n) => format!("{n} steps"),
            Default::Variant(name) => (*name).to_string(),
        })
    }
}

/// One parameter of a stage kind or constructor.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Default,
    pub doc: &'static str,
}

impl Param {
    pub const fn required(name: &'static str, ty: Ty, doc: &'static str) -> Param {
        Param { name, ty, default: Default::Required, doc }
    }
    pub const fn optional(name: &'static str, ty: Ty, doc: &'static str) -> Param {
        Param { name, ty, default: Default::Optional, doc }
    }
    pub const fn with(name: &'static str, ty: Ty, default: Default, doc: &'static str) -> Param {
        Param { name, ty, default, doc }
    }
}

/// A value constructor: `command("bin/mt")`, `igakuqa(shots: 3)`.
#[derive(Debug)]
pub struct Constructor {
    pub name: &'static str,
    pub params: &'static [Param],
    pub doc: &'static str,
}

/// Which definition keyword may hold a stage's result beyond the one its artifact type
/// names: `pretrain` holds only CPT stages, `finetune` only SFT stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Plain,
    Pretrain,
    Finetune,
}

/// A rule between a node's parameters that its values break, found when checking
/// (`global_batch` not a multiple of `micro_batch`): the checker reports it at the
/// parameter it names.
#[derive(Clone, Debug, PartialEq)]
pub struct Broken {
    /// The parameter to point at (written or defaulted).
    pub param: &'static str,
    pub message: String,
}

/// Files a node reads inside a folder it is given: `pattern` (a glob) under the folder
/// `base`, the value of the `Path` parameter `param`. A kind that reads only some files
/// of a folder declares them, so that its identity covers exactly what it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub param: &'static str,
    /// The folder, as the parameter gives it (relative to the experiment).
    pub base: String,
    /// A file or glob relative to `base`.
    pub pattern: String,
    /// Whether matching nothing is an error (a missing benchmark file) or not (an
    /// optional index file).
    pub required: bool,
}

/// A node's lowered parameters.
pub type Params = BTreeMap<String, Value>;

/// What a kind's rules may look at beyond the node's own parameters: the nodes upstream
/// of it (kind and parameters, input by input), and the experiment's folder, where the
/// files `Path` parameters name are. A training node's layout is judged against its base
/// model's dimensions this way.
#[derive(Clone, Copy)]
pub struct Upstream<'a> {
    pub nodes: &'a [crate::graph::Node],
    pub inputs: &'a [crate::graph::Input],
    pub root: &'a std::path::Path,
}

impl<'a> Upstream<'a> {
    /// The node bound to `role`, with what is upstream of it.
    pub fn input(&self, role: &str) -> Option<(&'a crate::graph::Node, Upstream<'a>)> {
        let key = &self.inputs.iter().find(|i| i.role == role)?.node;
        let node = self.nodes.iter().find(|n| &n.key == key)?;
        Some((node, Upstream { nodes: self.nodes, inputs: &node.inputs, root: self.root }))
    }
}

/// A kind's typed parameters as the checker and the tests see them: functions over the
/// lowered parameters, made by the stages crate from the kind's parameters struct.
#[derive(Clone, Copy)]
pub struct Typed {
    /// The rules between parameters that these values break (run on every node when
    /// checking); a value that does not fit the struct is reported here too.
    pub rules: fn(&Params, &Upstream) -> Vec<Broken>,
    /// The parameters read into the struct and written back: equal to the input when the
    /// struct and the schema agree on every parameter (tested for every kind).
    pub round_trip: fn(&Params) -> Result<Params, String>,
    /// The files the node reads, when its kind declares them; `None`: every file its
    /// `Path` parameters name (a folder: every file under it).
    pub reads: fn(&Params) -> Option<Vec<Read>>,
}

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Typed")
    }
}

/// The declaration of one stage kind.
#[derive(Debug)]
pub struct KindSchema {
    pub name: &'static str,
    /// Bumped whenever the stage's code changes what it produces; part of every identity.
    pub version: u32,
    pub output: Artifact,
    pub role: Role,
    /// Parameters in positional order: `f(a, b)` binds the first two.
    pub params: &'static [Param],
    pub doc: &'static str,
    /// The kind's parameters struct, seen through functions.
    pub typed: Typed,
}

impl KindSchema {
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Whether a definition with keyword `def` may hold this stage's output.
    pub fn allowed_under(&self, def: DefKind) -> bool {
        let Some(art) = Artifact::of_def(def) else { return false };
        let role_ok = match def {
            DefKind::Pretrain => self.role == Role::Pretrain,
            DefKind::Finetune => self.role == Role::Finetune,
            _ => true,
        };
        role_ok && self.output.fits(art) && !(def == DefKind::Source && self.output == Artifact::Corpus)
    }
}

/// The set of stage kinds the checker knows. `exp-stages` provides the real one.
#[derive(Clone, Copy, Debug)]
pub struct Catalog {
    pub kinds: &'static [&'static KindSchema],
    /// The kind a mixture expression (`a + { b }`) lowers to.
    pub mixture_kind: &'static str,
}

impl Catalog {
    pub fn kind(&self, name: &str) -> Option<&'static KindSchema> {
        self.kinds.iter().copied().find(|k| k.name == name)
    }

    pub fn mixture(&self) -> &'static KindSchema {
        self.kind(self.mixture_kind).expect("the catalogue declares its mixture kind")
    }
}
