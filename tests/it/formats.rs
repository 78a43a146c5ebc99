//! JSON files per collection and NDJSON streams, record for record against the fixture.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::*;

#[test]
fn ndjson_on_stdout_parses_line_by_line() {
    let server = Server::fixture();
    let output = server
        .export()
        .args([
            "--scope",
            "roster.readonly",
            "--scope",
            "gradebook.readonly",
            "--format",
            "ndjson",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let mut per_collection: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (n, line) in stdout.lines().enumerate() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        let collection = value["collection"]
            .as_str()
            .expect("each line names its collection")
            .to_string();
        assert!(value["record"].is_object());
        per_collection
            .entry(collection)
            .or_default()
            .push(value["record"].clone());
    }
    for name in [
        "orgs",
        "academicSessions",
        "courses",
        "classes",
        "users",
        "enrollments",
        "categories",
        "lineItems",
        "results",
    ] {
        // NDJSON passes every record through, deleted ones too, exactly as served.
        let mut got = per_collection.remove(name).unwrap_or_default();
        let mut want = fixture(name);
        let key = |v: &Value| v["sourcedId"].as_str().unwrap().to_string();
        got.sort_by_key(key);
        want.sort_by_key(key);
        assert_eq!(got, want, "{name}");
    }
    assert!(
        per_collection.is_empty(),
        "unexpected collections: {:?}",
        per_collection.keys()
    );
}

#[test]
fn json_writes_one_file_per_collection() {
    let server = Server::fixture();
    let dir = workdir();
    let out = dir.path().join("json-bundle");
    server.export_ok(&["--scope", "roster.readonly", "--format", "json"], &out);
    let files = bundle_files(&out);
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        [
            "academicSessions.json",
            "classes.json",
            "courses.json",
            "enrollments.json",
            "orgs.json",
            "users.json"
        ]
    );
    for (name, bytes) in files {
        let collection = name.trim_end_matches(".json");
        let records: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(records.len(), fixture(collection).len(), "{name}");
    }
}

#[test]
fn ndjson_to_a_file_is_published_whole() {
    let server = Server::fixture();
    let dir = workdir();
    let out = dir.path().join("roster.ndjson");
    server.export_ok(
        &[
            "--scope",
            "roster-core.readonly",
            "--format",
            "ndjson",
            "--only",
            "users",
        ],
        &out,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), fixture("users").len());
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).unwrap()["collection"] == "users")
    );
}
