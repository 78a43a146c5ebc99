//! `roster-export validate` and the `validate` library: one broken bundle per rule, made from the
//! good bundle in `tests/fixtures/validate/good/` by one targeted edit, each asserting the exact
//! `file.csv:LINE: …` lines; exit codes; zips with folders and strays; and every bundle the export
//! writes (fixture and synthetic districts, every scope, zip and folder) passing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use roster_export::validate::{self, Options, Report, Rule};
use roster_sandbox::{District, SandboxOptions};

use crate::support::*;

const GOOD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/validate/good");

/// The good bundle in a fresh folder, its files written with CRLF line ends as the export writes
/// them (the fixture files are stored with LF).
struct Bundle {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Bundle {
    fn good() -> Bundle {
        let dir = workdir();
        let path = dir.path().join("bundle");
        std::fs::create_dir(&path).unwrap();
        for entry in std::fs::read_dir(GOOD).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(path.join(entry.file_name()), text.replace('\n', "\r\n")).unwrap();
        }
        Bundle { _dir: dir, path }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Replaces the one occurrence of `from` in `name` by `to`.
    #[track_caller]
    fn edit(&self, name: &str, from: &str, to: &str) -> &Bundle {
        self.edit_bytes(name, from.as_bytes(), to.as_bytes())
    }

    #[track_caller]
    fn edit_bytes(&self, name: &str, from: &[u8], to: &[u8]) -> &Bundle {
        let bytes = std::fs::read(self.file(name)).unwrap();
        let at: Vec<usize> = (0..bytes.len())
            .filter(|i| bytes[*i..].starts_with(from))
            .collect();
        assert_eq!(at.len(), 1, "{name}: {:?} occurs once", from.escape_ascii());
        let mut edited = bytes[..at[0]].to_vec();
        edited.extend_from_slice(to);
        edited.extend_from_slice(&bytes[at[0] + from.len()..]);
        std::fs::write(self.file(name), edited).unwrap();
        self
    }

    fn remove(&self, name: &str) -> &Bundle {
        std::fs::remove_file(self.file(name)).unwrap();
        self
    }

    fn report(&self) -> Report {
        validate::check_path(&self.path, &Options::default()).unwrap()
    }

    /// Asserts the problem lines, in the report's order.
    #[track_caller]
    fn finds(&self, expected: &[&str]) {
        assert_eq!(problem_lines(&self.report()), expected);
    }
}

/// `roster-export validate` with a scrubbed environment (it takes no logging flags).
fn validate_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_roster-export"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("validate")
        .timeout(RUN_TIMEOUT);
    cmd
}

/// The report's problem lines: everything but the summary.
fn problem_lines(report: &Report) -> Vec<String> {
    let text = report.to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines.pop(), Some(report.summary()));
    lines
}

#[test]
fn the_good_bundle_is_clean_in_crlf_and_in_lf_with_a_bom() {
    let bundle = Bundle::good();
    let report = bundle.report();
    assert_eq!(report.to_string(), "13 data files, 25 rows: no problems\n");
    assert!(report.is_clean());

    // A BOM and LF line ends, as some producers write them, are accepted.
    for entry in std::fs::read_dir(&bundle.path).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("\u{feff}{}", text.replace("\r\n", "\n"))).unwrap();
    }
    bundle.finds(&[]);
    // The same lines in both: the line of the row after the two-line title is 4.
    bundle
        .edit("classes.csv", ",homeroom,", ",lecture,")
        .finds(&["classes.csv:4: classType `lecture` is not a ClassType (homeroom, scheduled)"]);
}

