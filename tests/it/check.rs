//! `roster-export check` against the sandbox: what it learns from a good host, and the diagnosis
//! and exit code for a base URL that is not an API, missing collections and refused scopes.

use oneroster::{CollectionId, KnownScope};
use roster_sandbox::SandboxOptions;

use crate::support::*;

fn check(server: &Server, args: &[&str]) -> Ran {
    ran(server.subcommand(&["check"]).args(args))
}

#[test]
fn a_good_host_is_described_and_passes() {
    let server = Server::start(SandboxOptions {
        page_cap: Some(10),
        compression: true,
        ..SandboxOptions::default()
    });
    let ran = check(&server, &["--scope", "roster.readonly"]);
    ran.exits(0)
        .shows("lasts 3600 s (1 h)")
        .shows("granted scopes  roster.readonly")
        .shows("6 planned, 2 records asked of each")
        .shows("  orgs                 200")
        .shows("2 records, X-Total-Count ")
        .shows(", Link next")
        // 40 enrollments asked for at once, 10 sent.
        .shows("page cap        10: asked enrollments for 40, got 10")
        .shows("compression     yes: the host sends gzip bodies")
        .shows("rate limits     none announced")
        .shows("verdict         OK: a OneRoster 1.1 API");
    let stats = server.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert!(stats.records_served < 40, "small pages only: {stats:?}");
}

#[test]
fn a_base_url_that_is_not_an_api_is_diagnosed_and_exits_as_an_export_would() {
    let server = Server::fixture();
    let wrong = format!("http://{}/district", server.addr());
    let checked = ran(bin_for(&["check"])
        .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
        .args(["--base-url", &wrong, "--token-url", &server.token_url()])
        .args(["--client-id", "demo-client", "--scope", "roster.readonly"]));
    checked
        .exits(4)
        .shows("NOT a OneRoster 1.1 API base: every collection answered 404")
        .shows("/district/ims/oneroster/v1p1/orgs")
        .shows("Check --base-url")
        .says("orgs (GET http://127.0.0.1:");
    // A 1.2 path and a misspelt 1.1 one are refused before any request.
    for (base, expected) in [
        ("/ims/oneroster/rostering/v1p2", "OneRoster 1.2"),
        ("/ims/onerostr/v1p1", "Did you mean"),
    ] {
        let base = format!("http://{}{base}", server.addr());
        ran(bin_for(&["check"])
            .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
            .args(["--base-url", &base, "--token-url", &server.token_url()])
            .args(["--client-id", "demo-client", "--scope", "roster.readonly"]))
        .exits(2)
        .says(expected);
    }
    assert_eq!(
        server.stats().tokens_issued,
        1,
        "only the first check asked"
    );
}

#[test]
fn missing_optional_collections_pass_and_a_missing_required_one_fails() {
    let server = Server::start(SandboxOptions {
        missing: vec![CollectionId::Demographics],
        ..SandboxOptions::default()
    });
    check(
        &server,
        &["--scope", "roster.readonly,roster-demographics.readonly"],
    )
    .exits(0)
    .shows("demographics         404")
    .shows("not offered by the host (an export marks it absent)")
    .shows("verdict         OK");

    let server = Server::start(SandboxOptions {
        missing: vec![CollectionId::Classes],
        ..SandboxOptions::default()
    });
    check(&server, &["--scope", "roster.readonly"])
        .exits(4)
        .shows("verdict         classes answered 404 Not Found")
        .says("classes (GET http://127.0.0.1:");
}

#[test]
fn a_scope_the_host_withholds_is_named_and_exits_3() {
    let server = Server::start(SandboxOptions {
        withheld_scopes: vec![KnownScope::Gradebook],
        ..SandboxOptions::default()
    });
    check(
        &server,
        &[
            "--scope",
            "roster.readonly,gradebook.readonly",
            "--only",
            "orgs,categories",
        ],
    )
    .exits(3)
    .shows("NOT granted: gradebook.readonly")
    .shows("categories           403")
    .shows("gradebook.readonly")
    .says("it needs the scope gradebook.readonly");
}

#[test]
fn a_wrong_token_url_is_a_configuration_error() {
    let server = Server::fixture();
    let token = format!("http://{}/oauth/wrong", server.addr());
    ran(bin_for(&["check"])
        .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
        .args(["--base-url", &server.base_url(), "--token-url", &token])
        .args(["--client-id", "demo-client", "--scope", "roster.readonly"]))
    .exits(2)
    .shows("token           FAILED: the token URL")
    .says(&format!(
        "the token URL {token} answered 404 Not Found: check --token-url"
    ));
}
