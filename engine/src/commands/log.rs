//! `exp log`: a node's log.

use super::experiment::open;
use super::show::find;
use exp_engine::store::LOG;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(
    file: &Path,
    name: &str,
    profile: Option<String>,
    store: Option<PathBuf>,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let Some((store, resolved)) = open(file, profile, store, color)? else { return Ok(ExitCode::FAILURE) };
    let node = &resolved.nodes[find(&resolved, name)?];
    let stored = store.object_dir(&node.identity).join(LOG);
    let path = if stored.is_file() { Some(stored) } else { last_failed_log(&store.root, name) };
    match path {
        Some(p) => {
            print!("{}", std::fs::read_to_string(&p)?);
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!("`{name}` has no log yet: it has not run with this store"),
    }
}

/// The newest `logs/<run>/<name>.log`.
fn last_failed_log(root: &Path, name: &str) -> Option<PathBuf> {
    let mut runs: Vec<i64> =
        std::fs::read_dir(root.join("logs")).ok()?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    runs.sort_unstable();
    runs.into_iter()
        .rev()
        .map(|r| root.join("logs").join(r.to_string()).join(format!("{name}.log")))
        .find(|p| p.is_file())
}
