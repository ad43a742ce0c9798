//! The engine of `exp`: from a checked experiment to artifacts in a content-addressed
//! store. [`resolve`] gives every node of a lowered graph its identity (its kind, version,
//! parameters, inputs' identities and the bytes of the files it reads); [`store`] keeps
//! artifacts by identity with a SQLite [`index`]; [`plan`] says what would run and why,
//! [`placement`] where;
//! [`run`] executes a plan with a tokio scheduler, reporting [`events`] that [`progress`]
//! renders on the terminal, locally or, through [`slurm`], as one Slurm job per node.

pub mod catalogue;
pub mod check;
pub mod clock;
pub mod events;
pub mod fingerprint;
pub mod identity;
pub mod index;
pub mod limits;
pub mod lock;
pub mod megatron;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod resolve;
pub mod run;
pub mod slurm;
pub mod stages;
pub mod store;

/// The version of `exp` recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
