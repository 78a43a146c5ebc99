//! Credentials stay with the configured origin; an interrupted run cleans up and keeps the old
//! bundle.

use std::time::{Duration, Instant};

use roster_sandbox::SandboxOptions;

use crate::support::*;

#[test]
fn a_link_to_another_origin_is_refused_and_gets_no_request() {
    let other = Server::start_at(SandboxOptions::default(), "127.0.0.2:0");
    let s = Scenario::new(SandboxOptions {
        total_count: false,
        link_origin: Some(format!("http://{}", other.addr())),
        ..Default::default()
    });
    let args = [
        "--scope",
        "roster.readonly",
        "--only",
        "users",
        "--page-size",
        "5",
    ];
    s.export(&args)
        .exits(4)
        .says("refusing to send credentials to http://127.0.0.2:");
    assert_eq!(
        other.stats().api_requests,
        0,
        "the other origin never heard from us"
    );
    assert!(!s.out.exists());
}

#[test]
fn sigterm_stops_the_run_removes_staging_and_keeps_the_old_bundle() {
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let before = previous_bundle(&out);

    // Slow enough that the run is mid-way when the signal comes.
    let slow = Server::start(SandboxOptions {
        latency: Some(Duration::from_millis(100)),
        ..Default::default()
    });
    let mut child = slow
        .export_std()
        .args([
            "--scope",
            "roster.readonly",
            "--page-size",
            "1",
            "--concurrency",
            "1",
        ])
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Signalled once it is writing into its staging folder, whenever that is.
    let staged = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("staging")
            })
            .count()
    };
    let waited = Instant::now();
    while staged() == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no staging folder"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(staged(), 1, "the run is writing into its staging folder");
    // SAFETY: sends a signal to the child we spawned.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stops promptly"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the previous bundle is untouched"
    );
    assert_eq!(
        leftovers(dir.path(), &["b.zip", ".b.zip.lock"]),
        Vec::<std::path::PathBuf>::new(),
        "no staging left"
    );
}