#[test]
fn entries_in_a_zip_folder_or_not_of_the_binding() {
    let bundle = Bundle::good();
    let zip_path = bundle.path.with_extension("zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let mut names: Vec<String> = std::fs::read_dir(&bundle.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(&std::fs::read(bundle.file(name)).unwrap())
            .unwrap();
    }
    zip.add_directory("district/", options).unwrap();
    zip.start_file("district/users.csv", options).unwrap();
    zip.write_all(&std::fs::read(bundle.file("users.csv")).unwrap())
        .unwrap();
    for stray in ["README.txt", "roles.csv", "Users.csv"] {
        zip.start_file(stray, options).unwrap();
        zip.write_all(b"x\r\n").unwrap();
    }
    zip.finish().unwrap();
    let report = validate::check_path(&zip_path, &Options::default()).unwrap();
    assert_eq!(
        problem_lines(&report),
        [
            "README.txt:0: not a file of a OneRoster 1.1 bundle",
            "Users.csv:0: not a file of a OneRoster 1.1 bundle (names are case sensitive: users.csv)",
            "district/users.csv:0: inside a folder of the zip; consumers read a bundle's files at \
             the root of the zip",
            "roles.csv:0: not a file of a OneRoster 1.1 bundle (it belongs to OneRoster 1.2)",
        ]
    );
    assert_eq!(report.count(Rule::Bundle), 4);
    assert_eq!(report.rows(), 25, "the files at the root were checked");

    std::fs::create_dir(bundle.file("extra")).unwrap();
    bundle
        .finds(&["extra:0: a folder inside the bundle; consumers read only the files at its top"]);
}

#[test]
fn manifest_modes_against_the_files_present() {
    Bundle::good()
        .remove("users.csv")
        .finds(&["manifest.csv:16: file.users is bulk but users.csv is not in the bundle"]);
    Bundle::good()
        .edit(
            "manifest.csv",
            "file.resources,bulk",
            "file.resources,absent",
        )
        .finds(&[
            "manifest.csv:14: file.resources is absent but resources.csv is in the bundle \
             (consumers ignore it; so did this check)",
        ]);
    Bundle::good()
        .edit("manifest.csv", "file.categories,bulk\r\n", "")
        .finds(&[
            "manifest.csv:1: no file.categories row (categories.csv is in the bundle; \
                  checked as bulk)",
        ]);
    Bundle::good()
        .edit("manifest.csv", "file.orgs,bulk", "file.orgs,full")
        .finds(&["manifest.csv:13: file.orgs is `full`; expected bulk, delta or absent"]);
    Bundle::good().remove("manifest.csv").finds(&[
        "manifest.csv:0: missing; every bundle has one (the data files were checked as bulk)",
    ]);
}

#[test]
fn manifest_properties_and_versions() {
    Bundle::good()
        .edit(
            "manifest.csv",
            "oneroster.version,1.1",
            "oneroster.version,1.2",
        )
        .finds(&["manifest.csv:3: oneroster.version is `1.2`; a OneRoster 1.1 bundle has 1.1"]);
    Bundle::good()
        .edit(
            "manifest.csv",
            "manifest.version,1.0",
            "mainfest.version,1.0",
        )
        .finds(&[
            "manifest.csv:1: no manifest.version row",
            "manifest.csv:2: unknown property `mainfest.version` (a misspelt manifest.version)",
        ]);
    Bundle::good()
        .edit(
            "manifest.csv",
            "source.systemName",
            "file.roles,bulk\r\nfile.classresources,bulk\r\nfile.users,bulk\r\nsource.systemName",
        )
        .finds(&[
            "manifest.csv:17: unknown property `file.roles`",
            "manifest.csv:18: unknown property `file.classresources` (property names are case \
             sensitive: file.classResources)",
            "manifest.csv:19: file.users appears again (first on line 16); consumers may read \
             either",
        ]);
}

