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
    let slow = slow_server();
    let mut child = spawn_slow(&slow, &out, |_| {});
    // Signalled once it is writing into its staging folder, whenever that is.
    wait_for_staging(dir.path(), &mut child);
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
        leftovers(dir.path(), &["b.zip"]),
        Vec::<std::path::PathBuf>::new(),
        "no staging left"
    );
}

#[test]
fn a_run_killed_outright_leaves_staging_that_the_next_run_removes() {
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let before = previous_bundle(&out);
    let slow = slow_server();
    let mut child = spawn_slow(&slow, &out, |_| {});
    wait_for_staging(dir.path(), &mut child);
    // SIGKILL: no handler runs, nothing is cleaned up.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let left = leftovers(dir.path(), &["b.zip"]);
    assert_eq!(left.len(), 1, "the killed run's staging folder: {left:?}");
    assert!(has_staging(dir.path()));

    // The next run takes the lock (the kernel dropped the dead run's), clears the leftover and
    // says so, and publishes; nothing but the output is left beside it.
    let ran = run_to(
        Server::fixture()
            .export()
            .args(["--scope", "roster.readonly"]),
        &out,
    );
    ran.exits(0)
        .says("removed 1 leftover staging item(s)")
        .says(&left[0].display().to_string());
    assert_eq!(
        leftovers(dir.path(), &["b.zip"]),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn overlapping_runs_on_one_output_are_refused_and_leave_no_lock_file_beside_it() {
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let slow = slow_server();
    let mut first = spawn_slow(&slow, &out, |_| {});
    wait_for_staging(dir.path(), &mut first);
    let second = run_to(
        Server::fixture()
            .export()
            .args(["--scope", "roster.readonly"]),
        &out,
    );
    second
        .exits(5)
        .says("is being written by another roster-export run");
    first.kill().unwrap();
    first.wait().unwrap();
    // Only the killed run's staging folder: no lock file was ever created beside the output.
    assert!(
        leftovers(dir.path(), &[])
            .iter()
            .all(|p| p.to_string_lossy().contains(".staging-")),
        "{:?}",
        leftovers(dir.path(), &[])
    );
}
