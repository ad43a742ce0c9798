//! Shared by the commands that work on an experiment's graph: check the file (printing its
//! diagnostics), open the store and give every node its identity.

use crate::output;
use anyhow::Context as _;
use exp_dsl::Options;
use exp_engine::resolve::{resolve, Resolved};
use exp_engine::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The store to use: `--store`/`EXP_STORE`, else `.exp/` next to the experiment.
pub fn store_path(file: &Path, store: Option<PathBuf>) -> PathBuf {
    store.unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).join(".exp"))
}

pub fn open_store(path: &Path) -> anyhow::Result<Arc<Store>> {
    let store = Store::open(path)?;
    if let Some(repaired) = &store.repaired {
        eprintln!("warning: {repaired}");
    }
    Ok(Arc::new(store))
}

/// A store that must exist already (for commands about a store, not an experiment):
/// `--store`/`EXP_STORE`, else `.exp` here.
pub fn existing_store(store: Option<PathBuf>) -> anyhow::Result<Arc<Store>> {
    let path = store.unwrap_or_else(|| PathBuf::from(".exp"));
    // The index may be lost (it is rebuilt on opening); the objects make a store.
    if !path.join("objects").is_dir() {
        anyhow::bail!("no store at `{}` (give --store DIR or set EXP_STORE)", path.display());
    }
    open_store(&path)
}

/// Checks and resolves an experiment. `Ok(None)` when it has errors (already printed).
pub fn load(file: &Path, profile: Option<String>, store: &Store, color: bool) -> anyhow::Result<Option<Arc<Resolved>>> {
    if !file.is_file() {
        anyhow::bail!("no experiment file `{}`", file.display());
    }
    let catalog = exp_stages::catalog();
    let checked = exp_dsl::check_file(file, &catalog, &Options { profile, all_profiles: false });
    let Some(graph) = &checked.graph else {
        output::print_diagnostics(&checked, color);
        eprintln!("{}: failed ({})", file.display(), output::summary(&checked));
        return Ok(None);
    };
    if !checked.diagnostics.is_empty() {
        output::print_diagnostics(&checked, color);
    }
    let index = store.index();
    let resolved = resolve(graph, file, &catalog, Some(&index));
    Ok(Some(Arc::new(resolved)))
}

/// Opens the experiment's store and checks and resolves the experiment. `Ok(None)` when
/// the file has errors (already printed).
pub fn open(
    file: &Path,
    profile: Option<String>,
    store: Option<PathBuf>,
    color: bool,
) -> anyhow::Result<Option<(Arc<Store>, Arc<Resolved>)>> {
    let store = open_store(&store_path(file, store))?;
    Ok(load(file, profile, &store, color)?.map(|resolved| (store, resolved)))
}

pub fn short(identity: &str) -> &str {
    &identity[..12.min(identity.len())]
}

pub fn canonical(file: &Path) -> anyhow::Result<String> {
    Ok(std::fs::canonicalize(file)
        .with_context(|| format!("no experiment file `{}`", file.display()))?
        .display()
        .to_string())
}
