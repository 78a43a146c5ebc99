//! Pacing per host (origin): how fast and how many requests at once, found from what the host
//! says and does instead of from the user knowing its limit.
//!
//! Each origin has one [`Pacer`], shared by every request to it (collections, token requests, and
//! later every tenant on that host). A pacer holds two limits and lets a request go only when both
//! allow it:
//! - a rate, kept as a GCRA token bucket whose rate can change: it starts modestly and grows while
//!   the host answers cleanly; a 429/503 sets it just under the rate the host was seen to admit;
//!   afterwards it probes upward slowly. A limit the host announces (`RateLimit-*`,
//!   `X-RateLimit-*`) is followed from the first reply, before any 429.
//! - a concurrency window: it grows while latency stays flat and the window is full, holds when
//!   latency climbs, and shrinks on 429/503.
//!
//! A number the user gives (`--rate 20`, `--concurrency 8`) is a ceiling the pacer never exceeds and
//! starts at. `Retry-After` delays the refused request; a host that keeps refusing within that
//! time, or asks for a long wait, pauses every request to it. Everything runs on tokio's clock, so
//! the control law is tested on paused time.

mod signals;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use signals::{Announced, announced};

/// A limit: found by the pacer (`auto`), or at most the given value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit<T> {
    Auto,
    Max(T),
}

impl<T: FromStr> FromStr for Limit<T> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Limit::Auto);
        }
        text.parse()
            .map(Limit::Max)
            .map_err(|_| format!("expected `auto` or a number, got {text:?}"))
    }
}

impl<T: fmt::Display> fmt::Display for Limit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Auto => f.write_str("auto"),
            Limit::Max(n) => write!(f, "{n}"),
        }
    }
}

