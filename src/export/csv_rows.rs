//! The OneRoster 1.1 CSV binding (ONEROSTER.md §7.6, §7.7): one column table per file, and the
//! writer that turns a collection's records into bulk rows.
//!
//! Each record is read once through [`fields::pick`], which borrows the members a file needs from
//! the page; cells are rendered into one reused `String` and rows into one reused `ByteRecord`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use csv::{ByteRecord, QuoteStyle, Terminator, WriterBuilder};
use serde_json::value::RawValue;

use super::FileRows;
use super::error::ExportError;
use super::fields::{self, FieldError, FieldResult, Json};
use super::staging::create_private;
use crate::oneroster::{CollectionId, CsvFile};
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

/// How a column's cell is read from the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A sourcedId, year or enumeration: a string (or number), trimmed.
    Token,
    /// `status` / `dateLastModified`: blank in bulk files.
    Blank,
    /// Free text, as sent.
    Text,
    /// An enumeration written lower-case.
    Lower,
    /// A GUIDRef → its sourcedId.
    Ref,
    /// GUIDRef[] → sourcedIds, comma-joined.
    RefList,
    /// string[] → comma-joined.
    List,
    /// `userIds` → `{type:identifier}` list.
    UserIds,
    Bool,
    /// `enabledUser`: a boolean that defaults to `true` when absent.
    EnabledUser,
    /// `YYYY-MM-DD`, datetimes cut to their date.
    Date,
    Number,
    /// `users.password`: blank unless passwords were asked for.
    Password,
}

/// One column: the JSON member(s) it comes from (the first with a value wins) and how to read it.
struct Col {
    keys: &'static [&'static str],
    kind: Kind,
}

const fn c(keys: &'static [&'static str], kind: Kind) -> Col {
    Col { keys, kind }
}

use Kind::*;

const SOURCED_ID: Col = c(&["sourcedId"], Token);
const STATUS: Col = c(&["status"], Blank);
const DATE_LAST_MODIFIED: Col = c(&["dateLastModified"], Blank);

