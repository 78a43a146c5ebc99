//! The shrink guard: consumers apply a bulk file's missing rows as deletions, so a run whose
//! collections fell sharply against the output it replaces refuses to publish and keeps the old one.

use std::collections::BTreeMap;
use std::fmt;

use super::FileRows;
use super::error::ExportError;
use super::staging::Target;

/// How far a file may shrink before publishing is refused, in percent of its old size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxShrink(pub u32);

/// The `--max-shrink` setting: a limit, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkLimit(pub Option<MaxShrink>);

impl Default for ShrinkLimit {
    /// Half: consumers apply missing rows as deletions, so losing more is rarely real.
    fn default() -> Self {
        ShrinkLimit(Some(MaxShrink(50)))
    }
}

impl fmt::Display for ShrinkLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(MaxShrink(p)) => write!(f, "{p}"),
            None => f.write_str("off"),
        }
    }
}

impl std::str::FromStr for ShrinkLimit {
    type Err = String;

    /// `50`, `50%` or `off`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(ShrinkLimit(None));
        }
        match text.trim_end_matches('%').trim().parse::<u32>() {
            Ok(p) if p <= 100 => Ok(ShrinkLimit(Some(MaxShrink(p)))),
            _ => Err(format!(
                "expected a percentage from 0 to 100, or off; got {text:?}"
            )),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ShrinkLimit {
    /// A number of percent, or a string as the flag takes it (`"50%"`, `"off"`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        }
        .parse()
        .map_err(serde::de::Error::custom)
    }
}

impl MaxShrink {
    /// Whether going from `old` to `new` records shrinks by more than allowed.
    pub fn exceeded(self, old: u64, new: u64) -> bool {
        new < old && u128::from(old - new) * 100 > u128::from(self.0) * u128::from(old)
    }
}

/// Refuses when a file of this run holds far fewer records than the same file at the target
/// held (`previous`: records per file name).
pub(super) fn check(
    target: &Target,
    new: &[FileRows],
    previous: &BTreeMap<String, u64>,
    limit: MaxShrink,
) -> Result<(), ExportError> {
    for file in new {
        let Some(&before) = previous.get(&file.name) else {
            continue;
        };
        if limit.exceeded(before, file.rows) {
            return Err(ExportError::Shrink {
                path: target.path.clone(),
                file: file.name.clone(),
                old: before,
                new: file.rows,
                limit_percent: u64::from(limit.0),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_a_fraction_of_the_old_count() {
        let half = MaxShrink(50);
        assert!(!half.exceeded(100, 50));
        assert!(half.exceeded(100, 49));
        assert!(!half.exceeded(100, 150));
        assert!(!half.exceeded(0, 0));
        assert!(MaxShrink(0).exceeded(10, 9));
    }

    #[test]
    fn limits_parse_from_flags() {
        assert_eq!("50".parse(), Ok(ShrinkLimit(Some(MaxShrink(50)))));
        assert_eq!(" 25% ".parse(), Ok(ShrinkLimit(Some(MaxShrink(25)))));
        assert_eq!("OFF".parse(), Ok(ShrinkLimit(None)));
        assert!("101".parse::<ShrinkLimit>().is_err());
        assert_eq!(ShrinkLimit::default().to_string(), "50");
    }
}
