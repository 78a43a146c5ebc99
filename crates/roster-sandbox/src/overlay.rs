//! What has changed in the district while the sandbox runs: an overlay of changed, inserted and
//! vanished records over the base district, by collection and sourcedId, and the stamps that
//! order its batches. `store.rs` keeps the versions of it that reads see.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use oneroster::CollectionId;

/// Every record of the base district (fixture or synthetic) was last modified at or before this
/// instant; changes are stamped later. So `dateLastModified>'…'` from this instant on can only
/// match the overlay.
pub const BASE_INSTANT: &str = "2025-09-01T00:00:00.000Z";

/// How many collections there are (`oneroster::COLLECTIONS.len()`, as a constant).
const COLLECTION_COUNT: usize = 11;

/// A record the overlay holds: its compact JSON and the same parsed.
#[derive(Debug)]
pub(crate) struct Rec {
    pub raw: Box<[u8]>,
    pub value: Value,
}

impl Rec {
    pub(crate) fn new(raw: Vec<u8>) -> Rec {
        let value = serde_json::from_slice(&raw).expect("the overlay writes valid JSON");
        Rec {
            raw: raw.into_boxed_slice(),
            value,
        }
    }
}

/// What the overlay says about one sourcedId.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// Changed or inserted: this is the record now.
    Present(Arc<Rec>),
    /// Deleted outright: a base record that is no longer served.
    Gone,
}

/// The changes so far, per collection, by sourcedId.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overlay {
    /// Bumped by every batch of changes.
    pub version: u64,
    /// The stamp of the last batch, in milliseconds since the epoch.
    pub last_stamp_ms: Option<i64>,
    entries: [BTreeMap<String, Entry>; COLLECTION_COUNT],
}

impl Overlay {
    pub(crate) fn entries(&self, collection: CollectionId) -> &BTreeMap<String, Entry> {
        &self.entries[collection as usize]
    }

    pub(crate) fn entries_mut(&mut self, collection: CollectionId) -> &mut BTreeMap<String, Entry> {
        &mut self.entries[collection as usize]
    }

    pub(crate) fn get(&self, collection: CollectionId, sourced_id: &str) -> Option<&Entry> {
        self.entries(collection).get(sourced_id)
    }
}

/// The stamp for the next batch: now to the millisecond, but always later than the previous batch
/// and than [`BASE_INSTANT`], so `dateLastModified` only grows even if the wall clock steps back.
pub(crate) fn next_stamp(last_ms: Option<i64>, now: jiff::Timestamp) -> (i64, String) {
    let base = base_instant().as_millisecond();
    let floor = last_ms.unwrap_or(base).max(base) + 1;
    let ms = now.as_millisecond().max(floor);
    let at = jiff::Timestamp::from_millisecond(ms).expect("a representable instant");
    (ms, format_instant(at))
}

/// `YYYY-MM-DDThh:mm:ss.sssZ`, the form every record's `dateLastModified` takes.
pub(crate) fn format_instant(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(crate) fn base_instant() -> jiff::Timestamp {
    BASE_INSTANT.parse().expect("BASE_INSTANT is RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_map_per_collection() {
        assert_eq!(COLLECTION_COUNT, oneroster::COLLECTIONS.len());
        for c in CollectionId::all() {
            assert!((c as usize) < COLLECTION_COUNT);
        }
    }

    #[test]
    fn stamps_only_grow_and_start_after_the_base() {
        let base = base_instant();
        let (ms, text) = next_stamp(None, base);
        assert_eq!(
            text, "2025-09-01T00:00:00.001Z",
            "a clock at the base still stamps later"
        );
        let now: jiff::Timestamp = "2026-03-04T05:06:07.891234Z".parse().unwrap();
        let (later, text) = next_stamp(Some(ms), now);
        assert_eq!(text, "2026-03-04T05:06:07.891Z");
        let (again, text) = next_stamp(Some(later), now);
        assert_eq!(
            text, "2026-03-04T05:06:07.892Z",
            "same millisecond: one later"
        );
        let stepped_back: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let (_, text) = next_stamp(Some(again), stepped_back);
        assert_eq!(
            text, "2026-03-04T05:06:07.893Z",
            "a clock set back does not go back"
        );
    }
}
