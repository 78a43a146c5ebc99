//! Output safety: the previous bundle survives a failed run, same data gives the same bytes, and
//! files holding student data are private.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

#[test]
fn the_same_data_gives_a_byte_identical_bundle() {
    let server = Server::fixture();
    let dir = workdir();
    let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
    for out in [&a, &b] {
        server.export_ok(
            &[
                "--scope",
                "roster.readonly",
                "--concurrency",
                "3",
                "--page-size",
                "4",
            ],
            out,
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn a_failed_run_leaves_the_previous_bundle_untouched() {
    let server = Server::fixture();
    let dir = workdir();
    for target in ["bundle.zip", "bundle-folder"] {
        let out = dir.path().join(target);
        server.export_ok(&["--scope", "roster.readonly"], &out);
        let before = bundle_files(&out);
        // The server is fine but the credentials are not: exit 3, nothing replaced.
        server
            .export()
            .env("ROSTER_EXPORT_CLIENT_SECRET", "wrong")
            .args(["--scope", "roster.readonly"])
            .arg("--out")
            .arg(&out)
            .assert()
            .code(3);
        assert_eq!(bundle_files(&out), before, "{target}");
    }
    // A server that is gone: exit 4 after retries, nothing replaced, no staging left.
    let out = dir.path().join("bundle.zip");
    let before = std::fs::read(&out).unwrap();
    drop(server);
    bin()
        .env("ROSTER_EXPORT_CLIENT_SECRET", SECRET)
        .args([
            "--base-url",
            "http://127.0.0.1:9/x",
            "--token-url",
            "http://127.0.0.1:9/token",
            "--client-id",
            "c",
        ])
        .args(["--scope", "roster.readonly", "--max-attempts", "2"])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(4);
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["bundle-folder", "bundle.zip"]);
}

#[test]
fn files_are_readable_by_the_owner_only() {
    let server = Server::fixture();
    let dir = workdir();
    let zip = dir.path().join("b.zip");
    let folder = dir.path().join("b");
    for out in [&zip, &folder] {
        server.export_ok(&["--scope", "roster.readonly"], out);
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&zip), 0o600);
    assert_eq!(mode(&folder), 0o700);
    for entry in std::fs::read_dir(&folder).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
}

#[test]
fn the_shrink_guard_refuses_to_replace_a_much_larger_bundle() {
    use roster_sandbox::{District, SandboxOptions};
    // The same district, but the host now serves a handful of users.
    let (tiny, before) = Scenario::over_previous(SandboxOptions {
        district: District::Synthetic { users: 2, seed: 1 },
        ..Default::default()
    });
    let users_before = Table::parse(&bundle_files(&tiny.out)["users.csv"])
        .rows
        .len();
    assert!(users_before > 2);
    tiny.export(&["--scope", "roster.readonly"])
        .exits(4)
        .says("would fall from")
        .says("--max-shrink");
    tiny.untouched(&before);

    // Told the drop is real, it publishes.
    tiny.export(&["--scope", "roster.readonly", "--max-shrink", "off"])
        .exits(0);
    assert_ne!(std::fs::read(&tiny.out).unwrap(), before);
}
