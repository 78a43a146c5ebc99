//! Incremental runs against a district that changes between runs: the result equals a full pull
//! (bytes), every doubt falls back to a full pull, and the state is kept where it should be.

use std::path::{Path, PathBuf};

use oneroster::CollectionId::{self, *};
use roster_sandbox::{BASE_INSTANT, Changes, FilterSupport, SandboxOptions};
use serde_json::{Value, json};

use crate::support::*;

const SCOPES: [&str; 8] = [
    "--scope",
    "roster.readonly",
    "--scope",
    "resource.readonly",
    "--scope",
    "gradebook.readonly",
    "--scope",
    "roster-demographics.readonly",
];

/// A district, a folder, and the state file of the nightly job.
struct Nightly {
    server: Server,
    dir: tempfile::TempDir,
    state: PathBuf,
}

impl Nightly {
    fn new(options: SandboxOptions) -> Nightly {
        let dir = workdir();
        let state = dir.path().join("state/nightly.json");
        Nightly {
            server: Server::start(options),
            dir,
            state,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An incremental export to `out`, with `extra` flags; its summary is in `summary.json`.
    fn incremental(&self, out: &Path, extra: &[&str]) -> Ran {
        let summary = self.path("summary.json");
        run_to(
            self.server
                .export()
                .args(SCOPES)
                .args(["--incremental", "--state"])
                .arg(&self.state)
                .arg("--summary-json")
                .arg(&summary)
                .args(extra),
            out,
        )
    }

    /// What the last incremental run wrote to `--summary-json`.
    fn summary(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path("summary.json")).unwrap()).unwrap()
    }

    /// A plain full export to `out`.
    fn full(&self, out: &Path, extra: &[&str]) {
        let ran = run_to(self.server.export().args(SCOPES).args(extra), out);
        ran.exits(0);
    }
}

fn pulls(summary: &Value) -> Vec<(String, String)> {
    summary["collections"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, c)| (name.clone(), c["pull"].as_str().unwrap().to_string()))
        .collect()
}

