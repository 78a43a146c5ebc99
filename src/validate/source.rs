//! Where a bundle's files are read from: a folder or a zip, entry by entry, streamed (a zip entry
//! is inflated as it is read, never held whole).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use zip::ZipArchive;
use zip::result::ZipError;

/// Why a bundle could not be checked at all (as opposed to the problems in it).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    /// Neither a folder nor a readable zip.
    #[error("{path}: not a zip file or a folder ({reason})")]
    NotABundle { path: PathBuf, reason: String },
    /// [`check_dir`](super::check_dir) was given something else than a folder.
    #[error("{path}: not a folder")]
    NotAFolder { path: PathBuf },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: ZipError,
    },
}

/// What an entry of the bundle is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    /// A file, named as inside the bundle (`users.csv`, `district/users.csv`).
    File(String),
    /// A folder inside a folder bundle.
    Folder(String),
}

/// An opened bundle.
pub(super) enum Source {
    Dir(PathBuf),
    Zip {
        path: PathBuf,
        archive: Box<ZipArchive<BufReader<File>>>,
    },
}

const READ_BUFFER: usize = 256 * 1024;

impl Source {
    /// Opens `path`: a folder, or anything else as a zip.
    pub fn open(path: &Path) -> Result<Source, ValidateError> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ValidateError::NotFound {
                path: path.to_path_buf(),
            },
            _ => read_error(path)(e),
        })?;
        if meta.is_dir() {
            return Source::dir(path);
        }
        let file = File::open(path).map_err(read_error(path))?;
        let archive =
            ZipArchive::new(BufReader::with_capacity(READ_BUFFER, file)).map_err(|e| match e {
                ZipError::Io(source) => read_error(path)(source),
                other => ValidateError::NotABundle {
                    path: path.to_path_buf(),
                    reason: other.to_string(),
                },
            })?;
        Ok(Source::Zip {
            path: path.to_path_buf(),
            archive: Box::new(archive),
        })
    }

    /// A folder bundle; fails unless `path` is a folder.
    pub fn dir(path: &Path) -> Result<Source, ValidateError> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(Source::Dir(path.to_path_buf())),
            Ok(_) => Err(ValidateError::NotAFolder {
                path: path.to_path_buf(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ValidateError::NotFound {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(read_error(path)(e)),
        }
    }

    /// The bundle's entries, in name order. Folder entries of a zip are left out: the files in
    /// them name them.
    pub fn entries(&self) -> Result<Vec<Entry>, ValidateError> {
        let mut entries = Vec::new();
        match self {
            Source::Dir(dir) => {
                for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
                    let entry = entry.map_err(read_error(dir))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // Follows symbolic links, as a consumer reading the folder would.
                    let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
                    entries.push(if is_dir {
                        Entry::Folder(name)
                    } else {
                        Entry::File(name)
                    });
                }
            }
            Source::Zip { path, archive } => {
                for name in archive.file_names() {
                    let name = name.map_err(zip_error(path))?;
                    if !name.ends_with('/') {
                        entries.push(Entry::File(name.into_owned()));
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(entries)
    }

    /// Streams the file `name` of the bundle.
    pub fn read(&mut self, name: &str) -> Result<Box<dyn Read + '_>, ValidateError> {
        match self {
            Source::Dir(dir) => {
                let path = dir.join(name);
                let file = File::open(&path).map_err(read_error(&path))?;
                Ok(Box::new(file))
            }
            Source::Zip { path, archive } => {
                let entry = archive
                    .by_name(name)
                    .map_err(|e| zip_error(&path.join(name))(e))?;
                Ok(Box::new(entry))
            }
        }
    }

    /// The file `name` as shown in errors: the folder's file, or the zip's path and the entry.
    pub fn shown(&self, name: &str) -> PathBuf {
        match self {
            Source::Dir(dir) | Source::Zip { path: dir, .. } => dir.join(name),
        }
    }
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::File(name) | Entry::Folder(name) => name,
        }
    }
}

fn read_error(path: &Path) -> impl FnOnce(io::Error) -> ValidateError {
    let path = path.to_path_buf();
    move |source| ValidateError::Read { path, source }
}

fn zip_error(path: &Path) -> impl FnOnce(ZipError) -> ValidateError {
    let path = path.to_path_buf();
    move |source| match source {
        ZipError::Io(source) => ValidateError::Read { path, source },
        source => ValidateError::Zip { path, source },
    }
}
