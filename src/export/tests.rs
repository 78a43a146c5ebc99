//! Bundle-level tests: exact CSV bytes, manifest, zip determinism, staging and publish safety.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::*;
use crate::records::Page;
use oneroster::{CollectionId, CsvFile};

use CollectionId::{
    AcademicSessions, Categories, Classes, Courses, Demographics, Enrollments, LineItems, Orgs,
    Resources, Results, Users,
};

fn page(c: CollectionId, offset: u64, records: &str) -> Page {
    let body = format!("{{\"{}\":[{records}]}}", c.info().response_key);
    Page::parse(c.info(), offset, Bytes::from(body)).expect("test page parses")
}

fn opts(format: Format, path: &Path) -> OutputOptions {
    OutputOptions {
        format,
        destination: Destination::Path(path.to_path_buf()),
        include_passwords: false,
        system_name: "roster-export".to_string(),
        system_code: None,
        max_shrink: None,
        zip_level: 6,
        validate: ValidateMode::Off,
        delta: false,
        remote: Default::default(),
    }
}

/// Writes collection `c` as one page of `records` and finishes it.
fn write(bundle: &mut Bundle, c: CollectionId, records: &str) -> CollectionOutput {
    bundle.begin_collection(c).unwrap();
    bundle.write_page(&page(c, 0, records)).unwrap();
    bundle.finish_collection(c).unwrap()
}

/// A CSV bundle at `name` in `tmp` planning `planned`, and its path.
fn csv_bundle(tmp: &Path, name: &str, planned: &[CollectionId]) -> (PathBuf, Bundle) {
    let out = tmp.join(name);
    let bundle = Bundle::create(&opts(Format::Csv, &out), planned).unwrap();
    (out, bundle)
}

/// Asserts that manifest.csv at `out` lists each `(stem, mode)`.
#[track_caller]
fn assert_modes(out: &Path, modes: &[(&str, &str)]) {
    let manifest = read(out.join("manifest.csv"));
    for (stem, mode) in modes {
        let row = format!("file.{stem},{mode}\r\n");
        assert!(manifest.contains(&row), "{row:?} missing from {manifest}");
    }
}

/// A CSV bundle of `data`, one page a collection, published in a fresh folder: the folder (kept
/// alive), the bundle's path and the report.
fn export_csv(data: &[(CollectionId, &str)]) -> (tempfile::TempDir, PathBuf, PublishReport) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let report = export(&opts(Format::Csv, &out), data);
    (tmp, out, report)
}

/// Writes each collection as one page and publishes.
fn export(o: &OutputOptions, data: &[(CollectionId, &str)]) -> PublishReport {
    let planned: Vec<CollectionId> = data.iter().map(|(c, _)| *c).collect();
    let mut bundle = Bundle::create(o, &planned).unwrap();
    for (c, records) in data {
        write(&mut bundle, *c, records);
    }
    bundle.publish().unwrap()
}

fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

fn mode(path: impl AsRef<Path>) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The data rows of a CSV text (header dropped), split on CRLF.
fn rows(csv: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines.pop(), Some(""), "file ends with CRLF");
    lines.remove(0);
    lines
}

const ORG: &str = r#"{"sourcedId":"org-1","status":"active","dateLastModified":"2024-05-01T10:00:00.000Z","name":"Lincoln High","type":"school","identifier":"NCES-1","parent":{"href":"https://h/orgs/d1","sourcedId":"d1","type":"org"}}"#;

#[test]
fn csv_bundle_has_exact_headers_manifest_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let mut o = opts(Format::Csv, &out);
    o.system_code = Some("district-9".to_string());
    let report = export(
        &o,
        &[
            (Orgs, ORG),
            (
                Users,
                r#"{"sourcedId":"u1","givenName":"A","familyName":"B","role":"student","username":"ab","orgs":[]}"#,
            ),
        ],
    );
    assert_eq!(report.path.as_deref(), Some(out.as_path()));
    assert_eq!(
        report.files,
        vec![
            FileRows {
                name: "orgs.csv".into(),
                rows: 1
            },
            FileRows {
                name: "users.csv".into(),
                rows: 1
            },
        ]
    );
    assert_eq!(names(&out), ["manifest.csv", "orgs.csv", "users.csv"]);
    assert_eq!(
        read(out.join("manifest.csv")),
        "propertyName,value\r\n\
         manifest.version,1.0\r\n\
         oneroster.version,1.1\r\n\
         file.academicSessions,absent\r\n\
         file.categories,absent\r\n\
         file.classes,absent\r\n\
         file.classResources,absent\r\n\
         file.courses,absent\r\n\
         file.courseResources,absent\r\n\
         file.demographics,absent\r\n\
         file.enrollments,absent\r\n\
         file.lineItems,absent\r\n\
         file.orgs,bulk\r\n\
         file.resources,absent\r\n\
         file.results,absent\r\n\
         file.users,bulk\r\n\
         source.systemName,roster-export\r\n\
         source.systemCode,district-9\r\n"
    );
    assert_eq!(
        read(out.join("orgs.csv")),
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\r\n\
         org-1,,,Lincoln High,school,NCES-1,d1\r\n"
    );
    let users = read(out.join("users.csv"));
    assert!(
        users.starts_with(
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,\
             givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,\
             password\r\n"
        ),
        "{users}"
    );
    assert!(!users.starts_with('\u{feff}'));
    assert_eq!(mode(&out), 0o700);
    for name in names(&out) {
        assert_eq!(mode(out.join(&name)), 0o600, "{name}");
    }
    assert_eq!(names(tmp.path()), ["bundle"]);
}

