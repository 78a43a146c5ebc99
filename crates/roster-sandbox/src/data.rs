//! The records the sandbox serves, behind one interface of (endpoint, index) → JSON: the fixture
//! district (parsed once from the embedded files) or a synthetic one generated on demand.

use super::District;
use super::endpoints::Endpoint;
use super::fixture::{FixtureDistrict, fixture_district};
use super::synthetic::Synthetic;

/// The district being served.
pub(crate) enum Data {
    Fixture(&'static FixtureDistrict),
    Synthetic(Synthetic),
}

impl Data {
    /// Loads (or sizes) the district; a malformed fixture file panics here, at start-up.
    pub(crate) fn new(district: &District) -> Data {
        match *district {
            District::Fixture => Data::Fixture(fixture_district()),
            District::Synthetic { users, seed } => Data::Synthetic(Synthetic::new(users, seed)),
        }
    }

    /// How many records the endpoint lists.
    pub(crate) fn len(&self, endpoint: &Endpoint) -> u64 {
        match self {
            Data::Fixture(f) => f.collection(endpoint.collection).len(endpoint.view),
            Data::Synthetic(s) => s.view_range(endpoint.collection, endpoint.view).1,
        }
    }

    /// Appends the endpoint's record number `index` (in sourcedId order) as compact JSON.
    pub(crate) fn write(&self, endpoint: &Endpoint, index: u64, out: &mut Vec<u8>) {
        match self {
            Data::Fixture(f) => {
                out.extend_from_slice(f.collection(endpoint.collection).raw(endpoint.view, index))
            }
            Data::Synthetic(s) => {
                let (start, _) = s.view_range(endpoint.collection, endpoint.view);
                s.write(endpoint.collection, start + index, out);
            }
        }
    }

    /// Appends the record with this sourcedId if the endpoint serves it; false if it does not.
    pub(crate) fn write_one(
        &self,
        endpoint: &Endpoint,
        sourced_id: &str,
        out: &mut Vec<u8>,
    ) -> bool {
        match self {
            Data::Fixture(f) => match f
                .collection(endpoint.collection)
                .find(endpoint.view, sourced_id)
            {
                Some(raw) => {
                    out.extend_from_slice(raw);
                    true
                }
                None => false,
            },
            Data::Synthetic(s) => match s.find(endpoint.collection, endpoint.view, sourced_id) {
                Some(index) => {
                    s.write(endpoint.collection, index, out);
                    true
                }
                None => false,
            },
        }
    }
}
