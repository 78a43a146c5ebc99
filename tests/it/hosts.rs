//! Hosts that leave things out: a service they do not offer, a scope they do not grant, totals
//! that never add up.

use oneroster::{CollectionId, KnownScope};
use roster_sandbox::{Fault, Faults, SandboxOptions};

use crate::support::*;

#[test]
fn a_service_the_host_does_not_offer_is_absent_with_a_warning() {
    let server = Server::start(SandboxOptions {
        missing: vec![CollectionId::Demographics],
        ..Default::default()
    });
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let ran = run_to(
        server.export().args([
            "--scope",
            "roster.readonly",
            "--scope",
            "roster-demographics.readonly",
        ]),
        &out,
    );
    let stderr = &ran.stderr;
    assert_eq!(ran.code, Some(0), "{stderr}");
    assert!(
        stderr.contains("does not seem to offer demographics"),
        "{stderr}"
    );
    let files = bundle_files(&out);
    assert_eq!(manifest(&files)["file.demographics"], "absent");
    assert_eq!(manifest(&files)["file.users"], "bulk");
    assert!(!files.contains_key("demographics.csv"));
}

#[test]
fn a_scope_the_host_withholds_exits_3_naming_collection_and_scope() {
    let server = Server::start(SandboxOptions {
        withheld_scopes: vec![KnownScope::Gradebook],
        ..Default::default()
    });
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let ran = run_to(
        server.export().args([
            "--scope",
            "roster.readonly",
            "--scope",
            "gradebook.readonly",
        ]),
        &out,
    );
    let stderr = &ran.stderr;
    assert_eq!(ran.code, Some(3), "{stderr}");
    assert!(
        stderr.contains("categories (GET http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("HTTP 403") && stderr.contains("gradebook.readonly"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn totals_that_never_add_up_fail_unless_partial_output_is_allowed() {
    let server = Server::start(SandboxOptions {
        faults: Some(Faults {
            kinds: vec![Fault::WrongTotal],
            ..Faults::all(1.0, 1)
        }),
        ..Default::default()
    });
    let dir = workdir();
    let out = dir.path().join("b.zip");
    let ran = run_to(
        server
            .export()
            .args(["--scope", "roster.readonly", "--only", "orgs,users"]),
        &out,
    );
    let stderr = &ran.stderr;
    assert_eq!(ran.code, Some(4), "{stderr}");
    assert!(
        stderr
            .contains("orgs: 3 distinct records arrived but X-Total-Count said 6 (after 5 walks)"),
        "{stderr}"
    );
    assert!(!out.exists());

    let ran = run_to(
        server.export().args([
            "--scope",
            "roster.readonly",
            "--only",
            "orgs,users",
            "--allow-partial",
        ]),
        &out,
    );
    let stderr = &ran.stderr;
    assert_eq!(ran.code, Some(0), "{stderr}");
    let files = bundle_files(&out);
    assert_eq!(manifest(&files)["file.orgs"], "absent");
    assert_eq!(manifest(&files)["file.users"], "absent");
    assert!(stderr.contains("--allow-partial"), "{stderr}");
}
