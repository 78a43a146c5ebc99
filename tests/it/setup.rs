//! A new host's first night: `init`, the bare command once a profile is set up, completions,
//! the man page and `--version`, what `-h` shows first, the request log of `-v`, and the one
//! progress line on a terminal.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::support::*;

/// The profile the fixture sandbox needs, as the config file holds it.
fn working_profile(server: &Server, name: &str) -> String {
    format!(
        "[profiles.{name}]\nbase_url = \"{}\"\ntoken_url = \"{}\"\nclient_id = \"demo-client\"\n\
         scopes = [\"roster.readonly\"]\nrate = 1000.0\n",
        server.base_url(),
        server.token_url()
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_bare_command_uses_the_default_or_only_profile_and_says_which() {
    let server = Server::fixture();
    let dir = workdir();
    let config = dir.path().join("config.toml");
    let out = dir.path().join("b.zip");
    let bare = || {
        let mut cmd = bin();
        cmd.env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(&out);
        cmd
    };
    write(&config, &working_profile(&server, "north"));
    ran(&mut bare())
        .exits(0)
        .says("using profile north of")
        .says("(its only profile)");

    // Two profiles: default_profile picks one; flags still win over it.
    write(
        &config,
        &format!(
            "default_profile = \"south\"\n{}\n[profiles.north]\nbase_url = \"https://n.example\"\n",
            working_profile(&server, "south")
        ),
    );
    ran(bare().args(["--only", "orgs"]))
        .exits(0)
        .says("using profile south of")
        .says("(its default_profile)");
    assert!(bundle_files(&out).contains_key("orgs.csv"));
    assert!(!bundle_files(&out).contains_key("users.csv"));

    // Two profiles and no default: none is used, and the run says what is missing.
    write(
        &config,
        "[profiles.a]\nclient_id = \"x\"\n[profiles.b]\nclient_id = \"y\"\n",
    );
    ran(&mut bare())
        .exits(2)
        .says("--base-url is required")
        .never_says("using profile");

    // A default_profile that names no profile is a mistake.
    write(&config, "default_profile = \"c\"\n[profiles.a]\n");
    ran(&mut bare())
        .exits(2)
        .says("default_profile = \"c\" names no profile; it has a");

    // No config file at the default place: nothing said about profiles.
    ran(bin().args(["--scope", "roster.readonly", "--out", "x.zip"]))
        .exits(2)
        .never_says("using profile")
        .never_says("config file")
        .says("--base-url is required");
}

#[test]
fn init_writes_a_private_commented_profile_that_the_bare_command_then_uses() {
    let server = Server::fixture();
    let home = workdir();
    // Not `bin_for`: its logging flags belong to commands that log, and init does not.
    let init = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("roster-export").unwrap();
        cmd.env_clear()
            .env("HOME", "/nonexistent")
            .env("XDG_CONFIG_HOME", home.path())
            .timeout(RUN_TIMEOUT)
            .arg("init")
            .args(args);
        ran(&mut cmd)
    };
    let config = home.path().join("roster-export").join("config.toml");
    init(&["--provider", "blackbaud"])
        .exits(0)
        .shows(&format!("wrote profile `default` to {}", config.display()));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(config.parent().unwrap()), 0o700);
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("provider = \"blackbaud\""), "{written}");
    assert!(written.contains("# TODO"), "{written}");

    init(&["--provider", "blackbaud"])
        .exits(2)
        .says("already has a profile `default`; nothing was changed");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written);
    init(&["--profile", "east"])
        .exits(0)
        .shows("appended; nothing else changed")
        .shows("roster-export check --profile east");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .starts_with(&written)
    );

    // The bare `check` now starts from the default profile: its client id is still a TODO...
    let check = || {
        let mut cmd = bin_for(&["check"]);
        cmd.env("XDG_CONFIG_HOME", home.path())
            .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET);
        cmd
    };
    ran(&mut check())
        .exits(2)
        .says("using profile default of")
        .says("--client-id is required");
    // ...and flags fill in what it lacks, over the preset's URLs.
    ran(check()
        .args([
            "--base-url",
            &server.base_url(),
            "--token-url",
            &server.token_url(),
        ])
        .args(["--client-id", "demo-client", "--only", "orgs"]))
    .exits(0)
    .shows("verdict         OK");
}

