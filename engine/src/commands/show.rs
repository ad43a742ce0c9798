//! `exp show --lowered`: the lowered graph as YAML or JSON.

use crate::args::GraphFormat;
use crate::output;
use anyhow::Context;
use exp_dsl::Options;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, profile: Option<String>, format: GraphFormat, color: bool) -> anyhow::Result<ExitCode> {
    let catalog = exp_stages::catalog();
    let checked = exp_dsl::check_file(file, &catalog, &Options { profile, all_profiles: false });
    output::print_diagnostics(&checked, color);
    let Some(graph) = &checked.graph else {
        eprintln!("{}: failed ({})", file.display(), output::summary(&checked));
        return Ok(ExitCode::FAILURE);
    };
    let text = match format {
        GraphFormat::Yaml => serde_yaml::to_string(graph).context("writing YAML")?,
        GraphFormat::Json => serde_json::to_string_pretty(graph).context("writing JSON")? + "\n",
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