impl<'de, T: serde::Deserialize<'de> + FromStr> serde::Deserialize<'de> for Limit<T> {
    /// A number, or a string as the flag takes it (`"auto"`, `"20"`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw<T> {
            Number(T),
            Text(String),
        }
        match Raw::<T>::deserialize(d)? {
            Raw::Number(n) => Ok(Limit::Max(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// How the pacers of a run start and what they never exceed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceSettings {
    /// Requests per second to each host.
    pub rate: Limit<f64>,
    /// Requests in flight to each host.
    pub concurrency: Limit<usize>,
    /// Requests a fixed rate lets through at once after a quiet spell.
    pub burst: u32,
}

impl PaceSettings {
    /// Where an `auto` rate starts: modest, as a careful client would.
    pub const START_RATE: f64 = 10.0;
    /// Where an `auto` window starts.
    pub const START_CONCURRENCY: usize = 4;
    /// The most requests in flight to one host that `auto` grows to.
    pub const AUTO_MAX_CONCURRENCY: usize = 32;

    /// The most requests that can be in flight to one host.
    pub fn max_concurrency(&self) -> usize {
        match self.concurrency {
            Limit::Auto => Self::AUTO_MAX_CONCURRENCY,
            Limit::Max(n) => n.max(1),
        }
    }
}

impl Default for PaceSettings {
    fn default() -> Self {
        PaceSettings {
            rate: Limit::Auto,
            concurrency: Limit::Auto,
            burst: 1,
        }
    }
}

/// Margin kept under a limit the host announces.
const UNDER_ANNOUNCED: f64 = 0.99;
/// After a 429, the new rate as a share of what the host was seen to admit.
const AFTER_PUSHBACK: f64 = 0.9;
/// The most one pushback cuts the rate to, as a share of it (before [`AFTER_PUSHBACK`]).
const DEEPEST_CUT: f64 = 0.5;
/// A quota announced without its window whose remaining/reset is within this share of its
/// sustained rate is a bucket near full (its reset rounded up to whole seconds), not running out.
const NEAR_FULL: f64 = 0.9;
/// How often a rate still looking for its ceiling grows, and by how much.
const SLOW_START_EVERY: Duration = Duration::from_millis(100);
const SLOW_START_GROWTH: f64 = 1.5;
/// How often a rate that met the ceiling probes upward, and by how much.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_GROWTH: f64 = 1.02;
/// The window over which admitted requests are counted to estimate the host's rate.
const ADMITTED_WINDOW: Duration = Duration::from_secs(2);
/// A `Retry-After` this long pauses every request to the host at once.
const LONG_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Latency this many times the best seen counts as climbing.
const LATENCY_CLIMBING: f64 = 2.0;
/// The slowest rate ever used, so a run always makes progress.
const MIN_RATE: f64 = 0.1;

/// The pacers of a run (later of a whole fleet), one per origin.
#[derive(Debug)]
pub struct Pacing {
    settings: PaceSettings,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
}

impl Pacing {
    pub fn new(settings: PaceSettings) -> Arc<Pacing> {
        Arc::new(Pacing {
            settings,
            pacers: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> PaceSettings {
        self.settings
    }

    /// The pacer of `origin` (`scheme://host:port`), made on first use.
    pub fn pacer(&self, origin: &str) -> Arc<Pacer> {
        self.pacer_for(origin, self.settings)
    }

    /// The pacer of `origin` for a user with `settings` (a tenant of a fleet): made with them on
    /// first use; a pacer already there keeps its state and takes on the lower of the caps, so
    /// the strictest limit configured for a shared host holds for every tenant on it.
    pub fn pacer_for(&self, origin: &str, settings: PaceSettings) -> Arc<Pacer> {
        let mut pacers = self.pacers.lock().expect("pacer map lock");
        match pacers.get(origin) {
            Some(pacer) => {
                pacer.cap(settings);
                pacer.clone()
            }
            None => {
                let pacer = Arc::new(Pacer::new(origin, settings));
                pacers.insert(origin.to_string(), pacer.clone());
                pacer
            }
        }
    }

    /// What each host's pacer found, in origin order.
    pub fn report(&self) -> Vec<HostReport> {
        let pacers = self.pacers.lock().expect("pacer map lock");
        let mut reports: Vec<HostReport> = pacers.values().map(|p| p.report()).collect();
        reports.sort_by(|a, b| a.origin.cmp(&b.origin));
        reports
    }
}

/// What a pacer found about its host, for the run summary.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    pub origin: String,
    pub requests: u64,
    /// Replies that asked to slow down (429, 503, a quota 403).
    pub pushbacks: u64,
    /// The rate in force at the end; `None` when no rate had to be kept.
    pub rate: Option<f64>,
    /// Whether the host announced its limit.
    pub announced: bool,
    /// The concurrency window at the end, and the most requests that were in flight.
    pub concurrency: usize,
    pub peak_in_flight: usize,
}

impl fmt::Display for HostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        match (self.rate, self.announced) {
            (Some(rate), true) => write!(f, "{rate:.1} req/s (announced by the host)")?,
            (Some(rate), false) if self.pushbacks > 0 => write!(f, "~{rate:.1} req/s allowed")?,
            (Some(rate), false) => write!(f, "{rate:.1} req/s, no limit met")?,
            (None, _) => f.write_str("no rate limit met")?,
        }
        write!(
            f,
            ", concurrency {} (peak {}), {} requests, {} asked to slow down",
            self.concurrency, self.peak_in_flight, self.requests, self.pushbacks
        )
    }
}

/// What came back for a paced request.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The host answered (any status).
    Answered {
        status: StatusCode,
        headers: &'a HeaderMap,
        /// Its `Retry-After`, already read.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, timed out.
    Failed,
}

/// One origin's pacer.
#[derive(Debug)]
pub struct Pacer {
    origin: String,
    state: Mutex<State>,
    changed: Notify,
    /// Waiters take their turn in arrival order (tokio's mutex is fair): only the first checks
    /// the gate. Woken all at once, they went in whatever order the scheduler ran them, so a
    /// walk's next page in order could wait behind later ones while finished pages filled its
    /// window (16 allowed, 13-14 in flight on average).
    queue: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    /// Requests per second now; `None` while no rate has to be kept (never, at present).
    rate: f64,
    rate_ceiling: Option<f64>,
    /// GCRA: the theoretical arrival time of the next request.
    tat: Instant,
    /// How far ahead of `tat` a request may go (burst − 1 intervals).
    burst: u32,
    /// Still growing fast (no pushback yet, nothing announced).
    rate_slow_start: bool,
    /// When the rate may grow next.
    next_growth: Instant,
    /// A request waited for the rate since the last growth: the rate is what holds us back.
    rate_bound: bool,
    /// The host's announced limit, when it sends one.
    announced: Option<Announced>,
    /// For a limit announced without its window (`X-RateLimit-Limit` and `-Reset` only): the
    /// longest reset seen, which is the window once one has just begun.
    window_seen: Duration,
    /// Successful replies in the last [`ADMITTED_WINDOW`].
    admitted: VecDeque<Instant>,
    first_request: Option<Instant>,
    /// Nobody sends before this.
    pause_until: Option<Instant>,
    last_pushback: Option<Instant>,

    window: f64,
    ceiling: usize,
    window_slow_start: bool,
    in_flight: usize,
    peak_in_flight: usize,
    /// The window was full at some point this round.
    saturated: bool,
    /// Latency: the best of recent samples, and this round's.
    best_rtt: VecDeque<Duration>,
    round: Vec<Duration>,
    round_pushback: bool,

    requests: u64,
    pushbacks: u64,
    /// Replies that were not a pushback, and when the last came.
    ok: u64,
    last_ok: Option<Instant>,
}

/// What an attempt to go found.
enum Gate {
    Go,
    Until(Instant),
    Wait,
}

impl Pacer {
    fn new(origin: &str, settings: PaceSettings) -> Pacer {
        let now = Instant::now();
        let (rate, rate_ceiling, rate_slow_start) = match settings.rate {
            Limit::Auto => (PaceSettings::START_RATE, None, true),
            Limit::Max(r) => (r.max(MIN_RATE), Some(r.max(MIN_RATE)), false),
        };
        let (window, window_slow_start) = match settings.concurrency {
            Limit::Auto => (PaceSettings::START_CONCURRENCY as f64, true),
            Limit::Max(n) => (n.max(1) as f64, false),
        };
        Pacer {
            origin: origin.to_string(),
            state: Mutex::new(State {
                rate,
                rate_ceiling,
                tat: now,
                burst: settings.burst.max(1),
                rate_slow_start,
                next_growth: now + SLOW_START_EVERY,
                rate_bound: false,
                announced: None,
                window_seen: Duration::ZERO,
                admitted: VecDeque::new(),
                first_request: None,
                pause_until: None,
                last_pushback: None,
                window,
                ceiling: settings.max_concurrency(),
                window_slow_start,
                in_flight: 0,
                peak_in_flight: 0,
                saturated: false,
                best_rtt: VecDeque::new(),
                round: Vec::new(),
                round_pushback: false,
                requests: 0,
                pushbacks: 0,
                ok: 0,
                last_ok: None,
            }),
            changed: Notify::new(),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Lowers the caps to those of `settings` where they are lower (never raises them).
    fn cap(&self, settings: PaceSettings) {
        let mut s = self.state.lock().expect("pacer lock");
        if let Limit::Max(r) = settings.rate {
            let r = r.max(MIN_RATE);
            if s.rate_ceiling.is_none_or(|c| r < c) {
                s.rate_ceiling = Some(r);
                s.rate = s.rate.min(r);
            }
        }
        if let Limit::Max(n) = settings.concurrency {
            let n = n.max(1);
            if n < s.ceiling {
                s.ceiling = n;
                s.window = s.window.min(n as f64);
            }
        }
    }

    /// Waits until a request may go, and counts it in flight until the slot is finished or dropped.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        let _turn = self.queue.lock().await;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let gate = self
                .state
                .lock()
                .expect("pacer lock")
                .try_go(Instant::now());
            match gate {
                Gate::Go => {
                    return Slot {
                        pacer: self.clone(),
                        started: Instant::now(),
                        finished: false,
                    };
                }
                Gate::Until(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = notified => {}
                    }
                }
                Gate::Wait => notified.await,
            }
        }
    }

    /// What the pacer found so far.
    pub fn report(&self) -> HostReport {
        let s = self.state.lock().expect("pacer lock");
        let announced = s.announces_its_limit();
        let mut rate = s.rate;
        if s.pushbacks > 0 && !announced {
            // A host that refused some requests allowed at most what it admitted over the run;
            // the rate in force can be higher (a fixed window admits bursts), and pinning that
            // would meet 429s again.
            if let (Some(first), Some(last)) = (s.first_request, s.last_ok) {
                let over = last.duration_since(first).as_secs_f64();
                if over >= 1.0 {
                    rate = rate.min(s.ok as f64 / over);
                }
            }
        }
        HostReport {
            origin: self.origin.clone(),
            requests: s.requests,
            pushbacks: s.pushbacks,
            rate: Some(rate),
            announced,
            concurrency: s.window.floor() as usize,
            peak_in_flight: s.peak_in_flight,
        }
    }

    fn finish(&self, started: Instant, outcome: Outcome<'_>) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("pacer lock");
        s.in_flight -= 1;
        s.record(now, started, outcome);
        drop(s);
        self.changed.notify_waiters();
    }

    fn release(&self) {
        self.state.lock().expect("pacer lock").in_flight -= 1;
        self.changed.notify_waiters();
    }
}

impl State {
    /// Whether the host states its limit: a quota with its window, or one whose window the
    /// resets showed.
    fn announces_its_limit(&self) -> bool {
        self.announced.is_some_and(|a| {
            a.rate().is_some() || (a.limit.is_some() && !self.window_seen.is_zero())
        })
    }

    fn try_go(&mut self, now: Instant) -> Gate {
        if let Some(until) = self.pause_until {
            if until > now {
                return Gate::Until(until);
            }
            self.pause_until = None;
        }
        if self.in_flight >= (self.window.floor() as usize).max(1) {
            self.saturated = true;
            return Gate::Wait;
        }
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        let tolerance = interval * (self.burst - 1);
        let at = self.tat.max(now);
        if at > now + tolerance {
            self.rate_bound = true;
            return Gate::Until(at - tolerance);
        }
        self.tat = at + interval;
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
        if self.in_flight >= self.window.floor() as usize {
            self.saturated = true;
        }
        self.requests += 1;
        self.first_request.get_or_insert(now);
        Gate::Go
    }

    fn record(&mut self, now: Instant, sent: Instant, outcome: Outcome<'_>) {
        let rtt = now - sent;
        let Outcome::Answered {
            status,
            headers,
            retry_after,
        } = outcome
        else {
            self.sample(rtt);
            return;
        };
        if let Some(found) = announced(headers) {
            self.follow(now, found);
        }
        let pushback = status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
            || (status == StatusCode::FORBIDDEN && retry_after.is_some());
        if pushback {
            self.pushback(now, sent, status, retry_after);
            return;
        }
        self.ok += 1;
        self.last_ok = Some(now);
        self.admitted.push_back(now);
        while self
            .admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) > ADMITTED_WINDOW)
        {
            self.admitted.pop_front();
        }
        self.sample(rtt);
        self.grow_rate(now);
    }

    /// A limit the host announced: pace under it from now on, and wait out an exhausted quota.
    fn follow(&mut self, now: Instant, found: Announced) {
        let mut rate = found.rate().map(|r| r * UNDER_ANNOUNCED);
        if let (Some(left), Some(reset)) = (found.remaining, found.reset) {
            if left == 0 && !reset.is_zero() {
                self.pause(now + reset);
            } else if found.rate().is_none() && !reset.is_zero() {
                self.window_seen = self.window_seen.max(reset);
                // A quota with no window: what is left spread over the time to its reset, but
                // no faster than the whole quota over the longest window seen, which is the
                // sustained rate (a reset in whole epoch seconds makes the first figure jumpy).
                let left_rate = left as f64 / reset.as_secs_f64();
                let sustained = found
                    .limit
                    .map_or(f64::INFINITY, |l| l as f64 / self.window_seen.as_secs_f64());
                let kept = if left_rate >= NEAR_FULL * sustained {
                    sustained
                } else {
                    left_rate
                };
                rate = Some(kept * UNDER_ANNOUNCED);
            }
        }
        self.announced = Some(found);
        if let Some(rate) = rate {
            self.rate = self.capped(rate);
            self.rate_slow_start = false;
        }
    }

    /// A 429, 503 or quota 403: slow down to just under what the host was seen to admit. Replies
    /// to requests sent before the last slow-down are counted but change nothing: they were sent
    /// at the old pace, and one burst must not cut the rate once per request in it.
    fn pushback(
        &mut self,
        now: Instant,
        sent: Instant,
        status: StatusCode,
        retry_after: Option<Duration>,
    ) {
        self.pushbacks += 1;
        if self.last_pushback.is_some_and(|last| sent < last) {
            return;
        }
        self.round_pushback = true;
        // A 503 that names no wait says the host is overloaded, not that we ask too often (a
        // flaky proxy says it too): fewer at once, the same rate.
        let overloaded = status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_none();
        if !overloaded && !self.announces_its_limit() {
            let since = self
                .first_request
                .map_or(ADMITTED_WINDOW, |t| now.duration_since(t))
                .clamp(Duration::from_millis(250), ADMITTED_WINDOW);
            let admitted = self.admitted.len() as f64 / since.as_secs_f64();
            // What was admitted is the host's limit only when we asked for more; when we asked
            // for less (a small collection, a pause), it says little: never more than halve.
            let kept = self.rate.min(admitted).max(self.rate * DEEPEST_CUT);
            self.rate = self.capped(kept * AFTER_PUSHBACK);
            self.rate_slow_start = false;
            self.next_growth = now + PROBE_EVERY;
        }
        self.window_slow_start = false;
        let shrink = if status == StatusCode::SERVICE_UNAVAILABLE {
            0.75
        } else {
            0.9
        };
        self.window = (self.window * shrink).max(1.0);
        if let Some(wait) = retry_after {
            // Refused again though sent after the last slow-down, within the time the host named.
            let again = self
                .last_pushback
                .is_some_and(|last| now.duration_since(last) < wait);
            // The refused request waits anyway; the rest wait too when the host insists.
            if again || wait >= LONG_RETRY_AFTER {
                self.pause(now + wait);
            }
        }
        self.last_pushback = Some(now);
        // The bucket restarts from now at the new rate.
        self.tat = self.tat.min(now + Duration::from_secs_f64(1.0 / self.rate));
    }

    fn pause(&mut self, until: Instant) {
        if self.pause_until.is_none_or(|p| p < until) {
            self.pause_until = Some(until);
        }
    }

    fn capped(&self, rate: f64) -> f64 {
        rate.min(self.rate_ceiling.unwrap_or(f64::INFINITY))
            .max(MIN_RATE)
    }

    /// Clean replies let the rate grow: fast until the host first pushes back, then slowly.
    fn grow_rate(&mut self, now: Instant) {
        if now < self.next_growth {
            return;
        }
        let announced = self.announces_its_limit();
        if self.rate_bound && !announced {
            let growth = if self.rate_slow_start {
                SLOW_START_GROWTH
            } else {
                PROBE_GROWTH
            };
            self.rate = self.capped(self.rate * growth);
        }
        self.rate_bound = false;
        self.next_growth = now
            + if self.rate_slow_start {
                SLOW_START_EVERY
            } else {
                PROBE_EVERY
            };
    }

    /// A latency sample; once per window's worth of replies the window is adjusted.
    fn sample(&mut self, rtt: Duration) {
        self.best_rtt.push_back(rtt);
        if self.best_rtt.len() > 64 {
            self.best_rtt.pop_front();
        }
        self.round.push(rtt);
        if self.round.len() < (self.window.floor() as usize).max(1) {
            return;
        }
        let best = self.best_rtt.iter().min().copied().unwrap_or(rtt);
        let mut round = std::mem::take(&mut self.round);
        round.sort_unstable();
        let median = round[round.len() / 2];
        let climbing = median.as_secs_f64() > best.as_secs_f64() * LATENCY_CLIMBING;
        if self.round_pushback {
            // Already shrunk when the pushback came.
        } else if climbing {
            self.window_slow_start = false;
        } else if self.saturated {
            self.window = if self.window_slow_start {
                self.window * 2.0
            } else {
                self.window + 1.0
            }
            .min(self.ceiling as f64);
        }
        self.saturated = self.in_flight >= self.window.floor() as usize;
        self.round_pushback = false;
    }
}