#[test]
fn every_file_gets_the_exact_header_of_its_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("all");
    let all: Vec<CollectionId> = CollectionId::all().collect();
    let mut bundle = Bundle::create(&opts(Format::Csv, &out), &all).unwrap();
    for c in CollectionId::all() {
        bundle.begin_collection(c).unwrap();
        bundle.finish_collection(c).unwrap();
    }
    let report = bundle.publish().unwrap();
    assert!(report.absent.is_empty());
    for file in CsvFile::ALL {
        assert_eq!(
            read(out.join(file.file_name())),
            format!("{}\r\n", file.header().collect::<Vec<_>>().join(","))
        );
    }
    assert!(!read(out.join("manifest.csv")).contains("absent"));
}

#[test]
fn awkward_names_are_quoted_per_rfc_4180() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let user = r#"{"sourcedId":"u1","status":"active","dateLastModified":"2024-01-01T00:00:00.000Z",
        "enabledUser":true,"orgs":[{"href":"x","sourcedId":"org-1","type":"org"}],"role":"student",
        "username":"obrien","userIds":[{"type":"LDAP","identifier":"ob1"}],
        "givenName":"O'Brien, \"Zoë\"","familyName":"Smith\nJones","middleName":"Ñandú",
        "identifier":"","email":null,"grades":["09"],"password":"secret"}"#;
    export(&opts(Format::Csv, &out), &[(Users, user)]);
    let users = read(out.join("users.csv"));
    assert_eq!(
        rows(&users),
        [
            "u1,,,true,org-1,student,obrien,{LDAP:ob1},\"O'Brien, \"\"Zoë\"\"\",\"Smith\nJones\",Ñandú,,,,,,09,"
        ]
    );
    // And a CSV reader gets the names back unchanged.
    let mut reader = csv::Reader::from_reader(users.as_bytes());
    let record = reader.records().next().unwrap().unwrap();
    assert_eq!(&record[8], "O'Brien, \"Zoë\"");
    assert_eq!(&record[9], "Smith\nJones");
    assert_eq!(record.len(), CsvFile::Users.header().len());
}

#[test]
fn lists_are_joined_in_one_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let user = r#"{"sourcedId":"u1","orgs":[{"sourcedId":"org-1"},{"sourceId":"org-2"},"org-3"],
        "agents":"p1, p2","grades":"09, 10","userIds":[{"type":"LDAP","identifier":"j"},{"type":"LTI","identifier":7}],
        "givenName":"J","familyName":"D","role":"student","username":"jd"}"#;
    let class = r#"{"sourcedId":"c1","title":"Math","course":{"sourcedId":"co1"},"classType":"scheduled",
        "school":"s1","terms":[{"sourcedId":"t1"},{"sourcedId":"t2"}],"grades":["09"],"subjects":["Math","Science, Physics"],
        "subjectCodes":[],"periods":[1,3]}"#;
    export(&opts(Format::Csv, &out), &[(Classes, class), (Users, user)]);
    assert_eq!(
        rows(&read(out.join("users.csv"))),
        [
            "u1,,,true,\"org-1,org-2,org-3\",student,jd,\"{LDAP:j},{LTI:7}\",J,D,,,,,,\"p1,p2\",\"09,10\","
        ]
    );
    assert_eq!(
        rows(&read(out.join("classes.csv"))),
        ["c1,,,Math,09,co1,,scheduled,,s1,\"t1,t2\",\"Math,Science,Physics\",,\"1,3\""]
    );
}

#[test]
fn bulk_files_blank_status_and_drop_deleted_records() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let orgs = r#"{"sourcedId":"a","status":"active","dateLastModified":"2024-01-01T00:00:00.000Z","name":"A","type":"school"},
        {"sourcedId":"b","status":"tobedeleted","dateLastModified":"2024-01-02T00:00:00.000Z","name":"B","type":"school"},
        {"sourcedId":"c","status":"Inactive","name":"C","type":"school"},
        {"sourcedId":"d","name":"D","type":"district"}"#;
    let planned = [Orgs];
    let mut bundle = Bundle::create(&opts(Format::Csv, &out), &planned).unwrap();
    let output = write(&mut bundle, Orgs, orgs);
    assert_eq!(
        (output.records, output.rows, output.dropped_deleted),
        (4, 2, 2)
    );
    bundle.publish().unwrap();
    assert_eq!(
        rows(&read(out.join("orgs.csv"))),
        ["a,,,A,school,,", "d,,,D,district,,"]
    );
}

