//! Live progress. On a terminal: one `indicatif` line per running node under a bar for the
//! whole run. Elsewhere (a pipe, CI, a log file): plain lines, one per finished node.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    multi: MultiProgress,
    total: ProgressBar,
    live: bool,
}

impl Progress {
    /// Progress for a run of `count` nodes; live when stderr is a terminal.
    pub fn new(count: u64) -> Progress {
        let live = std::io::stderr().is_terminal();
        let target = if live { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(count));
        total.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} nodes  {elapsed}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        total.set_prefix("run");
        Progress { multi, total, live }
    }

    /// A line for a node while it runs.
    pub fn node(&self, name: &str) -> ProgressBar {
        let bar = self.multi.insert_before(&self.total, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}").expect("the template is valid"));
        bar.set_prefix(name.to_string());
        if self.live {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    /// Reports a finished node: clears its line and prints the outcome.
    pub fn finished(&self, bar: &ProgressBar, line: &str) {
        bar.finish_and_clear();
        self.total.inc(1);
        self.println(line);
    }

    pub fn println(&self, line: &str) {
        if self.live {
            self.multi.println(line).ok();
        } else {
            eprintln!("{line}");
        }
    }

    pub fn done(&self) {
        self.total.finish_and_clear();
    }
}
