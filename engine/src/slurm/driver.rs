//! The driver: `exp run --executor slurm` on a login node. It submits one job per node to
//! compute, as soon as every input is published or being computed by a job Slurm still
//! runs or holds (`--dependency=afterok:` on those jobs only), up to `max_jobs` at once;
//! then polls all of them with one `squeue` per interval. A node succeeded when its
//! artifact is published in the store, whatever Slurm says; a job that ended without
//! publishing failed in the state Slurm gives (FAILED, TIMEOUT, OUT_OF_MEMORY,
//! CANCELLED, NODE_FAIL), and the jobs of its dependents are cancelled.
//!
//! Claims (`claim.rs`) make two drivers on one store submit each node once: a node
//! claimed by a live job is waited for, not submitted again; so is a node whose job an
//! earlier driver (killed with `kill -9`) left running. Ctrl-C cancels this run's jobs.

use super::claim::{self, Holder, Taken};
use super::client::{Job, Slurm, State};
use super::script::{self, Files};
use super::settings::Settings;
use super::Counts;
use crate::events::{Event, Events, Finished};
use crate::index::JobRecord;
use crate::plan::{Decision, Step};
use crate::resolve::Resolved;
use crate::run::{index_published, skip_descendants, Options, Summary};
use crate::store::Store;
use exp_stages::Resources;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Status queries that may fail in a row (a controller restarting, a network blip) before
/// the driver gives up; its jobs go on, and the next run waits for them.
const FAILED_QUERIES: u32 = 12;

/// Polls a completed job may take to show its artifact (an NFS client's attribute cache
/// can hide a rename for a few seconds) before it counts as having published nothing.
const PUBLISH_GRACE_POLLS: u32 = 3;

/// Where one node is.
#[derive(Clone, Debug)]
enum Track {
    /// Not yet submitted: its inputs are not all published or in Slurm's hands, or it
    /// waits for a slot (`max_jobs`).
    Waiting,
    /// Claimed by job `job` of another driver (or an earlier run): whether Slurm still
    /// runs it is asked at the next poll. `bytes`: the claim as read.
    Found { job: u64, run: i64, bytes: Vec<u8> },
    /// A job Slurm holds for it: submitted by this run (`mine`) or found and waited for;
    /// `run` is the run that submitted it (its files are under `logs/<run>/`).
    Live { job: u64, run: i64, mine: bool, state: State, started: Instant, grace: u32 },
    /// Published.
    Done,
    /// Failed, skipped or cancelled: nothing more to do.
    Over,
}

