//! What the sandbox has seen: the counters its handlers bump as they answer, and the
//! [`SandboxStats`] read from them for tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::endpoints::Endpoint;
use oneroster::NESTED_READS;

/// What the sandbox has seen, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Requests under the API base path (not the token endpoint), whatever their answer.
    pub api_requests: u64,
    pub tokens_issued: u64,
    /// Token requests refused (bad credentials, grant or scope).
    pub token_refusals: u64,
    /// API requests answered 401 (missing, unknown or expired token).
    pub unauthorized: u64,
    /// API requests answered 403 (scope missing).
    pub forbidden: u64,
    /// API requests answered 429 by the rate limit.
    pub rate_limited: u64,
    /// API requests answered 404 (unknown endpoint or sourcedId).
    pub not_found: u64,
    /// API requests answered 400 (bad `limit` or `offset`).
    pub bad_requests: u64,
    /// Records served in collection pages and single-record reads.
    pub records_served: u64,
    /// Authorized requests per endpoint: `users`, `students`, … for pages, `users/{id}` for
    /// single records, the binding's template (`schools/{school_id}/classes`) for relationship
    /// reads. Endpoints never asked for are left out.
    pub per_path: BTreeMap<String, u64>,
    /// Faults injected so far, by kind (see [`Fault::name`](crate::Fault::name)).
    pub faults_injected: BTreeMap<String, u64>,
    /// Tokens issued per grant type (`client_credentials`, `refresh_token`, `password`).
    pub grants: BTreeMap<String, u64>,
    /// Refresh tokens retired and replaced by a new one.
    pub refresh_rotations: u64,
    /// How token requests authenticated the client: `basic`, `body` or `none`.
    pub client_auth: BTreeMap<String, u64>,
    /// API requests admitted on an OAuth 1.0a signature.
    pub oauth1_requests: u64,
}

/// The live counts behind [`SandboxStats`], bumped by the handlers as they answer.
#[derive(Debug)]
pub(crate) struct Counters {
    pub api_requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub token_refusals: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    pub rate_limited: AtomicU64,
    pub not_found: AtomicU64,
    pub bad_requests: AtomicU64,
    pub records_served: AtomicU64,
    pub grants: [AtomicU64; 3],
    pub refresh_rotations: AtomicU64,
    pub client_auth: [AtomicU64; 3],
    pub oauth1_requests: AtomicU64,
    /// Per endpoint: [pages, single records].
    pub per_endpoint: Vec<[AtomicU64; 2]>,
    /// Per relationship read, in `oneroster::NESTED_READS` order.
    pub per_nested: Vec<AtomicU64>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            api_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            token_refusals: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            forbidden: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            records_served: AtomicU64::new(0),
            grants: Default::default(),
            refresh_rotations: AtomicU64::new(0),
            client_auth: Default::default(),
            oauth1_requests: AtomicU64::new(0),
            per_endpoint: (0..Endpoint::count())
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
            per_nested: NESTED_READS.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SandboxStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut per_path = BTreeMap::new();
        for (index, [pages, singles]) in self.per_endpoint.iter().enumerate() {
            let path = Endpoint::at(index).path;
            if get(pages) > 0 {
                per_path.insert(path.to_string(), get(pages));
            }
            if get(singles) > 0 {
                per_path.insert(format!("{path}/{{id}}"), get(singles));
            }
        }
        for (read, count) in NESTED_READS.iter().zip(&self.per_nested) {
            if get(count) > 0 {
                per_path.insert(read.path.to_string(), get(count));
            }
        }
        SandboxStats {
            api_requests: get(&self.api_requests),
            tokens_issued: get(&self.tokens_issued),
            token_refusals: get(&self.token_refusals),
            unauthorized: get(&self.unauthorized),
            forbidden: get(&self.forbidden),
            rate_limited: get(&self.rate_limited),
            not_found: get(&self.not_found),
            bad_requests: get(&self.bad_requests),
            records_served: get(&self.records_served),
            per_path,
            faults_injected: BTreeMap::new(),
            grants: named(&self.grants, &GRANT_NAMES),
            refresh_rotations: get(&self.refresh_rotations),
            client_auth: named(&self.client_auth, &CLIENT_AUTH_NAMES),
            oauth1_requests: get(&self.oauth1_requests),
        }
    }
}

/// The grant types the token endpoint serves, in `Counters::grants` order.
pub(crate) const GRANT_NAMES: [&str; 3] = ["client_credentials", "refresh_token", "password"];
/// How a token request authenticated the client, in `Counters::client_auth` order.
pub(crate) const CLIENT_AUTH_NAMES: [&str; 3] = ["basic", "body", "none"];

/// The non-zero counters of `counts`, by name.
fn named(counts: &[AtomicU64; 3], names: &[&str; 3]) -> BTreeMap<String, u64> {
    names
        .iter()
        .zip(counts)
        .map(|(n, c)| (n.to_string(), c.load(Ordering::Relaxed)))
        .filter(|(_, c)| *c > 0)
        .collect()
}