#[test]
fn completions_man_page_and_version() {
    let plain = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("roster-export").unwrap();
        cmd.env_clear().timeout(RUN_TIMEOUT).args(args);
        ran(&mut cmd)
    };
    plain(&["completions", "bash"])
        .exits(0)
        .shows("complete -F _roster__export")
        .shows("--base-url");
    for shell in ["zsh", "fish", "powershell"] {
        plain(&["completions", shell]).exits(0).shows("--token-url");
    }
    plain(&["completions", "tcsh"]).exits(2);
    plain(&["man"])
        .exits(0)
        .shows(".TH roster-export")
        .shows("base\\-url");
    let version = plain(&["--version"]);
    version.exits(0).shows("roster-export 0.1.0 (");
    // `(commit date)`: a commit (or `unknown` outside git) and a YYYY-MM-DD date.
    let stamp = version.stdout.trim().rsplit_once('(').unwrap().1;
    let date = stamp.trim_end_matches(')').rsplit(' ').next().unwrap();
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-',
        "{}",
        version.stdout
    );
    // The options people use come first.
    let help = plain(&["-h"]);
    let at = |flag: &str| {
        help.stdout
            .find(&format!("  {flag} "))
            .unwrap_or_else(|| panic!("-h lacks {flag}"))
    };
    let order = [
        "--out",
        "--scope",
        "--profile",
        "--base-url",
        "--token-url",
        "--client-id",
        "--auth",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{pair:?} in:\n{}", help.stdout);
    }
}

#[test]
fn verbose_logs_every_request_without_secrets() {
    let server = Server::fixture();
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let base = server.base_url();
    let ran = run_to(
        server
            .export()
            .args(["--scope", "roster.readonly", "--only", "orgs", "-v"]),
        &out,
    );
    ran.exits(0)
        .says(&format!("GET {base}/orgs?limit=5000&offset=0 status=200"))
        .says("attempt=1")
        .says(&format!("POST {} status=200", server.token_url()))
        .never_says("content-type: application/json");
    let ran = run_to(
        server
            .export()
            .args(["--scope", "roster.readonly", "--only", "orgs", "-vv"]),
        &out,
    );
    ran.exits(0).says("content-type: application/json");
}

#[test]
fn a_terminal_gets_one_progress_line_cleared_before_the_table() {
    let server = Server::fixture();
    let dir = workdir();
    let mut cmd = assert_cmd::Command::cargo_bin("roster-export").unwrap();
    cmd.env_clear()
        .env("HOME", "/nonexistent")
        .env("ROSTER_EXPORT_TEST_FORCE_TERMINAL", "1")
        .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
        .timeout(RUN_TIMEOUT)
        .args(["--log-format", "text", "--base-url", &server.base_url()])
        .args([
            "--token-url",
            &server.token_url(),
            "--client-id",
            "demo-client",
        ])
        .args(["--scope", "roster.readonly", "--out"])
        .arg(dir.path().join("b.zip"));
    let ran = ran(&mut cmd);
    ran.exits(0).says("/6 collections · ").never_says(" done");
    let table = ran.stderr.find("collection ").expect("the closing table");
    let cleared = ran.stderr[..table]
        .rfind("\r\x1b[2K")
        .expect("a cleared line");
    assert!(
        ran.stderr[cleared..table]
            .trim_start_matches("\r\x1b[2K")
            .is_empty(),
        "the line is cleared just before the table: {:?}",
        &ran.stderr[cleared..table]
    );
}