#[allow(clippy::too_many_arguments)]
pub async fn drive(
    resolved: Arc<Resolved>,
    steps: &[Step],
    mut wanted: Vec<bool>,
    store: Arc<Store>,
    options: &Options,
    settings: &Settings,
    slurm: &Slurm,
    run_id: i64,
    events: Arc<dyn Events>,
) -> anyhow::Result<Summary> {
    let n = resolved.nodes.len();
    let root = std::fs::canonicalize(&store.root)?;
    let exp = match &settings.exp {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let me = Holder::me(run_id);
    let mut track: Vec<Track> = (0..n).map(|i| if wanted[i] { Track::Waiting } else { Track::Done }).collect();
    let mut summary = Summary::default();
    let mut counts = Counts::default();
    let mut stopping = false;
    events.event(Event::RunStarted { run: run_id, nodes: wanted.iter().filter(|w| **w).count() });
    // Listening from the start: a Ctrl-C during the first submissions cancels them too.
    let mut ctrl_c = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let poll = Duration::from_secs_f64(settings.poll_seconds);
    let mut failed_queries = 0;

    loop {
        // Submit what can be submitted, inputs before their users.
        let mut in_flight = track.iter().filter(|t| matches!(t, Track::Live { .. } | Track::Found { .. })).count();
        for i in 0..n {
            if stopping || !matches!(track[i], Track::Waiting) || in_flight >= settings.max_jobs {
                continue;
            }
            let node = &resolved.nodes[i];
            if let Decision::Blocked(problem) = &steps[i].decision {
                events.event(Event::Blocked { node: node.name.clone(), problem: problem.clone() });
                summary.failed.push((node.name.clone(), problem.clone()));
                track[i] = Track::Over;
                summary.skipped += skip(&resolved, i, &mut wanted, &mut track, &*events);
                stopping |= !options.keep_going;
                continue;
            }
            // Every input published, or in a job Slurm holds (named in `afterok`).
            let ready = node.inputs.iter().all(|inp| matches!(track[inp.node], Track::Done | Track::Live { .. }));
            if !ready {
                continue;
            }
            let after: BTreeSet<u64> = node
                .inputs
                .iter()
                .filter_map(|inp| match track[inp.node] {
                    Track::Live { job, .. } => Some(job),
                    _ => None,
                })
                .collect();
            match claim::take(&root, &node.identity, &me)? {
                Taken::Held { holder, bytes } => match holder.job {
                    Some(job) => {
                        track[i] = Track::Found { job, run: holder.run, bytes };
                        in_flight += 1;
                    }
                    None if holder.abandoned() => {
                        claim::break_stale(&root, &node.identity, &bytes);
                    }
                    None => {} // being submitted by another driver: look again next poll
                },
                Taken::Mine => {
                    let after: Vec<u64> = after.into_iter().collect();
                    let submitted = script::write(&resolved, i, run_id, &root, &exp, settings)
                        .and_then(|files| Ok((slurm.submit(&files.script, &after)?, files)));
                    match submitted {
                        Ok((job, files)) => {
                            counts.submitted += 1;
                            claim::set_job(&root, &node.identity, &Holder { job: Some(job), ..me.clone() })?;
                            events.event(started(&resolved, i));
                            events.event(Event::Submitted { node: node.name.clone(), job, after });
                            record(&store, run_id, &resolved, i, job, true, &files, &State::Pending, None);
                            track[i] = Track::Live {
                                job,
                                run: run_id,
                                mine: true,
                                state: State::Pending,
                                started: Instant::now(),
                                grace: 0,
                            };
                            in_flight += 1;
                        }
                        Err(e) => {
                            claim::release(&root, &node.identity, &me);
                            let message = format!("{e:#}");
                            fail(&store, run_id, &resolved, i, &message, &mut summary, &*events)?;
                            track[i] = Track::Over;
                            summary.skipped += skip(&resolved, i, &mut wanted, &mut track, &*events);
                            stopping |= !options.keep_going;
                        }
                    }
                }
            }
        }

        let watching: Vec<u64> = track
            .iter()
            .filter_map(|t| match t {
                Track::Live { job, .. } | Track::Found { job, .. } => Some(*job),
                _ => None,
            })
            .collect();
        let waiting = track.iter().any(|t| matches!(t, Track::Waiting));
        if watching.is_empty() && (stopping || !waiting) {
            break;
        }
        tokio::select! {
            _ = ctrl_c.recv() => {
                events.event(Event::Interrupted);
                summary.interrupted = true;
                let mine: Vec<(usize, u64)> = track.iter().enumerate().filter_map(|(i, t)| match t {
                    Track::Live { job, mine: true, .. } => Some((i, *job)),
                    _ => None,
                }).collect();
                slurm.cancel(&mine.iter().map(|(_, j)| *j).collect::<Vec<_>>())?;
                for (i, job) in mine {
                    let node = &resolved.nodes[i];
                    claim::release(&root, &node.identity, &me);
                    store.index().put_run_node(run_id, &node.name, &node.identity, "cancelled", 0.0, None)?;
                    update(&store, job, &State::Cancelled, "", "cancelled by exp (Ctrl-C)");
                    events.event(finished(&resolved, i, 0.0, Finished::Cancelled));
                    track[i] = Track::Over;
                }
                break;
            }
            _ = tokio::time::sleep(poll) => {}
        }

        // One query for every job this run watches; the forgotten ones from accounting.
        let mut states = match slurm.states(&watching) {
            Ok(states) => {
                failed_queries = 0;
                states
            }
            Err(e) if failed_queries + 1 < FAILED_QUERIES => {
                failed_queries += 1;
                events.event(Event::Warning { message: format!("{e:#}; asking again in {:.0}s", poll.as_secs_f64()) });
                continue;
            }
            Err(e) => {
                return Err(e.context(format!(
                    "Slurm did not answer {FAILED_QUERIES} status queries in a row; the jobs go on, and the next \
                     `exp run --executor slurm` waits for them"
                )))
            }
        };
        let forgotten: Vec<u64> = watching.iter().copied().filter(|j| !states.contains_key(j)).collect();
        if !forgotten.is_empty() {
            states.extend(slurm.final_states(&forgotten));
        }
        let mut cancel = Vec::new();
        for i in 0..n {
            let node = &resolved.nodes[i];
            match track[i].clone() {
                Track::Found { job, run, bytes } => {
                    let known = states.get(&job);
                    if known.is_some_and(|s| s.state.is_live()) {
                        let s = known.expect("known").state.clone();
                        counts.reattached += 1;
                        events.event(started(&resolved, i));
                        events.event(Event::Reattached { node: node.name.clone(), job, state: s.as_str().to_string() });
                        let files = Files::of(&root, run, &node.name);
                        record(&store, run_id, &resolved, i, job, false, &files, &s, known);
                        track[i] = Track::Live { job, run, mine: false, state: s, started: Instant::now(), grace: 0 };
                    } else if store.contains(&node.identity) {
                        reused(&store, run_id, &resolved, i, &mut summary, &*events)?;
                        track[i] = Track::Done;
                    } else {
                        // Its job ended without publishing, or Slurm forgot it: the claim is
                        // stale; this run submits the node itself.
                        claim::break_stale(&root, &node.identity, &bytes);
                        track[i] = Track::Waiting;
                    }
                }
                Track::Live { job, run, mine, state, started, grace } => {
                    let known = states.get(&job);
                    let now = known.map_or(State::Other("gone".into()), |s| s.state.clone());
                    if let Some(k) = known {
                        update(&store, job, &k.state, &k.elapsed, &k.reason);
                        if k.state != state {
                            let shown = k.state.as_str().to_string();
                            events.event(Event::JobState { node: node.name.clone(), job, state: shown });
                            if k.state == State::Running {
                                events.event(Event::NodeRunning { node: node.name.clone() });
                            }
                        }
                    }
                    if now.is_live() {
                        track[i] = Track::Live { job, run, mine, state: now, started, grace };
                        continue;
                    }
                    let seconds = started.elapsed().as_secs_f64();
                    if store.contains(&node.identity) {
                        let manifest = store.manifest(&node.identity)?;
                        let bytes = {
                            let index = store.index();
                            let bytes = index_published(&index, node, &manifest, manifest.seconds)?;
                            index.put_run_node(
                                run_id,
                                &node.name,
                                &node.identity,
                                if mine { "ran" } else { "reused" },
                                seconds,
                                None,
                            )?;
                            bytes
                        };
                        if mine {
                            claim::release(&root, &node.identity, &me);
                            summary.ran += 1;
                            summary.bytes += bytes;
                            events.event(finished(&resolved, i, seconds, Finished::Ran { bytes }));
                        } else {
                            summary.reused += 1;
                            events.event(finished(&resolved, i, seconds, Finished::Reused));
                        }
                        track[i] = Track::Done;
                        continue;
                    }
                    if now == State::Completed && grace < PUBLISH_GRACE_POLLS {
                        track[i] = Track::Live { job, run, mine, state: now, started, grace: grace + 1 };
                        continue;
                    }
                    // Ended without publishing.
                    if mine {
                        claim::release(&root, &node.identity, &me);
                    }
                    let output = Files::of(&root, run, &node.name).output;
                    let message = ended(job, known, &output);
                    if known.is_none() {
                        update(&store, job, &now, "", "no longer known to Slurm");
                    }
                    if now == State::Cancelled
                        && !stopping
                        && known.is_some_and(|k| k.reason != "DependencyNeverSatisfied")
                    {
                        store.index().put_run_node(
                            run_id,
                            &node.name,
                            &node.identity,
                            "cancelled",
                            seconds,
                            Some(&message),
                        )?;
                        summary.failed.push((node.name.clone(), message.clone()));
                        events.event(finished(&resolved, i, seconds, Finished::Failed { message }));
                    } else {
                        fail(&store, run_id, &resolved, i, &message, &mut summary, &*events)?;
                    }
                    track[i] = Track::Over;
                    // Its dependents' jobs can never start: cancel them (Slurm would, for
                    // the ones it still knows this job of; a forgotten one it would run).
                    for j in resolved.descendants(i) {
                        if let Track::Live { job, mine: true, .. } = track[j] {
                            cancel.push(job);
                            claim::release(&root, &resolved.nodes[j].identity, &me);
                            update(&store, job, &State::Cancelled, "", &format!("an input ({}) failed", node.name));
                            track[j] = Track::Waiting; // skipped just below
                        }
                    }
                    summary.skipped += skip(&resolved, i, &mut wanted, &mut track, &*events);
                    stopping |= !options.keep_going;
                }
                _ => {}
            }
        }
        if !cancel.is_empty() {
            slurm.cancel(&cancel)?;
        }
    }
    events.event(Event::RunFinished);
    counts.sbatch = slurm.calls.sbatch.load(Ordering::Relaxed);
    counts.squeue = slurm.calls.squeue.load(Ordering::Relaxed);
    counts.sacct = slurm.calls.sacct.load(Ordering::Relaxed);
    counts.scancel = slurm.calls.scancel.load(Ordering::Relaxed);
    summary.slurm = Some(counts);
    Ok(summary)
}

/// Node `i` is in Slurm's hands, asking what its stage asks.
fn started(resolved: &Resolved, i: usize) -> Event {
    let node = &resolved.nodes[i];
    let r = crate::stages::implementation(&node.kind).map_or_else(Resources::default, |s| s.resources(&node.params));
    Event::NodeStarted { node: node.name.clone(), kind: node.kind.clone(), cpus: r.cpus, gpus: r.gpus }
}

fn finished(resolved: &Resolved, i: usize, seconds: f64, outcome: Finished) -> Event {
    let node = &resolved.nodes[i];
    Event::NodeFinished { node: node.name.clone(), kind: node.kind.clone(), at: node.at.clone(), seconds, outcome }
}

/// What to say of a job that ended without publishing: its state, why, and its log's end.
fn ended(job: u64, known: Option<&Job>, output: &std::path::Path) -> String {
    let how = match known {
        Some(k) => {
            let reason =
                if k.reason.is_empty() || k.reason == "None" { String::new() } else { format!(" ({})", k.reason) };
            let elapsed = if k.elapsed.is_empty() { String::new() } else { format!(" after {}", k.elapsed) };
            format!("job {job} ended {}{reason}{elapsed} without publishing its artifact", k.state.as_str())
        }
        None => format!("job {job} is no longer known to Slurm and published nothing"),
    };
    let tail = std::fs::read_to_string(output)
        .map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            let last = &lines[lines.len().saturating_sub(8)..];
            last.iter().map(|l| format!("\n    | {l}")).collect::<String>()
        })
        .unwrap_or_default();
    format!("{how}; log {}{tail}", output.display())
}

