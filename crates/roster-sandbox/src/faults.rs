//! Fault injection: at a given rate, with a seed, a collection page is answered the way real hosts
//! fail — 429 with `Retry-After` in seconds or as an HTTP date, 500/502/503/504, a connection cut
//! before the response or in the middle of the body, invalid JSON, a response slower than the
//! client's timeout, a 401 on a token that is still valid, a wrong `X-Total-Count`, or a page that
//! repeats the previous page's last record.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One way of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    RateLimitedSeconds,
    RateLimitedDate,
    Status500,
    Status502,
    Status503,
    Status504,
    /// The connection closes before any response.
    Disconnect,
    /// 200 and the headers, then the connection closes halfway through the body.
    Truncated,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// The response comes after [`Faults::slow`].
    Slow,
    /// 401 although the token is valid.
    Unauthorized,
    /// A correct page under a wrong `X-Total-Count`.
    WrongTotal,
    /// The page also carries the previous page's last record.
    Duplicate,
    /// The page is served as if a record before it had just been deleted: everything shifts
    /// one place left (one record is skipped) and `X-Total-Count` drops by one.
    DriftDelete,
    /// As if a record had just been inserted before it: everything shifts one place right (a
    /// record repeats) and `X-Total-Count` grows by one.
    DriftInsert,
}

impl Fault {
    pub const ALL: [Fault; 15] = [
        Fault::RateLimitedSeconds,
        Fault::RateLimitedDate,
        Fault::Status500,
        Fault::Status502,
        Fault::Status503,
        Fault::Status504,
        Fault::Disconnect,
        Fault::Truncated,
        Fault::InvalidJson,
        Fault::Slow,
        Fault::Unauthorized,
        Fault::WrongTotal,
        Fault::Duplicate,
        Fault::DriftDelete,
        Fault::DriftInsert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimitedSeconds => "429-retry-after-seconds",
            Fault::RateLimitedDate => "429-retry-after-date",
            Fault::Status500 => "500",
            Fault::Status502 => "502",
            Fault::Status503 => "503",
            Fault::Status504 => "504",
            Fault::Disconnect => "disconnect",
            Fault::Truncated => "truncated-body",
            Fault::InvalidJson => "invalid-json",
            Fault::Slow => "slow",
            Fault::Unauthorized => "spurious-401",
            Fault::WrongTotal => "wrong-total-count",
            Fault::Duplicate => "duplicate-record",
            Fault::DriftDelete => "drift-delete",
            Fault::DriftInsert => "drift-insert",
        }
    }
}

/// Which faults, how often, from which seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Share of collection pages answered with a fault, 0.0 to 1.0.
    pub rate: f64,
    pub seed: u64,
    pub kinds: Vec<Fault>,
    /// How long a `Slow` response takes.
    pub slow: Duration,
    /// How many drift events (`DriftDelete`, `DriftInsert`) a run may see: a district's data
    /// changes a few times during a nightly pull, not on every page.
    pub drift_events: u32,
}

impl Faults {
    /// Every kind of fault at `rate`.
    pub fn all(rate: f64, seed: u64) -> Faults {
        Faults {
            rate,
            seed,
            kinds: Fault::ALL.to_vec(),
            slow: Duration::from_secs(3),
            drift_events: 2,
        }
    }
}

/// Draws faults and counts what it injected.
#[derive(Debug)]
pub(crate) struct Injector {
    faults: Faults,
    draws: AtomicU64,
    drift_left: AtomicU64,
    injected: Mutex<BTreeMap<Fault, u64>>,
    /// Pages each token has been served, so a spurious 401 only hits a token that has worked:
    /// a client that just replaced its token is owed a real chance with the new one.
    served: Mutex<BTreeMap<String, u64>>,
}

/// Pages a token must have been served before a spurious 401 may hit it.
const SERVED_BEFORE_SPURIOUS_401: u64 = 3;

impl Injector {
    pub fn new(faults: Faults) -> Injector {
        Injector {
            drift_left: AtomicU64::new(u64::from(faults.drift_events)),
            faults,
            draws: AtomicU64::new(0),
            injected: Mutex::new(BTreeMap::new()),
            served: Mutex::new(BTreeMap::new()),
        }
    }

    /// The fault for the next page request made with `token`, if any.
    pub fn draw(&self, token: &str) -> Option<Fault> {
        if self.faults.kinds.is_empty() || self.faults.rate <= 0.0 {
            return None;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let roll = mix(self.faults.seed, n);
        if (roll >> 11) as f64 / (1u64 << 53) as f64 >= self.faults.rate {
            return None;
        }
        let fault = self.faults.kinds[(mix(roll, 7) % self.faults.kinds.len() as u64) as usize];
        if matches!(fault, Fault::DriftDelete | Fault::DriftInsert)
            && self
                .drift_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err()
        {
            return None;
        }
        if fault == Fault::Unauthorized {
            let served = self
                .served
                .lock()
                .expect("served lock")
                .get(token)
                .copied()
                .unwrap_or(0);
            if served < SERVED_BEFORE_SPURIOUS_401 {
                return None;
            }
        }
        *self
            .injected
            .lock()
            .expect("fault counts lock")
            .entry(fault)
            .or_default() += 1;
        Some(fault)
    }

    /// Counts a page served with `token`.
    pub fn served(&self, token: &str) {
        let mut served = self.served.lock().expect("served lock");
        if served.len() > 10_000 {
            served.clear();
        }
        *served.entry(token.to_string()).or_default() += 1;
    }

    pub fn slow(&self) -> Duration {
        self.faults.slow
    }

    /// Faults injected so far, by name.
    pub fn injected(&self) -> BTreeMap<String, u64> {
        let counts = self.injected.lock().expect("fault counts lock");
        counts
            .iter()
            .map(|(f, n)| (f.name().to_string(), *n))
            .collect()
    }
}

/// splitmix64 of a seed and a counter.
pub(crate) fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An HTTP date (RFC 9110 IMF-fixdate) `seconds` from now.
pub(crate) fn http_date_in(seconds: i64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds);
    at.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_at_about_the_rate_and_covers_every_kind() {
        let injector = Injector::new(Faults {
            drift_events: 10_000,
            ..Faults::all(0.2, 42)
        });
        for _ in 0..SERVED_BEFORE_SPURIOUS_401 {
            injector.served("t");
        }
        let hits = (0..10_000).filter(|_| injector.draw("t").is_some()).count();
        assert!((1_800..2_200).contains(&hits), "{hits}");
        assert_eq!(injector.injected().len(), Fault::ALL.len());
        let drift = Injector::new(Faults {
            kinds: vec![Fault::DriftDelete],
            ..Faults::all(1.0, 1)
        });
        assert_eq!(
            (0..10).filter(|_| drift.draw("t").is_some()).count(),
            2,
            "drift events are bounded"
        );
        assert_eq!(Injector::new(Faults::all(0.0, 1)).draw("t"), None);
        let only_401 = Faults {
            kinds: vec![Fault::Unauthorized],
            ..Faults::all(1.0, 1)
        };
        let fresh = Injector::new(only_401);
        assert_eq!(
            fresh.draw("new"),
            None,
            "a token that has not worked yet is not rejected"
        );
    }

    #[test]
    fn http_dates_parse_back() {
        let text = http_date_in(2);
        let parsed = jiff::fmt::rfc2822::parse(&text).unwrap();
        let wait = parsed.timestamp().duration_since(jiff::Timestamp::now());
        assert!(wait.as_secs() <= 2 && wait.as_secs() >= 0, "{text}");
    }
}
