//! Safe output: a private staging folder beside the target (or, for a remote target, in the
//! output's private work folder), a lock against overlapping runs kept in the user's runtime
//! folder, checks that we only ever replace our own earlier output, and the atomic publish (fsync,
//! rename or exchange, fsync of the parent folder; or an atomic upload).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tempfile::{NamedTempFile, TempDir};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::Format;
use super::error::ExportError;
use crate::storage::{Location, OutputLock, PreviousOutput, Remote, RemoteOptions};
use oneroster::{COLLECTIONS, CsvFile};

/// What the target is once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A folder of files (CSV bundle or JSON files).
    Folder,
    /// A zip of those files.
    Zip,
    /// One file (NDJSON).
    File,
}

/// The output, split into the folder it lives in and its name. For a remote output, `path` is
/// the URL (for messages only), `parent` its private local work folder, and `remote` the store.
#[derive(Debug)]
pub(super) struct Target {
    pub path: PathBuf,
    pub parent: PathBuf,
    pub name: OsString,
    pub shape: Shape,
    pub location: Location,
    pub remote: Option<Remote>,
}

/// Creates a new file readable by its owner only (0600), failing if the name is taken.
pub(super) fn create_private(path: &Path) -> Result<File, ExportError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(ExportError::io("creating", path))
}

/// fsyncs a folder, so the names created or renamed in it survive a crash.
pub(super) fn sync_dir(path: &Path) -> Result<(), ExportError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(ExportError::io("syncing the folder", path))
}

impl Target {
    /// Splits the output and decides the shape: NDJSON is one file; CSV and JSON are a zip when
    /// the name ends in `.zip` (any case), a folder otherwise. A remote output must be a file.
    pub fn resolve(
        location: &Location,
        format: Format,
        options: &RemoteOptions,
    ) -> Result<Target, ExportError> {
        let (path, name) = match location {
            Location::Local(path) => (path.clone(), path.file_name().map(OsString::from)),
            Location::Remote(url) => (
                PathBuf::from(url.to_string()),
                Some(OsString::from(url.name())),
            ),
        };
        let usage = |message: String| ExportError::Usage {
            target: path.clone(),
            message,
        };
        let name =
            name.ok_or_else(|| usage("the output path must end in a file or folder name".into()))?;
        let shape = match format {
            Format::Ndjson => Shape::File,
            _ if name
                .to_string_lossy()
                .to_ascii_lowercase()
                .ends_with(".zip") =>
            {
                Shape::Zip
            }
            _ => Shape::Folder,
        };
        let (parent, remote) = match location {
            Location::Local(_) => (local_parent(&path)?, None),
            Location::Remote(_) if shape == Shape::Folder => {
                return Err(usage(format!(
                    "{format} output is a folder of files, which a remote store cannot replace \
                     atomically; name the output ….zip (or use --format ndjson)"
                )));
            }
            Location::Remote(url) => {
                let remote = Remote::new(url.clone(), options.clone())?;
                (crate::storage::work_folder(&location.key())?, Some(remote))
            }
        };
        Ok(Target {
            path,
            parent,
            name,
            shape,
            location: location.clone(),
            remote,
        })
    }

    /// A hidden name beside the target: `.<name><suffix>`.
    fn sibling(&self, suffix: &str) -> OsString {
        let mut s = OsString::from(".");
        s.push(&self.name);
        s.push(suffix);
        s
    }

    /// Looks at what is at the target now. Returns whether there is something to replace, or
    /// refuses when it is not output of ours (or has the wrong shape). Changes nothing.
    pub fn check(&self) -> Result<bool, ExportError> {
        let refuse = |reason: &str| ExportError::Refused {
            path: self.path.clone(),
            reason: reason.to_string(),
        };
        if let Some(remote) = &self.remote {
            return match remote.head()? {
                None => Ok(false),
                Some(head) => ours(self.shape, &head)
                    .map(|()| true)
                    .map_err(|r| refuse(&r)),
            };
        }
        let meta = match fs::symlink_metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ExportError::io("inspecting", &self.path)(e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(refuse("it is a symbolic link; give the path it points to"));
        }
        match self.shape {
            Shape::Folder if kind.is_file() => Err(refuse(
                "it is a file, and this output is a folder (name the output `….zip` to write a zip)",
            )),
            Shape::Folder if !kind.is_dir() => Err(refuse("it is not a folder")),
            Shape::Folder => match foreign_content(&self.path)? {
                None => Ok(true),
                Some(reason) => Err(refuse(&reason)),
            },
            _ if kind.is_dir() => Err(refuse("it is a folder, and this output is a single file")),
            _ if !kind.is_file() => Err(refuse("it is not a regular file")),
            shape => {
                let mut head = Vec::with_capacity(crate::storage::HEAD_BYTES);
                File::open(&self.path)
                    .and_then(|f| {
                        f.take(crate::storage::HEAD_BYTES as u64)
                            .read_to_end(&mut head)
                    })
                    .map_err(ExportError::io("reading", &self.path))?;
                ours(shape, &head).map(|()| true).map_err(|r| refuse(&r))
            }
        }
    }

