//! The control law against simulated hosts on tokio's paused clock: a token bucket that only says
//! 429, one that announces its limit, a fixed window, and a host with no limit but latency. The
//! figures asserted here are the targets, reached in virtual time.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};

use super::*;

/// A host's limit, simulated: a token bucket of `rate` per second holding at most `burst`.
struct Host {
    rate: f64,
    burst: f64,
    latency: Duration,
    /// Announce the limit in IETF headers on every reply.
    announce: bool,
    bucket: Mutex<(f64, Instant)>,
    /// Every this many requests is answered 503 whatever the rate (0: never): a flaky proxy.
    fail_every: u64,
    ok: AtomicU64,
    refused: AtomicU64,
}

impl Host {
    fn new(rate: f64, burst: f64, latency: Duration, announce: bool) -> Arc<Host> {
        Arc::new(Host {
            rate,
            burst,
            latency,
            announce,
            bucket: Mutex::new((burst, Instant::now())),
            fail_every: 0,
            ok: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Whether a request arriving now is admitted, and the headers of the reply.
    fn admit(&self) -> (StatusCode, HeaderMap) {
        let now = Instant::now();
        let seen = self.ok.load(Ordering::Relaxed) + self.refused.load(Ordering::Relaxed);
        if self.fail_every > 0 && seen % self.fail_every == self.fail_every - 1 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new());
        }
        let mut bucket = self.bucket.lock().unwrap();
        let (tokens, at) = *bucket;
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * self.rate).min(self.burst);
        let mut headers = HeaderMap::new();
        let status = if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            self.ok.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        } else {
            *bucket = (tokens, now);
            self.refused.fetch_add(1, Ordering::Relaxed);
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            StatusCode::TOO_MANY_REQUESTS
        };
        if self.announce {
            let policy = format!("\"default\";q={};w=1", self.rate as u64);
            let state = format!("\"default\";r={};t=1", tokens.max(0.0).floor() as u64);
            for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
        }
        (status, headers)
    }
}

