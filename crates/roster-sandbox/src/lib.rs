//! A real OneRoster v1.1 server for the demo, the tests and the benchmarks: the client-credentials
//! token endpoint, every read of the REST binding — top-level collections and typed views, single
//! records, relationship reads such as `/schools/{id}/classes` — with limit/offset paging,
//! `X-Total-Count` and `Link`, `filter`, `sort`/`orderBy` and `fields`, scope checks, token expiry,
//! and knobs that make it behave like harder hosts (silent page caps, missing headers, latency,
//! injected faults, rate limits silent or announced in three header dialects).
//!
//! The district can change while it runs, for incremental exports: [`Sandbox::apply`] a batch of
//! [`Changes`] (updates, records marked `tobedeleted`, inserts, outright deletes) or
//! [`Sandbox::churn`] a deterministic mix; scripts do the same with `POST /admin/changes`
//! (`{"changes": [{"op": "update", "collection": "users", "sourcedId": "…", "set": {…}}, …]}`,
//! ops `update`, `insert` (with `record`), `tobedeleted`, `delete`) and `POST /admin/churn`
//! (`{"count": 50, "seed": 7}`), which answer only loopback peers. Every base record was last
//! modified at or before [`BASE_INSTANT`]; changes are stamped later by the sandbox's clock, so
//! `filter=dateLastModified>'…'` behaves as on a real host and stays fast on any size.
//!
//! It serves either the hand-written fixture district in `fixtures/district/` (compiled in) or a
//! synthetic district of any size generated record by record, so even millions of records need no
//! memory.
//!
//! It is its own crate so that the exporter's code cannot lean on it: roster-export starts it for
//! `--demo` and its `sandbox` subcommand (the default `demo` feature), the tests start it on
//! loopback, and `bench/run.sh` runs the small `roster-sandbox` binary. It checks OAuth 1.0a
//! signatures with code of its own, so a mistake shared with the exporter's signer cannot hide.

mod admin;
mod changes;
mod cond;
mod data;
mod derived;
mod endpoints;
mod faults;
mod filter;
mod fixture;
mod gate;
mod json;
mod listing;
mod members;
mod oauth1;
mod options;
mod overlay;
mod query;
mod ratelimit;
mod reads;
mod relations;
mod responses;
mod server;
mod state;
mod stats;
mod store;
mod synthetic;
#[cfg(test)]
mod tests;
mod tls;
mod tokens;

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use oneroster::{CollectionId, KnownScope};
use stats::Counters;

pub use changes::{Applied, AppliedChange, Change, ChangeError, ChangeOp, Changes};
pub use endpoints::BASE_PATH;
pub use faults::{Fault, Faults};
pub use fixture::{FixtureDistrict, fixture_district};
pub use options::{District, FilterSupport, SandboxOptions, Vendor};
pub use overlay::BASE_INSTANT;
pub use ratelimit::{Quota, RateHeaders, RateLimit};
pub use stats::SandboxStats;
pub use tls::TlsIdentity;

