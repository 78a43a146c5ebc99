//! Adaptive pacing against hosts that limit: the sandbox's token bucket and fixed window, silent
//! (429 and `Retry-After` only) or announced in each header dialect. With the default pacing
//! (`auto`, no flags) every run ends well, writes every record and meets few or no 429s; the
//! summary says what rate the host allowed. `bench/run.sh pacing` runs the same cases longer.

use std::time::{Duration, Instant};

use roster_sandbox::{RateHeaders, RateLimit, SandboxOptions, SandboxStats};
use serde_json::Value;

use crate::support::*;

/// The limit every host here keeps, in requests a second.
const LIMIT: u32 = 40;

/// Every roster collection of the fixture district, one record a page: about 90 API requests,
/// two or three seconds at [`LIMIT`].
const ROSTER_BY_ONE: [&str; 4] = ["--scope", "roster.readonly", "--page-size", "1"];

const ROSTER_FILES: [&str; 6] = [
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
];

/// A run that takes longer than this has slowed to a crawl (it should take about 2.5 s).
const CRAWL: Duration = Duration::from_secs(20);

/// What a paced run left: the host's counters, the run's summary and how long it took.
struct Paced {
    stats: SandboxStats,
    summary: Value,
    origin: String,
    /// What the run printed: its end-of-run table names each host's pacing.
    stderr: String,
}

impl Paced {
    /// API requests answered 429, as a share of all API requests.
    fn share_429(&self) -> f64 {
        self.stats.rate_limited as f64 / self.stats.api_requests.max(1) as f64
    }

    /// The rate the run's summary reports for the host.
    fn learned(&self) -> &Value {
        self.summary["hosts"]
            .as_array()
            .and_then(|hosts| hosts.iter().find(|h| h["origin"] == self.origin.as_str()))
            .unwrap_or_else(|| panic!("no host {} in {}", self.origin, self.summary))
    }

    /// Asserts the 429s were at most `most` of the requests.
    #[track_caller]
    fn at_most_429s(&self, most: f64) {
        assert!(
            self.share_429() <= most,
            "{} of {} requests answered 429 ({:.1}%, at most {:.0}% expected); the pacer found {}",
            self.stats.rate_limited,
            self.stats.api_requests,
            100.0 * self.share_429(),
            100.0 * most,
            self.learned()
        );
    }
}

/// Exports the roster collections one record a page from a sandbox that keeps `limit`, with the
/// default pacing plus `flags`, and checks it ended well, in time, with every record.
#[track_caller]
fn paced(what: &str, limit: RateLimit, flags: &[&str]) -> Paced {
    let s = Scenario::new(SandboxOptions {
        rate_limit: Some(limit),
        ..Default::default()
    });
    let json = s.dir.path().join("summary.json");
    let started = Instant::now();
    let ran = run_to(
        s.server
            .export_auto()
            .args(ROSTER_BY_ONE)
            .args(flags)
            .arg("--summary-json")
            .arg(&json)
            .timeout(Duration::from_secs(40)),
        &s.out,
    );
    let wall = started.elapsed();
    ran.exits(0);
    let files = bundle_files(&s.out);
    for name in ROSTER_FILES {
        let mut ids = Table::parse(&files[&format!("{name}.csv")]).ids();
        ids.sort();
        let mut want: Vec<String> = fixture_active(name)
            .iter()
            .map(|r| r["sourcedId"].as_str().unwrap().to_string())
            .collect();
        want.sort();
        assert_eq!(ids, want, "{what}: every {name} record, once");
    }
    let paced = Paced {
        stats: s.server.stats(),
        summary: serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap(),
        origin: s.server.origin(),
        stderr: ran.stderr.clone(),
    };
    eprintln!(
        "{what}: {} API requests, {} answered 429 ({:.1}%), {:.2} s; the pacer found {}",
        paced.stats.api_requests,
        paced.stats.rate_limited,
        100.0 * paced.share_429(),
        wall.as_secs_f64(),
        paced.learned()
    );
    assert!(
        wall < CRAWL,
        "{what}: {:.1} s for about 90 requests at {LIMIT}/s",
        wall.as_secs_f64()
    );
    paced
}

