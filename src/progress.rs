//! Progress on stderr for a person watching; nothing at all otherwise.
//!
//! One line for the whole run, however many collections are walked at once: collections done of
//! those planned, records so far, the rate, and an ETA once every collection still running has
//! sent `X-Total-Count`. It appears only when stderr is a terminal and the user did not ask for
//! quiet or machine logs. Log lines written while it is up go through [`Progress::suspend`] so
//! they don't tear it, and [`Progress::clear`] takes it away before the closing table or error.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// Set to draw progress even when stderr is not a terminal (for the tests of the rendering).
const FORCE_TERMINAL: &str = "ROSTER_EXPORT_TEST_FORCE_TERMINAL";

/// The run's progress line. Cheap to clone; all clones draw into the same line.
#[derive(Clone, Debug)]
pub struct Progress {
    view: Option<Arc<View>>,
}

#[derive(Debug)]
struct View {
    multi: MultiProgress,
    bar: ProgressBar,
    state: Mutex<State>,
}

/// Per collection: its total when known, the records of its current walk, whether it is settled.
#[derive(Debug, Default)]
struct Walk {
    total: Option<u64>,
    records: u64,
    settled: bool,
}

#[derive(Debug)]
struct State {
    started: Instant,
    walks: BTreeMap<String, Walk>,
}

/// Whether stderr is a terminal (or the tests say to draw as if it were).
pub fn stderr_is_terminal() -> bool {
    std::env::var_os(FORCE_TERMINAL).is_some() || std::io::stderr().is_terminal()
}

impl Progress {
    /// The progress line when `wanted` and stderr is a terminal; otherwise a no-op.
    pub fn new(wanted: bool) -> Progress {
        let forced = std::env::var_os(FORCE_TERMINAL).is_some();
        if !wanted || !stderr_is_terminal() {
            return Progress::hidden();
        }
        let target = if forced {
            ProgressDrawTarget::term_like(Box::new(RawStderr))
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(200));
        let view = View {
            multi,
            bar,
            state: Mutex::new(State {
                started: Instant::now(),
                walks: BTreeMap::new(),
            }),
        };
        Progress {
            view: Some(Arc::new(view)),
        }
    }

    pub fn hidden() -> Progress {
        Progress { view: None }
    }

    /// The handle one walk of a collection reports through (a walk repeated starts afresh).
    pub fn collection(&self, name: &str) -> CollectionBar {
        if let Some(view) = &self.view {
            view.update(|s| {
                s.walks.insert(name.to_string(), Walk::default());
            });
        }
        CollectionBar {
            name: name.to_string(),
            view: self.view.clone(),
        }
    }

    /// Runs `f` with the progress line lifted, for writing a log line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.view {
            Some(view) => view.multi.suspend(f),
            None => f(),
        }
    }

    /// Takes the line away: before the closing table or error, and on Ctrl-C.
    pub fn clear(&self) {
        if let Some(view) = &self.view {
            view.bar.finish_and_clear();
        }
    }
}

impl View {
    fn update(&self, change: impl FnOnce(&mut State)) {
        let message = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            change(&mut state);
            state.line(state.started.elapsed())
        };
        self.bar.set_message(message);
    }
}

impl State {
    /// `2/6 collections · 12,345 records · 3,210/s · ETA 4s`.
    fn line(&self, elapsed: Duration) -> String {
        let planned = self.walks.len();
        let done = self.walks.values().filter(|w| w.settled).count();
        let records: u64 = self.walks.values().map(|w| w.records).sum();
        let mut line = format!(
            "{done}/{planned} collections · {} records",
            thousands(records)
        );
        let secs = elapsed.as_secs_f64();
        if secs >= 1.0 && records > 0 {
            let rate = records as f64 / secs;
            line.push_str(&format!(" · {}/s", rate_text(rate)));
            let running = self.walks.values().filter(|w| !w.settled);
            let left: Option<u64> = running
                .map(|w| w.total.map(|t| t.saturating_sub(w.records)))
                .sum();
            if let Some(left) = left.filter(|l| *l > 0) {
                line.push_str(&format!(" · ETA {}", duration_text(left as f64 / rate)));
            }
        }
        line
    }
}

/// One walk of a collection; does nothing when progress is hidden.
#[derive(Debug)]
pub struct CollectionBar {
    name: String,
    view: Option<Arc<View>>,
}

impl CollectionBar {
    fn update(&self, change: impl FnOnce(&mut Walk)) {
        if let Some(view) = &self.view {
            view.update(|s| change(s.walks.entry(self.name.clone()).or_default()));
        }
    }

    /// The collection's `X-Total-Count`.
    pub fn set_total(&self, total: u64) {
        self.update(|w| w.total = Some(total));
    }

    pub fn inc(&self, n: u64) {
        self.update(|w| w.records += n);
    }

    /// The walk is complete.
    pub fn finish(&self, _message: &str) {
        self.update(|w| w.settled = true);
    }

    /// The walk ended without the collection (not offered, failed, or to be walked again, which
    /// starts a new walk): its records no longer count.
    pub fn abandon(&self, _message: &str) {
        self.update(|w| {
            w.records = 0;
            w.settled = true;
        });
    }
}

/// Draws to stderr with ANSI codes whether or not it is a terminal (see [`FORCE_TERMINAL`]).
#[derive(Debug)]
struct RawStderr;

impl RawStderr {
    fn put(&self, text: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(text.as_bytes())
    }
}

impl TermLike for RawStderr {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            self.put(&format!("\x1b[{n}A"))
        }
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            self.put(&format!("\x1b[{n}B"))
        }
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            self.put(&format!("\x1b[{n}C"))
        }
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            self.put(&format!("\x1b[{n}D"))
        }
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
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

/// A rate for people: `3,210`, or one decimal below 10.
pub fn rate_text(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        thousands(rate.round() as u64)
    }
}

/// `4s`, `2m 05s`, `1h 02m`.
fn duration_text(secs: f64) -> String {
    let s = secs.ceil() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(total: Option<u64>, records: u64, settled: bool) -> Walk {
        Walk {
            total,
            records,
            settled,
        }
    }

    #[test]
    fn one_line_for_the_run_with_an_eta_once_totals_are_known() {
        let mut state = State {
            started: Instant::now(),
            walks: BTreeMap::new(),
        };
        state.walks.insert("orgs".into(), walk(Some(40), 40, true));
        state
            .walks
            .insert("users".into(), walk(Some(20_000), 10_000, false));
        state
            .walks
            .insert("enrollments".into(), walk(None, 2_000, false));
        let secs = Duration::from_secs(4);
        assert_eq!(
            state.line(secs),
            "1/3 collections · 12,040 records · 3,010/s"
        );
        state
            .walks
            .insert("enrollments".into(), walk(Some(32_000), 2_000, false));
        // 40,000 records left at 3,010 a second.
        assert_eq!(
            state.line(secs),
            "1/3 collections · 12,040 records · 3,010/s · ETA 14s"
        );
        assert_eq!(
            state.line(Duration::ZERO),
            "1/3 collections · 12,040 records"
        );
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(3_619_900), "3,619,900");
        assert_eq!(rate_text(4.25), "4.2");
        assert_eq!(rate_text(1234.5678), "1,235");
        assert_eq!(duration_text(65.2), "1m 06s");
        assert_eq!(duration_text(3725.0), "1h 02m");
    }
}
