//! The table of top-level read collections: one row per collection.

use std::fmt;
use std::str::FromStr;

use super::csv_file::CsvFile;
use super::scope::KnownScope;

/// The top-level read collections of v1.1 (ONEROSTER.md §3.2, §3.4, §3.5, §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CollectionId {
    Orgs,
    AcademicSessions,
    Courses,
    Classes,
    Users,
    Enrollments,
    Demographics,
    Categories,
    LineItems,
    Results,
    Resources,
}

/// Everything the tool knows about one collection.
#[derive(Debug)]
pub struct Collection {
    pub id: CollectionId,
    /// The name users type in `--only` and the name NDJSON lines carry.
    pub name: &'static str,
    /// Path below the base URL.
    pub path: &'static str,
    /// The JSON member that holds the array.
    pub response_key: &'static str,
    /// Other member names real servers use for the same array (ONEROSTER.md §5.1, §8.7).
    pub alternate_keys: &'static [&'static str],
    /// The CSV file its records become.
    pub csv_file: CsvFile,
    /// The scope that grants it, besides roster.readonly's twin roster-core.readonly.
    pub scope: KnownScope,
    /// Whether hosts commonly leave the service out (demographics, gradebook, resources).
    pub optional_service: bool,
}

macro_rules! row {
    ($id:ident, $name:literal, $key:literal, [$($alt:literal),*], $csv:ident, $scope:ident, $optional:literal) => {
        Collection {
            id: CollectionId::$id,
            name: $name,
            path: $name,
            response_key: $key,
            alternate_keys: &[$($alt),*],
            csv_file: CsvFile::$csv,
            scope: KnownScope::$scope,
            optional_service: $optional,
        }
    };
}

/// Every collection, in the order the tool exports them (referenced entities first).
pub static COLLECTIONS: [Collection; 11] = [
    row!(Orgs, "orgs", "orgs", ["schools"], Orgs, Roster, false),
    row!(
        AcademicSessions,
        "academicSessions",
        "academicSessions",
        ["terms", "gradingPeriods"],
        AcademicSessions,
        Roster,
        false
    ),
    row!(Courses, "courses", "courses", [], Courses, Roster, false),
    row!(Classes, "classes", "classes", [], Classes, Roster, false),
    row!(
        Users,
        "users",
        "users",
        ["students", "teachers"],
        Users,
        Roster,
        false
    ),
    row!(
        Enrollments,
        "enrollments",
        "enrollments",
        [],
        Enrollments,
        Roster,
        false
    ),
    row!(
        Demographics,
        "demographics",
        "demographics",
        ["demographic"],
        Demographics,
        RosterDemographics,
        true
    ),
    row!(
        Categories,
        "categories",
        "categories",
        [],
        Categories,
        Gradebook,
        true
    ),
    row!(
        LineItems,
        "lineItems",
        "lineItems",
        [],
        LineItems,
        Gradebook,
        true
    ),
    row!(Results, "results", "results", [], Results, Gradebook, true),
    row!(
        Resources,
        "resources",
        "resources",
        [],
        Resources,
        Resource,
        true
    ),
];

impl CollectionId {
    /// The collection's row in [`COLLECTIONS`].
    pub fn info(self) -> &'static Collection {
        COLLECTIONS
            .iter()
            .find(|c| c.id == self)
            .expect("every CollectionId has a row in COLLECTIONS")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// All collections in export order.
    pub fn all() -> impl Iterator<Item = CollectionId> {
        COLLECTIONS.iter().map(|c| c.id)
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CollectionId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        COLLECTIONS
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(s))
            .map(|c| c.id)
            .ok_or_else(|| {
                let names: Vec<&str> = COLLECTIONS.iter().map(|c| c.name).collect();
                format!("unknown collection `{s}` (known: {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_match_their_ids() {
        for id in CollectionId::all() {
            assert_eq!(id.info().id, id);
        }
        assert_eq!(COLLECTIONS.len(), CollectionId::all().count());
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!(
            "lineitems".parse::<CollectionId>().unwrap(),
            CollectionId::LineItems
        );
        assert!(
            "students"
                .parse::<CollectionId>()
                .unwrap_err()
                .contains("students")
        );
    }
}
