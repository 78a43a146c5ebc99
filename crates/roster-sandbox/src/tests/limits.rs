//! Rate limits over real HTTP: 429 with the real wait in `Retry-After`, the announcing headers on
//! every API response in each dialect, and the flags that choose them. (Their timing is tested on
//! the paused clock in `ratelimit.rs`; these requests come faster than any refill.)

use super::*;

/// `n` requests to `path`; their responses.
async fn burst(sandbox: &Sandbox, token: &str, path: &str, n: usize) -> Vec<reqwest::Response> {
    let mut responses = Vec::with_capacity(n);
    for _ in 0..n {
        responses.push(get(sandbox, token, path).await);
    }
    responses
}

#[tokio::test]
async fn a_bucket_admits_its_burst_then_answers_429_with_the_wait() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            rate_limit: Some(RateLimit::bucket(1, 3)),
            ..Default::default()
        })
        .await;
        let token = roster_token(&sandbox).await;
        let first = burst(&sandbox, &token, "orgs", 3).await;
        assert!(
            first.iter().all(|r| r.status() == StatusCode::OK),
            "the burst"
        );
        let (_, limited) = until_limited(&sandbox, &token).await;
        let limited = limited.expect("a request was limited");
        assert_eq!(header(&limited, RETRY_AFTER).as_deref(), Some("1"));
        assert_eq!(header(&limited, "ratelimit"), None, "unannounced");
        assert_eq!(sandbox.stats().rate_limited, 1);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_announced_window_says_so_on_every_response() {
    bounded(async {
        let limit = RateLimit::window(3, Duration::from_secs(60));
        let sandbox = start(SandboxOptions {
            rate_limit: Some(limit.announced(RateHeaders::Ietf)),
            ..Default::default()
        })
        .await;
        let token = roster_token(&sandbox).await;
        let responses = burst(&sandbox, &token, "users?limit=1", 2).await;
        let missing = get(&sandbox, &token, "users/no-such-user").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let limited = get(&sandbox, &token, "users").await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        for (response, remaining) in responses
            .iter()
            .chain([&missing, &limited])
            .zip([2, 1, 0, 0])
        {
            assert_eq!(
                header(response, "ratelimit-policy").as_deref(),
                Some("\"default\";q=3;w=60")
            );
            let state = header(response, "ratelimit").unwrap();
            let (r, t) = state
                .strip_prefix("\"default\";r=")
                .and_then(|s| s.split_once(";t="))
                .unwrap_or_else(|| panic!("{state}"));
            assert_eq!(r, remaining.to_string(), "{state}");
            assert!((1..=60).contains(&t.parse::<u64>().unwrap()), "{state}");
        }
        let wait: u64 = header(&limited, RETRY_AFTER).unwrap().parse().unwrap();
        assert!((55..=60).contains(&wait), "until the window ends: {wait}");
        assert_eq!(
            status_info_of(limited).await.code_minor.as_deref(),
            Some("server_busy")
        );
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_older_dialects_name_limit_remaining_and_reset() {
    bounded(async {
        for dialect in [RateHeaders::Legacy, RateHeaders::X] {
            let limit = RateLimit::window(1200, Duration::from_secs(60)).announced(dialect);
            let sandbox = start(SandboxOptions {
                rate_limit: Some(limit),
                ..Default::default()
            })
            .await;
            let token = roster_token(&sandbox).await;
            let response = get(&sandbox, &token, "orgs").await;
            assert_eq!(response.status(), StatusCode::OK);
            let prefix = if dialect == RateHeaders::X { "x-" } else { "" };
            let value = |name: &str| -> u64 {
                header(&response, format!("{prefix}ratelimit-{name}").as_str())
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            assert_eq!((value("limit"), value("remaining")), (1200, 1199));
            let reset = value("reset");
            if dialect == RateHeaders::X {
                let now = jiff::Timestamp::now().as_second() as u64;
                assert!(
                    (now + 55..=now + 61).contains(&reset),
                    "epoch seconds: {reset}"
                );
            } else {
                assert!((55..=60).contains(&reset), "seconds: {reset}");
            }
            assert!(header(&response, "ratelimit-policy").is_none());
            sandbox.shutdown().await;
        }
    })
    .await;
}

#[test]
fn the_rate_flags_choose_the_limit() {
    let limit = |flags: &[&str]| {
        let mut argv = vec!["sandbox"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).map(|cli| cli.args.options().rate_limit)
    };
    assert_eq!(limit(&[]).unwrap(), None);
    assert_eq!(limit(&["--rate-limit", "0"]).unwrap(), None);
    assert_eq!(
        limit(&["--rate-limit", "20", "--rate-burst", "5"]).unwrap(),
        Some(RateLimit::bucket(20, 5))
    );
    assert_eq!(
        limit(&[
            "--rate-limit",
            "1200",
            "--rate-window",
            "60",
            "--rate-headers",
            "x"
        ])
        .unwrap(),
        Some(RateLimit::window(1200, Duration::from_secs(60)).announced(RateHeaders::X))
    );
    assert_eq!(
        limit(&["--rate-limit", "5", "--rate-headers", "ietf"]).unwrap(),
        Some(RateLimit::per_second(5).announced(RateHeaders::Ietf))
    );
    assert!(limit(&["--rate-burst", "5"]).is_err(), "needs --rate-limit");
    assert!(
        limit(&[
            "--rate-limit",
            "5",
            "--rate-burst",
            "2",
            "--rate-window",
            "9"
        ])
        .is_err()
    );
    assert!(limit(&["--rate-limit", "5", "--rate-headers", "rfc"]).is_err());
}

#[test]
fn the_help_names_the_admin_endpoints_and_the_base_instant() {
    let help = ADMIN_HELP;
    assert!(help.contains("POST /admin/changes") && help.contains("POST /admin/churn"));
    assert!(help.contains(BASE_INSTANT));
}
