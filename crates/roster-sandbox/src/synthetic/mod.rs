//! Synthetic districts of any size, generated record by record from (collection, index): a district
//! of 200,000 users and 1.6 million enrollments needs no memory, and the same size and seed always
//! give the same bytes.
//!
//! Shape for `users` = N: schools ≈ N/800 (at least 1), classes ≈ N/25 (at least 8 per school),
//! courses ≈ classes/4, one administrator per school, one teacher per 5 classes, the rest students.
//! Each student takes 8 classes in their school (one per period) and has a result in each; each class
//! has one primary teacher and 4 line items. One school year, 2 terms, 4 grading periods, 3
//! categories, 3 resources. Every record is `active`.
//!
//! Ids are zero-padded so that sorting by sourcedId is index order: a typed view (`/students`,
//! `/schools`, `/terms`, …) is a contiguous range, and a single-record lookup is a binary search.

use std::cmp::Ordering;

mod related;

use super::endpoints::View;
use super::json::{push_escaped, push_padded, push_str, push_u64};
use oneroster::CollectionId;

/// Placeholder origin of GUIDRef `href`s (the fixture files use the same one).
const HREF: &str = "https://sandbox.invalid/ims/oneroster/v1p1/";

/// The largest district generated: ids are padded for it.
pub(crate) const MAX_USERS: u64 = 50_000_000;

const PERIODS: u64 = 8;
const LINE_ITEMS_PER_CLASS: u64 = 4;

/// One synthetic district: only its counts and seed; records are written on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Synthetic {
    seed: u64,
    schools: u64,
    classes: u64,
    courses: u64,
    admins: u64,
    teachers: u64,
    students: u64,
}

/// A sourcedId built on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Id {
    bytes: [u8; 32],
    len: usize,
}

impl Id {
    fn new(text: &str) -> Id {
        Id {
            bytes: [0; 32],
            len: 0,
        }
        .text(text)
    }

