//! Tokens: refreshed when they expire mid-run; a wrong secret fails fast and writes nothing.

use roster_sandbox::SandboxOptions;

use crate::support::*;

/// Exports the roster with tokens good for `uses` requests each and `concurrency` requests at
/// once; checks the users came through whole and returns the sandbox's counters.
fn export_with_tokens_good_for(uses: u64, concurrency: &str) -> roster_sandbox::SandboxStats {
    let server = Server::start(SandboxOptions {
        token_max_uses: Some(uses),
        ..Default::default()
    });
    let dir = workdir();
    let out = dir.path().join("b.zip");
    server.export_ok(
        &[
            "--scope",
            "roster.readonly",
            "--page-size",
            "2",
            "--concurrency",
            concurrency,
        ],
        &out,
    );
    let users = Table::parse(&bundle_files(&out)["users.csv"]);
    assert_eq!(users.rows.len(), fixture_active("users").len());
    server.stats()
}

#[test]
fn a_token_that_expires_mid_run_is_replaced() {
    // Tokens that run out after a few requests: mid-run on any machine, however fast. (Renewing
    // before the clock runs out is the token cache's unit test, on paused time.)
    let stats = export_with_tokens_good_for(8, "2");
    assert!(
        stats.tokens_issued >= 2 && stats.unauthorized >= 1,
        "the run needed more than one token: {stats:?}"
    );
}

#[test]
fn a_token_spent_by_others_while_a_request_waited_is_not_taken_for_refused_credentials() {
    // One request at a time and tokens good for two requests: every page is handed the token of
    // the moment, then waits its turn while the pages ahead of it spend that token. Its refusal
    // (twice in a row, often) says the token wore out, not that the credentials are wrong.
    let stats = export_with_tokens_good_for(2, "1");
    assert!(stats.unauthorized >= 2, "{stats:?}");
}

#[test]
fn a_wrong_secret_exits_3_and_writes_nothing() {
    let server = Server::fixture();
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let Ran {
        code,
        stdout,
        stderr,
    } = run_to(
        server
            .export()
            .env("ROSTER_EXPORT_CLIENT_SECRET", "not-the-secret")
            .args(["--scope", "roster.readonly"]),
        &out,
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        stderr.contains("check the client id and secret"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret") && !stdout.contains("not-the-secret"));
    assert!(stdout.is_empty());
    assert_eq!(
        leftovers(dir.path(), &[]),
        Vec::<std::path::PathBuf>::new(),
        "nothing written"
    );
}

#[test]
fn the_secret_never_reaches_output() {
    let server = Server::fixture();
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let output = server
        .export()
        .args(["--scope", "roster.readonly", "-vv"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success());
    let (stdout, stderr) = text(&output);
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    for (name, bytes) in bundle_files(&out) {
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "{name}");
    }
}
