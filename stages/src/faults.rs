//! Fault points, for the fault suite (`bench/faults.sh`, `tests/faults.rs`). With
//! `EXP_FAULT=<point>[:<n>]` in its environment, a process dies the `n`-th time (the
//! first by default) it reaches the named point, as `kill -9` would leave it: no
//! destructor runs and no buffer is flushed (`abort`). The points sit inside the windows
//! where a death is most dangerous (see `docs/reliability.md`):
//!
//! - `publish`: an artifact's files and manifest are written and synced, not yet renamed
//!   into `objects/`;
//! - `published`: renamed into place, not yet recorded in the index;
//! - `index`: inside the transaction that records a node, before its commit;
//! - `checkpoint`: a trainer checkpoint written under its temporary name, not renamed;
//! - `journal`: a line appended to an evaluation's journal, its batch not finished.
//!
//! Without the variable a point costs one relaxed atomic load after the first call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The point to die at and after how many passes, from `EXP_FAULT`.
fn armed() -> Option<&'static (String, u64)> {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("EXP_FAULT").ok()?;
            let (name, n) = spec.split_once(':').unwrap_or((&spec, "1"));
            Some((name.to_string(), n.parse().unwrap_or(1).max(1)))
        })
        .as_ref()
}

/// Dies here if `EXP_FAULT` names this point and this is its `n`-th pass.
pub fn point(name: &str) {
    static PASSES: AtomicU64 = AtomicU64::new(0);
    if let Some((armed, n)) = armed() {
        if armed == name && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("EXP_FAULT: dying at `{name}` (pass {n})");
            std::process::abort();
        }
    }
}