    /// The output as it is now, as a local path: itself, or a private copy of a remote output
    /// (removed when the returned value is dropped). `None` when there is none.
    pub fn previous(&self) -> Result<Option<PreviousOutput>, ExportError> {
        match &self.remote {
            Some(remote) => Ok(remote.previous(&self.parent)?),
            None => Ok(crate::storage::previous_output(
                &self.location,
                &RemoteOptions::default(),
            )?),
        }
    }

    /// Takes the exclusive lock of this output (a file in the user's runtime folder, nothing
    /// beside the output) for as long as the returned lock lives. Holding it, clears what runs
    /// that died without cleaning up (SIGKILL, power loss) left beside the target: their staging
    /// folders and temporary zips, which no live run can own.
    pub fn lock(&self) -> Result<OutputLock, ExportError> {
        let lock =
            OutputLock::try_acquire(&self.location.key())?.map_err(|lock| ExportError::Locked {
                path: self.path.clone(),
                lock,
            })?;
        if self.remote.is_none() {
            self.clear_old_lock_file()?;
        }
        self.remove_stale()?;
        Ok(lock)
    }

    /// Removes `.<name>.staging-*` leftovers, and the `.<name>.lock` file older versions kept
    /// beside the output when no run of such a version holds it.
    fn remove_stale(&self) -> Result<(), ExportError> {
        let prefix = self.sibling(".staging-");
        let prefix = prefix.as_encoded_bytes();
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.parent).map_err(ExportError::io("reading", &self.parent))? {
            let entry = entry.map_err(ExportError::io("reading", &self.parent))?;
            if !entry.file_name().as_encoded_bytes().starts_with(prefix) {
                continue;
            }
            let path = entry.path();
            let gone = match entry.file_type() {
                Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            gone.map_err(ExportError::io("removing the leftover", &path))?;
            removed.push(path);
        }
        if !removed.is_empty() {
            tracing::warn!(
                "removed {} leftover staging item(s) of {} from an earlier run that did not \
                 finish: {}",
                removed.len(),
                self.path.display(),
                removed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }

    /// Removes `.<name>.lock`, which versions before the runtime-folder lock left beside the
    /// output; while a run of such a version holds it, this run is refused as overlapping (its
    /// staging folder must not be taken for a leftover).
    fn clear_old_lock_file(&self) -> Result<(), ExportError> {
        let path = self.parent.join(self.sibling(".lock"));
        let Ok(file) = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
        else {
            return Ok(());
        };
        if file.try_lock().is_err() {
            return Err(ExportError::Locked {
                path: self.path.clone(),
                lock: path,
            });
        }
        if fs::remove_file(&path).is_ok() {
            tracing::info!(
                "removed {}, the lock file of an older version",
                path.display()
            );
        }
        Ok(())
    }

    /// Creates the private (0700) staging folder `.<name>.staging-XXXXXX` beside the target.
    pub fn staging_dir(&self) -> Result<TempDir, ExportError> {
        let prefix = self.sibling(".staging-");
        tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(&self.parent)
            .map_err(|e| unwritable(&self.parent, e))
    }

    /// Moves a staged folder into place: a rename when nothing is there, an atomic exchange with
    /// the previous bundle when one is (then the previous copy is removed). Returns warnings.
    pub fn publish_folder(
        &self,
        staging: TempDir,
        existed: bool,
    ) -> Result<Vec<String>, ExportError> {
        sync_dir(staging.path())?;
        let staged = staging.keep();
        // Until the staged folder has moved, it is ours to remove on the way out.
        let mut cleanup = RemoveOnDrop(Some(staged.clone()));
        let previous = if existed {
            match exchange(&staged, &self.path) {
                Ok(()) => staged.clone(),
                Err(e) if exchange_unsupported(&e) => self.swap_by_renames(&staged)?,
                Err(e) => {
                    return Err(ExportError::io("swapping the new bundle into", &self.path)(
                        e,
                    ));
                }
            }
        } else {
            fs::rename(&staged, &self.path).map_err(ExportError::io(
                "moving the bundle into place at",
                &self.path,
            ))?;
            cleanup.0 = None;
            return sync_dir(&self.parent).map(|()| Vec::new());
        };
        // The staged path is the new bundle's now; what is left to remove is the previous one.
        cleanup.0 = None;
        let synced = sync_dir(&self.parent);
        let mut warnings = Vec::new();
        if let Err(e) = fs::remove_dir_all(&previous) {
            warnings.push(format!(
                "the previous bundle was replaced but its old copy at {} could not be removed: {e}",
                previous.display()
            ));
        }
        synced.map(|()| warnings)
    }

    /// The fallback where `RENAME_EXCHANGE` is missing: previous aside, new in, and back on
    /// failure. Returns where the previous bundle now is.
    pub(super) fn swap_by_renames(&self, staged: &Path) -> Result<PathBuf, ExportError> {
        let suffix = staged
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .rsplit('-')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        let aside = self
            .parent
            .join(self.sibling(&format!(".previous-{suffix}")));
        fs::rename(&self.path, &aside).map_err(ExportError::io(
            "moving the previous bundle aside from",
            &self.path,
        ))?;
        if let Err(e) = fs::rename(staged, &self.path) {
            let _ = fs::rename(&aside, &self.path);
            return Err(ExportError::io(
                "moving the bundle into place at",
                &self.path,
            )(e));
        }
        Ok(aside)
    }

    /// Zips `entries` (names in `dir`, in the order given) into a private temporary file beside the
    /// target, then renames it over the target (or uploads it). Entries carry a fixed timestamp
    /// and mode, so the same input gives the same bytes.
    pub fn publish_zip(
        &self,
        dir: &Path,
        entries: &[String],
        level: u32,
    ) -> Result<(), ExportError> {
        let started = Instant::now();
        let zip = self.build_zip(dir, entries, level)?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "zipped {}",
            self.path.display()
        );
        if let Some(remote) = &self.remote {
            return self.upload(remote, zip.path());
        }
        zip.persist(&self.path)
            .map_err(|e| ExportError::io("moving the zip into place at", &self.path)(e.error))?;
        sync_dir(&self.parent)
    }

    /// Uploads the finished file `from` to the remote target, and says how long it took.
    fn upload(&self, remote: &Remote, from: &Path) -> Result<(), ExportError> {
        let started = Instant::now();
        remote.upload(from)?;
        let bytes = fs::metadata(from).map(|m| m.len()).unwrap_or_default();
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            bytes,
            seconds,
            "uploaded {} ({bytes} bytes) in {seconds:.2} s",
            self.path.display()
        );
        Ok(())
    }

