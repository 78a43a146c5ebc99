//! What one list read serves, in order: base records (runs of indices into the base district) merged
//! with the overlay's changed, inserted and vanished records by sourcedId, so paging through a
//! changed district costs no more than the number of changes. Filtered or sorted reads become a
//! [`Source::Items`] (`derived.rs`).

use std::sync::Arc;

use serde_json::Value;

use super::data::Data;
use super::overlay::{Entry, Overlay, Rec};
use oneroster::CollectionId;

/// Base records of one collection, as sorted, disjoint runs `[start, end)` of base indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Members {
    runs: Vec<(u64, u64)>,
    /// Position of each run's first member.
    starts: Vec<u64>,
    len: u64,
}

impl Members {
    /// `len` records from base index `start`.
    pub(crate) fn range(start: u64, len: u64) -> Members {
        let mut m = Members::default();
        m.push(start, start + len);
        m
    }

    /// The given base indices, ascending (adjacent ones merge into runs).
    pub(crate) fn from_indices(indices: impl IntoIterator<Item = u64>) -> Members {
        let mut m = Members::default();
        for i in indices {
            m.push(i, i + 1);
        }
        m
    }

    /// Appends the run `[start, end)`, which must come after every run so far.
    pub(crate) fn push(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        match self.runs.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => {
                self.runs.push((start, end));
                self.starts.push(self.len);
            }
        }
        self.len += end - start;
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The base index of member `pos` (< len).
    pub(crate) fn at(&self, pos: u64) -> u64 {
        let run = self.starts.partition_point(|&s| s <= pos) - 1;
        self.runs[run].0 + (pos - self.starts[run])
    }

    /// Base indices of members `from..to`, in order.
    pub(crate) fn indices(&self, from: u64, to: u64) -> impl Iterator<Item = u64> + '_ {
        let to = to.min(self.len);
        let first = self
            .starts
            .partition_point(|&s| s <= from)
            .saturating_sub(1);
        self.runs[first.min(self.runs.len())..]
            .iter()
            .zip(&self.starts[first.min(self.starts.len())..])
            .flat_map(move |(&(start, end), &at)| {
                let lo = start + from.saturating_sub(at).min(end - start);
                let hi = start + to.saturating_sub(at).min(end - start);
                lo..hi
            })
    }

    /// Where `sourced_id` is among the members: `Ok(position)` or `Err(insertion point)`.
    pub(crate) fn locate(
        &self,
        data: &Data,
        collection: CollectionId,
        sourced_id: &str,
    ) -> Result<u64, u64> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match data
                .id(collection, self.at(mid))
                .as_bytes()
                .cmp(sourced_id.as_bytes())
            {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
}

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
            match (members.locate(data, collection, id), admitted) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_find_positions_across_runs() {
        let mut m = Members::default();
        m.push(2, 5);
        m.push(5, 6);
        m.push(10, 12);
        assert_eq!(m.len(), 6);
        let all: Vec<u64> = (0..m.len()).map(|p| m.at(p)).collect();
        assert_eq!(all, [2, 3, 4, 5, 10, 11]);
        assert_eq!(m.indices(0, 99).collect::<Vec<_>>(), all);
        assert_eq!(m.indices(3, 5).collect::<Vec<_>>(), [5, 10]);
        assert_eq!(m.indices(6, 9).count(), 0);
        assert_eq!(Members::from_indices([1, 2, 3, 7]).runs, [(1, 4), (7, 8)]);
        assert_eq!(Members::default().indices(0, 5).count(), 0);
    }
}
