//! Paging against servers that cap pages, drop X-Total-Count, drop Link, or both.

use roster_sandbox::{District, SandboxOptions};

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

#[test]
fn pages_of_a_megabyte_come_out_as_small_pages_do() {
    // Bodies of 256 KiB and more, and those of unknown length (gzip, decoded), go into buffers
    // lent again from page to page: no byte of one page may show up in another.
    let export = |page_size: &str, compression: bool| {
        let server = Server::start(SandboxOptions {
            district: District::Synthetic {
                users: 3000,
                seed: 7,
            },
            compression,
            ..Default::default()
        });
        let dir = workdir();
        let out = dir.path().join("all.ndjson");
        server
            .export()
            .args(["--scope", "roster.readonly", "--format", "ndjson"])
            .args(["--page-size", page_size])
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        std::fs::read(&out).unwrap()
    };
    let small = export("100", false);
    assert!(small.len() > 4 << 20, "{} bytes", small.len());
    assert!(export("2500", false) == small, "megabyte pages differ");
    assert!(export("2500", true) == small, "gzip-decoded pages differ");
}
