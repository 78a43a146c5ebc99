//! Filtered and sorted reads: the records of a listing that pass a filter, in sort order,
//! worked out once (on every core, reading only the members the filter and sort look at) and kept
//! in a small cache keyed by the overlay's version, so paging through them scans the district once.
//! A filter only changed records can pass reads only the overlay.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::data::Data;
use super::filter::Filter;
use super::listing::{Item, Listing};
use super::query::Sort;

/// The records of `listing` that pass `filter`, in `sort` order (sourcedId order among equals).
pub(crate) fn derive(
    data: &Data,
    listing: &Listing,
    filter: Option<&Filter>,
    sort: Option<&Sort>,
) -> Vec<Item> {
    let collection = listing.collection;
    let mut wanted: Vec<&str> = filter.map(Filter::fields).unwrap_or_default();
    wanted.extend(sort.map(|s| s.field.as_str()));
    let keep = |item: Item| -> Option<(Option<Value>, Item)> {
        let record = match &item {
            Item::Base(i) => data.members_of(collection, *i, &wanted),
            Item::Over(rec) => Cow::Borrowed(&rec.value),
        };
        if !filter.is_none_or(|f| f.matches(&record)) {
            return None;
        }
        let key = sort.and_then(|s| record.get(&s.field).cloned());
        drop(record);
        Some((key, item))
    };
    let mut keyed: Vec<(Option<Value>, Item)> = if filter.is_some_and(Filter::only_changed) {
        listing.changed().filter_map(keep).collect()
    } else {
        // Scanning reads and parses every record: split it across the cores.
        let len = listing.len();
        let parts = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let chunk = len.div_ceil(parts).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..len)
                .step_by(chunk as usize)
                .map(|from| {
                    let keep = &keep;
                    scope.spawn(move || {
                        listing
                            .items(from, from + chunk)
                            .filter_map(keep)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a filter worker does not panic"))
                .collect()
        })
    };
    if let Some(sort) = sort {
        keyed.sort_by(|a, b| sort.compare(a.0.as_ref(), b.0.as_ref()));
    }
    keyed.into_iter().map(|(_, item)| item).collect()
}

/// The last few filtered or sorted reads, so paging through one scans the district once.
#[derive(Debug, Default)]
pub(crate) struct DerivedCache {
    entries: Mutex<VecDeque<(String, Arc<Vec<Item>>)>>,
}

/// Derived reads kept.
const DERIVED_KEPT: usize = 8;

impl DerivedCache {
    /// The items cached under `key`, or `make`'s, cached.
    pub(crate) fn get_or(&self, key: String, make: impl FnOnce() -> Vec<Item>) -> Arc<Vec<Item>> {
        if let Some(hit) = self.lookup(&key) {
            return hit;
        }
        let made = Arc::new(make());
        let mut entries = self.entries.lock().expect("derived cache lock");
        entries.retain(|(k, _)| *k != key);
        if entries.len() >= DERIVED_KEPT {
            entries.pop_back();
        }
        entries.push_front((key, made.clone()));
        made
    }

    fn lookup(&self, key: &str) -> Option<Arc<Vec<Item>>> {
        let mut entries = self.entries.lock().expect("derived cache lock");
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at)?;
        let items = entry.1.clone();
        entries.push_front(entry);
        Some(items)
    }
}
