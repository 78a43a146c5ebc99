//! Compact sets of sourcedIds: 64-bit hashes in one sorted vector, 8 bytes an id, so the users of
//! a large district stay a few megabytes and a file's ids can be checked for repeats without
//! keeping the ids themselves. Two different ids share a hash with odds of about n²/2⁶⁵ (below
//! one in a million for 5 million ids); such a pair would hide one missing reference or report one
//! false repeat.

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
        (IdSet { sorted: hashes }, repeats)
    }

    pub fn contains(&self, id: &[u8]) -> bool {
        self.sorted.binary_search(&hash(id)).is_ok()
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
}
