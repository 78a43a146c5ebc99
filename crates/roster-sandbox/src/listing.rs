//! What one list read serves, in order: base records (runs of indices into the base district) merged
//! with the overlay's changed, inserted and vanished records by sourcedId, so paging through a
//! changed district costs no more than the number of changes. Filtered or sorted reads become a
//! [`Source::Items`] (`derived.rs`).

use std::sync::Arc;

use serde_json::Value;

use super::data::Data;
use super::members::Members;
use super::overlay::{Entry, Overlay, Rec};
use oneroster::CollectionId;

/// One record of a read: from the base district, or from the overlay.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Base(u64),
    Over(Arc<Rec>),
}

impl Item {
    /// Appends the record's compact JSON.
    pub(crate) fn write(&self, data: &Data, collection: CollectionId, out: &mut Vec<u8>) {
        match self {
            Item::Base(i) => data.write(collection, *i, out),
            Item::Over(rec) => out.extend_from_slice(&rec.raw),
        }
    }

    /// The record as a JSON value (the synthetic district's are generated and parsed).
    pub(crate) fn value<'a>(
        &'a self,
        data: &'a Data,
        collection: CollectionId,
    ) -> std::borrow::Cow<'a, Value> {
        match self {
            Item::Base(i) => data.value(collection, *i),
            Item::Over(rec) => std::borrow::Cow::Borrowed(&rec.value),
        }
    }
}

#[derive(Debug, Clone)]
enum Seg {
    /// Members `from..from + len` of the base selection.
    Base {
        from: u64,
        len: u64,
    },
    Over(Arc<Rec>),
}

/// A selection of one collection's records as the overlay leaves them, in sourcedId order.
#[derive(Debug)]
pub(crate) struct Listing {
    pub collection: CollectionId,
    members: Members,
    segs: Vec<Seg>,
    /// Position of each segment's first record.
    starts: Vec<u64>,
    len: u64,
}

impl Listing {
    /// `members` (the base records selected) with the overlay's changes applied: a changed record
    /// stays if `admits` its new content and leaves otherwise, a vanished one leaves, and an
    /// inserted or changed record from outside `members` joins if `admits` it.
    pub(crate) fn build(
        data: &Data,
        overlay: &Overlay,
        collection: CollectionId,
        members: Members,
        admits: impl Fn(&Value) -> bool,
    ) -> Listing {
        let mut segs = Vec::new();
        let mut cur = 0;
        let n = members.len();
        for (id, entry) in overlay.entries(collection) {
            let admitted = match entry {
                Entry::Present(rec) if admits(&rec.value) => Some(rec),
                _ => None,
            };
            let position = members.locate(|i| data.id(collection, i).as_bytes().cmp(id.as_bytes()));
            match (position, admitted) {
                (Ok(pos), admitted) => {
                    if pos > cur {
                        segs.push(Seg::Base {
                            from: cur,
                            len: pos - cur,
                        });
                    }
                    if let Some(rec) = admitted {
                        segs.push(Seg::Over(rec.clone()));
                    }
                    cur = pos + 1;
                }
                (Err(at), Some(rec)) => {
                    if at > cur {
                        segs.push(Seg::Base {
                            from: cur,
                            len: at - cur,
                        });
                        cur = at;
                    }
                    segs.push(Seg::Over(rec.clone()));
                }
                (Err(_), None) => {}
            }
        }
        if n > cur {
            segs.push(Seg::Base {
                from: cur,
                len: n - cur,
            });
        }
        let mut starts = Vec::with_capacity(segs.len());
        let mut len = 0;
        for seg in &segs {
            starts.push(len);
            len += match seg {
                Seg::Base { len, .. } => *len,
                Seg::Over(_) => 1,
            };
        }
        Listing {
            collection,
            members,
            segs,
            starts,
            len,
        }
    }

    /// Every record of `collection` as the overlay leaves it.
    pub(crate) fn whole(data: &Data, overlay: &Overlay, collection: CollectionId) -> Listing {
        let all = Members::range(0, data.len(collection));
        Listing::build(data, overlay, collection, all, |_| true)
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Records `from..to`, in order.
    pub(crate) fn items(&self, from: u64, to: u64) -> impl Iterator<Item = Item> + '_ {
        let to = to.min(self.len);
        let first = self
            .starts
            .partition_point(|&s| s <= from)
            .saturating_sub(1);
        self.segs
            .iter()
            .zip(&self.starts)
            .skip(first)
            .take_while(move |(_, at)| **at < to)
            .flat_map(move |(seg, &at)| {
                let (base, over) = match seg {
                    Seg::Base { from: f, len } => {
                        let lo = f + from.saturating_sub(at).min(*len);
                        let hi = f + to.saturating_sub(at).min(*len);
                        (Some(self.members.indices(lo, hi).map(Item::Base)), None)
                    }
                    Seg::Over(rec) if at >= from => (None, Some(Item::Over(rec.clone()))),
                    Seg::Over(_) => (None, None),
                };
                base.into_iter().flatten().chain(over)
            })
    }

    /// The overlay's records in this listing, in order: all that can be newer than the base.
    pub(crate) fn changed(&self) -> impl Iterator<Item = Item> + '_ {
        self.segs.iter().filter_map(|seg| match seg {
            Seg::Over(rec) => Some(Item::Over(rec.clone())),
            Seg::Base { .. } => None,
        })
    }
}

/// The records a read pages through: a listing as it is, or one filtered or sorted.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Listing(Arc<Listing>),
    Items(CollectionId, Arc<Vec<Item>>),
}

impl Source {
    pub(crate) fn collection(&self) -> CollectionId {
        match self {
            Source::Listing(l) => l.collection,
            Source::Items(c, _) => *c,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Listing(l) => l.len(),
            Source::Items(_, items) => items.len() as u64,
        }
    }

    /// Records `from..to`, in order.
    pub(crate) fn items(&self, from: u64, to: u64) -> Box<dyn Iterator<Item = Item> + '_> {
        match self {
            Source::Listing(l) => Box::new(l.items(from, to)),
            Source::Items(_, items) => {
                let to = (to as usize).min(items.len());
                let from = (from as usize).min(to);
                Box::new(items[from..to].iter().cloned())
            }
        }
    }
}