#[test]
fn passwords_are_written_only_when_asked_for() {
    let user = r#"{"sourcedId":"u1","givenName":"A","familyName":"B","role":"student","username":"ab","password":"hunter2"}"#;
    for (include, want) in [
        (false, "u1,,,true,,student,ab,,A,B,,,,,,,,"),
        (true, "u1,,,true,,student,ab,,A,B,,,,,,,,hunter2"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("b");
        let mut o = opts(Format::Csv, &out);
        o.include_passwords = include;
        export(&o, &[(Users, user)]);
        assert_eq!(rows(&read(out.join("users.csv"))), [want]);
    }
}

#[test]
fn every_file_maps_its_columns() {
    let (_tmp, out, _report) = export_csv(&[
        (Orgs, ORG),
        (
            AcademicSessions,
            r#"{"sourcedId":"t1","title":"Fall","type":"term","startDate":"2024-08-20","endDate":"2024-12-20T00:00:00Z","parent":{"sourcedId":"y1"},"schoolYear":2025,"children":[{"sourcedId":"g1"}]}"#,
        ),
        (
            Courses,
            r#"{"sourcedId":"co1","title":"Algebra","schoolYear":{"sourcedId":"y1"},"courseCode":"ALG","grades":["09","10"],"org":{"sourcedId":"org-1"},"subjects":"Math","subjectCodes":["02052"]}"#,
        ),
        (
            Enrollments,
            r#"{"sourcedId":"e1","user":{"sourcedId":"u1"},"class":{"sourcedId":"c1"},"school":{"sourcedId":"org-1"},"role":"teacher","primary":"True","beginDate":"2024-08-20","endDate":null}"#,
        ),
        (
            Demographics,
            r#"{"sourcedId":"u1","birthdate":"2010-02-03","sex":"Female","americanIndianOrAlaskaNative":"false","asian":"t","blackOrAfricanAmerican":false,"white":"1","hispanicOrLatinoEthnicity":"","countryOfBirthCode":"US","stateOfBirthAbbreviation":"CA","cityOfBirth":"Fresno","publicSchoolResidenceStatus":"01652"}"#,
        ),
        (Categories, r#"{"sourcedId":"cat1","title":"Homework"}"#),
        (
            LineItems,
            r#"{"sourcedId":"li1","title":"Quiz 1","description":"","assignDate":"2024-09-01T08:00:00.000Z","dueDate":"2024-09-08T23:59:59Z","class":{"sourcedId":"c1"},"category":{"sourcedId":"cat1"},"gradingPeriod":{"sourcedId":"g1"},"resultValueMin":"0","resultValueMax":100.0}"#,
        ),
        (
            Results,
            r#"{"sourcedId":"r1","lineItem":{"sourcedId":"li1"},"student":{"sourcedId":"u1"},"scoreStatus":"fully graded","score":"85.50","scoreDate":"2024-09-09T12:00:00Z","comment":"Well done"}"#,
        ),
        (
            Resources,
            r#"{"sourcedId":"res1","vendorResourceId":"v-1","title":"Book","role":"student","importance":"primary","vendorId":"ven","applicationId":"app"}"#,
        ),
    ]);
    let only = |file: &str| rows(&read(out.join(file)))[0].to_string();
    assert_eq!(
        only("academicSessions.csv"),
        "t1,,,Fall,term,2024-08-20,2024-12-20,y1,2025"
    );
    assert_eq!(
        only("courses.csv"),
        "co1,,,y1,Algebra,ALG,\"09,10\",org-1,Math,02052"
    );
    assert_eq!(
        only("enrollments.csv"),
        "e1,,,c1,org-1,u1,teacher,true,2024-08-20,"
    );
    assert_eq!(
        only("demographics.csv"),
        "u1,,,2010-02-03,female,false,true,false,,true,,,US,CA,Fresno,01652"
    );
    assert_eq!(only("categories.csv"), "cat1,,,Homework");
    assert_eq!(
        only("lineItems.csv"),
        "li1,,,Quiz 1,,2024-09-01,2024-09-08,c1,cat1,g1,0,100.0"
    );
    assert_eq!(
        only("results.csv"),
        "r1,,,li1,u1,fully graded,85.50,2024-09-09,Well done"
    );
    assert_eq!(
        only("resources.csv"),
        "res1,,,v-1,Book,student,primary,ven,app"
    );
}

const CLASS_WITH_RESOURCES: &str = r#"{"sourcedId":"c1","title":"Math","course":{"sourcedId":"co1"},
    "classType":"scheduled","school":{"sourcedId":"s1"},"terms":[{"sourcedId":"t1"}],
    "resources":[{"sourcedId":"r1","title":"Book, 2nd ed"},{"sourceId":"r2"},"r1"]}"#;
const COURSE_WITH_RESOURCES: &str = r#"{"sourcedId":"co1","title":"Algebra","org":{"sourcedId":"s1"},"resources":[{"sourcedId":"r1"}]}"#;
const RESOURCE: &str = r#"{"sourcedId":"r1","vendorResourceId":"v1"}"#;

#[test]
fn resource_associations_come_from_classes_and_courses() {
    let (_tmp, out, report) = export_csv(&[
        (Courses, COURSE_WITH_RESOURCES),
        (Classes, CLASS_WITH_RESOURCES),
        (Resources, RESOURCE),
    ]);
    assert_eq!(
        read(out.join("classResources.csv")),
        "sourcedId,status,dateLastModified,title,classSourcedId,resourceSourcedId\r\n\
         c1:r1,,,\"Book, 2nd ed\",c1,r1\r\n\
         c1:r2,,,,c1,r2\r\n"
    );
    assert_eq!(
        rows(&read(out.join("courseResources.csv"))),
        ["co1:r1,,,,co1,r1"]
    );
    assert!(report.files.contains(&FileRows {
        name: "classResources.csv".into(),
        rows: 2
    }));
    assert_modes(
        &out,
        &[("classResources", "bulk"), ("courseResources", "bulk")],
    );
}

#[test]
fn associations_are_absent_without_finished_resources() {
    // Resources not planned: no association files at all.
    let (tmp, out, _report) = export_csv(&[(Classes, CLASS_WITH_RESOURCES)]);
    assert_eq!(names(&out), ["classes.csv", "manifest.csv"]);
    assert_modes(&out, &[("classResources", "absent")]);

    // Planned, but the resources collection was abandoned: its association goes too.
    let (out, mut bundle) = csv_bundle(tmp.path(), "c", &[Classes, Resources]);
    let classes = write(&mut bundle, Classes, CLASS_WITH_RESOURCES);
    assert_eq!(classes.files.len(), 2);
    bundle.begin_collection(Resources).unwrap();
    bundle.abandon_collection(Resources).unwrap();
    let report = bundle.publish().unwrap();
    assert_eq!(names(&out), ["classes.csv", "manifest.csv"]);
    assert!(report.absent.contains(&CsvFile::ClassResources));
    assert_modes(
        &out,
        &[("classResources", "absent"), ("resources", "absent")],
    );
}

#[test]
fn an_abandoned_collection_is_absent_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, mut bundle) = csv_bundle(tmp.path(), "b", &[Orgs, Users]);
    write(&mut bundle, Orgs, ORG);
    bundle.begin_collection(Users).unwrap();
    bundle
        .write_page(&page(Users, 0, r#"{"sourcedId":"u1","givenName":"A"}"#))
        .unwrap();
    bundle.abandon_collection(Users).unwrap();
    let report = bundle.publish().unwrap();
    assert_eq!(names(&out), ["manifest.csv", "orgs.csv"]);
    assert!(read(out.join("manifest.csv")).contains("file.users,absent\r\n"));
    assert_eq!(report.collections.len(), 1);
}

#[test]
fn a_bad_record_is_an_error_naming_collection_record_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, mut bundle) = csv_bundle(tmp.path(), "b", &[Users]);
    bundle.begin_collection(Users).unwrap();
    let records =
        r#"{"sourcedId":"u1","givenName":"A"},{"sourcedId":"u2","givenName":{"first":"B"}}"#;
    let err = bundle.write_page(&page(Users, 100, records)).unwrap_err();
    match &err {
        ExportError::Record {
            collection,
            index,
            sourced_id,
            field,
            ..
        } => {
            assert_eq!(
                (*collection, *index, sourced_id.as_str(), *field),
                (Users, 101, "u2", "givenName")
            );
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("users.csv"), "{message}");
    assert!(
        message.contains(
            "users record 101 (sourcedId `u2`): `givenName` expected a string, found an object"
        ),
        "{message}"
    );
    drop(bundle);
    assert!(!out.exists());
    assert!(names(tmp.path()).is_empty());
}

