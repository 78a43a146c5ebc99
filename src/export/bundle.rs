//! The staged output of one run: collections are written one after another into the staging
//! folder (or the NDJSON stream), and published together at the end.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oneroster::{COLLECTIONS, CollectionId, CsvFile};
use tempfile::TempDir;

use super::csv_rows::{CsvCollection, csv_error, csv_writer};
use super::error::ExportError;
use super::json::{JsonFile, Ndjson};
use super::staging::{Shape, Target, create_private};
use super::{CollectionOutput, Destination, FileRows, Format, OutputOptions, PublishReport};
use crate::records::Page;
use crate::storage::{Location, OutputLock, RemoteOptions};

const MANIFEST: &str = "manifest.csv";

/// A staged output. Collections are written one at a time (`begin_collection`, `write_page`…,
/// `finish_collection` or `abandon_collection`); `publish` puts the result in place. Dropping a
/// bundle that was not published removes its staging folder and leaves the target untouched.
pub struct Bundle {
    options: OutputOptions,
    planned: Vec<CollectionId>,
    writer: Writer,
    finished: Vec<CollectionOutput>,
}

/// The staging area of a target, and the lock held for the bundle's lifetime.
struct Staged {
    target: Target,
    dir: TempDir,
    _lock: OutputLock,
}

/// The format's writer and the collection it has open.
enum Writer {
    Csv {
        staged: Staged,
        open: Option<Box<CsvCollection>>,
    },
    Json {
        staged: Staged,
        open: Option<JsonFile>,
    },
    Ndjson {
        /// `None` when streaming to stdout.
        staged: Option<Staged>,
        stream: Ndjson,
        open: Option<NdjsonOpen>,
    },
}

/// The collection being streamed as NDJSON.
struct NdjsonOpen {
    collection: CollectionId,
    /// Where its lines start in the NDJSON file.
    mark: u64,
    records: u64,
}

impl Writer {
    fn staged(&self) -> Option<&Staged> {
        match self {
            Writer::Csv { staged, .. } | Writer::Json { staged, .. } => Some(staged),
            Writer::Ndjson { staged, .. } => staged.as_ref(),
        }
    }

