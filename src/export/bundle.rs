//! The staged output of one run: collections are written one after another into the staging
//! folder, and published together at the end.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::csv_rows::{CsvCollection, association_file, csv_error, csv_writer};
use super::error::ExportError;
use super::json::{JsonFile, Ndjson};
use super::staging::{Shape, Target, create_private};
use super::{CollectionOutput, Destination, FileRows, Format, OutputOptions, PublishReport};
use crate::oneroster::{COLLECTIONS, CollectionId, CsvFile};
use crate::records::Page;

const MANIFEST: &str = "manifest.csv";

/// A staged output. Collections are written one at a time (`begin_collection`, `write_page`…,
/// `finish_collection` or `abandon_collection`); `publish` puts the result in place. Dropping a
/// bundle that was not published removes its staging folder and leaves the target untouched.
pub struct Bundle {
    format: Format,
    include_passwords: bool,
    system_name: String,
    system_code: Option<String>,
    max_shrink: Option<super::MaxShrink>,
    planned: Vec<CollectionId>,
    /// `None` when streaming NDJSON to stdout.
    staged: Option<Staged>,
    /// The NDJSON stream (stdout or the staged file).
    ndjson: Option<Ndjson>,
    open: Option<Open>,
    finished: Vec<CollectionOutput>,
}

/// The staging area of a file-system target, and the lock held for the bundle's lifetime.
struct Staged {
    target: Target,
    dir: TempDir,
    _lock: File,
}

/// The collection being written.
enum Open {
    Csv(Box<CsvCollection>),
    Json(JsonFile),
    Ndjson {
        collection: CollectionId,
        /// Where its lines start in the NDJSON file.
        mark: u64,
        records: u64,
    },
}

impl Open {
    fn collection(&self) -> CollectionId {
        match self {
            Open::Csv(w) => w.collection,
            Open::Json(w) => w.collection,
            Open::Ndjson { collection, .. } => *collection,
        }
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("format", &self.format)
            .field("target", &self.shown())
            .field("open", &self.open.as_ref().map(Open::collection))
            .field("finished", &self.finished.len())
            .finish_non_exhaustive()
    }
}

fn sequence(path: &Path, collection: CollectionId, detail: impl Into<String>) -> ExportError {
    ExportError::Sequence {
        path: path.to_path_buf(),
        collection,
        detail: detail.into(),
    }
}

/// Removes a staged file if it is there.
fn remove_staged(path: &Path) -> Result<(), ExportError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ExportError::io("removing", path)(e)),
        _ => Ok(()),
    }
}

impl Bundle {
    /// Prepares the output: checks the target (refusing anything that is not earlier output of
    /// ours), takes the lock and creates the staging folder. Nothing at the target changes until
    /// [`Bundle::publish`].
    ///
    /// `planned` is the collections this run will export; classResources.csv / courseResources.csv
    /// are written only when Resources is planned together with Classes / Courses.
    pub fn create(opts: &OutputOptions, planned: &[CollectionId]) -> Result<Bundle, ExportError> {
        let (staged, ndjson) = match (&opts.destination, opts.format) {
            (Destination::Stdout, Format::Ndjson) => (None, Some(Ndjson::stdout())),
            (Destination::Stdout, format) => {
                return Err(ExportError::Usage {
                    target: PathBuf::from("-"),
                    message: format!(
                        "{format} output is a set of files and cannot go to standard output; \
                         give a folder or a path ending in .zip (or use --format ndjson)"
                    ),
                });
            }
            (Destination::Path(path), format) => {
                let target = Target::resolve(path, format)?;
                target.check()?;
                let lock = target.lock()?;
                let dir = target.staging_dir()?;
                let ndjson = match format {
                    Format::Ndjson => Some(Ndjson::file(dir.path().join(&target.name))?),
                    _ => None,
                };
                let staged = Staged {
                    target,
                    dir,
                    _lock: lock,
                };
                (Some(staged), ndjson)
            }
        };
        Ok(Bundle {
            format: opts.format,
            include_passwords: opts.include_passwords,
            system_name: opts.system_name.clone(),
            system_code: opts.system_code.clone(),
            max_shrink: opts.max_shrink,
            planned: planned.to_vec(),
            staged,
            ndjson,
            open: None,
            finished: Vec::new(),
        })
    }

    /// The target as shown in messages.
    fn shown(&self) -> PathBuf {
        match &self.staged {
            Some(s) => s.target.path.clone(),
            None => PathBuf::from("standard output"),
        }
    }

    /// Whether `c`'s resources association file is written: Resources must be planned too.
    fn with_association(&self, c: CollectionId) -> bool {
        association_file(c).is_some()
            && self.planned.contains(&c)
            && self.planned.contains(&CollectionId::Resources)
    }

