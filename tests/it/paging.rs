//! Paging against servers that cap pages, drop X-Total-Count, drop Link, or both.

use roster_sandbox::SandboxOptions;

use crate::support::*;

/// Exports users and enrollments and checks every fixture record came through exactly once.
fn complete_export(options: SandboxOptions, extra: &[&str]) -> Server {
    let server = Server::start(options);
    let dir = workdir();
    let out = dir.path().join("b");
    server
        .export()
        .args(["--scope", "roster.readonly", "--only", "users,enrollments"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let files = bundle_files(&out);
    for name in ["users", "enrollments"] {
        let table = Table::parse(&files[&format!("{name}.csv")]);
        let mut ids = table.ids();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "{name}: no duplicates");
        let mut want: Vec<String> = fixture_active(name)
            .iter()
            .map(|r| r["sourcedId"].as_str().unwrap().to_string())
            .collect();
        want.sort();
        assert_eq!(ids, want, "{name}: every record");
    }
    server
}

#[test]
fn a_silent_page_cap_still_yields_every_record() {
    let server = complete_export(
        SandboxOptions {
            page_cap: Some(3),
            ..Default::default()
        },
        &["--page-size", "1000"],
    );
    // users and enrollments at 3 a page: many pages, one token.
    let users = fixture("users").len() as u64;
    let enrollments = fixture("enrollments").len() as u64;
    assert!(server.stats().api_requests >= users.div_ceil(3) + enrollments.div_ceil(3));
}

#[test]
fn without_total_count_the_link_chain_is_followed() {
    complete_export(
        SandboxOptions {
            total_count: false,
            ..Default::default()
        },
        &["--page-size", "4"],
    );
}

#[test]
fn without_link_the_total_drives_the_walk() {
    complete_export(
        SandboxOptions {
            link_header: false,
            ..Default::default()
        },
        &["--page-size", "4", "--concurrency", "8"],
    );
}

#[test]
fn without_either_header_offsets_advance_until_an_empty_page() {
    complete_export(
        SandboxOptions {
            link_header: false,
            total_count: false,
            page_cap: Some(5),
            ..Default::default()
        },
        &["--page-size", "7"],
    );
}