/// The columns of each data file, in header order; `None` for the association files, whose rows
/// come from `classes[].resources[]` and `courses[].resources[]`.
fn columns(file: CsvFile) -> Option<&'static [Col]> {
    Some(match file {
        CsvFile::AcademicSessions => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["title"], Text),
                c(&["type"], Token),
                c(&["startDate"], Date),
                c(&["endDate"], Date),
                c(&["parent"], Ref),
                c(&["schoolYear"], Token),
            ];
            COLS
        }
        CsvFile::Categories => {
            const COLS: &[Col] = &[SOURCED_ID, STATUS, DATE_LAST_MODIFIED, c(&["title"], Text)];
            COLS
        }
        CsvFile::Classes => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["title"], Text),
                c(&["grades"], List),
                c(&["course"], Ref),
                c(&["classCode"], Text),
                c(&["classType"], Token),
                c(&["location"], Text),
                c(&["school"], Ref),
                c(&["terms"], RefList),
                c(&["subjects"], List),
                c(&["subjectCodes"], List),
                c(&["periods"], List),
            ];
            COLS
        }
        CsvFile::ClassResources | CsvFile::CourseResources => return None,
        CsvFile::Courses => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["schoolYear"], Ref),
                c(&["title"], Text),
                c(&["courseCode"], Text),
                c(&["grades"], List),
                c(&["org"], Ref),
                c(&["subjects"], List),
                c(&["subjectCodes"], List),
            ];
            COLS
        }
        CsvFile::Demographics => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["birthDate", "birthdate"], Date),
                c(&["sex"], Lower),
                c(&["americanIndianOrAlaskaNative"], Bool),
                c(&["asian"], Bool),
                c(&["blackOrAfricanAmerican"], Bool),
                c(&["nativeHawaiianOrOtherPacificIslander"], Bool),
                c(&["white"], Bool),
                c(&["demographicRaceTwoOrMoreRaces"], Bool),
                c(&["hispanicOrLatinoEthnicity"], Bool),
                c(&["countryOfBirthCode"], Text),
                c(&["stateOfBirthAbbreviation"], Text),
                c(&["cityOfBirth"], Text),
                c(&["publicSchoolResidenceStatus"], Text),
            ];
            COLS
        }
        CsvFile::Enrollments => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["class"], Ref),
                c(&["school"], Ref),
                c(&["user"], Ref),
                c(&["role"], Token),
                c(&["primary"], Bool),
                c(&["beginDate"], Date),
                c(&["endDate"], Date),
            ];
            COLS
        }
        CsvFile::LineItems => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["title"], Text),
                c(&["description"], Text),
                c(&["assignDate"], Date),
                c(&["dueDate"], Date),
                c(&["class"], Ref),
                c(&["category"], Ref),
                c(&["gradingPeriod"], Ref),
                c(&["resultValueMin"], Number),
                c(&["resultValueMax"], Number),
            ];
            COLS
        }
        CsvFile::Orgs => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["name"], Text),
                c(&["type"], Token),
                c(&["identifier"], Text),
                c(&["parent"], Ref),
            ];
            COLS
        }
        CsvFile::Resources => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["vendorResourceId"], Text),
                c(&["title"], Text),
                c(&["roles", "role"], List),
                c(&["importance"], Token),
                c(&["vendorId"], Text),
                c(&["applicationId"], Text),
            ];
            COLS
        }
        CsvFile::Results => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["lineItem"], Ref),
                c(&["student"], Ref),
                c(&["scoreStatus"], Token),
                c(&["score"], Number),
                c(&["scoreDate"], Date),
                c(&["comment"], Text),
            ];
            COLS
        }
        CsvFile::Users => {
            const COLS: &[Col] = &[
                SOURCED_ID,
                STATUS,
                DATE_LAST_MODIFIED,
                c(&["enabledUser"], EnabledUser),
                c(&["orgs"], RefList),
                c(&["role"], Token),
                c(&["username"], Text),
                c(&["userIds"], UserIds),
                c(&["givenName"], Text),
                c(&["familyName"], Text),
                c(&["middleName"], Text),
                c(&["identifier"], Text),
                c(&["email"], Text),
                c(&["sms"], Text),
                c(&["phone"], Text),
                c(&["agents"], RefList),
                c(&["grades"], List),
                c(&["password"], Password),
            ];
            COLS
        }
    })
}

/// The association file a collection's `resources[]` feed, if any.
pub(super) fn association_file(c: CollectionId) -> Option<CsvFile> {
    match c {
        CollectionId::Classes => Some(CsvFile::ClassResources),
        CollectionId::Courses => Some(CsvFile::CourseResources),
        _ => None,
    }
}

/// The most member names any file reads (users: 18 columns).
const MAX_SLOTS: usize = 24;

/// The members one file reads, flattened: `keys[i]` fills `slots[i]`.
struct Layout {
    keys: Vec<&'static str>,
    /// Per column: its kind and its range of slots.
    cols: Vec<(Kind, usize, usize)>,
    resources: Option<usize>,
}

impl Layout {
    fn new(cols: &'static [Col], with_resources: bool) -> Layout {
        let mut keys = Vec::new();
        let mut spans = Vec::with_capacity(cols.len());
        for col in cols {
            spans.push((col.kind, keys.len(), col.keys.len()));
            keys.extend_from_slice(col.keys);
        }
        let resources = with_resources.then(|| {
            keys.push("resources");
            keys.len() - 1
        });
        assert!(keys.len() <= MAX_SLOTS, "raise MAX_SLOTS");
        Layout {
            keys,
            cols: spans,
            resources,
        }
    }
}

