//! Rate limits the sandbox can impose on its API: a token bucket or a fixed window, either silent
//! (429 and `Retry-After` only) or announced on every response in one of the header dialects
//! hosts use (docs/oneroster-notes.md §10). Time comes from tokio's clock, so tests can pause it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use tokio::time::Instant;

/// How many requests the limit lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// `per_second` requests a second on average, with bursts of up to `burst` after a pause.
    TokenBucket { per_second: u32, burst: u32 },
    /// `requests` per window of `window`, the windows back to back from the server's start (as
    /// Clever counts its 1,200 requests a minute).
    FixedWindow { requests: u32, window: Duration },
}

/// Which headers announce the limit on every API response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RateHeaders {
    /// The IETF draft's `RateLimit-Policy: "default";q=…;w=…` and `RateLimit: "default";r=…;t=…`.
    Ietf,
    /// The draft's older `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds).
    Legacy,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix epoch seconds).
    X,
}

/// A rate limit across all clients: the quota, and whether (and how) it is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub quota: Quota,
    /// `None`: unannounced, only 429 with `Retry-After` says anything.
    pub headers: Option<RateHeaders>,
}

impl RateLimit {
    /// `n` requests a second with bursts of `n`, unannounced (the sandbox's original limit).
    pub fn per_second(n: u32) -> RateLimit {
        RateLimit::bucket(n, n)
    }

    /// `per_second` requests a second with bursts of up to `burst`, unannounced.
    pub fn bucket(per_second: u32, burst: u32) -> RateLimit {
        RateLimit {
            quota: Quota::TokenBucket {
                per_second: per_second.max(1),
                burst: burst.max(1),
            },
            headers: None,
        }
    }

    /// `requests` per fixed `window`, unannounced.
    pub fn window(requests: u32, window: Duration) -> RateLimit {
        RateLimit {
            quota: Quota::FixedWindow {
                requests: requests.max(1),
                window: window.max(Duration::from_secs(1)),
            },
            headers: None,
        }
    }

    /// The same limit, announced in `headers` on every API response.
    pub fn announced(self, headers: RateHeaders) -> RateLimit {
        RateLimit {
            headers: Some(headers),
            ..self
        }
    }

    /// The policy's quota and window in whole seconds, as the headers state it: a bucket of
    /// burst B filling at N a second is N·w requests per w = ⌈B/N⌉ seconds, so the rate it
    /// states is N even when the window is rounded up (B per ⌈B/N⌉ would understate it).
    fn policy(&self) -> (u32, u64) {
        match self.quota {
            Quota::TokenBucket { per_second, burst } => {
                let window = burst.div_ceil(per_second).max(1);
                (per_second * window, u64::from(window))
            }
            Quota::FixedWindow { requests, window } => (requests, ceil_secs(window)),
        }
    }
}

/// What the limiter decided about one request, and the state to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub admitted: bool,
    /// Requests left now.
    pub remaining: u32,
    /// Until the quota is whole again (bucket full, window over).
    pub reset: Duration,
    /// Until the next request would be admitted, when this one was not.
    pub retry_after: Option<Duration>,
}

#[derive(Debug)]
enum State {
    Bucket { tokens: f64, at: Instant },
    Window { start: Instant, used: u32 },
}

/// Applies one [`RateLimit`].
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    state: Mutex<State>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Limiter {
        let now = Instant::now();
        let state = match limit.quota {
            Quota::TokenBucket { burst, .. } => State::Bucket {
                tokens: f64::from(burst),
                at: now,
            },
            Quota::FixedWindow { .. } => State::Window {
                start: now,
                used: 0,
            },
        };
        Limiter {
            limit,
            state: Mutex::new(state),
        }
    }

    /// Takes one request's worth of quota if there is any.
    pub(crate) fn check(&self) -> Decision {
        let now = Instant::now();
        let mut state = self.state.lock().expect("limiter lock");
        match (&mut *state, self.limit.quota) {
            (State::Bucket { tokens, at }, Quota::TokenBucket { per_second, burst }) => {
                let rate = f64::from(per_second);
                let burst = f64::from(burst);
                *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
                *at = now;
                let admitted = *tokens >= 1.0;
                if admitted {
                    *tokens -= 1.0;
                }
                Decision {
                    admitted,
                    remaining: tokens.floor() as u32,
                    reset: Duration::from_secs_f64((burst - *tokens) / rate),
                    retry_after: (!admitted)
                        .then(|| Duration::from_secs_f64((1.0 - *tokens) / rate)),
                }
            }
            (State::Window { start, used }, Quota::FixedWindow { requests, window }) => {
                let elapsed = now.duration_since(*start);
                if elapsed >= window {
                    // Whole windows passed: the current one began at a multiple of `window`.
                    let windows = elapsed.as_nanos() / window.as_nanos();
                    *start += window * u32::try_from(windows).unwrap_or(u32::MAX);
                    *used = 0;
                }
                let ends_in = (*start + window).saturating_duration_since(now);
                let admitted = *used < requests;
                if admitted {
                    *used += 1;
                }
                Decision {
                    admitted,
                    remaining: requests - *used,
                    reset: ends_in,
                    retry_after: (!admitted).then_some(ends_in),
                }
            }
            _ => unreachable!("the state is made from the quota"),
        }
    }

    /// Adds the announcing headers, if the limit is announced.
    pub(crate) fn announce(&self, decision: &Decision, headers: &mut HeaderMap) {
        let Some(dialect) = self.limit.headers else {
            return;
        };
        let (quota, window) = self.limit.policy();
        let reset = ceil_secs(decision.reset);
        let remaining = decision.remaining;
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        match dialect {
            RateHeaders::Ietf => {
                put(
                    "ratelimit-policy",
                    format!("\"default\";q={quota};w={window}"),
                );
                put("ratelimit", format!("\"default\";r={remaining};t={reset}"));
            }
            RateHeaders::Legacy => {
                put("ratelimit-limit", quota.to_string());
                put("ratelimit-remaining", remaining.to_string());
                put("ratelimit-reset", reset.to_string());
            }
            RateHeaders::X => {
                let epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                put("x-ratelimit-limit", quota.to_string());
                put("x-ratelimit-remaining", remaining.to_string());
                put("x-ratelimit-reset", (epoch + reset).to_string());
            }
        }
    }
}

