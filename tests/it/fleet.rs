//! Many tenants in one run: every profile exported at once, tenants on one host sharing its pacer,
//! one failing tenant leaving the others (and its own previous output) alone, the summary, the
//! exit code, and shards that split the profiles with no coordinator.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use roster_sandbox::{RateLimit, SandboxOptions};
use serde_json::Value;

use crate::support::*;

/// A config file of profiles `(name, server, secret)`, each writing `<name>.zip` beside it.
fn config(dir: &Path, tenants: &[(&str, &Server, &str)]) -> PathBuf {
    let mut text = String::new();
    for (name, server, secret) in tenants {
        let _ = write!(
            text,
            r#"
[profiles.{name}]
base_url = "{base}"
token_url = "{token}"
client_id = "demo-client"
client_secret = "{secret}"
scopes = ["roster.readonly"]
out = "{name}.zip"
"#,
            base = server.base_url(),
            token = server.token_url(),
        );
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    // Inline secrets are allowed in a private file only.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A run of many tenants with `args`, its summary in `summary.json` beside the config.
fn fleet(config: &Path, args: &[&str]) -> (Ran, Value) {
    let summary = config.with_file_name("summary.json");
    let _ = std::fs::remove_file(&summary);
    let output = bin()
        .arg("--config")
        .arg(config)
        .arg("--summary-json")
        .arg(&summary)
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_no_secret("stderr", &stderr);
    let ran = Ran {
        code: output.status.code(),
        stdout,
        stderr,
    };
    let doc = std::fs::read(&summary)
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    (ran, doc)
}

#[test]
fn every_profile_is_exported_and_one_failing_tenant_leaves_the_others_alone() {
    let shared = Server::fixture();
    let other = Server::fixture();
    let dir = workdir();
    let config = config(
        dir.path(),
        &[
            ("north", &shared, SECRET),
            ("south", &shared, SECRET),
            ("east", &other, SECRET),
            ("west", &shared, "wrong-secret"),
        ],
    );
    // West published once, with the right secret; the failing night must leave that alone.
    let west = dir.path().join("west.zip");
    let before = previous_bundle(&west);

    let (ran, summary) = fleet(&config, &["--all-profiles", "--tenants", "3"]);
    ran.exits(3)
        .says("tenant west failed")
        .says("3 of 4 tenants published");
    assert_eq!(
        std::fs::read(&west).unwrap(),
        before,
        "west's previous output"
    );
    for name in ["north", "south", "east"] {
        let files = bundle_files(&dir.path().join(format!("{name}.zip")));
        assert!(files.contains_key("users.csv"), "{name}");
        let tenant = &summary["tenants"][name];
        assert_eq!(tenant["exit_code"], 0, "{name}: {tenant}");
        assert_eq!(tenant["records"], 87, "{name}: {tenant}");
    }
    let west = &summary["tenants"]["west"];
    assert_eq!(west["exit_code"], 3);
    assert!(west["error"].as_str().unwrap().contains("401"), "{west}");
    assert_eq!(summary["exit_code"], 3);
    assert_eq!(summary["tenants_failed"], 1);
    // Tenants on one host share its pacer: one line per origin.
    let origins: BTreeSet<&str> = summary["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["origin"].as_str().unwrap())
        .collect();
    assert_eq!(origins.len(), 2, "{origins:?}");
    // The table has a line per tenant.
    for name in ["north", "south", "east", "west"] {
        assert!(
            ran.stderr.lines().any(|l| l.starts_with(name)),
            "{}",
            ran.stderr
        );
    }
}

#[test]
fn tenants_on_one_rate_limited_host_stay_within_its_limit_together() {
    let host = Server::start(SandboxOptions {
        rate_limit: Some(RateLimit::per_second(20)),
        ..Default::default()
    });
    let dir = workdir();
    let names = ["t1", "t2", "t3", "t4"];
    let tenants: Vec<(&str, &Server, &str)> = names.iter().map(|n| (*n, &host, SECRET)).collect();
    let config = config(dir.path(), &tenants);
    let (ran, summary) = fleet(
        &config,
        &["--all-profiles", "--tenants", "4", "--page-size", "5"],
    );
    ran.exits(0);
    let stats = host.stats();
    // Four tenants' requests against one limit: a few 429s while the shared pacer finds it, never
    // a share that would fail a tenant.
    assert!(
        stats.rate_limited * 10 <= stats.api_requests,
        "{stats:?}\n{summary}"
    );
    assert_eq!(summary["hosts"].as_array().unwrap().len(), 1, "{summary}");
}

#[test]
fn shards_split_the_profiles_and_profiles_picks_some() {
    let server = Server::fixture();
    let dir = workdir();
    let names: Vec<String> = (0..6).map(|i| format!("district{i}")).collect();
    let tenants: Vec<(&str, &Server, &str)> = names
        .iter()
        .map(|n| (n.as_str(), &server, SECRET))
        .collect();
    let config = config(dir.path(), &tenants);
    let mut seen = BTreeSet::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let (ran, summary) = fleet(
            &config,
            &["--all-profiles", "--shard", shard, "--only", "orgs"],
        );
        ran.exits(0);
        for name in summary["tenants"].as_object().unwrap().keys() {
            assert!(seen.insert(name.clone()), "{name} ran in two shards");
        }
    }
    assert_eq!(seen, names.iter().cloned().collect::<BTreeSet<_>>());

    let (ran, summary) = fleet(
        &config,
        &["--profiles", "district1,district4", "--only", "orgs"],
    );
    ran.exits(0);
    let ran_names: Vec<&String> = summary["tenants"].as_object().unwrap().keys().collect();
    assert_eq!(ran_names, ["district1", "district4"]);

    let (ran, _) = fleet(&config, &["--profiles", "district1,nowhere"]);
    ran.exits(2).says("`nowhere` not in the config file");
    let (ran, _) = fleet(&config, &["--all-profiles", "--out", "x.zip"]);
    ran.exits(2).says("each profile names its own output");
    let (ran, _) = fleet(&config, &["--all-profiles", "--shard", "3/3"]);
    ran.exits(2).says("expected I/N");
}

#[test]
fn a_tenants_logs_name_it() {
    let server = Server::fixture();
    let dir = workdir();
    let config = config(dir.path(), &[("solo", &server, SECRET)]);
    let (ran, _) = fleet(
        &config,
        &[
            "--all-profiles",
            "--log-format",
            "json",
            "--only",
            "orgs,users",
        ],
    );
    ran.exits(0);
    let tenant_lines: Vec<Value> = ran
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["tenant"] == "solo")
        .collect();
    assert!(
        tenant_lines.iter().any(|l| l["message"] == "users done"),
        "{}",
        ran.stderr
    );
}
