//! The relationship reads (`/schools/{id}/classes`, `/classes/{id}/students`, …,
//! docs/oneroster-notes.md §3.3, §3.5, §3.6) as selections of one collection: a typed view plus
//! conditions on the records' references, some of them worked out from other collections first
//! (a class's students are the users its enrollments name).

use std::collections::BTreeSet;

use serde_json::Value;

use super::cond::{Cond, ref_ids};
use super::endpoints::View;
use super::listing::Listing;
use super::members::Members;
use super::store::{Snapshot, Store};
use oneroster::{CollectionId, NestedRead};

/// Records of one collection within a typed view that meet every condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub collection: CollectionId,
    pub view: View,
    pub conds: Vec<Cond>,
}

impl Selection {
    fn new(collection: CollectionId, view: View, conds: Vec<Cond>) -> Selection {
        Selection {
            collection,
            view,
            conds,
        }
    }

    pub(crate) fn admits(&self, record: &Value) -> bool {
        self.view.selects(record) && self.conds.iter().all(|c| c.holds(record))
    }

    /// The selection in the current version of the district.
    pub(crate) fn listing(&self, store: &Store, snapshot: &Snapshot) -> Listing {
        Listing::build(
            &store.data,
            &snapshot.overlay,
            self.collection,
            self.base_members(store),
            |v| self.admits(v),
        )
    }

    /// The base records selected: looked up by sourcedId, taken from the district's own index,
    /// or (for the small collections no index covers) found by reading the view.
    fn base_members(&self, store: &Store) -> Members {
        let data = &store.data;
        let (candidates, exact) =
            if let Some(by_id) = self.conds.iter().find(|c| c.field == "sourcedId") {
                let found = by_id
                    .ids
                    .iter()
                    .filter_map(|id| data.find(self.collection, self.view, id));
                (Members::from_indices(found), self.conds.len() == 1)
            } else if let Some(indexed) = self
                .conds
                .iter()
                .find_map(|c| data.related(self.collection, self.view, c))
            {
                (indexed, self.conds.len() == 1)
            } else {
                (
                    data.members(self.collection, self.view),
                    self.conds.is_empty(),
                )
            };
        if exact {
            return candidates;
        }
        Members::from_indices(
            candidates
                .indices(0, candidates.len())
                .filter(|&i| self.admits(&data.value(self.collection, i))),
        )
    }
}

/// The ids `field` names across the selection's records, leaving out records about to be deleted
/// and those `keep` rejects.
fn linked(
    store: &Store,
    snapshot: &Snapshot,
    selection: &Selection,
    field: &str,
    keep: impl Fn(&Value) -> bool,
) -> BTreeSet<String> {
    let listing = selection.listing(store, snapshot);
    let mut ids = BTreeSet::new();
    for item in listing.items(0, listing.len()) {
        let record = item.value(&store.data, selection.collection);
        if record.get("status").and_then(Value::as_str) == Some("tobedeleted") || !keep(&record) {
            continue;
        }
        ids.extend(ref_ids(record.get(field)).map(str::to_string));
    }
    ids
}

