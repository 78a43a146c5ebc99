//! The read endpoints the sandbox serves: every collection of [`COLLECTIONS`] plus the typed views
//! (docs/oneroster-notes.md §3.2, §6.10), with the keys their responses use.

use serde_json::Value;

use oneroster::{COLLECTIONS, CollectionId, KnownScope};

/// The path every API endpoint hangs off.
pub const BASE_PATH: &str = "/ims/oneroster/v1p1";

/// A typed view over a base collection, or the whole collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    All,
    Schools,
    Students,
    Teachers,
    Terms,
    GradingPeriods,
}

impl View {
    /// The typed views, their paths and base collections.
    pub(crate) const TYPED: [(View, &'static str, CollectionId); 5] = [
        (View::Schools, "schools", CollectionId::Orgs),
        (View::Students, "students", CollectionId::Users),
        (View::Teachers, "teachers", CollectionId::Users),
        (View::Terms, "terms", CollectionId::AcademicSessions),
        (
            View::GradingPeriods,
            "gradingPeriods",
            CollectionId::AcademicSessions,
        ),
    ];

    /// Whether a record of the base collection belongs to this view (type / role selection).
    pub(crate) fn selects(self, record: &Value) -> bool {
        let field = |name: &str| record.get(name).and_then(Value::as_str);
        match self {
            View::All => true,
            View::Schools => field("type") == Some("school"),
            View::Students => field("role") == Some("student"),
            View::Teachers => field("role") == Some("teacher"),
            View::Terms => field("type") == Some("term"),
            View::GradingPeriods => field("type") == Some("gradingPeriod"),
        }
    }
}

/// One collection endpoint: `GET {base}/{path}` and `GET {base}/{path}/{sourcedId}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Position in [`Endpoint::count`] order, for per-path counters.
    pub index: usize,
    pub path: &'static str,
    pub collection: CollectionId,
    pub view: View,
}

impl Endpoint {
    /// How many endpoints there are: one per collection, one per typed view.
    pub(crate) fn count() -> usize {
        COLLECTIONS.len() + View::TYPED.len()
    }

    /// The endpoint at `index` (0..[`Endpoint::count`]).
    pub(crate) fn at(index: usize) -> Endpoint {
        match COLLECTIONS.get(index) {
            Some(c) => Endpoint {
                index,
                path: c.path,
                collection: c.id,
                view: View::All,
            },
            None => {
                let (view, path, collection) = View::TYPED[index - COLLECTIONS.len()];
                Endpoint {
                    index,
                    path,
                    collection,
                    view,
                }
            }
        }
    }

    /// The endpoint serving `path` (the segment after the base path), if any.
    pub(crate) fn find(path: &str) -> Option<Endpoint> {
        (0..Self::count()).map(Self::at).find(|e| e.path == path)
    }

    /// The member holding the object of a single-record response.
    pub(crate) fn singular_key(&self) -> &'static str {
        singular_key(self.collection)
    }

    /// The scopes any one of which grants this endpoint.
    pub(crate) fn granting_scopes(&self) -> &'static [KnownScope] {
        match self.collection.info().scope {
            KnownScope::Roster | KnownScope::RosterCore => {
                &[KnownScope::RosterCore, KnownScope::Roster]
            }
            KnownScope::RosterDemographics => &[KnownScope::RosterDemographics],
            KnownScope::Resource => &[KnownScope::Resource],
            KnownScope::Gradebook => &[KnownScope::Gradebook],
        }
    }
}

/// The single-record response key of a collection (demographics keeps its plural, §3.4).
pub(crate) fn singular_key(id: CollectionId) -> &'static str {
    match id {
        CollectionId::Orgs => "org",
        CollectionId::AcademicSessions => "academicSession",
        CollectionId::Courses => "course",
        CollectionId::Classes => "class",
        CollectionId::Users => "user",
        CollectionId::Enrollments => "enrollment",
        CollectionId::Demographics => "demographics",
        CollectionId::Categories => "category",
        CollectionId::LineItems => "lineItem",
        CollectionId::Results => "result",
        CollectionId::Resources => "resource",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_found_once() {
        for i in 0..Endpoint::count() {
            let e = Endpoint::at(i);
            assert_eq!(e.index, i);
            assert_eq!(Endpoint::find(e.path), Some(e));
        }
        assert_eq!(
            Endpoint::find("students")
                .unwrap()
                .collection
                .info()
                .response_key,
            "users"
        );
        assert_eq!(
            Endpoint::find("gradingPeriods").unwrap().singular_key(),
            "academicSession"
        );
        assert!(Endpoint::find("nope").is_none());
    }
}
