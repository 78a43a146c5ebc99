//! The JSON members of each v1.1 entity and what kind of value each holds (docs/oneroster-notes.md
//! §6), for checking the field names of `filter`, `sort` and `fields` (§4.2–§4.4).

use crate::collection::CollectionId;

/// What a member holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A string, number or boolean.
    Scalar,
    /// An array of strings (`grades`, `subjects`, …).
    Strings,
    /// A GUIDRef object (`href`, `sourcedId`, `type`).
    Ref,
    /// An array of GUIDRefs.
    Refs,
    /// `user.userIds`: objects with `type` and `identifier`.
    UserIds,
    /// `metadata`: a free extension object.
    Metadata,
}

impl MemberKind {
    /// Whether `sub` names a member of this kind's objects (`school.sourcedId`,
    /// `userIds.identifier`, `metadata.anything`).
    pub fn has_sub_field(self, sub: &str) -> bool {
        match self {
            MemberKind::Ref | MemberKind::Refs => matches!(sub, "href" | "sourcedId" | "type"),
            MemberKind::UserIds => matches!(sub, "type" | "identifier"),
            MemberKind::Metadata => !sub.is_empty(),
            MemberKind::Scalar | MemberKind::Strings => false,
        }
    }
}

/// One JSON member of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub name: &'static str,
    pub kind: MemberKind,
}

const fn m(name: &'static str, kind: MemberKind) -> Member {
    Member { name, kind }
}

use MemberKind::*;

/// The base fields every entity has (§6.1).
const BASE: [Member; 4] = [
    m("sourcedId", Scalar),
    m("status", Scalar),
    m("dateLastModified", Scalar),
    m("metadata", Metadata),
];

#[rustfmt::skip]
const ACADEMIC_SESSIONS: &[Member] = &[
    m("title", Scalar), m("startDate", Scalar), m("endDate", Scalar), m("type", Scalar),
    m("parent", Ref), m("children", Refs), m("schoolYear", Scalar),
];
#[rustfmt::skip]
const CLASSES: &[Member] = &[
    m("title", Scalar), m("classCode", Scalar), m("classType", Scalar), m("location", Scalar),
    m("grades", Strings), m("subjects", Strings), m("course", Ref), m("school", Ref),
    m("terms", Refs), m("subjectCodes", Strings), m("periods", Strings), m("resources", Refs),
];
#[rustfmt::skip]
const COURSES: &[Member] = &[
    m("title", Scalar), m("schoolYear", Ref), m("courseCode", Scalar), m("grades", Strings),
    m("subjects", Strings), m("subjectCodes", Strings), m("org", Ref), m("resources", Refs),
];
#[rustfmt::skip]
const DEMOGRAPHICS: &[Member] = &[
    m("birthDate", Scalar), m("sex", Scalar), m("americanIndianOrAlaskaNative", Scalar),
    m("asian", Scalar), m("blackOrAfricanAmerican", Scalar),
    m("nativeHawaiianOrOtherPacificIslander", Scalar), m("white", Scalar),
    m("demographicRaceTwoOrMoreRaces", Scalar), m("hispanicOrLatinoEthnicity", Scalar),
    m("countryOfBirthCode", Scalar), m("stateOfBirthAbbreviation", Scalar),
    m("cityOfBirth", Scalar), m("publicSchoolResidenceStatus", Scalar),
];
#[rustfmt::skip]
const ENROLLMENTS: &[Member] = &[
    m("user", Ref), m("class", Ref), m("school", Ref), m("role", Scalar), m("primary", Scalar),
    m("beginDate", Scalar), m("endDate", Scalar),
];
#[rustfmt::skip]
const ORGS: &[Member] = &[
    m("name", Scalar), m("type", Scalar), m("identifier", Scalar), m("parent", Ref),
    m("children", Refs),
];
#[rustfmt::skip]
const USERS: &[Member] = &[
    m("username", Scalar), m("userIds", UserIds), m("enabledUser", Scalar),
    m("givenName", Scalar), m("familyName", Scalar), m("middleName", Scalar), m("role", Scalar),
    m("identifier", Scalar), m("email", Scalar), m("sms", Scalar), m("phone", Scalar),
    m("agents", Refs), m("orgs", Refs), m("grades", Strings), m("password", Scalar),
];
const CATEGORIES: &[Member] = &[m("title", Scalar)];
#[rustfmt::skip]
const LINE_ITEMS: &[Member] = &[
    m("title", Scalar), m("description", Scalar), m("assignDate", Scalar), m("dueDate", Scalar),
    m("class", Ref), m("category", Ref), m("gradingPeriod", Ref), m("resultValueMin", Scalar),
    m("resultValueMax", Scalar),
];
#[rustfmt::skip]
const RESULTS: &[Member] = &[
    m("lineItem", Ref), m("student", Ref), m("scoreStatus", Scalar), m("score", Scalar),
    m("scoreDate", Scalar), m("comment", Scalar),
];
#[rustfmt::skip]
const RESOURCES: &[Member] = &[
    m("title", Scalar), m("roles", Strings), m("importance", Scalar),
    m("vendorResourceId", Scalar), m("vendorId", Scalar), m("applicationId", Scalar),
];

impl CollectionId {
    /// The members of this collection's records besides the base fields.
    fn own_members(self) -> &'static [Member] {
        match self {
            CollectionId::Orgs => ORGS,
            CollectionId::AcademicSessions => ACADEMIC_SESSIONS,
            CollectionId::Courses => COURSES,
            CollectionId::Classes => CLASSES,
            CollectionId::Users => USERS,
            CollectionId::Enrollments => ENROLLMENTS,
            CollectionId::Demographics => DEMOGRAPHICS,
            CollectionId::Categories => CATEGORIES,
            CollectionId::LineItems => LINE_ITEMS,
            CollectionId::Results => RESULTS,
            CollectionId::Resources => RESOURCES,
        }
    }

    /// Every JSON member a record of this collection may have, the base fields first.
    pub fn members(self) -> impl Iterator<Item = Member> {
        BASE.iter().chain(self.own_members()).copied()
    }

    /// The member called `name`, if records of this collection have one.
    pub fn member(self, name: &str) -> Option<Member> {
        self.members().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_unique_and_found_by_name() {
        for id in CollectionId::all() {
            let names: Vec<&str> = id.members().map(|m| m.name).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{id}");
            assert_eq!(id.member("sourcedId").unwrap().kind, Scalar);
        }
        let school = CollectionId::Classes.member("school").unwrap();
        assert!(school.kind.has_sub_field("sourcedId") && !school.kind.has_sub_field("name"));
        assert!(
            CollectionId::Users
                .member("userIds")
                .unwrap()
                .kind
                .has_sub_field("identifier")
        );
        assert!(CollectionId::Users.member("school").is_none());
        assert!(!Scalar.has_sub_field("sourcedId"));
    }
}
