//! The set of sourcedIds a walk has passed on, kept at 16 bytes a record so a collection of
//! millions stays small: 128-bit hashes (collisions negligible) in one sorted vector, plus a small
//! hash set of recent ones that is merged in when it fills.

use std::collections::HashSet;

/// Recent hashes held before they are merged into the sorted run.
const RECENT_CAP: usize = 1 << 16;

#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    /// Older hashes, sorted.
    sorted: Vec<u128>,
    /// Hashes since the last merge.
    recent: HashSet<u128>,
}

impl SeenIds {
    /// Makes room for `expected` ids at once (from `X-Total-Count`), so the sorted run is not
    /// reallocated, and briefly held twice, as it grows.
    pub fn reserve(&mut self, expected: u64) {
        // A lying header must not make us allocate gigabytes: 16M ids = 256 MiB at most.
        let expected = expected.min(1 << 24) as usize;
        self.sorted
            .reserve_exact(expected.saturating_sub(self.sorted.len()));
    }

    /// Records `id`; false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        let hash = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        if self.sorted.binary_search(&hash).is_ok() || !self.recent.insert(hash) {
            return false;
        }
        if self.recent.len() >= RECENT_CAP {
            self.merge();
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
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
