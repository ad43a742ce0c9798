//! Typed parameters. Every stage kind has a parameters struct beside its schema; a stage
//! reads its node's canonical parameters into it once ([`crate::Context::params`]) and never
//! names a parameter by string. Lowering fills every default from the schema, so the
//! structs carry no defaults of their own: a default lives in one place, the schema, and so
//! in `exp show --lowered` and in the node's identity.
//!
//! The same struct is read when checking: each schema's `rules` is [`rules::<P>`], which
//! reads the lowered parameters into `P` and asks `P` for the rules between them, so
//! `global_batch: 3, micro_batch: 2` is an error of `exp check`, not of a run.

use exp_dsl::schema::{Broken, Read, Typed, Upstream};
use exp_dsl::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// A kind's parameters struct.
pub trait Params: DeserializeOwned {
    /// The rules between parameters that these values break.
    fn broken(&self) -> Vec<Broken> {
        Vec::new()
    }

    /// The rules that also look upstream (a trainer's layout against its base model).
    fn broken_upstream(&self, _upstream: &Upstream) -> Vec<Broken> {
        Vec::new()
    }

    /// The files a node of the kind reads, for kinds that read only some files of a
    /// folder they are given; `None`: every file its `Path` parameters name.
    fn reads(&self) -> Option<Vec<Read>> {
        None
    }
}

/// Reads canonical parameters into `P`.
pub fn parse<P: DeserializeOwned>(params: &BTreeMap<String, Value>) -> Result<P, String> {
    let json = serde_json::to_value(params).map_err(|e| e.to_string())?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// The schema's `rules` for a kind whose parameters are `P`. A value that does not fit
/// `P` is a bug of the schema (lowering made it), reported rather than hidden.
pub fn rules<P: Params>(params: &BTreeMap<String, Value>, upstream: &Upstream) -> Vec<Broken> {
    match parse::<P>(params) {
        Ok(p) => {
            let mut broken = p.broken();
            broken.extend(p.broken_upstream(upstream));
            broken
        }
        Err(e) => vec![Broken { param: "", message: format!("the lowered parameters do not fit the kind: {e}") }],
    }
}

/// A broken rule naming `param` when `ok` is false.
pub fn rule(ok: bool, param: &'static str, message: impl FnOnce() -> String) -> Option<Broken> {
    (!ok).then(|| Broken { param, message: message() })
}

/// The parameters read into `P` and written back.
pub fn round_trip<P: Params + Serialize>(params: &BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, String> {
    let p: P = parse(params)?;
    let json = serde_json::to_value(&p).map_err(|e| e.to_string())?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// The files a node of a kind whose parameters are `P` reads.
pub fn reads<P: Params>(params: &BTreeMap<String, Value>) -> Option<Vec<Read>> {
    parse::<P>(params).ok()?.reads()
}

/// What a kind's schema says of its parameters struct `P`.
pub const fn typed<P: Params + Serialize>() -> Typed {
    Typed { rules: rules::<P>, round_trip: round_trip::<P>, reads: reads::<P> }
}
