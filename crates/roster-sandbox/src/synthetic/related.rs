//! The synthetic district's own index for relationship reads: from its structure, which records
//! reference a given school, class, course, term, user or line item — without generating the rest.

use super::{LINE_ITEMS_PER_CLASS, PERIODS, Synthetic, TERM_1, TERM_2};
use crate::cond::Cond;
use crate::endpoints::View;
use crate::members::Members;
use oneroster::CollectionId;

impl Synthetic {
    /// Exactly the base records of `view` that meet `cond`, for the (collection, view, field)
    /// combinations the relationship reads use; `None` for the others.
    pub(crate) fn related(
        &self,
        collection: CollectionId,
        view: View,
        cond: &Cond,
    ) -> Option<Members> {
        use CollectionId::*;
        if (collection, view, cond.field) == (Courses, View::All, "org") {
            // Every course belongs to the district; schools own none.
            let district = cond
                .ids
                .iter()
                .any(|id| self.find(Orgs, View::All, id) == Some(0));
            return Some(Members::range(0, if district { self.courses } else { 0 }));
        }
        let runs_of: fn(&Synthetic, u64, &mut Vec<(u64, u64)>) =
            match (collection, view, cond.field) {
                (Classes, View::All, "school") => {
                    |s, school, runs| runs.push((s.first_class(school), s.first_class(school + 1)))
                }
                (Classes, View::All, "course") => |s, k, runs| {
                    let end = if k + 1 == s.courses {
                        s.classes
                    } else {
                        4 * k + 4
                    };
                    runs.push((4 * k, end.min(s.classes)));
                },
                (Classes, View::All, "terms") => Synthetic::classes_of_term,
                (Enrollments, View::All, "school") => |s, school, runs| {
                    let (lo, hi) = s.students_of_school(school);
                    runs.push((PERIODS * lo, PERIODS * hi));
                    let teachers = PERIODS * s.students;
                    runs.push((
                        teachers + s.first_class(school),
                        teachers + s.first_class(school + 1),
                    ));
                },
                (Enrollments, View::All, "class") => |s, c, runs| {
                    runs.extend(
                        s.takers(c)
                            .map(|(i, j)| (PERIODS * i + j, PERIODS * i + j + 1)),
                    );
                    let at = PERIODS * s.students + c;
                    runs.push((at, at + 1));
                },
                (Enrollments, View::All, "user") => |s, u, runs| {
                    if let Some(i) = s.student_number(u) {
                        runs.push((PERIODS * i, PERIODS * i + PERIODS));
                    } else if let Some(t) = s.teacher_number(u) {
                        let (lo, hi) = s.classes_of_teacher(t);
                        runs.push((PERIODS * s.students + lo, PERIODS * s.students + hi));
                    }
                },
                (Users, View::Students, "orgs") => |s, school, runs| {
                    let (lo, hi) = s.students_of_school(school);
                    runs.push((s.admins + lo, s.admins + hi));
                },
                (Users, View::Teachers, "orgs") => |s, school, runs| {
                    let school_of = |t: u64| s.school_of_class((5 * t).min(s.classes - 1));
                    let lo = partition_point(s.teachers, |t| school_of(t) < school);
                    let hi = partition_point(s.teachers, |t| school_of(t) <= school);
                    let first = s.admins + s.students;
                    runs.push((first + lo, first + hi));
                },
                (LineItems, View::All, "class") => |_, c, runs| {
                    runs.push((
                        LINE_ITEMS_PER_CLASS * c,
                        LINE_ITEMS_PER_CLASS * c + LINE_ITEMS_PER_CLASS,
                    ))
                },
                (Results, View::All, "lineItem") => |s, li, runs| {
                    let (c, k) = (li / LINE_ITEMS_PER_CLASS, li % LINE_ITEMS_PER_CLASS);
                    runs.extend(
                        s.takers(c)
                            .filter(|(i, j)| (i + j) % LINE_ITEMS_PER_CLASS == k)
                            .map(|(i, j)| (PERIODS * i + j, PERIODS * i + j + 1)),
                    );
                },
                (Results, View::All, "student") => |s, u, runs| {
                    if let Some(i) = s.student_number(u) {
                        runs.push((PERIODS * i, PERIODS * i + PERIODS));
                    }
                },
                _ => return None,
            };
        // The ids are of the referenced collection: schools are orgs, terms sessions, and so on.
        let referenced = match (collection, cond.field) {
            (Classes | Enrollments | Users, "school" | "orgs") => (Orgs, View::Schools),
            (Classes, "course") => (Courses, View::All),
            (Classes, "terms") => (AcademicSessions, View::Terms),
            (Enrollments | LineItems, "class") => (Classes, View::All),
            (Enrollments | Results, "user" | "student") => (Users, View::All),
            (Results, "lineItem") => (LineItems, View::All),
            _ => return None,
        };
        let mut runs = Vec::new();
        for id in &cond.ids {
            if let Some(index) = self.find(referenced.0, referenced.1, id) {
                // Schools are orgs after the district; the rest are numbered as their collection.
                let number = if referenced.0 == Orgs {
                    index - 1
                } else {
                    index
                };
                runs_of(self, number, &mut runs);
            }
        }
        runs.sort_unstable();
        let mut members = Members::default();
        let mut end = 0;
        for (lo, hi) in runs {
            let lo = lo.max(end);
            if hi > lo {
                members.push(lo, hi);
                end = hi;
            }
        }
        Some(members)
    }

