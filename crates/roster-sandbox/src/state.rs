//! The state every handler shares: the options, the district, the counters, the issued tokens
//! and the caches, and the origin a client reached the sandbox at.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::derived::DerivedCache;
use super::faults::Injector;
use super::oauth1::Verifier;
use super::options::SandboxOptions;
use super::ratelimit::Limiter;
use super::stats::Counters;
use super::store::Store;
use super::tokens::{RefreshTokens, Tokens};

/// What every handler shares: the options, the district, the counters and the issued tokens.
pub(crate) struct AppState {
    pub options: SandboxOptions,
    pub faults: Option<Arc<Injector>>,
    /// The district: its base records and the overlay of changes.
    pub store: Arc<Store>,
    pub counters: Arc<Counters>,
    pub tokens: Tokens,
    pub refresh_tokens: RefreshTokens,
    /// Checks OAuth 1.0a signed requests and remembers their nonces.
    pub oauth1: Verifier,
    pub limiter: Option<Limiter>,
    /// Filtered and sorted reads, kept for paging through them.
    pub derived: DerivedCache,
    /// The bound address, for `Link` URLs when a request has no usable `Host`.
    pub addr: SocketAddr,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// `scheme://host:port` the client used, from `Host` when it looks like one, else the bound
    /// address.
    pub(crate) fn origin(&self, headers: &HeaderMap) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
        match host {
            Some(host) => format!("{scheme}://{host}"),
            None => format!("{scheme}://{}", self.addr),
        }
    }
}