    /// The collection open for writing, if any.
    fn open(&self) -> Option<CollectionId> {
        match self {
            Writer::Csv { open, .. } => open.as_ref().map(|w| w.collection),
            Writer::Json { open, .. } => open.as_ref().map(|w| w.collection),
            Writer::Ndjson { open, .. } => open.as_ref().map(|o| o.collection),
        }
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("format", &self.options.format)
            .field("target", &self.shown())
            .field("open", &self.writer.open())
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

impl Staged {
    /// Checks the target (refusing anything that is not earlier output of ours), takes the lock
    /// (clearing what dead runs left) and creates the staging folder.
    fn prepare(
        location: &Location,
        format: Format,
        options: &RemoteOptions,
    ) -> Result<Staged, ExportError> {
        let target = Target::resolve(location, format, options)?;
        target.check()?;
        let lock = target.lock()?;
        let dir = target.staging_dir()?;
        Ok(Staged {
            target,
            dir,
            _lock: lock,
        })
    }
}

impl Bundle {
    /// Prepares the output: checks the target, takes the lock and creates the staging folder.
    /// Nothing at the target changes until [`Bundle::publish`].
    ///
    /// `planned` is the collections this run will export; classResources.csv / courseResources.csv
    /// are written only when Resources is planned together with Classes / Courses.
    pub fn create(opts: &OutputOptions, planned: &[CollectionId]) -> Result<Bundle, ExportError> {
        let location = match &opts.destination {
            Destination::Stdout => None,
            Destination::Path(path) => Some(Location::Local(path.clone())),
            Destination::Remote(url) => Some(Location::Remote(url.clone())),
        };
        let writer = match (location, opts.format) {
            (None, Format::Ndjson) => Writer::Ndjson {
                staged: None,
                stream: Ndjson::stdout(),
                open: None,
            },
            (None, format) => {
                return Err(ExportError::Usage {
                    target: PathBuf::from("-"),
                    message: format!(
                        "{format} output is a set of files and cannot go to standard output; \
                         give a folder or a path ending in .zip (or use --format ndjson)"
                    ),
                });
            }
            (Some(location), Format::Csv) => Writer::Csv {
                staged: Staged::prepare(&location, Format::Csv, &opts.remote)?,
                open: None,
            },
            (Some(location), Format::Json) => Writer::Json {
                staged: Staged::prepare(&location, Format::Json, &opts.remote)?,
                open: None,
            },
            (Some(location), Format::Ndjson) => {
                let staged = Staged::prepare(&location, Format::Ndjson, &opts.remote)?;
                let stream = Ndjson::file(staged.dir.path().join(&staged.target.name))?;
                Writer::Ndjson {
                    staged: Some(staged),
                    stream,
                    open: None,
                }
            }
        };
        Ok(Bundle {
            options: opts.clone(),
            planned: planned.to_vec(),
            writer,
            finished: Vec::new(),
        })
    }

    /// The target as shown in messages.
    fn shown(&self) -> PathBuf {
        match self.writer.staged() {
            Some(s) => s.target.path.clone(),
            None => PathBuf::from("standard output"),
        }
    }

    /// The association file `c` writes too, if any: Resources must be planned as well, so its
    /// resource ids resolve within the bundle.
    fn association(&self, c: CollectionId) -> Option<CsvFile> {
        c.info().association_file.filter(|_| {
            self.planned.contains(&c) && self.planned.contains(&CollectionId::Resources)
        })
    }

    /// The staged files `c` may have written.
    fn staged_files(&self, c: CollectionId) -> Vec<PathBuf> {
        let (dir, names) = match &self.writer {
            Writer::Csv { staged, .. } => (
                staged.dir.path(),
                std::iter::once(c.info().csv_file)
                    .chain(c.info().association_file)
                    .map(CsvFile::file_name)
                    .collect(),
            ),
            Writer::Json { staged, .. } => (staged.dir.path(), vec![JsonFile::file_name(c)]),
            Writer::Ndjson { .. } => return Vec::new(),
        };
        names.into_iter().map(|n| dir.join(n)).collect()
    }

    /// Starts writing collection `c` (its files are created, with their header rows).
    pub fn begin_collection(&mut self, c: CollectionId) -> Result<(), ExportError> {
        if self.writer.open().is_some() {
            return Err(self.misplaced(c, "cannot begin"));
        }
        if self.finished.iter().any(|o| o.collection == c) {
            return Err(sequence(&self.shown(), c, "was already written"));
        }
        let association = self.association(c);
        let include_passwords = self.options.include_passwords;
        match &mut self.writer {
            Writer::Csv { staged, open } => {
                *open = Some(Box::new(CsvCollection::create(
                    staged.dir.path(),
                    &staged.target.path,
                    c,
                    association,
                    include_passwords,
                )?));
            }
            Writer::Json { staged, open } => {
                *open = Some(JsonFile::create(staged.dir.path(), c)?);
            }
            Writer::Ndjson { stream, open, .. } => {
                *open = Some(NdjsonOpen {
                    collection: c,
                    mark: stream.mark(),
                    records: 0,
                });
            }
        }
        Ok(())
    }

    /// The error for a call about `c` while the writer holds another collection, or none.
    fn misplaced(&self, c: CollectionId, what: &str) -> ExportError {
        let detail = match self.writer.open() {
            Some(open) => format!("{what} while {open} is open"),
            None => format!("{what} before begin_collection"),
        };
        sequence(&self.shown(), c, detail)
    }

    /// Writes a page of the open collection, records in page order.
    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        let c = page.collection;
        let written = match &mut self.writer {
            Writer::Csv { open: Some(w), .. } if w.collection == c => Some(w.write_page(page)),
            Writer::Json { open: Some(w), .. } if w.collection == c => Some(w.write_page(page)),
            Writer::Ndjson {
                stream,
                open: Some(o),
                ..
            } if o.collection == c => Some(
                stream
                    .write_page(c, page)
                    .map(|records| o.records += records),
            ),
            _ => None,
        };
        written.unwrap_or_else(|| Err(self.misplaced(c, "a page arrived")))
    }

    /// Completes collection `c`: its files are flushed and fsynced, and it will be `bulk` in the
    /// manifest.
    pub fn finish_collection(&mut self, c: CollectionId) -> Result<CollectionOutput, ExportError> {
        let output = match &mut self.writer {
            Writer::Csv { open, .. } if open.as_ref().is_some_and(|w| w.collection == c) => {
                open.take().map(|w| w.finish())
            }
            Writer::Json { open, .. } if open.as_ref().is_some_and(|w| w.collection == c) => {
                open.take().map(|w| w.finish())
            }
            Writer::Ndjson { open, .. } if open.as_ref().is_some_and(|o| o.collection == c) => {
                open.take().map(|o| {
                    Ok(CollectionOutput {
                        collection: c,
                        records: o.records,
                        rows: o.records,
                        dropped_deleted: 0,
                        files: Vec::new(),
                    })
                })
            }
            _ => None,
        };
        let output = output.unwrap_or_else(|| Err(self.misplaced(c, "cannot finish")))?;
        self.finished.push(output.clone());
        Ok(output)
    }

    /// Gives up on collection `c` (open or finished): its files are removed and the manifest
    /// says `absent`. NDJSON lines already sent to stdout cannot be taken back; in an NDJSON
    /// file, the open collection's lines are truncated away.
    pub fn abandon_collection(&mut self, c: CollectionId) -> Result<(), ExportError> {
        if self.writer.open() == Some(c) {
            match &mut self.writer {
                Writer::Ndjson { stream, open, .. } => {
                    if let Some(o) = open.take() {
                        stream.rollback(o.mark, o.records)?;
                    }
                }
                // Closing the writers is enough; the files go below.
                Writer::Csv { open, .. } => drop(open.take()),
                Writer::Json { open, .. } => drop(open.take()),
            }
        }
        if let Some(i) = self.finished.iter().position(|o| o.collection == c) {
            if self.options.format == Format::Ndjson {
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
        if let Some(open) = self.writer.open() {
            return Err(sequence(
                &shown,
                open,
                "was begun but neither finished nor abandoned",
            ));
        }
        let Bundle {
            options,
            writer,
            finished,
            ..
        } = self;
        let written = |name: &str| {
            finished
                .iter()
                .flat_map(|o| &o.files)
                .find(|f| f.name == name)
                .cloned()
        };
        let mut files = Vec::new();
        let mut absent = Vec::new();
        let mut entries = Vec::new();
        let staged = match writer {
            Writer::Csv { staged, .. } => {
                let resources_done = finished
                    .iter()
                    .any(|o| o.collection == CollectionId::Resources);
                for file in CsvFile::ALL {
                    match written(&file.file_name()) {
                        // An association without its resources would point at nothing.
                        Some(rows) if !file.is_association() || resources_done => files.push(rows),
                        _ => absent.push(file),
                    }
                }
                write_manifest(staged.dir.path(), &absent, &options)?;
                entries.push(MANIFEST.to_string());
                staged
            }
            Writer::Json { staged, .. } => {
                for c in COLLECTIONS.iter() {
                    files.extend(written(&JsonFile::file_name(c.id)));
                }
                staged
            }
            Writer::Ndjson {
                staged, mut stream, ..
            } => {
                stream.finish()?;
                let Some(staged) = staged else {
                    return Ok(PublishReport {
                        path: None,
                        format: options.format,
                        files: Vec::new(),
                        absent: Vec::new(),
                        collections: finished,
                        warnings: Vec::new(),
                    });
                };
                files.push(FileRows {
                    name: staged.target.name.to_string_lossy().into_owned(),
                    rows: stream.lines,
                });
                staged
            }
        };
        entries.extend(files.iter().map(|f| f.name.clone()));
        let Staged { target, dir, _lock } = staged;
        if options.format != Format::Ndjson {
            remove_strays(dir.path(), &entries)?;
        }
        // Checked again: the target may have changed during a long run.
        let existed = target.check()?;
        if let (true, Some(limit)) = (existed, options.max_shrink) {
            // A remote output is read back into a private copy for the comparison.
            if let Some(previous) = target.previous()? {
                super::shrink::check(&target, previous.path(), &files, limit)?;
            }
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
            format: options.format,
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
    options: &OutputOptions,
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
    if !options.system_name.is_empty() {
        rows.push(["source.systemName".into(), options.system_name.clone()]);
    }
    if let Some(code) = &options.system_code {
        rows.push(["source.systemCode".into(), code.clone()]);
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