    fn text(mut self, text: &str) -> Id {
        self.bytes[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
        self.len += text.len();
        self
    }

    fn num(mut self, n: u64, width: usize) -> Id {
        let mut digits = Vec::with_capacity(20);
        push_padded(&mut digits, n, width);
        self.bytes[self.len..self.len + digits.len()].copy_from_slice(&digits);
        self.len += digits.len();
        self
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

const SESSION_IDS: [&str; 7] = [
    "as-gp-1",
    "as-gp-2",
    "as-gp-3",
    "as-gp-4",
    "as-sy-2026",
    "as-term-1",
    "as-term-2",
];
const SCHOOL_YEAR: usize = 4;
const TERM_1: usize = 5;
const TERM_2: usize = 6;
/// One academic session of the synthetic calendar; `parent` and `children` index [`SESSION_IDS`].
struct Session {
    title: &'static str,
    kind: &'static str,
    start: &'static str,
    end: &'static str,
    parent: Option<usize>,
    children: &'static [usize],
}

const SESSIONS: [Session; 7] = [
    Session {
        title: "Quarter 1",
        kind: "gradingPeriod",
        start: "2025-08-18",
        end: "2025-10-17",
        parent: Some(TERM_1),
        children: &[],
    },
    Session {
        title: "Quarter 2",
        kind: "gradingPeriod",
        start: "2025-10-20",
        end: "2025-12-19",
        parent: Some(TERM_1),
        children: &[],
    },
    Session {
        title: "Quarter 3",
        kind: "gradingPeriod",
        start: "2026-01-05",
        end: "2026-03-20",
        parent: Some(TERM_2),
        children: &[],
    },
    Session {
        title: "Quarter 4",
        kind: "gradingPeriod",
        start: "2026-03-23",
        end: "2026-06-05",
        parent: Some(TERM_2),
        children: &[],
    },
    Session {
        title: "2025–2026",
        kind: "schoolYear",
        start: "2025-08-18",
        end: "2026-06-05",
        parent: None,
        children: &[TERM_1, TERM_2],
    },
    Session {
        title: "Fall 2025",
        kind: "term",
        start: "2025-08-18",
        end: "2025-12-19",
        parent: Some(SCHOOL_YEAR),
        children: &[0, 1],
    },
    Session {
        title: "Spring 2026",
        kind: "term",
        start: "2026-01-05",
        end: "2026-06-05",
        parent: Some(SCHOOL_YEAR),
        children: &[2, 3],
    },
];
/// Enrollment dates per term set: (beginDate, endDate exclusive).
const FALL_DATES: (&str, &str) = ("2025-08-18", "2025-12-20");
const SPRING_DATES: (&str, &str) = ("2026-01-05", "2026-06-06");
const YEAR_DATES: (&str, &str) = ("2025-08-18", "2026-06-06");
/// Per grading period: assignment day, due day.
const GP_DAYS: [(&str, &str); 4] = [
    ("2025-09-08", "2025-09-15"),
    ("2025-11-03", "2025-11-10"),
    ("2026-02-02", "2026-02-09"),
    ("2026-04-20", "2026-04-27"),
];

const CATEGORIES: [(&str, &str); 3] = [
    ("cat-1", "Homework"),
    ("cat-2", "Quizzes & Tests"),
    ("cat-3", "Projects, \"Labs\" & Portfolios"),
];
/// (id, title, roles, importance, vendorResourceId, vendorId, applicationId)
const RESOURCES: [(&str, &str, &str, &str, &str, &str, &str); 3] = [
    (
        "res-1",
        "Math Practice, Grades 6–12",
        "student",
        "primary",
        "SYN-MATH-1",
        "vendor-synthetic",
        "app-practice",
    ),
    (
        "res-2",
        "Virtual Lab: \"Cells & Systems\"",
        "student",
        "secondary",
        "SYN-LAB-2",
        "vendor-synthetic",
        "app-lab",
    ),
    (
        "res-3",
        "Lectures faciles — français",
        "teacher",
        "primary",
        "SYN-FR-3",
        "vendor-lectures",
        "app-lectures",
    ),
];

/// (course name, subject, SCED code)
const SUBJECTS: [(&str, &str, &str); 12] = [
    ("Algebra", "Mathematics", "02052"),
    ("Geometry", "Mathematics", "02072"),
    ("Biology", "Life and Physical Sciences", "03051"),
    ("Chemistry", "Life and Physical Sciences", "03101"),
    (
        "English Language Arts",
        "English Language and Literature",
        "01001",
    ),
    ("World History", "Social Sciences and History", "04051"),
    ("Spanish", "World Languages", "06101"),
    ("Français", "World Languages", "06201"),
    ("Art & Design", "Fine and Performing Arts", "05154"),
    ("Music: \"Choir\"", "Fine and Performing Arts", "05110"),
    (
        "Physical Education",
        "Physical, Health, and Safety Education",
        "08001",
    ),
    (
        "Computer Science, Intro",
        "Computer and Information Sciences",
        "10011",
    ),
];
const LINE_ITEM_TITLES: [&str; 4] = [
    "Homework 1",
    "Quiz 2: \"Pop\" Quiz",
    "Lab Report, Draft 3",
    "Unit Test 4",
];
const GRADE_BANDS: [&[&str]; 3] = [
    &["09", "10", "11", "12"],
    &["06", "07", "08"],
    &["KG", "01", "02", "03", "04", "05"],
];
const SCHOOL_KINDS: [&str; 3] = ["High School", "Middle School", "Elementary School"];

const GIVEN_A: [&str; 16] = [
    "Al", "Be", "Ca", "Da", "El", "Fa", "Ga", "Ha", "Is", "Ja", "Ka", "Le", "Ma", "Na", "Ol", "Ri",
];
const GIVEN_B: [&str; 16] = [
    "ex", "lla", "rin", "vid", "ena", "ton", "bri", "nah", "aac", "mes", "ya", "on", "ria", "dia",
    "iver", "ley",
];
const GIVEN_SPECIAL: [&str; 12] = [
    "Zoë",
    "José",
    "Łukasz",
    "Chloé",
    "Søren",
    "D'Andre",
    "Robert \"Bobby\"",
    "小明",
    "Ayşe",
    "Åsa",
    "Siobhán",
    "Thảo",
];
const FAMILY_A: [&str; 16] = [
    "And", "Bar", "Cal", "Dun", "Eas", "Fer", "Gar", "Hol", "Ing", "Jen", "Kel", "Lin", "Mor",
    "Nor", "Pat", "Ros",
];
const FAMILY_B: [&str; 8] = ["er", "ton", "well", "ley", "son", "ers", "ford", "man"];
const FAMILY_SPECIAL: [&str; 11] = [
    "Smith, Jr.",
    "O'Brien",
    "Nguyễn",
    "Müller",
    "García-López",
    "王",
    "Kowalski",
    "Ó Súilleabháin",
    "D'Angelo",
    "佐藤",
    "Brown, III",
];
const US_BIRTHPLACES: [(&str, &str); 5] = [
    ("CA", "San José"),
    ("TX", "Austin"),
    ("NY", "Buffalo"),
    ("WA", "Spokane"),
    ("IL", "Chicago"),
];
const FOREIGN_BIRTHPLACES: [(&str, &str); 6] = [
    ("MX", "Guadalajara"),
    ("VN", "Hồ Chí Minh"),
    ("CN", "北京"),
    ("DE", "München"),
    ("IE", "Dún Laoghaire"),
    ("PL", "Łódź"),
];
const COMMENTS: [&str; 3] = [
    "Great work, keep it up!",
    "Needs to \"show work\" on #3.",
    "Très bien — see feedback.\nRevise by Friday.",
];

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Synthetic {
    /// A district of about `users` users (at least 1, at most [`MAX_USERS`]).
    pub(crate) fn new(users: u64, seed: u64) -> Synthetic {
        let users = users.clamp(1, MAX_USERS);
        let schools = (users / 800).max(1);
        let classes = (users / 25).max(PERIODS * schools);
        let courses = (classes / 4).max(1);
        let admins = schools;
        let teachers = (classes / 5).max(1);
        let students = users.saturating_sub(admins + teachers);
        Synthetic {
            seed,
            schools,
            classes,
            courses,
            admins,
            teachers,
            students,
        }
    }

    /// Records in a collection.
    pub(crate) fn len(&self, id: CollectionId) -> u64 {
        use CollectionId::*;
        match id {
            Orgs => 1 + self.schools,
            AcademicSessions => SESSION_IDS.len() as u64,
            Courses => self.courses,
            Classes => self.classes,
            Users => self.admins + self.students + self.teachers,
            Enrollments => PERIODS * self.students + self.classes,
            Demographics => self.students,
            Categories => CATEGORIES.len() as u64,
            LineItems => LINE_ITEMS_PER_CLASS * self.classes,
            Results => PERIODS * self.students,
            Resources => RESOURCES.len() as u64,
        }
    }

    /// A view's members: a contiguous range `(start, len)` of base indices.
    pub(crate) fn view_range(&self, id: CollectionId, view: View) -> (u64, u64) {
        match view {
            View::All => (0, self.len(id)),
            View::Schools => (1, self.schools),
            View::Students => (self.admins, self.students),
            View::Teachers => (self.admins + self.students, self.teachers),
            View::Terms => (TERM_1 as u64, 2),
            View::GradingPeriods => (0, 4),
        }
    }

    /// The base index of the record with this sourcedId, if the view holds it.
    pub(crate) fn find(&self, id: CollectionId, view: View, sourced_id: &str) -> Option<u64> {
        let (start, len) = self.view_range(id, view);
        let (mut lo, mut hi) = (start, start + len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id(id, mid).as_bytes().cmp(sourced_id.as_bytes()) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The sourcedId of record `index` of a collection.
    pub(crate) fn id(&self, id: CollectionId, index: u64) -> Id {
        use CollectionId::*;
        match id {
            Orgs if index == 0 => Id::new("org-district-1"),
            Orgs => self.school_id(index - 1),
            AcademicSessions => Id::new(SESSION_IDS[index as usize]),
            Courses => Id::new("course-").num(index + 1, 6),
            Classes => self.class_id(index),
            Users => self.user_id(index),
            Enrollments if index < PERIODS * self.students => Id::new("enr-stu-")
                .num(index / PERIODS + 1, 8)
                .text("-")
                .num(index % PERIODS + 1, 1),
            Enrollments => Id::new("enr-tea-").num(index - PERIODS * self.students + 1, 7),
            Demographics => self.student_id(index),
            Categories => Id::new(CATEGORIES[index as usize].0),
            LineItems => self.line_item_id(index),
            Results => Id::new("result-")
                .num(index / PERIODS + 1, 8)
                .text("-")
                .num(index % PERIODS + 1, 1),
            Resources => Id::new(RESOURCES[index as usize].0),
        }
    }

    fn school_id(&self, s: u64) -> Id {
        Id::new("org-school-").num(s + 1, 5)
    }
    fn class_id(&self, c: u64) -> Id {
        Id::new("class-").num(c + 1, 7)
    }
    fn student_id(&self, i: u64) -> Id {
        Id::new("user-stu-").num(i + 1, 8)
    }
    fn teacher_id(&self, t: u64) -> Id {
        Id::new("user-tea-").num(t + 1, 6)
    }
    fn line_item_id(&self, index: u64) -> Id {
        Id::new("li-")
            .num(index / LINE_ITEMS_PER_CLASS + 1, 7)
            .text("-")
            .num(index % LINE_ITEMS_PER_CLASS + 1, 1)
    }
    fn user_id(&self, index: u64) -> Id {
        if index < self.admins {
            Id::new("user-adm-").num(index + 1, 5)
        } else if index < self.admins + self.students {
            self.student_id(index - self.admins)
        } else {
            self.teacher_id(index - self.admins - self.students)
        }
    }

    fn hash(&self, salt: u64, a: u64) -> u64 {
        mix(self.seed.wrapping_mul(0xA24B_AED4_963E_E407) ^ mix((salt << 56) ^ a))
    }

    // ----- the district's structure

    fn school_of_student(&self, i: u64) -> u64 {
        i * self.schools / self.students.max(1)
    }
    fn first_class(&self, s: u64) -> u64 {
        s * self.classes / self.schools
    }
    fn school_of_class(&self, c: u64) -> u64 {
        let mut s = (c * self.schools / self.classes).min(self.schools - 1);
        while s + 1 < self.schools && self.first_class(s + 1) <= c {
            s += 1;
        }
        while self.first_class(s) > c {
            s -= 1;
        }
        s
    }
    /// The class student `i` takes in period slot `j`: one of their school's classes of that period.
    fn class_of(&self, i: u64, j: u64) -> u64 {
        let s = self.school_of_student(i);
        let start = self.first_class(s);
        let n = self.first_class(s + 1) - start;
        let same_period = (n - j).div_ceil(PERIODS);
        start + j + PERIODS * (self.hash(1, i * PERIODS + j) % same_period)
    }
    fn period_of_class(&self, c: u64) -> u64 {
        (c - self.first_class(self.school_of_class(c))) % PERIODS + 1
    }
    /// Which terms a class runs in: fall only, spring only, or both.
    fn terms_of_class(&self, c: u64) -> &'static [usize] {
        match c % 4 {
            0 => &[TERM_1],
            1 => &[TERM_2],
            _ => &[TERM_1, TERM_2],
        }
    }
    fn class_dates(&self, c: u64) -> (&'static str, &'static str) {
        match c % 4 {
            0 => FALL_DATES,
            1 => SPRING_DATES,
            _ => YEAR_DATES,
        }
    }
    fn grading_period(&self, c: u64, k: u64) -> usize {
        match c % 4 {
            0 => (k % 2) as usize,
            1 => 2 + (k % 2) as usize,
            _ => k as usize,
        }
    }
    fn course_of_class(&self, c: u64) -> u64 {
        (c / 4).min(self.courses - 1)
    }
    fn teacher_of_class(&self, c: u64) -> u64 {
        (c / 5).min(self.teachers - 1)
    }
    fn band(&self, s: u64) -> &'static [&'static str] {
        GRADE_BANDS[(s % 3) as usize]
    }
    fn student_grade(&self, i: u64) -> &'static str {
        let band = self.band(self.school_of_student(i));
        band[(self.hash(2, i) % band.len() as u64) as usize]
    }

    // ----- records

    /// Appends record `index` of a collection as compact JSON.
    pub(crate) fn write(&self, id: CollectionId, index: u64, buf: &mut Vec<u8>) {
        use CollectionId::*;
        let sid = self.id(id, index);
        let mut w = Writer { buf };
        w.open(&sid, self.hash(3 + id as u64, index));
        match id {
            Orgs => self.org(index, &mut w),
            AcademicSessions => self.session(index as usize, &mut w),
            Courses => self.course(index, &mut w),
            Classes => self.class(index, &mut w),
            Users => self.user(index, &mut w),
            Enrollments => self.enrollment(index, &mut w),
            Demographics => self.demographics(index, &mut w),
            Categories => w.str("title", CATEGORIES[index as usize].1),
            LineItems => self.line_item(index, &mut w),
            Results => self.result(index, &mut w),
            Resources => self.resource(index as usize, &mut w),
        }
        w.buf.push(b'}');
    }

    fn org(&self, index: u64, w: &mut Writer) {
        if index == 0 {
            w.str("name", "Synthetic Unified School District");
            w.str("type", "district");
            w.str("identifier", "SYN-0000000");
            return;
        }
        let s = index - 1;
        let h = self.hash(10, s);
        w.key("name");
        w.buf.push(b'"');
        self.family_name(h, w.buf);
        w.buf.push(b' ');
        w.buf
            .extend_from_slice(SCHOOL_KINDS[(s % 3) as usize].as_bytes());
        if (h >> 40).is_multiple_of(5) {
            w.buf.extend_from_slice(b", North Campus");
        }
        w.buf.push(b'"');
        w.str("type", "school");
        w.key("identifier");
        w.buf.extend_from_slice(b"\"SYN-");
        push_padded(w.buf, s + 1, 7);
        w.buf.push(b'"');
        w.guid("parent", "org", "orgs", &Id::new("org-district-1"));
    }

    fn session(&self, index: usize, w: &mut Writer) {
        let Session {
            title,
            kind,
            start,
            end,
            parent,
            children,
        } = SESSIONS[index];
        w.str("title", title);
        w.str("type", kind);
        w.str("startDate", start);
        w.str("endDate", end);
        if let Some(p) = parent {
            w.guid(
                "parent",
                "academicSession",
                "academicSessions",
                &Id::new(SESSION_IDS[p]),
            );
        }
        if !children.is_empty() {
            w.key("children");
            w.buf.push(b'[');
            for (n, &c) in children.iter().enumerate() {
                if n > 0 {
                    w.buf.push(b',');
                }
                w.guid_value(
                    "academicSession",
                    "academicSessions",
                    &Id::new(SESSION_IDS[c]),
                );
            }
            w.buf.push(b']');
        }
        w.str("schoolYear", "2026");
    }

    fn course_title(&self, k: u64, buf: &mut Vec<u8>) {
        let subject = SUBJECTS[(k % SUBJECTS.len() as u64) as usize];
        push_escaped(buf, subject.0.as_bytes());
        buf.push(b' ');
        push_u64(buf, k / SUBJECTS.len() as u64 + 1);
    }

    fn course(&self, k: u64, w: &mut Writer) {
        let subject = SUBJECTS[(k % SUBJECTS.len() as u64) as usize];
        w.key("title");
        w.buf.push(b'"');
        self.course_title(k, w.buf);
        w.buf.push(b'"');
        w.guid(
            "schoolYear",
            "academicSession",
            "academicSessions",
            &Id::new(SESSION_IDS[SCHOOL_YEAR]),
        );
        w.key("courseCode");
        w.buf.extend_from_slice(b"\"CRS");
        push_padded(w.buf, k + 1, 6);
        w.buf.push(b'"');
        w.str_list("subjects", &[subject.1]);
        w.guid("org", "org", "orgs", &Id::new("org-district-1"));
        w.str_list("subjectCodes", &[subject.2]);
        if k.is_multiple_of(7) {
            let r = RESOURCES[(k / 7 % 3) as usize].0;
            w.guid_list("resources", "resource", "resources", &[Id::new(r)]);
        }
    }

    fn class(&self, c: u64, w: &mut Writer) {
        let k = self.course_of_class(c);
        let s = self.school_of_class(c);
        let subject = SUBJECTS[(k % SUBJECTS.len() as u64) as usize];
        let period = self.period_of_class(c);
        w.key("title");
        w.buf.push(b'"');
        self.course_title(k, w.buf);
        w.buf.extend_from_slice(b" - Period ");
        push_u64(w.buf, period);
        w.buf.push(b'"');
        w.key("classCode");
        w.buf.extend_from_slice(b"\"C");
        push_padded(w.buf, c + 1, 7);
        w.buf.push(b'"');
        w.str("classType", "scheduled");
        w.key("location");
        w.buf.extend_from_slice(b"\"Room ");
        push_u64(w.buf, 100 + c % 400);
        w.buf.push(b'"');
        let band = self.band(s);
        w.str_list("grades", &[band[(c % band.len() as u64) as usize]]);
        w.str_list("subjects", &[subject.1]);
        w.guid(
            "course",
            "course",
            "courses",
            &Id::new("course-").num(k + 1, 6),
        );
        w.guid("school", "org", "orgs", &self.school_id(s));
        let terms: Vec<Id> = self
            .terms_of_class(c)
            .iter()
            .map(|&t| Id::new(SESSION_IDS[t]))
            .collect();
        w.guid_list("terms", "academicSession", "academicSessions", &terms);
        w.str_list("subjectCodes", &[subject.2]);
        w.key("periods");
        w.buf.extend_from_slice(b"[\"");
        push_u64(w.buf, period);
        w.buf.extend_from_slice(b"\"]");
        if c.is_multiple_of(10) {
            let r = RESOURCES[(c / 10 % 3) as usize].0;
            w.guid_list("resources", "resource", "resources", &[Id::new(r)]);
        }
    }

    fn user(&self, index: u64, w: &mut Writer) {
        let (role, number, width, prefix) = if index < self.admins {
            ("administrator", index, 5, "adm")
        } else if index < self.admins + self.students {
            ("student", index - self.admins, 8, "stu")
        } else {
            ("teacher", index - self.admins - self.students, 6, "tea")
        };
        let h = self.hash(20, index);
        let login = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(prefix.as_bytes());
            push_padded(buf, number + 1, width);
        };
        w.key("username");
        w.buf.push(b'"');
        login(w.buf);
        w.buf.push(b'"');
        w.key("userIds");
        w.buf
            .extend_from_slice(br#"[{"type":"LDAP","identifier":"uid="#);
        login(w.buf);
        w.buf.extend_from_slice(b",ou=people\"}");
        if role == "student" {
            w.buf
                .extend_from_slice(br#",{"type":"stateID","identifier":"ST"#);
            push_padded(w.buf, 7_000_000_000 + number * 7 + h % 7, 10);
            w.buf.extend_from_slice(b"\"}");
        }
        w.buf.push(b']');
        w.key("enabledUser");
        w.buf
            .extend_from_slice(if h % 200 == 7 { b"false" } else { b"true" });
        w.key("givenName");
        w.buf.push(b'"');
        self.given_name(h, w.buf);
        w.buf.push(b'"');
        w.key("familyName");
        w.buf.push(b'"');
        self.family_name(h >> 20, w.buf);
        w.buf.push(b'"');
        if (h >> 40).is_multiple_of(4) {
            w.key("middleName");
            w.buf.push(b'"');
            self.given_name(h >> 44, w.buf);
            w.buf.push(b'"');
        }
        w.str("role", role);
        w.key("identifier");
        w.buf.push(b'"');
        match role {
            "student" => push_u64(w.buf, 10_000_000 + number + 1),
            "teacher" => {
                w.buf.push(b'T');
                push_padded(w.buf, number + 1, 6);
            }
            _ => {
                w.buf.push(b'A');
                push_padded(w.buf, number + 1, 5);
            }
        }
        w.buf.push(b'"');
        w.key("email");
        w.buf.push(b'"');
        login(w.buf);
        w.buf.extend_from_slice(b"@synthetic.example.org\"");
        if role != "student" {
            w.key("phone");
            w.buf.extend_from_slice(b"\"+1 555 01");
            push_padded(w.buf, h % 100, 2);
            w.buf.push(b'"');
        }
        w.key("orgs");
        w.buf.push(b'[');
        match role {
            "administrator" => {
                w.guid_value("org", "orgs", &Id::new("org-district-1"));
                w.buf.push(b',');
                w.guid_value("org", "orgs", &self.school_id(number % self.schools));
            }
            "student" => w.guid_value(
                "org",
                "orgs",
                &self.school_id(self.school_of_student(number)),
            ),
            _ => {
                let first_class = (number * 5).min(self.classes - 1);
                w.guid_value(
                    "org",
                    "orgs",
                    &self.school_id(self.school_of_class(first_class)),
                );
            }
        }
        w.buf.push(b']');
        if role == "student" {
            w.str_list("grades", &[self.student_grade(number)]);
        }
    }

    fn given_name(&self, h: u64, buf: &mut Vec<u8>) {
        if h.is_multiple_of(16) {
            let name = GIVEN_SPECIAL[((h >> 4) % GIVEN_SPECIAL.len() as u64) as usize];
            push_escaped(buf, name.as_bytes());
        } else {
            buf.extend_from_slice(GIVEN_A[((h >> 4) % 16) as usize].as_bytes());
            buf.extend_from_slice(GIVEN_B[((h >> 8) % 16) as usize].as_bytes());
        }
    }

    fn family_name(&self, h: u64, buf: &mut Vec<u8>) {
        if h % 16 == 1 {
            let name = FAMILY_SPECIAL[((h >> 4) % FAMILY_SPECIAL.len() as u64) as usize];
            push_escaped(buf, name.as_bytes());
        } else {
            buf.extend_from_slice(FAMILY_A[((h >> 4) % 16) as usize].as_bytes());
            buf.extend_from_slice(FAMILY_B[((h >> 8) % 8) as usize].as_bytes());
        }
    }

    fn enrollment(&self, index: u64, w: &mut Writer) {
        let (user, c, role) = if index < PERIODS * self.students {
            let (i, j) = (index / PERIODS, index % PERIODS);
            (self.student_id(i), self.class_of(i, j), "student")
        } else {
            let c = index - PERIODS * self.students;
            (self.teacher_id(self.teacher_of_class(c)), c, "teacher")
        };
        w.guid("user", "user", "users", &user);
        w.guid("class", "class", "classes", &self.class_id(c));
        w.guid(
            "school",
            "org",
            "orgs",
            &self.school_id(self.school_of_class(c)),
        );
        w.str("role", role);
        w.key("primary");
        w.buf
            .extend_from_slice(if role == "teacher" { b"true" } else { b"false" });
        let (begin, end) = self.class_dates(c);
        w.str("beginDate", begin);
        w.str("endDate", end);
    }

    fn demographics(&self, i: u64, w: &mut Writer) {
        let h = self.hash(30, i);
        let grade = self.student_grade(i);
        let grade_number = grade.parse::<u64>().unwrap_or(0);
        w.key("birthDate");
        w.buf.push(b'"');
        push_u64(w.buf, 2020 - grade_number);
        w.buf.push(b'-');
        push_padded(w.buf, 1 + (h >> 8) % 12, 2);
        w.buf.push(b'-');
        push_padded(w.buf, 1 + (h >> 12) % 28, 2);
        w.buf.push(b'"');
        w.str(
            "sex",
            if h.is_multiple_of(2) {
                "female"
            } else {
                "male"
            },
        );
        let race = (h >> 1) % 5;
        let two_or_more = (h >> 16).is_multiple_of(10);
        for (n, flag) in [
            "americanIndianOrAlaskaNative",
            "asian",
            "blackOrAfricanAmerican",
            "nativeHawaiianOrOtherPacificIslander",
            "white",
        ]
        .into_iter()
        .enumerate()
        {
            w.key(flag);
            let set = n as u64 == race || (two_or_more && n as u64 == (race + 1) % 5);
            w.buf
                .extend_from_slice(if set { b"true" } else { b"false" });
        }
        w.key("demographicRaceTwoOrMoreRaces");
        w.buf
            .extend_from_slice(if two_or_more { b"true" } else { b"false" });
        w.key("hispanicOrLatinoEthnicity");
        w.buf.extend_from_slice(if (h >> 20).is_multiple_of(4) {
            b"true"
        } else {
            b"false"
        });
        if (h >> 24).is_multiple_of(10) {
            let (country, city) = FOREIGN_BIRTHPLACES[((h >> 28) % 6) as usize];
            w.str("countryOfBirthCode", country);
            w.str("cityOfBirth", city);
        } else {
            let (state, city) = US_BIRTHPLACES[((h >> 28) % 5) as usize];
            w.str("countryOfBirthCode", "US");
            w.str("stateOfBirthAbbreviation", state);
            w.str("cityOfBirth", city);
        }
        w.str(
            "publicSchoolResidenceStatus",
            if (h >> 32).is_multiple_of(20) {
                "01653"
            } else {
                "01652"
            },
        );
    }

    fn line_item(&self, index: u64, w: &mut Writer) {
        let (c, k) = (index / LINE_ITEMS_PER_CLASS, index % LINE_ITEMS_PER_CLASS);
        let gp = self.grading_period(c, k);
        w.str("title", LINE_ITEM_TITLES[k as usize]);
        if k == 0 {
            w.str("description", "Problems 1–20, show your work.");
        }
        let (assign, due) = GP_DAYS[gp];
        for (key, day) in [("assignDate", assign), ("dueDate", due)] {
            w.key(key);
            w.buf.push(b'"');
            w.buf.extend_from_slice(day.as_bytes());
            w.buf.extend_from_slice(b"T0");
            push_u64(w.buf, 8 + k);
            w.buf.extend_from_slice(b":00:00.000Z\"");
        }
        w.guid("class", "class", "classes", &self.class_id(c));
        w.guid(
            "category",
            "category",
            "categories",
            &Id::new(CATEGORIES[(k % 3) as usize].0),
        );
        w.guid(
            "gradingPeriod",
            "academicSession",
            "academicSessions",
            &Id::new(SESSION_IDS[gp]),
        );
        w.key("resultValueMin");
        w.buf.extend_from_slice(b"0.0");
        w.key("resultValueMax");
        w.buf
            .extend_from_slice(if k == 1 { b"10.0" } else { b"100.0" });
    }

    fn result(&self, index: u64, w: &mut Writer) {
        let (i, j) = (index / PERIODS, index % PERIODS);
        let c = self.class_of(i, j);
        let k = (i + j) % LINE_ITEMS_PER_CLASS;
        let h = self.hash(40, index);
        w.guid(
            "lineItem",
            "lineItem",
            "lineItems",
            &self.line_item_id(c * LINE_ITEMS_PER_CLASS + k),
        );
        w.guid("student", "user", "users", &self.student_id(i));
        let (status, graded) = match h % 20 {
            0 => ("not submitted", false),
            1 => ("exempt", false),
            2 => ("submitted", false),
            3 => ("partially graded", true),
            _ => ("fully graded", true),
        };
        w.str("scoreStatus", status);
        w.key("score");
        let tenths = if !graded {
            0
        } else if k == 1 {
            (h >> 8) % 101
        } else {
            (h >> 8) % 1001
        };
        push_u64(w.buf, tenths / 10);
        w.buf.push(b'.');
        push_u64(w.buf, tenths % 10);
        w.str("scoreDate", GP_DAYS[self.grading_period(c, k)].1);
        if (h >> 20).is_multiple_of(10) {
            w.str("comment", COMMENTS[((h >> 24) % 3) as usize]);
        }
    }

    fn resource(&self, index: usize, w: &mut Writer) {
        let (_, title, role, importance, vendor_resource, vendor, app) = RESOURCES[index];
        w.str("title", title);
        w.str_list("roles", &[role]);
        w.str("importance", importance);
        w.str("vendorResourceId", vendor_resource);
        w.str("vendorId", vendor);
        w.str("applicationId", app);
    }
}

/// Writes one record's members; every method after `open` starts with a comma.
struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn open(&mut self, id: &Id, h: u64) {
        self.buf.extend_from_slice(b"{\"sourcedId\":\"");
        self.buf.extend_from_slice(id.as_bytes());
        self.buf
            .extend_from_slice(b"\",\"status\":\"active\",\"dateLastModified\":\"2025-0");
        self.buf.push(b'7' + (h % 2) as u8);
        self.buf.push(b'-');
        push_padded(self.buf, 1 + (h >> 1) % 28, 2);
        self.buf.push(b'T');
        push_padded(self.buf, (h >> 8) % 24, 2);
        self.buf.push(b':');
        push_padded(self.buf, (h >> 16) % 60, 2);
        self.buf.push(b':');
        push_padded(self.buf, (h >> 24) % 60, 2);
        self.buf.extend_from_slice(b".000Z\"");
    }

    fn key(&mut self, key: &str) {
        self.buf.extend_from_slice(b",\"");
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_str(self.buf, value);
    }

    fn str_list(&mut self, key: &str, values: &[&str]) {
        self.key(key);
        self.buf.push(b'[');
        for (n, v) in values.iter().enumerate() {
            if n > 0 {
                self.buf.push(b',');
            }
            push_str(self.buf, v);
        }
        self.buf.push(b']');
    }

    fn guid_value(&mut self, kind: &str, path: &str, id: &Id) {
        self.buf.extend_from_slice(b"{\"href\":\"");
        self.buf.extend_from_slice(HREF.as_bytes());
        self.buf.extend_from_slice(path.as_bytes());
        self.buf.push(b'/');
        self.buf.extend_from_slice(id.as_bytes());
        self.buf.extend_from_slice(b"\",\"sourcedId\":\"");
        self.buf.extend_from_slice(id.as_bytes());
        self.buf.extend_from_slice(b"\",\"type\":\"");
        self.buf.extend_from_slice(kind.as_bytes());
        self.buf.extend_from_slice(b"\"}");
    }

    fn guid(&mut self, key: &str, kind: &str, path: &str, id: &Id) {
        self.key(key);
        self.guid_value(kind, path, id);
    }

    fn guid_list(&mut self, key: &str, kind: &str, path: &str, ids: &[Id]) {
        self.key(key);
        self.buf.push(b'[');
        for (n, id) in ids.iter().enumerate() {
            if n > 0 {
                self.buf.push(b',');
            }
            self.guid_value(kind, path, id);
        }
        self.buf.push(b']');
    }
}
#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use serde_json::Value;

    use super::*;

    fn record(s: &Synthetic, c: CollectionId, i: u64) -> Value {
        let mut out = Vec::new();
        s.write(c, i, &mut out);
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{c} {i}: {e}"))
    }

    fn all(s: &Synthetic, c: CollectionId) -> Vec<Value> {
        (0..s.len(c)).map(|i| record(s, c, i)).collect()
    }

    fn id(v: &Value) -> &str {
        v["sourcedId"].as_str().unwrap()
    }

    #[test]
    fn every_record_is_json_with_ids_in_index_order() {
        for users in [1, 2, 9, 300, 2_500] {
            let s = Synthetic::new(users, 7);
            assert!(s.len(CollectionId::Users) >= users.min(2));
            for c in CollectionId::all() {
                let mut previous = String::new();
                for (i, v) in all(&s, c).iter().enumerate() {
                    let sid = id(v).to_string();
                    assert!(sid > previous, "{c}: {sid} sorts after {previous}");
                    assert_eq!(s.find(c, View::All, &sid), Some(i as u64), "{c} {sid}");
                    assert_eq!(v["status"], "active");
                    previous = sid;
                }
                assert_eq!(s.find(c, View::All, "zzz"), None);
                assert_eq!(s.find(c, View::All, ""), None);
            }
        }
    }

    #[test]
    fn typed_views_are_the_right_ranges() {
        let s = Synthetic::new(2_000, 3);
        let check = |c: CollectionId, view: View, field: &str, value: &str| {
            let (start, len) = s.view_range(c, view);
            let base = all(&s, c);
            let inside: Vec<&Value> = base[start as usize..(start + len) as usize]
                .iter()
                .collect();
            assert!(inside.iter().all(|v| v[field] == value), "{view:?}");
            let matching = base.iter().filter(|v| v[field] == value).count();
            assert_eq!(matching as u64, len, "{view:?} holds all of them");
            let outside = id(&base[0]);
            if base[0][field] != value {
                assert_eq!(s.find(c, view, outside), None);
            }
            assert_eq!(s.find(c, view, id(inside[0])), Some(start));
        };
        check(CollectionId::Orgs, View::Schools, "type", "school");
        check(CollectionId::Users, View::Students, "role", "student");
        check(CollectionId::Users, View::Teachers, "role", "teacher");
        check(CollectionId::AcademicSessions, View::Terms, "type", "term");
        check(
            CollectionId::AcademicSessions,
            View::GradingPeriods,
            "type",
            "gradingPeriod",
        );
    }

    #[test]
    fn the_district_hangs_together() {
        let s = Synthetic::new(3_000, 11);
        let by_id = |c: CollectionId| -> HashMap<String, Value> {
            all(&s, c)
                .into_iter()
                .map(|v| (id(&v).to_string(), v))
                .collect()
        };
        let users = by_id(CollectionId::Users);
        let classes = by_id(CollectionId::Classes);
        let line_items = by_id(CollectionId::LineItems);
        let orgs = by_id(CollectionId::Orgs);
        let courses = by_id(CollectionId::Courses);
        let sessions = by_id(CollectionId::AcademicSessions);
        let mut taking: HashMap<String, BTreeSet<String>> = HashMap::new();
        for e in all(&s, CollectionId::Enrollments) {
            let user = &users[e["user"]["sourcedId"].as_str().unwrap()];
            let class = &classes[e["class"]["sourcedId"].as_str().unwrap()];
            assert_eq!(e["school"], class["school"], "{e}");
            assert_eq!(e["role"], user["role"]);
            if e["role"] == "student" {
                assert_eq!(
                    user["orgs"][0], class["school"],
                    "students learn at their school"
                );
                let periods = taking.entry(id(user).to_string()).or_default();
                assert!(periods.insert(class["periods"][0].as_str().unwrap().to_string()));
            }
        }
        for (student, periods) in &taking {
            assert_eq!(periods.len() as u64, PERIODS, "{student}");
        }
        for c in classes.values() {
            assert!(orgs.contains_key(c["school"]["sourcedId"].as_str().unwrap()));
            assert!(courses.contains_key(c["course"]["sourcedId"].as_str().unwrap()));
            for t in c["terms"].as_array().unwrap() {
                assert_eq!(sessions[t["sourcedId"].as_str().unwrap()]["type"], "term");
            }
        }
        let enrolled: BTreeSet<(String, String)> = all(&s, CollectionId::Enrollments)
            .iter()
            .map(|e| {
                (
                    e["user"]["sourcedId"].as_str().unwrap().to_string(),
                    e["class"]["sourcedId"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for r in all(&s, CollectionId::Results) {
            let li = &line_items[r["lineItem"]["sourcedId"].as_str().unwrap()];
            let pair = (
                r["student"]["sourcedId"].as_str().unwrap().to_string(),
                li["class"]["sourcedId"].as_str().unwrap().to_string(),
            );
            assert!(
                enrolled.contains(&pair),
                "results belong to enrolled students: {r}"
            );
        }
        for d in all(&s, CollectionId::Demographics) {
            assert_eq!(users[id(&d)]["role"], "student");
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_names() {
        let bytes = |seed| {
            let s = Synthetic::new(1_000, seed);
            let mut out = Vec::new();
            for c in CollectionId::all() {
                for i in 0..s.len(c).min(50) {
                    s.write(c, i, &mut out);
                }
            }
            out
        };
        assert_eq!(bytes(3), bytes(3));
        assert_ne!(bytes(3), bytes(4));
    }

    #[test]
    fn sizes_follow_the_users() {
        let s = Synthetic::new(200_000, 1);
        assert_eq!(s.len(CollectionId::Users), 200_000);
        assert_eq!(s.len(CollectionId::Orgs), 251);
        assert_eq!(s.len(CollectionId::Classes), 8_000);
        assert_eq!(s.len(CollectionId::Courses), 2_000);
        assert_eq!(s.len(CollectionId::Enrollments), 1_593_200);
        assert_eq!(s.len(CollectionId::Results), 1_585_200);
        assert_eq!(s.len(CollectionId::LineItems), 32_000);
        assert_eq!(s.len(CollectionId::Demographics), 198_150);
        let last = s.len(CollectionId::Enrollments) - 1;
        let v = record(&s, CollectionId::Enrollments, last);
        assert_eq!(
            s.find(CollectionId::Enrollments, View::All, id(&v)),
            Some(last)
        );
    }

    #[test]
    fn names_include_the_awkward_ones() {
        let s = Synthetic::new(5_000, 1);
        let names: BTreeSet<String> = all(&s, CollectionId::Users)
            .iter()
            .flat_map(|u| [u["givenName"].clone(), u["familyName"].clone()])
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        for pred in [
            |n: &str| n.contains(','),
            |n: &str| n.contains('"'),
            |n: &str| n.contains('\''),
            |n: &str| !n.is_ascii(),
        ] {
            assert!(names.iter().any(|n| pred(n)));
        }
        assert!(names.len() > 100, "{} distinct names", names.len());
    }
}
