//! Profiles in a TOML config file: a run from a profile, flags over profile values, secrets by
//! reference (inline only in a private file), `roster-export profiles`, and a missing profile.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::support::*;

/// `roster-export profiles` with a scrubbed environment (it takes no logging options).
fn profiles_command() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("roster-export").unwrap();
    cmd.env_clear()
        .env("HOME", "/nonexistent")
        .arg("profiles")
        .timeout(RUN_TIMEOUT);
    cmd
}

fn write_config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn profile(server: &Server, secret: &str) -> String {
    format!(
        r#"
[profiles.north]
base_url = "{base}"
token_url = "{token}"
client_id = "demo-client"
client_secret = {secret}
scopes = ["roster.readonly"]
out = "north.zip"
rate = 1000.0

[profiles.south]
provider = "classlink"
base_url = "https://south.example/ims/oneroster/v1p1"
client_id = "south-key"
client_secret = {{ file = "south.secret" }}
"#,
        base = server.base_url(),
        token = server.token_url(),
    )
}

#[test]
fn a_run_from_a_profile_with_its_secret_by_reference() {
    let server = Server::fixture();
    let dir = workdir();
    let config = write_config(
        dir.path(),
        &profile(&server, r#"{ env = "NORTH_SECRET" }"#),
        0o644,
    );
    let run = |extra: &[&str]| {
        let output = bin()
            .env("NORTH_SECRET", SECRET)
            .args(["--profile", "north", "--config"])
            .arg(&config)
            .args(extra)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_no_secret("stderr", &stderr);
        (output.status.code(), stdout, stderr)
    };
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    // `out` is relative to the config file's folder.
    let files = bundle_files(&dir.path().join("north.zip"));
    assert!(files.contains_key("users.csv"));

    // Flags win over the profile.
    let other = dir.path().join("other");
    let (code, _, stderr) = run(&["--out", other.to_str().unwrap(), "--only", "orgs"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(other.join("orgs.csv").exists() && !other.join("users.csv").exists());

    // A secret the environment does not hold is named, not guessed.
    let output = bin()
        .args(["--profile", "north", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("NORTH_SECRET") && stderr.contains("profile north"),
        "{stderr}"
    );

    let output = bin()
        .args(["--profile", "west", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("no profile `west`") && stderr.contains("north, south"),
        "{stderr}"
    );
}

#[test]
fn inline_secrets_need_a_private_file() {
    let server = Server::fixture();
    let dir = workdir();
    let config = write_config(
        dir.path(),
        &profile(&server, &format!("\"{SECRET}\"")),
        0o644,
    );
    let run = || {
        let output = bin()
            .args(["--profile", "north", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_no_secret("stderr", &stderr);
        assert_no_secret("stdout", &stdout);
        (output.status.code(), stderr)
    };
    let (code, stderr) = run();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("chmod 600") && stderr.contains("config.toml"),
        "{stderr}"
    );
    assert_eq!(server.stats().tokens_issued, 0);

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stderr) = run();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_profiles_command_lists_profiles_and_where_secrets_come_from() {
    let server = Server::fixture();
    let dir = workdir();
    let config = write_config(
        dir.path(),
        &profile(&server, r#"{ env = "NORTH_SECRET" }"#),
        0o600,
    );
    std::fs::write(dir.path().join("south.secret"), "south-secret-value\n").unwrap();
    let output = profiles_command()
        .env("NORTH_SECRET", "north-secret-value")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for expected in [
        "north",
        "south",
        "auth: oauth1",
        "provider: classlink",
        "client_secret: env NORTH_SECRET (available)",
        "south.secret (available)",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    assert!(!stdout.contains("north-secret-value") && !stdout.contains("south-secret-value"));

    let missing = profiles_command()
        .arg("--config")
        .arg(dir.path().join("nope.toml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