#[test]
fn headers_are_exact() {
    Bundle::good()
        .edit("users.csv", "orgSourcedIds,role", "orgSourcedId,role")
        .finds(&[
            "users.csv:1: header differs from the 1.1 binding: unexpected column \
                  `orgSourcedId`; missing column `orgSourcedIds`",
        ]);
    // Without its sourcedId column a file is no reference target: no flood of dangling ids.
    Bundle::good()
        .edit("users.csv", "sourcedId,status", "userSourcedId,status")
        .finds(&[
            "users.csv:1: header differs from the 1.1 binding: unexpected column \
                  `userSourcedId`; missing column `sourcedId`",
        ]);
    // Columns found by another case are still checked.
    Bundle::good()
        .edit("enrollments.csv", "sourcedId,status", "SourcedID,status")
        .edit("enrollments.csv", "e-2,,,", "e-2,active,,")
        .finds(&[
            "enrollments.csv:1: header differs from the 1.1 binding: `SourcedID` should be \
             `sourcedId`",
            "enrollments.csv:3: status is `active`; it stays blank in a bulk file",
        ]);
    Bundle::good()
        .edit(
            "categories.csv",
            "sourcedId,status,dateLastModified,title",
            "status,sourcedId,dateLastModified,title",
        )
        .edit("categories.csv", "cat-hw,,", ",cat-hw,")
        .finds(&[
            "categories.csv:1: header differs from the 1.1 binding: the columns are out of \
                  order; the binding's order is sourcedId,status,dateLastModified,title",
        ]);
}

#[test]
fn rows_with_other_field_counts_or_not_utf8() {
    Bundle::good()
        .edit("enrollments.csv", "e-2,,,class-bio-1", "e-2,,class-bio-1")
        .finds(&["enrollments.csv:3: 9 fields; the header has 10"]);
    Bundle::good()
        .edit_bytes("users.csv", b"Bo,Kim", b"Bo,K\xefm")
        .finds(&["users.csv:4: familyName is not valid UTF-8"]);
}

#[test]
fn required_cells_and_bulk_blanks() {
    Bundle::good()
        .edit("users.csv", "student,bkim,", "student,,")
        .finds(&["users.csv:4: username is blank; the column is required"]);
    Bundle::good()
        .edit("results.csv", "r-1,,,", "r-1,,2025-09-09T10:00:00.000Z,")
        .finds(&[
            "results.csv:2: dateLastModified is `2025-09-09T10:00:00.000Z`; it stays blank \
                  in a bulk file",
        ]);
}

#[test]
fn delta_files_need_status_and_date_last_modified() {
    Bundle::good()
        .edit(
            "manifest.csv",
            "file.enrollments,bulk",
            "file.enrollments,delta",
        )
        .edit(
            "enrollments.csv",
            "e-1,,,",
            "e-1,active,2025-09-01T08:00:00Z,",
        )
        .edit(
            "enrollments.csv",
            "e-2,,,",
            "e-2,tobedeleted,2025-09-01 08:00:00,",
        )
        .edit(
            "enrollments.csv",
            "e-3,,,",
            "e-3,,2025-09-01T08:00:00.5+02:00,",
        )
        .finds(&[
            "enrollments.csv:4: status is blank; a delta file needs it",
            "enrollments.csv:3: dateLastModified `2025-09-01 08:00:00` is not a datetime \
             (YYYY-MM-DDThh:mm:ss[.sss] and Z or an offset like +02:00)",
        ]);
}

#[test]
fn dates_years_floats_and_booleans() {
    Bundle::good()
        .edit("enrollments.csv", "2025-12-19", "2025-11-31")
        .finds(&["enrollments.csv:4: endDate `2025-11-31` is not a date (YYYY-MM-DD)"]);
    Bundle::good()
        .edit(
            "academicSessions.csv",
            "Q1,gradingPeriod,2025-08-15,2025-10-17,as-t1,2026",
            "Q1,gradingPeriod,2025-08-15,2025-10-17,as-t1,2025-26",
        )
        .finds(&["academicSessions.csv:4: schoolYear `2025-26` is not a year (YYYY)"]);
    Bundle::good()
        .edit("lineItems.csv", "0.0,10.5", "0.0,1e1")
        .finds(&["lineItems.csv:3: resultValueMax `1e1` is not a decimal number (like 87.5)"]);
    Bundle::good()
        .edit("users.csv", "u-s2,,,false", "u-s2,,,no")
        .finds(&["users.csv:4: enabledUser `no` is not a boolean (true or false)"]);
}

#[test]
fn enumerations() {
    Bundle::good()
        .edit("results.csv", "fully graded", "graded")
        .finds(&[
            "results.csv:2: scoreStatus `graded` is not a ScoreStatus (exempt, fully graded, \
                  not submitted, partially graded, submitted)",
        ]);
}

