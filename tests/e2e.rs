//! End-to-end tests of the `exp` binary: each module runs the real program on `.med`
//! files and checks its exit status and output. Fixtures live in `tests/fixtures/`,
//! snapshots of rendered diagnostics in `tests/snapshots/` (review with
//! `cargo insta review`, or `INSTA_UPDATE=always cargo test` then `git diff`).

mod util;

// libtest starts tests in the order of their names, one per core: the longest (the
// toy branch trained locally and as Slurm jobs) is named to start first, so the others run
// beside it instead of after it.
mod branch;
mod check;
mod diagnostics;
mod docs;
mod escape;
mod eval;
mod faults;
mod fmt;
mod megatron;
mod report;
mod reproducible;
mod run;
mod show;
mod slurm;
mod study;
mod tour;