    /// The staged files `c` may have written.
    fn staged_files(&self, c: CollectionId) -> Vec<PathBuf> {
        let Some(staged) = &self.staged else {
            return Vec::new();
        };
        let names = match self.format {
            Format::Csv => std::iter::once(c.info().csv_file)
                .chain(association_file(c))
                .map(CsvFile::file_name)
                .collect(),
            Format::Json => vec![JsonFile::file_name(c)],
            Format::Ndjson => Vec::new(),
        };
        names
            .into_iter()
            .map(|n| staged.dir.path().join(n))
            .collect()
    }

    /// Starts writing collection `c` (its files are created, with their header rows).
    pub fn begin_collection(&mut self, c: CollectionId) -> Result<(), ExportError> {
        if let Some(open) = &self.open {
            let detail = format!("cannot begin while {} is open", open.collection());
            return Err(sequence(&self.shown(), c, detail));
        }
        if self.finished.iter().any(|o| o.collection == c) {
            return Err(sequence(&self.shown(), c, "was already written"));
        }
        let open = match (self.format, &self.staged) {
            (Format::Csv, Some(staged)) => Open::Csv(Box::new(CsvCollection::create(
                staged.dir.path(),
                &staged.target.path,
                c,
                self.with_association(c),
                self.include_passwords,
            )?)),
            (Format::Json, Some(staged)) => Open::Json(JsonFile::create(staged.dir.path(), c)?),
            (Format::Ndjson, _) => Open::Ndjson {
                collection: c,
                mark: self.ndjson.as_ref().map_or(0, Ndjson::mark),
                records: 0,
            },
            (_, None) => unreachable!("create refuses CSV and JSON to stdout"),
        };
        self.open = Some(open);
        Ok(())
    }

    /// Writes a page of the open collection, records in page order.
    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        let shown = || self.shown();
        match &self.open {
            None => {
                return Err(sequence(
                    &shown(),
                    page.collection,
                    "write_page before begin_collection",
                ));
            }
            Some(open) if open.collection() != page.collection => {
                let detail = format!("a page arrived while {} is open", open.collection());
                return Err(sequence(&shown(), page.collection, detail));
            }
            Some(_) => {}
        }
        match self.open.as_mut().expect("checked above") {
            Open::Csv(w) => w.write_page(page),
            Open::Json(w) => w.write_page(page),
            Open::Ndjson {
                collection,
                records,
                ..
            } => {
                let out = self.ndjson.as_mut().expect("NDJSON bundles have a stream");
                *records += out.write_page(*collection, page)?;
                Ok(())
            }
        }
    }

    /// Completes collection `c`: its files are flushed and fsynced, and it will be `bulk` in the
    /// manifest.
    pub fn finish_collection(&mut self, c: CollectionId) -> Result<CollectionOutput, ExportError> {
        match &self.open {
            Some(open) if open.collection() == c => {}
            Some(open) => {
                let detail = format!("cannot finish while {} is open", open.collection());
                return Err(sequence(&self.shown(), c, detail));
            }
            None => {
                return Err(sequence(
                    &self.shown(),
                    c,
                    "finish_collection before begin_collection",
                ));
            }
        }
        let output = match self.open.take().expect("checked above") {
            Open::Csv(w) => {
                let w = *w;
                let main = w.main.finish()?;
                let mut files = vec![main];
                if let Some(association) = w.association {
                    files.push(association.finish()?);
                }
                CollectionOutput {
                    collection: c,
                    records: w.records,
                    rows: files[0].rows,
                    dropped_deleted: w.dropped_deleted,
                    files,
                }
            }
            Open::Json(w) => {
                let records = w.rows;
                let file = w.finish()?;
                CollectionOutput {
                    collection: c,
                    records,
                    rows: file.rows,
                    dropped_deleted: 0,
                    files: vec![file],
                }
            }
            Open::Ndjson { records, .. } => CollectionOutput {
                collection: c,
                records,
                rows: records,
                dropped_deleted: 0,
                files: Vec::new(),
            },
        };
        self.finished.push(output.clone());
        Ok(output)
    }

    /// Gives up on collection `c` (open or finished): its files are removed and the manifest
    /// says `absent`. NDJSON lines already sent to stdout cannot be taken back; in an NDJSON
    /// file, the open collection's lines are truncated away.
    pub fn abandon_collection(&mut self, c: CollectionId) -> Result<(), ExportError> {
        if self.open.as_ref().is_some_and(|o| o.collection() == c) {
            match self.open.take().expect("checked above") {
                Open::Ndjson { mark, records, .. } => {
                    if let Some(out) = &mut self.ndjson {
                        out.rollback(mark, records)?;
                    }
                }
                // Closing the writers is enough; the files go below.
                other => drop(other),
            }
        }
        if let Some(i) = self.finished.iter().position(|o| o.collection == c) {
            if self.format == Format::Ndjson {
                return Err(sequence(
                    &self.shown(),
                    c,
                    "is already in the NDJSON stream and cannot be taken back",
                ));
            }
            self.finished.remove(i);
        }
        for path in self.staged_files(c) {
            remove_staged(&path)?;
        }
        Ok(())
    }

    /// Writes the manifest, fsyncs, and moves the output into place atomically (see the module
    /// docs). Fails, leaving the target untouched, if a collection is still open.
    pub fn publish(self) -> Result<PublishReport, ExportError> {
        let shown = self.shown();
        let Bundle {
            format,
            system_name,
            system_code,
            max_shrink,
            staged,
            mut ndjson,
            open,
            finished,
            ..
        } = self;
        if let Some(open) = open {
            return Err(sequence(
                &shown,
                open.collection(),
                "was begun but neither finished nor abandoned",
            ));
        }
        if let Some(out) = &mut ndjson {
            out.finish()?;
        }
        let Some(Staged { target, dir, _lock }) = staged else {
            return Ok(PublishReport {
                path: None,
                format,
                files: Vec::new(),
                absent: Vec::new(),
                collections: finished,
                warnings: Vec::new(),
            });
        };
        let written = |name: &str| {
            finished
                .iter()
                .flat_map(|o| &o.files)
                .find(|f| f.name == name)
                .cloned()
        };
        let resources_done = finished
            .iter()
            .any(|o| o.collection == CollectionId::Resources);
        let mut files = Vec::new();
        let mut absent = Vec::new();
        let mut entries = Vec::new();
        match format {
            Format::Csv => {
                for file in CsvFile::ALL {
                    let association =
                        matches!(file, CsvFile::ClassResources | CsvFile::CourseResources);
                    match written(&file.file_name()) {
                        // An association without its resources would point at nothing.
                        Some(rows) if !association || resources_done => files.push(rows),
                        _ => absent.push(file),
                    }
                }
                write_manifest(dir.path(), &absent, &system_name, system_code.as_deref())?;
                entries.push(MANIFEST.to_string());
            }
            Format::Json => {
                for c in COLLECTIONS.iter() {
                    files.extend(written(&JsonFile::file_name(c.id)));
                }
            }
            Format::Ndjson => files.push(FileRows {
                name: target.name.to_string_lossy().into_owned(),
                rows: ndjson.as_ref().map_or(0, |n| n.lines),
            }),
        }
        entries.extend(files.iter().map(|f| f.name.clone()));
        drop(ndjson);
        if format != Format::Ndjson {
            remove_strays(dir.path(), &entries)?;
        }
        // Checked again: the target may have changed during a long run.
        let existed = target.check()?;
        if let (true, Some(limit)) = (existed, max_shrink) {
            super::shrink::check(&target, &files, limit)?;
        }
        let warnings = match target.shape {
            Shape::Folder => target.publish_folder(dir, existed)?,
            Shape::Zip => target
                .publish_zip(dir.path(), &entries)
                .map(|()| Vec::new())?,
            Shape::File => target
                .publish_file(&dir.path().join(&target.name))
                .map(|()| Vec::new())?,
        };
        Ok(PublishReport {
            path: Some(target.path.clone()),
            format,
            files,
            absent,
            collections: finished,
            warnings,
        })
    }
}

