//! What a run did, per collection and per host: a log line while it runs, a table at the end, and
//! the `--summary-json` document scripts read (its field names are relied on).

use std::fmt::Write as _;

use oneroster::CollectionId;
use serde_json::{Value, json};

use crate::export::{Changes, CollectionOutput, PublishReport};
use crate::http::HostReport;
use crate::pager::WalkStats;
use crate::progress::thousands;
use crate::state::CollectionState;

/// One collection's figures.
#[derive(Debug)]
pub struct CollectionSummary {
    pub collection: CollectionId,
    /// Distinct records downloaded.
    pub records: u64,
    /// Records dropped because another page already carried their sourcedId.
    pub duplicates: u64,
    /// The server's `X-Total-Count`, when it sent one.
    pub total: Option<u64>,
    pub pages: u64,
    /// Requests sent for this collection's pages, retries included.
    pub requests: u64,
    pub retries: u64,
    pub seconds: f64,
    /// Walks it took: more than one when a walk did not add up and was repeated.
    pub walks: u32,
    /// Whether only its changes were pulled (and applied to the previous output).
    pub changes_only: bool,
    pub written: CollectionOutput,
    /// Its part of the incremental state, in an incremental run.
    pub state: Option<CollectionState>,
}

impl CollectionSummary {
    /// The figures of one walk that wrote `written`: one walk, all of it pulled, no state.
    pub fn of_walk(collection: CollectionId, stats: &WalkStats, written: CollectionOutput) -> Self {
        CollectionSummary {
            collection,
            records: stats.records,
            duplicates: stats.duplicates,
            total: stats.total,
            pages: stats.pages,
            requests: stats.requests,
            retries: stats.retries,
            seconds: stats.elapsed.as_secs_f64(),
            walks: 1,
            changes_only: false,
            written,
            state: None,
        }
    }

    /// One log line; on a terminal only with `-v`, since the closing table says the same.
    pub fn log(&self) {
        if crate::logging::on_terminal() {
            tracing::debug!(
                collection = self.collection.name(),
                records = self.records,
                "{} done",
                self.collection.name()
            );
            return;
        }
        tracing::info!(
            collection = self.collection.name(),
            records = self.records,
            duplicates = self.duplicates,
            pages = self.pages,
            requests = self.requests,
            retries = self.retries,
            seconds = (self.seconds * 1000.0).round() / 1000.0,
            pull = self.pull(),
            "{} done{}",
            self.collection.name(),
            if self.changes_only {
                " (changes applied)"
            } else {
                ""
            }
        );
    }

    /// `full` or `changes`.
    pub fn pull(&self) -> &'static str {
        if self.changes_only { "changes" } else { "full" }
    }
}

/// Whether a run pulled everything or only what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Incremental,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// The whole run.
#[derive(Debug)]
pub struct RunSummary {
    pub mode: Mode,
    pub collections: Vec<CollectionSummary>,
    pub output: PublishReport,
    /// What the pacer found about each host.
    pub hosts: Vec<HostReport>,
    pub tokens_fetched: u64,
    pub requests: u64,
    pub retries: u64,
    /// Replies that asked the run to slow down (429, 503, a quota 403).
    pub rate_limited: u64,
    pub seconds: f64,
}

