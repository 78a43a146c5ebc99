//! The set of sourcedIds a walk has passed on: 80-bit hashes of them (collisions negligible:
//! about 1 in 10^12 for two million ids) in one open-addressing table with linear probing, at
//! most four fifths full, so 12.5 bytes a record. It is sized once from `X-Total-Count` when the
//! host sends it, and doubles otherwise. A page's ids are hashed first and each one's slot is
//! asked for a few ids ahead of its turn: the slots are scattered over megabytes, and a cache
//! miss that was started early has mostly been paid by the time the slot is read.

/// The key's slot is fetched this many ids ahead of its insert.
const AHEAD: usize = 16;

/// The smallest table, in slots.
const MIN_SLOTS: usize = 1 << 12;

/// The table is at most `FILL_NUM / FILL_DEN` full.
const FILL_NUM: usize = 4;
const FILL_DEN: usize = 5;

/// The bytes one id takes in the set with the table at its fullest (rounded up).
pub(crate) const BYTES_PER_ID: usize = (std::mem::size_of::<Key>() * FILL_DEN).div_ceil(FILL_NUM);

/// The top 80 bits of an id's xxh3-128 hash, as five 16-bit words (10 bytes). All zero marks an
/// empty slot; an id that hashes to it is stored as another key (one in 2^80).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Key([u16; 5]);

impl Key {
    const EMPTY: Key = Key([0; 5]);

    fn of(id: &str) -> Key {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        let word = |n: u32| (h >> (112 - 16 * n)) as u16;
        let key = Key([word(0), word(1), word(2), word(3), word(4)]);
        if key == Key::EMPTY {
            Key([0, 0, 0, 0, 1])
        } else {
            key
        }
    }

    /// The top 64 bits, which place the key in the table.
    fn high(self) -> u64 {
        self.0[..4]
            .iter()
            .fold(0, |acc, &w| (acc << 16) | u64::from(w))
    }
}

#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    slots: Vec<Key>,
    len: usize,
}

impl SeenIds {
    /// Makes room for `expected` ids at once (from `X-Total-Count`), so the table is not
    /// rebuilt, and briefly held twice, as it grows.
    pub fn reserve(&mut self, expected: u64) {
        // A lying header must not make us allocate gigabytes: 16M ids = 200 MiB at most.
        let expected = expected.min(1 << 24) as usize;
        self.make_room(expected);
    }

    /// Records `id`; false if it was already there.
    #[cfg(test)]
    pub fn insert(&mut self, id: &str) -> bool {
        self.insert_all([id])[0]
    }

    /// Records each id in turn; whether each was new (one repeated within `ids` is new once).
    pub fn insert_all<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> Vec<bool> {
        let keys: Vec<Key> = ids.into_iter().map(Key::of).collect();
        self.make_room(self.len + keys.len());
        let mut new = Vec::with_capacity(keys.len());
        for (i, &key) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + AHEAD) {
                prefetch(&self.slots[self.home(ahead)]);
            }
            new.push(self.insert_key(key));
        }
        new
    }

    fn insert_key(&mut self, key: Key) -> bool {
        let mut i = self.home(key);
        loop {
            let slot = self.slots[i];
            if slot == Key::EMPTY {
                self.slots[i] = key;
                self.len += 1;
                return true;
            }
            if slot == key {
                return false;
            }
            i += 1;
            if i == self.slots.len() {
                i = 0;
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Where `key`'s probe starts: its top bits scaled to the table (any size, not only powers
    /// of two, so the table can be sized to the total).
    fn home(&self, key: Key) -> usize {
        ((u128::from(key.high()) * self.slots.len() as u128) >> 64) as usize
    }

    /// Grows the table, if need be, so `ids` keys fill at most four fifths of it.
    fn make_room(&mut self, ids: usize) {
        let needed = ids.saturating_mul(FILL_DEN) / FILL_NUM + 1;
        if needed <= self.slots.len() {
            return;
        }
        let size = needed.max(self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![Key::EMPTY; size]);
        self.len = 0;
        for key in old.into_iter().filter(|&k| k != Key::EMPTY) {
            self.insert_key(key);
        }
    }
}

/// Asks for the cache line holding `slot`, without waiting for it.
#[inline]
fn prefetch(slot: &Key) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, and `slot` is a valid reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeats_as_the_table_grows() {
        let mut seen = SeenIds::default();
        let n = MIN_SLOTS * 3 + 17;
        for i in 0..n {
            assert!(seen.insert(&format!("user-{i}")), "{i} is new");
        }
        assert_eq!(seen.len(), n);
        assert!(
            seen.len * FILL_DEN <= seen.slots.len() * FILL_NUM,
            "at most four fifths full"
        );
        for i in (0..n).step_by(97) {
            assert!(!seen.insert(&format!("user-{i}")), "{i} was seen");
        }
        assert!(seen.insert("user-new"));
        assert_eq!(seen.len(), n + 1);
    }

    #[test]
    fn a_reserved_table_is_not_rebuilt_and_probes_wrap_around() {
        let mut seen = SeenIds::default();
        seen.reserve(10_000);
        let size = seen.slots.len();
        assert_eq!(size, 10_000 * 5 / 4 + 1);
        for i in 0..10_000 {
            seen.insert(&format!("id-{i}"));
        }
        assert_eq!(seen.slots.len(), size, "sized once from the total");
        // Keys whose probes all start at the last slot run on from the first.
        let mut small = SeenIds::default();
        small.make_room(3);
        let last = |k| Key([u16::MAX, u16::MAX, u16::MAX, u16::MAX, k]);
        for k in 1..=3 {
            assert_eq!(small.home(last(k)), small.slots.len() - 1);
            assert!(small.insert_key(last(k)));
        }
        assert_eq!(&small.slots[..2], &[last(2), last(3)]);
        assert!((1..=3).all(|k| !small.insert_key(last(k))));
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
        assert_eq!(std::mem::size_of::<Key>(), 10);
        assert_eq!(BYTES_PER_ID, 13);
    }
}
