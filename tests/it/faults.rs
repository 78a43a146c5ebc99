//! The fault matrix: with a fifth of all pages failing in every way the sandbox knows, tokens
//! that live five seconds, and several seeds, the bundle is byte-identical to a clean run's.
//! Unrecoverable failures exit 4 and leave the previous bundle whole.

use std::collections::BTreeMap;
use std::time::Duration;

use roster_sandbox::{Fault, Faults, SandboxOptions, Vendor};

use crate::support::*;

const SCOPES: [&str; 8] = [
    "--scope",
    "roster.readonly",
    "--scope",
    "roster-demographics.readonly",
    "--scope",
    "gradebook.readonly",
    "--scope",
    "resource.readonly",
];

/// Small pages so every collection takes several requests, a timeout below the slow fault's
/// delay, and attempts enough that a run of bad luck does not end it.
const CLIENT: [&str; 8] = [
    "--page-size",
    "3",
    "--concurrency",
    "4",
    "--max-attempts",
    "12",
    "--timeout",
    "1",
];

fn export(server: &Server, out: &std::path::Path) -> Ran {
    run_to(server.export().args(SCOPES).args(CLIENT), out)
}

#[test]
fn a_fifth_of_pages_failing_still_gives_the_clean_bundle() {
    let dir = workdir();
    let clean_out = dir.path().join("clean.zip");
    let clean = Server::fixture();
    assert_eq!(export(&clean, &clean_out).code, Some(0));

    let mut injected: BTreeMap<String, u64> = BTreeMap::new();
    for seed in 1..=5 {
        let server = Server::start(SandboxOptions {
            token_lifetime: Duration::from_secs(5),
            faults: Some(Faults {
                slow: Duration::from_millis(1500),
                ..Faults::all(0.2, seed)
            }),
            ..Default::default()
        });
        let out = dir.path().join(format!("faulty-{seed}.zip"));
        let ran = export(&server, &out);
        let stderr = &ran.stderr;
        assert_eq!(ran.code, Some(0), "seed {seed}: {stderr}");
        assert!(
            !stderr.contains(SECRET),
            "seed {seed}: the secret stays out of the logs"
        );
        assert_same_bundle(&out, &clean_out, &format!("seed {seed}"));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&clean_out).unwrap(),
            "seed {seed}: byte-identical to the clean run"
        );
        for (kind, n) in server.stats().faults_injected {
            *injected.entry(kind).or_default() += n;
        }
    }
    eprintln!("faults injected and survived over five seeds: {injected:?}");
    let total: u64 = injected.values().sum();
    assert!(total >= 20, "the matrix injected faults: {injected:?}");
    assert!(
        injected.len() >= Fault::ALL.len() - 2,
        "most kinds were injected: {injected:?}"
    );
}

#[test]
fn a_server_that_always_fails_exits_4_and_keeps_the_previous_bundle() {
    let (broken, before) = Scenario::over_previous(SandboxOptions {
        faults: Some(Faults {
            kinds: vec![Fault::Status500],
            ..Faults::all(1.0, 1)
        }),
        ..Default::default()
    });
    broken
        .export(&["--scope", "roster.readonly", "--max-attempts", "2"])
        .exits(4)
        // The collection and URL, the offset, the status and the server's own description.
        .says("orgs (GET http://127.0.0.1:")
        .says("offset 0")
        .says("HTTP 500")
        .says("injected fault");
    broken.untouched(&before);
}

#[test]
fn blackbauds_quota_replies_and_shapes_are_handled() {
    let dir = workdir();
    let clean_out = dir.path().join("clean.zip");
    assert_eq!(export(&Server::fixture(), &clean_out).code, Some(0));
    let server = Server::start(SandboxOptions {
        vendor: Vendor::Blackbaud,
        faults: Some(Faults {
            kinds: vec![Fault::RateLimitedSeconds, Fault::RateLimitedDate],
            ..Faults::all(0.2, 9)
        }),
        ..Default::default()
    });
    let out = dir.path().join("bb.zip");
    let ran = export(&server, &out);
    let stderr = &ran.stderr;
    assert_eq!(ran.code, Some(0), "{stderr}");
    assert!(
        stderr.contains("HTTP 403 with Retry-After (quota)"),
        "a quota reply was met: {stderr}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&clean_out).unwrap()
    );
}
