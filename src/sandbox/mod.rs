//! A real OneRoster v1.1 server for the demo, the tests and the benchmarks: the client-credentials
//! token endpoint, every top-level read collection with limit/offset paging, `X-Total-Count` and
//! `Link`, scope checks, token expiry, and knobs that make it behave like harder hosts (silent page
//! caps, missing headers, latency, a rate limit).
//!
//! It serves either the hand-written fixture district in `fixtures/district/` (compiled in) or a
//! synthetic district of any size generated record by record, so even millions of records need no
//! memory. Nothing on the export path uses this module.

mod data;
mod server;
mod synthetic;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use data::fixture_records;

/// Which district the sandbox serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum District {
    /// The small hand-written district in `fixtures/district/`.
    Fixture,
    /// A generated district with about this many users; the same seed gives the same bytes.
    Synthetic { users: u64, seed: u64 },
}

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub district: District,
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of the tokens it issues; expired tokens get 401.
    pub token_lifetime: Duration,
    /// Page size when a request gives no `limit`.
    pub default_limit: u64,
    /// Silently serve at most this many records per page, whatever `limit` asks.
    pub page_cap: Option<u64>,
    /// Send `X-Total-Count`.
    pub total_count: bool,
    /// Send `Link` with next/last/first/prev.
    pub link_header: bool,
    /// Added before every API response.
    pub latency: Option<Duration>,
    /// Requests per second over all clients; beyond it, 429 with `Retry-After: 1`.
    pub rate_limit: Option<u32>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            district: District::Fixture,
            client_id: "demo-client".to_string(),
            client_secret: "demo-secret".to_string(),
            token_lifetime: Duration::from_secs(3600),
            default_limit: 100,
            page_cap: None,
            total_count: true,
            link_header: true,
            latency: None,
            rate_limit: None,
        }
    }
}

/// What the sandbox has seen, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Requests to the OneRoster API (not the token endpoint).
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
    /// Records served in collection pages.
    pub records_served: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    api_requests: AtomicU64,
    tokens_issued: AtomicU64,
    token_refusals: AtomicU64,
    unauthorized: AtomicU64,
    forbidden: AtomicU64,
    rate_limited: AtomicU64,
    records_served: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> SandboxStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SandboxStats {
            api_requests: get(&self.api_requests),
            tokens_issued: get(&self.tokens_issued),
            token_refusals: get(&self.token_refusals),
            unauthorized: get(&self.unauthorized),
            forbidden: get(&self.forbidden),
            rate_limited: get(&self.rate_limited),
            records_served: get(&self.records_served),
        }
    }
}

/// A running sandbox. Stops on [`Sandbox::shutdown`] or when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free port) and starts serving in the background.
    pub async fn start(options: SandboxOptions, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let router = server::router(options, counters.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!("sandbox server stopped: {err}");
            }
        });
        Ok(Sandbox {
            addr,
            counters,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OneRoster base URL, ending in `/ims/oneroster/v1p1`.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, server::BASE_PATH)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn stats(&self) -> SandboxStats {
        self.counters.snapshot()
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // Keep-alive connections can hold a graceful shutdown open; don't wait forever.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// `roster-export sandbox`: run the server until Ctrl-C.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// The port to listen on (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on. Loopback unless you name another one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Serve a synthetic district of about N users instead of the fixture district.
    #[arg(long, value_name = "N")]
    pub users: Option<u64>,
    /// Seed of the synthetic district.
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    pub seed: u64,
    /// Serve at most N records per page, whatever `limit` asks.
    #[arg(long, value_name = "N")]
    pub page_cap: Option<u64>,
    /// Leave out the X-Total-Count header.
    #[arg(long)]
    pub no_total_count: bool,
    /// Leave out the Link header.
    #[arg(long)]
    pub no_link: bool,
    /// Seconds an access token lives.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Milliseconds added to every API response.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Requests per second allowed; more get 429 with Retry-After.
    #[arg(long, value_name = "RPS")]
    pub rate_limit: Option<u32>,
    /// The client id it accepts.
    #[arg(long, value_name = "ID", default_value = "demo-client")]
    pub client_id: String,
    /// The client secret it accepts.
    #[arg(long, value_name = "SECRET", default_value = "demo-secret")]
    pub client_secret: String,
}

impl SandboxArgs {
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
            page_cap: self.page_cap.filter(|&n| n > 0),
            total_count: !self.no_total_count,
            link_header: !self.no_link,
            latency: self.latency_ms.map(Duration::from_millis),
            rate_limit: self.rate_limit.filter(|&n| n > 0),
            ..SandboxOptions::default()
        }
    }
}

/// Starts the sandbox, prints how to reach it, and serves until Ctrl-C.
pub async fn run_forever(args: SandboxArgs) -> std::io::Result<()> {
    let options = args.options();
    let sandbox = Sandbox::start(options.clone(), SocketAddr::new(args.host, args.port)).await?;
    println!("base URL:      {}", sandbox.base_url());
    println!("token URL:     {}", sandbox.token_url());
    println!("client id:     {}", options.client_id);
    println!("client secret: {}", options.client_secret);
    println!();
    println!(
        "ROSTER_EXPORT_CLIENT_SECRET={} roster-export --base-url {} --token-url {} --client-id {} --scope roster.readonly --out demo.zip",
        options.client_secret,
        sandbox.base_url(),
        sandbox.token_url(),
        options.client_id
    );
    eprintln!("serving until Ctrl-C");
    let _ = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    Ok(())
}