/// Marks node `i` failed (the event after the record, as the local executor does).
fn fail(
    store: &Store,
    run_id: i64,
    resolved: &Resolved,
    i: usize,
    message: &str,
    summary: &mut Summary,
    events: &dyn Events,
) -> anyhow::Result<()> {
    let node = &resolved.nodes[i];
    store.index().put_run_node(run_id, &node.name, &node.identity, "failed", 0.0, Some(message))?;
    summary.failed.push((node.name.clone(), message.to_string()));
    events.event(finished(resolved, i, 0.0, Finished::Failed { message: message.to_string() }));
    Ok(())
}

fn reused(
    store: &Store,
    run_id: i64,
    resolved: &Resolved,
    i: usize,
    summary: &mut Summary,
    events: &dyn Events,
) -> anyhow::Result<()> {
    let node = &resolved.nodes[i];
    store.index().put_run_node(run_id, &node.name, &node.identity, "reused", 0.0, None)?;
    summary.reused += 1;
    events.event(Event::NodeStarted { node: node.name.clone(), kind: node.kind.clone(), cpus: 0, gpus: 0 });
    events.event(finished(resolved, i, 0.0, Finished::Reused));
    Ok(())
}

/// Skips the descendants of node `i` (they never run) and forgets their tracks.
fn skip(resolved: &Resolved, i: usize, wanted: &mut [bool], track: &mut [Track], events: &dyn Events) -> usize {
    let mut ready = BTreeSet::new();
    let skipped = skip_descendants(resolved, i, wanted, &mut ready, events);
    for j in resolved.descendants(i) {
        if matches!(track[j], Track::Waiting | Track::Found { .. }) {
            track[j] = Track::Over;
        }
    }
    skipped
}

#[allow(clippy::too_many_arguments)]
fn record(
    store: &Store,
    run_id: i64,
    resolved: &Resolved,
    i: usize,
    job: u64,
    submitted: bool,
    files: &Files,
    state: &State,
    known: Option<&Job>,
) {
    let node = &resolved.nodes[i];
    let path = |p: &PathBuf| p.display().to_string();
    let record = JobRecord {
        job,
        run: run_id,
        name: node.name.clone(),
        identity: node.identity.clone(),
        submitted,
        state: state.as_str().to_string(),
        elapsed: known.map_or_else(String::new, |k| k.elapsed.clone()),
        reason: known.map_or_else(String::new, |k| k.reason.clone()),
        script: path(&files.script),
        output: path(&files.output),
    };
    // The index is the driver's record for `exp status`; a failure to write it must not
    // lose track of a job Slurm runs.
    store.index().put_job(&record).ok();
}

fn update(store: &Store, job: u64, state: &State, elapsed: &str, reason: &str) {
    store.index().update_job(job, state.as_str(), elapsed, reason).ok();
}
