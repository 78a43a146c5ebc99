//! Full exports of each scope into OneRoster 1.1 CSV bundles, checked against the fixture district.

use std::collections::{BTreeMap, BTreeSet};

use oneroster::CsvFile;
use serde_json::Value;

use crate::support::*;

const ROSTER_FILES: [&str; 6] = [
    "academicSessions",
    "classes",
    "courses",
    "enrollments",
    "orgs",
    "users",
];

fn export_zip(server: &Server, scopes: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let dir = workdir();
    let out = dir.path().join("bundle.zip");
    let mut cmd = server.export();
    for s in scopes {
        cmd.arg("--scope").arg(s);
    }
    cmd.arg("--out").arg(&out).assert().success();
    assert_eq!(
        leftovers(dir.path(), &["bundle.zip"]),
        Vec::<std::path::PathBuf>::new()
    );
    bundle_files(&out)
}

#[test]
fn roster_scope_to_zip_has_exact_manifest_and_headers() {
    let server = Server::fixture();
    let files = export_zip(&server, &["roster.readonly"]);
    let expected_names: BTreeSet<String> = ROSTER_FILES
        .iter()
        .map(|f| format!("{f}.csv"))
        .chain(["manifest.csv".to_string()])
        .collect();
    assert_eq!(
        files.keys().cloned().collect::<BTreeSet<_>>(),
        expected_names
    );

    let manifest_text = String::from_utf8(files["manifest.csv"].clone()).unwrap();
    let expected = "propertyName,value\r\nmanifest.version,1.0\r\noneroster.version,1.1\r\n\
        file.academicSessions,bulk\r\nfile.categories,absent\r\nfile.classes,bulk\r\n\
        file.classResources,absent\r\nfile.courses,bulk\r\nfile.courseResources,absent\r\n\
        file.demographics,absent\r\nfile.enrollments,bulk\r\nfile.lineItems,absent\r\nfile.orgs,bulk\r\n\
        file.resources,absent\r\nfile.results,absent\r\nfile.users,bulk\r\nsource.systemName,roster-export\r\n";
    assert_eq!(manifest_text, expected);

    for file in CsvFile::ALL {
        let Some(bytes) = files.get(&file.file_name()) else {
            continue;
        };
        assert!(
            !bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
            "{} has a BOM",
            file.file_name()
        );
        let first_line = bytes.split(|b| *b == b'\n').next().unwrap();
        assert_eq!(
            String::from_utf8_lossy(first_line),
            format!("{}\r", file.header().collect::<Vec<_>>().join(","))
        );
    }
}

#[test]
fn every_fixture_record_appears_once_with_fields_mapped() {
    let server = Server::fixture();
    let files = export_zip(&server, &["roster.readonly"]);
    for name in ROSTER_FILES {
        let table = Table::parse(&files[&format!("{name}.csv")]);
        let mut ids = table.ids();
        ids.sort();
        let mut expected: Vec<String> = fixture_active(name)
            .iter()
            .map(|r| r["sourcedId"].as_str().unwrap().to_string())
            .collect();
        expected.sort();
        assert_eq!(
            ids, expected,
            "{name}.csv holds each active fixture record exactly once"
        );
        for row in &table.rows {
            assert_eq!(row.len(), table.header.len());
            assert_eq!(
                (row[1].as_str(), row[2].as_str()),
                ("", ""),
                "bulk rows leave status and dateLastModified blank"
            );
        }
    }

    let users = Table::parse(&files["users.csv"]);
    for user in fixture_active("users") {
        let row = users.row(user["sourcedId"].as_str().unwrap());
        assert_eq!(row["givenName"], user["givenName"].as_str().unwrap());
        assert_eq!(row["familyName"], user["familyName"].as_str().unwrap());
        assert_eq!(row["role"], user["role"].as_str().unwrap());
        assert_eq!(row["orgSourcedIds"], join_refs(&user["orgs"]));
        assert_eq!(row["agentSourcedIds"], join_refs(&user["agents"]));
        assert_eq!(row["password"], "", "passwords stay out unless asked for");
        if let Some(ids) = user["userIds"].as_array() {
            let expected: Vec<String> = ids
                .iter()
                .map(|i| {
                    format!(
                        "{{{}:{}}}",
                        i["type"].as_str().unwrap(),
                        i["identifier"].as_str().unwrap()
                    )
                })
                .collect();
            assert_eq!(row["userIds"], expected.join(","));
        }
    }
    let deleted: Vec<Value> = fixture("users")
        .into_iter()
        .filter(|u| u["status"] == "tobedeleted")
        .collect();
    assert!(
        !deleted.is_empty(),
        "the fixture has a record marked tobedeleted"
    );
    for d in deleted {
        assert!(
            !users
                .ids()
                .contains(&d["sourcedId"].as_str().unwrap().to_string())
        );
    }

    let enrollments = Table::parse(&files["enrollments.csv"]);
    for e in fixture_active("enrollments") {
        let row = enrollments.row(e["sourcedId"].as_str().unwrap());
        assert_eq!(
            row["classSourcedId"],
            e["class"]["sourcedId"].as_str().unwrap()
        );
        assert_eq!(
            row["userSourcedId"],
            e["user"]["sourcedId"].as_str().unwrap()
        );
        assert_eq!(
            row["schoolSourcedId"],
            e["school"]["sourcedId"].as_str().unwrap()
        );
        assert_eq!(row["role"], e["role"].as_str().unwrap());
    }

    let classes = Table::parse(&files["classes.csv"]);
    for c in fixture_active("classes") {
        let row = classes.row(c["sourcedId"].as_str().unwrap());
        assert_eq!(row["termSourcedIds"], join_refs(&c["terms"]));
        assert_eq!(
            row["courseSourcedId"],
            c["course"]["sourcedId"].as_str().unwrap()
        );
        assert_eq!(row["grades"], join_strings(&c["grades"]));
    }
}

