//! Compact sets of sourcedIds: 64-bit hashes in one sorted vector, 8 bytes an id, so the users of
//! a large district stay a few megabytes and a file's ids can be checked for repeats without
//! keeping the ids themselves. Two different ids share a hash with odds of about n²/2⁶⁵ (below
//! one in a million for 5 million ids); such a pair would hide one missing reference or report one
//! false repeat. A set that references are checked against also gets an index by the hashes' top
//! bits, so a lookup reads a bucket of about two hashes: a binary search over the users of a large
//! district misses the cache at nearly every step, and was most of its bundle's validation time.

use std::collections::BTreeMap;

use oneroster::CsvFile;

/// The files references are checked against (bulk files present in the bundle), with their ids.
pub(super) type Targets = BTreeMap<CsvFile, IdSet>;

/// The ids of a file that occur on more than one row.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Repeats {
    /// Their hashes, sorted.
    pub hashes: Vec<u64>,
    /// Rows whose id an earlier row already had.
    pub rows: u64,
}

/// The hash an id is known by.
pub(super) fn hash(id: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id)
}

/// A file's ids, each once.
#[derive(Debug, Default)]
pub(super) struct IdSet {
    sorted: Vec<u64>,
    /// For each value of a hash's top bits, where its hashes start in `sorted` (and where the
    /// last bucket ends); empty until [`IdSet::indexed`].
    starts: Vec<u32>,
    shift: u32,
}

impl IdSet {
    /// Sorts the hashes of a file's ids; returns the set and the ids that occurred more than once.
    pub fn build(mut hashes: Vec<u64>) -> (IdSet, Repeats) {
        hashes.sort_unstable();
        let mut repeated = Vec::new();
        let mut kept = 0;
        for i in 0..hashes.len() {
            if kept > 0 && hashes[kept - 1] == hashes[i] {
                if repeated.last() != Some(&hashes[i]) {
                    repeated.push(hashes[i]);
                }
            } else {
                hashes[kept] = hashes[i];
                kept += 1;
            }
        }
        let rows = (hashes.len() - kept) as u64;
        hashes.truncate(kept);
        hashes.shrink_to_fit();
        let repeats = Repeats {
            hashes: repeated,
            rows,
        };
        let set = IdSet {
            sorted: hashes,
            ..IdSet::default()
        };
        (set, repeats)
    }

    /// The set with its bucket index (2 to 4 bytes an id more), for many lookups.
    pub fn indexed(mut self) -> IdSet {
        let n = self.sorted.len();
        if n < 2 || u32::try_from(n).is_err() {
            return self;
        }
        // About two hashes a bucket.
        let bits = (usize::BITS - 1 - n.leading_zeros()).clamp(1, 31);
        self.shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut i = 0;
        for bucket in 0..=buckets as u64 {
            while i < n && self.sorted[i] >> self.shift < bucket {
                i += 1;
            }
            starts.push(i as u32);
        }
        self.starts = starts;
        self
    }

    pub fn contains(&self, id: &[u8]) -> bool {
        let h = hash(id);
        let within = if self.starts.is_empty() {
            &self.sorted[..]
        } else {
            let bucket = (h >> self.shift) as usize;
            &self.sorted[self.starts[bucket] as usize..self.starts[bucket + 1] as usize]
        };
        within.binary_search(&h).is_ok()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sorted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_id_and_the_repeated_ones() {
        let ids = ["u-1", "u-2", "u-3", "u-2", "u-4", "u-2", "u-1"];
        let (set, repeated) = IdSet::build(ids.iter().map(|id| hash(id.as_bytes())).collect());
        assert_eq!(set.len(), 4);
        assert!(ids.iter().all(|id| set.contains(id.as_bytes())));
        assert!(!set.contains(b"u-5"));
        let mut expected = vec![hash(b"u-1"), hash(b"u-2")];
        expected.sort_unstable();
        assert_eq!(repeated.hashes, expected);
        assert_eq!(repeated.rows, 3);
    }

    #[test]
    fn an_indexed_set_finds_what_the_plain_one_finds() {
        for n in [0, 1, 2, 3, 1000, 4099] {
            let ids: Vec<String> = (0..n).map(|i| format!("user-{i}")).collect();
            let (plain, _) = IdSet::build(ids.iter().map(|id| hash(id.as_bytes())).collect());
            let (set, _) = IdSet::build(ids.iter().map(|id| hash(id.as_bytes())).collect());
            let indexed = set.indexed();
            for i in 0..n + 50 {
                let id = format!("user-{i}");
                assert_eq!(indexed.contains(id.as_bytes()), i < n, "{id} of {n}");
                assert_eq!(plain.contains(id.as_bytes()), i < n, "{id} of {n}");
            }
        }
    }
}