#[test]
fn zips_are_byte_identical_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = [
        (Orgs, ORG),
        (Classes, CLASS_WITH_RESOURCES),
        (Resources, RESOURCE),
    ];
    let mut zips = Vec::new();
    for dir in ["one", "two"] {
        fs::create_dir(tmp.path().join(dir)).unwrap();
        let out = tmp.path().join(dir).join("Bundle.ZIP");
        export(&opts(Format::Csv, &out), &data);
        assert_eq!(mode(&out), 0o600);
        assert_eq!(names(&tmp.path().join(dir)), ["Bundle.ZIP"]);
        zips.push(fs::read(&out).unwrap());
    }
    assert_eq!(zips[0], zips[1]);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zips[0])).unwrap();
    let ordered: Vec<String> = (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    assert_eq!(
        ordered,
        [
            "manifest.csv",
            "classes.csv",
            "classResources.csv",
            "orgs.csv",
            "resources.csv"
        ]
    );
    let mut manifest = String::new();
    let mut entry = archive.by_name("manifest.csv").unwrap();
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o600));
    assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
    // Wall-clock time must not leak into the bytes.
    assert_eq!(entry.last_modified(), Some(zip::DateTime::default()));
    entry.read_to_string(&mut manifest).unwrap();
    assert!(manifest.contains("file.classResources,bulk\r\n"));
}