/// A running sandbox. Stops on [`Sandbox::shutdown`] or when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    /// `scheme://host:port` of the URLs handed out.
    origin: String,
    counters: Arc<Counters>,
    faults: Option<Arc<faults::Injector>>,
    store: Arc<store::Store>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free port), starts serving in the background and returns at
    /// once. Any address is accepted here; [`run_forever`] is the one that keeps to loopback.
    /// With [`SandboxOptions::tls`] it serves HTTPS, and an identity that does not load is an
    /// `InvalidInput` error.
    pub async fn start(options: SandboxOptions, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let tls = options.tls.as_ref().map(tls::server_config).transpose()?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let reachable = reachable_addr(addr);
        let origin = match &tls {
            Some((_, leaf)) => format!(
                "https://{}:{}",
                tls::url_host(leaf, reachable.ip()),
                reachable.port()
            ),
            None => format!("http://{reachable}"),
        };
        let counters = Arc::new(Counters::default());
        let faults = options
            .faults
            .clone()
            .map(|f| Arc::new(faults::Injector::new(f)));
        let store = Arc::new(store::Store::new(data::Data::new(&options.district)));
        let router = server::router(
            options,
            store.clone(),
            counters.clone(),
            faults.clone(),
            addr,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let task = match tls {
            Some((config, _)) => tokio::spawn(serve(
                tls::TlsListener::new(listener, config)?,
                router,
                stopped,
            )),
            None => tokio::spawn(serve(listener, router, stopped)),
        };
        Ok(Sandbox {
            addr,
            origin,
            counters,
            faults,
            store,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OneRoster base URL, e.g. `http://127.0.0.1:PORT/ims/oneroster/v1p1`, or `https://…`
    /// with a host the certificate covers when serving TLS.
    pub fn base_url(&self) -> String {
        format!("{}{BASE_PATH}", self.origin)
    }

    /// The token URL, e.g. `http://127.0.0.1:PORT/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.origin)
    }

    /// The origin, e.g. `http://127.0.0.1:PORT`: the OIDC authority whose
    /// `/.well-known/openid-configuration` names the token URL.
    pub fn origin(&self) -> String {
        self.origin.clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> SandboxStats {
        let mut stats = self.counters.snapshot();
        if let Some(faults) = &self.faults {
            stats.faults_injected = faults.injected();
        }
        stats
    }

    /// Applies a batch of changes to the district, whole or not at all. Every record it changes
    /// or inserts gets one `dateLastModified`, later than [`BASE_INSTANT`] and than any earlier
    /// batch; paging, totals, filters and single reads see the result from the next request on.
    pub fn apply(&self, changes: Changes) -> Result<Applied, ChangeError> {
        self.store.update(|data, overlay| {
            changes::apply(data, overlay, &changes.changes, jiff::Timestamp::now())
        })
    }

    /// Applies `n` changes to distinct records, chosen and made the same way for the same
    /// district, seed and earlier changes: updates, records marked `tobedeleted`, inserts and
    /// outright deletes, mostly of users and enrollments (fewer than `n` only if the district
    /// runs out of records).
    pub fn churn(&self, n: usize, seed: u64) -> Applied {
        self.store
            .update(|data, overlay| {
                let picked = changes::churn(data, overlay, n, seed, true);
                changes::apply(data, overlay, &picked, jiff::Timestamp::now())
            })
            .expect("churn picks changes that apply")
    }

    /// Every record of a collection as the sandbox serves it now, in sourcedId order (for a
    /// synthetic district that can be millions).
    pub fn records(&self, collection: CollectionId) -> Vec<Value> {
        self.store.records(collection)
    }

    /// One record as the sandbox serves it now.
    pub fn record(&self, collection: CollectionId, sourced_id: &str) -> Option<Value> {
        let snapshot = self.store.snapshot();
        let data = &self.store.data;
        snapshot
            .find(data, collection, endpoints::View::All, sourced_id)
            .map(|item| item.value(data, collection).into_owned())
    }

    /// Stops accepting, lets requests in flight finish, and waits (at most 2 s) for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // Idle keep-alive connections can hold a graceful shutdown open; don't wait forever.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// Serves `router` on `listener` until `stopped` resolves.
async fn serve<L>(
    listener: L,
    router: axum::Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    admin::Peer: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    // The admin endpoints need the peer's address.
    let service = router.into_make_service_with_connect_info::<admin::Peer>();
    let serve = axum::serve(listener, service).with_graceful_shutdown(stopped);
    if let Err(err) = serve.await {
        tracing::error!("sandbox server stopped: {err}");
    }
}

/// `addr` with a wildcard IP replaced by loopback so URLs work from this machine.
fn reachable_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The fixture district's records of one collection, sorted by sourcedId, as the sandbox serves them.
pub fn fixture_records(collection: CollectionId) -> Vec<Value> {
    fixture_district().records(collection.name()).to_vec()
}

/// What `--help` says after the flags: how scripts change the district while it runs.
const ADMIN_HELP: &str = "\
Changing the district while it runs (for incremental exports), from this machine only:
  POST /admin/changes  {\"changes\": [{\"op\": \"update\", \"collection\": \"users\", \"sourcedId\": \"ID\",
                         \"set\": {\"familyName\": \"New\"}}, ...]}
                       ops: update (set), insert (record), tobedeleted, delete (vanishes)
  POST /admin/churn    {\"count\": 50, \"seed\": 7}  a deterministic mix of changes
                       (\"outright\": false: every removal is a tobedeleted mark)
Both answer the changes made and the dateLastModified they got; every record of the district as
started was last modified at or before 2025-09-01T00:00:00.000Z.";

/// `roster-export sandbox`: run the server until Ctrl-C.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = ADMIN_HELP)]
pub struct SandboxArgs {
    /// The port to listen on (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on. Loopback unless you name another one together with
    /// --listen-any: the sandbox accepts well-known demo credentials.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Allow --host to be an address other machines can reach (the demo credentials in this help
    /// then work for anyone on the network).
    #[arg(long)]
    pub listen_any: bool,
    /// Serve a synthetic district of about N users instead of the fixture district.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=synthetic::MAX_USERS))]
    pub users: Option<u64>,
    /// Seed of the synthetic district: the same N and seed give the same bytes.
    #[arg(long, value_name = "SEED", default_value_t = 1, requires = "users")]
    pub seed: u64,
    /// Records per page when a request gives no `limit`.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub default_limit: u64,
    /// Serve at most N records per page, whatever `limit` asks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub page_cap: Option<u64>,
    /// Leave out the X-Total-Count header.
    #[arg(long)]
    pub no_total_count: bool,
    /// Leave out the Link header.
    #[arg(long)]
    pub no_link: bool,
    /// Gzip responses for clients that send Accept-Encoding: gzip.
    #[arg(long)]
    pub gzip: bool,
    /// Seconds an access token lives.
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_lifetime: u64,
    /// Milliseconds added to every API response.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Requests per second allowed across all clients (a token bucket), or per --rate-window;
    /// more get 429 with Retry-After, the wait in whole seconds. 0: no limit.
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// Bursts of up to B requests after a pause (default: the --rate-limit).
    #[arg(long, value_name = "B", requires = "rate_limit", conflicts_with = "rate_window", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: Option<u32>,
    /// Count --rate-limit requests per fixed window of SECS seconds instead (Clever: 1200 per 60).
    #[arg(long, value_name = "SECS", requires = "rate_limit", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window: Option<u64>,
    /// Announce the limit on every API response: ietf (RateLimit-Policy and RateLimit), legacy
    /// (RateLimit-Limit/-Remaining/-Reset) or x (X-RateLimit-*, reset as epoch seconds).
    #[arg(long, value_name = "DIALECT", requires = "rate_limit")]
    pub rate_headers: Option<RateHeaders>,
    /// Answer this share of collection pages (0 to 1) with an injected fault of every kind:
    /// 429, 5xx, cut connections, truncated or invalid bodies, slow responses, spurious 401s,
    /// wrong X-Total-Count, repeated records.
    #[arg(long, value_name = "RATE")]
    pub fault_rate: Option<f64>,
    /// Behave like Blackbaud's OneRoster API: quota replies are 403 with Retry-After, pages carry
    /// `status_info_set`.
    #[arg(long)]
    pub blackbaud: bool,
    /// Seed of the injected faults.
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    pub fault_seed: u64,
    /// The client id it accepts.
    #[arg(long, value_name = "ID", default_value = "demo-client")]
    pub client_id: String,
    /// The client secret it accepts.
    #[arg(long, value_name = "SECRET", default_value = "demo-secret")]
    pub client_secret: String,
    /// The service user the password grant accepts.
    #[arg(long, value_name = "NAME", default_value = "demo-user")]
    pub username: String,
    /// That user's password.
    #[arg(long, value_name = "PASSWORD", default_value = "demo-password")]
    pub password: String,
    /// A refresh token valid at start; each use rotates it unless preserve_refresh_token=true.
    #[arg(long, value_name = "TOKEN", default_value = "demo-refresh-token")]
    pub refresh_token: String,
    /// Know scopes only by their short names (roster.readonly), as some hosts do.
    #[arg(long)]
    pub short_scope_names: bool,
    /// What `filter` does: honoured (the v1.1 grammar), refused (400 invalid_filter_field, as
    /// hosts without filters answer) or ignored (every read unfiltered).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = FilterSupport::Honoured)]
    pub filters: FilterSupport,
    /// Require this Bb-Api-Subscription-Key header on every API request (Blackbaud SKY).
    #[arg(long, value_name = "KEY")]
    pub subscription_key: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first). Clients
    /// then need the authority that signed it: `--ca-cert` on the export.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl SandboxArgs {
    /// The server options these flags describe.
    pub fn options(&self) -> SandboxOptions {
        SandboxOptions {
            district: match self.users {
                Some(users) => District::Synthetic {
                    users,
                    seed: self.seed,
                },
                None => District::Fixture,
            },
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            token_lifetime: Duration::from_secs(self.token_lifetime.max(1)),
            token_max_uses: None,
            default_limit: self.default_limit.max(1),
            page_cap: self.page_cap.filter(|&n| n > 0),
            total_count: !self.no_total_count,
            link_header: !self.no_link,
            latency: self.latency_ms.map(Duration::from_millis),
            rate_limit: self.rate_limit(),
            compression: self.gzip,
            faults: self
                .fault_rate
                .filter(|r| *r > 0.0)
                .map(|rate| Faults::all(rate.min(1.0), self.fault_seed)),
            vendor: if self.blackbaud {
                Vendor::Blackbaud
            } else {
                Vendor::Standard
            },
            missing: Vec::new(),
            withheld_scopes: Vec::new(),
            link_origin: None,
            username: self.username.clone(),
            password: self.password.clone(),
            refresh_tokens: vec![self.refresh_token.clone()],
            refresh_reply_delay: None,
            short_scope_names: self.short_scope_names,
            filters: self.filters,
            subscription_key: self.subscription_key.clone(),
            // Read by `run_forever`, which can report a file that does not load.
            tls: None,
        }
    }
}

impl SandboxArgs {
    /// The rate limit the --rate-* flags describe.
    fn rate_limit(&self) -> Option<RateLimit> {
        let n = self.rate_limit.filter(|&n| n > 0)?;
        let limit = match self.rate_window {
            Some(secs) => RateLimit::window(n, Duration::from_secs(secs)),
            None => RateLimit::bucket(n, self.rate_burst.unwrap_or(n)),
        };
        Some(match self.rate_headers {
            Some(dialect) => limit.announced(dialect),
            None => limit,
        })
    }
}

/// Starts the sandbox, prints how to reach it on stdout, and serves until `shutdown` resolves.
/// Refuses an address other machines can reach unless `--listen-any` says so.
pub async fn run_forever(
    args: SandboxArgs,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    if !args.host.is_loopback() && !args.listen_any {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "refusing to listen on {}: other machines could reach it, and it accepts the demo                  credentials (client secret demo-secret) that anyone can read in --help; add                  --listen-any if that is really wanted",
                args.host
            ),
        ));
    }
    let mut options = args.options();
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        options.tls = Some(TlsIdentity::from_files(cert, key)?);
    }
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {}, reachable from other machines, with credentials anyone can read in --help",
            args.host
        );
    }
    let sandbox = Sandbox::start(options.clone(), SocketAddr::new(args.host, args.port)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", banner(&sandbox, &options))?;
    out.flush()?;
    drop(out);
    eprintln!("serving until Ctrl-C");
    shutdown.await;
    eprintln!("stopping");
    sandbox.shutdown().await;
    Ok(())
}

/// What `roster-export sandbox` prints: where it is, the credentials, and a command to paste.
fn banner(sandbox: &Sandbox, options: &SandboxOptions) -> String {
    let scopes: Vec<&str> = KnownScope::ALL.iter().map(|s| s.short_name()).collect();
    let district = match options.district {
        District::Fixture => format!(
            "the fixture district ({} records)",
            fixture_district().total()
        ),
        District::Synthetic { users, seed } => {
            format!("a synthetic district of {users} users (seed {seed})")
        }
    };
    format!(
        "base URL: {base}\n\
         token URL: {token}\n\
         client id: {id}\n\
         client secret: {secret}\n\
         user (password grant): {user} / {password}\n\
         refresh token: {refresh}\n\
         OIDC authority: {origin}\n\
         scopes: {scopes}\n\
         serving: {district}\n\
         \n\
         Export from it with:\n\
         ROSTER_EXPORT_CLIENT_SECRET={secret_q} roster-export --base-url {base} --token-url {token} \
         --client-id {id_q} --scope roster.readonly{ca} --out demo.zip",
        base = sandbox.base_url(),
        token = sandbox.token_url(),
        id = options.client_id,
        secret = options.client_secret,
        user = options.username,
        password = options.password,
        refresh = options.refresh_tokens.join(" "),
        origin = sandbox.origin(),
        scopes = scopes.join(" "),
        secret_q = shell_quote(&options.client_secret),
        id_q = shell_quote(&options.client_id),
        // The authority that signed --tls-cert (or the certificate itself, if self-signed).
        ca = if options.tls.is_some() {
            " --ca-cert CA.pem"
        } else {
            ""
        },
    )
}

/// `s` as one POSIX shell word.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/@%+=".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
