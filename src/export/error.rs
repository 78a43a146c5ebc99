//! What can go wrong while writing output; every error names the path it concerns.

use std::io;
use std::path::PathBuf;

use oneroster::CollectionId;

/// An output failure. The message names the file or folder, and for bad records the collection,
/// record index and sourcedId.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output cannot be written as asked (CSV to stdout, a path with no file name, …).
    #[error("{target}: {message}")]
    Usage { target: PathBuf, message: String },

    /// The target exists and is not something this tool may replace.
    #[error("refusing to replace {path}: {reason}; nothing was changed")]
    Refused { path: PathBuf, reason: String },

    /// Another run holds the output's lock (a file in the user's runtime folder).
    #[error(
        "{path} is being written by another roster-export run (lock {lock} is held); \
         try again when it has finished"
    )]
    Locked { path: PathBuf, lock: PathBuf },

    /// The output's folder does not take new files (permissions, a read-only or virtual file
    /// system); found before anything is downloaded.
    #[error("cannot write to {folder}: {why}; {next}")]
    Unwritable {
        folder: PathBuf,
        why: &'static str,
        next: &'static str,
    },

    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Writing to standard output failed; a broken pipe (`| head`) is not worth a message.
    #[error("writing to standard output: {source}")]
    Stdout {
        #[source]
        source: io::Error,
    },

    /// A record could not be turned into a CSV row.
    #[error("{path}: {collection} record {index} (sourcedId `{sourced_id}`): `{field}` {detail}")]
    Record {
        path: PathBuf,
        collection: CollectionId,
        /// The record's position in the collection: the page offset plus its index on the page.
        index: u64,
        sourced_id: String,
        field: &'static str,
        detail: String,
    },

    /// A file would hold far fewer records than the one it replaces (the shrink guard).
    #[error(
        "refusing to publish {path}: {file} would fall from {old} to {new} records, more than the \
         {limit_percent}% that --max-shrink allows; the previous output is kept (if the drop is real, \
         run again with --max-shrink off or a larger percentage)"
    )]
    Shrink {
        path: PathBuf,
        file: String,
        old: u64,
        new: u64,
        limit_percent: u64,
    },

    /// The staged CSV bundle failed its checks under `--validate error`.
    #[error(
        "refusing to publish {path}: the bundle fails validation ({summary}); the previous output \
         is kept (the problems are logged above; --validate warn publishes anyway)"
    )]
    Invalid { path: PathBuf, summary: String },

    /// Building the zip failed.
    #[error("building the zip {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },

    /// A remote output (or the private folders for it) failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),

    /// Something outside the bundle failed on its behalf (e.g. the writer thread went away).
    #[error("{0}")]
    Internal(String),

    /// The calls came in an order the bundle cannot follow (a bug in the caller).
    #[error("{path}: {collection}: {detail}")]
    Sequence {
        path: PathBuf,
        collection: CollectionId,
        detail: String,
    },
}

impl ExportError {
    /// Stdout was closed by its reader (`roster-export … | head`): stop quietly, exit 0.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ExportError::Stdout { source } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// The shrink guard refused to publish: a data problem (exit 4), not an output failure.
    pub fn is_shrink(&self) -> bool {
        matches!(self, ExportError::Shrink { .. })
    }

    /// The bundle failed validation: a data error (exit 4).
    pub fn is_invalid(&self) -> bool {
        matches!(self, ExportError::Invalid { .. })
    }

    /// A record the server sent could not be mapped: a data error (exit 4), not an output failure.
    pub fn is_bad_record(&self) -> bool {
        matches!(self, ExportError::Record { .. })
    }

    /// The request itself was wrong (exit code 2 rather than an output failure).
    pub fn is_usage(&self) -> bool {
        match self {
            ExportError::Usage { .. } => true,
            ExportError::Storage(e) => e.is_usage(),
            _ => false,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Io {
            action,
            path,
            source,
        }
    }
}
