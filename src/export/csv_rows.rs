//! The writer that turns a collection's records into bulk rows of the OneRoster 1.1 CSV binding
//! (docs/oneroster-notes.md §7.6, §7.7), driven by the column table of [`oneroster::CsvFile`].
//!
//! Each record is read once through [`Names::pick`], which borrows the members a file needs from
//! the page; cells are rendered into one reused `String` and written into the file's buffer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use csv::{ByteRecord, QuoteStyle, Terminator, WriterBuilder};

use oneroster::{CollectionId, Column, ColumnType, CsvFile, Vocab};

use super::error::ExportError;
use super::fields::{self, FieldError, FieldResult, Json, Names};
use super::staging::create_private;
use super::{CollectionOutput, FileRows};
use crate::records::Page;

/// A CSV writer with the bundle's dialect: RFC 4180 quoting only where needed, CRLF, no BOM.
pub(super) fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .quote_style(QuoteStyle::Necessary)
        .buffer_capacity(64 * 1024)
        .from_writer(w)
}

pub(super) fn csv_error(
    path: &Path,
    action: &'static str,
) -> impl FnOnce(csv::Error) -> ExportError {
    let path = path.to_path_buf();
    move |e| ExportError::Io {
        action,
        path,
        source: e.into(),
    }
}

/// The most member names any file reads (users: 18 columns).
const MAX_SLOTS: usize = 24;

/// The members one file reads, flattened: `names.keys()[i]` fills `slots[i]`.
struct Layout {
    names: Names,
    /// Per column: its type and its range of slots.
    cols: Vec<(ColumnType, usize, usize)>,
    resources: Option<usize>,
}

impl Layout {
    fn new(cols: &'static [Column], with_resources: bool) -> Layout {
        let mut keys = Vec::new();
        let mut spans = Vec::with_capacity(cols.len());
        for col in cols {
            spans.push((col.ty, keys.len(), col.keys.len()));
            keys.extend_from_slice(col.keys);
        }
        let resources = with_resources.then(|| {
            keys.push("resources");
            keys.len() - 1
        });
        assert!(keys.len() <= MAX_SLOTS, "raise MAX_SLOTS");
        Layout {
            names: Names::new(keys),
            cols: spans,
            resources,
        }
    }
}

/// The first slot of a column holding a value (not null, not ""), with the member name it had.
fn first_value<'a>(
    keys: &[&'static str],
    slots: &[Option<&'a str>],
    first: usize,
    n: usize,
) -> (&'static str, Option<&'a str>) {
    (first..first + n)
        .find_map(|i| {
            slots[i]
                .filter(|v| !matches!(*v, "null" | "\"\""))
                .map(|v| (keys[i], Some(v)))
        })
        .unwrap_or((keys[first], None))
}

/// How rows are written.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RowOptions {
    /// Fill the `password` column.
    pub include_passwords: bool,
    /// Delta rows (§7.4): `status` and `dateLastModified` filled, deleted records kept.
    pub delta: bool,
}

/// Renders one cell of a column of type `ty` from its member `v`.
fn render<'a>(
    ty: ColumnType,
    v: Option<&'a str>,
    out: &mut String,
    elems: &mut Vec<&'a str>,
    rows: RowOptions,
) -> FieldResult {
    use ColumnType::*;
    match ty {
        Id | Year => fields::token(v, out),
        Status | DateTime if rows.delta => fields::token(v, out),
        // Blank in a bulk file (§7.4).
        Status | DateTime => Ok(()),
        Text => fields::text(v, out),
        // Hosts send `Female`; the binding writes tokens lower-case.
        Enum(Vocab::Gender) => fields::lower(v, out),
        Enum(_) => fields::token(v, out),
        EnumList(_) | List => fields::string_list(v, out, elems),
        Ref => fields::reference(v, out),
        RefList => fields::ref_list(v, out, elems),
        UserIds => fields::user_ids(v, out, elems),
        Bool { absent } => fields::boolean(v, absent, out),
        Date => fields::date(v, out),
        Float => fields::number(v, out),
        Password if rows.include_passwords => fields::text(v, out),
        Password => Ok(()),
    }
}

/// Whether a record's status says it is gone (`tobedeleted`, or 1.0's `inactive`).
fn is_deleted(status: Option<&str>) -> bool {
    matches!(status.map(fields::classify), Some(Ok(Json::Str(s))) if crate::records::is_deleted_status(&s))
}

