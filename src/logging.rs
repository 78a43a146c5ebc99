//! Logs on stderr: text for a person, JSON lines for a machine; they never tear progress bars.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::named::named_enum;
use crate::progress::Progress;

named_enum! {
    /// `--log-format`.
    #[derive(Default)]
    pub enum LogFormat {
        /// Text on a terminal, JSON lines otherwise.
        #[default]
        Auto = "auto",
        Text = "text",
        Json = "json",
    }
}

/// Whether logs came out as JSON (the summary and the final error follow suit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    Text,
    Json,
}

/// Resolves `auto`: text on a terminal, JSON lines otherwise.
pub fn style(format: LogFormat) -> LogStyle {
    match format {
        LogFormat::Text => LogStyle::Text,
        LogFormat::Json => LogStyle::Json,
        LogFormat::Auto if io::stderr().is_terminal() => LogStyle::Text,
        LogFormat::Auto => LogStyle::Json,
    }
}

/// Whether logs are text on a terminal (set by [`init`]): a person is reading, and a line the
/// closing table repeats is left out.
static ON_TERMINAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the logs are text on a terminal.
pub fn on_terminal() -> bool {
    ON_TERMINAL.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the global subscriber. `filter` is `ROSTER_EXPORT_LOG`'s value, when set.
pub fn init(style: LogStyle, verbose: u8, quiet: bool, filter: Option<&str>, progress: Progress) {
    let default = match (quiet, verbose) {
        (true, _) => "roster_export=error",
        (false, 0) => "roster_export=info",
        (false, 1) => "roster_export=debug",
        (false, _) => "roster_export=trace",
    };
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    ON_TERMINAL.store(
        style == LogStyle::Text && crate::progress::stderr_is_terminal(),
        std::sync::atomic::Ordering::Relaxed,
    );
    let writer = SuspendingStderr { progress };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let result = match style {
        LogStyle::Json => builder
            .json()
            .flatten_event(true)
            // A run of many tenants logs inside a `tenant` span: `"span":{"tenant":"…"}`.
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogStyle::Text => {
            let ansi = io::stderr().is_terminal();
            // journald stamps lines itself.
            if std::env::var_os("JOURNAL_STREAM").is_some() {
                builder.with_ansi(ansi).without_time().try_init()
            } else {
                builder.with_ansi(ansi).try_init()
            }
        }
    };
    // A second init (tests in one process) keeps the first subscriber.
    let _ = result;
}

/// Writes each log line with the progress bars lifted.
#[derive(Clone)]
struct SuspendingStderr {
    progress: Progress,
}

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = SuspendingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.progress
            .suspend(|| io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
