//! The staged output of one run: collections are written into the staging folder (or the NDJSON
//! stream), several at once, and published together at the end.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oneroster::{COLLECTIONS, CollectionId, CsvFile};
use tempfile::TempDir;

use std::collections::HashMap;

use super::csv_rows::{CsvCollection, RowOptions, csv_error, csv_writer};
use super::error::ExportError;
use super::json::{JsonFile, Ndjson};
use super::lines::Lines;
use super::merge::{Changing, Merged, Previous};
use super::staging::{Shape, Target, create_private};
use super::{
    CollectionOutput, Destination, FileRows, Format, OutputOptions, PublishReport, ValidateMode,
};
use crate::records::Page;
use crate::storage::{Location, OutputLock, PreviousOutput, RemoteOptions};

const MANIFEST: &str = "manifest.csv";

/// A staged output. Each collection is begun, written page by page in order, and finished or
/// abandoned (`begin_collection`, `write_page`…, `finish_collection` / `abandon_collection`);
/// several may be open at once. In an incremental run a collection may instead receive only its
/// changes (`begin_changes`, `write_page`…, `apply_changes`), which are applied to the previous
/// output's files before it is finished. `publish` puts the result in place. Dropping a bundle
/// that was not published removes its staging folder and leaves the target untouched.
pub struct Bundle {
    options: OutputOptions,
    planned: Vec<CollectionId>,
    writer: Writer,
    /// Collections whose changes are arriving, and those with their changes applied.
    changing: HashMap<CollectionId, Changing>,
    merged: HashMap<CollectionId, Merged>,
    finished: Vec<CollectionOutput>,
    /// Hash the output once it is published.
    fingerprint: bool,
}

/// The staging area of a target, and the lock held for the bundle's lifetime.
struct Staged {
    target: Target,
    dir: TempDir,
    _lock: OutputLock,
    /// Whether there was an earlier output when the bundle was created.
    existed: bool,
    /// The earlier output as a local path (itself, or a private copy of a remote one), once read.
    previous: Option<PreviousOutput>,
}

/// The format's writers and the collections they have open.
enum Writer {
    /// CSV or JSON: a file (or two) per collection in the staging folder.
    Files {
        staged: Staged,
        open: HashMap<CollectionId, FileWriter>,
    },
    /// NDJSON: one stream in plan order.
    Ndjson {
        /// `None` when streaming to stdout.
        staged: Option<Staged>,
        lines: Lines,
    },
}

/// One open collection of a CSV or JSON bundle.
enum FileWriter {
    Csv(Box<CsvCollection>),
    Json(JsonFile),
}

impl FileWriter {
    fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        match self {
            FileWriter::Csv(w) => w.write_page(page),
            FileWriter::Json(w) => w.write_page(page),
        }
    }

    fn finish(self) -> Result<CollectionOutput, ExportError> {
        match self {
            FileWriter::Csv(w) => w.finish(),
            FileWriter::Json(w) => w.finish(),
        }
    }
}

impl Writer {
    fn staged(&self) -> Option<&Staged> {
        match self {
            Writer::Files { staged, .. } => Some(staged),
            Writer::Ndjson { staged, .. } => staged.as_ref(),
        }
    }

    fn staged_mut(&mut self) -> Option<&mut Staged> {
        match self {
            Writer::Files { staged, .. } => Some(staged),
            Writer::Ndjson { staged, .. } => staged.as_mut(),
        }
    }

    fn is_open(&self, c: CollectionId) -> bool {
        match self {
            Writer::Files { open, .. } => open.contains_key(&c),
            Writer::Ndjson { lines, .. } => lines.is_open(c),
        }
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("format", &self.options.format)
            .field("target", &self.shown())
            .field("open", &self.open_collections())
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
        // Checked again under the lock: a run that just finished may have published.
        let existed = target.check()?;
        let dir = target.staging_dir()?;
        Ok(Staged {
            target,
            dir,
            _lock: lock,
            existed,
            previous: None,
        })
    }