#[test]
fn publishing_replaces_a_previous_bundle_whole() {
    let (tmp, out, _report) = export_csv(&[
        (Orgs, ORG),
        (Users, r#"{"sourcedId":"old","givenName":"Old"}"#),
    ]);
    export(
        &opts(Format::Csv, &out),
        &[(Users, r#"{"sourcedId":"new","givenName":"New"}"#)],
    );
    assert_eq!(names(&out), ["manifest.csv", "users.csv"]);
    assert_eq!(
        rows(&read(out.join("users.csv"))),
        ["new,,,true,,,,,New,,,,,,,,,"]
    );
    assert_eq!(mode(&out), 0o700);
    assert_eq!(names(tmp.path()), ["b"]);

    // A zip over a zip, and a CSV bundle over a JSON one, work the same way.
    let zip = tmp.path().join("b.zip");
    export(&opts(Format::Csv, &zip), &[(Orgs, ORG)]);
    let first = fs::read(&zip).unwrap();
    export(&opts(Format::Csv, &zip), &[(Users, r#"{"sourcedId":"u"}"#)]);
    assert_ne!(fs::read(&zip).unwrap(), first);
    let json = tmp.path().join("j");
    export(&opts(Format::Json, &json), &[(Orgs, ORG)]);
    export(&opts(Format::Csv, &json), &[(Orgs, ORG)]);
    assert_eq!(names(&json), ["manifest.csv", "orgs.csv"]);
    assert_eq!(names(tmp.path()), ["b", "b.zip", "j"]);
}

#[test]
fn the_fallback_swap_replaces_the_folder_too() {
    let (_tmp, out, _report) = export_csv(&[(Orgs, ORG)]);
    let target = super::staging::Target::resolve(
        &crate::storage::Location::Local(out.clone()),
        Format::Csv,
        &Default::default(),
    )
    .unwrap();
    let staged = target.staging_dir().unwrap().keep();
    fs::write(staged.join("manifest.csv"), "new").unwrap();
    let previous = target.swap_by_renames(&staged).unwrap();
    assert_eq!(read(out.join("manifest.csv")), "new");
    assert!(previous.join("orgs.csv").exists());
    assert!(!staged.exists());
}

#[test]
fn dropping_before_publish_leaves_the_previous_bundle_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    for (format, name) in [
        (Format::Csv, "b"),
        (Format::Csv, "b.zip"),
        (Format::Json, "j"),
        (Format::Ndjson, "n.ndjson"),
    ] {
        let out = tmp.path().join(name);
        export(&opts(format, &out), &[(Orgs, ORG)]);
        let snapshot = |p: &Path| -> Vec<(String, Vec<u8>)> {
            if p.is_dir() {
                names(p)
                    .into_iter()
                    .map(|n| (n.clone(), fs::read(p.join(&n)).unwrap()))
                    .collect()
            } else {
                vec![(String::new(), fs::read(p).unwrap())]
            }
        };
        let before = snapshot(&out);
        let mut bundle = Bundle::create(&opts(format, &out), &[Orgs, Users]).unwrap();
        write(&mut bundle, Orgs, r#"{"sourcedId":"other","name":"Other"}"#);
        bundle.begin_collection(Users).unwrap();
        drop(bundle);
        assert_eq!(snapshot(&out), before, "{name}");
    }
    let left: Vec<String> = names(tmp.path());
    // The four outputs, and nothing else: no staging, no lock files.
    assert_eq!(left, ["b", "b.zip", "j", "n.ndjson"]);
}

#[test]
fn a_foreign_or_misshapen_target_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("home");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "mine").unwrap();
    fs::write(foreign.join("manifest.csv"), "not ours either").unwrap();
    let err = Bundle::create(&opts(Format::Csv, &foreign), &[Orgs]).unwrap_err();
    assert!(matches!(err, ExportError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(names(&foreign), ["manifest.csv", "notes.txt"]);

    // CSV files without a manifest are not a bundle of ours.
    let bare = tmp.path().join("bare");
    fs::create_dir(&bare).unwrap();
    fs::write(bare.join("users.csv"), "x").unwrap();
    assert!(matches!(
        Bundle::create(&opts(Format::Csv, &bare), &[Orgs]),
        Err(ExportError::Refused { .. })
    ));

    // A file where a folder is wanted, and a folder where a file is wanted.
    let file = tmp.path().join("file");
    fs::write(&file, "data").unwrap();
    let err = Bundle::create(&opts(Format::Csv, &file), &[Orgs]).unwrap_err();
    assert!(err.to_string().contains("is a file"), "{err}");
    let dir_zip = tmp.path().join("dir.zip");
    fs::create_dir(&dir_zip).unwrap();
    let err = Bundle::create(&opts(Format::Csv, &dir_zip), &[Orgs]).unwrap_err();
    assert!(err.to_string().contains("is a folder"), "{err}");
    let err = Bundle::create(&opts(Format::Ndjson, &foreign), &[Orgs]).unwrap_err();
    assert!(matches!(err, ExportError::Refused { .. }), "{err:?}");
    // A file that is not a zip is not replaced by one.
    let text_zip = tmp.path().join("text.zip");
    fs::write(&text_zip, "hello").unwrap();
    assert!(matches!(
        Bundle::create(&opts(Format::Csv, &text_zip), &[Orgs]),
        Err(ExportError::Refused { .. })
    ));

    // Nothing was created beside them: no lock, no staging.
    assert_eq!(
        names(tmp.path()),
        ["bare", "dir.zip", "file", "home", "text.zip"]
    );
    // An empty folder is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    export(&opts(Format::Csv, &empty), &[(Orgs, ORG)]);
    assert_eq!(names(&empty), ["manifest.csv", "orgs.csv"]);
}

#[test]
fn a_second_run_on_the_same_target_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.zip");
    let first = Bundle::create(&opts(Format::Csv, &out), &[Orgs]).unwrap();
    let err = Bundle::create(&opts(Format::Csv, &out), &[Orgs]).unwrap_err();
    assert!(matches!(err, ExportError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("b.zip is being written by another roster-export run"),
        "{err}"
    );
    assert_eq!(
        names(tmp.path()).len(),
        1,
        "only the first run's staging folder is there"
    );
    drop(first);
    Bundle::create(&opts(Format::Csv, &out), &[Orgs]).unwrap();
}

#[test]
fn an_older_versions_lock_file_beside_the_output_is_honoured_then_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.zip");
    let old = tmp.path().join(".b.zip.lock");
    let held = fs::File::create(&old).unwrap();
    held.lock().unwrap();
    let err = Bundle::create(&opts(Format::Csv, &out), &[Orgs]).unwrap_err();
    assert!(err.to_string().contains(".b.zip.lock"), "{err}");
    drop(held);
    let report = Bundle::create(&opts(Format::Csv, &out), &[Orgs])
        .unwrap()
        .publish()
        .unwrap();
    assert_eq!(report.path.as_deref(), Some(out.as_path()));
    assert_eq!(names(tmp.path()), ["b.zip"]);
}

#[test]
fn json_files_hold_one_record_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("j");
    let pretty =
        "{\n  \"sourcedId\": \"u1\",\n  \"givenName\": \"A  b\",\n  \"status\": \"tobedeleted\"\n}";
    let report = export(
        &opts(Format::Json, &out),
        &[
            (Orgs, ""),
            (
                Users,
                &format!("{pretty},{{\"sourcedId\":\"u2\", \"x\": [1, 2]}}"),
            ),
        ],
    );
    assert_eq!(names(&out), ["orgs.json", "users.json"]);
    assert_eq!(read(out.join("orgs.json")), "[\n]\n");
    assert_eq!(
        read(out.join("users.json")),
        "[\n{\"sourcedId\":\"u1\",\"givenName\":\"A  b\",\"status\":\"tobedeleted\"},\n\
         {\"sourcedId\":\"u2\", \"x\": [1, 2]}\n]\n"
    );
    let parsed: serde_json::Value = serde_json::from_str(&read(out.join("users.json"))).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 2);
    assert_eq!(
        report.files[1],
        FileRows {
            name: "users.json".into(),
            rows: 2
        }
    );
    assert_eq!(mode(out.join("users.json")), 0o600);
}

#[test]
fn ndjson_lines_carry_the_collection_and_a_compacted_record() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("roster.ndjson");
    let pretty = "{\n  \"sourcedId\": \"u1\",\n  \"givenName\": \"A\\nB\"\n}";
    let report = export(&opts(Format::Ndjson, &out), &[(Orgs, ORG), (Users, pretty)]);
    let text = read(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        format!("{{\"collection\":\"orgs\",\"record\":{ORG}}}")
    );
    assert_eq!(
        lines[1],
        r#"{"collection":"users","record":{"sourcedId":"u1","givenName":"A\nB"}}"#
    );
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["record"]["sourcedId"].is_string());
    }
    assert!(text.ends_with('\n'));
    assert_eq!(mode(&out), 0o600);
    assert_eq!(
        report.files,
        [FileRows {
            name: "roster.ndjson".into(),
            rows: 2
        }]
    );
}