/// Writes manifest.csv: versions, one `file.<stem>` row per data file, then the source.
fn write_manifest(
    dir: &Path,
    absent: &[CsvFile],
    system_name: &str,
    system_code: Option<&str>,
) -> Result<(), ExportError> {
    let path = dir.join(MANIFEST);
    let mut w = csv_writer(create_private(&path)?);
    let mut rows: Vec<[String; 2]> = vec![
        ["propertyName".into(), "value".into()],
        ["manifest.version".into(), "1.0".into()],
        ["oneroster.version".into(), "1.1".into()],
    ];
    for file in CsvFile::ALL {
        let mode = if absent.contains(&file) {
            "absent"
        } else {
            "bulk"
        };
        rows.push([file.manifest_property(), mode.into()]);
    }
    if !system_name.is_empty() {
        rows.push(["source.systemName".into(), system_name.into()]);
    }
    if let Some(code) = system_code {
        rows.push(["source.systemCode".into(), code.into()]);
    }
    for row in &rows {
        w.write_record(row).map_err(csv_error(&path, "writing"))?;
    }
    let file = w.into_inner().map_err(|e| ExportError::Io {
        action: "writing",
        path: path.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(ExportError::io("syncing", &path))
}

/// Removes anything in the staging folder that is not part of the output (files of a collection
/// whose writing failed half-way, or of an association left without its resources).
fn remove_strays(dir: &Path, keep: &[String]) -> Result<(), ExportError> {
    for entry in fs::read_dir(dir).map_err(ExportError::io("reading", dir))? {
        let entry = entry.map_err(ExportError::io("reading", dir))?;
        let name = entry.file_name();
        if !keep.iter().any(|k| name.to_str() == Some(k)) {
            remove_staged(&entry.path())?;
        }
    }
    Ok(())
}
