//! The one HTTP client of a run: reqwest behind a pacer per host (adaptive rate and concurrency,
//! see [`pace`]), retries with backoff that honour `Retry-After`, and a cap on body size.
//!
//! `Transport` sends single attempts and owns the pacing; `retry` decides what an attempt's
//! outcome means and how long to wait; `ca` loads the extra authorities of `--ca-cert`. This layer
//! knows nothing of credentials: the callers (`auth` for token requests, `api` for the API) put
//! them on their requests.

mod buffers;
mod ca;
pub mod pace;
mod pin;
pub mod reach;
mod retry;
mod target;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

pub use buffers::BodyBuffers;
pub use ca::CaCertError;
pub use pace::{HostReport, Limit, PaceSettings, Pacing};
pub use retry::{RetryPolicy, Step, classify, retry_after};
pub use target::Target;

use oneroster::StatusInfo;

/// Knobs of the network layer, resolved once from the command line.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// How fast and how many at once, per host.
    pub pace: PaceSettings,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included.
    pub request_timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_body_bytes: usize,
    /// PEM files of extra certificate authorities to trust (`--ca-cert`).
    pub ca_certs: Vec<std::path::PathBuf>,
    /// PEM files of server certificates trusted as they are (`--pin-cert`; `--ca-cert`'s too).
    pub pin_certs: Vec<std::path::PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            pace: PaceSettings::default(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_body_bytes: 256 * 1024 * 1024,
            ca_certs: Vec::new(),
            pin_certs: Vec::new(),
        }
    }
}

