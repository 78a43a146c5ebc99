//! `--shard I/N`: the share of the profiles one process of N runs, chosen by a stable hash of
//! each profile's name, so N pods (a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`) split the
//! tenants with no coordinator and each tenant always lands in the same shard.

use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh3::xxh3_64;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether profile `name` belongs to this shard.
    pub fn holds(&self, name: &str) -> bool {
        xxh3_64(name.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "expected I/N with 0 ≤ I < N, e.g. 0/4 (a Job's JOB_COMPLETION_INDEX), not {text:?}"
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_exactly_one_shard_and_shards_are_even() {
        let names: Vec<String> = (0..1000).map(|i| format!("district-{i}")).collect();
        let shards: Vec<Shard> = (0..4).map(|i| format!("{i}/4").parse().unwrap()).collect();
        let mut sizes = [0; 4];
        for name in &names {
            let holding: Vec<usize> = (0..4).filter(|&i| shards[i].holds(name)).collect();
            assert_eq!(holding.len(), 1, "{name}");
            sizes[holding[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "{sizes:?}");
        // Stable: the same name, the same shard, on any machine and in any release.
        let northside: Shard = "0/4".parse().unwrap();
        assert_eq!(
            northside.holds("northside"),
            xxh3_64(b"northside").is_multiple_of(4)
        );
    }

    #[test]
    fn bad_shards_are_refused() {
        for bad in ["4/4", "1", "a/4", "0/0", "-1/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("3/4".parse::<Shard>().unwrap().to_string(), "3/4");
    }
}
