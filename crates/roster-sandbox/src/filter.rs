//! The `filter` query parameter of v1.1 reads (docs/oneroster-notes.md §4.3): one predicate or two
//! joined by `AND` or `OR`, each `field op 'value'` with `= != > >= < <= ~`, the field a member of
//! the collection's records or one dotted level below one (`school.sourcedId`).
//!
//! Values compare by the record's JSON type: strings as text (instants normalised to one ISO
//! form first, so `…:00Z` and `…:00.000Z` are the same moment), numbers as numbers, booleans as
//! `true`/`false`. A list matches if any element does (`!=`: if none is equal); a GUIDRef without a
//! sub-field compares its `sourcedId`. `~` is a case-insensitive "contains".

use std::cmp::Ordering;

use serde_json::Value;

use super::overlay::base_instant;
use oneroster::CollectionId;

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FilterError {
    /// Not the grammar: 400 `invalid_data`.
    #[error("malformed filter: {0}")]
    Malformed(String),
    /// A field the records do not have: 400 `invalid_filter_field`.
    #[error("unknown filter field {0:?}")]
    UnknownField(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logic {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
struct Predicate {
    field: String,
    sub: Option<String>,
    op: Op,
    value: String,
    /// The value as an instant, when it is one: then instants in records compare as instants.
    instant: Option<jiff::Timestamp>,
    number: Option<f64>,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    first: Predicate,
    second: Option<(Logic, Predicate)>,
}

impl Filter {
    /// Parses `text` (already URL-decoded) for records of `collection`.
    pub(crate) fn parse(text: &str, collection: CollectionId) -> Result<Filter, FilterError> {
        let (first, rest) = predicate(text.trim_start(), collection)?;
        let rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(Filter {
                first,
                second: None,
            });
        }
        let (logic, after) = logical(rest)
            .ok_or_else(|| FilterError::Malformed(format!("expected AND or OR before {rest:?}")))?;
        let (second, rest) = predicate(after, collection)?;
        let rest = rest.trim();
        if !rest.is_empty() {
            return Err(FilterError::Malformed(format!(
                "at most one AND or OR; unexpected {rest:?}"
            )));
        }
        Ok(Filter {
            first,
            second: Some((logic, second)),
        })
    }

    /// The members the filter reads.
    pub(crate) fn fields(&self) -> Vec<&str> {
        let mut fields = vec![self.first.field.as_str()];
        fields.extend(self.second.as_ref().map(|(_, p)| p.field.as_str()));
        fields
    }

    /// Whether `record` passes.
    pub(crate) fn matches(&self, record: &Value) -> bool {
        let first = self.first.matches(record);
        match &self.second {
            None => first,
            Some((Logic::And, p)) => first && p.matches(record),
            Some((Logic::Or, p)) => first || p.matches(record),
        }
    }

    /// Whether only records modified after the base district's instant can pass: a
    /// `dateLastModified>'…'` at or after it, alone or ANDed with anything.
    pub(crate) fn only_changed(&self) -> bool {
        let newer = |p: &Predicate| {
            let Some(at) = p.instant else {
                return false;
            };
            p.field == "dateLastModified"
                && p.sub.is_none()
                && match p.op {
                    Op::Gt => at >= base_instant(),
                    Op::Ge => at > base_instant(),
                    _ => false,
                }
        };
        match &self.second {
            None => newer(&self.first),
            Some((Logic::And, p)) => newer(&self.first) || newer(p),
            Some((Logic::Or, p)) => newer(&self.first) && newer(p),
        }
    }
}

/// `AND`/`OR` (any case) followed by whitespace, at the start of `text`.
fn logical(text: &str) -> Option<(Logic, &str)> {
    let word_end = text.find(char::is_whitespace)?;
    let logic = match &text[..word_end] {
        w if w.eq_ignore_ascii_case("and") => Logic::And,
        w if w.eq_ignore_ascii_case("or") => Logic::Or,
        _ => return None,
    };
    Some((logic, text[word_end..].trim_start()))
}

/// One `field op 'value'` at the start of `text`, and what follows it.
fn predicate(text: &str, collection: CollectionId) -> Result<(Predicate, &str), FilterError> {
    let field_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let path = &text[..field_end];
    if path.is_empty() {
        return Err(FilterError::Malformed(format!(
            "expected a field name at {text:?}"
        )));
    }
    let (field, sub) = match path.split_once('.') {
        Some((field, sub)) => (field, Some(sub)),
        None => (path, None),
    };
    let known = collection.member(field).is_some_and(|m| match sub {
        None => true,
        Some(sub) => !sub.contains('.') && m.kind.has_sub_field(sub),
    });
    if !known {
        return Err(FilterError::UnknownField(path.to_string()));
    }
    let rest = text[field_end..].trim_start();
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("~", Op::Contains),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(token, op)| rest.strip_prefix(token).map(|r| (*op, r)))
        .ok_or_else(|| FilterError::Malformed(format!("expected an operator after {path}")))?;
    let quoted = rest.trim_start().strip_prefix('\'').ok_or_else(|| {
        FilterError::Malformed(format!("the value after {path} must be in single quotes"))
    })?;
    // The closing quote is the first one at the end or before whitespace, so a value may hold
    // a quote inside a word (O'Brien).
    let close = quoted
        .match_indices('\'')
        .map(|(at, _)| at)
        .find(|&at| {
            let after = &quoted[at + 1..];
            after.is_empty() || after.starts_with(char::is_whitespace)
        })
        .ok_or_else(|| FilterError::Malformed(format!("the value after {path} is not closed")))?;
    let value = quoted[..close].to_string();
    let predicate = Predicate {
        field: field.to_string(),
        sub: sub.map(str::to_string),
        op,
        instant: value.parse().ok(),
        number: value.trim().parse().ok(),
        value,
    };
    Ok((predicate, &quoted[close + 1..]))
}

impl Predicate {
    fn matches(&self, record: &Value) -> bool {
        let leaves = self.leaves(record);
        if self.op == Op::Ne {
            return leaves
                .iter()
                .all(|v| self.compare(v) != Some(Ordering::Equal));
        }
        leaves.iter().any(|v| self.test(v))
    }

    /// The values the predicate looks at: the member, the sub-field, or one per list element.
    fn leaves<'a>(&self, record: &'a Value) -> Vec<&'a Value> {
        let pick = |v: &'a Value| -> Option<&'a Value> {
            match (v, &self.sub) {
                (Value::Object(o), Some(sub)) => o.get(sub),
                (Value::Object(o), None) => o.get("sourcedId"),
                (_, Some(_)) => None,
                (v, None) => Some(v),
            }
        };
        match record.get(&self.field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(pick).collect(),
            Some(v) => pick(v).into_iter().collect(),
        }
    }

    fn test(&self, leaf: &Value) -> bool {
        if self.op == Op::Contains {
            let text = match leaf {
                Value::String(s) => s.to_lowercase(),
                Value::Number(_) | Value::Bool(_) => leaf.to_string(),
                _ => return false,
            };
            return text.contains(&self.value.to_lowercase());
        }
        let Some(order) = self.compare(leaf) else {
            return false;
        };
        match self.op {
            Op::Eq => order == Ordering::Equal,
            Op::Ne => order != Ordering::Equal,
            Op::Gt => order == Ordering::Greater,
            Op::Ge => order != Ordering::Less,
            Op::Lt => order == Ordering::Less,
            Op::Le => order != Ordering::Greater,
            Op::Contains => unreachable!("handled above"),
        }
    }

    /// How `leaf` compares with the predicate's value; `None` when they cannot be compared.
    fn compare(&self, leaf: &Value) -> Option<Ordering> {
        match leaf {
            Value::String(s) => {
                if let Some(at) = self.instant
                    && let Ok(mine) = s.parse::<jiff::Timestamp>()
                {
                    return Some(mine.cmp(&at));
                }
                Some(s.as_str().cmp(self.value.as_str()))
            }
            Value::Number(n) => match (n.as_f64(), self.number) {
                (Some(mine), Some(theirs)) => mine.partial_cmp(&theirs),
                _ => Some(n.to_string().cmp(&self.value)),
            },
            Value::Bool(b) => Some(b.to_string().as_str().cmp(self.value.as_str())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CollectionId::{Classes, Enrollments, Results, Users};
    use serde_json::json;

    fn passes(filter: &str, collection: CollectionId, record: &Value) -> bool {
        Filter::parse(filter, collection).unwrap().matches(record)
    }

    #[test]
    fn every_operator_on_text_numbers_booleans_and_instants() {
        let user = json!({
            "sourcedId": "u1", "status": "active", "dateLastModified": "2025-08-01T12:00:00.000Z",
            "givenName": "Zoë", "familyName": "O'Brien", "role": "student", "enabledUser": true,
            "grades": ["09", "10"], "orgs": [{"sourcedId": "s1"}, {"sourcedId": "s2"}],
            "userIds": [{"type": "LDAP", "identifier": "zob"}],
        });
        for (filter, want) in [
            ("role='student'", true),
            ("role!='student'", false),
            ("role = 'student'", true),
            ("familyName='O'Brien'", true),
            ("familyName~'brie'", true),
            ("givenName~'ZO'", true),
            ("familyName>'N'", true),
            ("familyName<='O'", false),
            ("enabledUser='true'", true),
            ("dateLastModified>'2025-08-01T12:00:00Z'", false),
            ("dateLastModified>='2025-08-01T12:00:00Z'", true),
            ("dateLastModified<'2025-08-01T12:00:00.001Z'", true),
            ("dateLastModified>'2025-07-31'", true),
            ("grades='10'", true),
            ("grades!='10'", false),
            ("grades!='11'", true),
            ("orgs.sourcedId='s2'", true),
            ("orgs='s1'", true),
            ("userIds.identifier='zob'", true),
            ("email='x'", false),
            ("email!='x'", true),
            ("role='student' AND familyName~'o'", true),
            ("role='teacher' AND familyName~'o'", false),
            ("role='teacher' OR familyName~'o'", true),
            ("role='teacher' or givenName='x'", false),
            ("metadata.flag='1'", false),
        ] {
            assert_eq!(passes(filter, Users, &user), want, "{filter}");
        }
        let result = json!({"sourcedId": "r", "score": 9.5, "lineItem": {"sourcedId": "l"}});
        assert!(!passes("score>'10'", Results, &result));
        assert!(passes("score>'9'", Results, &result));
        assert!(passes("score='9.50'", Results, &result));
        assert!(passes("lineItem.sourcedId='l'", Results, &result));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let unknown = |f: &str, c| Filter::parse(f, c).unwrap_err();
        assert_eq!(
            unknown("nope='1'", Users),
            FilterError::UnknownField("nope".into())
        );
        assert_eq!(
            unknown("school.name='x'", Classes),
            FilterError::UnknownField("school.name".into())
        );
        assert_eq!(
            unknown("role.x='x'", Users),
            FilterError::UnknownField("role.x".into())
        );
        assert!(matches!(
            unknown("school.sourcedId.x='a'", Classes),
            FilterError::UnknownField(_)
        ));
        for malformed in [
            "",
            "role",
            "role=student",
            "role=='x'",
            "role='x",
            "role='a' AND",
            "role='a' XOR role='b'",
            "role='a' AND role='b' OR role='c'",
            "='a'",
        ] {
            assert!(
                matches!(
                    Filter::parse(malformed, Enrollments),
                    Err(FilterError::Malformed(_))
                ),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn only_changed_records_pass_a_filter_on_later_modification() {
        let only = |f: &str| Filter::parse(f, Users).unwrap().only_changed();
        assert!(only("dateLastModified>'2025-09-01T00:00:00.000Z'"));
        assert!(only("dateLastModified>'2026-01-01T00:00:00Z'"));
        assert!(!only("dateLastModified>='2025-09-01T00:00:00Z'"));
        assert!(only("dateLastModified>='2025-09-01T00:00:00.001Z'"));
        assert!(!only("dateLastModified>'2025-08-01T00:00:00Z'"));
        assert!(
            !only("dateLastModified>'2026-01-01'"),
            "a date is not an instant"
        );
        assert!(only(
            "role='student' AND dateLastModified>'2026-01-01T00:00:00Z'"
        ));
        assert!(!only(
            "role='student' OR dateLastModified>'2026-01-01T00:00:00Z'"
        ));
        assert!(!only("dateLastModified<'2030-01-01T00:00:00Z'"));
    }
}