/// The first slot of a column holding a value (not null, not ""), with the member name it had.
fn first_value<'a>(
    keys: &[&'static str],
    slots: &[Option<&'a RawValue>],
    first: usize,
    n: usize,
) -> (&'static str, Option<&'a RawValue>) {
    (first..first + n)
        .find_map(|i| {
            slots[i]
                .filter(|v| !matches!(v.get(), "null" | "\"\""))
                .map(|v| (keys[i], Some(v)))
        })
        .unwrap_or((keys[first], None))
}

fn render<'a>(
    kind: Kind,
    v: Option<&'a RawValue>,
    out: &mut String,
    elems: &mut Vec<&'a RawValue>,
    include_passwords: bool,
) -> FieldResult {
    match kind {
        Token => fields::token(v, out),
        Blank => Ok(()),
        Text => fields::text(v, out),
        Lower => fields::lower(v, out),
        Ref => fields::reference(v, out),
        RefList => fields::ref_list(v, out, elems),
        List => fields::string_list(v, out, elems),
        UserIds => fields::user_ids(v, out, elems),
        Bool => fields::boolean(v, None, out),
        EnabledUser => fields::boolean(v, Some(true), out),
        Date => fields::date(v, out),
        Number => fields::number(v, out),
        Password if include_passwords => fields::text(v, out),
        Password => Ok(()),
    }
}

/// Whether a record's status says it is gone (`tobedeleted`, or 1.0's `inactive`).
fn is_deleted(status: Option<&RawValue>) -> bool {
    match status.map(fields::classify) {
        Some(Ok(Json::Str(s))) => {
            let s = s.trim();
            s.eq_ignore_ascii_case("tobedeleted") || s.eq_ignore_ascii_case("inactive")
        }
        _ => false,
    }
}

/// One staged CSV file being written.
pub(super) struct CsvOut {
    pub file: CsvFile,
    pub path: PathBuf,
    writer: csv::Writer<File>,
    pub rows: u64,
}

impl CsvOut {
    /// Creates `dir/<file>.csv` (0600) and writes its header row.
    pub fn create(dir: &Path, file: CsvFile) -> Result<CsvOut, ExportError> {
        let path = dir.join(file.file_name());
        let mut writer = csv_writer(create_private(&path)?);
        writer
            .write_record(file.header())
            .map_err(csv_error(&path, "writing"))?;
        Ok(CsvOut {
            file,
            path,
            writer,
            rows: 0,
        })
    }

