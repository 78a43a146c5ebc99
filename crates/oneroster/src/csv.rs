//! The CSV binding of v1.1: the files of a bundle and, per file, one column table that gives the
//! header row (exact in order and case) and where each cell comes from in the JSON record
//! (docs/oneroster-notes.md §7.1, §7.6, §7.7).

use crate::vocab::Vocab;

/// One data file of a 1.1 CSV bundle (manifest.csv aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CsvFile {
    AcademicSessions,
    Categories,
    Classes,
    ClassResources,
    Courses,
    CourseResources,
    Demographics,
    Enrollments,
    LineItems,
    Orgs,
    Resources,
    Results,
    Users,
}

/// Whether a column must hold a value (§7.6's R / D / O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Never blank.
    Always,
    /// Filled in delta files, blank in bulk files (`status`, `dateLastModified`).
    InDelta,
    Optional,
}

/// What a column holds, and so how its cell is read from JSON and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A sourcedId.
    Id,
    /// `status` (StatusType).
    Status,
    /// `dateLastModified`, `YYYY-MM-DDThh:mm:ss[.sss]Z`.
    DateTime,
    /// Free text.
    Text,
    /// One token of a vocabulary.
    Enum(Vocab),
    /// Tokens of a vocabulary, comma-joined.
    EnumList(Vocab),
    /// A GUIDRef: its sourcedId.
    Ref,
    /// GUIDRefs: their sourcedIds, comma-joined.
    RefList,
    /// Strings, comma-joined.
    List,
    /// `user.userIds` as `{type:identifier}` entries, comma-joined.
    UserIds,
    /// `true` / `false`; `absent` is what a missing member stands for (users.enabledUser: true).
    Bool { absent: Option<bool> },
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY`.
    Year,
    /// A plain decimal.
    Float,
    /// users.password: text that is student data's most sensitive part.
    Password,
}

/// One column of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header name.
    pub name: &'static str,
    /// The JSON members it is read from, the first with a value winning; empty for the columns
    /// of the association files, which are derived from `resources[]`.
    pub keys: &'static [&'static str],
    pub ty: ColumnType,
    pub required: Required,
    /// The file whose `sourcedId`s this column's values name: every `Ref`/`RefList` column, and
    /// demographics' own `sourcedId`, which is its user's (docs/oneroster-notes.md §3.4, §7.4).
    pub refers_to: Option<CsvFile>,
}

const fn col(
    name: &'static str,
    keys: &'static [&'static str],
    ty: ColumnType,
    required: Required,
) -> Column {
    Column {
        name,
        keys,
        ty,
        required,
        refers_to: None,
    }
}

impl Column {
    /// The same column, naming records of `file`.
    const fn to(self, file: CsvFile) -> Column {
        Column {
            refers_to: Some(file),
            ..self
        }
    }
}

use ColumnType::*;
use Required::{Always as R, InDelta as D, Optional as O};

const SOURCED_ID: Column = col("sourcedId", &["sourcedId"], Id, R);
const STATUS: Column = col("status", &["status"], Status, D);
const DATE_LAST_MODIFIED: Column = col("dateLastModified", &["dateLastModified"], DateTime, D);

#[rustfmt::skip]
const ACADEMIC_SESSIONS: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("title", &["title"], Text, R),
    col("type", &["type"], Enum(Vocab::SessionType), R),
    col("startDate", &["startDate"], Date, R),
    col("endDate", &["endDate"], Date, R),
    col("parentSourcedId", &["parent"], Ref, O).to(CsvFile::AcademicSessions),
    col("schoolYear", &["schoolYear"], Year, R),
];

#[rustfmt::skip]
const CATEGORIES: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("title", &["title"], Text, R),
];

#[rustfmt::skip]
const CLASSES: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("title", &["title"], Text, R),
    col("grades", &["grades"], List, O),
    col("courseSourcedId", &["course"], Ref, R).to(CsvFile::Courses),
    col("classCode", &["classCode"], Text, O),
    col("classType", &["classType"], Enum(Vocab::ClassType), R),
    col("location", &["location"], Text, O),
    col("schoolSourcedId", &["school"], Ref, R).to(CsvFile::Orgs),
    col("termSourcedIds", &["terms"], RefList, R).to(CsvFile::AcademicSessions),
    col("subjects", &["subjects"], List, O),
    col("subjectCodes", &["subjectCodes"], List, O),
    col("periods", &["periods"], List, O),
];

#[rustfmt::skip]
const CLASS_RESOURCES: &[Column] = &[
    col("sourcedId", &[], Id, R),
    col("status", &[], Status, D),
    col("dateLastModified", &[], DateTime, D),
    col("title", &[], Text, O),
    col("classSourcedId", &[], Ref, R).to(CsvFile::Classes),
    col("resourceSourcedId", &[], Ref, R).to(CsvFile::Resources),
];

#[rustfmt::skip]
const COURSES: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("schoolYearSourcedId", &["schoolYear"], Ref, O).to(CsvFile::AcademicSessions),
    col("title", &["title"], Text, R),
    col("courseCode", &["courseCode"], Text, O),
    col("grades", &["grades"], List, O),
    col("orgSourcedId", &["org"], Ref, R).to(CsvFile::Orgs),
    col("subjects", &["subjects"], List, O),
    col("subjectCodes", &["subjectCodes"], List, O),
];

#[rustfmt::skip]
const COURSE_RESOURCES: &[Column] = &[
    col("sourcedId", &[], Id, R),
    col("status", &[], Status, D),
    col("dateLastModified", &[], DateTime, D),
    col("title", &[], Text, O),
    col("courseSourcedId", &[], Ref, R).to(CsvFile::Courses),
    col("resourceSourcedId", &[], Ref, R).to(CsvFile::Resources),
];

#[rustfmt::skip]
const DEMOGRAPHICS: &[Column] = &[
    SOURCED_ID.to(CsvFile::Users), STATUS, DATE_LAST_MODIFIED,
    col("birthDate", &["birthDate", "birthdate"], Date, O),
    col("sex", &["sex"], Enum(Vocab::Gender), O),
    col("americanIndianOrAlaskaNative", &["americanIndianOrAlaskaNative"], Bool { absent: None }, O),
    col("asian", &["asian"], Bool { absent: None }, O),
    col("blackOrAfricanAmerican", &["blackOrAfricanAmerican"], Bool { absent: None }, O),
    col("nativeHawaiianOrOtherPacificIslander", &["nativeHawaiianOrOtherPacificIslander"], Bool { absent: None }, O),
    col("white", &["white"], Bool { absent: None }, O),
    col("demographicRaceTwoOrMoreRaces", &["demographicRaceTwoOrMoreRaces"], Bool { absent: None }, O),
    col("hispanicOrLatinoEthnicity", &["hispanicOrLatinoEthnicity"], Bool { absent: None }, O),
    col("countryOfBirthCode", &["countryOfBirthCode"], Text, O),
    col("stateOfBirthAbbreviation", &["stateOfBirthAbbreviation"], Text, O),
    col("cityOfBirth", &["cityOfBirth"], Text, O),
    col("publicSchoolResidenceStatus", &["publicSchoolResidenceStatus"], Text, O),
];

#[rustfmt::skip]
const ENROLLMENTS: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("classSourcedId", &["class"], Ref, R).to(CsvFile::Classes),
    col("schoolSourcedId", &["school"], Ref, R).to(CsvFile::Orgs),
    col("userSourcedId", &["user"], Ref, R).to(CsvFile::Users),
    col("role", &["role"], Enum(Vocab::Role), R),
    col("primary", &["primary"], Bool { absent: None }, O),
    col("beginDate", &["beginDate"], Date, O),
    col("endDate", &["endDate"], Date, O),
];

#[rustfmt::skip]
const LINE_ITEMS: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("title", &["title"], Text, R),
    col("description", &["description"], Text, O),
    col("assignDate", &["assignDate"], Date, R),
    col("dueDate", &["dueDate"], Date, R),
    col("classSourcedId", &["class"], Ref, R).to(CsvFile::Classes),
    col("categorySourcedId", &["category"], Ref, R).to(CsvFile::Categories),
    col("gradingPeriodSourcedId", &["gradingPeriod"], Ref, R).to(CsvFile::AcademicSessions),
    col("resultValueMin", &["resultValueMin"], Float, R),
    col("resultValueMax", &["resultValueMax"], Float, R),
];

#[rustfmt::skip]
const ORGS: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("name", &["name"], Text, R),
    col("type", &["type"], Enum(Vocab::OrgType), R),
    col("identifier", &["identifier"], Text, O),
    col("parentSourcedId", &["parent"], Ref, O).to(CsvFile::Orgs),
];

#[rustfmt::skip]
const RESOURCES: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("vendorResourceId", &["vendorResourceId"], Text, R),
    col("title", &["title"], Text, O),
    col("roles", &["roles", "role"], EnumList(Vocab::Role), O),
    col("importance", &["importance"], Enum(Vocab::Importance), O),
    col("vendorId", &["vendorId"], Text, O),
    col("applicationId", &["applicationId"], Text, O),
];

#[rustfmt::skip]
const RESULTS: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("lineItemSourcedId", &["lineItem"], Ref, R).to(CsvFile::LineItems),
    col("studentSourcedId", &["student"], Ref, R).to(CsvFile::Users),
    col("scoreStatus", &["scoreStatus"], Enum(Vocab::ScoreStatus), R),
    col("score", &["score"], Float, R),
    col("scoreDate", &["scoreDate"], Date, R),
    col("comment", &["comment"], Text, O),
];

#[rustfmt::skip]
const USERS: &[Column] = &[
    SOURCED_ID, STATUS, DATE_LAST_MODIFIED,
    col("enabledUser", &["enabledUser"], Bool { absent: Some(true) }, R),
    col("orgSourcedIds", &["orgs"], RefList, R).to(CsvFile::Orgs),
    col("role", &["role"], Enum(Vocab::Role), R),
    col("username", &["username"], Text, R),
    col("userIds", &["userIds"], UserIds, O),
    col("givenName", &["givenName"], Text, R),
    col("familyName", &["familyName"], Text, R),
    col("middleName", &["middleName"], Text, O),
    col("identifier", &["identifier"], Text, O),
    col("email", &["email"], Text, O),
    col("sms", &["sms"], Text, O),
    col("phone", &["phone"], Text, O),
    col("agentSourcedIds", &["agents"], RefList, O).to(CsvFile::Users),
    col("grades", &["grades"], List, O),
    col("password", &["password"], Password, O),
];

impl CsvFile {
    /// Every data file, in manifest order (alphabetical, as in the D2L and HMH templates).
    pub const ALL: [CsvFile; 13] = [
        CsvFile::AcademicSessions,
        CsvFile::Categories,
        CsvFile::Classes,
        CsvFile::ClassResources,
        CsvFile::Courses,
        CsvFile::CourseResources,
        CsvFile::Demographics,
        CsvFile::Enrollments,
        CsvFile::LineItems,
        CsvFile::Orgs,
        CsvFile::Resources,
        CsvFile::Results,
        CsvFile::Users,
    ];

    /// The base name, as it appears in `file.<stem>` manifest rows.
    pub fn stem(self) -> &'static str {
        match self {
            CsvFile::AcademicSessions => "academicSessions",
            CsvFile::Categories => "categories",
            CsvFile::Classes => "classes",
            CsvFile::ClassResources => "classResources",
            CsvFile::Courses => "courses",
            CsvFile::CourseResources => "courseResources",
            CsvFile::Demographics => "demographics",
            CsvFile::Enrollments => "enrollments",
            CsvFile::LineItems => "lineItems",
            CsvFile::Orgs => "orgs",
            CsvFile::Resources => "resources",
            CsvFile::Results => "results",
            CsvFile::Users => "users",
        }
    }

    /// The file name inside the bundle, e.g. `users.csv`.
    pub fn file_name(self) -> String {
        format!("{}.csv", self.stem())
    }

    /// The file named `name` (`users.csv`), if it is one of the bundle's data files.
    pub fn from_file_name(name: &str) -> Option<CsvFile> {
        let stem = name.strip_suffix(".csv")?;
        CsvFile::ALL.into_iter().find(|f| f.stem() == stem)
    }

    /// The property name of this file's row in manifest.csv.
    pub fn manifest_property(self) -> String {
        format!("file.{}", self.stem())
    }

    /// The columns, in header order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            CsvFile::AcademicSessions => ACADEMIC_SESSIONS,
            CsvFile::Categories => CATEGORIES,
            CsvFile::Classes => CLASSES,
            CsvFile::ClassResources => CLASS_RESOURCES,
            CsvFile::Courses => COURSES,
            CsvFile::CourseResources => COURSE_RESOURCES,
            CsvFile::Demographics => DEMOGRAPHICS,
            CsvFile::Enrollments => ENROLLMENTS,
            CsvFile::LineItems => LINE_ITEMS,
            CsvFile::Orgs => ORGS,
            CsvFile::Resources => RESOURCES,
            CsvFile::Results => RESULTS,
            CsvFile::Users => USERS,
        }
    }

    /// The header row, exact in order and case.
    pub fn header(self) -> impl ExactSizeIterator<Item = &'static str> {
        self.columns().iter().map(|c| c.name)
    }

    /// The files this file's columns name records of (its own included when it refers to
    /// itself, like orgs' `parentSourcedId`), each once, in column order.
    pub fn referenced_files(self) -> impl Iterator<Item = CsvFile> {
        let cols = self.columns();
        cols.iter().enumerate().filter_map(|(i, c)| {
            c.refers_to
                .filter(|t| !cols[..i].iter().any(|p| p.refers_to == Some(*t)))
        })
    }

    /// Whether its rows come from another collection's `resources[]` (classResources.csv,
    /// courseResources.csv) rather than from records of its own.
    pub fn is_association(self) -> bool {
        matches!(self, CsvFile::ClassResources | CsvFile::CourseResources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_starts_with_the_base_columns() {
        for f in CsvFile::ALL {
            let head: Vec<&str> = f.header().take(3).collect();
            assert_eq!(head, ["sourcedId", "status", "dateLastModified"], "{f:?}");
            let cols = f.columns();
            assert_eq!(cols[1].ty, ColumnType::Status);
            assert_eq!(cols[2].ty, ColumnType::DateTime);
            assert_eq!(
                cols.iter().all(|c| c.keys.is_empty()),
                f.is_association(),
                "{f:?}: only association columns are derived"
            );
        }
    }

    #[test]
    fn headers_are_the_bindings() {
        let users: Vec<&str> = CsvFile::Users.header().collect();
        assert_eq!(
            users.join(","),
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,\
             givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
        );
        let classes: Vec<&str> = CsvFile::Classes.header().collect();
        assert_eq!(
            classes.join(","),
            "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,\
             location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods"
        );
    }

    #[test]
    fn references_are_the_bindings() {
        use CsvFile::*;
        for f in CsvFile::ALL {
            for c in f.columns() {
                let is_ref = matches!(c.ty, Ref | RefList);
                assert_eq!(
                    c.refers_to.is_some(),
                    is_ref || (f == Demographics && c.name == "sourcedId"),
                    "{f:?}.{}",
                    c.name
                );
            }
        }
        let targets = |f: CsvFile| f.referenced_files().collect::<Vec<_>>();
        assert_eq!(targets(Enrollments), [Classes, Orgs, Users]);
        assert_eq!(targets(Classes), [Courses, Orgs, AcademicSessions]);
        assert_eq!(targets(Courses), [AcademicSessions, Orgs]);
        assert_eq!(targets(Users), [Orgs, Users]);
        assert_eq!(targets(AcademicSessions), [AcademicSessions]);
        assert_eq!(targets(Orgs), [Orgs]);
        assert_eq!(targets(Demographics), [Users]);
        assert_eq!(targets(LineItems), [Classes, Categories, AcademicSessions]);
        assert_eq!(targets(Results), [LineItems, Users]);
        assert_eq!(targets(ClassResources), [Classes, Resources]);
        assert_eq!(targets(CourseResources), [Courses, Resources]);
        for leaf in [Categories, Resources] {
            assert_eq!(targets(leaf), []);
        }
    }

    #[test]
    fn manifest_names_keep_their_case() {
        assert_eq!(
            CsvFile::ClassResources.manifest_property(),
            "file.classResources"
        );
        assert_eq!(CsvFile::LineItems.file_name(), "lineItems.csv");
        assert_eq!(
            CsvFile::from_file_name("lineItems.csv"),
            Some(CsvFile::LineItems)
        );
        assert_eq!(CsvFile::from_file_name("roles.csv"), None);
    }
}
