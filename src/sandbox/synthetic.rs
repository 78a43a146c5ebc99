//! A synthetic district of any size, generated record by record from its index: nothing is
//! stored, the same (users, seed) always gives the same bytes, and ids sort in index order.
//!
//! Shape for N users: one teacher per 25 users (one class each), the rest students in 10 classes
//! each; a school per 800 users; a course per 4 classes; 4 line items per class; 2 results and one
//! demographics record per student. So 200,000 users give ~1.9M enrollments and 384,000 results.

use std::io::Write as _;

use crate::oneroster::CollectionId;

const MODIFIED: &str = "2025-08-01T12:00:00.000Z";
const HREF: &str = "https://sandbox.invalid/ims/oneroster/v1p1";
/// Classes each student is enrolled in.
const CLASSES_PER_STUDENT: u64 = 10;
const LINE_ITEMS_PER_CLASS: u64 = 4;
const RESULTS_PER_STUDENT: u64 = 2;
const SESSIONS: u64 = 7;
const CATEGORIES: u64 = 3;
const RESOURCES: u64 = 5;

const GIVEN: [&str; 16] = [
    "Ana",
    "José",
    "Zoë",
    "Liam",
    "Mary-Kate",
    "Łukasz",
    "Noah",
    "美咲",
    "Amara",
    "Søren",
    "Chloé",
    "Robert \"Bobby\"",
    "Siobhán",
    "Mateo",
    "Aaliyah",
    "Dmitri",
];
const FAMILY: [&str; 16] = [
    "Smith, Jr.",
    "O'Brien",
    "Nguyễn",
    "García",
    "Müller",
    "Okafor",
    "D'Angelo",
    "Ivanov",
    "Dubois",
    "Kim",
    "Åström",
    "佐藤",
    "Johnson",
    "Silva",
    "Lefèvre",
    "Wiśniewski",
];
const SUBJECTS: [&str; 6] = [
    "Mathematics",
    "Science",
    "English",
    "Social Studies",
    "World Languages",
    "Arts, Music & Drama",
];

pub(crate) struct Synthetic {
    seed: u64,
    users: u64,
    teachers: u64,
    students: u64,
    schools: u64,
    classes: u64,
    courses: u64,
}

impl Synthetic {
    pub fn new(users: u64, seed: u64) -> Synthetic {
        let users = users.max(1);
        let teachers = (users / 25).max(1).min(users);
        let classes = teachers;
        Synthetic {
            seed,
            users,
            teachers,
            students: users - teachers,
            schools: (users / 800).max(1),
            classes,
            courses: (classes / 4).max(1),
        }
    }

    pub fn len(&self, c: CollectionId) -> u64 {
        match c {
            CollectionId::Orgs => 1 + self.schools,
            CollectionId::AcademicSessions => SESSIONS,
            CollectionId::Courses => self.courses,
            CollectionId::Classes => self.classes,
            CollectionId::Users => self.users,
            CollectionId::Enrollments => self.teachers + self.students * CLASSES_PER_STUDENT,
            CollectionId::Demographics => self.students,
            CollectionId::Categories => CATEGORIES,
            CollectionId::LineItems => self.classes * LINE_ITEMS_PER_CLASS,
            CollectionId::Results => self.students * RESULTS_PER_STUDENT,
            CollectionId::Resources => RESOURCES,
        }
    }

    pub fn find(&self, c: CollectionId, id: &str) -> Option<u64> {
        let digits = id.strip_prefix(prefix(c))?;
        if digits.len() != width(c) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index: u64 = digits.parse().ok()?;
        // Demographics share the student's id.
        let index = if c == CollectionId::Demographics {
            index.checked_sub(self.teachers)?
        } else {
            index
        };
        (index < self.len(c)).then_some(index)
    }