    /// The zip of `entries`, in a private temporary file beside the target, fsynced.
    fn build_zip(
        &self,
        dir: &Path,
        entries: &[String],
        level: u32,
    ) -> Result<NamedTempFile, ExportError> {
        let prefix = self.sibling(".staging-");
        let mut tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".zip")
            .tempfile_in(&self.parent)
            .map_err(ExportError::io("creating a temporary zip in", &self.parent))?;
        let zip_err = |source| ExportError::Zip {
            path: self.path.clone(),
            source,
        };
        let write_err = ExportError::io("writing", tmp.path().to_path_buf());
        {
            let mut zip = ZipWriter::new(BufWriter::with_capacity(256 * 1024, tmp.as_file_mut()));
            for name in entries {
                let path = dir.join(name);
                let mut src = File::open(&path).map_err(ExportError::io("reading", &path))?;
                let len = src
                    .metadata()
                    .map_err(ExportError::io("reading", &path))?
                    .len();
                let (method, level) = match level {
                    0 => (CompressionMethod::Stored, None),
                    n => (CompressionMethod::Deflated, Some(i64::from(n.min(9)))),
                };
                let options = SimpleFileOptions::default()
                    .compression_method(method)
                    .compression_level(level)
                    .last_modified_time(zip::DateTime::default())
                    .unix_permissions(0o600)
                    .large_file(len >= u64::from(u32::MAX));
                zip.start_file(name.as_str(), options).map_err(zip_err)?;
                io::copy(&mut src, &mut zip).map_err(ExportError::io("zipping", &path))?;
            }
            let mut out = zip.finish().map_err(zip_err)?;
            if let Err(e) = out.flush() {
                return Err(write_err(e));
            }
        }
        tmp.as_file()
            .sync_all()
            .map_err(ExportError::io("syncing", tmp.path().to_path_buf()))?;
        Ok(tmp)
    }

    /// Renames a finished staged file over the target (or uploads it).
    pub fn publish_file(&self, staged: &Path) -> Result<(), ExportError> {
        if let Some(remote) = &self.remote {
            return self.upload(remote, staged);
        }
        fs::rename(staged, &self.path)
            .map_err(ExportError::io("moving the file into place at", &self.path))?;
        sync_dir(&self.parent)
    }
}