/// Why the network layer gave up. Every variant names the request's place (`Target`).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{target}: gave up after {attempts} attempt{}; last: {last}",
        if *.attempts == 1 { "" } else { "s" }
    )]
    GaveUp {
        target: Target,
        attempts: u32,
        last: String,
    },
    #[error("{target}: HTTP {status}{}", info_suffix(.info))]
    Status {
        target: Target,
        status: StatusCode,
        info: Option<Box<StatusInfo>>,
    },
    #[error("{target}: the server answered with a redirect to {location}; refusing to follow it")]
    Redirect { target: Target, location: String },
    #[error("{target}: the response body is larger than the {limit}-byte cap")]
    BodyTooLarge { target: Target, limit: usize },
    #[error(
        "{target}: refusing to send credentials to {url}, which is not the configured origin {origin}"
    )]
    ForeignOrigin {
        target: Target,
        url: String,
        origin: String,
    },
    #[error("{target}: {reason}")]
    BadResponse { target: Target, reason: String },
    /// The server's TLS certificate was refused; retrying cannot change that.
    #[error("{target}: the server's certificate was rejected: {reason}{hint}")]
    Certificate {
        target: Target,
        reason: String,
        hint: &'static str,
    },
    /// A `--ca-cert` file cannot be used (a usage error: nothing was sent).
    #[error(transparent)]
    CaCert(#[from] CaCertError),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// ` (description; codeMinor …)` for messages, or nothing when the body said nothing useful.
pub(crate) fn info_suffix(info: &Option<Box<StatusInfo>>) -> String {
    match info.as_ref().map(|i| i.summary()) {
        Some(s) if !s.is_empty() => format!(" ({s})"),
        _ => String::new(),
    }
}

impl HttpError {
    /// The HTTP status when the server refused the request outright.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A response read in full: status, headers and the (capped) body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a single attempt produced no reply.
#[derive(Debug)]
pub enum AttemptError {
    /// Connect failure, reset, timeout, truncated body: worth another try.
    Transport(reqwest::Error),
    /// The body passed the size cap (bytes).
    TooLarge(usize),
}

/// Counters shared by every request of the run.
#[derive(Debug, Default)]
struct HttpCounters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    /// The origins sent to, so a report of shared pacers names only this transport's hosts.
    origins: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// What the transport has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Attempts sent, retries included.
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Replies that asked the whole run to slow down (429, 503, a quota 403).
    pub rate_limited: u64,
}
tokio::task_local! {
    /// The try of the request being sent (1 for the first), set by [`Transport::with_retry`]
    /// for the request log.
    static TRY: u32;
}

/// Sends single attempts, each paced by its host's [`pace::Pacer`].
pub struct Transport {
    client: reqwest::Client,
    /// The TLS set-up, kept to build [`Transport::uncompressed_client`].
    tls: tokio_rustls::rustls::ClientConfig,
    pacing: Arc<Pacing>,
    settings: HttpSettings,
    counters: HttpCounters,
    bodies: Arc<BodyBuffers>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Builds the client; `pacing` holds the pacers it shares with any other transport to the same
    /// hosts, `bodies` the page buffers. Fails with [`HttpError::CaCert`] when a `--ca-cert` or
    /// `--pin-cert` file is missing or holds no usable certificate.
    pub fn new(
        settings: HttpSettings,
        pacing: Arc<Pacing>,
        bodies: Arc<BodyBuffers>,
    ) -> Result<Arc<Transport>, HttpError> {
        let tls = pin::client_config(&settings.ca_certs, &settings.pin_certs)?;
        let client = build_client(&settings, &tls, true)?;
        Ok(Arc::new(Transport {
            client,
            tls,
            pacing,
            settings,
            counters: HttpCounters::default(),
            bodies,
        }))
    }

    /// A client like the transport's that leaves bodies as the host sent them (no gzip or brotli
    /// decoding), so `Content-Encoding` can be seen; not paced, for a single probe.
    pub fn uncompressed_client(&self) -> Result<reqwest::Client, HttpError> {
        build_client(&self.settings, &self.tls, false)
    }

    /// A transport with pacers of its own (one command, one tenant).
    pub fn standalone(settings: HttpSettings) -> Result<Arc<Transport>, HttpError> {
        let pacing = Pacing::new(settings.pace);
        Transport::new(settings, pacing, BodyBuffers::new())
    }

    /// What the pacers found about each host this transport sent to.
    pub fn pacing(&self) -> Vec<HostReport> {
        let origins = self.counters.origins.lock().expect("origins lock");
        self.pacing
            .report()
            .into_iter()
            .filter(|r| origins.contains(&r.origin))
            .collect()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A GET of `url` asking for JSON, with `headers` added: how every API read starts.
    pub fn json_get(
        &self,
        url: &url::Url,
        headers: &HeaderMap,
    ) -> reqwest::Result<reqwest::Request> {
        self.client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .headers(headers.clone())
            .build()
    }

    /// The counters so far.
    pub fn stats(&self) -> HttpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HttpStats {
            requests: get(&self.counters.requests),
            retries: get(&self.counters.retries),
            rate_limited: get(&self.counters.rate_limited),
        }
    }

    /// Sends one attempt when its host's pacer lets it go, reads the body, and tells the pacer
    /// what came back.
    pub async fn send(&self, request: reqwest::Request) -> Result<Reply, AttemptError> {
        self.send_with(request, |_| {}).await
    }

    /// As [`Transport::send`], with `just_before` run on the request once its turn has come (a
    /// request may wait long for it, and what it carries can be renewed then).
    pub async fn send_with(
        &self,
        mut request: reqwest::Request,
        just_before: impl FnOnce(&mut reqwest::Request),
    ) -> Result<Reply, AttemptError> {
        let origin = request.url().origin().ascii_serialization();
        let pacer = self.pacing.pacer_for(&origin, self.settings.pace);
        {
            let mut origins = self.counters.origins.lock().expect("origins lock");
            if !origins.contains(&origin) {
                origins.insert(origin);
            }
        }
        let slot = pacer.acquire().await;
        just_before(&mut request);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (method, shown) = (
            request.method().clone(),
            crate::urls::loggable_url(request.url()),
        );
        let started = std::time::Instant::now();
        let reply = self.read(request).await;
        log_request(&method, &shown, started.elapsed(), &reply);
        slot.finish(match &reply {
            Ok(reply) => pace::Outcome::Answered {
                status: reply.status,
                headers: &reply.headers,
                retry_after: retry_after(&reply.headers),
            },
            Err(_) => pace::Outcome::Failed,
        });
        reply
    }

    async fn read(&self, request: reqwest::Request) -> Result<Reply, AttemptError> {
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(AttemptError::Transport)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let limit = self.settings.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(AttemptError::TooLarge(limit));
        }
        // Sized up front when the length is known, so a page is not copied while it grows; pages
        // (large or of unknown length) go into a reused buffer.
        let length = response.content_length().map(|n| n as usize);
        let pooled = length.is_none_or(|n| n >= buffers::POOLED_FROM);
        let mut body = if pooled {
            self.bodies.take(length.unwrap_or(0))
        } else {
            Vec::with_capacity(length.unwrap_or(0))
        };
        while let Some(chunk) = response.chunk().await.map_err(AttemptError::Transport)? {
            if body.len() + chunk.len() > limit {
                return Err(AttemptError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        let body = if pooled {
            self.bodies.freeze(body)
        } else {
            Bytes::from(body)
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends the request `build` makes, retrying as [`Transport::with_retry`] does, and returns the
    /// reply when its status is a success; any other status is [`HttpError::Status`] with the
    /// body's status info. For the small non-page requests (token, OIDC discovery).
    pub async fn fetch_ok(
        &self,
        target: &Target,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, HttpError> {
        self.with_retry(target, |_| async {
            let request = match build().build() {
                Ok(r) => r,
                Err(e) => {
                    return Step::Fatal(HttpError::BadResponse {
                        target: target.clone(),
                        reason: format!("could not build the request: {e}"),
                    });
                }
            };
            match classify(target, self.send(request).await) {
                Ok(reply) if reply.status.is_success() => Step::Done(reply),
                Ok(reply) => Step::Fatal(HttpError::Status {
                    target: target.clone(),
                    status: reply.status,
                    info: StatusInfo::from_body(&reply.body).map(Box::new),
                }),
                Err(step) => step,
            }
        })
        .await
    }

    /// Runs `attempt` until it is done, fatal, or out of tries, sleeping between tries as the
    /// retry policy and any `Retry-After` say. Used for token requests and page requests alike.
    ///
    /// A host asking to slow down with `Retry-After` or rate-limit headers costs no attempt: the
    /// request waits as asked (its pacer slows every other request to that host) for as long as
    /// the waits add up to no more than the policy's `max_retry_after`.
    pub async fn with_retry<T, E, F, Fut>(&self, target: &Target, mut attempt: F) -> Result<T, E>
    where
        E: From<HttpError>,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Step<T, E>>,
    {
        let policy = &self.settings.retry;
        let mut n = 1;
        let mut tries = 0;
        let mut waited = Duration::ZERO;
        let mut renewals = 0;
        loop {
            tries += 1;
            match TRY.scope(tries, attempt(n)).await {
                Step::Done(value) => return Ok(value),
                Step::Fatal(err) => return Err(err),
                Step::Renewed { reason } => {
                    renewals += 1;
                    if renewals > retry::MAX_RENEWALS {
                        return Err(HttpError::GaveUp {
                            target: target.clone(),
                            attempts: n,
                            last: format!("{reason}, {} times", retry::MAX_RENEWALS),
                        }
                        .into());
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(target_place = %target, renewals, "{target}: {reason}; sending again");
                }
                Step::Retry {
                    reason,
                    after,
                    rate_limited,
                } => {
                    let gave_up = |last: String| HttpError::GaveUp {
                        target: target.clone(),
                        attempts: n,
                        last,
                    };
                    let free = rate_limited && after.is_some();
                    if !free && n >= policy.max_attempts {
                        return Err(gave_up(reason).into());
                    }
                    let delay = match after {
                        Some(after) if after > policy.max_retry_after => {
                            return Err(gave_up(format!(
                                "{reason}; the server asks to wait {}s, longer than the {}s allowed",
                                after.as_secs(),
                                policy.max_retry_after.as_secs()
                            ))
                            .into());
                        }
                        // At least a moment, so a host that keeps saying "now" cannot spin us.
                        Some(after) if free => after.max(Duration::from_millis(100)),
                        Some(after) => after,
                        None => policy.backoff(n),
                    };
                    if rate_limited {
                        self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    }
                    if free {
                        waited += delay;
                        if waited > policy.max_retry_after {
                            return Err(gave_up(format!(
                                "{reason}; the server kept asking to wait, {}s in all, more than the {}s allowed",
                                waited.as_secs(),
                                policy.max_retry_after.as_secs()
                            ))
                            .into());
                        }
                    } else {
                        n += 1;
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        target_place = %target,
                        attempt = n,
                        delay_ms = delay.as_millis() as u64,
                        "{target}: {reason}; retrying in {:.1}s",
                        delay.as_secs_f64()
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// The reqwest client: no redirects, the timeouts, and the named certificates' TLS set-up.
fn build_client(
    settings: &HttpSettings,
    tls: &tokio_rustls::rustls::ClientConfig,
    decompress: bool,
) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("roster-export/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .tls_backend_preconfigured(tls.clone());
    if !decompress {
        builder = builder.no_gzip().no_brotli();
    }
    builder
        .build()
        .map_err(|e| HttpError::Client(e.to_string()))
}

/// One line per request at `-v` (method, URL without secrets, status, time, bytes, try), and its
/// response headers at `-vv`, those that may carry secrets masked.
fn log_request(
    method: &reqwest::Method,
    shown: &str,
    took: Duration,
    reply: &Result<Reply, AttemptError>,
) {
    let ms = took.as_millis() as u64;
    let attempt = TRY.try_with(|n| *n).unwrap_or(1);
    match reply {
        Ok(reply) => {
            tracing::debug!(
                status = reply.status.as_u16(),
                ms,
                bytes = reply.body.len(),
                attempt,
                "{method} {shown}"
            );
            if tracing::enabled!(tracing::Level::TRACE) {
                tracing::trace!("{method} {shown}: {}", shown_headers(&reply.headers));
            }
        }
        Err(AttemptError::TooLarge(limit)) => {
            tracing::debug!(
                ms,
                attempt,
                "{method} {shown}: body over the {limit}-byte cap"
            );
        }
        Err(AttemptError::Transport(e)) => {
            tracing::debug!(ms, attempt, "{method} {shown}: {e}");
        }
    }
}

/// Response headers for the log, values that may be secrets masked.
fn shown_headers(headers: &HeaderMap) -> String {
    let shown: Vec<String> = headers
        .iter()
        .map(|(name, value)| {
            if value.is_sensitive() || crate::urls::is_secret_name(name.as_str()) {
                format!("{name}: …")
            } else {
                format!("{name}: {}", String::from_utf8_lossy(value.as_bytes()))
            }
        })
        .collect();
    shown.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(max_attempts: u32) -> Arc<Transport> {
        Transport::standalone(HttpSettings {
            retry: RetryPolicy {
                max_attempts,
                ..RetryPolicy::default()
            },
            ..HttpSettings::default()
        })
        .unwrap()
    }

    fn target() -> Target {
        Target::token(&url::Url::parse("http://127.0.0.1/token").unwrap())
    }

    fn rate_limited(after: u64) -> Step<u32> {
        Step::Retry {
            reason: "HTTP 429".into(),
            after: Some(Duration::from_secs(after)),
            rate_limited: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_out_without_spending_attempts() {
        let t = transport(2);
        let started = tokio::time::Instant::now();
        let tries = std::sync::atomic::AtomicU32::new(0);
        let done = t
            .with_retry(&target(), |n| {
                let k = tries.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    if k < 5 {
                        rate_limited(2)
                    } else {
                        Step::Done(n)
                    }
                }
            })
            .await;
        // Four 429s with Retry-After and two attempts allowed: still the first attempt.
        assert_eq!(done.unwrap(), 1);
        assert_eq!(started.elapsed(), Duration::from_secs(8));
        let stats = t.stats();
        assert_eq!((stats.retries, stats.rate_limited), (4, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_run_out_and_long_waits_are_refused() {
        let t = transport(3);
        let tries = std::sync::atomic::AtomicU32::new(0);
        let gave_up: Result<u32, HttpError> = t
            .with_retry(&target(), |_| {
                tries.fetch_add(1, Ordering::Relaxed);
                async {
                    Step::Retry {
                        reason: "HTTP 500".into(),
                        after: None,
                        rate_limited: false,
                    }
                }
            })
            .await;
        assert!(matches!(
            gave_up,
            Err(HttpError::GaveUp { attempts: 3, .. })
        ));
        assert_eq!(tries.load(Ordering::Relaxed), 3);
        // Waits asked for add up: past --max-retry-wait the run stops waiting.
        let patient: Result<u32, HttpError> = t
            .with_retry(&target(), |_| async { rate_limited(100) })
            .await;
        let err = patient.unwrap_err().to_string();
        assert!(err.contains("kept asking to wait, 400s in all"), "{err}");
        let started = tokio::time::Instant::now();
        let too_long: Result<u32, HttpError> = t
            .with_retry(&target(), |_| async { rate_limited(301) })
            .await;
        let err = too_long.unwrap_err().to_string();
        assert!(err.contains("longer than the 300s allowed"), "{err}");
        assert_eq!(started.elapsed(), Duration::ZERO, "it did not wait first");
    }
}