/// What a relationship read lists, or `None` for an operation the sandbox does not serve.
///
/// A parent that does not exist is not an error: the read lists nothing, 200 with an empty array.
/// Microsoft's SDS conformance collection expects exactly that (`/schools/1000000/classes` must
/// answer 200 and `[]`), although its sample provider and the 1.2 OpenAPI answer 404
/// (docs/oneroster-notes.md §4.1).
pub(crate) fn resolve(
    read: &NestedRead,
    ids: &[&str],
    store: &Store,
    snapshot: &Snapshot,
) -> Option<Selection> {
    use CollectionId::*;
    let one = Cond::one;
    let sel = Selection::new;
    let all = |_: &Value| true;
    // The users a class's enrollments name in the role of the view.
    let users_of = |enrollments: Vec<Cond>, view: View| {
        let role = if view == View::Students {
            "student"
        } else {
            "teacher"
        };
        let users = linked(
            store,
            snapshot,
            &sel(Enrollments, View::All, enrollments),
            "user",
            |e| e.get("role").and_then(Value::as_str) == Some(role),
        );
        sel(Users, view, vec![Cond::any("sourcedId", users)])
    };
    // The classes a user is enrolled in, if the user is of the view.
    let classes_of = |user: &str, view: View| {
        let classes = if snapshot.find(&store.data, Users, view, user).is_some() {
            let enrollments = sel(Enrollments, View::All, vec![one("user", user)]);
            linked(store, snapshot, &enrollments, "class", all)
        } else {
            BTreeSet::new()
        };
        sel(Classes, View::All, vec![Cond::any("sourcedId", classes)])
    };
    // The resources a class or course lists.
    let resources_of = |owner: CollectionId, id: &str| {
        let listed = snapshot
            .find(&store.data, owner, View::All, id)
            .map(|item| {
                let record = item.value(&store.data, owner);
                ref_ids(record.get("resources"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        sel(Resources, View::All, vec![Cond::any("sourcedId", listed)])
    };
    let line_items_of = |class: &str| {
        let items = sel(LineItems, View::All, vec![one("class", class)]);
        linked(store, snapshot, &items, "sourcedId", all)
    };
    Some(match (read.operation, ids) {
        ("getCoursesForSchool", [s]) => sel(Courses, View::All, vec![one("org", s)]),
        ("getClassesForSchool", [s]) => sel(Classes, View::All, vec![one("school", s)]),
        ("getEnrollmentsForSchool", [s]) => sel(Enrollments, View::All, vec![one("school", s)]),
        ("getStudentsForSchool", [s]) => sel(Users, View::Students, vec![one("orgs", s)]),
        ("getTeachersForSchool", [s]) => sel(Users, View::Teachers, vec![one("orgs", s)]),
        ("getTermsForSchool", [s]) => {
            let classes = sel(Classes, View::All, vec![one("school", s)]);
            let terms = linked(store, snapshot, &classes, "terms", all);
            sel(
                AcademicSessions,
                View::Terms,
                vec![Cond::any("sourcedId", terms)],
            )
        }
        ("getEnrollmentsForClassInSchool", [s, c]) => sel(
            Enrollments,
            View::All,
            vec![one("class", c), one("school", s)],
        ),
        ("getStudentsForClassInSchool", [s, c]) => {
            users_of(vec![one("class", c), one("school", s)], View::Students)
        }
        ("getTeachersForClassInSchool", [s, c]) => {
            users_of(vec![one("class", c), one("school", s)], View::Teachers)
        }
        ("getStudentsForClass", [c]) => users_of(vec![one("class", c)], View::Students),
        ("getTeachersForClass", [c]) => users_of(vec![one("class", c)], View::Teachers),
        ("getClassesForCourse", [k]) => sel(Classes, View::All, vec![one("course", k)]),
        ("getClassesForTerm", [t]) => sel(Classes, View::All, vec![one("terms", t)]),
        ("getGradingPeriodsForTerm", [t]) => sel(
            AcademicSessions,
            View::GradingPeriods,
            vec![one("parent", t)],
        ),
        ("getClassesForStudent", [u]) => classes_of(u, View::Students),
        ("getClassesForTeacher", [u]) => classes_of(u, View::Teachers),
        ("getClassesForUser", [u]) => classes_of(u, View::All),
        ("getResourcesForClass", [c]) => resources_of(Classes, c),
        ("getResourcesForCourse", [k]) => resources_of(Courses, k),
        ("getLineItemsForClass", [c]) => sel(LineItems, View::All, vec![one("class", c)]),
        ("getResultsForClass", [c]) => sel(
            Results,
            View::All,
            vec![Cond::any("lineItem", line_items_of(c))],
        ),
        ("getResultsForLineItemForClass", [c, l]) => {
            let mut items = line_items_of(c);
            items.retain(|id| id == l);
            sel(Results, View::All, vec![Cond::any("lineItem", items)])
        }
        ("getResultsForStudentForClass", [c, u]) => sel(
            Results,
            View::All,
            // The student first: the synthetic district finds a student's 8 results directly.
            vec![one("student", u), Cond::any("lineItem", line_items_of(c))],
        ),
        ("getCategoriesForClass", [c]) => {
            let items = sel(LineItems, View::All, vec![one("class", c)]);
            let categories = linked(store, snapshot, &items, "category", all);
            sel(
                Categories,
                View::All,
                vec![Cond::any("sourcedId", categories)],
            )
        }
        _ => return None,
    })
}