/// A request's place with its host's pacer: held while it is in flight.
#[derive(Debug)]
pub struct Slot {
    pacer: Arc<Pacer>,
    started: Instant,
    finished: bool,
}

impl Slot {
    /// Reports what came back, which the pacer learns from.
    pub fn finish(mut self, outcome: Outcome<'_>) {
        self.finished = true;
        self.pacer.finish(self.started, outcome);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.finished {
            self.pacer.release();
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn a_shared_host_keeps_the_lowest_cap_of_its_users() {
        let pacing = Pacing::new(PaceSettings::default());
        let first = pacing.pacer_for("https://h.example", PaceSettings::default());
        let capped = PaceSettings {
            rate: Limit::Max(5.0),
            concurrency: Limit::Max(2),
            burst: 1,
        };
        let second = pacing.pacer_for("https://h.example", capped);
        assert!(Arc::ptr_eq(&first, &second), "one pacer per origin");
        let report = second.report();
        assert!(report.rate.is_some_and(|r| r <= 5.0), "{report:?}");
        assert!(report.concurrency <= 2, "{report:?}");
        // A later, looser cap does not raise it.
        let looser = PaceSettings {
            rate: Limit::Max(50.0),
            concurrency: Limit::Max(16),
            burst: 1,
        };
        let report = pacing.pacer_for("https://h.example", looser).report();
        assert!(report.rate.is_some_and(|r| r <= 5.0), "{report:?}");
        assert!(report.concurrency <= 2, "{report:?}");
        assert_eq!(pacing.report().len(), 1);
    }
}
