//! The command line's rendering of a run's [`Event`]s. On a terminal: one `indicatif` line
//! per running node under a bar for the whole run. Elsewhere (a pipe, CI, a log file):
//! plain lines, one per finished node. The lines are the same either way ([`line`]).

use crate::events::{Event, Events, Finished};
use crate::run::human_bytes;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

pub struct Terminal {
    multi: MultiProgress,
    total: ProgressBar,
    live: bool,
    /// The line of each running node, by name.
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal::new()
    }
}

impl Terminal {
    /// Live when stderr is a terminal; the bar's length comes with [`Event::RunStarted`].
    pub fn new() -> Terminal {
        let live = std::io::stderr().is_terminal();
        let target = if live { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} nodes  {elapsed}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        total.set_prefix("run");
        Terminal { multi, total, live, bars: Mutex::new(HashMap::new()) }
    }

    /// A line for a node while it runs.
    fn node(&self, name: &str) -> ProgressBar {
        let bar = self.multi.insert_before(&self.total, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}").expect("the template is valid"));
        bar.set_prefix(name.to_string());
        if self.live {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    fn set_message(&self, name: &str, message: String) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(name) {
            bar.set_message(message);
        }
    }

    fn println(&self, line: &str) {
        if self.live {
            self.multi.println(line).ok();
        } else {
            eprintln!("{line}");
        }
    }
}

impl Events for Terminal {
    fn event(&self, event: Event) {
        match &event {
            Event::RunStarted { nodes, .. } => self.total.set_length(*nodes as u64),
            Event::NodeStarted { node, .. } => {
                let bar = self.node(node);
                bar.set_message("waiting for its lock");
                self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(node.clone(), bar);
            }
            Event::NodeRunning { node } => self.set_message(node, "running".into()),
            Event::JobState { node, job, state } | Event::Reattached { node, job, state } => {
                self.set_message(node, format!("job {job} {state}"))
            }
            Event::Submitted { node, job, .. } => self.set_message(node, format!("job {job} submitted")),
            Event::Progress { node, done, total, unit } => self.set_message(
                node,
                match total {
                    Some(t) => format!("{done}/{t} {unit}"),
                    None => format!("{done} {unit}"),
                },
            ),
            Event::NodeFinished { node, .. } => {
                if let Some(bar) = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(node) {
                    bar.finish_and_clear();
                }
                self.total.inc(1);
            }
            Event::RunFinished => self.total.finish_and_clear(),
            _ => {}
        }
        if let Some(line) = line(&event) {
            self.println(&line);
        }
    }
}

/// The line printed for an event, if any. Metrics and log lines are not printed: they are
/// stored with the node (`exp show`, `exp log`).
pub fn line(event: &Event) -> Option<String> {
    Some(match event {
        Event::NodeFinished { node, kind, at, seconds, outcome } => match outcome {
            Finished::Ran { bytes } => format!("✓ {node} ({kind}, {seconds:.1}s, {})", human_bytes(*bytes)),
            Finished::Reused => format!("= {node} (made meanwhile by another run)"),
            Finished::Failed { message } => format!("✗ {node} ({at}): {message}"),
            Finished::Cancelled => format!("… {node} cancelled"),
            Finished::Checked { same, verdict } => {
                format!("{} {node} ({kind}, {seconds:.1}s): {verdict}", if *same { "✓" } else { "✗" })
            }
        },
        Event::Blocked { node, problem } => format!("✗ {node}: cannot run: {problem}"),
        Event::Submitted { node, job, after } if after.is_empty() => format!("→ {node}: job {job} submitted"),
        Event::Submitted { node, job, after } => {
            let after: Vec<String> = after.iter().map(u64::to_string).collect();
            format!("→ {node}: job {job} submitted, after {}", after.join(", "))
        }
        Event::Reattached { node, job, state } => {
            format!("↺ {node}: job {job}, submitted earlier, is {state}: waiting for it")
        }
        Event::Interrupted => "interrupted: cancelling the running stages…".to_string(),
        Event::Warning { message } => format!("warning: {message}"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(outcome: Finished) -> Event {
        Event::NodeFinished {
            node: "ja".into(),
            kind: "jsonl".into(),
            at: "study.med:3:1".into(),
            seconds: 2.7,
            outcome,
        }
    }

    #[test]
    fn events_render_as_the_lines_exp_run_prints() {
        assert_eq!(line(&finished(Finished::Ran { bytes: 1536 })).as_deref(), Some("✓ ja (jsonl, 2.7s, 1.5 KiB)"));
        assert_eq!(line(&finished(Finished::Reused)).as_deref(), Some("= ja (made meanwhile by another run)"));
        assert_eq!(
            line(&finished(Finished::Failed { message: "data/ja.jsonl:2: not JSON".into() })).as_deref(),
            Some("✗ ja (study.med:3:1): data/ja.jsonl:2: not JSON")
        );
        assert_eq!(line(&finished(Finished::Cancelled)).as_deref(), Some("… ja cancelled"));
        let blocked = Event::Blocked { node: "a".into(), problem: "`nowhere/*.jsonl` matches no file".into() };
        assert_eq!(line(&blocked).as_deref(), Some("✗ a: cannot run: `nowhere/*.jsonl` matches no file"));
        assert_eq!(line(&Event::Interrupted).as_deref(), Some("interrupted: cancelling the running stages…"));
        assert_eq!(line(&Event::Log { node: "ja".into(), line: "read 2 documents".into() }), None);
        let submitted = |after: Vec<u64>| Event::Submitted { node: "both".into(), job: 12, after };
        assert_eq!(line(&submitted(vec![])).as_deref(), Some("→ both: job 12 submitted"));
        assert_eq!(line(&submitted(vec![10, 11])).as_deref(), Some("→ both: job 12 submitted, after 10, 11"));
        let found = Event::Reattached { node: "cpt".into(), job: 7, state: "RUNNING".into() };
        assert_eq!(line(&found).as_deref(), Some("↺ cpt: job 7, submitted earlier, is RUNNING: waiting for it"));
    }
}