/// One staged CSV file being written, in the bundle's dialect (the csv crate's with
/// [`csv_writer`]'s settings, byte for byte): a cell is quoted when it holds a comma, a quote or
/// a line break, its quotes doubled; rows end in CRLF; a row of nothing is `""`. Cells go
/// straight into the file's buffer: a row built as a `ByteRecord` and handed to the csv crate was
/// copied twice and checked byte by byte through a table (a tenth of writing a CSV bundle).
pub(super) struct CsvOut {
    pub file: CsvFile,
    pub path: PathBuf,
    out: File,
    /// Written rows not yet in the file, then the row being written.
    buf: Vec<u8>,
    /// Where the row being written starts in `buf`, and its cells so far.
    row_start: usize,
    cells: usize,
    pub rows: u64,
}

/// `buf` goes to the file once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

impl CsvOut {
    /// Creates `dir/<file>.csv` (0600) and writes its header row.
    pub fn create(dir: &Path, file: CsvFile) -> Result<CsvOut, ExportError> {
        let path = dir.join(file.file_name());
        let mut out = CsvOut {
            file,
            out: create_private(&path)?,
            path,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            row_start: 0,
            cells: 0,
            rows: 0,
        };
        file.header().for_each(|name| out.cell(name.as_bytes()));
        out.end_row()?;
        out.rows = 0;
        Ok(out)
    }

    /// Appends a cell to the row being written.
    pub fn cell(&mut self, cell: &[u8]) {
        if self.cells > 0 {
            self.buf.push(b',');
        }
        self.cells += 1;
        if !needs_quotes(cell) {
            self.buf.extend_from_slice(cell);
            return;
        }
        self.buf.push(b'"');
        let mut parts = cell.split(|&b| b == b'"');
        if let Some(first) = parts.next() {
            self.buf.extend_from_slice(first);
        }
        for part in parts {
            self.buf.extend_from_slice(b"\"\"");
            self.buf.extend_from_slice(part);
        }
        self.buf.push(b'"');
    }

