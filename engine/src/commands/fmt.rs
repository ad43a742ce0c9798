//! `exp fmt`: rewrites files in the canonical layout, or with `--check` reports those
//! that are not.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf], check: bool, color: bool) -> anyhow::Result<ExitCode> {
    let mut unformatted = 0;
    let mut broken = 0;
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let formatted = match exp_dsl::format::format_source(&text) {
            Ok(f) => f,
            Err(d) => {
                // The formatter parses the text as file 0, the only file of this map.
                let mut sources = exp_dsl::SourceMap::default();
                sources.add(file.display().to_string(), file, text.clone());
                eprint!("{}", exp_dsl::diagnostic::render(&sources, &[d], color));
                broken += 1;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if check {
            unformatted += 1;
            println!("{} is not formatted", file.display());
            print_diff(&text, &formatted);
        } else {
            write_atomically(file, &formatted)?;
            println!("formatted {}", file.display());
        }
    }
    Ok(if unformatted + broken > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// A unified diff of what `exp fmt` would change.
fn print_diff(old: &str, new: &str) {
    let diff = similar::TextDiff::from_lines(old, new);
    print!("{}", diff.unified_diff().context_radius(1).header("current", "formatted"));
}

/// Writes through a temporary file and a rename, so an interrupted `fmt` never leaves a
/// half-written experiment.
fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("med.fmt-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
