//! Hosts that leave things out: a service they do not offer, a scope they do not grant, totals
//! that never add up.

use oneroster::{CollectionId, KnownScope};
use roster_sandbox::{Fault, Faults, SandboxOptions};

use crate::support::*;

#[test]
fn a_service_the_host_does_not_offer_is_absent_with_a_warning() {
    let s = Scenario::new(SandboxOptions {
        missing: vec![CollectionId::Demographics],
        ..Default::default()
    });
    s.export(&[
        "--scope",
        "roster.readonly",
        "--scope",
        "roster-demographics.readonly",
    ])
    .exits(0)
    .says("does not seem to offer demographics");
    let files = bundle_files(&s.out);
    assert_eq!(manifest(&files)["file.demographics"], "absent");
    assert_eq!(manifest(&files)["file.users"], "bulk");
    assert!(!files.contains_key("demographics.csv"));
}

#[test]
fn a_scope_the_host_withholds_exits_3_naming_collection_and_scope() {
    let s = Scenario::new(SandboxOptions {
        withheld_scopes: vec![KnownScope::Gradebook],
        ..Default::default()
    });
    s.export(&[
        "--scope",
        "roster.readonly",
        "--scope",
        "gradebook.readonly",
    ])
    .exits(3)
    // Every gradebook collection is refused; whichever is walked first is named.
    .says("(GET http://127.0.0.1:")
    .says("HTTP 403")
    .says("gradebook.readonly");
    assert!(!s.out.exists());
}

#[test]
fn totals_that_never_add_up_fail_unless_partial_output_is_allowed() {
    let s = Scenario::new(SandboxOptions {
        faults: Some(Faults {
            kinds: vec![Fault::WrongTotal],
            ..Faults::all(1.0, 1)
        }),
        ..Default::default()
    });
    let both = ["--scope", "roster.readonly", "--only", "orgs,users"];
    // Both collections are walked at once; whichever gives up first is named.
    s.export(&both)
        .exits(4)
        .says("distinct records arrived but X-Total-Count said")
        .says("(after 5 walks)");
    assert!(!s.out.exists());

    s.export(&[&both[..], &["--allow-partial"]].concat())
        .exits(0)
        .says("--allow-partial");
    let files = bundle_files(&s.out);
    assert_eq!(manifest(&files)["file.orgs"], "absent");
    assert_eq!(manifest(&files)["file.users"], "absent");
}
