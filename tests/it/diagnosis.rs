//! Errors that name the failing part: a token URL that is not there, a host or proxy that cannot
//! be reached, a misspelt base URL, flags and config keys, in the same style whether the parser
//! or the run finds them.

use crate::support::*;

/// An export from `server`'s API with tokens from `token_url`, stopping after one try.
fn export_with_token_url(server: &Server, token_url: &str) -> Ran {
    let dir = workdir();
    run_to(
        bin()
            .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
            .args(["--base-url", &server.base_url(), "--token-url", token_url])
            .args(["--client-id", "demo-client", "--scope", "roster.readonly"])
            .args(["--max-attempts", "1"]),
        &dir.path().join("b.zip"),
    )
}

#[test]
fn a_token_url_that_is_not_there_is_a_configuration_error() {
    let server = Server::fixture();
    // The API's own path answers POST with 405.
    let api_path = format!("{}/orgs", server.base_url());
    export_with_token_url(&server, &api_path)
        .exits(2)
        .says(&format!(
            "the token URL {api_path} answered 405 Method Not Allowed: check --token-url: that \
             is an API path"
        ))
        .never_says("authentication failed");
    assert_eq!(server.stats().api_requests, 0);
}

#[test]
fn an_unreachable_host_or_proxy_is_named() {
    let server = Server::fixture();
    let port = closed_port();
    let token = format!("http://127.0.0.1:{port}/token");
    export_with_token_url(&server, &token)
        .exits(4)
        .says(&format!(
            "cannot reach 127.0.0.1:{port} (connection refused)"
        ))
        .never_says("authentication failed");

    let dir = workdir();
    let proxy = format!("http://127.0.0.1:{port}");
    let ran = run_to(
        server.export().env("HTTP_PROXY", &proxy).args([
            "--scope",
            "roster.readonly",
            "--max-attempts",
            "1",
        ]),
        &dir.path().join("b.zip"),
    );
    ran.exits(4).says(&format!(
        "cannot reach {} through the proxy {proxy} (from HTTP_PROXY): connection refused",
        server.addr()
    ));
    // NO_PROXY exempts the host: the proxy is not used at all.
    run_to(
        server
            .export()
            .env("HTTP_PROXY", &proxy)
            .env("NO_PROXY", "127.0.0.1")
            .args(["--scope", "roster.readonly"]),
        &dir.path().join("b.zip"),
    )
    .exits(0);
}

#[test]
fn flag_mistakes_are_answered_in_plain_words() {
    let run = |args: &[&str]| {
        ran(bin()
            .env("ROSTER_EXPORT_CLIENT_SECRET", "s")
            .args(["--scope", "roster.readonly", "--out", "x.zip"])
            .args(args))
    };
    run(&["--provider", "blackbaud"])
        .exits(2)
        .says("--client-id is required")
        .never_says("--provider");
    run(&["--demo", "--rate", "-1"])
        .exits(2)
        .says("--rate must be `auto` or a positive number of requests per second, not -1");
    run(&["--demo", "--page-size", "0"])
        .exits(2)
        .says("expected a whole number, at least 1, not 0")
        .never_says("18446744073709551615");
    run(&["--demo", "--max-attempts", "-2"])
        .exits(2)
        .says("expected a whole number from 1 to 100, not `-2`");
    run(&[
        "--base-url",
        "https://district.example/ims/onerostr/v1p1",
        "--token-url",
        "https://district.example/oauth/token",
        "--client-id",
        "c",
    ])
    .exits(2)
    .says("would ask https://district.example/ims/onerostr/v1p1/ims/oneroster/v1p1/orgs")
    .says("Did you mean --base-url https://district.example/ims/oneroster/v1p1?");
}

#[test]
fn every_unknown_config_key_is_reported_at_once() {
    let dir = workdir();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[profiles.north]\nscope = [\"roster.readonly\"]\nbase-url = \"https://h.example\"\n\
         client_id = \"c\"\noutput = \"north.zip\"\n",
    )
    .unwrap();
    let ran = ran(bin().args(["--profile", "north", "--config"]).arg(&config));
    ran.exits(2)
        .says("3 unknown keys")
        .says("line 2: unknown key `scope` in profile north (did you mean `scopes`?)")
        .says("line 3: unknown key `base-url` in profile north (did you mean `base_url`?)")
        .says("line 5: unknown key `output` in profile north (did you mean `out`?)");
}

#[test]
fn parser_errors_follow_the_log_format() {
    // Not `bin()`: it asks for text logs.
    let plain = || {
        let mut cmd = assert_cmd::Command::cargo_bin("roster-export").unwrap();
        cmd.env_clear()
            .env("HOME", "/nonexistent")
            .timeout(RUN_TIMEOUT);
        cmd
    };
    // stderr is a pipe, so `auto` means JSON lines.
    let json = ran(plain().args(["--demo", "--colour"]));
    json.exits(2);
    let line: serde_json::Value = serde_json::from_str(json.stderr.trim()).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["exit_code"], 2);
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("unexpected argument '--colour' found"),
        "{line}"
    );
    // Text logs keep clap's own words.
    ran(plain().args(["--log-format", "text", "--demo", "--colour"]))
        .exits(2)
        .says("error: unexpected argument '--colour' found")
        .says("Usage:");
    let help = ran(plain().arg("--help"));
    help.exits(0).shows("Exit codes");
    assert!(help.stderr.is_empty(), "{}", help.stderr);
}

#[test]
fn an_output_folder_that_takes_no_files_is_named_before_any_download() {
    // /proc takes no new files, whoever runs the test.
    ran(bin().args([
        "--demo",
        "--scope",
        "roster.readonly",
        "--out",
        "/proc/x.zip",
    ]))
    .exits(5)
    .says("cannot write to /proc: it does not take new files")
    .never_says("staging");

    // A folder this user may not write; root may write anywhere, so it runs as `nobody`.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = workdir();
    let open = std::fs::Permissions::from_mode(0o1777);
    std::fs::set_permissions(dir.path(), open.clone()).unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, open).unwrap();
    let folder = dir.path().join("locked");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut export = bin_std();
    export
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["--demo", "--scope", "roster.readonly", "--out"])
        .arg(folder.join("b.zip"));
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let cmd = if root {
        let as_nobody = |program: &std::ffi::OsStr| {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(program);
            c
        };
        // The binary must be reachable by `nobody` (a clone under /root is not).
        let can = as_nobody(export.get_program())
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !can {
            eprintln!(
                "SKIPPED the unwritable-folder half: running as root, and `setpriv` is missing \
                 or user nobody cannot run {}",
                export.get_program().to_string_lossy()
            );
            return;
        }
        let mut c = as_nobody(export.get_program());
        c.args(export.get_args());
        c.env_clear();
        for (k, v) in export.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c
    } else {
        export
    };
    ran(assert_cmd::Command::from_std(cmd).timeout(std::time::Duration::from_secs(60)))
        .exits(5)
        .says(&format!(
            "cannot write to {}: permission denied; give this user write access to the folder, or \
             choose another --out",
            folder.display()
        ));
}
