//! The base district behind one interface of (collection, index) → record, indices in sourcedId
//! order: the fixture district (parsed once from the embedded files) or a synthetic one generated
//! on demand. What changes while the sandbox runs lives in the overlay, not here.

use std::borrow::Cow;

use serde_json::Value;

use super::cond::Cond;
use super::endpoints::View;
use super::fixture::{FixtureDistrict, fixture_district};
use super::json::pick_members;
use super::members::Members;
use super::options::District;
use super::synthetic::{Id, Synthetic};
use oneroster::CollectionId;

/// The district being served.
pub(crate) enum Data {
    Fixture(&'static FixtureDistrict),
    Synthetic(Synthetic),
}

/// A base record's sourcedId.
pub(crate) enum BaseId<'a> {
    Fixture(&'a str),
    Synthetic(Id),
}

impl BaseId<'_> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            BaseId::Fixture(s) => s.as_bytes(),
            BaseId::Synthetic(id) => id.as_bytes(),
        }
    }
}

impl Data {
    /// Loads (or sizes) the district; a malformed fixture file panics here, at start-up.
    pub(crate) fn new(district: &District) -> Data {
        match *district {
            District::Fixture => Data::Fixture(fixture_district()),
            District::Synthetic { users, seed } => Data::Synthetic(Synthetic::new(users, seed)),
        }
    }

    /// How many records the collection holds.
    pub(crate) fn len(&self, collection: CollectionId) -> u64 {
        match self {
            Data::Fixture(f) => f.collection(collection).len(),
            Data::Synthetic(s) => s.len(collection),
        }
    }

    /// The sourcedId of record `index`.
    pub(crate) fn id(&self, collection: CollectionId, index: u64) -> BaseId<'_> {
        match self {
            Data::Fixture(f) => BaseId::Fixture(f.collection(collection).id(index)),
            Data::Synthetic(s) => BaseId::Synthetic(s.id(collection, index)),
        }
    }

    /// Appends record `index` as compact JSON.
    pub(crate) fn write(&self, collection: CollectionId, index: u64, out: &mut Vec<u8>) {
        match self {
            Data::Fixture(f) => out.extend_from_slice(f.collection(collection).raw(index)),
            Data::Synthetic(s) => s.write(collection, index, out),
        }
    }

    /// Record `index` as a JSON value.
    pub(crate) fn value(&self, collection: CollectionId, index: u64) -> Cow<'_, Value> {
        match self {
            Data::Fixture(f) => Cow::Borrowed(f.collection(collection).value(index)),
            Data::Synthetic(s) => {
                let mut raw = Vec::with_capacity(1024);
                s.write(collection, index, &mut raw);
                Cow::Owned(serde_json::from_slice(&raw).expect("synthetic records are JSON"))
            }
        }
    }

    /// Record `index` with at least the members named in `wanted` (the synthetic district parses
    /// only those: a scan then costs a fraction of reading whole records).
    pub(crate) fn members_of(
        &self,
        collection: CollectionId,
        index: u64,
        wanted: &[&str],
    ) -> Cow<'_, Value> {
        match self {
            Data::Fixture(f) => Cow::Borrowed(f.collection(collection).value(index)),
            Data::Synthetic(s) => {
                let mut raw = Vec::with_capacity(1024);
                s.write(collection, index, &mut raw);
                Cow::Owned(Value::Object(pick_members(&raw, wanted)))
            }
        }
    }

    /// The index of the record with this sourcedId if `view` holds it.
    pub(crate) fn find(
        &self,
        collection: CollectionId,
        view: View,
        sourced_id: &str,
    ) -> Option<u64> {
        match self {
            Data::Fixture(f) => {
                let c = f.collection(collection);
                let at = c.position(sourced_id)?;
                match c.members(view) {
                    Some(m) if m.binary_search(&(at as u32)).is_err() => None,
                    _ => Some(at),
                }
            }
            Data::Synthetic(s) => s.find(collection, view, sourced_id),
        }
    }

    /// The records a view holds.
    pub(crate) fn members(&self, collection: CollectionId, view: View) -> Members {
        match self {
            Data::Fixture(f) => {
                let c = f.collection(collection);
                match c.members(view) {
                    None => Members::range(0, c.len()),
                    Some(m) => Members::from_indices(m.iter().map(|&i| u64::from(i))),
                }
            }
            Data::Synthetic(s) => {
                let (start, len) = s.view_range(collection, view);
                Members::range(start, len)
            }
        }
    }

    /// Exactly the records of `view` that meet `cond`, when the district can tell without
    /// looking at each record (the synthetic district knows its own structure).
    pub(crate) fn related(
        &self,
        collection: CollectionId,
        view: View,
        cond: &Cond,
    ) -> Option<Members> {
        match self {
            Data::Fixture(_) => None,
            Data::Synthetic(s) => s.related(collection, view, cond),
        }
    }
}