    /// Students of school `s`: `[lo, hi)` in student numbers (`school_of_student` inverted).
    fn students_of_school(&self, s: u64) -> (u64, u64) {
        let at = |s: u64| {
            let (n, schools) = (u128::from(self.students), u128::from(self.schools));
            u64::try_from((u128::from(s) * n).div_ceil(schools)).expect("fits")
        };
        (at(s), at(s + 1))
    }

    /// The (student, period slot) pairs taking class `c`.
    fn takers(&self, c: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let school = self.school_of_class(c);
        let j = (c - self.first_class(school)) % PERIODS;
        let (lo, hi) = self.students_of_school(school);
        (lo..hi)
            .filter(move |&i| self.class_of(i, j) == c)
            .map(move |i| (i, j))
    }

    /// Classes of term session `t` (an index into the session ids): fall-only, spring-only and
    /// year-long classes repeat every 4 (`terms_of_class`).
    fn classes_of_term(&self, t: u64, runs: &mut Vec<(u64, u64)>) {
        let within: &[(u64, u64)] = match t as usize {
            TERM_1 => &[(0, 1), (2, 4)],
            TERM_2 => &[(1, 4)],
            _ => &[],
        };
        for base in (0..self.classes).step_by(4) {
            for (lo, hi) in within {
                runs.push((base + lo, (base + hi).min(self.classes)));
            }
        }
    }

    /// Classes teacher `t` teaches (`teacher_of_class` inverted).
    fn classes_of_teacher(&self, t: u64) -> (u64, u64) {
        let hi = if t + 1 == self.teachers {
            self.classes
        } else {
            5 * t + 5
        };
        ((5 * t).min(self.classes), hi.min(self.classes))
    }

    /// The student number of user `u` (a base index), if a student.
    fn student_number(&self, u: u64) -> Option<u64> {
        (self.admins..self.admins + self.students)
            .contains(&u)
            .then(|| u - self.admins)
    }

    /// The teacher number of user `u`, if a teacher.
    fn teacher_number(&self, u: u64) -> Option<u64> {
        let first = self.admins + self.students;
        (first..first + self.teachers)
            .contains(&u)
            .then(|| u - first)
    }
}

