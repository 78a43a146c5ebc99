//! What an attempt's outcome means (done, retry after some delay, or fatal) and the backoff schedule.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio_rustls::rustls::{self, CertificateError};

use super::{AttemptError, HttpError, Reply, Target};
use oneroster::StatusInfo;

/// How many times to try and how long to wait between tries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time, with full jitter.
    pub base_delay: Duration,
    /// No computed backoff exceeds this.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this ends the run instead of stalling it.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter before attempt `attempt + 1`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_delay);
        // Full jitter, but never less than half the step, so retries do not bunch up at zero.
        let half = cap / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// What the caller of one attempt decided.
#[derive(Debug)]
pub enum Step<T, E = HttpError> {
    Done(T),
    Retry {
        reason: String,
        after: Option<Duration>,
        rate_limited: bool,
    },
    /// Refused with a token that another request had already replaced, or that wore out after
    /// serving others: try again at once with the newest. No fault of this request, so it costs
    /// no attempt; at most [`MAX_RENEWALS`] times, so a host that refuses every token still ends.
    Renewed {
        reason: String,
    },
    Fatal(E),
}

/// How many times one request may be sent again with a renewed token, beyond its attempts.
pub const MAX_RENEWALS: u32 = 16;

/// Sorts a finished attempt: a usable 2xx reply comes back as `Ok`; transient failures and
/// statuses become `Step::Retry`; the rest `Step::Fatal`. 401 and 403 come back as `Ok` replies
/// for the caller to handle, since only it knows whether a token can be refreshed.
pub fn classify<T, E: From<HttpError>>(
    target: &Target,
    outcome: Result<Reply, AttemptError>,
) -> Result<Reply, Step<T, E>> {
    let reply = match outcome {
        Ok(reply) => reply,
        Err(AttemptError::TooLarge(limit)) => {
            return Err(Step::Fatal(
                HttpError::BodyTooLarge {
                    target: target.clone(),
                    limit,
                }
                .into(),
            ));
        }
        Err(AttemptError::Transport(err)) => {
            if let Some(rejected) = certificate_rejection(&err) {
                return Err(Step::Fatal(
                    HttpError::Certificate {
                        target: target.clone(),
                        reason: certificate_reason(rejected),
                        hint: certificate_hint(rejected),
                    }
                    .into(),
                ));
            }
            return Err(Step::Retry {
                reason: describe_transport(&err),
                after: None,
                rate_limited: false,
            });
        }
    };
    let status = reply.status;
    if status.is_success() || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
    {
        return Ok(reply);
    }
    let info = StatusInfo::from_body(&reply.body);
    let reason = match info.as_ref().map(StatusInfo::summary) {
        Some(s) if !s.is_empty() => format!("HTTP {status} ({s})"),
        _ => format!("HTTP {status}"),
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Err(Step::Retry {
            reason,
            after: wait_asked(&reply.headers),
            rate_limited: true,
        }),
        StatusCode::REQUEST_TIMEOUT
        | StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::GATEWAY_TIMEOUT => Err(Step::Retry {
            reason,
            after: retry_after(&reply.headers),
            rate_limited: false,
        }),
        s if s.is_redirection() => {
            let location = reply
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| {
                    url::Url::parse(l)
                        .ok()
                        .map(|u| crate::urls::safe_url(&u))
                        .or(Some(l.to_string()))
                })
                .unwrap_or_else(|| "an unnamed location".to_string());
            Err(Step::Fatal(
                HttpError::Redirect {
                    target: target.clone(),
                    location,
                }
                .into(),
            ))
        }
        _ => Err(Step::Fatal(
            HttpError::Status {
                target: target.clone(),
                status,
                info: info.map(Box::new),
            }
            .into(),
        )),
    }
}

