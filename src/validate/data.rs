//! One data file of a bundle, streamed: its header against the binding (docs/oneroster-notes.md
//! §7.6), then every row's cells (blanks, syntax, references into other files), and its
//! sourcedIds for the repeat check. Nothing but id hashes outlives a row.

use std::collections::HashMap;

use oneroster::{ColumnType, CsvFile, Required};

use super::cells::{self, shown};
use super::ids::{IdSet, Repeats, Targets, hash};
use super::report::{Mode, Report, Rule};
use super::rows::{Record, Rows, Text};
use super::source::{Source, ValidateError};

/// How a file's header maps onto its binding's columns.
struct Layout {
    /// Fields in the header row: every row should have as many.
    width: usize,
    /// Per binding column, its field in the file (matched exactly, else ignoring case).
    at: Vec<Option<usize>>,
}

impl Layout {
    /// Maps the header row, and says what is wrong with it. A header that is not UTF-8 maps no
    /// column, so only the rows' widths are checked.
    fn read(file: CsvFile, record: Record<'_>) -> (Layout, Option<String>) {
        let width = record.len();
        let Ok(header) = record.text() else {
            let at = vec![None; file.columns().len()];
            return (
                Layout { width, at },
                Some("the header row is not valid UTF-8".to_string()),
            );
        };
        let actual: Vec<&str> = header.iter().collect();
        let expected: Vec<&str> = file.header().collect();
        let find = |name: &str| {
            actual
                .iter()
                .position(|a| *a == name)
                .or_else(|| actual.iter().position(|a| a.eq_ignore_ascii_case(name)))
        };
        let layout = Layout {
            width: actual.len(),
            at: expected.iter().map(|e| find(e)).collect(),
        };
        let problem = (actual != expected).then(|| header_problem(&expected, &actual));
        (layout, problem)
    }

    /// The row's sourcedId, when it has a non-blank one.
    fn id<'r>(&self, record: Record<'r>) -> Option<&'r [u8]> {
        record.bytes(self.at[0]?).filter(|id| !id.is_empty())
    }
}

/// What differs between the binding's header and the file's, at most a few differences.
fn header_problem(expected: &[&str], actual: &[&str]) -> String {
    const SHOWN: usize = 4;
    let mut parts = Vec::new();
    for (i, a) in actual.iter().enumerate() {
        if expected.contains(a) {
            if actual[..i].contains(a) {
                parts.push(format!("`{a}` appears twice"));
            }
            continue;
        }
        match expected
            .iter()
            .find(|e| e.eq_ignore_ascii_case(a) && !actual.contains(e))
        {
            Some(e) => parts.push(format!("`{}` should be `{e}`", shown(a))),
            None => parts.push(format!("unexpected column `{}`", shown(a))),
        }
    }
    for e in expected {
        if !actual.iter().any(|a| a.eq_ignore_ascii_case(e)) {
            parts.push(format!("missing column `{e}`"));
        }
    }
    if parts.is_empty() {
        parts.push(format!(
            "the columns are out of order; the binding's order is {}",
            expected.join(",")
        ));
    }
    let more = parts.len().saturating_sub(SHOWN);
    parts.truncate(SHOWN);
    let mut text = format!("header differs from the 1.1 binding: {}", parts.join("; "));
    if more > 0 {
        text.push_str(&format!("; and {more} more differences"));
    }
    text
}

/// Reads the header; `None` (reported) when the file is empty.
fn header(
    rows: &mut Rows<'_>,
    file: CsvFile,
    report: Option<&mut Report>,
) -> Result<Option<Layout>, ValidateError> {
    let name = file.file_name();
    let Some((line, record)) = rows.next()? else {
        if let Some(report) = report {
            report.add(&name, 1, Rule::Header, || {
                "empty; the header row is missing".to_string()
            });
        }
        return Ok(None);
    };
    let (layout, problem) = Layout::read(file, record);
    if let (Some(problem), Some(report)) = (problem, report) {
        report.add(&name, line, Rule::Header, || problem);
    }
    Ok(Some(layout))
}

/// The sourcedIds of a file others point into, each once, and those that repeat; `None` when
/// the file has no `sourcedId` column to read them from (its header is reported).
pub(super) fn ids(
    source: &mut Source,
    file: CsvFile,
) -> Result<Option<(IdSet, Repeats)>, ValidateError> {
    let mut hashes = Vec::new();
    let has_ids = each_id(source, file, |_, id| {
        hashes.push(hash(id));
        true
    })?;
    Ok(has_ids.then(|| IdSet::build(hashes)))
}

/// Checks every row of a data file; returns its row count and, when `collect_ids`, the hashes
/// of its sourcedIds (for a file whose ids were not gathered by [`ids`]).
pub(super) fn check(
    source: &mut Source,
    file: CsvFile,
    mode: Mode,
    targets: &Targets,
    collect_ids: bool,
    report: &mut Report,
) -> Result<(u64, Vec<u64>), ValidateError> {
    let name = file.file_name();
    let mut rows = Rows::open(source, &name)?;
    let mut hashes = Vec::new();
    let Some(layout) = header(&mut rows, file, Some(report))? else {
        return Ok((0, hashes));
    };
    let checker = Checker {
        file,
        name: &name,
        mode,
        layout: &layout,
        targets,
    };
    let mut count = 0;
    while let Some((line, record)) = rows.next()? {
        count += 1;
        if collect_ids {
            hashes.extend(layout.id(record).map(hash));
        }
        if record.len() != layout.width {
            report.add(&name, line, Rule::Row, || {
                format!("{} fields; the header has {}", record.len(), layout.width)
            });
            continue;
        }
        match record.text() {
            Ok(record) => checker.row(line, &record, report),
            Err(field) => report.add(&name, line, Rule::Row, || {
                format!("{} is not valid UTF-8", checker.column_at(field))
            }),
        }
    }
    Ok((count, hashes))
}

