//! Output formats: the OneRoster CSV bundle, JSON files, NDJSON; staging and atomic publish.
//!
//! A [`Bundle`] is created before the first request. Everything it writes goes to a private
//! staging folder beside the target (`.<name>.staging-XXXXXX`, 0700, files 0600; for a remote
//! target, in the output's private work folder) while a lock in the user's runtime folder keeps a
//! second run out (see `crate::storage`). [`Bundle::publish`] writes `manifest.csv`, fsyncs, and
//! renames (or, over a previous bundle, atomically exchanges) the result into place, or uploads
//! it atomically; dropping the bundle instead removes the staging folder and leaves the previous
//! output untouched. A run killed outright leaves its staging folder; the next run for the same
//! output removes it once it holds the lock.
//!
//! The CSV binding is bulk mode (docs/oneroster-notes.md §7.4): `status` and `dateLastModified` are blank,
//! records marked `tobedeleted` (or 1.0's `inactive`) are left out, and a file is `bulk` in the
//! manifest only when its collection finished.
//!
//! Choices worth knowing (also for the user docs):
//! - Every date column (`startDate`, `endDate`, `beginDate`, `birthDate`, `assignDate`, `dueDate`,
//!   `scoreDate`) keeps only `YYYY-MM-DD` of a datetime; other text is passed through as sent.
//! - `enabledUser` is `true` when absent; `password` is blank unless asked for.
//! - classResources.csv / courseResources.csv are `bulk` only when Resources finished too, so
//!   their resource ids resolve within the bundle; their row id is `{class or course}:{resource}`.
//! - An existing folder is replaced only when it is empty or holds nothing but a CSV bundle of
//!   ours (with manifest.csv) or a JSON bundle of ours; an existing zip only when it is a zip;
//!   an existing NDJSON file only when it is empty or starts like our lines. Symbolic links are
//!   refused.
//! - Nothing stays beside the target after the run: the lock file lives in the runtime folder.
//! - A remote output is a zip or an NDJSON file; a CSV or JSON folder cannot be replaced
//!   atomically in a store, so it is refused.
//! - NDJSON on stdout cannot take back the lines of an abandoned collection; in a file it can.

mod bundle;
mod changes;
mod csv_rows;
mod error;
mod fields;
mod fingerprint;
mod json;
mod lines;
mod merge;
mod scan;
mod shrink;
mod staging;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use bundle::Bundle;
pub use changes::Changes;
pub use error::ExportError;
pub use shrink::{MaxShrink, ShrinkLimit};

use oneroster::{CollectionId, CsvFile};

use crate::named::named_enum;
use crate::storage::{RemoteOptions, RemoteUrl};

named_enum! {
    /// Whether a CSV bundle is checked (`roster-export validate`'s checks) before it is published.
    #[derive(Default)]
    pub enum ValidateMode {
        /// Problems are logged; the bundle is published.
        #[default]
        Warn = "warn",
        /// Problems stop the publish (exit 4); the previous output stays.
        Error = "error",
        Off = "off",
    }
}

named_enum! {
    /// The output format.
    #[derive(Default)]
    pub enum Format {
        /// A OneRoster 1.1 CSV bundle: manifest.csv plus one file per type (a folder, or a zip
        /// when the output name ends in .zip).
        #[default]
        Csv = "csv",
        /// One `<collection>.json` array per collection, records as the server sent them.
        Json = "json",
        /// One line per record, `{"collection":…,"record":…}`, to a file or to stdout.
        Ndjson = "ndjson",
    }
}

/// Where the output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (NDJSON only).
    Stdout,
    /// A folder, a `.zip`, or (NDJSON) a file.
    Path(PathBuf),
    /// A zip or NDJSON file in an object store or on an SFTP server.
    Remote(RemoteUrl),
}

/// How to write the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    pub format: Format,
    pub destination: Destination,
    /// Fill the `password` column of users.csv (student data; blank unless asked for).
    pub include_passwords: bool,
    /// The manifest's `source.systemName` (left out when empty).
    pub system_name: String,
    /// The manifest's `source.systemCode` (left out when `None`).
    pub system_code: Option<String>,
    /// Refuse to publish over earlier output when a file shrinks by more than this; `None` = off.
    pub max_shrink: Option<MaxShrink>,
    /// How to reach a remote destination (SFTP key, host-key policy).
    pub remote: RemoteOptions,
    /// Deflate level of a zip's entries, 0 (stored) to 9.
    pub zip_level: u32,
    /// Check a CSV bundle before publishing it.
    pub validate: ValidateMode,
    /// A delta bundle (`--since`): CSV rows carry `status` and `dateLastModified`, records marked
    /// deleted are kept, and the manifest says `delta` for each file written; no format is
    /// compared with (or shrink-guarded against) the output it replaces.
    pub delta: bool,
}

impl OutputOptions {
    /// The default deflate level: 1 compresses CSV about as well as 6 (within 15%) at a fraction
    /// of the CPU (see README "Performance").
    pub const DEFAULT_ZIP_LEVEL: u32 = 1;
}

/// A file of the output and how many data rows (CSV), records (JSON) or lines (NDJSON) it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRows {
    pub name: String,
    pub rows: u64,
}

/// What one finished collection produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionOutput {
    pub collection: CollectionId,
    /// Records received in its pages.
    pub records: u64,
    /// Rows (CSV), records (JSON) or lines (NDJSON) written for it, association rows aside.
    pub rows: u64,
    /// Records left out of a bulk CSV file because their status was `tobedeleted`/`inactive`.
    pub dropped_deleted: u64,
    /// The files written for it: its own, then classResources.csv / courseResources.csv when
    /// they were written too. Empty for NDJSON, whose collections share one stream.
    pub files: Vec<FileRows>,
}

/// What [`Bundle::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// The published path; `None` for stdout.
    pub path: Option<PathBuf>,
    pub format: Format,
    /// The data files now at `path`, in bundle order (manifest.csv aside), with their row counts.
    pub files: Vec<FileRows>,
    /// CSV files the manifest lists as `absent`.
    pub absent: Vec<CsvFile>,
    /// What changed per collection against the output replaced; empty when there was none.
    pub changes: std::collections::BTreeMap<CollectionId, Changes>,
    /// Whether an earlier output was replaced.
    pub replaced: bool,
    /// Every finished collection, in the order they were written.
    pub collections: Vec<CollectionOutput>,
    /// Things that went wrong after the output was safely in place (e.g. an old copy that could
    /// not be removed).
    pub warnings: Vec<String>,
    /// The validation summary line of a CSV bundle that was checked.
    pub validation: Option<String>,
    /// A hash of the published output, when asked for ([`Bundle::fingerprint_on_publish`]).
    pub fingerprint: Option<String>,
}