    fn write(&mut self, record: &ByteRecord) -> Result<(), ExportError> {
        self.writer
            .write_byte_record(record)
            .map_err(csv_error(&self.path, "writing"))?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes and fsyncs the file.
    pub fn finish(self) -> Result<FileRows, ExportError> {
        let file = self.writer.into_inner().map_err(|e| ExportError::Io {
            action: "writing",
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(ExportError::io("syncing", &self.path))?;
        Ok(FileRows {
            name: self.file.file_name(),
            rows: self.rows,
        })
    }
}

/// The CSV writer of one collection: its own file, plus classResources / courseResources rows.
pub(super) struct CsvCollection {
    pub collection: CollectionId,
    /// The bundle path, for messages.
    target: PathBuf,
    layout: Layout,
    pub main: CsvOut,
    pub association: Option<CsvOut>,
    include_passwords: bool,
    row: ByteRecord,
    association_row: ByteRecord,
    cell: String,
    resources: Vec<(String, String)>,
    pub records: u64,
    pub dropped_deleted: u64,
}

impl CsvCollection {
    /// Opens the collection's file(s) in `dir`; `with_association` adds its resources file.
    pub fn create(
        dir: &Path,
        target: &Path,
        collection: CollectionId,
        with_association: bool,
        include_passwords: bool,
    ) -> Result<CsvCollection, ExportError> {
        let file = collection.info().csv_file;
        let cols = columns(file).expect("collections map to data files with columns");
        let association_file = association_file(collection).filter(|_| with_association);
        let main = CsvOut::create(dir, file)?;
        let association = association_file
            .map(|f| CsvOut::create(dir, f))
            .transpose()?;
        Ok(CsvCollection {
            collection,
            target: target.to_path_buf(),
            layout: Layout::new(cols, association.is_some()),
            main,
            association,
            include_passwords,
            row: ByteRecord::new(),
            association_row: ByteRecord::new(),
            cell: String::new(),
            resources: Vec::new(),
            records: 0,
            dropped_deleted: 0,
        })
    }

    /// Writes one row per live record of the page, in page order.
    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        let path = self.target.join(self.main.file.file_name());
        let collection = self.collection;
        let mut elems: Vec<&RawValue> = Vec::new();
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
            let mut slots: [Option<&RawValue>; MAX_SLOTS] = [None; MAX_SLOTS];
            fields::pick(text, &self.layout.keys, &mut slots)
                .map_err(|e| bad("(record)", format!("cannot be read: {e}")))?;
            // Column 1 is `status`; a bulk file lists only what exists.
            if is_deleted(slots[self.layout.cols[1].1]) {
                self.dropped_deleted += 1;
                continue;
            }
            self.row.clear();
            for &(kind, first, n) in &self.layout.cols {
                self.cell.clear();
                let (key, value) = first_value(&self.layout.keys, &slots, first, n);
                render(
                    kind,
                    value,
                    &mut self.cell,
                    &mut elems,
                    self.include_passwords,
                )
                .map_err(|FieldError(detail)| bad(key, detail))?;
                self.row.push_field(self.cell.as_bytes());
            }
            self.resources.clear();
            if let (Some(slot), Some(_)) = (self.layout.resources, &self.association) {
                collect_resources(slots[slot], &mut elems, &mut self.resources)
                    .map_err(|FieldError(detail)| bad("resources", detail))?;
            }
            self.main.write(&self.row)?;
            if let Some(out) = &mut self.association {
                write_associations(
                    &self.row[0],
                    &self.resources,
                    &mut self.association_row,
                    out,
                )?;
            }
        }
        Ok(())
    }
}

/// Gathers the (resource sourcedId, title) pairs of a `resources` member, without duplicates.
fn collect_resources<'a>(
    resources: Option<&'a RawValue>,
    elems: &mut Vec<&'a RawValue>,
    refs: &mut Vec<(String, String)>,
) -> FieldResult {
    let Some(resources) = resources else {
        return Ok(());
    };
    let mut add = |v: &RawValue| -> FieldResult {
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

/// Writes one `{owner}:{resource}` row per resource; status and dateLastModified stay blank.
fn write_associations(
    owner: &[u8],
    resources: &[(String, String)],
    row: &mut ByteRecord,
    out: &mut CsvOut,
) -> Result<(), ExportError> {
    for (id, title) in resources {
        row.clear();
        let mut sourced_id = owner.to_vec();
        sourced_id.push(b':');
        sourced_id.extend_from_slice(id.as_bytes());
        row.push_field(&sourced_id);
        row.push_field(b"");
        row.push_field(b"");
        row.push_field(title.as_bytes());
        row.push_field(owner);
        row.push_field(id.as_bytes());
        out.write(row)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_file_has_one_column_per_header_field() {
        for file in CsvFile::ALL {
            let Some(cols) = columns(file) else {
                assert!(matches!(
                    file,
                    CsvFile::ClassResources | CsvFile::CourseResources
                ));
                continue;
            };
            assert_eq!(cols.len(), file.header().len(), "{file:?}");
            assert_eq!(cols[0].keys, ["sourcedId"]);
            assert_eq!(
                cols[1].keys,
                ["status"],
                "{file:?}: drop logic reads column 1"
            );
            assert_eq!(cols[2].keys, ["dateLastModified"]);
            Layout::new(cols, true);
        }
    }

    #[test]
    fn deleted_statuses() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        assert!(is_deleted(Some(&raw(r#""tobedeleted""#))));
        assert!(is_deleted(Some(&raw(r#"" Inactive ""#))));
        assert!(!is_deleted(Some(&raw(r#""active""#))));
        assert!(!is_deleted(None));
    }
}
