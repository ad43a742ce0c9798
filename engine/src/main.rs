//! The `exp` command line. `args.rs` declares the commands (their doc comments are the
//! `--help`); each `commands/<verb>.rs` runs one. Errors become exit codes here, in one
//! place: 0 success, 1 the input has errors, 2 usage or I/O failure.

mod args;
mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

/// The CPU trainer allocates and frees tensors of hundreds of megabytes every step; with
/// the system allocator each one is a fresh mapping faulted in page by page, and a training
/// step takes twice as long (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = args::Args::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
