//! Checks a OneRoster 1.1 CSV bundle (a zip or a folder) against the binding, as a consumer would
//! read it: the entries and manifest.csv, exact header rows, required cells, the syntax of every
//! typed cell, repeated sourcedIds, and that every reference names a record of the bundle
//! (docs/oneroster-notes.md §7). `roster-export validate PATH` prints the [`Report`]; an export can
//! check its staged bundle with [`check_dir`] before publishing it.
//!
//! The files are streamed, never held whole: a reference target (a bulk file that another file
//! present points into) is read once for its ids, kept as 8-byte hashes (see `ids`), then every
//! file is read once for its checks, collecting its own ids only to find repeats. A file whose ids
//! repeat is read once more to name the rows. Memory grows with the ids of the referenced files
//! and of the largest file, at 8 bytes an id, plus the few problems shown per rule.
//!
//! - A reference into a file marked `absent` is not checked (the consumer holds that data), nor
//!   one into a `delta` file (it lists changes only), nor one into a `bulk` file that is missing
//!   (reported once, against its manifest row).
//! - A file present but not listed in the manifest (or with no manifest) is checked as bulk; a
//!   file present but marked `absent` is reported and not read.
//! - Line numbers are CSV lines as an editor shows them, the header being line 1 and quoted
//!   cells spanning lines counted in full; line 0 means the file as a whole.

mod cells;
mod data;
mod entries;
mod ids;
mod manifest;
mod report;
mod rows;
mod source;

use std::path::Path;

use oneroster::CsvFile;

pub use report::{FileSummary, Mode, Problem, Report, Rule};
pub use source::ValidateError;

use ids::Targets;
use source::Source;

/// How to check and report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Problems shown per rule; the others are only counted.
    pub max_per_rule: usize,
}

impl Options {
    pub const DEFAULT_MAX_PER_RULE: usize = 20;
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_per_rule: Options::DEFAULT_MAX_PER_RULE,
        }
    }
}

/// Checks the bundle at `path`: a folder, or else a zip.
pub fn check_path(path: &Path, options: &Options) -> Result<Report, ValidateError> {
    check(Source::open(path)?, options)
}

/// Checks the bundle in the folder `path` (e.g. an export's staging folder, manifest written).
pub fn check_dir(path: &Path, options: &Options) -> Result<Report, ValidateError> {
    check(Source::dir(path)?, options)
}

fn check(mut source: Source, options: &Options) -> Result<Report, ValidateError> {
    let mut report = Report::new(options.max_per_rule);
    let files = entries::sort(&source.entries()?, &mut report);
    let to_check = manifest::check(&mut source, &files, &mut report)?;

    // The bulk files that some file being checked points into.
    let bulk = |f: &CsvFile| to_check.contains(&(*f, Mode::Bulk));
    let mut targets = Targets::new();
    let mut gathered = Vec::new();
    for (file, _) in &to_check {
        for target in file.referenced_files().filter(bulk) {
            if gathered.contains(&target) {
                continue;
            }
            gathered.push(target);
            // A file without a sourcedId column is no target: its header says what is wrong.
            if let Some((ids, repeats)) = data::ids(&mut source, target)? {
                data::report_repeats(&mut source, target, &repeats, &mut report)?;
                targets.insert(target, ids.indexed());
            }
        }
    }

    for &(file, mode) in &to_check {
        let collect_ids = !gathered.contains(&file);
        let (rows, hashes) =
            data::check(&mut source, file, mode, &targets, collect_ids, &mut report)?;
        if collect_ids {
            let (_, repeats) = ids::IdSet::build(hashes);
            data::report_repeats(&mut source, file, &repeats, &mut report)?;
        }
        report.files.push(FileSummary {
            name: file.file_name(),
            mode,
            rows,
        });
    }

    report.sort(|name| {
        if name == entries::MANIFEST {
            0
        } else {
            CsvFile::from_file_name(name)
                .and_then(|f| CsvFile::ALL.iter().position(|a| *a == f))
                .map_or(usize::MAX, |i| i + 1)
        }
    });
    Ok(report)
}
