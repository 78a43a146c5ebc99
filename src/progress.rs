//! Progress bars on stderr for a person watching; nothing at all otherwise.
//!
//! Bars appear only when stderr is a terminal and the user did not ask for quiet or machine logs.
//! Log lines written while bars are up go through [`Progress::suspend`] so they don't tear them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The run's bars. Cheap to clone; all clones draw into the same set.
#[derive(Clone, Debug)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars when `wanted` and stderr is a terminal; otherwise a no-op.
    pub fn new(wanted: bool) -> Progress {
        let shown = wanted && std::io::stderr().is_terminal();
        Progress {
            multi: shown.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn hidden() -> Progress {
        Progress { multi: None }
    }

    /// A bar (or spinner until the total is known) for one collection.
    pub fn collection(&self, name: &str) -> CollectionBar {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(spinner_style());
            bar.set_prefix(format!("{name:>16}"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        CollectionBar { bar }
    }

    /// Runs `f` with the bars lifted, for writing a log line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }
}

/// One collection's bar; does nothing when progress is hidden.
#[derive(Debug)]
pub struct CollectionBar {
    bar: Option<ProgressBar>,
}

impl CollectionBar {
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_style(bar_style());
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn finish(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_style(done_style());
            bar.finish_with_message(message.to_string());
        }
    }

    pub fn abandon(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.abandon_with_message(message.to_string());
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {spinner} {human_pos} records {msg}")
        .expect("valid template")
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {human_pos}/{human_len} {per_sec} {msg}")
        .expect("valid template")
        .progress_chars("=> ")
}

fn done_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {msg}").expect("valid template")
}

/// `1234567` as `1,234,567`, for people reading counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
