//! The shrink guard: consumers apply a bulk file's missing rows as deletions, so a run whose
//! collections fell sharply against the output it replaces refuses to publish and keeps the old one.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserializer as _;
use serde::de::{IgnoredAny, SeqAccess, Visitor};

use super::FileRows;
use super::error::ExportError;
use super::staging::{Shape, Target};

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

/// Refuses when a file of this run holds far fewer records than the same file of the output it
/// replaces, `previous` (the target itself, or a local copy of a remote one).
pub(super) fn check(
    target: &Target,
    previous: &Path,
    new: &[FileRows],
    limit: MaxShrink,
) -> Result<(), ExportError> {
    let old = previous_counts(target, previous)?;
    for file in new {
        let Some(&before) = old.get(&file.name) else {
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

/// Records per file in the output at the target: CSV data rows, JSON array elements, or (for an
/// NDJSON file) lines per collection, keyed like [`FileRows::name`].
fn previous_counts(target: &Target, path: &Path) -> Result<BTreeMap<String, u64>, ExportError> {
    let mut counts = BTreeMap::new();
    match target.shape {
        Shape::Folder => {
            for entry in std::fs::read_dir(path).map_err(ExportError::io("reading", path))? {
                let entry = entry.map_err(ExportError::io("reading", path))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let file =
                    File::open(entry.path()).map_err(ExportError::io("reading", entry.path()))?;
                if let Some(n) = count(&name, file)
                    .map_err(ExportError::io("counting the records of", entry.path()))?
                {
                    counts.insert(name, n);
                }
            }
        }
        Shape::Zip => {
            let file = File::open(path).map_err(ExportError::io("reading", path))?;
            let mut zip = zip::ZipArchive::new(file).map_err(|source| ExportError::Zip {
                path: target.path.clone(),
                source,
            })?;
            for i in 0..zip.len() {
                let entry = zip.by_index(i).map_err(|source| ExportError::Zip {
                    path: target.path.clone(),
                    source,
                })?;
                let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
                let shown = target.path.join(&name);
                if let Some(n) = count(&name, entry)
                    .map_err(ExportError::io("counting the records of", &shown))?
                {
                    counts.insert(name, n);
                }
            }
        }
        Shape::File => {
            // One NDJSON stream: compare it as a whole.
            let file = File::open(path).map_err(ExportError::io("reading", path))?;
            let lines = BufReader::new(file)
                .lines()
                .try_fold(0u64, |n, line| line.map(|_| n + 1));
            let name = target.name.to_string_lossy().into_owned();
            counts.insert(
                name,
                lines.map_err(ExportError::io("counting the lines of", path))?,
            );
        }
    }
    Ok(counts)
}

/// Counts the records of one bundle file by its name; `None` for files that hold no records.
fn count(name: &str, reader: impl Read) -> io::Result<Option<u64>> {
    if name == "manifest.csv" {
        return Ok(None);
    }
    if name.ends_with(".csv") {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let mut record = csv::ByteRecord::new();
        let mut n = 0;
        while csv
            .read_byte_record(&mut record)
            .map_err(io::Error::other)?
        {
            n += 1;
        }
        return Ok(Some(n));
    }
    if name.ends_with(".json") {
        let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
        let n = de
            .deserialize_seq(CountElements)
            .map_err(io::Error::other)?;
        return Ok(Some(n));
    }
    Ok(None)
}

/// Counts a JSON array's elements without keeping them.
struct CountElements;

impl<'de> Visitor<'de> for CountElements {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
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

    #[test]
    fn counts_csv_rows_and_json_elements() {
        let csv = b"sourcedId,title\r\na,\"x,\r\ny\"\r\nb,z\r\n";
        assert_eq!(count("classes.csv", &csv[..]).unwrap(), Some(2));
        assert_eq!(
            count("users.json", &b"[\n{\"a\":[1,2]},\n{}\n]\n"[..]).unwrap(),
            Some(2)
        );
        assert_eq!(
            count("manifest.csv", &b"propertyName,value\r\n"[..]).unwrap(),
            None
        );
        assert!(count("users.json", &b"{\"not\":\"an array\"}"[..]).is_err());
    }
}
