//! What changed against the output a run replaces: per collection, the records added, removed and
//! changed (by sourcedId, and a hash of the row or record for "changed"), and how many records
//! each file held before (for the shrink guard).
//!
//! The previous output is read once, file by file, into a sorted index of (id hash, row hash)
//! pairs (24 bytes a record, one file at a time); the staged file is then streamed against it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use oneroster::{CollectionId, CsvFile};
use serde::Deserializer as _;
use serde::de::{SeqAccess, Visitor};
use serde_json::value::RawValue;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use super::error::ExportError;
use super::staging::{Shape, Target};
use super::{FileRows, Format};
use crate::records::top_level_sourced_id;

/// Records added, removed and changed in one collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Changes {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

/// What comparing a staged output with the one it replaces found.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    /// Records per file in the previous output, by file name.
    pub previous: BTreeMap<String, u64>,
    /// Changes per collection.
    pub changes: BTreeMap<CollectionId, Changes>,
}

/// One record of a file: its collection, sourcedId and a hash of its row or JSON.
type Keyed = (CollectionId, u128, u64);

/// Compares the staged `files` (in `staged`) with the same files of the output at `target`, read
/// from `previous` (the target itself, or a local copy of a remote one).
pub(super) fn compare(
    target: &Target,
    previous: &Path,
    staged: &Path,
    files: &[FileRows],
    format: Format,
) -> Result<Comparison, ExportError> {
    let mut found = Comparison::default();
    for file in files {
        let Some(kind) = Kind::of(&file.name, format) else {
            continue;
        };
        let mut index: Vec<(CollectionId, u128, u64)> = Vec::new();
        let read = with_previous(target.shape, previous, &file.name, |r| {
            kind.each(r, &mut |k| index.push(k))
        });
        let shown = target.path.join(&file.name);
        if read
            .map_err(ExportError::io("reading the previous", &shown))?
            .is_none()
        {
            continue;
        }
        found.previous.insert(file.name.clone(), index.len() as u64);
        index.sort_unstable_by_key(|&(c, id, _)| (c, id));
        let mut seen = vec![false; index.len()];
        let path = staged.join(&file.name);
        let new = File::open(&path).map_err(ExportError::io("reading", &path))?;
        kind.each(new, &mut |(c, id, hash)| {
            let entry = found.changes.entry(c).or_default();
            match index.binary_search_by_key(&(c, id), |&(c, id, _)| (c, id)) {
                Ok(at) => {
                    seen[at] = true;
                    if index[at].2 != hash {
                        entry.changed += 1;
                    }
                }
                Err(_) => entry.added += 1,
            }
        })
        .map_err(ExportError::io("reading", &path))?;
        for ((c, _, _), seen) in index.iter().zip(&seen) {
            if !seen {
                found.changes.entry(*c).or_default().removed += 1;
            }
        }
    }
    Ok(found)
}

/// Runs `read` on file `name` of the output of `shape` at `path` (a zip's entry, a folder's file,
/// or the single file itself, whatever `name`); `None` when there is none.
pub(super) fn with_previous(
    shape: Shape,
    path: &Path,
    name: &str,
    read: impl FnOnce(&mut dyn Read) -> io::Result<()>,
) -> io::Result<Option<()>> {
    let missing = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    match shape {
        Shape::Folder => match File::open(path.join(name)) {
            Ok(mut f) => read(&mut f).map(Some),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(e),
        },
        Shape::File => match File::open(path) {
            Ok(mut f) => read(&mut f).map(Some),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(e),
        },
        Shape::Zip => {
            let file = match File::open(path) {
                Ok(f) => f,
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(io::Error::other)?;
            let entry = match zip.by_name(name) {
                Ok(entry) => entry,
                Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                Err(e) => return Err(io::Error::other(e)),
            };
            let mut entry = entry;
            read(&mut entry).map(Some)
        }
    }
}

/// How a file's records are told apart.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// CSV rows of a collection's own file: sourcedId first, the row hashed.
    Csv(CollectionId),
    /// A JSON array of one collection's records.
    Json(CollectionId),
    /// NDJSON lines naming their collection.
    Ndjson,
}

