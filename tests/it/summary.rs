//! `--summary-json`: what a run did, for scripts, whether it succeeded or not.

use roster_sandbox::{District, SandboxOptions};
use serde_json::Value;

use crate::support::*;

fn summary(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_summary_counts_records_requests_and_what_changed() {
    let s = Scenario::new(SandboxOptions::default());
    let json = s.dir.path().join("summary.json");
    let args = ["--scope", "roster.readonly", "--summary-json"];
    let with_json = |extra: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.push(json.to_str().unwrap());
        all.extend(extra);
        s.export(&all)
    };
    with_json(&[]).exits(0);
    let first = summary(&json);
    assert_eq!(first["mode"], "full");
    assert_eq!(first["exit_code"], 0);
    let users = &first["collections"]["users"];
    assert_eq!(users["records"], fixture("users").len() as u64);
    assert!(users["requests"].as_u64().unwrap() >= 1);
    assert_eq!(users["added"], Value::Null, "nothing was replaced");
    assert!(first["requests"].as_u64().unwrap() >= 6);

    // The same district again: nothing changed.
    with_json(&[]).exits(0);
    let again = summary(&json);
    for name in ["orgs", "users", "enrollments"] {
        let c = &again["collections"][name];
        assert_eq!(
            (&c["added"], &c["removed"], &c["changed"]),
            (&0.into(), &0.into(), &0.into()),
            "{name}"
        );
    }

    // Another district over it: everything is added or removed.
    let other = Server::start(SandboxOptions {
        district: District::Synthetic { users: 30, seed: 4 },
        ..Default::default()
    });
    let ran = run_to(
        other
            .export()
            .args([
                "--scope",
                "roster.readonly",
                "--only",
                "users",
                "--max-shrink",
                "off",
            ])
            .arg("--summary-json")
            .arg(&json),
        &s.out,
    );
    ran.exits(0);
    let replaced = summary(&json);
    let users = &replaced["collections"]["users"];
    assert_eq!(users["removed"], fixture_active("users").len() as u64);
    assert_eq!(users["added"], users["records"]);
    assert!(
        ran.stderr.contains("added") && ran.stderr.contains("removed"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_failed_run_still_writes_its_summary() {
    let s = Scenario::new(SandboxOptions::default());
    let json = s.dir.path().join("summary.json");
    let ran = run_to(
        s.server
            .export()
            .env("ROSTER_EXPORT_CLIENT_SECRET", "wrong")
            .args(["--scope", "roster.readonly", "--summary-json"])
            .arg(&json),
        &s.out,
    );
    ran.exits(3);
    let doc = summary(&json);
    assert_eq!(doc["exit_code"], 3);
    assert!(doc["error"].as_str().unwrap().contains("401"), "{doc}");
    assert_no_secret("summary", &doc.to_string());
}