    /// Ends the row being written.
    pub fn end_row(&mut self) -> Result<(), ExportError> {
        if self.buf.len() == self.row_start {
            // A row of no cells or one empty cell would read back as a blank line.
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf.extend_from_slice(b"\r\n");
        self.rows += 1;
        self.cells = 0;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        self.row_start = self.buf.len();
        Ok(())
    }

    /// Forgets the row being written (a record that cannot be read).
    pub fn drop_row(&mut self) {
        self.buf.truncate(self.row_start);
        self.cells = 0;
    }

    pub fn write(&mut self, record: &ByteRecord) -> Result<(), ExportError> {
        record.iter().for_each(|cell| self.cell(cell));
        self.end_row()
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out
            .write_all(&self.buf)
            .map_err(ExportError::io("writing", &self.path))?;
        self.buf.clear();
        Ok(())
    }

    /// Flushes and fsyncs the file.
    pub fn finish(mut self) -> Result<FileRows, ExportError> {
        self.drop_row();
        self.flush()?;
        self.out
            .sync_all()
            .map_err(ExportError::io("syncing", &self.path))?;
        Ok(FileRows {
            name: self.file.file_name(),
            rows: self.rows,
        })
    }
}

/// Whether a cell must be quoted: it holds a comma, a quote, or a line break (which a reader
/// would take for the row's end). Eight bytes are looked at a time, as one word.
fn needs_quotes(cell: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `w` is `c`: a byte of `w ^ c…c` is zero (exact as a yes or no).
    let has = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    let special = |w: u64| has(w, b',') | has(w, b'"') | has(w, b'\r') | has(w, b'\n');
    let mut words = cell.chunks_exact(8);
    if words.any(|w| special(u64::from_le_bytes(w.try_into().expect("8 bytes")))) {
        return true;
    }
    words
        .remainder()
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// The CSV writer of one collection: its own file, plus classResources / courseResources rows.
pub(super) struct CsvCollection {
    pub collection: CollectionId,
    /// The bundle path, for messages.
    target: PathBuf,
    layout: Layout,
    main: CsvOut,
    association: Option<CsvOut>,
    rows: RowOptions,
    /// The sourcedId, status and dateLastModified cells of the last row, for its resources' rows.
    owner: [String; 3],
    cell: String,
    resources: Vec<(String, String)>,
    records: u64,
    dropped_deleted: u64,
    /// The sourcedIds (as rendered) of the records left out as deleted, when asked to keep them.
    dropped_ids: Option<Vec<String>>,
}

impl CsvCollection {
    /// Opens the collection's file in `dir`, and `association` (its resources file) if given.
    pub fn create(
        dir: &Path,
        target: &Path,
        collection: CollectionId,
        association: Option<CsvFile>,
        rows: RowOptions,
    ) -> Result<CsvCollection, ExportError> {
        let file = collection.info().csv_file;
        let main = CsvOut::create(dir, file)?;
        let association = association.map(|f| CsvOut::create(dir, f)).transpose()?;
        Ok(CsvCollection {
            collection,
            target: target.to_path_buf(),
            layout: Layout::new(file.columns(), association.is_some()),
            main,
            association,
            rows,
            owner: Default::default(),
            cell: String::new(),
            resources: Vec::new(),
            records: 0,
            dropped_deleted: 0,
            dropped_ids: None,
        })
    }

    /// Writes one row per live record of the page, in page order.
    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        let path = self.target.join(self.main.file.file_name());
        let collection = self.collection;
        let mut elems: Vec<&str> = Vec::new();
        for (i, text) in page.records().enumerate() {
            self.records += 1;
            let bad = |field: &'static str, detail: String| ExportError::Record {
                path: path.clone(),
                collection,
                index: page.offset + i as u64,
                sourced_id: page.sourced_id(i).to_string(),
                field,
                detail,
            };
            let mut slots: [Option<&str>; MAX_SLOTS] = [None; MAX_SLOTS];
            self.layout
                .names
                .pick(text, &mut slots)
                .map_err(|e| bad("(record)", format!("cannot be read: {e}")))?;
            // Column 1 is `status`; a bulk file lists only what exists.
            if !self.rows.delta && is_deleted(slots[self.layout.cols[1].1]) {
                self.dropped_deleted += 1;
                if let Some(ids) = &mut self.dropped_ids {
                    let mut id = String::new();
                    let (_, first, n) = self.layout.cols[0];
                    let (_, value) = first_value(self.layout.names.keys(), &slots, first, n);
                    fields::token(value, &mut id)
                        .map_err(|FieldError(detail)| bad("sourcedId", detail))?;
                    ids.push(id);
                }
                continue;
            }
            for (c, &(kind, first, n)) in self.layout.cols.iter().enumerate() {
                self.cell.clear();
                let (key, value) = first_value(self.layout.names.keys(), &slots, first, n);
                if let Err(FieldError(detail)) =
                    render(kind, value, &mut self.cell, &mut elems, self.rows)
                {
                    self.main.drop_row();
                    return Err(bad(key, detail));
                }
                self.main.cell(self.cell.as_bytes());
                if c < self.owner.len() && self.association.is_some() {
                    self.owner[c].clone_from(&self.cell);
                }
            }
            self.resources.clear();
            if let (Some(slot), Some(_)) = (self.layout.resources, &self.association)
                && let Err(FieldError(detail)) =
                    collect_resources(slots[slot], &mut elems, &mut self.resources)
            {
                self.main.drop_row();
                return Err(bad("resources", detail));
            }
            self.main.end_row()?;
            if let Some(out) = &mut self.association {
                write_associations(&self.owner, &self.resources, out)?;
            }
        }
        Ok(())
    }
}

impl CsvCollection {
    /// Keeps the sourcedIds of the records it leaves out as deleted (an incremental run removes
    /// their earlier rows).
    pub fn keep_dropped_ids(&mut self) {
        self.dropped_ids.get_or_insert_with(Vec::new);
    }

    pub fn take_dropped_ids(&mut self) -> Vec<String> {
        self.dropped_ids.take().unwrap_or_default()
    }

    /// Flushes and fsyncs its files.
    pub fn finish(self) -> Result<CollectionOutput, ExportError> {
        let mut files = vec![self.main.finish()?];
        if let Some(association) = self.association {
            files.push(association.finish()?);
        }
        Ok(CollectionOutput {
            collection: self.collection,
            records: self.records,
            rows: files[0].rows,
            dropped_deleted: self.dropped_deleted,
            files,
        })
    }
}

/// Gathers the (resource sourcedId, title) pairs of a `resources` member, without duplicates.
fn collect_resources<'a>(
    resources: Option<&'a str>,
    elems: &mut Vec<&'a str>,
    refs: &mut Vec<(String, String)>,
) -> FieldResult {
    let Some(resources) = resources else {
        return Ok(());
    };
    let mut add = |v: &str| -> FieldResult {
        let mut push = |id: &str, title: String| {
            if !id.is_empty() && !refs.iter().any(|(seen, _)| seen == id) {
                refs.push((id.to_string(), title));
            }
        };
        match fields::classify(v)? {
            Json::Null => {}
            Json::Str(s) => s.split(',').for_each(|id| push(id.trim(), String::new())),
            Json::Number(n) => push(n, String::new()),
            Json::Object(o) => {
                let parts = fields::ref_parts(o)?;
                let (mut id, mut title) = (String::new(), String::new());
                fields::token(parts.id, &mut id)?;
                fields::text(parts.title, &mut title)?;
                if id.is_empty() && !o[1..o.len() - 1].trim().is_empty() {
                    return Err(FieldError("is a reference without a sourcedId".to_string()));
                }
                push(&id, title);
            }
            other => {
                return Err(FieldError(format!(
                    "expected a reference, found {}",
                    other.describe()
                )));
            }
        }
        Ok(())
    };
    match fields::classify(resources)? {
        Json::Array(a) => {
            elems.clear();
            fields::elements(a, elems).map_err(|e| FieldError(e.to_string()))?;
            for (i, v) in elems.iter().enumerate() {
                add(v).map_err(|FieldError(d)| FieldError(format!("item {i}: {d}")))?;
            }
            Ok(())
        }
        _ => add(resources),
    }
}

