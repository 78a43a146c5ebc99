//! Incremental runs: a collection's changes (what a `dateLastModified` filter returned) are written
//! like any pages, into private delta files, and then applied to the collection's files of the
//! previous output to give the files a full pull would give.
//!
//! Applying is one streaming pass over the previous file: the changes, sorted by sourcedId, are
//! written in sourcedId order among the previous rows; a previous row whose sourcedId changed is
//! replaced in place, one marked deleted is dropped (CSV) or replaced by its deleted form (JSON,
//! NDJSON, which keep such records as sent). Hosts serve records in sourcedId order, so the result
//! is the bytes of a full pull; on a host that orders otherwise, new records take their sourcedId
//! place and the content is the same. classResources / courseResources rows are grouped by their
//! class or course, and a changed class or course replaces its whole group.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use oneroster::{CollectionId, CsvFile};

use super::changes::{json_records, ndjson_lines, with_previous};
use super::csv_rows::{CsvCollection, CsvOut, RowOptions};
use super::error::ExportError;
use super::json::{JsonFile, Ndjson};
use super::staging::Shape;
use super::{CollectionOutput, FileRows, Format};
use crate::records::{Page, top_level_sourced_id};

/// The previous output, where its files are read from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Previous<'a> {
    pub shape: Shape,
    pub path: &'a Path,
}

/// The column of a file its rows are keyed by: the sourcedId, or for classResources /
/// courseResources the class or course the row belongs to.
fn key_column(file: CsvFile) -> usize {
    if file.is_association() { 4 } else { 0 }
}

/// Interleaves sorted changes with a previous sequence of keyed units (rows, records, lines).
#[derive(Debug)]
pub(super) struct Merge<U> {
    /// The changed units, sorted by key (stable: a group keeps its order).
    pending: Vec<(Vec<u8>, U)>,
    next: usize,
    /// Keys whose previous units go: every changed key, and the deleted ones.
    touched: HashSet<Vec<u8>>,
}

impl<U> Merge<U> {
    pub fn new(mut changed: Vec<(Vec<u8>, U)>, deleted: impl IntoIterator<Item = Vec<u8>>) -> Self {
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut touched: HashSet<Vec<u8>> = deleted.into_iter().collect();
        touched.extend(changed.iter().map(|(k, _)| k.clone()));
        Merge {
            pending: changed,
            next: 0,
            touched,
        }
    }

    /// Before a previous unit keyed `key`: the changes that sort at or before it (to be written
    /// first), and whether the previous unit stays.
    pub fn before(&mut self, key: &[u8]) -> (&[(Vec<u8>, U)], bool) {
        let start = self.next;
        while self
            .pending
            .get(self.next)
            .is_some_and(|(k, _)| k.as_slice() <= key)
        {
            self.next += 1;
        }
        (&self.pending[start..self.next], !self.touched.contains(key))
    }

    /// After the last previous unit: the changes left.
    pub fn rest(&mut self) -> &[(Vec<u8>, U)] {
        let start = self.next;
        self.next = self.pending.len();
        &self.pending[start..]
    }
}

/// Where a collection's changes are written while they arrive.
enum DeltaWriter {
    Csv(Box<CsvCollection>),
    Json(JsonFile),
    Lines(Ndjson, PathBuf),
}

/// A collection whose changes are arriving.
pub(super) struct Changing {
    collection: CollectionId,
    /// The private folder the delta files are in.
    dir: PathBuf,
    writer: DeltaWriter,
}

/// A collection with its changes applied: its files are in the staging folder (NDJSON: in a part
/// file, to join the stream when the collection is finished).
pub(super) struct Merged {
    pub output: CollectionOutput,
    pub lines: Option<(Ndjson, PathBuf)>,
}

/// The sourcedIds of a collection's records marked deleted: left out of CSV rows, but their
/// previous rows must go.
fn keys_of(ids: Vec<String>) -> impl Iterator<Item = Vec<u8>> {
    ids.into_iter().map(String::into_bytes)
}