#[test]
fn names_with_commas_quotes_and_accents_round_trip() {
    let server = Server::fixture();
    let files = export_zip(&server, &["roster.readonly"]);
    let users = Table::parse(&files["users.csv"]);
    let names: BTreeSet<String> = users
        .rows
        .iter()
        .flat_map(|r| {
            [
                r[users.column("givenName")].clone(),
                r[users.column("familyName")].clone(),
            ]
        })
        .collect();
    let expected: BTreeSet<String> = fixture_active("users")
        .iter()
        .flat_map(|u| {
            [
                u["givenName"].as_str().unwrap().to_string(),
                u["familyName"].as_str().unwrap().to_string(),
            ]
        })
        .collect();
    assert_eq!(names, expected);
    let tricky = |pred: &dyn Fn(&str) -> bool| names.iter().any(|n| pred(n));
    assert!(tricky(&|n| n.contains(',')), "a name with a comma");
    assert!(tricky(&|n| n.contains('"')), "a name with a double quote");
    assert!(tricky(&|n| n.contains('\'')), "a name with an apostrophe");
    assert!(tricky(&|n| !n.is_ascii()), "a name with non-ASCII letters");
}

#[test]
fn each_scope_exports_its_own_files_to_a_folder() {
    let server = Server::fixture();
    let cases: [(&str, &[&str]); 4] = [
        ("roster-core.readonly", &ROSTER_FILES),
        ("roster-demographics.readonly", &["demographics"]),
        (
            "gradebook.readonly",
            &["categories", "lineItems", "results"],
        ),
        ("resource.readonly", &["resources"]),
    ];
    for (scope, expected) in cases {
        let dir = workdir();
        let out = dir.path().join("bundle");
        server.export_ok(&["--scope", scope], &out);
        let files = bundle_files(&out);
        let manifest = manifest(&files);
        for file in CsvFile::ALL {
            let written = expected.contains(&file.stem());
            let state = if written { "bulk" } else { "absent" };
            assert_eq!(
                manifest[&file.manifest_property()],
                state,
                "{scope}: {}",
                file.stem()
            );
            assert_eq!(
                files.contains_key(&file.file_name()),
                written,
                "{scope}: {}",
                file.file_name()
            );
            if written {
                let table = Table::parse(&files[&file.file_name()]);
                assert_eq!(
                    table.rows.len(),
                    fixture_active(file.stem()).len(),
                    "{scope}: {}",
                    file.stem()
                );
            }
        }
    }
}

#[test]
fn gradebook_and_resources_map_their_references() {
    let server = Server::fixture();
    let files = export_zip(
        &server,
        &["roster.readonly", "gradebook.readonly", "resource.readonly"],
    );
    let manifest = manifest(&files);
    assert_eq!(manifest["file.classResources"], "bulk");
    assert_eq!(manifest["file.courseResources"], "bulk");
    let results = Table::parse(&files["results.csv"]);
    for r in fixture_active("results") {
        let row = results.row(r["sourcedId"].as_str().unwrap());
        assert_eq!(
            row["lineItemSourcedId"],
            r["lineItem"]["sourcedId"].as_str().unwrap()
        );
        assert_eq!(
            row["studentSourcedId"],
            r["student"]["sourcedId"].as_str().unwrap()
        );
        assert_eq!(row["scoreStatus"], r["scoreStatus"].as_str().unwrap());
        assert_eq!(row["scoreDate"], r["scoreDate"].as_str().unwrap()[..10]);
    }
    let class_resources = Table::parse(&files["classResources.csv"]);
    let expected: usize = fixture_active("classes")
        .iter()
        .map(|c| c["resources"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(expected > 0, "some fixture classes carry resources");
    assert_eq!(class_resources.rows.len(), expected);
}

fn join_refs(refs: &Value) -> String {
    refs.as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["sourcedId"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn join_strings(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
