//! The table of top-level read collections: one row per collection.

use std::fmt;
use std::str::FromStr;

use crate::csv::CsvFile;
use crate::scope::KnownScope;

/// The top-level read collections of v1.1 (docs/oneroster-notes.md §3.2, §3.4, §3.5, §3.6).
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
    /// The JSON member that holds the object of a single-record read (demographics keeps its
    /// plural, §3.4).
    pub singular_key: &'static str,
    /// Other member names real servers use for the same array (§5.1, §8.7).
    pub alternate_keys: &'static [&'static str],
    /// The CSV file its records become.
    pub csv_file: CsvFile,
    /// The association file its records' `resources[]` become (classes, courses).
    pub association_file: Option<CsvFile>,
    /// The scope that grants it (roster collections are granted by roster-core.readonly too).
    pub scope: KnownScope,
    /// Whether hosts commonly leave the service out (demographics, gradebook, resources).
    pub optional_service: bool,
}

macro_rules! row {
    ($id:ident, $name:literal, $single:literal, [$($alt:literal),*], $csv:ident, $scope:ident, $optional:literal) => {
        row!($id, $name, $single, [$($alt),*], $csv, None, $scope, $optional)
    };
    ($id:ident, $name:literal, $single:literal, [$($alt:literal),*], $csv:ident, $assoc:expr, $scope:ident, $optional:literal) => {
        Collection {
            id: CollectionId::$id,
            name: $name,
            path: $name,
            response_key: $name,
            singular_key: $single,
            alternate_keys: &[$($alt),*],
            csv_file: CsvFile::$csv,
            association_file: $assoc,
            scope: KnownScope::$scope,
            optional_service: $optional,
        }
    };
}

/// Every collection, in the order the tool exports them (referenced entities first).
#[rustfmt::skip]
pub static COLLECTIONS: [Collection; 11] = [
    row!(Orgs, "orgs", "org", ["schools"], Orgs, Roster, false),
    row!(AcademicSessions, "academicSessions", "academicSession", ["terms", "gradingPeriods"], AcademicSessions, Roster, false),
    row!(Courses, "courses", "course", [], Courses, Some(CsvFile::CourseResources), Roster, false),
    row!(Classes, "classes", "class", [], Classes, Some(CsvFile::ClassResources), Roster, false),
    row!(Users, "users", "user", ["students", "teachers"], Users, Roster, false),
    row!(Enrollments, "enrollments", "enrollment", [], Enrollments, Roster, false),
    row!(Demographics, "demographics", "demographics", ["demographic"], Demographics, RosterDemographics, true),
    row!(Categories, "categories", "category", [], Categories, Gradebook, true),
    row!(LineItems, "lineItems", "lineItem", [], LineItems, Gradebook, true),
    row!(Results, "results", "result", [], Results, Gradebook, true),
    row!(Resources, "resources", "resource", [], Resources, Resource, true),
];

impl Collection {
    /// The scopes any one of which grants this collection (§2.2: the roster collections are
    /// granted by roster-core.readonly as well as roster.readonly).
    pub fn granting_scopes(&self) -> &'static [KnownScope] {
        match self.scope {
            KnownScope::Roster | KnownScope::RosterCore => {
                &[KnownScope::RosterCore, KnownScope::Roster]
            }
            KnownScope::RosterDemographics => &[KnownScope::RosterDemographics],
            KnownScope::Resource => &[KnownScope::Resource],
            KnownScope::Gradebook => &[KnownScope::Gradebook],
        }
    }
}

impl KnownScope {
    /// The top-level collections this scope lets a client read, read off the collection table.
    pub fn collections(self) -> impl Iterator<Item = CollectionId> {
        COLLECTIONS
            .iter()
            .filter(move |c| c.granting_scopes().contains(&self))
            .map(|c| c.id)
    }
}

impl CsvFile {
    /// The collection whose records are this file's rows; `None` for the association files.
    pub fn collection(self) -> Option<CollectionId> {
        COLLECTIONS
            .iter()
            .find(|c| c.csv_file == self)
            .map(|c| c.id)
    }

    /// The collection whose `resources[]` feed this association file.
    pub fn association_owner(self) -> Option<CollectionId> {
        COLLECTIONS
            .iter()
            .find(|c| c.association_file == Some(self))
            .map(|c| c.id)
    }
}

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
            assert_eq!(id.info().csv_file.collection(), Some(id));
        }
        assert_eq!(COLLECTIONS.len(), CollectionId::all().count());
    }

    #[test]
    fn scopes_grant_the_collections_of_the_table() {
        use CollectionId::*;
        let roster: Vec<_> = KnownScope::Roster.collections().collect();
        assert_eq!(
            roster,
            [Orgs, AcademicSessions, Courses, Classes, Users, Enrollments]
        );
        assert!(KnownScope::RosterCore.collections().eq(roster));
        assert!(
            KnownScope::Gradebook
                .collections()
                .eq([Categories, LineItems, Results])
        );
        assert!(KnownScope::Resource.collections().eq([Resources]));
        assert!(
            KnownScope::RosterDemographics
                .collections()
                .eq([Demographics])
        );
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