/// What one file's rows are checked with.
struct Checker<'a> {
    file: CsvFile,
    name: &'a str,
    mode: Mode,
    layout: &'a Layout,
    targets: &'a Targets,
}

impl Checker<'_> {
    /// The name of the file's field `i`, for messages.
    fn column_at(&self, i: usize) -> String {
        self.file
            .columns()
            .iter()
            .zip(&self.layout.at)
            .find(|(_, at)| **at == Some(i))
            .map_or_else(|| format!("field {}", i + 1), |(c, _)| c.name.to_string())
    }

    /// Checks one row's cells: blanks, syntax, references.
    fn row(&self, line: u64, record: &Text<'_>, report: &mut Report) {
        let mut found = |rule: Rule, message: &dyn Fn() -> String| {
            report.add(self.name, line, rule, message);
        };
        for (col, at) in self.file.columns().iter().zip(&self.layout.at) {
            let Some(value) = at.and_then(|i| record.get(i)) else {
                continue;
            };
            if value.is_empty() {
                match (col.required, self.mode) {
                    (Required::Always, _) => found(Rule::Required, &|| {
                        format!("{} is blank; the column is required", col.name)
                    }),
                    (Required::InDelta, Mode::Delta) => found(Rule::Required, &|| {
                        format!("{} is blank; a delta file needs it", col.name)
                    }),
                    _ => {}
                }
                continue;
            }
            if col.required == Required::InDelta && self.mode == Mode::Bulk {
                found(Rule::Required, &|| {
                    format!(
                        "{} is `{}`; it stays blank in a bulk file",
                        col.name,
                        shown(value)
                    )
                });
                continue;
            }
            if let Err(fault) = cells::check(col.ty, value) {
                found(fault.rule, &|| {
                    format!("{} `{}` {}", col.name, shown(value), fault.detail)
                });
                continue;
            }
            let Some((target, set)) = col
                .refers_to
                .and_then(|t| self.targets.get(&t).map(|set| (t, set)))
            else {
                continue;
            };
            let mut dangling = |id: &str| {
                if !set.contains(id.as_bytes()) {
                    found(Rule::Reference, &|| {
                        let own = if col.ty == ColumnType::Id {
                            " (a demographics row has its user's sourcedId)"
                        } else {
                            ""
                        };
                        format!(
                            "{} `{}` is not in {}{own}",
                            col.name,
                            shown(id),
                            target.file_name()
                        )
                    });
                }
            };
            if col.ty == ColumnType::RefList {
                cells::items(value).for_each(&mut dangling);
            } else {
                dangling(value);
            }
        }
    }
}

/// Reports the rows whose sourcedId an earlier row already had, as many as the rule still
/// shows, and counts the rest. Reads the file only when [`IdSet::build`] found repeats: one pass finds the
/// first repeating rows (a bit per repeated id marks it seen), a second the lines where their
/// ids first appeared; each stops as soon as it has what it needs.
pub(super) fn report_repeats(
    source: &mut Source,
    file: CsvFile,
    repeats: &Repeats,
    report: &mut Report,
) -> Result<(), ValidateError> {
    if repeats.rows == 0 {
        return Ok(());
    }
    let name = file.file_name();
    let wanted = report.room(Rule::Duplicate).min(repeats.rows as usize);
    if wanted == 0 {
        report.add_unshown(Rule::Duplicate, repeats.rows);
        return Ok(());
    }
    // (hash, line, id) of the first `wanted` rows that repeat an earlier row's id.
    let mut again: Vec<(u64, u64, String)> = Vec::new();
    let mut seen = vec![0u64; repeats.hashes.len().div_ceil(64)];
    each_id(source, file, |line, id| {
        let h = hash(id);
        if let Ok(i) = repeats.hashes.binary_search(&h) {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if seen[word] & bit != 0 {
                again.push((h, line, String::from_utf8_lossy(id).into_owned()));
            }
            seen[word] |= bit;
        }
        again.len() < wanted
    })?;
    drop(seen);
    // Their ids' first lines (0 until found).
    let mut first: HashMap<u64, u64> = again.iter().map(|(h, _, _)| (*h, 0)).collect();
    let last = again.last().map_or(0, |(_, line, _)| *line);
    each_id(source, file, |line, id| {
        if let Some(first) = first.get_mut(&hash(id))
            && *first == 0
        {
            *first = line;
        }
        line < last
    })?;
    for (h, line, id) in &again {
        let first = first[h];
        report.add(&name, *line, Rule::Duplicate, || {
            format!(
                "sourcedId `{}` appears again (first on line {first})",
                shown(id)
            )
        });
    }
    report.add_unshown(Rule::Duplicate, repeats.rows - again.len() as u64);
    Ok(())
}

/// Calls `visit` with the line and sourcedId of each row that has one, while it returns true.
/// False when the file has no header or no `sourcedId` column.
fn each_id(
    source: &mut Source,
    file: CsvFile,
    mut visit: impl FnMut(u64, &[u8]) -> bool,
) -> Result<bool, ValidateError> {
    let mut rows = Rows::open(source, &file.file_name())?;
    let Some(layout) = header(&mut rows, file, None)?.filter(|l| l.at[0].is_some()) else {
        return Ok(false);
    };
    while let Some((line, record)) = rows.next()? {
        if let Some(id) = layout.id(record)
            && !visit(line, id)
        {
            break;
        }
    }
    Ok(true)
}