/// Bursts of 5 at most: a client that sends a little too fast hears about it at once.
fn silent_bucket() -> RateLimit {
    RateLimit::bucket(LIMIT, 5)
}

/// The bucket as announced: a burst of a whole second's quota, so the policy the headers state
/// (`q` requests per `w` whole seconds) is the sustained rate. With a burst of 5 they would state
/// 5 per second, an eighth of what the host allows, and the pacer would keep to that.
fn announced_bucket(headers: RateHeaders) -> RateLimit {
    RateLimit::per_second(LIMIT).announced(headers)
}

#[test]
fn an_unannounced_limit_is_found_with_few_429s() {
    paced("unannounced, auto", silent_bucket(), &[]).at_most_429s(0.10);
}

#[test]
fn a_high_ceiling_still_settles_under_an_unannounced_limit() {
    let run = paced(
        "unannounced, --rate 1000 --concurrency 16",
        silent_bucket(),
        &["--rate", "1000", "--concurrency", "16"],
    );
    run.at_most_429s(0.10);
}

#[test]
fn an_ietf_announced_limit_is_kept_before_any_429() {
    paced("IETF RateLimit", announced_bucket(RateHeaders::Ietf), &[]).at_most_429s(0.02);
}

#[test]
fn a_legacy_announced_limit_is_kept_before_any_429() {
    paced(
        "RateLimit-Limit/-Remaining/-Reset",
        announced_bucket(RateHeaders::Legacy),
        &[],
    )
    .at_most_429s(0.02);
}

/// A little looser than the other dialects: `X-RateLimit-*` states no window, so the pace comes
/// from what remains until the reset, and the reset is a whole epoch second, which makes a reset
/// under a second away read as anything from none to a second.
#[test]
fn an_x_ratelimit_announced_limit_is_kept_with_next_to_no_429s() {
    paced("X-RateLimit-*", announced_bucket(RateHeaders::X), &[]).at_most_429s(0.06);
}

#[test]
fn an_unannounced_fixed_window_is_found_with_few_429s() {
    paced(
        "fixed window, unannounced",
        RateLimit::window(LIMIT, Duration::from_secs(1)),
        &[],
    )
    .at_most_429s(0.10);
}

#[test]
fn a_fixed_window_announced_in_x_ratelimit_is_kept_with_next_to_no_429s() {
    paced(
        "fixed window, X-RateLimit-*",
        RateLimit::window(LIMIT, Duration::from_secs(1)).announced(RateHeaders::X),
        &[],
    )
    .at_most_429s(0.06);
}

#[test]
fn the_summary_reports_the_rate_the_host_allowed_and_pinning_it_keeps_under() {
    let found = paced("unannounced, the learned rate", silent_bucket(), &[]);
    let host = found.learned();
    let rate = host["rate"].as_f64().unwrap();
    assert!(
        (0.5 * f64::from(LIMIT)..=1.1 * f64::from(LIMIT)).contains(&rate),
        "the rate learned for a {LIMIT}/s host: {host}"
    );
    assert_eq!(host["announced"], false, "{host}");
    assert!(host["asked_to_slow_down"].as_u64().unwrap() >= 1, "{host}");
    let line = found
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("{}: ~", found.origin)))
        .unwrap_or_else(|| panic!("the table names the host:\n{}", found.stderr));
    assert!(line.contains(" req/s allowed"), "{line}");
    // What the README tells a user to do with it: pin it, and the host is not pushed again.
    let pinned = rate.to_string();
    paced(
        "unannounced, --rate pinned to the learned rate",
        silent_bucket(),
        &["--rate", &pinned],
    )
    .at_most_429s(0.02);
}
