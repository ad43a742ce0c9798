//! `exp check`: every diagnostic of every file, in every profile.

use crate::args::DiagnosticFormat;
use crate::output;
use exp_dsl::Options;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(
    files: &[PathBuf],
    profile: Option<String>,
    format: DiagnosticFormat,
    deny_warnings: bool,
    settings: Option<&std::path::Path>,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let catalog = exp_stages::catalog();
    let all_profiles = profile.is_none();
    let options = Options { profile, all_profiles };
    let mut failed = false;
    for file in files {
        let checked = exp_dsl::check_file(file, &catalog, &options);
        match format {
            DiagnosticFormat::Text => {
                output::print_diagnostics(&checked, color);
                let status = if checked.has_errors() {
                    "failed"
                } else if deny_warnings && !checked.diagnostics.is_empty() {
                    "failed, warnings denied"
                } else {
                    "ok"
                };
                eprintln!("{}: {status} ({})", file.display(), output::summary(&checked));
            }
            DiagnosticFormat::Json => output::print_json(&checked),
        }
        failed |= checked.has_errors() || (deny_warnings && !checked.diagnostics.is_empty());
    }
    if let (Some(settings), Some(first)) = (settings, files.first()) {
        match super::executor::settings(Some(settings), first, color)? {
            Some(_) => eprintln!("{}: ok", settings.display()),
            None => failed = true,
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