    /// The earlier output as a local path, read back once (a remote one is downloaded into a
    /// private copy); `None` when there was none.
    fn previous(&mut self) -> Result<Option<&Path>, ExportError> {
        if self.existed && self.previous.is_none() {
            self.previous = self.target.previous()?;
        }
        Ok(self.previous.as_ref().map(PreviousOutput::path))
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
                lines: Lines::new(Ndjson::stdout(), None, planned),
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
            (Some(location), Format::Ndjson) => {
                let staged = Staged::prepare(&location, Format::Ndjson, &opts.remote)?;
                let dir = staged.dir.path().to_path_buf();
                let stream = Ndjson::file(dir.join(&staged.target.name))?;
                Writer::Ndjson {
                    staged: Some(staged),
                    lines: Lines::new(stream, Some(dir), planned),
                }
            }
            (Some(location), format) => Writer::Files {
                staged: Staged::prepare(&location, format, &opts.remote)?,
                open: HashMap::new(),
            },
        };
        Ok(Bundle {
            options: opts.clone(),
            planned: planned.to_vec(),
            writer,
            changing: HashMap::new(),
            merged: HashMap::new(),
            finished: Vec::new(),
            fingerprint: false,
        })
    }

    /// Whether collection `c` is begun and neither finished nor abandoned.
    fn is_open(&self, c: CollectionId) -> bool {
        self.writer.is_open(c) || self.changing.contains_key(&c) || self.merged.contains_key(&c)
    }

    /// The collections open for writing.
    fn open_collections(&self) -> Vec<CollectionId> {
        self.planned
            .iter()
            .copied()
            .filter(|c| self.is_open(*c))
            .collect()
    }

    /// Whether there is an earlier output that changes can be applied to.
    pub fn has_previous(&self) -> bool {
        self.writer.staged().is_some_and(|s| s.existed)
    }

    /// A hash of the output now at the target (see `fingerprint`); `None` when there is none or
    /// the output is standard output.
    pub fn previous_fingerprint(&mut self) -> Result<Option<String>, ExportError> {
        let Some(staged) = self.writer.staged_mut() else {
            return Ok(None);
        };
        let shape = staged.target.shape;
        match staged.previous()? {
            Some(path) => {
                super::fingerprint::of(shape, path).map_err(ExportError::io("reading", path))
            }
            None => Ok(None),
        }
    }

    /// Asks `publish` for a hash of what it published (for the incremental state).
    pub fn fingerprint_on_publish(&mut self) {
        self.fingerprint = true;
    }

    fn row_options(&self) -> RowOptions {
        RowOptions {
            include_passwords: self.options.include_passwords,
            delta: self.options.delta,
        }
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
        let Writer::Files { staged, .. } = &self.writer else {
            return Vec::new();
        };
        let names: Vec<String> = match self.options.format {
            Format::Csv => std::iter::once(c.info().csv_file)
                .chain(c.info().association_file)
                .map(CsvFile::file_name)
                .collect(),
            _ => vec![JsonFile::file_name(c)],
        };
        names
            .into_iter()
            .map(|n| staged.dir.path().join(n))
            .collect()
    }

    fn check_new(&self, c: CollectionId) -> Result<(), ExportError> {
        if self.is_open(c) {
            return Err(sequence(&self.shown(), c, "was begun twice"));
        }
        if self.finished.iter().any(|o| o.collection == c) {
            return Err(sequence(&self.shown(), c, "was already written"));
        }
        Ok(())
    }

    /// Starts receiving the changes of collection `c` (an incremental run): pages go to private
    /// delta files until [`Bundle::apply_changes`]. On standard output the changes are the output,
    /// and this is [`Bundle::begin_collection`].
    pub fn begin_changes(&mut self, c: CollectionId) -> Result<(), ExportError> {
        self.check_new(c)?;
        let Some(staged) = self.writer.staged() else {
            return self.begin_collection(c);
        };
        if !staged.existed {
            return Err(sequence(
                &self.shown(),
                c,
                "has no earlier output to apply changes to",
            ));
        }
        let dir = staged.dir.path().join(".delta").join(c.name());
        let changing = Changing::create(
            &dir,
            &staged.target.path,
            c,
            self.options.format,
            self.association(c),
            self.row_options(),
        )?;
        self.changing.insert(c, changing);
        Ok(())
    }

    /// Applies the changes received for `c` to the previous output's files of `c`. Returns the
    /// rows (CSV) or records the result holds, for the caller to check against the host's count
    /// before it finishes (or abandons) the collection.
    pub fn apply_changes(&mut self, c: CollectionId) -> Result<u64, ExportError> {
        let (Some(changing), Some(staged)) = (self.changing.remove(&c), self.writer.staged_mut())
        else {
            return Err(self.not_open(c, "cannot apply changes"));
        };
        let shape = staged.target.shape;
        let out = staged.dir.path().to_path_buf();
        let Some(path) = staged.previous()? else {
            return Err(sequence(
                &staged.target.path,
                c,
                "has no earlier output to apply changes to",
            ));
        };
        let merged = changing.apply(Previous { shape, path }, &out)?;
        let rows = merged.output.rows;
        self.merged.insert(c, merged);
        Ok(rows)
    }

    /// Starts writing collection `c` (its files are created, with their header rows).
    pub fn begin_collection(&mut self, c: CollectionId) -> Result<(), ExportError> {
        self.check_new(c)?;
        let association = self.association(c);
        let format = self.options.format;
        let rows = self.row_options();
        match &mut self.writer {
            Writer::Files { staged, open } => {
                let dir = staged.dir.path();
                let writer = match format {
                    Format::Csv => FileWriter::Csv(Box::new(CsvCollection::create(
                        dir,
                        &staged.target.path,
                        c,
                        association,
                        rows,
                    )?)),
                    _ => FileWriter::Json(JsonFile::create(dir, c)?),
                };
                open.insert(c, writer);
            }
            Writer::Ndjson { lines, .. } => lines.begin(c)?,
        }
        Ok(())
    }

    fn not_open(&self, c: CollectionId, what: &str) -> ExportError {
        sequence(&self.shown(), c, format!("{what}: it is not open"))
    }

    /// Writes a page of an open collection, records in page order.
    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        let c = page.collection;
        if !self.is_open(c) {
            return Err(self.not_open(c, "a page arrived"));
        }
        if let Some(changing) = self.changing.get_mut(&c) {
            return changing.write_page(page);
        }
        match &mut self.writer {
            Writer::Files { open, .. } => match open.get_mut(&c) {
                Some(w) => w.write_page(page),
                None => Ok(()),
            },
            Writer::Ndjson { lines, .. } => lines.write_page(c, page),
        }
    }

    /// Completes collection `c`: its files are flushed and fsynced, and it will be `bulk` in the
    /// manifest.
    pub fn finish_collection(&mut self, c: CollectionId) -> Result<CollectionOutput, ExportError> {
        if let Some(merged) = self.merged.remove(&c) {
            if let (Some((stream, path)), Writer::Ndjson { lines, .. }) =
                (merged.lines, &mut self.writer)
            {
                lines.add_finished(c, stream, path)?;
            }
            self.finished.push(merged.output.clone());
            return Ok(merged.output);
        }
        if self.changing.contains_key(&c) {
            return Err(sequence(
                &self.shown(),
                c,
                "cannot finish before its changes are applied",
            ));
        }
        if !self.writer.is_open(c) {
            return Err(self.not_open(c, "cannot finish"));
        }
        let output = match &mut self.writer {
            Writer::Files { open, .. } => match open.remove(&c) {
                Some(w) => w.finish()?,
                None => return Err(self.not_open(c, "cannot finish")),
            },
            Writer::Ndjson { lines, .. } => {
                let records = lines.finish(c)?;
                CollectionOutput {
                    collection: c,
                    records,
                    rows: records,
                    dropped_deleted: 0,
                    files: Vec::new(),
                }
            }
        };
        self.finished.push(output.clone());
        Ok(output)
    }

    /// Gives up on collection `c` (open or finished): its files are removed and the manifest
    /// says `absent`. NDJSON lines already sent to stdout cannot be taken back; in an NDJSON
    /// file, or while they wait their turn, they are.
    pub fn abandon_collection(&mut self, c: CollectionId) -> Result<(), ExportError> {
        let was_finished = self.finished.iter().position(|o| o.collection == c);
        if let Some(changing) = self.changing.remove(&c) {
            changing.abandon()?;
        }
        if let Some(Merged {
            lines: Some((stream, path)),
            ..
        }) = self.merged.remove(&c)
        {
            drop(stream);
            remove_staged(&path)?;
        }
        match &mut self.writer {
            // Closing the writers is enough; the files go below.
            Writer::Files { open, .. } => drop(open.remove(&c)),
            Writer::Ndjson { lines, .. } => {
                if !lines.abandon(c)? {
                    return Err(sequence(
                        &self.shown(),
                        c,
                        "is already in the NDJSON stream and cannot be taken back",
                    ));
                }
            }
        }
        if let Some(i) = was_finished {
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
        if let Some(&open) = self.open_collections().first() {
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
            fingerprint,
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
        let mut validation = None;
        let staged = match writer {
            Writer::Files { staged, .. } if options.format == Format::Csv => {
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
                entries.extend(files.iter().map(|f| f.name.clone()));
                remove_strays(staged.dir.path(), &entries)?;
                validation = validate(&staged, options.validate)?;
                staged
            }
            Writer::Files { staged, .. } => {
                for c in COLLECTIONS.iter() {
                    files.extend(written(&JsonFile::file_name(c.id)));
                }
                entries.extend(files.iter().map(|f| f.name.clone()));
                remove_strays(staged.dir.path(), &entries)?;
                staged
            }
            Writer::Ndjson { staged, lines } => {
                let stream = lines.finish_all()?;
                let Some(staged) = staged else {
                    return Ok(PublishReport {
                        path: None,
                        format: options.format,
                        files: Vec::new(),
                        absent: Vec::new(),
                        changes: Default::default(),
                        replaced: false,
                        collections: finished,
                        warnings: Vec::new(),
                        validation: None,
                        fingerprint: None,
                    });
                };
                files.push(FileRows {
                    name: staged.target.name.to_string_lossy().into_owned(),
                    rows: stream.lines,
                });
                staged
            }
        };
        let Staged {
            target,
            dir,
            _lock,
            previous,
            ..
        } = staged;
        // Checked again: the target may have changed during a long run.
        let existed = target.check()?;
        // A delta bundle is not comparable with the bulk one it replaces.
        let comparison = if existed && !options.delta {
            // A remote output is read back into a private copy (once a run).
            let previous = match previous {
                Some(previous) => Some(previous),
                None => target.previous()?,
            };
            match &previous {
                Some(p) => {
                    super::changes::compare(&target, p.path(), dir.path(), &files, options.format)?
                }
                None => Default::default(),
            }
        } else {
            Default::default()
        };
        if let (true, false, Some(limit)) = (existed, options.delta, options.max_shrink) {
            super::shrink::check(&target, &files, &comparison.previous, limit)?;
        }
        // Hashed from the staging folder: what is published (or uploaded) is these files.
        let fingerprint = if fingerprint {
            let (shape, path) = match target.shape {
                Shape::File => (Shape::File, dir.path().join(&target.name)),
                _ => (Shape::Folder, dir.path().to_path_buf()),
            };
            super::fingerprint::of(shape, &path).map_err(ExportError::io("reading", &path))?
        } else {
            None
        };
        let warnings = match target.shape {
            Shape::Folder => target.publish_folder(dir, existed)?,
            Shape::Zip => target
                .publish_zip(dir.path(), &entries, options.zip_level)
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
            changes: comparison.changes,
            replaced: existed,
            collections: finished,
            warnings,
            validation,
            fingerprint,
        })
    }
}

/// Checks the staged CSV bundle as `roster-export validate` would: problems are logged, and under
/// `--validate error` they stop the publish. Returns the summary line when it checked.
fn validate(staged: &Staged, mode: ValidateMode) -> Result<Option<String>, ExportError> {
    if mode == ValidateMode::Off {
        return Ok(None);
    }
    let options = crate::validate::Options { max_per_rule: 5 };
    let report = crate::validate::check_dir(staged.dir.path(), &options)
        .map_err(|e| ExportError::Internal(format!("validating the staged bundle: {e}")))?;
    let summary = report.summary();
    if report.is_clean() {
        tracing::debug!("validated the bundle: {summary}");
        return Ok(Some(summary));
    }
    for line in report.to_string().lines() {
        tracing::warn!(target_path = %staged.target.path.display(), "validation: {line}");
    }
    match mode {
        ValidateMode::Error => Err(ExportError::Invalid {
            path: staged.target.path.clone(),
            summary,
        }),
        _ => Ok(Some(summary)),
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
        } else if options.delta {
            "delta"
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
        if keep.iter().any(|k| name.to_str() == Some(k)) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path).map_err(ExportError::io("removing", &path))?;
        } else {
            remove_staged(&path)?;
        }
    }
    Ok(())
}
