//! The district as reads see it: the base records and the current version of the overlay,
//! swapped in whole on every batch of changes so a read sees one version from start to end. Each
//! version also caches the top-level listings built over it.

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde_json::Value;

use super::data::Data;
use super::endpoints::{Endpoint, View};
use super::listing::{Item, Listing};
use super::overlay::{Entry, Overlay};
use oneroster::CollectionId;

/// One version of the district: the overlay and the listings built over it so far.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub overlay: Overlay,
    top_level: Vec<OnceLock<Arc<Listing>>>,
}

impl Snapshot {
    fn new(overlay: Overlay) -> Snapshot {
        Snapshot {
            overlay,
            top_level: (0..Endpoint::count()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// What a top-level endpoint lists in this version.
    pub(crate) fn listing(&self, data: &Data, endpoint: &Endpoint) -> Arc<Listing> {
        self.top_level[endpoint.index]
            .get_or_init(|| {
                let view = endpoint.view;
                Arc::new(Listing::build(
                    data,
                    &self.overlay,
                    endpoint.collection,
                    data.members(endpoint.collection, view),
                    |v| view.selects(v),
                ))
            })
            .clone()
    }

    /// The record a single read of `collection` (within `view`) finds now.
    pub(crate) fn find(
        &self,
        data: &Data,
        collection: CollectionId,
        view: View,
        sourced_id: &str,
    ) -> Option<Item> {
        match self.overlay.get(collection, sourced_id) {
            Some(Entry::Present(rec)) => view.selects(&rec.value).then(|| Item::Over(rec.clone())),
            Some(Entry::Gone) => None,
            None => data.find(collection, view, sourced_id).map(Item::Base),
        }
    }
}

/// The base district and the current version of its overlay.
pub(crate) struct Store {
    pub data: Data,
    current: RwLock<Arc<Snapshot>>,
    /// Serialises writers, so a batch applies to the version it read.
    writing: Mutex<()>,
}

impl Store {
    pub(crate) fn new(data: Data) -> Store {
        Store {
            data,
            current: RwLock::new(Arc::new(Snapshot::new(Overlay::default()))),
            writing: Mutex::new(()),
        }
    }

    /// The current version.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("snapshot lock").clone()
    }

    /// Runs `change` on a copy of the current overlay and makes the result current unless it
    /// fails; a failed batch changes nothing.
    pub(crate) fn update<T, E>(
        &self,
        change: impl FnOnce(&Data, &mut Overlay) -> Result<T, E>,
    ) -> Result<T, E> {
        let _writer = self.writing.lock().expect("writer lock");
        let mut overlay = self.snapshot().overlay.clone();
        overlay.version += 1;
        let out = change(&self.data, &mut overlay)?;
        *self.current.write().expect("snapshot lock") = Arc::new(Snapshot::new(overlay));
        Ok(out)
    }

    /// Every record of a collection as served now.
    pub(crate) fn records(&self, collection: CollectionId) -> Vec<Value> {
        let snapshot = self.snapshot();
        let listing = Listing::whole(&self.data, &snapshot.overlay, collection);
        listing
            .items(0, listing.len())
            .map(|item| item.value(&self.data, collection).into_owned())
            .collect()
    }
}
