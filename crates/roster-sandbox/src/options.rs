//! How the sandbox behaves: which district it serves, whose habits it copies, and the knobs that
//! make it behave like harder hosts.

use std::time::Duration;

use super::faults::Faults;
use super::ratelimit::RateLimit;
use super::tls::TlsIdentity;
use oneroster::{CollectionId, KnownScope};

/// Which district the sandbox serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum District {
    /// The small hand-written district in `fixtures/district/`.
    #[default]
    Fixture,
    /// A generated district of about this many users (1 to 50,000,000); the same size and seed
    /// always give the same bytes.
    Synthetic { users: u64, seed: u64 },
}

/// Whose habits the sandbox copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Vendor {
    /// The 1.1 specification's shapes.
    #[default]
    Standard,
    /// Blackbaud's OneRoster API: a spent quota is 403 with `Retry-After` and
    /// `{"statusCode":403,"message":…}`, pages carry `status_info_set` (docs/oneroster-notes.md §8.1).
    Blackbaud,
}

/// What the sandbox does with `filter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FilterSupport {
    /// The v1.1 grammar, as specified.
    #[default]
    Honoured,
    /// Every filter is refused: 400 `invalid_filter_field`, as hosts without filters answer.
    Refused,
    /// The parameter is ignored: every read answers as if unfiltered.
    Ignored,
}

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub district: District,
    pub client_id: String,
    pub client_secret: String,
    /// How long issued tokens live (`expires_in`); expired tokens get 401.
    pub token_lifetime: Duration,
    /// Tokens also expire after authorizing this many API requests: a token that runs out
    /// mid-run, the same on every machine however fast.
    pub token_max_uses: Option<u64>,
    /// Page size when a request gives no `limit`.
    pub default_limit: u64,
    /// Silently serve at most this many records per page, whatever `limit` asks (PowerSchool-style).
    pub page_cap: Option<u64>,
    /// Send `X-Total-Count`.
    pub total_count: bool,
    /// Send `Link` with next/last/first/prev.
    pub link_header: bool,
    /// Added before every API response.
    pub latency: Option<Duration>,
    /// A rate limit across all clients: past it, 429 with `Retry-After` (the real wait, in whole
    /// seconds); announced, if so configured, in headers on every API response.
    pub rate_limit: Option<RateLimit>,
    /// Gzip responses for clients that send `Accept-Encoding: gzip` (off by default: on loopback
    /// it costs more than it saves, and benchmarks want the raw path).
    pub compression: bool,
    /// Answer some collection pages with injected faults.
    pub faults: Option<Faults>,
    /// Whose response shapes and quota replies to copy.
    pub vendor: Vendor,
    /// Collections the host does not offer: their endpoints answer 404 (many hosts leave out
    /// demographics, gradebook or resources).
    pub missing: Vec<CollectionId>,
    /// Scopes the host never grants, though the token request succeeds (a district that did
    /// not share that data): requests that need them get 403.
    pub withheld_scopes: Vec<KnownScope>,
    /// Put this origin (`http://host:port`) in `Link` URLs instead of the server's own, as a
    /// misconfigured or hostile host would.
    pub link_origin: Option<String>,
    /// The service user the password grant accepts.
    pub username: String,
    pub password: String,
    /// Refresh tokens valid at start (a user authorized the app out of band). Each use of one
    /// retires it and issues a new one, unless the request asks to preserve it.
    pub refresh_tokens: Vec<String>,
    /// Wait this long before answering a refresh-token grant, after the old token is retired: a
    /// window in which a client can die holding a token it never saved.
    pub refresh_reply_delay: Option<Duration>,
    /// The token endpoint knows scopes only by their short names (`roster.readonly`), as some
    /// hosts do, and refuses the URIs.
    pub short_scope_names: bool,
    /// What `filter` does.
    pub filters: FilterSupport,
    /// Every API request must carry `Bb-Api-Subscription-Key` with this value (Blackbaud SKY).
    pub subscription_key: Option<String>,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsIdentity>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            district: District::Fixture,
            client_id: "demo-client".to_string(),
            client_secret: "demo-secret".to_string(),
            token_lifetime: Duration::from_secs(3600),
            token_max_uses: None,
            default_limit: 100,
            page_cap: None,
            total_count: true,
            link_header: true,
            latency: None,
            rate_limit: None,
            compression: false,
            faults: None,
            vendor: Vendor::Standard,
            missing: Vec::new(),
            withheld_scopes: Vec::new(),
            link_origin: None,
            username: "demo-user".to_string(),
            password: "demo-password".to_string(),
            refresh_tokens: vec!["demo-refresh-token".to_string()],
            refresh_reply_delay: None,
            short_scope_names: false,
            filters: FilterSupport::Honoured,
            subscription_key: None,
            tls: None,
        }
    }
}
