//! The relationship (nested) reads of the v1.1 REST binding: `/schools/{id}/classes` and the rest
//! (docs/oneroster-notes.md §3.3, §3.5, §3.6).

use crate::collection::CollectionId;
use crate::scope::KnownScope;

/// One relationship read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedRead {
    /// The operation's name in the binding, e.g. `getClassesForSchool`.
    pub operation: &'static str,
    /// The path below the base URL, with `{…}` where a sourcedId goes.
    pub path: &'static str,
    /// The collection its records come from; the response uses that collection's key.
    pub collection: CollectionId,
    /// The one scope that grants it: nested rostering reads need `roster.readonly`, which
    /// `roster-core.readonly` does not stand in for (§2.2).
    pub scope: KnownScope,
    /// Not in 1.1 itself but served on v1p1 paths by some hosts (§3.6).
    pub extension: bool,
}

macro_rules! nested {
    ($op:literal, $path:literal, $collection:ident, $scope:ident) => {
        nested!($op, $path, $collection, $scope, false)
    };
    ($op:literal, $path:literal, $collection:ident, $scope:ident, $ext:literal) => {
        NestedRead {
            operation: $op,
            path: $path,
            collection: CollectionId::$collection,
            scope: KnownScope::$scope,
            extension: $ext,
        }
    };
}

/// Every relationship read, in the order of the notes' tables.
#[rustfmt::skip]
pub static NESTED_READS: [NestedRead; 24] = [
    nested!("getCoursesForSchool", "schools/{school_id}/courses", Courses, Roster),
    nested!("getClassesForSchool", "schools/{school_id}/classes", Classes, Roster),
    nested!("getEnrollmentsForSchool", "schools/{school_id}/enrollments", Enrollments, Roster),
    nested!("getStudentsForSchool", "schools/{school_id}/students", Users, Roster),
    nested!("getTeachersForSchool", "schools/{school_id}/teachers", Users, Roster),
    nested!("getTermsForSchool", "schools/{school_id}/terms", AcademicSessions, Roster),
    nested!("getEnrollmentsForClassInSchool", "schools/{school_id}/classes/{class_id}/enrollments", Enrollments, Roster),
    nested!("getStudentsForClassInSchool", "schools/{school_id}/classes/{class_id}/students", Users, Roster),
    nested!("getTeachersForClassInSchool", "schools/{school_id}/classes/{class_id}/teachers", Users, Roster),
    nested!("getStudentsForClass", "classes/{class_id}/students", Users, Roster),
    nested!("getTeachersForClass", "classes/{class_id}/teachers", Users, Roster),
    nested!("getClassesForCourse", "courses/{course_id}/classes", Classes, Roster),
    nested!("getClassesForTerm", "terms/{term_id}/classes", Classes, Roster),
    nested!("getGradingPeriodsForTerm", "terms/{term_id}/gradingPeriods", AcademicSessions, Roster),
    nested!("getClassesForStudent", "students/{student_id}/classes", Classes, Roster),
    nested!("getClassesForTeacher", "teachers/{teacher_id}/classes", Classes, Roster),
    nested!("getClassesForUser", "users/{user_id}/classes", Classes, Roster),
    nested!("getResourcesForClass", "classes/{class_id}/resources", Resources, Resource),
    nested!("getResourcesForCourse", "courses/{course_id}/resources", Resources, Resource),
    nested!("getLineItemsForClass", "classes/{class_id}/lineItems", LineItems, Gradebook),
    nested!("getResultsForClass", "classes/{class_id}/results", Results, Gradebook),
    nested!("getResultsForLineItemForClass", "classes/{class_id}/lineItems/{li_id}/results", Results, Gradebook),
    nested!("getResultsForStudentForClass", "classes/{class_id}/students/{student_id}/results", Results, Gradebook),
    nested!("getCategoriesForClass", "classes/{class_id}/categories", Categories, Gradebook, true),
];

impl NestedRead {
    /// The path's segments; `None` stands for a sourcedId.
    pub fn segments(&self) -> impl Iterator<Item = Option<&'static str>> {
        self.path
            .split('/')
            .map(|s| (!s.starts_with('{')).then_some(s))
    }

    /// The read whose template `segments` (already split and percent-decoded) fit, with the
    /// sourcedIds in the order they appear.
    pub fn find<'a>(segments: &[&'a str]) -> Option<(&'static NestedRead, Vec<&'a str>)> {
        NESTED_READS.iter().find_map(|read| {
            let template: Vec<Option<&str>> = read.segments().collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut ids = Vec::new();
            for (want, got) in template.iter().zip(segments) {
                match want {
                    Some(literal) if literal == got => {}
                    Some(_) => return None,
                    None => ids.push(*got),
                }
            }
            Some((read, ids))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_with_their_ids() {
        let (read, ids) =
            NestedRead::find(&["schools", "s1", "classes", "c1", "students"]).unwrap();
        assert_eq!(read.operation, "getStudentsForClassInSchool");
        assert_eq!(ids, ["s1", "c1"]);
        let (read, ids) =
            NestedRead::find(&["classes", "c1", "lineItems", "l1", "results"]).unwrap();
        assert_eq!(
            (read.collection, ids),
            (CollectionId::Results, vec!["c1", "l1"])
        );
        assert!(NestedRead::find(&["schools", "s1", "nope"]).is_none());
        assert!(NestedRead::find(&["users"]).is_none());
        for read in &NESTED_READS {
            let n = NESTED_READS.iter().filter(|r| r.path == read.path).count();
            assert_eq!(n, 1, "{} is listed once", read.path);
        }
    }
}
