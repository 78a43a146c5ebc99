//! The fixture district: hand-written JSON files (fixtures/district/*.json) embedded in the binary,
//! so `--demo` works from any directory. Served sorted by sourcedId, each record compacted but
//! otherwise exactly as written (key order included).

use std::sync::LazyLock;

use serde_json::Value;
use serde_json::value::RawValue;

use super::endpoints::View;
use super::json::minify;
use oneroster::{COLLECTIONS, CollectionId};

/// The embedded source of one collection's fixture file.
fn source(id: CollectionId) -> (&'static str, &'static str) {
    macro_rules! file {
        ($name:literal) => {
            ($name, include_str!(concat!("../fixtures/district/", $name)))
        };
    }
    match id {
        CollectionId::Orgs => file!("orgs.json"),
        CollectionId::AcademicSessions => file!("academicSessions.json"),
        CollectionId::Courses => file!("courses.json"),
        CollectionId::Classes => file!("classes.json"),
        CollectionId::Users => file!("users.json"),
        CollectionId::Enrollments => file!("enrollments.json"),
        CollectionId::Demographics => file!("demographics.json"),
        CollectionId::Categories => file!("categories.json"),
        CollectionId::LineItems => file!("lineItems.json"),
        CollectionId::Results => file!("results.json"),
        CollectionId::Resources => file!("resources.json"),
    }
}

/// The fixture district's records, per collection, sorted by sourcedId (the order served).
#[derive(Debug)]
pub struct FixtureDistrict {
    collections: Vec<FixtureCollection>,
}

#[derive(Debug)]
pub(crate) struct FixtureCollection {
    id: CollectionId,
    records: Vec<Value>,
    /// Compact JSON of each record, same order as `records`.
    raw: Vec<Box<[u8]>>,
    /// Positions in `records` of each typed view over this collection.
    views: Vec<(View, Vec<u32>)>,
}

static FIXTURE: LazyLock<FixtureDistrict> = LazyLock::new(FixtureDistrict::load);

/// The fixture district the sandbox serves by default, for tests to compare exports against.
pub fn fixture_district() -> &'static FixtureDistrict {
    &FIXTURE
}

impl FixtureDistrict {
    fn load() -> FixtureDistrict {
        let collections = COLLECTIONS
            .iter()
            .map(|c| FixtureCollection::load(c.id))
            .collect();
        FixtureDistrict { collections }
    }

    /// The records of a collection by its name (`users`, `lineItems`, …), sorted by sourcedId;
    /// empty for an unknown name. `tobedeleted` records are included.
    pub fn records(&self, collection: &str) -> &[Value] {
        self.collections
            .iter()
            .find(|c| c.id.name() == collection)
            .map_or(&[], |c| &c.records)
    }

    /// The records a bulk export keeps: those whose status is not `tobedeleted`.
    pub fn active(&self, collection: &str) -> impl Iterator<Item = &Value> {
        self.records(collection)
            .iter()
            .filter(|r| r.get("status").and_then(Value::as_str) != Some("tobedeleted"))
    }

    /// One record by collection name and sourcedId.
    pub fn get(&self, collection: &str, sourced_id: &str) -> Option<&Value> {
        let records = self.records(collection);
        records
            .binary_search_by(|r| sourced_id_of(r).cmp(sourced_id))
            .ok()
            .map(|i| &records[i])
    }

    /// Collection names, in export order.
    pub fn collection_names(&self) -> impl Iterator<Item = &'static str> {
        self.collections.iter().map(|c| c.id.name())
    }

    /// Records across all collections.
    pub fn total(&self) -> usize {
        self.collections.iter().map(|c| c.records.len()).sum()
    }

    pub(crate) fn collection(&self, id: CollectionId) -> &FixtureCollection {
        self.collections
            .iter()
            .find(|c| c.id == id)
            .expect("every collection has a fixture")
    }
}

impl FixtureCollection {
    fn load(id: CollectionId) -> FixtureCollection {
        let (file, text) = source(id);
        let key = id.info().response_key;
        let mut doc: std::collections::HashMap<&str, Vec<&RawValue>> = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("fixtures/district/{file} is not valid JSON: {e}"));
        let items = doc
            .remove(key)
            .unwrap_or_else(|| panic!("fixtures/district/{file} has no `{key}` array"));
        assert!(
            doc.is_empty(),
            "fixtures/district/{file} has members besides `{key}`"
        );
        let mut rows: Vec<(Value, Box<[u8]>)> = items
            .into_iter()
            .map(|raw| {
                let value: Value = serde_json::from_str(raw.get())
                    .unwrap_or_else(|e| panic!("fixtures/district/{file}: {e}"));
                assert!(
                    value.get("sourcedId").and_then(Value::as_str).is_some(),
                    "fixtures/district/{file}: a record has no sourcedId"
                );
                (value, minify(raw.get()).into_boxed_slice())
            })
            .collect();
        rows.sort_by(|a, b| sourced_id_of(&a.0).cmp(sourced_id_of(&b.0)));
        for pair in rows.windows(2) {
            assert_ne!(
                sourced_id_of(&pair[0].0),
                sourced_id_of(&pair[1].0),
                "fixtures/district/{file}: duplicate sourcedId"
            );
        }
        let (records, raw): (Vec<Value>, Vec<Box<[u8]>>) = rows.into_iter().unzip();
        let views = View::TYPED
            .iter()
            .filter(|(_, _, base)| *base == id)
            .map(|&(view, _, _)| {
                let members = (0..records.len() as u32)
                    .filter(|&i| view.selects(&records[i as usize]))
                    .collect();
                (view, members)
            })
            .collect();
        FixtureCollection {
            id,
            records,
            raw,
            views,
        }
    }

    /// Positions of a view's members; `None` for [`View::All`].
    pub(crate) fn members(&self, view: View) -> Option<&[u32]> {
        if view == View::All {
            return None;
        }
        Some(
            self.views
                .iter()
                .find(|(v, _)| *v == view)
                .map_or(&[], |(_, m)| m.as_slice()),
        )
    }

    /// How many records the collection holds.
    pub(crate) fn len(&self) -> u64 {
        self.records.len() as u64
    }

    /// Record `i` (in sourcedId order).
    pub(crate) fn value(&self, i: u64) -> &Value {
        &self.records[i as usize]
    }

    /// The compact JSON of record `i`.
    pub(crate) fn raw(&self, i: u64) -> &[u8] {
        &self.raw[i as usize]
    }

    /// The sourcedId of record `i`.
    pub(crate) fn id(&self, i: u64) -> &str {
        sourced_id_of(&self.records[i as usize])
    }

    /// The position of the record with this sourcedId.
    pub(crate) fn position(&self, sourced_id: &str) -> Option<u64> {
        self.records
            .binary_search_by(|r| sourced_id_of(r).cmp(sourced_id))
            .ok()
            .map(|i| i as u64)
    }
}

fn sourced_id_of(record: &Value) -> &str {
    record
        .get("sourcedId")
        .and_then(Value::as_str)
        .unwrap_or_default()
}
