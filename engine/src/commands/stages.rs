//! `exp stages`: the stage kinds and their parameter schemas, for writing `.med` files.

use anyhow::bail;
use exp_dsl::schema::{Default, KindSchema};
use std::process::ExitCode;

pub fn run(kind: Option<&str>, markdown: bool) -> anyhow::Result<ExitCode> {
    let catalog = exp_stages::catalog();
    if markdown {
        print!("{}", exp_engine::catalogue::kinds());
        return Ok(ExitCode::SUCCESS);
    }
    match kind {
        None => {
            for k in catalog.kinds {
                println!("{:<16} → {:<22} {}", k.name, k.output.describe(), k.doc);
            }
        }
        Some(name) => {
            let Some(k) = catalog.kind(name) else {
                let hint = exp_dsl::suggest::closest(name, catalog.kinds.iter().map(|k| k.name));
                bail!("no stage kind `{name}`{}", hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default());
            };
            print_kind(k);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_kind(k: &KindSchema) {
    println!("{} (version {}): {}", k.name, k.version, k.doc);
    println!("makes {}\n", k.output.describe());
    for p in k.params {
        let default = match (&p.default, p.default.written(&p.ty)) {
            (_, Some(written)) => format!("default {written}"),
            (Default::Required, None) => "required".to_string(),
            (_, None) => "optional".to_string(),
        };
        println!("  {:<18} {}  ({default})\n  {:<18} {}", p.name, p.ty.describe(), "", p.doc);
    }
}
