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
    slots: Slots,
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
        let old = std::mem::replace(&mut self.slots, Slots::empty(size));
        self.len = 0;
        for &key in old.iter().filter(|&&k| k != Key::EMPTY) {
            self.insert_key(key);
        }
    }
}

/// A table this large (bytes) is mapped for itself, in huge pages where the system gives them.
const MAPPED_FROM: usize = 4 << 20;

/// The slots' memory, all empty to begin with. A large table is a mapping of its own, asked for
/// in 2 MiB pages (Linux's transparent huge pages, `madvise` mode): inserts land at random over
/// megabytes, and with 4 KiB pages each one missed the TLB as well as the cache (on a 200k-user
/// NDJSON export, inserting took 8.3% of the CPU with small pages, 5.6% with huge ones).
#[derive(Debug)]
enum Slots {
    Heap(Box<[Key]>),
    #[cfg(target_os = "linux")]
    Mapped(mapped::Mapped),
}

impl Default for Slots {
    fn default() -> Slots {
        Slots::Heap(Box::default())
    }
}

impl Slots {
    fn empty(len: usize) -> Slots {
        #[cfg(target_os = "linux")]
        if len.saturating_mul(std::mem::size_of::<Key>()) >= MAPPED_FROM
            && let Some(m) = mapped::Mapped::zeroed(len)
        {
            return Slots::Mapped(m);
        }
        Slots::Heap(vec![Key::EMPTY; len].into_boxed_slice())
    }
}

impl std::ops::Deref for Slots {
    type Target = [Key];
    fn deref(&self) -> &[Key] {
        match self {
            Slots::Heap(b) => b,
            #[cfg(target_os = "linux")]
            Slots::Mapped(m) => m.as_slice(),
        }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Key] {
        match self {
            Slots::Heap(b) => b,
            #[cfg(target_os = "linux")]
            Slots::Mapped(m) => m.as_mut_slice(),
        }
    }
}

#[cfg(target_os = "linux")]
mod mapped {
    use super::Key;
    use std::ptr::NonNull;

    /// Keys in a private anonymous mapping, which the kernel hands out zeroed (all empty keys).
    pub(super) struct Mapped {
        keys: NonNull<Key>,
        len: usize,
    }

    // SAFETY: `Mapped` owns its mapping alone, as a `Box<[Key]>` owns its memory.
    unsafe impl Send for Mapped {}
    // SAFETY: shared access only reads, through `&[Key]`.
    unsafe impl Sync for Mapped {}

    impl std::fmt::Debug for Mapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Mapped({} keys)", self.len)
        }
    }

    impl Mapped {
        /// `len` empty keys, or `None` if the mapping cannot be made.
        pub fn zeroed(len: usize) -> Option<Mapped> {
            let bytes = len.checked_mul(std::mem::size_of::<Key>())?;
            // SAFETY: a new mapping that no memory of ours overlaps; the result is checked.
            let at = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if at == libc::MAP_FAILED {
                return None;
            }
            // Advice only: where huge pages are off or refused, small ones serve as before.
            // SAFETY: `at..at + bytes` is the mapping just made.
            unsafe { libc::madvise(at, bytes, libc::MADV_HUGEPAGE) };
            Some(Mapped {
                keys: NonNull::new(at.cast::<Key>())?,
                len,
            })
        }

        pub fn as_slice(&self) -> &[Key] {
            // SAFETY: the mapping holds `len` keys, readable and writable, zeroed by the kernel
            // (a valid key: all zero is `Key::EMPTY`), and lives as long as `self`.
            unsafe { std::slice::from_raw_parts(self.keys.as_ptr(), self.len) }
        }

        pub fn as_mut_slice(&mut self) -> &mut [Key] {
            // SAFETY: as in `as_slice`, borrowed mutably through `self`.
            unsafe { std::slice::from_raw_parts_mut(self.keys.as_ptr(), self.len) }
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `zeroed`, unmapped once; no borrow of it outlives
            // `self`.
            unsafe {
                libc::munmap(
                    self.keys.as_ptr().cast(),
                    self.len * std::mem::size_of::<Key>(),
                )
            };
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
    fn a_large_table_is_mapped_for_itself_and_reads_the_same() {
        let mut seen = SeenIds::default();
        seen.reserve(400_000);
        #[cfg(target_os = "linux")]
        assert!(matches!(seen.slots, Slots::Mapped(_)), "{:?}", seen.slots);
        assert!(seen.slots.iter().all(|&k| k == Key::EMPTY), "mapped zeroed");
        for i in 0..5000 {
            assert!(seen.insert(&format!("big-{i}")));
        }
        // Grown past its size: rebuilt into a new mapping, the old one unmapped.
        seen.make_room(1_000_000);
        assert!(seen.slots.len() > 1_000_000);
        assert!((0..5000).all(|i| !seen.insert(&format!("big-{i}"))));
        assert!(seen.insert("big-new"));
        assert_eq!(seen.len(), 5001);
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