fn pull_of(summary: &Value, c: CollectionId) -> String {
    summary["collections"][c.name()]["pull"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Updates, inserts (ids that sort between and after existing ones, and a class with
/// resources) and `tobedeleted` marks in several collections, none of them an outright delete.
fn some_changes() -> Changes {
    let mut inserted = fixture("users")
        .into_iter()
        .find(|u| u["sourcedId"] == "user-stu-004")
        .unwrap();
    inserted["sourcedId"] = "user-stu-004a".into();
    inserted["username"] = "newkid".into();
    let mut last = inserted.clone();
    last["sourcedId"] = "user-zzz-999".into();
    Changes::new()
        .update(Users, "user-stu-002", json!({"givenName": "Renamed"}))
        .update(
            Classes,
            "class-alg1-p3",
            json!({"title": "Algebra I (3rd)"}),
        )
        .update(Enrollments, "enr-bio-p2-tch-003", json!({"primary": true}))
        .insert(Users, inserted)
        .insert(Users, last)
        .mark_deleted(Users, "user-stu-007")
        .mark_deleted(Enrollments, "enr-alg1-p1-tch-001")
        .mark_deleted(Courses, "course-span")
}

#[test]
fn an_incremental_run_equals_a_full_pull_in_every_format() {
    for (name, format) in [
        ("b.zip", "csv"),
        ("folder", "csv"),
        ("json", "json"),
        ("lines.ndjson", "ndjson"),
    ] {
        let night = Nightly::new(SandboxOptions::default());
        let out = night.path(name);
        let f = ["--format", format];
        night.incremental(&out, &f).exits(0).says("no state yet");
        assert_eq!(night.summary()["mode"], "full");
        let state = std::fs::metadata(&night.state).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(state.permissions().mode() & 0o777, 0o600, "{format}");

        // Nothing changed: every collection is brought up to date from its changes alone.
        night.incremental(&out, &f).exits(0);
        let quiet = night.summary();
        assert_eq!(quiet["mode"], "incremental", "{format}");
        assert!(
            pulls(&quiet).iter().all(|(_, p)| p == "changes"),
            "{format}: {quiet}"
        );

        night.server.apply(some_changes());
        night.incremental(&out, &f).exits(0);
        let summary = night.summary();
        assert_eq!(pull_of(&summary, Users), "changes", "{format}: {summary}");
        assert_eq!(pull_of(&summary, Classes), "changes", "{format}");
        let users = &summary["collections"]["users"];
        assert_eq!(users["records"], 4, "{format}: the changed users only");

        let full = night.path(&format!("full-{name}"));
        night.full(&full, &f);
        if format == "ndjson" {
            assert_eq!(
                std::fs::read(&out).unwrap(),
                std::fs::read(&full).unwrap(),
                "ndjson"
            );
        } else {
            assert_same_bundle(&out, &full, format);
        }
        if name == "b.zip" {
            assert_eq!(
                std::fs::read(&out).unwrap(),
                std::fs::read(&full).unwrap(),
                "the zip's bytes"
            );
            // What changed, as scripts read it.
            assert_eq!(users["added"], 2);
            assert_eq!(users["removed"], 1);
            assert_eq!(users["changed"], 1);
        }
    }
}

#[test]
fn churn_with_outright_deletes_is_caught_by_the_count_and_still_equals_a_full_pull() {
    let night = Nightly::new(SandboxOptions::default());
    let out = night.path("b.zip");
    night.incremental(&out, &[]).exits(0);
    night
        .server
        .apply(Changes::new().delete(Users, "user-stu-009").update(
            Users,
            "user-stu-010",
            json!({"givenName": "Changed"}),
        ));
    night
        .incremental(&out, &[])
        .exits(0)
        .says("users: the host counts 24 records but applying the changes gives 25")
        .says("pulling it in full");
    assert_eq!(pull_of(&night.summary(), Users), "full");
    let full = night.path("full.zip");
    night.full(&full, &[]);
    assert_same_bundle(&out, &full, "after an outright delete");

    // A mixed batch of every kind, twice.
    for seed in [3, 4] {
        night.server.churn(20, seed);
        night.incremental(&out, &[]).exits(0);
        night.full(&full, &[]);
        assert_same_bundle(&out, &full, &format!("after churn {seed}"));
    }
}

#[test]
fn hosts_that_refuse_or_ignore_the_filter_get_full_pulls() {
    for (filters, says) in [
        (
            FilterSupport::Refused,
            "the host refused the dateLastModified filter",
        ),
        (FilterSupport::Ignored, "so it may ignore the filter"),
    ] {
        let night = Nightly::new(SandboxOptions {
            filters,
            ..Default::default()
        });
        let out = night.path("b.zip");
        night.incremental(&out, &[]).exits(0);
        night.server.apply(some_changes());
        night.incremental(&out, &[]).exits(0).says(says);
        let summary = night.summary();
        assert_eq!(summary["mode"], "full", "{filters:?}: {summary}");
        let full = night.path("full.zip");
        night.full(&full, &[]);
        assert_same_bundle(&out, &full, &format!("{filters:?}"));
    }
}

#[test]
fn a_state_that_does_not_fit_the_run_or_the_output_means_a_full_pull() {
    let night = Nightly::new(SandboxOptions::default());
    let out = night.path("folder");
    night.incremental(&out, &[]).exits(0);

    // Someone edits the output between runs.
    let users = out.join("users.csv");
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push_str("extra,,,,\r\n");
    std::fs::write(&users, text).unwrap();
    night
        .incremental(&out, &[])
        .exits(0)
        .says("a full pull, because the output changed since the last run");
    assert_eq!(night.summary()["mode"], "full");

    night
        .incremental(&out, &["--only", "users"])
        .exits(0)
        .says("does not fit this run: it was made for other collections");
    night
        .incremental(&out, &["--full"])
        .exits(0)
        .says("a full pull, because --full asks for it");
    std::fs::remove_dir_all(&out).unwrap();
    night
        .incremental(&out, &[])
        .exits(0)
        .says("the output it was made for is missing");
    night.incremental(&out, &[]).exits(0);
    assert_eq!(night.summary()["mode"], "incremental");

    // A last full pull older than --full-every.
    let mut state: Value = serde_json::from_slice(&std::fs::read(&night.state).unwrap()).unwrap();
    state["last_full"] = "2026-01-01T00:00:00Z".into();
    std::fs::write(&night.state, state.to_string()).unwrap();
    night
        .incremental(&out, &["--full-every", "7"])
        .exits(0)
        .says("(--full-every 7)");
    assert_eq!(night.summary()["mode"], "full");
}

#[test]
fn the_state_is_kept_in_the_platform_state_folder_by_default() {
    let server = Server::fixture();
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let home = dir.path().join("xdg-state");
    let run = || {
        run_to(
            server.export().env("XDG_STATE_HOME", &home).args([
                "--scope",
                "roster.readonly",
                "--incremental",
            ]),
            &out,
        )
    };
    run().exits(0);
    let files: Vec<_> = std::fs::read_dir(home.join("roster-export"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("b_zip-"), "{files:?}");
    run().exits(0).says("(changes applied)");
    // Nothing of the state sits beside the output.
    assert_eq!(
        leftovers(dir.path(), &["b.zip", "xdg-state"]),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn ndjson_on_stdout_streams_only_the_changes() {
    let night = Nightly::new(SandboxOptions::default());
    let stdout = Path::new("-");
    let f = ["--format", "ndjson", "--only", "users,courses"];
    let first = night.incremental(stdout, &f);
    first.exits(0);
    assert_eq!(first.stdout.lines().count(), 25 + 5);
    night.server.apply(some_changes());
    let second = night.incremental(stdout, &f);
    second.exits(0);
    let lines: Vec<Value> = second
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["record"]["sourcedId"].as_str().unwrap())
        .collect();
    // In plan order: courses, then users.
    assert_eq!(
        ids,
        [
            "course-span",
            "user-stu-002",
            "user-stu-004a",
            "user-stu-007",
            "user-zzz-999",
        ]
    );
    let deleted = &lines[3]["record"];
    assert_eq!(
        deleted["status"], "tobedeleted",
        "each line keeps its status"
    );
}

#[test]
fn since_writes_a_delta_bundle() {
    let night = Nightly::new(SandboxOptions::default());
    night.server.apply(some_changes());
    let out = night.path("delta.zip");
    let ran = run_to(
        night
            .server
            .export()
            .args(["--scope", "roster.readonly", "--since", BASE_INSTANT]),
        &out,
    );
    ran.exits(0);
    let files = bundle_files(&out);
    let manifest = manifest(&files);
    assert_eq!(manifest["file.users"], "delta");
    assert_eq!(manifest["file.courses"], "delta");
    assert_eq!(manifest["file.demographics"], "absent");
    let users = Table::parse(&files["users.csv"]);
    assert_eq!(
        users.ids(),
        [
            "user-stu-002",
            "user-stu-004a",
            "user-stu-007",
            "user-zzz-999"
        ]
    );
    let gone = users.row("user-stu-007");
    assert_eq!(gone["status"], "tobedeleted");
    assert!(gone["dateLastModified"].starts_with("20"), "{gone:?}");
    assert_eq!(users.row("user-stu-002")["status"], "active");
    // A delta replaces no bulk bundle's rows, so it is never held back by the shrink guard.
    assert_eq!(Table::parse(&files["orgs.csv"]).rows.len(), 0);

    let bad = run_to(
        night
            .server
            .export()
            .args(["--scope", "roster.readonly", "--since", "yesterday"]),
        &out,
    );
    bad.exits(2)
        .says("--since \"yesterday\" is not an RFC 3339 date-time");
}

#[test]
fn the_shrink_guard_holds_back_a_merged_result_and_the_state_stays() {
    let night = Nightly::new(SandboxOptions::default());
    let out = night.path("b.zip");
    night.incremental(&out, &[]).exits(0);
    let before_state = std::fs::read(&night.state).unwrap();
    let before = std::fs::read(&out).unwrap();
    let mut gone = Changes::new();
    for user in fixture("users").iter().take(20) {
        gone = gone.mark_deleted(Users, user["sourcedId"].as_str().unwrap());
    }
    night.server.apply(gone);
    night.incremental(&out, &[]).exits(4).says("users.csv");
    assert_eq!(std::fs::read(&out).unwrap(), before, "the output stays");
    assert_eq!(
        std::fs::read(&night.state).unwrap(),
        before_state,
        "the state stays"
    );
}
