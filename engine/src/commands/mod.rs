//! One module per subcommand, each exposing `run(…) -> Result<ExitCode>`.

mod check;
mod diff;
mod experiment;
mod fmt;
mod gc;
mod graph;
mod log;
mod plan;
mod run;
mod show;
mod stages;
mod status;

use crate::args::{Args, Command};
use std::process::ExitCode;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let color = crate::output::use_color(args.color);
    match args.command {
        Command::Check { files, profile, format, deny_warnings } => {
            check::run(&files, profile, format, deny_warnings, color)
        }
        Command::Fmt { files, check } => fmt::run(&files, check, color),
        Command::Show { file, node, lowered, profile, format } => match (lowered, node) {
            (true, _) => show::run(&file, profile, format, color),
            (false, Some(node)) => show::node(&file, &node, profile, args.store, color),
            (false, None) => show::nodes(&file, profile, args.store, color),
        },
        Command::Log { file, node, profile } => log::run(&file, &node, profile, args.store, color),
        Command::Graph { file, format, profile } => graph::run(&file, format, profile, args.store, color),
        Command::Gc { keep, dry_run } => gc::run(args.store, &keep, dry_run, color),
        Command::Verify => gc::verify(args.store),
        Command::Stages { kind } => stages::run(kind.as_deref()),
        Command::Plan { file, profile, against } => plan::run(&file, profile, against.as_deref(), args.store, color),
        Command::Run { file, profile, jobs, only, keep_going, dry_run } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let options = exp_engine::run::Options { jobs, keep_going, only };
            run::run(&file, profile, args.store, &options, dry_run, color)
        }
        Command::Diff { a, b, profile, json } => diff::run(&a, &b, profile, args.store, json, color),
        Command::Status { last } => status::run(args.store, last),
        Command::Hash { files } => {
            for f in files {
                println!("{}  {}", exp_engine::fingerprint::hash_file(&f)?, f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
