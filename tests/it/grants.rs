//! Every way of authenticating, over real HTTP against the sandbox: refresh tokens that rotate
//! (persisted across runs, and across a run killed at the worst moments), the password grant with
//! OIDC discovery, bearer tokens from `roster-export token`, client authentication in the body,
//! scopes sent as written, and secret API headers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use roster_sandbox::SandboxOptions;
use serde_json::Value;

use crate::support::*;

const SEED: &str = "demo-refresh-token";

fn refresh_args(store: &Path) -> Vec<String> {
    vec![
        "--auth".into(),
        "refresh-token".into(),
        "--token-store".into(),
        store.display().to_string(),
        "--scope".into(),
        "roster.readonly".into(),
    ]
}

/// The refresh token in a store file, checking the file is whole and private.
/// An export with the refresh-token grant whose store is created from [`SEED`].
fn seeded(server: &Server, store: &Path, out: &Path) -> Ran {
    run_to(
        server
            .export()
            .env("ROSTER_EXPORT_REFRESH_TOKEN", SEED)
            .args(refresh_args(store)),
        out,
    )
}

fn stored_token(store: &Path) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(store).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token store is private");
    let value: Value = serde_json::from_slice(&std::fs::read(store).unwrap()).unwrap();
    value["refresh_token"].as_str().unwrap().to_string()
}

fn assert_not_printed(ran: &Ran, tokens: &[&str]) {
    for token in tokens {
        assert!(
            !ran.stdout.contains(token) && !ran.stderr.contains(token),
            "a refresh token was printed: {}",
            ran.stderr
        );
    }
}

#[test]
fn refresh_tokens_rotate_and_the_new_one_is_kept_across_runs() {
    let server = Server::fixture();
    let dir = workdir();
    let store = dir.path().join("state/store.json");
    let first = seeded(&server, &store, &dir.path().join("a.zip"));
    first.exits(0);
    let t1 = stored_token(&store);
    assert_ne!(
        t1, SEED,
        "the host rotated the token and the new one was saved"
    );

    // The second run reads the store alone (the seed is only for creating it).
    let second = run_to(
        server.export().args(refresh_args(&store)),
        &dir.path().join("b.zip"),
    );
    second.exits(0);
    let t2 = stored_token(&store);
    assert_ne!(t2, t1);
    assert_not_printed(&first, &[SEED, &t1]);
    assert_not_printed(&second, &[&t1, &t2]);
    assert_eq!(
        std::fs::read(dir.path().join("a.zip")).unwrap(),
        std::fs::read(dir.path().join("b.zip")).unwrap()
    );
    let stats = server.stats();
    assert_eq!(stats.refresh_rotations, 2, "{stats:?}");
    assert_eq!(stats.grants.get("refresh_token"), Some(&2));
    assert!(leftovers(store.parent().unwrap(), &["store.json", ".store.json.lock"]).is_empty());

    // The retired seed is refused; the message says what to do, and the store is left whole.
    let stale = dir.path().join("stale.json");
    let refused = seeded(&server, &stale, &dir.path().join("c.zip"));
    refused.exits(3);
    assert!(
        refused.stderr.contains("stale.json") && refused.stderr.contains("Authorize the app again"),
        "{}",
        refused.stderr
    );
    assert_eq!(stored_token(&stale), SEED);
    assert!(!dir.path().join("c.zip").exists());
}