    /// A number from the seed and a record's coordinates (splitmix64).
    fn pick(&self, salt: u64, index: u64) -> u64 {
        let mut z = self.seed
            ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn school_of_class(&self, class: u64) -> u64 {
        1 + class % self.schools
    }

    /// The k-th class of student j: spread so each student's classes differ when there are enough.
    fn class_of(&self, student: u64, k: u64) -> u64 {
        let stride = (self.classes / CLASSES_PER_STUDENT).max(1);
        (student * 7 + k * stride) % self.classes
    }

    pub fn write(&self, c: CollectionId, i: u64, out: &mut Vec<u8>) {
        let mut w = Json { out };
        match c {
            CollectionId::Orgs => {
                w.open(c, i);
                if i == 0 {
                    w.field("name", "Synthetic Unified School District");
                    w.field("type", "district");
                    w.field("identifier", "NCES-9900000");
                } else {
                    w.field(
                        "name",
                        &format!(
                            "{} {} School, Campus {i}",
                            FAMILY[(i % 16) as usize],
                            ["Elementary", "Middle", "High"][(i % 3) as usize]
                        ),
                    );
                    w.field("type", "school");
                    w.field("identifier", &format!("NCES-99{i:07}"));
                    w.reference("parent", "org", CollectionId::Orgs, 0);
                }
            }
            CollectionId::AcademicSessions => {
                w.open(c, i);
                let (title, kind, start, end, parent) = match i {
                    0 => (
                        "School Year 2025–26",
                        "schoolYear",
                        "2025-08-15",
                        "2026-06-12",
                        None,
                    ),
                    1 => ("Fall Term", "term", "2025-08-15", "2025-12-19", Some(0)),
                    2 => ("Spring Term", "term", "2026-01-06", "2026-06-12", Some(0)),
                    3 => (
                        "Quarter 1",
                        "gradingPeriod",
                        "2025-08-15",
                        "2025-10-17",
                        Some(1),
                    ),
                    4 => (
                        "Quarter 2",
                        "gradingPeriod",
                        "2025-10-20",
                        "2025-12-19",
                        Some(1),
                    ),
                    5 => (
                        "Quarter 3",
                        "gradingPeriod",
                        "2026-01-06",
                        "2026-03-20",
                        Some(2),
                    ),
                    _ => (
                        "Quarter 4",
                        "gradingPeriod",
                        "2026-03-23",
                        "2026-06-12",
                        Some(2),
                    ),
                };
                w.field("title", title);
                w.field("type", kind);
                w.field("startDate", start);
                w.field("endDate", end);
                if let Some(p) = parent {
                    w.reference(
                        "parent",
                        "academicSession",
                        CollectionId::AcademicSessions,
                        p,
                    );
                }
                w.field("schoolYear", "2026");
            }
            CollectionId::Courses => {
                w.open(c, i);
                let subject = SUBJECTS[(i % 6) as usize];
                w.field("title", &format!("{subject} {}", 1 + i % 4));
                w.field("courseCode", &format!("C-{i:05}"));
                w.list("grades", &[&format!("{:02}", 6 + i % 7)]);
                w.list("subjects", &[subject]);
                w.reference("org", "org", CollectionId::Orgs, 1 + i % self.schools);
                w.reference(
                    "schoolYear",
                    "academicSession",
                    CollectionId::AcademicSessions,
                    0,
                );
            }
            CollectionId::Classes => {
                w.open(c, i);
                let course = i % self.courses;
                w.field(
                    "title",
                    &format!(
                        "{} {} — Section {}",
                        SUBJECTS[(course % 6) as usize],
                        1 + course % 4,
                        i
                    ),
                );
                w.field("classCode", &format!("SEC-{i:06}"));
                w.field(
                    "classType",
                    if i.is_multiple_of(10) {
                        "homeroom"
                    } else {
                        "scheduled"
                    },
                );
                w.field("location", &format!("Room {}", 100 + i % 300));
                w.list("grades", &[&format!("{:02}", 6 + course % 7)]);
                w.list("subjects", &[SUBJECTS[(course % 6) as usize]]);
                w.list("periods", &[&format!("{}", 1 + i % 8)]);
                w.reference("course", "course", CollectionId::Courses, course);
                w.reference("school", "org", CollectionId::Orgs, self.school_of_class(i));
                w.references(
                    "terms",
                    "academicSession",
                    CollectionId::AcademicSessions,
                    &[1, 2],
                );
            }
            CollectionId::Users => {
                w.open(c, i);
                let teacher = i < self.teachers;
                let given = GIVEN[(self.pick(1, i) % 16) as usize];
                let family = FAMILY[(self.pick(2, i) % 16) as usize];
                w.field("username", &format!("u{i:08}"));
                w.raw("enabledUser", "true");
                w.field("givenName", given);
                w.field("familyName", family);
                w.field("role", if teacher { "teacher" } else { "student" });
                w.field(
                    "identifier",
                    &format!("{}{i:08}", if teacher { "T" } else { "S" }),
                );
                w.field("email", &format!("u{i:08}@synthetic.example"));
                let school = if teacher {
                    self.school_of_class(i)
                } else {
                    self.school_of_class(self.class_of(i - self.teachers, 0))
                };
                w.references("orgs", "org", CollectionId::Orgs, &[school]);
                w.user_ids(&[("LDAP", &format!("u{i:08}"))]);
                if !teacher {
                    w.list("grades", &[&format!("{:02}", 6 + self.pick(3, i) % 7)]);
                }
            }
            CollectionId::Enrollments => {
                w.open(c, i);
                let (user, class, role) = if i < self.teachers {
                    (i, i, "teacher")
                } else {
                    let j = (i - self.teachers) / CLASSES_PER_STUDENT;
                    let k = (i - self.teachers) % CLASSES_PER_STUDENT;
                    (self.teachers + j, self.class_of(j, k), "student")
                };
                w.field("role", role);
                w.raw("primary", if role == "teacher" { "true" } else { "false" });
                w.reference("user", "user", CollectionId::Users, user);
                w.reference("class", "class", CollectionId::Classes, class);
                w.reference(
                    "school",
                    "org",
                    CollectionId::Orgs,
                    self.school_of_class(class),
                );
                w.field("beginDate", "2025-08-15");
            }
            CollectionId::Demographics => {
                w.open(c, self.teachers + i);
                w.field(
                    "birthDate",
                    &format!(
                        "{}-{:02}-{:02}",
                        2008 + self.pick(4, i) % 8,
                        1 + self.pick(5, i) % 12,
                        1 + self.pick(6, i) % 28
                    ),
                );
                w.field(
                    "sex",
                    if self.pick(7, i).is_multiple_of(2) {
                        "female"
                    } else {
                        "male"
                    },
                );
                for (k, flag) in [
                    "americanIndianOrAlaskaNative",
                    "asian",
                    "blackOrAfricanAmerican",
                    "white",
                    "hispanicOrLatinoEthnicity",
                ]
                .iter()
                .enumerate()
                {
                    w.raw(
                        flag,
                        if self.pick(8 + k as u64, i).is_multiple_of(4) {
                            "true"
                        } else {
                            "false"
                        },
                    );
                }
                w.field(
                    "cityOfBirth",
                    ["San José", "Springfield", "Zürich", "Ciudad de México"][(i % 4) as usize],
                );
            }
            CollectionId::Categories => {
                w.open(c, i);
                w.field(
                    "title",
                    ["Homework", "Quizzes, Tests & Exams", "Labs \"hands-on\""][i as usize % 3],
                );
            }
            CollectionId::LineItems => {
                w.open(c, i);
                let class = i / LINE_ITEMS_PER_CLASS;
                w.field(
                    "title",
                    &format!(
                        "Assignment {} of section {class}",
                        1 + i % LINE_ITEMS_PER_CLASS
                    ),
                );
                w.field("assignDate", "2025-09-01T08:00:00.000Z");
                w.field("dueDate", "2025-09-08T23:59:00.000Z");
                w.reference("class", "class", CollectionId::Classes, class);
                w.reference(
                    "category",
                    "category",
                    CollectionId::Categories,
                    i % CATEGORIES,
                );
                w.reference(
                    "gradingPeriod",
                    "academicSession",
                    CollectionId::AcademicSessions,
                    3 + i % 4,
                );
                w.raw("resultValueMin", "0.0");
                w.raw("resultValueMax", "100.0");
            }
            CollectionId::Results => {
                w.open(c, i);
                let j = i / RESULTS_PER_STUDENT;
                let line_item =
                    self.class_of(j, 0) * LINE_ITEMS_PER_CLASS + i % RESULTS_PER_STUDENT;
                w.reference("lineItem", "lineItem", CollectionId::LineItems, line_item);
                w.reference("student", "user", CollectionId::Users, self.teachers + j);
                w.field("scoreStatus", "fully graded");
                w.raw(
                    "score",
                    &format!("{}.{}", self.pick(20, i) % 101, self.pick(21, i) % 10),
                );
                w.field("scoreDate", "2025-09-10");
            }
            CollectionId::Resources => {
                w.open(c, i);
                w.field("title", &format!("Resource {i}"));
                w.field("vendorResourceId", &format!("vr-{i}"));
                w.field("importance", if i == 0 { "primary" } else { "secondary" });
            }
        }
        w.out.push(b'}');
    }
}

fn prefix(c: CollectionId) -> &'static str {
    match c {
        CollectionId::Orgs => "org-",
        CollectionId::AcademicSessions => "as-",
        CollectionId::Courses => "course-",
        CollectionId::Classes => "class-",
        CollectionId::Users | CollectionId::Demographics => "user-",
        CollectionId::Enrollments => "enr-",
        CollectionId::Categories => "cat-",
        CollectionId::LineItems => "li-",
        CollectionId::Results => "result-",
        CollectionId::Resources => "resource-",
    }
}

