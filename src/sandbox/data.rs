//! The records the sandbox serves: the fixture district (parsed once from the embedded files) or
//! a synthetic one generated on demand, behind one interface of (collection, index) → JSON.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::District;
use super::synthetic::Synthetic;
use crate::oneroster::CollectionId;

/// The fixture files, compiled in so `--demo` works from any folder.
const FIXTURE_FILES: [(CollectionId, &str); 11] = [
    (
        CollectionId::Orgs,
        include_str!("../../fixtures/district/orgs.json"),
    ),
    (
        CollectionId::AcademicSessions,
        include_str!("../../fixtures/district/academicSessions.json"),
    ),
    (
        CollectionId::Courses,
        include_str!("../../fixtures/district/courses.json"),
    ),
    (
        CollectionId::Classes,
        include_str!("../../fixtures/district/classes.json"),
    ),
    (
        CollectionId::Users,
        include_str!("../../fixtures/district/users.json"),
    ),
    (
        CollectionId::Enrollments,
        include_str!("../../fixtures/district/enrollments.json"),
    ),
    (
        CollectionId::Demographics,
        include_str!("../../fixtures/district/demographics.json"),
    ),
    (
        CollectionId::Categories,
        include_str!("../../fixtures/district/categories.json"),
    ),
    (
        CollectionId::LineItems,
        include_str!("../../fixtures/district/lineItems.json"),
    ),
    (
        CollectionId::Results,
        include_str!("../../fixtures/district/results.json"),
    ),
    (
        CollectionId::Resources,
        include_str!("../../fixtures/district/resources.json"),
    ),
];

/// The fixture district's records of one collection, as the sandbox serves them.
pub fn fixture_records(collection: CollectionId) -> Vec<Value> {
    let text = FIXTURE_FILES
        .iter()
        .find(|(c, _)| *c == collection)
        .map(|(_, t)| *t)
        .unwrap_or("{}");
    let parsed: HashMap<String, Vec<Value>> =
        serde_json::from_str(text).expect("fixture files are valid JSON");
    parsed
        .into_iter()
        .next()
        .map(|(_, records)| records)
        .unwrap_or_default()
}

/// One collection of the fixture, compacted and sorted by sourcedId.
struct FixtureCollection {
    records: Vec<String>,
    by_id: HashMap<String, usize>,
}

fn fixture() -> &'static HashMap<CollectionId, FixtureCollection> {
    static FIXTURE: OnceLock<HashMap<CollectionId, FixtureCollection>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        FIXTURE_FILES
            .iter()
            .map(|(id, _)| {
                let mut records: Vec<(String, String)> = fixture_records(*id)
                    .into_iter()
                    .map(|r| {
                        (
                            r["sourcedId"].as_str().unwrap_or_default().to_string(),
                            r.to_string(),
                        )
                    })
                    .collect();
                records.sort();
                let by_id = records
                    .iter()
                    .enumerate()
                    .map(|(i, (id, _))| (id.clone(), i))
                    .collect();
                (
                    *id,
                    FixtureCollection {
                        records: records.into_iter().map(|(_, r)| r).collect(),
                        by_id,
                    },
                )
            })
            .collect()
    })
}

/// The district being served.
pub(crate) enum Data {
    Fixture,
    Synthetic(Synthetic),
}

impl Data {
    pub fn new(district: &District) -> Data {
        match district {
            District::Fixture => {
                fixture();
                Data::Fixture
            }
            District::Synthetic { users, seed } => Data::Synthetic(Synthetic::new(*users, *seed)),
        }
    }

    /// How many records the collection holds.
    pub fn len(&self, c: CollectionId) -> u64 {
        match self {
            Data::Fixture => fixture().get(&c).map_or(0, |f| f.records.len() as u64),
            Data::Synthetic(s) => s.len(c),
        }
    }

    /// Appends record `index` of `c` (in sourcedId order) as compact JSON.
    pub fn write(&self, c: CollectionId, index: u64, out: &mut Vec<u8>) {
        match self {
            Data::Fixture => {
                if let Some(record) = fixture()
                    .get(&c)
                    .and_then(|f| f.records.get(index as usize))
                {
                    out.extend_from_slice(record.as_bytes());
                }
            }
            Data::Synthetic(s) => s.write(c, index, out),
        }
    }

    /// The index of the record with this sourcedId.
    pub fn find(&self, c: CollectionId, id: &str) -> Option<u64> {
        match self {
            Data::Fixture => fixture().get(&c)?.by_id.get(id).map(|&i| i as u64),
            Data::Synthetic(s) => s.find(c, id),
        }
    }
}