#[test]
fn preserved_refresh_tokens_stay_until_rotated_on_demand() {
    let server = Server::fixture();
    let dir = workdir();
    let store = dir.path().join("store.json");
    let mut args = refresh_args(&store);
    args.push("--preserve-refresh-token".into());
    let ran = run_to(
        server
            .export()
            .env("ROSTER_EXPORT_REFRESH_TOKEN", SEED)
            .args(&args),
        &dir.path().join("a.zip"),
    );
    ran.exits(0);
    assert_eq!(stored_token(&store), SEED);
    assert_eq!(server.stats().refresh_rotations, 0);

    let rotate = server
        .subcommand(&["auth", "rotate"])
        .args(&refresh_args(&store)[..4])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&rotate);
    assert_eq!(rotate.status.code(), Some(0), "{stderr}");
    assert!(stdout.is_empty(), "auth rotate prints nothing on stdout");
    assert!(stderr.contains("rotated the refresh token"), "{stderr}");
    let rotated = stored_token(&store);
    assert_ne!(rotated, SEED);
    assert!(!stderr.contains(&rotated));
    assert_eq!(server.stats().refresh_rotations, 1);

    let ran = run_to(server.export().args(&args), &dir.path().join("b.zip"));
    ran.exits(0);
    assert_eq!(stored_token(&store), rotated);

    let wrong = server
        .subcommand(&["auth", "rotate"])
        .args(["--auth", "client-credentials"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
}

#[test]
fn an_old_refresh_token_draws_a_warning() {
    let server = Server::fixture();
    let dir = workdir();
    let store = dir.path().join("store.json");
    let issued = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 340);
    let body = serde_json::json!({
        "version": 1,
        "token_url": server.token_url(),
        "client_id": "demo-client",
        "issued_at": issued.to_string(),
        "refresh_token": SEED,
    });
    std::fs::write(&store, body.to_string()).unwrap();
    let mut args = refresh_args(&store);
    args.push("--preserve-refresh-token".into());
    let ran = run_to(server.export().args(&args), &dir.path().join("a.zip"));
    ran.exits(0);
    assert!(
        ran.stderr.contains("340 days old") && ran.stderr.contains("auth rotate"),
        "{}",
        ran.stderr
    );
    let ran = run_to(
        server
            .export()
            .args(&args)
            .args(["--refresh-token-warn-days", "400"]),
        &dir.path().join("b.zip"),
    );
    ran.exits(0);
    assert!(!ran.stderr.contains("days old"), "{}", ran.stderr);
}

