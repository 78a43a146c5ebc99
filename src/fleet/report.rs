//! What a run of many tenants did: a line per tenant while it runs, a table at the end, the
//! `--summary-json` document, and the one exit code.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::error::{Error, exit};
use crate::http::HostReport;
use crate::run::{self, RunSummary};

/// How one tenant's export ended.
#[derive(Debug)]
pub struct TenantOutcome {
    /// The profile's name.
    pub name: String,
    pub result: Result<RunSummary, Error>,
    pub seconds: f64,
}

impl TenantOutcome {
    pub fn exit_code(&self) -> u8 {
        match &self.result {
            Ok(_) => exit::SUCCESS,
            Err(e) => e.exit_code(),
        }
    }

    /// The log line that says the tenant is done.
    pub fn log(&self) {
        match &self.result {
            Ok(summary) => tracing::info!(
                tenant = %self.name,
                exit_code = 0,
                output = summary.output.path.as_ref().map(|p| p.display().to_string()),
                records = summary.records(),
                requests = summary.requests,
                seconds = round(self.seconds),
                "tenant {} done",
                self.name
            ),
            Err(err) => tracing::error!(
                tenant = %self.name,
                exit_code = err.exit_code(),
                seconds = round(self.seconds),
                "tenant {} failed: {err}",
                self.name
            ),
        }
    }

    /// The tenant's part of `--summary-json`: the document a run of its own would write.
    fn to_json(&self) -> Value {
        match &self.result {
            Ok(summary) => summary.to_json(),
            Err(err) => run::failure_json(
                run::Mode::Full,
                err.exit_code(),
                &err.to_string(),
                self.seconds,
            ),
        }
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The exit code of a run of many tenants: 0 when every tenant published; otherwise the highest
/// ranked code among the failed ones, in the order 130 (interrupted), 5 (output), 4 (server or
/// data), 1 (unexpected), 3 (authentication), 2 (usage). A code a retry can cure outranks one it
/// cannot, so a scheduler that retries 4 and 5 retries the night.
pub fn fleet_exit_code(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        exit::SUCCESS => 0,
        exit::USAGE => 1,
        exit::AUTH => 2,
        exit::UNEXPECTED => 3,
        exit::SERVER => 4,
        exit::OUTPUT => 5,
        exit::INTERRUPTED => 6,
        _ => 3,
    };
    codes
        .into_iter()
        .max_by_key(|&c| rank(c))
        .unwrap_or(exit::SUCCESS)
}

/// Every tenant's outcome, and what the shared pacers found.
#[derive(Debug)]
pub struct FleetSummary {
    /// In name order.
    pub tenants: Vec<TenantOutcome>,
    pub hosts: Vec<HostReport>,
    pub seconds: f64,
}

impl FleetSummary {
    pub fn exit_code(&self) -> u8 {
        fleet_exit_code(self.tenants.iter().map(TenantOutcome::exit_code))
    }

    pub fn failed(&self) -> usize {
        self.tenants.iter().filter(|t| t.result.is_err()).count()
    }

    fn total(&self, of: impl Fn(&RunSummary) -> u64) -> u64 {
        self.tenants
            .iter()
            .filter_map(|t| t.result.as_ref().ok())
            .map(of)
            .sum()
    }

    /// The end-of-run table: one line per tenant, then the hosts.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .tenants
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "{:<width$}  {:>4}  {:>10}  {:>9}  {:>8}  output / error",
            "tenant", "exit", "records", "requests", "seconds"
        );
        for t in &self.tenants {
            match &t.result {
                Ok(s) => {
                    let path = s
                        .output
                        .path
                        .as_ref()
                        .map_or("standard output".to_string(), |p| p.display().to_string());
                    let _ = writeln!(
                        out,
                        "{:<width$}  {:>4}  {:>10}  {:>9}  {:>8.2}  {path}",
                        t.name,
                        0,
                        s.records(),
                        s.requests,
                        t.seconds
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "{:<width$}  {:>4}  {:>10}  {:>9}  {:>8.2}  {e}",
                        t.name,
                        e.exit_code(),
                        "-",
                        "-",
                        t.seconds
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "{} tenants, {} failed, {:.2} s",
            self.tenants.len(),
            self.failed(),
            self.seconds
        );
        for host in &self.hosts {
            let _ = writeln!(out, "{host}");
        }
        out
    }

    /// The `--summary-json` document: `{"tenants": {"<profile>": {…}}, "exit_code": N, …}`, each
    /// tenant's entry the document a run of its own would write.
    pub fn to_json(&self) -> Value {
        let tenants: serde_json::Map<String, Value> = self
            .tenants
            .iter()
            .map(|t| (t.name.clone(), t.to_json()))
            .collect();
        let hosts: Vec<Value> = self.hosts.iter().map(run::host_json).collect();
        json!({
            "exit_code": self.exit_code(),
            "tenants_total": self.tenants.len(),
            "tenants_failed": self.failed(),
            "records": self.total(RunSummary::records),
            "requests": self.total(|s| s.requests),
            "seconds": round(self.seconds),
            "tenants": tenants,
            "hosts": hosts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curable_failure_outranks_one_a_retry_cannot_cure() {
        assert_eq!(fleet_exit_code([]), 0);
        assert_eq!(fleet_exit_code([0, 0]), 0);
        assert_eq!(fleet_exit_code([0, 3, 2]), 3);
        assert_eq!(fleet_exit_code([3, 4, 0]), 4);
        assert_eq!(fleet_exit_code([4, 5, 3]), 5);
        assert_eq!(fleet_exit_code([5, 130]), 130);
        assert_eq!(fleet_exit_code([1, 3]), 1);
    }
}
