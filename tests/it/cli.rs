//! The command line's contract: usage errors exit 2 with a message naming the problem, the demo
//! needs no account, help documents env vars and exit codes.

use crate::support::*;

#[test]
fn usage_errors_exit_2_and_say_what_is_wrong() {
    let cases: [(&[&str], &str); 5] = [
        (&["--demo", "--out", "x.zip"], "--scope"),
        (
            &["--demo", "--scope", "roster.readwrite", "--out", "x.zip"],
            "roster.readwrite",
        ),
        (
            &[
                "--demo",
                "--scope",
                "roster.readonly",
                "--only",
                "results",
                "--out",
                "x.zip",
            ],
            "gradebook.readonly",
        ),
        (
            &["--demo", "--scope", "roster.readonly", "--out", "-"],
            "ndjson",
        ),
        (
            &[
                "--base-url",
                "http://district.example/x",
                "--token-url",
                "https://a.example/t",
                "--client-id",
                "c",
                "--scope",
                "roster.readonly",
                "--out",
                "x.zip",
            ],
            "loopback",
        ),
    ];
    for (args, needle) in cases {
        let dir = workdir();
        let output = bin()
            .current_dir(dir.path())
            .env("ROSTER_EXPORT_CLIENT_SECRET", "s")
            .args(args)
            .output()
            .unwrap();
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(leftovers(dir.path(), &[]), Vec::<std::path::PathBuf>::new());
    }
}

#[test]
fn the_demo_exports_without_an_account() {
    let dir = workdir();
    bin()
        .current_dir(dir.path())
        .args(["--demo", "--scope", "roster.readonly", "--out", "demo.zip"])
        .assert()
        .success();
    let files = bundle_files(&dir.path().join("demo.zip"));
    assert_eq!(manifest(&files)["file.users"], "bulk");
    assert_eq!(
        Table::parse(&files["users.csv"]).rows.len(),
        fixture_active("users").len()
    );
}

#[test]
fn help_lists_env_vars_and_exit_codes() {
    let output = bin().arg("--help").output().unwrap();
    let (stdout, _) = text(&output);
    assert!(output.status.success());
    for needle in [
        "ROSTER_EXPORT_CLIENT_SECRET",
        "ROSTER_EXPORT_BASE_URL",
        "Exit codes",
        "--demo",
        "jq",
    ] {
        assert!(stdout.contains(needle), "help lacks {needle}");
    }
}

#[test]
fn env_vars_stand_in_for_flags() {
    let server = Server::fixture();
    let dir = workdir();
    bin()
        .current_dir(dir.path())
        .env("ROSTER_EXPORT_BASE_URL", server.base_url())
        .env("ROSTER_EXPORT_TOKEN_URL", server.token_url())
        .env("ROSTER_EXPORT_CLIENT_ID", "demo-client")
        .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
        .env("ROSTER_EXPORT_SCOPE", "roster.readonly,gradebook.readonly")
        .env("ROSTER_EXPORT_OUT", "env.zip")
        .assert()
        .success();
    let files = bundle_files(&dir.path().join("env.zip"));
    assert_eq!(manifest(&files)["file.results"], "bulk");
}