fn seconds(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

impl RunSummary {
    /// What changed in `c` against the output replaced, when one was.
    pub fn changes(&self, c: CollectionId) -> Option<Changes> {
        self.output
            .replaced
            .then(|| self.output.changes.get(&c).copied().unwrap_or_default())
    }

    pub fn records(&self) -> u64 {
        self.collections.iter().map(|c| c.records).sum()
    }

    /// One log line per host with what its pacer found, so a user can pin it in a profile.
    pub fn log_hosts(&self) {
        for host in &self.hosts {
            tracing::info!(
                host = %host.origin,
                rate = host.rate.map(|r| (r * 10.0).round() / 10.0),
                announced = host.announced,
                concurrency = host.concurrency,
                peak_in_flight = host.peak_in_flight,
                requests = host.requests,
                asked_to_slow_down = host.pushbacks,
                "{host}"
            );
        }
    }

    /// The end-of-run table for a person reading stderr.
    pub fn table(&self) -> String {
        let n = |v: u64| thousands(v);
        let mut out = String::new();
        let replaced = self.output.replaced;
        let _ = write!(
            out,
            "{:<18}{:>12}{:>9}{:>10}{:>9}{:>9}",
            "collection", "records", "pages", "requests", "retries", "seconds"
        );
        let incremental = self.mode == Mode::Incremental;
        if incremental {
            let _ = write!(out, "{:>9}", "pull");
        }
        if replaced {
            let _ = write!(out, "{:>11}{:>11}{:>11}", "added", "removed", "changed");
        }
        out.push('\n');
        for c in &self.collections {
            let _ = write!(
                out,
                "{:<18}{:>12}{:>9}{:>10}{:>9}{:>9.2}",
                c.collection.name(),
                n(c.records),
                n(c.pages),
                n(c.requests),
                n(c.retries),
                c.seconds
            );
            if incremental {
                let _ = write!(out, "{:>9}", c.pull());
            }
            if let Some(d) = self.changes(c.collection) {
                let _ = write!(
                    out,
                    "{:>11}{:>11}{:>11}",
                    n(d.added),
                    n(d.removed),
                    n(d.changed)
                );
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{:<18}{:>12}{:>9}{:>10}{:>9}{:>9.2}",
            "total",
            n(self.records()),
            n(self.collections.iter().map(|c| c.pages).sum::<u64>()),
            n(self.requests),
            n(self.retries),
            self.seconds
        );
        for host in &self.hosts {
            let _ = writeln!(out, "{host}");
        }
        out
    }

    /// The `--summary-json` document of a run that published.
    pub fn to_json(&self) -> Value {
        let collections: serde_json::Map<String, Value> = self
            .collections
            .iter()
            .map(|c| {
                let changes = self.changes(c.collection);
                let mut entry = json!({
                    "records": c.records,
                    "requests": c.requests,
                    "retries": c.retries,
                    "pages": c.pages,
                    "walks": c.walks,
                    "pull": c.pull(),
                    "rows": c.written.rows,
                    "seconds": seconds(c.seconds),
                    "added": changes.map(|d| d.added),
                    "removed": changes.map(|d| d.removed),
                    "changed": changes.map(|d| d.changed),
                });
                if let Some(total) = c.total {
                    entry["total"] = total.into();
                }
                (c.collection.name().to_string(), entry)
            })
            .collect();
        let hosts: Vec<Value> = self.hosts.iter().map(host_json).collect();
        json!({
            "mode": self.mode.name(),
            "exit_code": 0,
            "output": self.output.path.as_ref().map(|p| p.display().to_string()),
            "records": self.records(),
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "tokens_fetched": self.tokens_fetched,
            "seconds": seconds(self.seconds),
            "collections": collections,
            "hosts": hosts,
        })
    }
}

/// A host's line of `--summary-json`: what its pacer found.
pub fn host_json(h: &HostReport) -> Value {
    json!({
        "origin": h.origin,
        "rate": h.rate.map(|r| (r * 10.0).round() / 10.0),
        "announced": h.announced,
        "concurrency": h.concurrency,
        "peak_in_flight": h.peak_in_flight,
        "requests": h.requests,
        "asked_to_slow_down": h.pushbacks,
    })
}

/// The `--summary-json` document of a run that failed: its exit code and error.
pub fn failure_json(mode: Mode, exit_code: u8, error: &str, seconds_taken: f64) -> Value {
    json!({
        "mode": mode.name(),
        "exit_code": exit_code,
        "error": error,
        "seconds": seconds(seconds_taken),
        "collections": {},
    })
}