/// How long a host that pushed back asks us to wait: its `Retry-After`, or the reset of a
/// rate-limit quota it says is spent.
pub fn wait_asked(headers: &HeaderMap) -> Option<Duration> {
    retry_after(headers).or_else(|| {
        let quota = super::pace::announced(headers)?;
        quota.reset.filter(|_| quota.remaining == Some(0))
    })
}

/// `Retry-After` as delta-seconds or an HTTP-date, clamped at zero.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The certificate problem behind a failed handshake, if that is what failed.
///
/// rustls reports it inside an `io::Error`, whose `source()` skips the error it wraps, so every
/// `io::Error` in reqwest's chain is opened up as well.
fn certificate_rejection(err: &reqwest::Error) -> Option<&CertificateError> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let mut layer: &(dyn std::error::Error + 'static) = s;
        loop {
            if let Some(rustls::Error::InvalidCertificate(problem)) = layer.downcast_ref() {
                return Some(problem);
            }
            match layer
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => layer = inner,
                None => break,
            }
        }
        source = s.source();
    }
    None
}

/// The problem in words; rustls's own are terse for the commonest ones.
fn certificate_reason(problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => {
            "it is not issued by an authority this machine trusts (UnknownIssuer)".to_string()
        }
        CertificateError::BadSignature => {
            "its signature does not match its issuer's key (BadSignature)".to_string()
        }
        other if is_ca_as_server(other) => {
            "the server presents an authority's certificate (CA:TRUE) as its own, as \
             `openssl req -x509` makes them (CaUsedAsEndEntity)"
                .to_string()
        }
        other => other.to_string(),
    }
}

/// webpki's `CaUsedAsEndEntity`, which rustls passes on as an "other" error.
fn is_ca_as_server(problem: &CertificateError) -> bool {
    format!("{problem:?}").contains("CaUsedAsEndEntity")
}

/// What a person can do about a rejected certificate.
fn certificate_hint(problem: &CertificateError) -> &'static str {
    match problem {
        other if is_ca_as_server(other) => {
            " — if it is the district's own self-signed certificate, name that very file with \
             --ca-cert FILE or --pin-cert FILE to trust exactly it"
        }
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            " — if the server's certificate comes from a private authority (the district's own, or \
             a TLS-inspecting proxy's), trust that authority with --ca-cert FILE"
        }
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => {
            " — check this machine's clock and date, and the dates of the server's certificate"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            " — the certificate does not cover the host name in the URL; check the URL"
        }
        _ => "",
    }
}

/// One line for a transport failure, walking the source chain for the useful part.
fn describe_transport(err: &reqwest::Error) -> String {
    if let Some(unreachable) = super::reach::cannot_reach(err) {
        return unreachable;
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the response body broke off"
    } else {
        "the request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let text = jiff::fmt::rfc2822::to_string(&soon.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&text).unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        for attempt in 1..10 {
            let d = p.backoff(attempt);
            let step =
                (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
    }

    fn reply(status: u16, body: &'static str) -> Result<Reply, AttemptError> {
        Ok(Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.into(),
        })
    }

    #[test]
    fn statuses_are_sorted() {
        let t = Target::token(&url::Url::parse("http://127.0.0.1/token").unwrap());
        assert!(classify::<(), HttpError>(&t, reply(200, "{}")).is_ok());
        assert!(classify::<(), HttpError>(&t, reply(401, "{}")).is_ok());
        assert!(matches!(
            classify::<(), HttpError>(&t, reply(429, "")),
            Err(Step::Retry {
                rate_limited: true,
                ..
            })
        ));
        assert!(matches!(
            classify::<(), HttpError>(&t, reply(503, "")),
            Err(Step::Retry { .. })
        ));
        match classify::<(), HttpError>(
            &t,
            reply(
                400,
                r#"{"imsx_codeMajor":"failure","imsx_description":"bad limit"}"#,
            ),
        ) {
            Err(Step::Fatal(e)) => assert!(
                e.to_string().contains("HTTP 400 Bad Request (bad limit)"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