/// Writes one `{owner}:{resource}` row per resource; status and dateLastModified are the owner's
/// (blank in a bulk file).
fn write_associations(
    owner: &[String; 3],
    resources: &[(String, String)],
    out: &mut CsvOut,
) -> Result<(), ExportError> {
    let [id_of_owner, status, modified] = owner;
    let mut sourced_id = String::new();
    for (id, title) in resources {
        sourced_id.clear();
        sourced_id.push_str(id_of_owner);
        sourced_id.push(':');
        sourced_id.push_str(id);
        for cell in [&sourced_id, status, modified, title, id_of_owner, id] {
            out.cell(cell.as_bytes());
        }
        out.end_row()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_file_fits_the_layout_and_has_status_second() {
        for file in CsvFile::ALL.into_iter().filter(|f| !f.is_association()) {
            let cols = file.columns();
            assert_eq!(
                cols[1].keys,
                ["status"],
                "{file:?}: drop logic reads column 1"
            );
            Layout::new(cols, true);
        }
    }

    #[test]
    fn deleted_statuses() {
        assert!(is_deleted(Some(r#""tobedeleted""#)));
        assert!(is_deleted(Some(r#"" Inactive ""#)));
        assert!(!is_deleted(Some(r#""active""#)));
        assert!(!is_deleted(None));
    }

    #[test]
    fn rows_are_written_as_the_csv_crate_writes_them() {
        let pieces = ["a", "bc", ",", "\"", "\r", "\n", "", "\u{e9}", " ", "#"];
        let dir = tempfile::tempdir().unwrap();
        let mut ours = CsvOut::create(dir.path(), CsvFile::Orgs).unwrap();
        let mut theirs = WriterBuilder::new()
            .terminator(Terminator::CRLF)
            .quote_style(QuoteStyle::Necessary)
            .flexible(true)
            .from_writer(Vec::new());
        theirs.write_record(CsvFile::Orgs.header()).unwrap();
        let mut rng = crate::test_rng::TestRng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next();
        for _ in 0..5000 {
            let mut row = ByteRecord::new();
            for _ in 0..next() % 5 {
                let cell: String = (0..next() % 4)
                    .map(|_| pieces[next() % pieces.len()])
                    .collect();
                row.push_field(cell.as_bytes());
            }
            ours.write(&row).unwrap();
            theirs.write_byte_record(&row).unwrap();
        }
        // A row dropped half-way leaves nothing.
        ours.cell(b"half");
        ours.drop_row();
        assert_eq!(ours.finish().unwrap().rows, 5000);
        let theirs = theirs.into_inner().unwrap();
        let ours = std::fs::read(dir.path().join("orgs.csv")).unwrap();
        assert!(ours.len() > 20_000, "{} bytes", ours.len());
        let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        assert!(ours == theirs, "the bytes differ from byte {at}");
    }

    #[test]
    fn cells_needing_quotes_are_found_at_every_offset() {
        for len in 0..24 {
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut cell = vec![b'a'; len];
                    cell[at] = c;
                    let want = matches!(c, b',' | b'"' | b'\r' | b'\n');
                    assert_eq!(needs_quotes(&cell), want, "{len} {at} {c}");
                }
            }
            assert!(!needs_quotes(&vec![b'a'; len]));
        }
        // Every pair of neighbours, within a word and across two.
        let special = |c: u8| matches!(c, b',' | b'"' | b'\r' | b'\n');
        for (x, y) in (0..=255u8).flat_map(|x| (0..=255u8).map(move |y| (x, y))) {
            for at in [3, 7] {
                let mut cell = [0u8; 12];
                cell[at] = x;
                cell[at + 1] = y;
                assert_eq!(needs_quotes(&cell), special(x) || special(y), "{x} {y}");
            }
        }
    }
}
