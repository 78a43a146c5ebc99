//! The set of sourcedIds a walk has passed on, kept at 12 bytes a record so a collection of
//! millions stays small: 96-bit hashes (collisions negligible: about 1 in 10^16 for two million
//! ids) in one sorted vector, plus a small hash set of recent ones that is merged in when it
//! fills. Nearly every id is new, so a bit filter in front answers most lookups without the
//! binary search. A page's ids are hashed and their filter words read all at once before any is
//! inserted: the words are scattered over megabytes, and loads that do not wait on one another
//! overlap their cache misses, which one id at a time could not.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Recent hashes held before they are merged into the sorted run.
const RECENT_CAP: usize = 1 << 16;

/// The filter's size in bits: about 8 a record (two bits in one word then pass ~5% of new ids on
/// to the binary search), within these bounds (16 MiB at most).
const FILTER_MIN_BITS: usize = 1 << 16;
const FILTER_MAX_BITS: usize = 1 << 27;

/// The bytes one id takes in the set.
pub(crate) const BYTES_PER_ID: usize = std::mem::size_of::<Key>();

/// The top 96 bits of an id's xxh3-128 hash, as three words (12 bytes, not 16 as a `u128`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key([u32; 3]);

impl Key {
    fn of(id: &str) -> Key {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        Key([(h >> 96) as u32, (h >> 64) as u32, (h >> 32) as u32])
    }

    /// The top 64 bits: the recent set's hash and the filter word.
    fn high(self) -> u64 {
        (u64::from(self.0[0]) << 32) | u64::from(self.0[1])
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.high());
    }
}

#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    /// Older hashes, sorted.
    sorted: Vec<Key>,
    /// Hashes since the last merge.
    recent: HashSet<Key, BuildHasherDefault<Prehashed>>,
    /// Two bits per hash set (a word count that is a power of two): a clear one means the hash
    /// was never inserted.
    filter: Vec<u64>,
}

impl SeenIds {
    /// Makes room for `expected` ids at once (from `X-Total-Count`), so the sorted run is not
    /// reallocated, and briefly held twice, as it grows.
    pub fn reserve(&mut self, expected: u64) {
        // A lying header must not make us allocate gigabytes: 16M ids = 192 MiB at most.
        let expected = expected.min(1 << 24) as usize;
        self.sorted
            .reserve_exact(expected.saturating_sub(self.sorted.len()));
        self.size_filter(expected);
    }

    /// Records `id`; false if it was already there.
    #[cfg(test)]
    pub fn insert(&mut self, id: &str) -> bool {
        self.insert_all([id])[0]
    }

    /// Records each id in turn; whether each was new (one repeated within `ids` is new once).
    pub fn insert_all<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> Vec<bool> {
        let keys: Vec<Key> = ids.into_iter().map(Key::of).collect();
        let needed = self.len() + keys.len();
        if self.filter.is_empty() || needed * 8 > self.filter.len() * 64 {
            self.size_filter(needed * 2);
        }
        // Read every filter word first (see the module notes); the result is not needed, only
        // the cache lines it brings in.
        let mut touched = 0u64;
        for &key in &keys {
            touched ^= self.filter[self.slot(key).0];
        }
        std::hint::black_box(touched);
        keys.into_iter().map(|key| self.insert_key(key)).collect()
    }

    fn insert_key(&mut self, key: Key) -> bool {
        let maybe_seen = self.probe(key);
        if maybe_seen && (self.recent.contains(&key) || self.sorted.binary_search(&key).is_ok()) {
            return false;
        }
        self.recent.insert(key);
        self.mark(key);
        if self.recent.len() >= RECENT_CAP {
            self.merge();
        }
        true
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// The filter word of `key` and the two bits of it that `key` sets: both in one word, so a
    /// lookup costs one cache miss, not two.
    fn slot(&self, key: Key) -> (usize, u64) {
        let word = key.high() as usize & (self.filter.len() - 1);
        let bits = (1u64 << (key.0[2] & 63)) | (1u64 << ((key.0[2] >> 6) & 63));
        (word, bits)
    }

    fn probe(&self, key: Key) -> bool {
        let (word, bits) = self.slot(key);
        self.filter[word] & bits == bits
    }

    fn mark(&mut self, key: Key) {
        let (word, bits) = self.slot(key);
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
        let held: Vec<Key> = self.sorted.iter().chain(&self.recent).copied().collect();
        for key in held {
            self.mark(key);
        }
    }

    /// Moves the recent hashes into the sorted run, merging from the back in place.
    fn merge(&mut self) {
        let mut fresh: Vec<Key> = self.recent.drain().collect();
        fresh.sort_unstable();
        let old_len = self.sorted.len();
        self.sorted.resize(old_len + fresh.len(), Key::default());
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

/// The keys are already xxh3 hashes: their high bits serve as the table's hash as they are.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only keys (which write one u64) are hashed here; anything else is folded in plainly.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
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

    #[test]
    fn a_batch_says_which_ids_are_new_a_repeat_within_it_included() {
        let mut seen = SeenIds::default();
        assert_eq!(seen.insert_all(["a", "b"]), [true, true]);
        assert_eq!(
            seen.insert_all(["c", "a", "c", "d", "b"]),
            [true, false, false, true, false]
        );
        assert_eq!(seen.len(), 4);
        assert_eq!(std::mem::size_of::<Key>(), 12);
    }
}
