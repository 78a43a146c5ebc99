//! The set of sourcedIds a walk has passed on, kept at 16 bytes a record so a collection of
//! millions stays small: 128-bit hashes (collisions negligible) in one sorted vector, plus a small
//! hash set of recent ones that is merged in when it fills. Nearly every id is new, so a bit filter
//! in front answers most lookups without the binary search, whose cache misses over a run of
//! millions cost more than the rest of the walk's bookkeeping.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Recent hashes held before they are merged into the sorted run.
const RECENT_CAP: usize = 1 << 16;

/// The filter's size in bits: about 8 a record (two bits in one word then pass ~5% of new ids on
/// to the binary search), within these bounds (16 MiB at most).
const FILTER_MIN_BITS: usize = 1 << 16;
const FILTER_MAX_BITS: usize = 1 << 27;

#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    /// Older hashes, sorted.
    sorted: Vec<u128>,
    /// Hashes since the last merge.
    recent: HashSet<u128, BuildHasherDefault<Prehashed>>,
    /// Two bits per hash set (a word count that is a power of two): a clear one means the hash
    /// was never inserted.
    filter: Vec<u64>,
}

impl SeenIds {
    /// Makes room for `expected` ids at once (from `X-Total-Count`), so the sorted run is not
    /// reallocated, and briefly held twice, as it grows.
    pub fn reserve(&mut self, expected: u64) {
        // A lying header must not make us allocate gigabytes: 16M ids = 256 MiB at most.
        let expected = expected.min(1 << 24) as usize;
        self.sorted
            .reserve_exact(expected.saturating_sub(self.sorted.len()));
        self.size_filter(expected);
    }

    /// Records `id`; false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        let hash = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        if self.filter.is_empty() || self.len() * 8 > self.filter.len() * 64 {
            self.size_filter(self.len() * 2);
        }
        let maybe_seen = self.probe(hash);
        if maybe_seen && (self.recent.contains(&hash) || self.sorted.binary_search(&hash).is_ok()) {
            return false;
        }
        self.recent.insert(hash);
        self.mark(hash);
        if self.recent.len() >= RECENT_CAP {
            self.merge();
        }
        true
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// The filter word of `hash` and the two bits of it that `hash` sets: both in one word, so a
    /// lookup costs one cache miss, not two.
    fn slot(&self, hash: u128) -> (usize, u64) {
        let word = (hash >> 64) as usize & (self.filter.len() - 1);
        let bits = (1u64 << (hash as u32 & 63)) | (1u64 << ((hash >> 6) as u32 & 63));
        (word, bits)
    }

    fn probe(&self, hash: u128) -> bool {
        let (word, bits) = self.slot(hash);
        self.filter[word] & bits == bits
    }

    fn mark(&mut self, hash: u128) {
        let (word, bits) = self.slot(hash);
        self.filter[word] |= bits;
    }

    /// Sizes the filter for `ids` records and sets the bits of every hash held.
    fn size_filter(&mut self, ids: usize) {
        let bits = (ids.saturating_mul(8))
            .next_power_of_two()
            .clamp(FILTER_MIN_BITS, FILTER_MAX_BITS);
        if bits <= self.filter.len() * 64 {
            return;
        }
        self.filter = vec![0; bits / 64];
        let held: Vec<u128> = self.sorted.iter().chain(&self.recent).copied().collect();
        for hash in held {
            self.mark(hash);
        }
    }

    /// Moves the recent hashes into the sorted run, merging from the back in place.
    fn merge(&mut self) {
        let mut fresh: Vec<u128> = self.recent.drain().collect();
        fresh.sort_unstable();
        let old_len = self.sorted.len();
        self.sorted.resize(old_len + fresh.len(), 0);
        let (mut i, mut j, mut k) = (old_len, fresh.len(), self.sorted.len());
        while j > 0 {
            k -= 1;
            if i > 0 && self.sorted[i - 1] > fresh[j - 1] {
                self.sorted[k] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k] = fresh[j - 1];
                j -= 1;
            }
        }
        // Let the recent set's table be reused at its full size rather than regrown.
        self.recent.shrink_to(RECENT_CAP);
    }
}

/// The keys are already xxh3 hashes: their low bits serve as the table's hash as they are.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are hashed here; anything else is folded in plainly.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = (n >> 64) as u64 ^ n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeats_across_merges() {
        let mut seen = SeenIds::default();
        let n = RECENT_CAP * 3 + 17;
        for i in 0..n {
            assert!(seen.insert(&format!("user-{i}")), "{i} is new");
        }
        assert_eq!(seen.len(), n);
        assert!(
            seen.sorted.windows(2).all(|w| w[0] < w[1]),
            "the merged run stays sorted"
        );
        for i in (0..n).step_by(997) {
            assert!(!seen.insert(&format!("user-{i}")), "{i} was seen");
        }
        assert!(seen.insert("user-new"));
        assert_eq!(seen.len(), n + 1);
    }
}
