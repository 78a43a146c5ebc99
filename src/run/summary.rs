//! What a run did, per collection: for the log while it runs and a table at the end.

use std::fmt::Write as _;

use crate::export::{CollectionOutput, PublishReport};
use crate::http::HostReport;
use oneroster::CollectionId;

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
    /// Requests sent for this collection, retries and token requests included.
    pub requests: u64,
    pub retries: u64,
    pub seconds: f64,
    /// Walks it took: more than one when a walk did not add up and was repeated.
    pub walks: u32,
    pub written: CollectionOutput,
}

impl CollectionSummary {
    /// One log line (a JSON event with fields under --log-format json).
    pub fn log(&self) {
        tracing::info!(
            collection = self.collection.name(),
            records = self.records,
            duplicates = self.duplicates,
            pages = self.pages,
            requests = self.requests,
            retries = self.retries,
            seconds = (self.seconds * 1000.0).round() / 1000.0,
            "{} done",
            self.collection.name()
        );
    }
}

/// The whole run.
#[derive(Debug)]
pub struct RunSummary {
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

impl RunSummary {
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
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<18}{:>10}{:>8}{:>10}{:>9}{:>9}",
            "collection", "records", "pages", "requests", "retries", "seconds"
        );
        for c in &self.collections {
            let _ = writeln!(
                out,
                "{:<18}{:>10}{:>8}{:>10}{:>9}{:>9.2}",
                c.collection.name(),
                c.records,
                c.pages,
                c.requests,
                c.retries,
                c.seconds
            );
        }
        let records: u64 = self.collections.iter().map(|c| c.records).sum();
        let _ = writeln!(
            out,
            "{:<18}{:>10}{:>8}{:>10}{:>9}{:>9.2}",
            "total",
            records,
            self.collections.iter().map(|c| c.pages).sum::<u64>(),
            self.requests,
            self.retries,
            self.seconds
        );
        for host in &self.hosts {
            let _ = writeln!(out, "{host}");
        }
        out
    }
}