impl Changing {
    /// Opens the delta files of `collection` in `dir` (a private folder inside the staging one).
    pub fn create(
        dir: &Path,
        target: &Path,
        collection: CollectionId,
        format: Format,
        association: Option<CsvFile>,
        rows: RowOptions,
    ) -> Result<Changing, ExportError> {
        fs::create_dir_all(dir).map_err(ExportError::io("creating", dir))?;
        let writer = match format {
            Format::Csv => {
                let mut w = CsvCollection::create(dir, target, collection, association, rows)?;
                w.keep_dropped_ids();
                DeltaWriter::Csv(Box::new(w))
            }
            Format::Json => DeltaWriter::Json(JsonFile::create(dir, collection)?),
            Format::Ndjson => {
                let path = dir.join(format!("{}.ndjson", collection.name()));
                DeltaWriter::Lines(Ndjson::file(path.clone())?, path)
            }
        };
        Ok(Changing {
            collection,
            dir: dir.to_path_buf(),
            writer,
        })
    }

    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        match &mut self.writer {
            DeltaWriter::Csv(w) => w.write_page(page),
            DeltaWriter::Json(w) => w.write_page(page),
            DeltaWriter::Lines(w, _) => w.write_page(self.collection, page).map(drop),
        }
    }

    /// Applies the changes to `previous`'s files of the collection, writing the result into `out`
    /// (the staging folder). The delta files are removed.
    pub fn apply(self, previous: Previous<'_>, out: &Path) -> Result<Merged, ExportError> {
        let c = self.collection;
        let merged = match self.writer {
            DeltaWriter::Csv(mut w) => {
                let deleted: Vec<Vec<u8>> = keys_of(w.take_dropped_ids()).collect();
                let delta = w.finish()?;
                let mut files = Vec::new();
                for file in &delta.files {
                    let csv_file = CsvFile::from_file_name(&file.name).ok_or_else(|| {
                        ExportError::Internal(format!("{} is no CSV file", file.name))
                    })?;
                    let rows = apply_csv(
                        previous,
                        &self.dir.join(&file.name),
                        csv_file,
                        &deleted,
                        out,
                    )?;
                    files.push(rows);
                }
                Merged {
                    output: CollectionOutput {
                        collection: c,
                        records: delta.records,
                        rows: files.first().map_or(0, |f| f.rows),
                        dropped_deleted: delta.dropped_deleted,
                        files,
                    },
                    lines: None,
                }
            }
            DeltaWriter::Json(w) => {
                let delta = w.finish()?;
                let name = JsonFile::file_name(c);
                let rows = apply_json(previous, &self.dir.join(&name), c, out)?;
                Merged {
                    output: CollectionOutput {
                        collection: c,
                        records: delta.records,
                        rows: rows.rows,
                        dropped_deleted: 0,
                        files: vec![rows],
                    },
                    lines: None,
                }
            }
            DeltaWriter::Lines(mut w, path) => {
                w.finish()?;
                let records = w.lines;
                drop(w);
                let part = out.join(format!(".{}.ndjson.merged", c.name()));
                let lines = apply_lines(previous, &path, c, &part)?;
                Merged {
                    output: CollectionOutput {
                        collection: c,
                        records,
                        rows: lines.lines,
                        dropped_deleted: 0,
                        files: Vec::new(),
                    },
                    lines: Some((lines, part)),
                }
            }
        };
        fs::remove_dir_all(&self.dir).map_err(ExportError::io("removing", &self.dir))?;
        Ok(merged)
    }

    /// Gives up: the delta files go.
    pub fn abandon(self) -> Result<(), ExportError> {
        drop(self.writer);
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ExportError::io("removing", &self.dir)(e))
            }
            _ => Ok(()),
        }
    }
}

/// Reads `previous`'s file `name` through `read`; a file that is not there reads as empty.
/// A write error (kept in `failed` by `read`) wins over the read error it caused.
fn read_previous(
    previous: Previous<'_>,
    name: &str,
    read: impl FnOnce(&mut dyn Read, &mut Option<ExportError>) -> io::Result<()>,
) -> Result<(), ExportError> {
    let shown = match previous.shape {
        Shape::Folder => previous.path.join(name),
        _ => previous.path.to_path_buf(),
    };
    let mut failed = None;
    let result = with_previous(previous.shape, previous.path, name, |r| {
        read(r, &mut failed)
    });
    if let Some(e) = failed {
        return Err(e);
    }
    result
        .map(drop)
        .map_err(ExportError::io("reading the previous", &shown))
}

/// Stops a read: the write error is kept in `failed`.
fn stop(failed: &mut Option<ExportError>) -> impl FnOnce(ExportError) -> io::Error + '_ {
    move |e| {
        *failed = Some(e);
        io::Error::other("the merged output could not be written")
    }
}

fn apply_csv(
    previous: Previous<'_>,
    delta: &Path,
    file: CsvFile,
    deleted: &[Vec<u8>],
    out: &Path,
) -> Result<FileRows, ExportError> {
    let key = key_column(file);
    let unreadable = |e: csv::Error| ExportError::io("reading", delta)(e.into());
    let mut changed = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .from_path(delta)
        .map_err(unreadable)?;
    let mut row = ByteRecord::new();
    while reader.read_byte_record(&mut row).map_err(unreadable)? {
        changed.push((row.get(key).unwrap_or_default().to_vec(), row.clone()));
    }
    // Association rows of a deleted class or course were never written; their groups go too.
    let mut merge = Merge::new(changed, deleted.iter().cloned());
    let mut w = CsvOut::create(out, file)?;
    read_previous(previous, &file.file_name(), |r, failed| {
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(r);
        let mut row = ByteRecord::new();
        while csv.read_byte_record(&mut row).map_err(io::Error::other)? {
            let (first, keep) = merge.before(row.get(key).unwrap_or_default());
            for (_, r) in first {
                w.write(r).map_err(stop(failed))?;
            }
            if keep {
                w.write(&row).map_err(stop(failed))?;
            }
        }
        Ok(())
    })?;
    for (_, r) in merge.rest() {
        w.write(r)?;
    }
    w.finish()
}