impl Kind {
    fn of(name: &str, format: Format) -> Option<Kind> {
        match format {
            Format::Csv => CsvFile::from_file_name(name)
                .and_then(CsvFile::collection)
                .map(Kind::Csv),
            Format::Json => oneroster::COLLECTIONS
                .iter()
                .find(|c| name.strip_suffix(".json") == Some(c.name))
                .map(|c| Kind::Json(c.id)),
            Format::Ndjson => Some(Kind::Ndjson),
        }
    }

    /// Calls `each` with every record of `reader`.
    fn each(self, reader: impl Read, each: &mut dyn FnMut(Keyed)) -> io::Result<()> {
        match self {
            Kind::Csv(c) => {
                // Flexible: a file edited by hand is compared, not refused.
                let mut csv = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(reader);
                let mut row = csv::ByteRecord::new();
                while csv.read_byte_record(&mut row).map_err(io::Error::other)? {
                    let id = row.get(0).unwrap_or_default();
                    each((c, xxh3_128(id), xxh3_64(row.as_slice())));
                }
                Ok(())
            }
            Kind::Json(c) => json_records(reader, &mut |text| {
                let id = top_level_sourced_id(text).unwrap_or_default();
                each((c, xxh3_128(id.as_bytes()), xxh3_64(text.as_bytes())));
                Ok(())
            }),
            Kind::Ndjson => ndjson_lines(reader, &mut |name, record, _| {
                if let Ok(c) = name.parse::<CollectionId>() {
                    let id = top_level_sourced_id(record).unwrap_or_default();
                    each((c, xxh3_128(id.as_bytes()), xxh3_64(record.as_bytes())));
                }
                Ok(())
            }),
        }
    }
}

/// `{"collection":"NAME","record":{…}}` → the name and the record's text.
pub(super) fn ndjson_parts(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("{\"collection\":\"")?;
    let (name, rest) = rest.split_once('"')?;
    let record = rest.strip_prefix(",\"record\":")?.strip_suffix('}')?;
    Some((name, record))
}

/// Streams the records of a JSON array (as written by the JSON writer) into `each`, one at a
/// time; an error from `each` stops the read.
pub(super) fn json_records(
    r: impl Read,
    each: &mut dyn FnMut(&str) -> io::Result<()>,
) -> io::Result<()> {
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(r));
    de.deserialize_seq(EachRecord(each))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

struct EachRecord<'f>(&'f mut dyn FnMut(&str) -> io::Result<()>);

impl<'de> Visitor<'de> for EachRecord<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Box<RawValue>>()? {
            (self.0)(record.get()).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}

/// Streams the lines of an NDJSON output into `each` as (collection name, record, whole line);
/// lines not of our shape are passed over.
pub(super) fn ndjson_lines(
    r: impl Read,
    each: &mut dyn FnMut(&str, &str, &str) -> io::Result<()>,
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if let Some((name, record)) = ndjson_parts(text) {
            each(name, record, text)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(kind: Kind, text: &[u8]) -> Vec<Keyed> {
        let mut got = Vec::new();
        kind.each(text, &mut |k| got.push(k)).unwrap();
        got
    }

    #[test]
    fn rows_records_and_lines_are_keyed_by_sourced_id() {
        // A quoted cell may span lines: still two rows.
        let csv = b"sourcedId,title\r\na,\"x,\r\ny\"\r\nb,z\r\n";
        let rows = records(Kind::Csv(CollectionId::Classes), csv);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1, xxh3_128(b"a"));
        let json = records(
            Kind::Json(CollectionId::Users),
            b"[\n{\"sourcedId\":\"u1\",\"a\":[1,2]},\n{\"sourcedId\":\"u2\"}\n]\n",
        );
        assert_eq!(json.len(), 2);
        let lines = records(
            Kind::Ndjson,
            b"{\"collection\":\"users\",\"record\":{\"sourcedId\":\"u1\"}}\n\
              {\"collection\":\"orgs\",\"record\":{\"sourcedId\":\"o1\"}}\n",
        );
        assert_eq!(
            lines.iter().map(|k| k.0).collect::<Vec<_>>(),
            [CollectionId::Users, CollectionId::Orgs]
        );
        let mut not_an_array = Vec::new();
        assert!(
            Kind::Json(CollectionId::Users)
                .each(&b"{\"not\":\"an array\"}"[..], &mut |k| not_an_array
                    .push(k))
                .is_err()
        );
    }
}
