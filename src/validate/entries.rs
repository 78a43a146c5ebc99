//! Which entries of a bundle are its files: manifest.csv and the data files of the 1.1 binding at
//! its root, named exactly (docs/oneroster-notes.md §7.1, §7.5). Anything else is reported.

use oneroster::CsvFile;

use super::report::{Report, Rule};
use super::source::Entry;

pub(super) const MANIFEST: &str = "manifest.csv";

/// Files that belong to OneRoster 1.2, never to a 1.1 bundle (§7.1).
const ONLY_IN_1_2: [&str; 8] = [
    "roles.csv",
    "userProfiles.csv",
    "userResources.csv",
    "scoreScales.csv",
    "lineItemScoreScales.csv",
    "resultScoreScales.csv",
    "lineItemLearningObjectiveIds.csv",
    "resultLearningObjectiveIds.csv",
];

/// The bundle's files, as found at its root.
#[derive(Debug, Default)]
pub(super) struct Files {
    pub manifest: bool,
    /// Data files present, in [`CsvFile::ALL`] order.
    pub data: Vec<CsvFile>,
}

/// Sorts the entries into the bundle's files, reporting every other entry.
pub(super) fn sort(entries: &[Entry], report: &mut Report) -> Files {
    let mut files = Files::default();
    for entry in entries {
        let name = entry.name();
        let problem = match entry {
            Entry::Folder(_) => {
                "a folder inside the bundle; consumers read only the files at its top".to_string()
            }
            Entry::File(_) if name.contains('/') => {
                "inside a folder of the zip; consumers read a bundle's files at the root of the zip"
                    .to_string()
            }
            Entry::File(_) if name == MANIFEST => {
                files.manifest = true;
                continue;
            }
            Entry::File(_) => match CsvFile::from_file_name(name) {
                Some(file) => {
                    files.data.push(file);
                    continue;
                }
                None => unknown(name),
            },
        };
        report.add(name, 0, Rule::Bundle, || problem);
    }
    files.data.sort();
    files
}

/// What to say about a file that is not one of the binding's.
fn unknown(name: &str) -> String {
    let base = "not a file of a OneRoster 1.1 bundle";
    let same_but_case = CsvFile::ALL
        .iter()
        .map(|f| f.file_name())
        .chain([MANIFEST.to_string()])
        .find(|known| known.eq_ignore_ascii_case(name));
    if let Some(known) = same_but_case {
        format!("{base} (names are case sensitive: {known})")
    } else if ONLY_IN_1_2.contains(&name) {
        format!("{base} (it belongs to OneRoster 1.2)")
    } else {
        base.to_string()
    }
}