fn width(c: CollectionId) -> usize {
    match c {
        CollectionId::AcademicSessions | CollectionId::Categories | CollectionId::Resources => 2,
        CollectionId::Orgs | CollectionId::Courses | CollectionId::Classes => 6,
        _ => 8,
    }
}

/// A record under construction: `{"sourcedId":…,"status":…,"dateLastModified":…` then fields.
struct Json<'a> {
    out: &'a mut Vec<u8>,
}

impl Json<'_> {
    fn open(&mut self, c: CollectionId, index: u64) {
        self.out.extend_from_slice(b"{\"sourcedId\":\"");
        self.id(c, index);
        self.out
            .extend_from_slice(b"\",\"status\":\"active\",\"dateLastModified\":\"");
        self.out.extend_from_slice(MODIFIED.as_bytes());
        self.out.push(b'"');
    }

    fn id(&mut self, c: CollectionId, index: u64) {
        let _ = write!(self.out, "{}{:0width$}", prefix(c), index, width = width(c));
    }

    fn key(&mut self, key: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn string(&mut self, value: &str) {
        self.out.push(b'"');
        for b in value.bytes() {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b if b < 0x20 => {
                    let _ = write!(self.out, "\\u{b:04x}");
                }
                b => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }

    fn field(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
    }

    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn list(&mut self, key: &str, values: &[&str]) {
        self.key(key);
        self.out.push(b'[');
        for (n, v) in values.iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            self.string(v);
        }
        self.out.push(b']');
    }

    fn guid_ref(&mut self, kind: &str, c: CollectionId, index: u64) {
        let path = c.info().path;
        self.out.extend_from_slice(b"{\"href\":\"");
        let _ = write!(self.out, "{HREF}/{path}/");
        self.id(c, index);
        self.out.extend_from_slice(b"\",\"sourcedId\":\"");
        self.id(c, index);
        let _ = write!(self.out, "\",\"type\":\"{kind}\"}}");
    }

    fn reference(&mut self, key: &str, kind: &str, c: CollectionId, index: u64) {
        self.key(key);
        self.guid_ref(kind, c, index);
    }

    fn references(&mut self, key: &str, kind: &str, c: CollectionId, indexes: &[u64]) {
        self.key(key);
        self.out.push(b'[');
        for (n, &i) in indexes.iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            self.guid_ref(kind, c, i);
        }
        self.out.push(b']');
    }

    fn user_ids(&mut self, ids: &[(&str, &str)]) {
        self.key("userIds");
        self.out.push(b'[');
        for (n, (kind, id)) in ids.iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"{\"type\":");
            self.string(kind);
            self.out.extend_from_slice(b",\"identifier\":");
            self.string(id);
            self.out.push(b'}');
        }
        self.out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_is_valid_json_with_its_own_id() {
        let s = Synthetic::new(300, 7);
        for c in CollectionId::all() {
            let mut previous = String::new();
            for i in 0..s.len(c) {
                let mut out = Vec::new();
                s.write(c, i, &mut out);
                let v: serde_json::Value =
                    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{c} {i}: {e}"));
                let id = v["sourcedId"].as_str().unwrap().to_string();
                assert!(id > previous, "{c}: ids sort in index order");
                assert_eq!(s.find(c, &id), Some(i), "{c} {id}");
                previous = id;
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_and_sizes_scale() {
        let (a, b) = (Synthetic::new(1000, 3), Synthetic::new(1000, 3));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.write(CollectionId::Users, 500, &mut x);
        b.write(CollectionId::Users, 500, &mut y);
        assert_eq!(x, y);
        let big = Synthetic::new(200_000, 1);
        assert_eq!(big.len(CollectionId::Users), 200_000);
        assert!(big.len(CollectionId::Enrollments) > 1_900_000);
        assert!(big.len(CollectionId::Results) > 380_000);
    }
}
