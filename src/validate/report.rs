//! What a check found: the problems (a few per rule, the rest counted), the files read, and the
//! text a person reads (`file.csv:LINE: what is wrong`, then a summary line).

use std::fmt;

use crate::named::named_enum;

named_enum! {
    /// The kinds of problem, each with its own cap on the lines shown.
    pub enum Rule {
        /// Entries that are not files of a 1.1 bundle, or not at its root.
        Bundle = "bundle",
        /// manifest.csv: missing rows, unknown properties or versions, modes that disagree with
        /// the files present.
        Manifest = "manifest",
        /// A header row that is not exactly the binding's.
        Header = "header",
        /// A row with another number of fields than its header, or bytes that are not UTF-8.
        Row = "row",
        /// A required cell left blank, or `status` / `dateLastModified` filled in a bulk file.
        Required = "required",
        /// A token outside its vocabulary.
        Enum = "enum",
        Date = "date",
        Datetime = "datetime",
        Year = "year",
        Float = "float",
        Boolean = "boolean",
        /// Comma lists with empty items, a list in a one-id column, `userIds` not `{type:identifier}`.
        List = "list",
        /// A sourcedId used by two rows of one file.
        Duplicate = "duplicate",
        /// An id that names no record of the (bulk) file it points into.
        Reference = "reference",
    }
}

impl Rule {
    fn index(self) -> usize {
        Rule::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every rule is in ALL")
    }
}

/// One problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file's name inside the bundle (a zip entry's full name).
    pub file: String,
    /// The CSV line the row starts on, the header being line 1; 0 for the file as a whole (an
    /// entry that should not be there, a file that is missing).
    pub line: u64,
    pub rule: Rule,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// How a data file's rows are meant (docs/oneroster-notes.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bulk,
    Delta,
}

/// A data file that was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub name: String,
    /// As the manifest says (`Bulk` also for a file the manifest does not list).
    pub mode: Mode,
    /// Data rows, the header aside.
    pub rows: u64,
}

/// The outcome of a check: the first problems of each rule, how many there were in all, and the
/// data files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// At most `max_per_rule` of each rule, grouped by rule, then in file and line order.
    pub problems: Vec<Problem>,
    /// Every problem found, per rule (in [`Rule::ALL`] order), shown or not.
    counts: [u64; Rule::ALL.len()],
    pub files: Vec<FileSummary>,
    pub max_per_rule: usize,
}

impl Report {
    pub(super) fn new(max_per_rule: usize) -> Report {
        Report {
            problems: Vec::new(),
            counts: [0; Rule::ALL.len()],
            files: Vec::new(),
            max_per_rule,
        }
    }

    /// Counts a problem and keeps it if its rule has room; `message` is only built then.
    pub(super) fn add(
        &mut self,
        file: &str,
        line: u64,
        rule: Rule,
        message: impl FnOnce() -> String,
    ) {
        let count = &mut self.counts[rule.index()];
        *count += 1;
        if *count <= self.max_per_rule as u64 {
            self.problems.push(Problem {
                file: file.to_string(),
                line,
                rule,
                message: message(),
            });
        }
    }

    /// How many more problems of `rule` would be shown.
    pub(super) fn room(&self, rule: Rule) -> usize {
        (self.max_per_rule as u64).saturating_sub(self.counts[rule.index()]) as usize
    }

    /// Counts `n` problems of `rule` that are not shown.
    pub(super) fn add_unshown(&mut self, rule: Rule, n: u64) {
        self.counts[rule.index()] += n;
    }

    /// Orders the kept problems by rule, then by `file_order` (the bundle's order of files),
    /// then by line.
    pub(super) fn sort(&mut self, file_order: impl Fn(&str) -> usize) {
        self.problems
            .sort_by_cached_key(|p| (p.rule.index(), file_order(&p.file), p.line));
    }

    /// No problems at all.
    pub fn is_clean(&self) -> bool {
        self.total() == 0
    }

    /// Problems found, shown or not.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Problems of `rule` found, shown or not.
    pub fn count(&self, rule: Rule) -> u64 {
        self.counts[rule.index()]
    }

    /// Data rows read, headers aside.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The last line: files, rows, and problems by rule, e.g.
    /// `6 data files, 1204 rows: 3 problems (2 reference, 1 date)`.
    pub fn summary(&self) -> String {
        let files = plural(self.files.len() as u64, "data file", "data files");
        let rows = plural(self.rows(), "row", "rows");
        if self.is_clean() {
            return format!("{files}, {rows}: no problems");
        }
        let by_rule: Vec<String> = Rule::ALL
            .iter()
            .filter(|r| self.count(**r) > 0)
            .map(|r| format!("{} {r}", self.count(*r)))
            .collect();
        format!(
            "{files}, {rows}: {} ({})",
            plural(self.total(), "problem", "problems"),
            by_rule.join(", ")
        )
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The problem lines, each rule's followed by a count of those not shown, then the summary line.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rule in Rule::ALL {
            let mut shown = 0;
            for problem in self.problems.iter().filter(|p| p.rule == *rule) {
                writeln!(f, "{problem}")?;
                shown += 1;
            }
            let more = self.count(*rule) - shown;
            if more > 0 {
                let noun = if more == 1 { "problem" } else { "problems" };
                writeln!(f, "... {more} more {rule} {noun}")?;
            }
        }
        writeln!(f, "{}", self.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_rule_and_counts_the_rest() {
        let mut report = Report::new(2);
        for line in [9, 3, 5] {
            report.add("users.csv", line, Rule::Date, || format!("bad date {line}"));
        }
        report.add("classes.csv", 4, Rule::Reference, || "dangling".into());
        report.add("users.csv", 2, Rule::Reference, || "dangling too".into());
        report.files.push(FileSummary {
            name: "users.csv".into(),
            mode: Mode::Bulk,
            rows: 10,
        });
        report.sort(|name| {
            ["classes.csv", "users.csv"]
                .iter()
                .position(|n| *n == name)
                .unwrap()
        });
        assert_eq!(report.total(), 5);
        assert_eq!(
            report.to_string(),
            "users.csv:3: bad date 3\n\
             users.csv:9: bad date 9\n\
             ... 1 more date problem\n\
             classes.csv:4: dangling\n\
             users.csv:2: dangling too\n\
             1 data file, 10 rows: 5 problems (3 date, 2 reference)\n"
        );
        let clean = Report::new(20);
        assert!(clean.is_clean());
        assert_eq!(clean.to_string(), "0 data files, 0 rows: no problems\n");
    }
}
