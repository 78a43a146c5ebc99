//! The files of a OneRoster 1.1 CSV bundle and their exact header rows (ONEROSTER.md §7.1, §7.6).

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

    /// The property name of this file's row in manifest.csv.
    pub fn manifest_property(self) -> String {
        format!("file.{}", self.stem())
    }

    /// The header row, exact in order and case.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            CsvFile::AcademicSessions => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "type",
                "startDate",
                "endDate",
                "parentSourcedId",
                "schoolYear",
            ],
            CsvFile::Categories => &["sourcedId", "status", "dateLastModified", "title"],
            CsvFile::Classes => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "grades",
                "courseSourcedId",
                "classCode",
                "classType",
                "location",
                "schoolSourcedId",
                "termSourcedIds",
                "subjects",
                "subjectCodes",
                "periods",
            ],
            CsvFile::ClassResources => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "classSourcedId",
                "resourceSourcedId",
            ],
            CsvFile::Courses => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "schoolYearSourcedId",
                "title",
                "courseCode",
                "grades",
                "orgSourcedId",
                "subjects",
                "subjectCodes",
            ],
            CsvFile::CourseResources => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "courseSourcedId",
                "resourceSourcedId",
            ],
            CsvFile::Demographics => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "birthDate",
                "sex",
                "americanIndianOrAlaskaNative",
                "asian",
                "blackOrAfricanAmerican",
                "nativeHawaiianOrOtherPacificIslander",
                "white",
                "demographicRaceTwoOrMoreRaces",
                "hispanicOrLatinoEthnicity",
                "countryOfBirthCode",
                "stateOfBirthAbbreviation",
                "cityOfBirth",
                "publicSchoolResidenceStatus",
            ],
            CsvFile::Enrollments => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ],
            CsvFile::LineItems => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "description",
                "assignDate",
                "dueDate",
                "classSourcedId",
                "categorySourcedId",
                "gradingPeriodSourcedId",
                "resultValueMin",
                "resultValueMax",
            ],
            CsvFile::Orgs => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "name",
                "type",
                "identifier",
                "parentSourcedId",
            ],
            CsvFile::Resources => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "vendorResourceId",
                "title",
                "roles",
                "importance",
                "vendorId",
                "applicationId",
            ],
            CsvFile::Results => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "lineItemSourcedId",
                "studentSourcedId",
                "scoreStatus",
                "score",
                "scoreDate",
                "comment",
            ],
            CsvFile::Users => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "enabledUser",
                "orgSourcedIds",
                "role",
                "username",
                "userIds",
                "givenName",
                "familyName",
                "middleName",
                "identifier",
                "email",
                "sms",
                "phone",
                "agentSourcedIds",
                "grades",
                "password",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_starts_with_the_base_columns() {
        for f in CsvFile::ALL {
            assert_eq!(
                &f.header()[..3],
                &["sourcedId", "status", "dateLastModified"],
                "{f:?}"
            );
        }
    }

    #[test]
    fn manifest_names_keep_their_case() {
        assert_eq!(
            CsvFile::ClassResources.manifest_property(),
            "file.classResources"
        );
        assert_eq!(CsvFile::LineItems.file_name(), "lineItems.csv");
    }
}