/// `Retry-After` for a refused request: the wait in whole seconds, rounded up, at least 1.
pub(crate) fn retry_after(decision: &Decision, headers: &mut HeaderMap) {
    let wait = decision.retry_after.map_or(1, ceil_secs).max(1);
    headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(h: &HeaderMap, name: &str) -> String {
        h[name].to_str().unwrap().to_string()
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_admits_its_burst_then_one_per_refill() {
        let limiter = Limiter::new(RateLimit::bucket(2, 5));
        let admitted = (0..8).filter(|_| limiter.check().admitted).count();
        assert_eq!(admitted, 5, "the burst");
        let refused = limiter.check();
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, Some(Duration::from_millis(500)));
        let mut h = HeaderMap::new();
        retry_after(&refused, &mut h);
        assert_eq!(header(&h, "retry-after"), "1");
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!limiter.check().admitted);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(limiter.check().admitted, "one token after half a second");
        tokio::time::advance(Duration::from_secs(60)).await;
        let full = (0..8).filter(|_| limiter.check().admitted).count();
        assert_eq!(full, 5, "a long pause refills only up to the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_the_real_wait_rounded_up() {
        // One request every 4 s at most, no burst: the wait after a refusal is 4 s.
        let limiter = Limiter::new(RateLimit::window(1, Duration::from_secs(4)));
        assert!(limiter.check().admitted);
        tokio::time::advance(Duration::from_millis(1500)).await;
        let refused = limiter.check();
        assert_eq!(refused.retry_after, Some(Duration::from_millis(2500)));
        let mut h = HeaderMap::new();
        retry_after(&refused, &mut h);
        assert_eq!(header(&h, "retry-after"), "3");
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert!(limiter.check().admitted, "the next window has begun");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_window_resets_at_its_end_and_announces_it() {
        let limit = RateLimit::window(3, Duration::from_secs(60)).announced(RateHeaders::Ietf);
        let limiter = Limiter::new(limit);
        tokio::time::advance(Duration::from_secs(10)).await;
        let first = limiter.check();
        assert_eq!((first.admitted, first.remaining), (true, 2));
        let mut h = HeaderMap::new();
        limiter.announce(&first, &mut h);
        assert_eq!(header(&h, "ratelimit-policy"), "\"default\";q=3;w=60");
        assert_eq!(header(&h, "ratelimit"), "\"default\";r=2;t=50");
        assert!(limiter.check().admitted && limiter.check().admitted);
        let refused = limiter.check();
        assert_eq!((refused.admitted, refused.remaining), (false, 0));
        assert_eq!(refused.retry_after, Some(Duration::from_secs(50)));
        tokio::time::advance(Duration::from_secs(50)).await;
        let next = limiter.check();
        assert_eq!((next.admitted, next.remaining), (true, 2));
        assert_eq!(next.reset, Duration::from_secs(60));
        // Several idle windows later the window still starts on the grid.
        tokio::time::advance(Duration::from_secs(150)).await;
        assert_eq!(limiter.check().reset, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn every_dialect_names_limit_remaining_and_reset() {
        let bucket = RateLimit::bucket(10, 20);
        let legacy = Limiter::new(bucket.announced(RateHeaders::Legacy));
        let decision = legacy.check();
        let mut h = HeaderMap::new();
        legacy.announce(&decision, &mut h);
        assert_eq!(header(&h, "ratelimit-limit"), "20");
        assert_eq!(header(&h, "ratelimit-remaining"), "19");
        assert_eq!(
            header(&h, "ratelimit-reset"),
            "1",
            "0.1 s to refill, rounded up"
        );

        let x = Limiter::new(
            RateLimit::window(1200, Duration::from_secs(60)).announced(RateHeaders::X),
        );
        let decision = x.check();
        let mut h = HeaderMap::new();
        x.announce(&decision, &mut h);
        assert_eq!(header(&h, "x-ratelimit-limit"), "1200");
        assert_eq!(header(&h, "x-ratelimit-remaining"), "1199");
        let reset: u64 = header(&h, "x-ratelimit-reset").parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            (now + 59..=now + 61).contains(&reset),
            "epoch seconds: {reset} vs {now}"
        );

        let silent = Limiter::new(bucket);
        let decision = silent.check();
        let mut h = HeaderMap::new();
        silent.announce(&decision, &mut h);
        assert!(h.is_empty(), "unannounced");
        assert_eq!(RateLimit::bucket(5, 12).policy(), (15, 3));
        assert_eq!(RateLimit::bucket(20, 5).policy(), (20, 1));
        assert_eq!(RateLimit::per_second(20).policy(), (20, 1));
    }
}
