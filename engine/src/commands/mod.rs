//! One module per subcommand, each exposing `run(…) -> Result<ExitCode>`.

mod check;
mod fmt;
mod show;
mod stages;

use crate::args::{Args, Command};
use std::process::ExitCode;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let color = crate::output::use_color(args.color);
    match args.command {
        Command::Check { files, profile, format, deny_warnings } => {
            check::run(&files, profile, format, deny_warnings, color)
        }
        Command::Fmt { files, check } => fmt::run(&files, check, color),
        Command::Show { file, lowered: _, profile, format } => show::run(&file, profile, format, color),
        Command::Stages { kind } => stages::run(kind.as_deref()),
    }
}