/// The first `t` in `0..n` for which `below` is false (`below` true then false, once).
fn partition_point(n: u64, below: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;
    use serde_json::value::RawValue;

    use super::*;

    /// The members the conditions below read.
    const REFERENCES: [&str; 9] = [
        "school", "course", "terms", "class", "user", "student", "orgs", "org", "lineItem",
    ];

    /// The index agrees with reading every record of the view.
    #[test]
    fn the_index_finds_exactly_what_a_scan_finds() {
        let s = Synthetic::new(1_700, 3);
        let id =
            |c: CollectionId, i: u64| String::from_utf8(s.id(c, i).as_bytes().to_vec()).unwrap();
        // Each collection read once, parsed: the scan the index must agree with.
        let records: std::collections::BTreeMap<CollectionId, Vec<Value>> = [
            CollectionId::Classes,
            CollectionId::Enrollments,
            CollectionId::Users,
            CollectionId::LineItems,
            CollectionId::Results,
        ]
        .into_iter()
        .chain([CollectionId::Courses])
        .map(|c| {
            let parsed = (0..s.len(c))
                .map(|i| {
                    let mut raw = Vec::new();
                    s.write(c, i, &mut raw);
                    // Only the members conditions look at, parsed: the rest stays raw (faster).
                    let members: serde_json::Map<String, Value> =
                        serde_json::from_slice::<BTreeMap<String, &RawValue>>(&raw)
                            .unwrap()
                            .into_iter()
                            .filter(|(k, _)| REFERENCES.contains(&k.as_str()))
                            .map(|(k, v)| (k, serde_json::from_str(v.get()).unwrap()))
                            .collect();
                    Value::Object(members)
                })
                .collect();
            (c, parsed)
        })
        .collect();
        assert_eq!(s.schools, 2);
        let (first_school, school) = (id(CollectionId::Orgs, 1), id(CollectionId::Orgs, 2));
        let class = id(CollectionId::Classes, 37);
        let last_class = id(CollectionId::Classes, s.classes - 1);
        let student = id(CollectionId::Users, s.admins + 100);
        let teacher = id(CollectionId::Users, s.admins + s.students + 3);
        let cases = [
            (
                CollectionId::Classes,
                View::All,
                Cond::one("school", &school),
            ),
            (
                CollectionId::Classes,
                View::All,
                Cond::one("course", &id(CollectionId::Courses, 9)),
            ),
            (
                CollectionId::Classes,
                View::All,
                Cond::one("course", &id(CollectionId::Courses, s.courses - 1)),
            ),
            (
                CollectionId::Classes,
                View::All,
                Cond::one("terms", "as-term-1"),
            ),
            (
                CollectionId::Classes,
                View::All,
                Cond::one("terms", "as-term-2"),
            ),
            (
                CollectionId::Enrollments,
                View::All,
                Cond::one("school", &school),
            ),
            (
                CollectionId::Enrollments,
                View::All,
                Cond::one("school", &first_school),
            ),
            (
                CollectionId::Enrollments,
                View::All,
                Cond::one("class", &class),
            ),
            (
                CollectionId::Enrollments,
                View::All,
                Cond::one("class", &last_class),
            ),
            (
                CollectionId::Enrollments,
                View::All,
                Cond::one("user", &student),
            ),
            (
                CollectionId::Enrollments,
                View::All,
                Cond::one("user", &teacher),
            ),
            (
                CollectionId::Users,
                View::Students,
                Cond::one("orgs", &school),
            ),
            (
                CollectionId::Users,
                View::Teachers,
                Cond::one("orgs", &school),
            ),
            (
                CollectionId::Users,
                View::Teachers,
                Cond::one("orgs", &first_school),
            ),
            (
                CollectionId::LineItems,
                View::All,
                Cond::one("class", &class),
            ),
            (
                CollectionId::Results,
                View::All,
                Cond::any(
                    "lineItem",
                    BTreeSet::from([
                        id(CollectionId::LineItems, 150),
                        id(CollectionId::LineItems, 151),
                    ]),
                ),
            ),
            (
                CollectionId::Results,
                View::All,
                Cond::one("student", &student),
            ),
            (
                CollectionId::Classes,
                View::All,
                Cond::one("school", "no-such-school"),
            ),
        ];
        for (collection, view, cond) in cases {
            let indexed = s.related(collection, view, &cond).expect("indexed");
            let got: Vec<u64> = indexed.indices(0, indexed.len()).collect();
            let (start, len) = s.view_range(collection, view);
            let all = &records[&collection];
            let want: Vec<u64> = (start..start + len)
                .filter(|&i| cond.holds(&all[i as usize]))
                .collect();
            assert_eq!(got, want, "{collection} {view:?} {cond:?}");
            let empty = cond.ids.contains("no-such-school")
                || (collection == CollectionId::Courses && cond.ids.contains(&school));
            assert_eq!(want.is_empty(), empty, "{cond:?}");
        }
        assert!(
            s.related(CollectionId::Orgs, View::All, &Cond::one("parent", "x"))
                .is_none()
        );
        assert_eq!(super::super::SESSION_IDS[TERM_1], "as-term-1");
    }
}