#[test]
fn lists_and_user_ids() {
    Bundle::good()
        .edit("courses.csv", "\"09,10\"", "\"09,,10\"")
        .finds(&["courses.csv:2: grades `09,,10` has an empty item"]);
    Bundle::good()
        .edit("users.csv", "{LDAP:tlee}", "LDAP:tlee")
        .finds(&[
            "users.csv:2: userIds `LDAP:tlee` has an entry that does not start with `{`; \
                  entries are {type:identifier}, comma-joined",
        ]);
    Bundle::good()
        .edit(
            "enrollments.csv",
            "class-bio-1,org-hs,u-t1",
            "\"class-bio-1,class-bio-2\",org-hs,u-t1",
        )
        .finds(&[
            "enrollments.csv:2: classSourcedId `class-bio-1,class-bio-2` holds a list; the \
                  column takes one sourcedId",
        ]);
}

#[test]
fn repeated_sourced_ids() {
    Bundle::good()
        .edit("enrollments.csv", "e-3,", "e-1,")
        .finds(&["enrollments.csv:4: sourcedId `e-1` appears again (first on line 2)"]);
    // In a file others point into, and after a row spanning two lines.
    Bundle::good()
        .edit("classes.csv", "class-bio-2,", "class-bio-1,")
        .finds(&[
            "classes.csv:4: sourcedId `class-bio-1` appears again (first on line 2)",
            "enrollments.csv:4: classSourcedId `class-bio-2` is not in classes.csv",
            "lineItems.csv:3: classSourcedId `class-bio-2` is not in classes.csv",
        ]);
}

#[test]
fn references_resolve_within_bulk_files() {
    Bundle::good()
        .edit("enrollments.csv", "u-s1", "u-s9")
        .edit("classes.csv", "\"as-t1,as-y\"", "\"as-t1,as-t9\"")
        .edit("demographics.csv", "u-s2,", "u-s3,")
        .edit("users.csv", "u-p1,09", "u-p2,09")
        .finds(&[
            "classes.csv:4: termSourcedIds `as-t9` is not in academicSessions.csv",
            "demographics.csv:3: sourcedId `u-s3` is not in users.csv (a demographics row has its \
             user's sourcedId)",
            "enrollments.csv:3: userSourcedId `u-s9` is not in users.csv",
            "users.csv:3: agentSourcedIds `u-p2` is not in users.csv",
        ]);
}

#[test]
fn references_into_absent_or_delta_files_are_not_checked() {
    // The consumer holds the users: enrollments, demographics and results may name any.
    Bundle::good()
        .remove("users.csv")
        .edit("manifest.csv", "file.users,bulk", "file.users,absent")
        .edit("enrollments.csv", "u-s1", "u-s9")
        .finds(&[]);
    // A delta file lists changes only.
    Bundle::good()
        .edit(
            "manifest.csv",
            "file.categories,bulk",
            "file.categories,delta",
        )
        .edit(
            "categories.csv",
            "cat-hw,,",
            "cat-quiz,active,2025-09-01T00:00:00Z",
        )
        .finds(&[]);
}

#[test]
fn each_rule_shows_a_few_and_counts_the_rest() {
    let bundle = Bundle::good();
    bundle
        .edit("enrollments.csv", "teacher,true", "teacher,yes")
        .edit("enrollments.csv", "student,false", "student,no")
        .edit("demographics.csv", "female,false", "female,nope");
    let options = Options { max_per_rule: 1 };
    let report = validate::check_path(&bundle.path, &options).unwrap();
    assert_eq!(
        report.to_string(),
        "demographics.csv:2: americanIndianOrAlaskaNative `nope` is not a boolean (true or false)\n\
         ... 2 more boolean problems\n\
         13 data files, 25 rows: 3 problems (3 boolean)\n"
    );
}