/// Whether the first bytes of an existing file say it is earlier output of ours in `shape`: empty,
/// a zip, or NDJSON lines as we write them. Otherwise the reason to refuse.
fn ours(shape: Shape, head: &[u8]) -> Result<(), String> {
    let (magic, what): (&[u8], _) = if shape == Shape::Zip {
        (b"PK", "a zip")
    } else {
        (b"{\"collection\":", "NDJSON written by roster-export")
    };
    if head.is_empty() || head.starts_with(magic) {
        Ok(())
    } else {
        Err(format!("it is not {what}"))
    }
}

/// Why nothing can be created in `folder`, said as the next step; other failures as they are.
fn unwritable(folder: &Path, e: io::Error) -> ExportError {
    const ELSEWHERE: &str = "choose an --out in a folder this user can write";
    let (why, next) = match e.kind() {
        io::ErrorKind::PermissionDenied => (
            "permission denied",
            "give this user write access to the folder, or choose another --out",
        ),
        io::ErrorKind::ReadOnlyFilesystem => ("the file system is read-only", ELSEWHERE),
        // The folder exists (checked first), yet a new entry in it is "not found": a virtual
        // file system such as /proc or /sys.
        io::ErrorKind::NotFound => (
            "it does not take new files (a system folder such as /proc?)",
            ELSEWHERE,
        ),
        _ => return ExportError::io("creating a staging folder in", folder)(e),
    };
    ExportError::Unwritable {
        folder: folder.to_path_buf(),
        why,
        next,
    }
}

/// The folder a local output lives in, which must exist.
fn local_parent(path: &Path) -> Result<PathBuf, ExportError> {
    let usage = |message: String| ExportError::Usage {
        target: path.to_path_buf(),
        message,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&parent) {
        Ok(m) if m.is_dir() => Ok(parent),
        Ok(_) => Err(usage(format!("{} is not a folder", parent.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(usage(format!(
            "the folder {} does not exist; create it first",
            parent.display()
        ))),
        Err(e) => Err(ExportError::io("inspecting", &parent)(e)),
    }
}

/// `None` when a folder may be replaced: it is empty, or it holds only what a CSV bundle (with
/// manifest.csv) or a JSON bundle of ours holds. Otherwise the reason to refuse.
fn foreign_content(dir: &Path) -> Result<Option<String>, ExportError> {
    let csv_names: Vec<String> = CsvFile::ALL.iter().map(|f| f.file_name()).collect();
    let json_names: Vec<String> = COLLECTIONS
        .iter()
        .map(|c| format!("{}.json", c.name))
        .collect();
    let (mut any, mut has_manifest, mut all_csv, mut all_json) = (false, false, true, true);
    let mut foreign = None;
    let read_err = ExportError::io("reading", dir);
    for entry in fs::read_dir(dir).map_err(ExportError::io("reading", dir))? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Err(read_err(e)),
        };
        any = true;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let name = entry.file_name();
        let name = name.to_str().filter(|_| is_file);
        let manifest = name == Some("manifest.csv");
        let csv = manifest || name.is_some_and(|n| csv_names.iter().any(|c| c == n));
        let json = name.is_some_and(|n| json_names.iter().any(|j| j == n));
        has_manifest |= manifest;
        all_csv &= csv;
        all_json &= json;
        if !csv && !json && foreign.is_none() {
            foreign = Some(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(if !any || (all_csv && has_manifest) || all_json {
        None
    } else if let Some(name) = foreign {
        Some(format!(
            "it holds `{name}`, which is not part of a bundle written by roster-export; \
             move it away or choose another output path"
        ))
    } else {
        Some(
            "it does not look like a bundle written by roster-export (a CSV bundle has \
             manifest.csv, a JSON bundle only <collection>.json files)"
                .to_string(),
        )
    })
}

/// Swaps two paths atomically (`renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (a, b);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Whether the exchange failed because the system or file system cannot do it.
fn exchange_unsupported(e: &io::Error) -> bool {
    use rustix::io::Errno;
    e.kind() == io::ErrorKind::Unsupported
        || [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP]
            .iter()
            .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Removes a folder when dropped, unless disarmed by setting it to `None`.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}
