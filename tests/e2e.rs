//! End-to-end tests of the `exp` binary: each module runs the real program on `.med`
//! files and checks its exit status and output. Fixtures live in `tests/fixtures/`,
//! snapshots of rendered diagnostics in `tests/snapshots/` (review with
//! `cargo insta review`, or `INSTA_UPDATE=always cargo test` then `git diff`).

mod util;

mod check;
mod diagnostics;
mod docs;
mod eval;
mod fmt;
mod report;
mod run;
mod show;
mod slurm;
mod study;
mod tour;
mod train;
