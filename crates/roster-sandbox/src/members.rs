//! Which base records of one collection a read starts from, as sorted, disjoint runs of indices
//! into the base district, so a view or a relationship of millions of records costs a few runs.

use std::cmp::Ordering;

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

    /// Where a record is among the members, by binary search: `order(base index)` says how that
    /// member's sourcedId compares with the record's. `Ok(position)` or `Err(insertion point)`.
    pub(crate) fn locate(&self, order: impl Fn(u64) -> Ordering) -> Result<u64, u64> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match order(self.at(mid)) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
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
