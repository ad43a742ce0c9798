//! `exp gc` and `exp verify`: keeping the store lean and honest.

use super::experiment::{existing_store, load, short};
use exp_engine::run::human_bytes;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(
    store: Option<PathBuf>,
    keep: &[PathBuf],
    profile: Option<String>,
    dry_run: bool,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let store = existing_store(store)?;
    let kept: HashSet<String> = if keep.is_empty() {
        store.index().recorded_identities()?.into_iter().collect()
    } else {
        let mut set = HashSet::new();
        for file in keep {
            let Some(resolved) = load(file, profile.clone(), &store, color)? else { return Ok(ExitCode::FAILURE) };
            set.extend(resolved.nodes.iter().map(|n| n.identity.clone()));
        }
        set
    };
    let (mut removed, mut freed) = (0usize, 0u64);
    for identity in store.stored()? {
        if kept.contains(&identity) {
            continue;
        }
        let bytes = if dry_run {
            exp_engine::store::tree_size(&store.object_dir(&identity))
        } else {
            store.remove(&identity)?
        };
        println!("{} {} ({})", if dry_run { "would remove" } else { "removed" }, short(&identity), human_bytes(bytes));
        removed += 1;
        freed += bytes;
    }
    println!(
        "{} {removed} artifact(s), {} freed",
        if dry_run { "would remove" } else { "removed" },
        human_bytes(freed)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn verify(store: Option<PathBuf>, repair: bool) -> anyhow::Result<ExitCode> {
    let store = existing_store(store)?;
    if repair {
        // Checks every artifact against its manifest as it goes, quarantining the bad.
        let rebuilt = store.rebuild_index()?;
        for (identity, why, moved) in &rebuilt.quarantined {
            println!("✗ {}: {why}; moved to {}", short(identity), moved.display());
        }
        println!(
            "repaired the index from {} intact artifact(s) ({} definitions); {} quarantined",
            rebuilt.nodes,
            rebuilt.definitions,
            rebuilt.quarantined.len()
        );
        return Ok(if rebuilt.quarantined.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let mut bad = 0;
    let stored = store.stored()?;
    for identity in &stored {
        let problems = match store.verify(identity) {
            Ok(p) => p,
            Err(e) => vec![format!("{e:#}")],
        };
        if !problems.is_empty() {
            bad += 1;
            let moved = store.quarantine(identity)?;
            println!("✗ {}: {}; moved to {}", short(identity), problems.join(", "), moved.display());
        }
    }
    println!("verified {} artifact(s): {} intact, {bad} quarantined", stored.len(), stored.len() - bad);
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