/// `workers` loops sending requests through `pacer` to `host` for `run` of virtual time, each
/// refused request retried after its Retry-After. Returns admitted requests per second.
async fn drive(pacer: Arc<Pacer>, host: Arc<Host>, workers: usize, run: Duration) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (pacer, host) = (pacer.clone(), host.clone());
            tokio::spawn(async move {
                while started.elapsed() < run {
                    let slot = pacer.acquire().await;
                    tokio::time::sleep(host.latency).await;
                    let (status, headers) = host.admit();
                    let retry_after = super::super::retry_after(&headers);
                    slot.finish(Outcome::Answered {
                        status,
                        headers: &headers,
                        retry_after,
                    });
                    if let Some(wait) = retry_after {
                        tokio::time::sleep(wait).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    host.ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn pacer(settings: PaceSettings) -> Arc<Pacer> {
    Pacing::new(settings).pacer("http://host.test")
}

fn share_refused(host: &Host) -> f64 {
    let ok = host.ok.load(Ordering::Relaxed) as f64;
    let refused = host.refused.load(Ordering::Relaxed) as f64;
    refused / (ok + refused)
}

#[tokio::test(start_paused = true)]
async fn an_unannounced_limit_is_found_and_kept_with_few_429s() {
    let host = Host::new(20.0, 5.0, Duration::from_millis(20), false);
    let p = pacer(PaceSettings::default());
    let rate = drive(p.clone(), host.clone(), 16, Duration::from_secs(30)).await;
    let refused = share_refused(&host);
    assert!(rate >= 0.9 * 20.0, "{rate:.2} req/s admitted");
    assert!(refused <= 0.03, "{:.1}% refused", refused * 100.0);
    let report = p.report();
    assert!(report.pushbacks >= 1 && !report.announced, "{report}");
    let found = report.rate.unwrap();
    assert!((17.0..=21.0).contains(&found), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_ceiling_far_above_the_limit_still_ends_near_it() {
    // The user asked for --rate 1000 --concurrency 16 against a host allowing 20/s.
    let host = Host::new(20.0, 5.0, Duration::from_millis(20), false);
    let p = pacer(PaceSettings {
        rate: Limit::Max(1000.0),
        concurrency: Limit::Max(16),
        burst: 1,
    });
    let rate = drive(p, host.clone(), 16, Duration::from_secs(30)).await;
    assert!(rate >= 0.85 * 20.0, "{rate:.2} req/s admitted");
}

#[tokio::test(start_paused = true)]
async fn an_announced_limit_is_kept_from_the_first_reply_without_429s() {
    let host = Host::new(20.0, 5.0, Duration::from_millis(20), true);
    let p = pacer(PaceSettings::default());
    let rate = drive(p.clone(), host.clone(), 16, Duration::from_secs(30)).await;
    assert_eq!(host.refused.load(Ordering::Relaxed), 0);
    assert!(rate >= 0.95 * 20.0, "{rate:.2} req/s admitted");
    assert!(p.report().announced);
}

#[tokio::test(start_paused = true)]
async fn without_a_limit_the_window_grows_to_its_ceiling_fast() {
    // 506 pages of 50 ms: at 16 in flight the floor is 1.58 s.
    let host = Host::new(1e9, 1e9, Duration::from_millis(50), false);
    let tuned = pacer(PaceSettings {
        rate: Limit::Max(1000.0),
        concurrency: Limit::Max(16),
        burst: 1,
    });
    let auto = pacer(PaceSettings::default());
    for (name, p) in [("tuned", tuned), ("auto", auto)] {
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (p, host, done) = (p.clone(), host.clone(), done.clone());
                tokio::spawn(async move {
                    while done.fetch_add(1, Ordering::SeqCst) < 506 {
                        let slot = p.acquire().await;
                        tokio::time::sleep(host.latency).await;
                        let (status, headers) = host.admit();
                        slot.finish(Outcome::Answered {
                            status,
                            headers: &headers,
                            retry_after: None,
                        });
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let took = started.elapsed().as_secs_f64();
        let floor = 506.0 * 0.05 / 16.0;
        let bound = if name == "tuned" { 1.15 } else { 1.3 * 1.15 };
        assert!(
            took <= floor * bound,
            "{name}: {took:.2} s, floor {floor:.2} s"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_fixed_rate_is_never_exceeded() {
    let host = Host::new(1e9, 1e9, Duration::from_millis(5), false);
    let p = pacer(PaceSettings {
        rate: Limit::Max(5.0),
        concurrency: Limit::Auto,
        burst: 1,
    });
    let started = Instant::now();
    drive(p, host.clone(), 8, Duration::from_secs(10)).await;
    // One at t = 0, then one every 200 ms for as long as the workers kept asking.
    let sent = host.ok.load(Ordering::Relaxed) as f64;
    let most = 1.0 + 5.0 * started.elapsed().as_secs_f64();
    assert!(
        sent <= most && sent >= most - 2.0,
        "{sent} sent, at most {most}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_pass_a_request_already_waiting() {
    let p = pacer(PaceSettings {
        rate: Limit::Max(1000.0),
        concurrency: Limit::Max(1),
        burst: 1,
    });
    let held = p.acquire().await;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let waiting = tokio::spawn({
        let (p, order) = (p.clone(), order.clone());
        async move {
            let slot = p.acquire().await;
            order.lock().unwrap().push("waiting");
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(slot);
        }
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    // The slot frees and a newcomer asks at once, before the waiter has run again: it must
    // queue behind the waiter (a walk's next page waits behind no later one).
    drop(held);
    let slot = p.acquire().await;
    order.lock().unwrap().push("newcomer");
    drop(slot);
    waiting.await.unwrap();
    assert_eq!(*order.lock().unwrap(), vec!["waiting", "newcomer"]);
}

#[tokio::test(start_paused = true)]
async fn a_long_retry_after_pauses_every_request() {
    let p = pacer(PaceSettings::default());
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
    p.acquire().await.finish(Outcome::Answered {
        status: StatusCode::TOO_MANY_REQUESTS,
        headers: &headers,
        retry_after: Some(Duration::from_secs(30)),
    });
    let before = Instant::now();
    drop(p.acquire().await);
    assert_eq!(before.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_quota_waits_for_its_reset() {
    let p = pacer(PaceSettings::default());
    let mut headers = HeaderMap::new();
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("1200"));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    headers.insert("x-ratelimit-reset", HeaderValue::from_static("12"));
    p.acquire().await.finish(Outcome::Answered {
        status: StatusCode::OK,
        headers: &headers,
        retry_after: None,
    });
    let before = Instant::now();
    drop(p.acquire().await);
    assert_eq!(before.elapsed(), Duration::from_secs(12));
}

#[test]
fn limits_parse_from_flags_and_the_config_file() {
    assert_eq!("auto".parse::<Limit<f64>>(), Ok(Limit::Auto));
    assert_eq!(" 2.5 ".parse::<Limit<f64>>(), Ok(Limit::Max(2.5)));
    assert!("fast".parse::<Limit<usize>>().is_err());
    #[derive(serde::Deserialize)]
    struct P {
        rate: Limit<f64>,
        concurrency: Limit<usize>,
    }
    let p: P = toml::from_str("rate = 20\nconcurrency = \"auto\"").unwrap();
    assert_eq!((p.rate, p.concurrency), (Limit::Max(20.0), Limit::Auto));
}

#[tokio::test(start_paused = true)]
async fn a_quota_without_its_window_is_paced_at_its_sustained_rate() {
    // Clever's way: 1200 a minute in a fixed window, `X-RateLimit-*` only, no window stated.
    let p = pacer(PaceSettings::default());
    let reply = |remaining: &'static str, reset: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("1200"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static(remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static(reset));
        headers
    };
    // A window just begun, then one about to end with most of its quota left.
    for (remaining, reset) in [("1199", "60"), ("1100", "2")] {
        p.acquire().await.finish(Outcome::Answered {
            status: StatusCode::OK,
            headers: &reply(remaining, reset),
            retry_after: None,
        });
    }
    let rate = p.report().rate.unwrap();
    // 1100 left over 2 s would be 550/s; the sustained rate is 20/s.
    assert!((19.0..=20.0).contains(&rate), "{rate}");
}

#[tokio::test(start_paused = true)]
async fn stray_503s_from_a_host_with_no_limit_do_not_starve_the_run() {
    // No limit, 50 ms a reply, one reply in 20 a 503 (a flaky proxy, not a limit).
    let host = Arc::new(Host {
        fail_every: 20,
        ..Arc::into_inner(Host::new(1e9, 1e9, Duration::from_millis(50), false)).unwrap()
    });
    let p = pacer(PaceSettings::default());
    let rate = drive(p.clone(), host.clone(), 32, Duration::from_secs(60)).await;
    // 16 in flight at 50 ms would be 320/s; a tenth of that still beats the fixed defaults.
    assert!(rate >= 40.0, "{rate:.1} req/s admitted; {}", p.report());
}