fn record_key(text: &str) -> Vec<u8> {
    top_level_sourced_id(text)
        .unwrap_or_default()
        .as_bytes()
        .to_vec()
}

fn apply_json(
    previous: Previous<'_>,
    delta: &Path,
    c: CollectionId,
    out: &Path,
) -> Result<FileRows, ExportError> {
    let mut changed = Vec::new();
    let file = File::open(delta).map_err(ExportError::io("reading", delta))?;
    json_records(file, &mut |text| {
        changed.push((record_key(text), text.to_string()));
        Ok(())
    })
    .map_err(ExportError::io("reading", delta))?;
    let mut merge = Merge::new(changed, []);
    let mut w = JsonFile::create(out, c)?;
    read_previous(previous, &JsonFile::file_name(c), |r, failed| {
        json_records(r, &mut |text| {
            let (first, keep) = merge.before(&record_key(text));
            for (_, t) in first {
                w.write_record(t).map_err(stop(failed))?;
            }
            if keep {
                w.write_record(text).map_err(stop(failed))?;
            }
            Ok(())
        })
    })?;
    for (_, t) in merge.rest() {
        w.write_record(t)?;
    }
    let done = w.finish()?;
    Ok(done.files.into_iter().next().unwrap_or(FileRows {
        name: JsonFile::file_name(c),
        rows: 0,
    }))
}

/// The lines of collection `c` in an NDJSON stream, each with its record's sourcedId.
fn each_line(
    r: impl Read,
    c: CollectionId,
    each: &mut dyn FnMut(&[u8], &str) -> io::Result<()>,
) -> io::Result<()> {
    ndjson_lines(r, &mut |name, record, line| {
        if name != c.name() {
            return Ok(());
        }
        each(
            top_level_sourced_id(record).unwrap_or_default().as_bytes(),
            line,
        )
    })
}

fn apply_lines(
    previous: Previous<'_>,
    delta: &Path,
    c: CollectionId,
    part: &Path,
) -> Result<Ndjson, ExportError> {
    let mut changed = Vec::new();
    let file = File::open(delta).map_err(ExportError::io("reading", delta))?;
    each_line(file, c, &mut |key, text| {
        changed.push((key.to_vec(), text.to_string()));
        Ok(())
    })
    .map_err(ExportError::io("reading", delta))?;
    let mut merge = Merge::new(changed, []);
    let mut w = Ndjson::file(part.to_path_buf())?;
    // An NDJSON output is one file: the name is not used.
    read_previous(previous, "", |r, failed| {
        each_line(r, c, &mut |key, text| {
            let (first, keep) = merge.before(key);
            for (_, t) in first {
                w.write_line(t.as_bytes()).map_err(stop(failed))?;
            }
            if keep {
                w.write_line(text.as_bytes()).map_err(stop(failed))?;
            }
            Ok(())
        })
    })?;
    for (_, t) in merge.rest() {
        w.write_line(t.as_bytes())?;
    }
    w.finish()?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(previous: &[&str], changed: &[(&str, &str)], deleted: &[&str]) -> Vec<String> {
        let changed = changed
            .iter()
            .map(|(k, u)| (k.as_bytes().to_vec(), u.to_string()))
            .collect();
        let mut merge = Merge::new(changed, deleted.iter().map(|d| d.as_bytes().to_vec()));
        let mut out = Vec::new();
        for p in previous {
            let key = p.split(':').next().unwrap();
            let (first, keep) = merge.before(key.as_bytes());
            out.extend(first.iter().map(|(_, u)| u.clone()));
            if keep {
                out.push(p.to_string());
            }
        }
        out.extend(merge.rest().iter().map(|(_, u)| u.clone()));
        out
    }

    #[test]
    fn changes_replace_in_place_inserts_take_their_place_deletes_go() {
        let previous = ["a:1", "c:1", "e:1", "g:1"];
        let got = run(
            &previous,
            &[("e", "e:2"), ("b", "b:new"), ("z", "z:new"), ("0", "0:new")],
            &["c"],
        );
        assert_eq!(got, ["0:new", "a:1", "b:new", "e:2", "g:1", "z:new"]);
    }

    #[test]
    fn groups_are_replaced_whole_and_keep_their_order() {
        // classResources rows keyed by class: class c2 now has r9 then r1.
        let previous = ["c1:r1", "c2:r1", "c2:r2", "c3:r1"];
        let got = run(&previous, &[("c2", "c2:r9"), ("c2", "c2:r1")], &["c3"]);
        assert_eq!(got, ["c1:r1", "c2:r9", "c2:r1"]);
    }

    #[test]
    fn nothing_changed_copies_and_nothing_before_gives_the_changes() {
        assert_eq!(run(&["a:1", "b:1"], &[], &[]), ["a:1", "b:1"]);
        assert_eq!(
            run(&[], &[("b", "b:1"), ("a", "a:1")], &["x"]),
            ["a:1", "b:1"]
        );
    }
}
