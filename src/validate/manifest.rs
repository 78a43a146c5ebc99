//! manifest.csv (docs/oneroster-notes.md §7.3, §7.4): its rows, and its `file.*` modes against the
//! files present. The outcome is the list of data files to check, each with its mode.

use oneroster::CsvFile;

use super::cells::shown;
use super::entries::{Files, MANIFEST};
use super::report::{Mode, Report, Rule};
use super::rows::Rows;
use super::source::{Source, ValidateError};

const HEADER: [&str; 2] = ["propertyName", "value"];
/// The required properties other than `file.*`, with the only value a 1.1 bundle may give them.
const VERSIONS: [(&str, &str); 2] = [("manifest.version", "1.0"), ("oneroster.version", "1.1")];
const OPTIONAL: [&str; 2] = ["source.systemName", "source.systemCode"];

/// What the manifest says about one data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    /// No row.
    Missing,
    /// A row whose value is not a mode (reported); a file present is checked as bulk.
    Invalid {
        line: u64,
    },
    Absent {
        line: u64,
    },
    Mode {
        mode: Mode,
        line: u64,
    },
}

/// Checks manifest.csv and returns the data files to check: those present, unless marked
/// `absent`; a file the manifest does not list (or that has no manifest) counts as bulk.
pub(super) fn check(
    source: &mut Source,
    files: &Files,
    report: &mut Report,
) -> Result<Vec<(CsvFile, Mode)>, ValidateError> {
    let mut listed = [Listed::Missing; CsvFile::ALL.len()];
    if files.manifest {
        read(source, &mut listed, report)?;
    } else {
        report.add(MANIFEST, 0, Rule::Manifest, || {
            "missing; every bundle has one (the data files were checked as bulk)".to_string()
        });
    }
    let mut to_check = Vec::new();
    for (file, listed) in CsvFile::ALL.into_iter().zip(listed) {
        let present = files.data.contains(&file);
        let property = file.manifest_property();
        let name = file.file_name();
        match listed {
            Listed::Missing if files.manifest => report.add(MANIFEST, 1, Rule::Manifest, || {
                if present {
                    format!("no {property} row ({name} is in the bundle; checked as bulk)")
                } else {
                    format!("no {property} row (bulk, delta or absent)")
                }
            }),
            Listed::Mode { mode, line } if !present => {
                report.add(MANIFEST, line, Rule::Manifest, || {
                    let mode = if mode == Mode::Bulk { "bulk" } else { "delta" };
                    format!("{property} is {mode} but {name} is not in the bundle")
                })
            }
            Listed::Absent { line } if present => {
                report.add(MANIFEST, line, Rule::Manifest, || {
                    format!(
                        "{property} is absent but {name} is in the bundle (consumers ignore it; \
                         so did this check)"
                    )
                })
            }
            _ => {}
        }
        let mode = match listed {
            Listed::Mode { mode, .. } => mode,
            Listed::Absent { .. } => continue,
            Listed::Missing | Listed::Invalid { .. } => Mode::Bulk,
        };
        if present {
            to_check.push((file, mode));
        }
    }
    Ok(to_check)
}

/// Reads the rows of manifest.csv into `listed`, reporting what is wrong with them.
fn read(
    source: &mut Source,
    listed: &mut [Listed; CsvFile::ALL.len()],
    report: &mut Report,
) -> Result<(), ValidateError> {
    let mut rows = Rows::open(source, MANIFEST)?;
    // The known properties seen, with their lines (17 at most).
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut header = true;
    while let Some((line, record)) = rows.next()? {
        let Ok(record) = record.text() else {
            report.add(MANIFEST, line, Rule::Row, || "not valid UTF-8".to_string());
            header = false;
            continue;
        };
        if std::mem::take(&mut header) {
            if record.iter().ne(HEADER) {
                report.add(MANIFEST, line, Rule::Header, || {
                    format!(
                        "header is `{}`; expected `{}`",
                        shown(&record.iter().collect::<Vec<_>>().join(",")),
                        HEADER.join(",")
                    )
                });
            }
            continue;
        }
        if record.len() != 2 {
            report.add(MANIFEST, line, Rule::Row, || {
                format!("{} fields; the header has 2", record.len())
            });
            continue;
        }
        let (property, value) = (&record[0], &record[1]);
        let Some(known) = Known::of(property) else {
            report.add(MANIFEST, line, Rule::Manifest, || {
                unknown_property(property)
            });
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(p, _)| p == property) {
            report.add(MANIFEST, line, Rule::Manifest, || {
                format!(
                    "{property} appears again (first on line {first}); consumers may read either"
                )
            });
            continue;
        }
        seen.push((property.to_string(), line));
        match known {
            Known::Version(expected) if value != expected => {
                report.add(MANIFEST, line, Rule::Manifest, || {
                    format!(
                        "{property} is `{}`; a OneRoster 1.1 bundle has {expected}",
                        shown(value)
                    )
                });
            }
            Known::Version(_) | Known::Optional => {}
            Known::File(i) => {
                listed[i] = match value {
                    "bulk" => Listed::Mode {
                        mode: Mode::Bulk,
                        line,
                    },
                    "delta" => Listed::Mode {
                        mode: Mode::Delta,
                        line,
                    },
                    "absent" => Listed::Absent { line },
                    other => {
                        report.add(MANIFEST, line, Rule::Manifest, || {
                            format!(
                                "{property} is `{}`; expected bulk, delta or absent",
                                shown(other)
                            )
                        });
                        Listed::Invalid { line }
                    }
                };
            }
        }
    }
    if header {
        report.add(MANIFEST, 1, Rule::Header, || {
            "empty; expected the header `propertyName,value` and the bundle's properties"
                .to_string()
        });
    }
    for (property, _) in VERSIONS {
        if !seen.iter().any(|(p, _)| p == property) {
            report.add(MANIFEST, 1, Rule::Manifest, || format!("no {property} row"));
        }
    }
    Ok(())
}

/// A property of the binding's manifest.
enum Known {
    /// `manifest.version` or `oneroster.version`, and the value it must have.
    Version(&'static str),
    /// `source.systemName`, `source.systemCode`: any value.
    Optional,
    /// `file.<stem>`: the file's index in [`CsvFile::ALL`].
    File(usize),
}

impl Known {
    fn of(property: &str) -> Option<Known> {
        if let Some((_, expected)) = VERSIONS.iter().find(|(p, _)| *p == property) {
            return Some(Known::Version(expected));
        }
        if OPTIONAL.contains(&property) {
            return Some(Known::Optional);
        }
        let stem = property.strip_prefix("file.")?;
        CsvFile::ALL
            .iter()
            .position(|f| f.stem() == stem)
            .map(Known::File)
    }
}

fn unknown_property(property: &str) -> String {
    let base = format!("unknown property `{}`", shown(property));
    let same_but_case = VERSIONS
        .iter()
        .map(|(p, _)| p.to_string())
        .chain(OPTIONAL.map(str::to_string))
        .chain(CsvFile::ALL.map(CsvFile::manifest_property))
        .find(|p| p.eq_ignore_ascii_case(property));
    if let Some(known) = same_but_case {
        return format!("{base} (property names are case sensitive: {known})");
    }
    if property == "mainfest.version" {
        return format!("{base} (a misspelt manifest.version)");
    }
    base
}