/// Starts a sandbox with `options` and an export of `orgs` against it with the refresh-token
/// grant, waits until `ready` says the moment has come, and kills the export with SIGKILL.
/// Returns the sandbox, the test's folder and the token store.
fn kill_when(
    options: SandboxOptions,
    ready: impl Fn(&Server) -> bool,
) -> (Server, tempfile::TempDir, PathBuf) {
    let server = Server::start(options);
    let dir = workdir();
    let store = dir.path().join("store.json");
    let out = dir.path().join("a.zip");
    let mut child = server
        .export_std()
        .env("ROSTER_EXPORT_REFRESH_TOKEN", SEED)
        .args(["--only", "orgs", "--quiet"])
        .args(refresh_args(&store))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(&server) {
        assert!(
            Instant::now() < deadline,
            "the moment never came: {:?}",
            server.stats()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    (server, dir, store)
}

#[test]
fn a_run_killed_after_saving_a_rotated_token_loses_nothing() {
    // Slow pages: the run is killed while its first page is in flight, after the token was saved.
    let options = SandboxOptions {
        latency: Some(Duration::from_secs(3)),
        ..Default::default()
    };
    let (server, dir, store) = kill_when(options, |s| s.stats().api_requests >= 1);
    let saved = stored_token(&store);
    assert_ne!(
        saved, SEED,
        "the rotated token reached the disk before it was used"
    );
    assert!(!dir.path().join("a.zip").exists());

    let ran = run_to(
        server
            .export()
            .args(refresh_args(&store))
            .args(["--only", "orgs"]),
        &dir.path().join("b.zip"),
    );
    ran.exits(0);
    assert_ne!(stored_token(&store), saved);
    let temporary: Vec<_> = leftovers(dir.path(), &[])
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(temporary.is_empty(), "{temporary:?}");
}

#[test]
fn a_run_killed_before_saving_a_rotated_token_leaves_the_store_whole_and_says_why_next_time() {
    // The host retires the old token, then takes 3 s to answer: the run dies in between.
    let options = SandboxOptions {
        refresh_reply_delay: Some(Duration::from_secs(3)),
        ..Default::default()
    };
    let (server, dir, store) = kill_when(options, |s| s.stats().refresh_rotations >= 1);
    assert_eq!(
        stored_token(&store),
        SEED,
        "the store still holds a whole, readable file"
    );

    let ran = run_to(
        server.export().args(refresh_args(&store)),
        &dir.path().join("b.zip"),
    );
    ran.exits(3);
    assert!(
        ran.stderr
            .contains("replaced by a run that stopped before saving")
            && ran.stderr.contains("store.json"),
        "{}",
        ran.stderr
    );
    assert_eq!(stored_token(&store), SEED);
}

#[test]
fn the_password_grant_discovers_the_token_url_and_refreshes_mid_run() {
    let server = Server::start(SandboxOptions {
        token_max_uses: Some(8),
        ..Default::default()
    });
    let dir = workdir();
    let login = |password: &str| {
        let mut cmd = bin();
        cmd.env("ROSTER_EXPORT_PASSWORD", password)
            .args(["--base-url", &server.base_url()])
            .args(["--oidc-authority", &server.origin()])
            .args(["--auth", "password", "--client-id", "demo-client"])
            .args(["--username", "demo-user", "--scope", "roster.readonly"])
            .args(["--rate", "1000", "--page-size", "2", "--concurrency", "2"]);
        cmd
    };
    let ran = run_to(&mut login("demo-password"), &dir.path().join("a.zip"));
    ran.exits(0);
    let stats = server.stats();
    assert_eq!(stats.grants.get("password"), Some(&1), "{stats:?}");
    assert!(
        stats.grants.get("refresh_token").is_some_and(|n| *n >= 1),
        "expired tokens were replaced with the refresh token: {stats:?}"
    );
    // A public client: the id in the body and no secret, on every token request.
    assert_eq!(stats.client_auth.get("none"), Some(&stats.tokens_issued));
    let users = Table::parse(&bundle_files(&dir.path().join("a.zip"))["users.csv"]);
    assert_eq!(users.rows.len(), fixture_active("users").len());

    let ran = run_to(&mut login("wrong-password"), &dir.path().join("b.zip"));
    ran.exits(3);
    ran.says("invalid_grant");
    assert!(!ran.stderr.contains("wrong-password"));
}

#[test]
fn the_token_command_prints_a_bearer_token_that_the_bearer_mode_uses() {
    // The token is good for one request: the first run's one page.
    let server = Server::start(SandboxOptions {
        token_max_uses: Some(1),
        ..Default::default()
    });
    let printed = server
        .subcommand(&["token"])
        .args(["--scope", "roster.readonly"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&printed);
    assert_eq!(printed.status.code(), Some(0), "{stderr}");
    let token = stdout.trim().to_string();
    assert_eq!(stdout.lines().count(), 1);
    assert!(token.len() >= 32 && !stderr.contains(&token));
    assert_no_secret("stderr", &stderr);

    let dir = workdir();
    let bearer = |token: &str| {
        let mut cmd = bin();
        cmd.env("ROSTER_EXPORT_ACCESS_TOKEN", token)
            .args(["--base-url", &server.base_url(), "--auth", "bearer"])
            .args([
                "--scope",
                "roster.readonly",
                "--only",
                "orgs",
                "--rate",
                "1000",
            ]);
        cmd
    };
    let ran = run_to(&mut bearer(&token), &dir.path().join("a.zip"));
    ran.exits(0);
    assert!(!ran.stderr.contains(&token));
    assert_eq!(
        server.stats().tokens_issued,
        1,
        "bearer mode fetches no token"
    );

    // Once it has expired, the run says so instead of retrying forever.
    let ran = run_to(&mut bearer(&token), &dir.path().join("b.zip"));
    ran.exits(3);
    ran.says("may have expired");
}

#[test]
fn client_credentials_can_travel_in_the_body_and_scopes_as_written() {
    let server = Server::start(SandboxOptions {
        short_scope_names: true,
        ..Default::default()
    });
    let dir = workdir();
    // This host knows only short names: the expanded URIs are refused, with a hint.
    let ran = run_to(
        server.export().args(["--scope", "roster.readonly"]),
        &dir.path().join("a.zip"),
    );
    ran.exits(3);
    ran.says("--scope-as-written");

    let ran = run_to(
        server.export().args([
            "--scope",
            "roster.readonly",
            "--scope-as-written",
            "--client-auth",
            "body",
        ]),
        &dir.path().join("b.zip"),
    );
    ran.exits(0);
    let stats = server.stats();
    // The refused first run authenticated by Basic, the second in the body.
    assert_eq!(stats.client_auth.get("basic"), Some(&1), "{stats:?}");
    assert_eq!(stats.client_auth.get("body"), Some(&1), "{stats:?}");
}

#[test]
fn a_provider_preset_asks_for_its_header_and_the_secret_value_reaches_the_api_only() {
    let server = Server::start(SandboxOptions {
        subscription_key: Some("bb-sub-key-4711".into()),
        ..Default::default()
    });
    let dir = workdir();
    // blackbaud-sky's URLs overridden by the sandbox's, its refresh-token auth by client credentials.
    let sky = || {
        let mut cmd = server.export();
        cmd.args([
            "--provider",
            "blackbaud-sky",
            "--auth",
            "client-credentials",
        ])
        .args(["--scope", "roster.readonly", "-v"]);
        cmd
    };
    let ran = run_to(&mut sky(), &dir.path().join("a.zip"));
    ran.exits(2);
    ran.says("Bb-Api-Subscription-Key");
    assert_eq!(server.stats().tokens_issued, 0);

    let ran = run_to(
        sky().env(
            "ROSTER_EXPORT_HEADERS",
            "Bb-Api-Subscription-Key: bb-sub-key-4711",
        ),
        &dir.path().join("b.zip"),
    );
    ran.exits(0);
    assert!(!ran.stderr.contains("bb-sub-key-4711"));

    let ran = run_to(
        sky().env("ROSTER_EXPORT_HEADERS", "Bb-Api-Subscription-Key: wrong"),
        &dir.path().join("c.zip"),
    );
    ran.exits(3);
    ran.says("subscription key");
}

#[test]
fn a_refresh_token_run_outlives_its_access_tokens_and_saves_each_rotation() {
    let server = Server::start(SandboxOptions {
        token_max_uses: Some(8),
        ..Default::default()
    });
    let dir = workdir();
    let store = dir.path().join("store.json");
    let ran = run_to(
        server
            .export()
            .env("ROSTER_EXPORT_REFRESH_TOKEN", SEED)
            .args(refresh_args(&store))
            .args(["--page-size", "2", "--concurrency", "2"]),
        &dir.path().join("a.zip"),
    );
    ran.exits(0);
    let stats = server.stats();
    assert!(stats.refresh_rotations >= 2, "{stats:?}");
    // The last rotation is the one on disk: a later run can use it.
    let ran = run_to(
        server
            .export()
            .args(refresh_args(&store))
            .args(["--only", "orgs"]),
        &dir.path().join("b.zip"),
    );
    ran.exits(0);
}

#[test]
fn oauth1_signed_runs_give_the_same_bundle_and_a_wrong_secret_is_refused() {
    let server = Server::fixture();
    let dir = workdir();
    let reference = dir.path().join("bearer.zip");
    let ran = run_to(
        server.export().args(["--scope", "roster.readonly"]),
        &reference,
    );
    ran.exits(0);
    let tokens_before = server.stats().tokens_issued;
    for method in ["hmac-sha256", "hmac-sha1"] {
        let out = dir.path().join(format!("{method}.zip"));
        // Small pages: many signed requests, each with its own limit and offset.
        let ran = run_to(
            server.export().args([
                "--auth",
                "oauth1",
                "--signature-method",
                method,
                "--scope",
                "roster.readonly",
                "--page-size",
                "7",
            ]),
            &out,
        );
        assert_eq!(ran.code, Some(0), "{method}: {}", ran.stderr);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&reference).unwrap()
        );
    }
    let stats = server.stats();
    assert_eq!(
        stats.tokens_issued, tokens_before,
        "OAuth 1.0a fetches no token"
    );
    assert!(stats.oauth1_requests > 20, "{stats:?}");
    assert_eq!(stats.unauthorized, 0, "{stats:?}");

    let ran = run_to(
        server
            .export()
            .env("ROSTER_EXPORT_CLIENT_SECRET", "not-the-secret")
            .args(["--auth", "oauth1", "--scope", "roster.readonly"]),
        &dir.path().join("wrong.zip"),
    );
    ran.exits(3);
    ran.says("signed request was refused");
    assert!(!dir.path().join("wrong.zip").exists());
}

#[test]
fn the_demo_serves_every_grant() {
    let dir = workdir();
    for auth in ["client-credentials", "password", "oauth1"] {
        let out = dir.path().join(format!("{auth}.zip"));
        let ran = run_to(
            bin().args(["--demo", "--auth", auth, "--scope", "roster.readonly"]),
            &out,
        );
        assert_eq!(ran.code, Some(0), "{auth}: {}", ran.stderr);
    }
    let first = std::fs::read(dir.path().join("client-credentials.zip")).unwrap();
    assert_eq!(
        first,
        std::fs::read(dir.path().join("password.zip")).unwrap()
    );
    assert_eq!(first, std::fs::read(dir.path().join("oauth1.zip")).unwrap());
}