#[test]
fn repeats_beyond_the_cap_are_counted() {
    let bundle = Bundle::good();
    bundle
        .edit("enrollments.csv", "e-2,", "e-1,")
        .edit("enrollments.csv", "e-3,", "e-1,");
    let report = validate::check_path(&bundle.path, &Options { max_per_rule: 1 }).unwrap();
    assert_eq!(
        problem_lines(&report),
        [
            "enrollments.csv:3: sourcedId `e-1` appears again (first on line 2)",
            "... 1 more duplicate problem",
        ]
    );
    assert_eq!(report.count(Rule::Duplicate), 2);
}

#[test]
fn check_dir_takes_folders_only() {
    let bundle = Bundle::good();
    assert!(
        validate::check_dir(&bundle.path, &Options::default())
            .unwrap()
            .is_clean()
    );
    let err = validate::check_dir(&bundle.file("users.csv"), &Options::default()).unwrap_err();
    assert!(
        err.to_string().ends_with("users.csv: not a folder"),
        "{err}"
    );
}

#[test]
fn exit_codes_and_output_of_the_command() {
    let bundle = Bundle::good();
    let clean = validate_cmd().arg(&bundle.path).output().unwrap();
    let (stdout, stderr) = text(&clean);
    assert_eq!(clean.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "13 data files, 25 rows: no problems\n");

    bundle
        .edit("enrollments.csv", "u-s1", "u-s9")
        .edit("enrollments.csv", "u-s2", "u-s8");
    let broken = validate_cmd()
        .args(["--max-per-rule", "1"])
        .arg(&bundle.path)
        .output()
        .unwrap();
    let (stdout, _) = text(&broken);
    assert_eq!(broken.status.code(), Some(4));
    assert_eq!(
        stdout,
        "enrollments.csv:3: userSourcedId `u-s9` is not in users.csv\n\
         ... 1 more reference problem\n\
         13 data files, 25 rows: 2 problems (2 reference)\n"
    );

    let missing = bundle.path.with_file_name("nowhere.zip");
    let not_zip = bundle.file("users.csv");
    for (path, says) in [
        (&missing, "no such file or folder"),
        (&not_zip, "not a zip file or a folder"),
    ] {
        let out = validate_cmd().arg(path).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{stderr}"
        );
    }
    let usage = validate_cmd().output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

const ALL_SCOPES: [&str; 8] = [
    "--scope",
    "roster.readonly",
    "--scope",
    "roster-demographics.readonly",
    "--scope",
    "gradebook.readonly",
    "--scope",
    "resource.readonly",
];

/// Exports every scope of `server` to `out` and validates it with the command.
#[track_caller]
fn export_passes(server: &Server, out: &Path) -> String {
    server.export_ok(&ALL_SCOPES, out);
    let checked = validate_cmd().arg(out).output().unwrap();
    let (stdout, stderr) = text(&checked);
    assert_eq!(checked.status.code(), Some(0), "{stdout}{stderr}");
    stdout
}

#[test]
fn every_bundle_the_export_writes_passes() {
    let dir = workdir();
    let server = Server::fixture();
    let zip = export_passes(&server, &dir.path().join("district.zip"));
    let folder = export_passes(&server, &dir.path().join("district"));
    assert_eq!(zip, folder);
    assert!(zip.starts_with("13 data files, "), "{zip}");
    // Each scope alone: the others absent, references into them not checked.
    for scope in ALL_SCOPES.chunks(2) {
        let out = dir.path().join(format!("{}.zip", scope[1]));
        server.export_ok(scope, &out);
        let report = validate::check_path(&out, &Options::default()).unwrap();
        assert!(report.is_clean(), "{}: {report}", scope[1]);
    }
}

#[test]
fn a_synthetic_district_passes() {
    let server = Server::start(SandboxOptions {
        district: District::Synthetic {
            users: 400,
            seed: 3,
        },
        ..SandboxOptions::default()
    });
    let dir = workdir();
    let out = dir.path().join("synthetic.zip");
    let summary = export_passes(&server, &out);
    let report = validate::check_path(&out, &Options::default()).unwrap();
    assert!(report.rows() > 3000, "{summary}");
    assert_eq!(report.files.len(), 13, "{summary}");
}