#[test]
fn ndjson_pages_of_many_records_are_written_whole_and_in_order() {
    // More records than one vectored write takes, a page that needs compacting between two
    // that do not, and a collection that waits its turn in a part file.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("many.ndjson");
    let records: Vec<String> = (0..1201)
        .map(|i| format!(r#"{{"sourcedId":"u{i}","n":{i}}}"#))
        .collect();
    let mut bundle = Bundle::create(&opts(Format::Ndjson, &out), &[Orgs, Users]).unwrap();
    bundle.begin_collection(Users).unwrap();
    bundle
        .write_page(&page(Users, 0, &records[..700].join(",")))
        .unwrap();
    bundle
        .write_page(&page(Users, 700, "{\n\"sourcedId\": \"pretty\"\n}"))
        .unwrap();
    bundle
        .write_page(&page(Users, 701, &records[700..].join(",")))
        .unwrap();
    bundle.finish_collection(Users).unwrap();
    write(&mut bundle, Orgs, ORG);
    bundle.publish().unwrap();

    let mut expected = vec![format!("{{\"collection\":\"orgs\",\"record\":{ORG}}}")];
    let user = |r: &str| format!("{{\"collection\":\"users\",\"record\":{r}}}");
    expected.extend(records[..700].iter().map(|r| user(r)));
    expected.push(user(r#"{"sourcedId":"pretty"}"#));
    expected.extend(records[700..].iter().map(|r| user(r)));
    let text = read(&out);
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn an_abandoned_ndjson_collection_is_cut_from_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("n.ndjson");
    let mut bundle = Bundle::create(&opts(Format::Ndjson, &out), &[Orgs, Users]).unwrap();
    write(&mut bundle, Orgs, ORG);
    bundle.begin_collection(Users).unwrap();
    bundle
        .write_page(&page(Users, 0, r#"{"sourcedId":"u1"}"#))
        .unwrap();
    bundle.abandon_collection(Users).unwrap();
    let report = bundle.publish().unwrap();
    assert_eq!(
        read(&out),
        format!("{{\"collection\":\"orgs\",\"record\":{ORG}}}\n")
    );
    assert_eq!(report.files[0].rows, 1);
}

#[test]
fn csv_and_json_cannot_go_to_stdout() {
    for format in [Format::Csv, Format::Json] {
        let o = OutputOptions {
            destination: Destination::Stdout,
            ..opts(format, Path::new("x"))
        };
        let err = Bundle::create(&o, &[Orgs]).unwrap_err();
        assert!(err.is_usage(), "{err:?}");
        assert!(err.to_string().contains("standard output"), "{err}");
    }
    let o = OutputOptions {
        destination: Destination::Stdout,
        ..opts(Format::Ndjson, Path::new("x"))
    };
    assert!(Bundle::create(&o, &[Orgs]).is_ok());
}

#[test]
fn calls_out_of_order_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, mut bundle) = csv_bundle(tmp.path(), "b", &[Orgs, Users]);
    assert!(matches!(
        bundle.write_page(&page(Orgs, 0, ORG)),
        Err(ExportError::Sequence { .. })
    ));
    assert!(matches!(
        bundle.finish_collection(Orgs),
        Err(ExportError::Sequence { .. })
    ));
    bundle.begin_collection(Orgs).unwrap();
    assert!(matches!(
        bundle.begin_collection(Orgs),
        Err(ExportError::Sequence { .. })
    ));
    assert!(matches!(
        bundle.write_page(&page(Users, 0, r#"{"sourcedId":"u"}"#)),
        Err(ExportError::Sequence { .. })
    ));
    // Several collections may be open at once.
    bundle.begin_collection(Users).unwrap();
    let err = bundle.publish().unwrap_err();
    assert!(
        err.to_string().contains("neither finished nor abandoned"),
        "{err}"
    );
    assert!(!out.exists());
    assert!(names(tmp.path()).is_empty());
}

/// Writes `c`'s records in two pages, interleaved with the other collections as `order` says.
fn interleaved(format: Format, out: &Path, order: &[(CollectionId, usize)]) {
    let pages = |c: CollectionId| -> [&str; 2] {
        match c {
            Orgs => [ORG, r#"{"sourcedId":"o2","name":"Two","type":"school"}"#],
            Users => [
                r#"{"sourcedId":"u1","givenName":"A"}"#,
                r#"{"sourcedId":"u2","givenName":"B"}"#,
            ],
            _ => [r#"{"sourcedId":"x1"}"#, r#"{"sourcedId":"x2"}"#],
        }
    };
    let planned = [Orgs, AcademicSessions, Users];
    let mut bundle = Bundle::create(&opts(format, out), &planned).unwrap();
    for c in planned {
        bundle.begin_collection(c).unwrap();
    }
    for &(c, i) in order {
        bundle.write_page(&page(c, i as u64, pages(c)[i])).unwrap();
        if i == 1 {
            bundle.finish_collection(c).unwrap();
        }
    }
    bundle.publish().unwrap();
}

#[test]
fn collections_written_at_once_give_the_bytes_of_one_after_another() {
    let one_after_another = [
        (Orgs, 0),
        (Orgs, 1),
        (AcademicSessions, 0),
        (AcademicSessions, 1),
        (Users, 0),
        (Users, 1),
    ];
    // Later collections first, pages interleaved: NDJSON still comes out in plan order.
    let at_once = [
        (Users, 0),
        (AcademicSessions, 0),
        (Users, 1),
        (Orgs, 0),
        (AcademicSessions, 1),
        (Orgs, 1),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (format, name) in [
        (Format::Csv, "b.zip"),
        (Format::Json, "j.zip"),
        (Format::Ndjson, "n.ndjson"),
    ] {
        let (a, b) = (
            tmp.path().join("a").join(name),
            tmp.path().join("b").join(name),
        );
        for dir in [&a, &b] {
            fs::create_dir_all(dir.parent().unwrap()).unwrap();
        }
        interleaved(format, &a, &one_after_another);
        interleaved(format, &b, &at_once);
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{format}");
    }
    let lines = read(tmp.path().join("b/n.ndjson"));
    let order: Vec<&str> = lines
        .lines()
        .map(|l| l.split('"').nth(3).unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "orgs",
            "orgs",
            "academicSessions",
            "academicSessions",
            "users",
            "users"
        ]
    );
    // The part files of the collections that waited are gone.
    assert_eq!(names(&tmp.path().join("b")), ["b.zip", "j.zip", "n.ndjson"]);
}

#[test]
fn replacing_a_bundle_reports_what_changed_per_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.zip");
    let first = export(
        &opts(Format::Csv, &out),
        &[
            (Orgs, ORG),
            (
                Users,
                r#"{"sourcedId":"u1","givenName":"A"},{"sourcedId":"u2","givenName":"B"},{"sourcedId":"u3","givenName":"C"}"#,
            ),
        ],
    );
    assert!(!first.replaced && first.changes.is_empty());
    let second = export(
        &opts(Format::Csv, &out),
        &[
            (Orgs, ORG),
            (
                Users,
                r#"{"sourcedId":"u1","givenName":"A"},{"sourcedId":"u2","givenName":"Bea"},{"sourcedId":"u4","givenName":"D"}"#,
            ),
        ],
    );
    assert!(second.replaced);
    assert_eq!(
        second.changes[&Users],
        Changes {
            added: 1,
            removed: 1,
            changed: 1
        }
    );
    assert_eq!(second.changes[&Orgs], Changes::default());
}

#[test]
fn broken_pipes_are_recognised() {
    let pipe = ExportError::Stdout {
        source: std::io::ErrorKind::BrokenPipe.into(),
    };
    assert!(pipe.is_broken_pipe());
    let full = ExportError::Stdout {
        source: std::io::ErrorKind::StorageFull.into(),
    };
    assert!(!full.is_broken_pipe());
    let file = ExportError::Io {
        action: "writing",
        path: PathBuf::from("x"),
        source: std::io::ErrorKind::BrokenPipe.into(),
    };
    assert!(!file.is_broken_pipe());
}

#[test]
fn bundles_can_move_to_a_writer_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Bundle>();
}

#[test]
fn the_shrink_guard_keeps_a_bundle_that_would_lose_most_records() {
    let tmp = tempfile::tempdir().unwrap();
    let user = |id: &str| {
        format!(r#"{{"sourcedId":"{id}","givenName":"A","familyName":"B","role":"student"}}"#)
    };
    let four: Vec<String> = ["u1", "u2", "u3", "u4"].iter().map(|id| user(id)).collect();
    for name in ["b.zip", "b", "b.ndjson", "j"] {
        let out = tmp.path().join(name);
        let format = match name {
            "b.ndjson" => Format::Ndjson,
            "j" => Format::Json,
            _ => Format::Csv,
        };
        let mut o = opts(format, &out);
        o.max_shrink = Some(MaxShrink(50));
        export(&o, &[(Users, &four.join(","))]);
        let before: Vec<(String, Vec<u8>)> = if out.is_dir() {
            names(&out)
                .into_iter()
                .map(|n| (n.clone(), fs::read(out.join(&n)).unwrap()))
                .collect()
        } else {
            vec![(name.to_string(), fs::read(&out).unwrap())]
        };
        // Half is allowed, one in four is not.
        let mut bundle = Bundle::create(&o, &[Users]).unwrap();
        bundle.begin_collection(Users).unwrap();
        bundle.write_page(&page(Users, 0, &user("u1"))).unwrap();
        bundle.finish_collection(Users).unwrap();
        let err = bundle.publish().unwrap_err();
        assert!(err.is_shrink(), "{name}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("from 4 to 1 records") && msg.contains("50%"),
            "{msg}"
        );
        let after: Vec<(String, Vec<u8>)> = if out.is_dir() {
            names(&out)
                .into_iter()
                .map(|n| (n.clone(), fs::read(out.join(&n)).unwrap()))
                .collect()
        } else {
            vec![(name.to_string(), fs::read(&out).unwrap())]
        };
        assert_eq!(before, after, "{name}: the previous output is kept");
        export(&o, &[(Users, &four[..2].join(","))]);
        o.max_shrink = None;
        export(&o, &[(Users, &user("u9"))]);
    }
}
