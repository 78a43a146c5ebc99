//! The enumerations of v1.1 (docs/oneroster-notes.md §6.2), with the tokens a CSV bundle may hold.

/// A vocabulary a column's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vocab {
    /// `status`: StatusType.
    Status,
    /// `academicSession.type`.
    SessionType,
    ClassType,
    OrgType,
    /// `user.role`, `resource.roles`, and (read liberally) `enrollment.role`.
    Role,
    /// `demographics.sex`.
    Gender,
    /// `resource.importance`.
    Importance,
    ScoreStatus,
}

impl Vocab {
    /// The tokens as the specification writes them.
    pub fn tokens(self) -> &'static [&'static str] {
        match self {
            Vocab::Status => &["active", "tobedeleted"],
            Vocab::SessionType => &["gradingPeriod", "semester", "schoolYear", "term"],
            Vocab::ClassType => &["homeroom", "scheduled"],
            Vocab::OrgType => &[
                "department",
                "school",
                "district",
                "local",
                "state",
                "national",
            ],
            Vocab::Role => &[
                "administrator",
                "aide",
                "guardian",
                "parent",
                "proctor",
                "relative",
                "student",
                "teacher",
            ],
            Vocab::Gender => &["male", "female"],
            Vocab::Importance => &["primary", "secondary"],
            Vocab::ScoreStatus => &[
                "exempt",
                "fully graded",
                "not submitted",
                "partially graded",
                "submitted",
            ],
        }
    }

    /// The vocabulary's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Vocab::Status => "StatusType",
            Vocab::SessionType => "SessionType",
            Vocab::ClassType => "ClassType",
            Vocab::OrgType => "OrgType",
            Vocab::Role => "RoleType",
            Vocab::Gender => "Gender",
            Vocab::Importance => "Importance",
            Vocab::ScoreStatus => "ScoreStatus",
        }
    }

    /// Whether `value` is one of the tokens. Liberal where hosts are known to differ: 1.0's
    /// `inactive` status, any case for sex (and the 1.2 additions `other`, `unspecified`), and the
    /// 1.1 OpenAPI file's misspelt `not submmitted`.
    pub fn accepts(self, value: &str) -> bool {
        if self.tokens().contains(&value) {
            return true;
        }
        match self {
            Vocab::Status => value == "inactive",
            Vocab::Gender => ["male", "female", "other", "unspecified"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(value)),
            Vocab::ScoreStatus => value == "not submmitted",
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_liberal_readings() {
        assert!(Vocab::SessionType.accepts("gradingPeriod"));
        assert!(!Vocab::SessionType.accepts("gradingperiod"));
        assert!(Vocab::Gender.accepts("Female"));
        assert!(Vocab::Status.accepts("inactive"));
        assert!(Vocab::ScoreStatus.accepts("not submmitted"));
        assert!(!Vocab::Role.accepts("principal"));
    }
}
