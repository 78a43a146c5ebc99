//! The syntax of one non-blank cell, by its column's type (docs/oneroster-notes.md §7.2): dates,
//! datetimes, years, floats, booleans, vocabulary tokens and lists. Whether a blank is allowed,
//! and whether ids resolve, is decided elsewhere.

use oneroster::{ColumnType, Vocab};

use super::report::Rule;

/// What is wrong with a cell: the rule, and the words that follow "<column> `<value>`".
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fault {
    pub rule: Rule,
    pub detail: String,
}

fn fault(rule: Rule, detail: impl Into<String>) -> Result<(), Fault> {
    Err(Fault {
        rule,
        detail: detail.into(),
    })
}

/// Checks a non-blank `value` of a column of type `ty`.
pub(super) fn check(ty: ColumnType, value: &str) -> Result<(), Fault> {
    use ColumnType::*;
    match ty {
        Id | Text | Password => Ok(()),
        Status => token(Vocab::Status, value),
        Enum(vocab) => token(vocab, value),
        EnumList(vocab) => {
            list(value)?;
            items(value).try_for_each(|item| token(vocab, item))
        }
        Ref if value.contains(',') => {
            fault(Rule::List, "holds a list; the column takes one sourcedId")
        }
        Ref => Ok(()),
        RefList | List => list(value),
        UserIds => user_ids(value),
        Bool { .. } if is_boolean(value) => Ok(()),
        Bool { .. } => fault(Rule::Boolean, "is not a boolean (true or false)"),
        Date if is_date(value.as_bytes()) => Ok(()),
        Date => fault(Rule::Date, "is not a date (YYYY-MM-DD)"),
        DateTime if is_datetime(value.as_bytes()) => Ok(()),
        DateTime => fault(
            Rule::Datetime,
            "is not a datetime (YYYY-MM-DDThh:mm:ss[.sss] and Z or an offset like +02:00)",
        ),
        Year if value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Year => fault(Rule::Year, "is not a year (YYYY)"),
        Float if is_float(value.as_bytes()) => Ok(()),
        Float => fault(Rule::Float, "is not a decimal number (like 87.5)"),
    }
}

/// The items of a comma list, trimmed, blanks skipped.
pub(super) fn items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|i| !i.is_empty())
}

fn token(vocab: Vocab, value: &str) -> Result<(), Fault> {
    if vocab.accepts(value) {
        return Ok(());
    }
    fault(
        Rule::Enum,
        format!("is not a {} ({})", vocab.name(), vocab.tokens().join(", ")),
    )
}

/// A comma list: no item may be blank (`a,,b`, a trailing comma).
fn list(value: &str) -> Result<(), Fault> {
    if value.split(',').any(|item| item.trim().is_empty()) {
        return fault(Rule::List, "has an empty item");
    }
    Ok(())
}

/// `{type:identifier}` entries, comma-joined (spaces between entries tolerated).
fn user_ids(value: &str) -> Result<(), Fault> {
    let mut rest = value.trim_start();
    loop {
        let bad = |what: &str| {
            fault(
                Rule::List,
                format!("{what}; entries are {{type:identifier}}, comma-joined"),
            )
        };
        let Some(inner) = rest.strip_prefix('{') else {
            return bad("has an entry that does not start with `{`");
        };
        let Some(end) = inner.find('}') else {
            return bad("has an entry without its closing `}`");
        };
        let Some((kind, id)) = inner[..end].split_once(':') else {
            return bad("has an entry without `:` between type and identifier");
        };
        if kind.trim().is_empty() {
            return bad("has an entry without a type");
        }
        if id.trim().is_empty() {
            return bad("has an entry without an identifier");
        }
        rest = inner[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(());
        }
        let Some(next) = rest.strip_prefix(',') else {
            return bad("has text after an entry's `}`");
        };
        rest = next.trim_start();
    }
}

fn is_boolean(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
}

/// `n` ASCII digits as a number, if they are digits.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DD`, a day that exists.
fn is_date(b: &[u8]) -> bool {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(&b[..4]), digits(&b[5..7]), digits(&b[8..]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// `hh:mm` (and `:ss` when `seconds`), within range (a leap second allowed).
fn is_time(b: &[u8], seconds: bool) -> bool {
    let len = if seconds { 8 } else { 5 };
    if b.len() != len || b[2] != b':' || (seconds && b[5] != b':') {
        return false;
    }
    let in_range = |at: usize, max: u32| digits(&b[at..at + 2]).is_some_and(|n| n <= max);
    in_range(0, 23) && in_range(3, 59) && (!seconds || in_range(6, 60))
}

/// `YYYY-MM-DDThh:mm:ss`, an optional fraction, then `Z` or `±hh:mm`.
fn is_datetime(b: &[u8]) -> bool {
    if b.len() < 20 || !is_date(&b[..10]) || b[10] != b'T' || !is_time(&b[11..19], true) {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        b"Z" => true,
        [b'+' | b'-', offset @ ..] => is_time(offset, false),
        _ => false,
    }
}

/// A plain decimal: an optional sign, digits with an optional fraction (`87`, `-0.5`, `.5`).
fn is_float(b: &[u8]) -> bool {
    let b = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    let (whole, fraction) = match b.iter().position(|c| *c == b'.') {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b[b.len()..]),
    };
    (!whole.is_empty() || !fraction.is_empty())
        && whole.iter().chain(fraction).all(u8::is_ascii_digit)
}

/// A value as quoted in a message: at most 60 characters, control characters escaped.
pub(super) fn shown(value: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    fn rule(ty: ColumnType, value: &str) -> Option<Rule> {
        check(ty, value).err().map(|f| f.rule)
    }

    #[test]
    fn dates_are_calendar_days() {
        for good in ["2024-09-01", "2024-02-29", "2000-02-29", "1999-12-31"] {
            assert_eq!(rule(Date, good), None, "{good}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-04-31",
            "2024-00-10",
            "2024-9-1",
            "2024/09/01",
            "2024-09-01T00:00:00Z",
            "20240901",
        ] {
            assert_eq!(rule(Date, bad), Some(Rule::Date), "{bad}");
        }
    }

    #[test]
    fn datetimes_take_z_or_offsets_and_fractions() {
        for good in [
            "2024-09-01T08:30:00Z",
            "2024-09-01T08:30:00.123Z",
            "2024-09-01T08:30:00.1Z",
            "2024-09-01T08:30:00+02:00",
            "2024-09-01T08:30:00.5-05:30",
            "2016-12-31T23:59:60Z",
        ] {
            assert_eq!(rule(DateTime, good), None, "{good}");
        }
        for bad in [
            "2024-09-01",
            "2024-09-01 08:30:00Z",
            "2024-09-01T08:30:00",
            "2024-09-01T08:30Z",
            "2024-09-01T24:00:00Z",
            "2024-09-01T08:30:00.Z",
            "2024-09-01T08:30:00+0200",
            "2024-09-01T08:30:00z",
            "2024-02-30T08:30:00Z",
        ] {
            assert_eq!(rule(DateTime, bad), Some(Rule::Datetime), "{bad}");
        }
    }

    #[test]
    fn years_floats_and_booleans() {
        assert_eq!(rule(Year, "2025"), None);
        for bad in ["25", "2025-26", "２０２５"] {
            assert_eq!(rule(Year, bad), Some(Rule::Year), "{bad}");
        }
        for good in ["87", "87.5", "-0.25", "+3", ".5", "5."] {
            assert_eq!(rule(Float, good), None, "{good}");
        }
        for bad in ["1e3", "87,5", "", ".", "-", "NaN", "1.2.3", " 1"] {
            assert_eq!(rule(Float, bad), Some(Rule::Float), "{bad:?}");
        }
        let bool = Bool { absent: None };
        for good in ["true", "false", "TRUE", "False"] {
            assert_eq!(rule(bool, good), None, "{good}");
        }
        for bad in ["yes", "1", "t", "true "] {
            assert_eq!(rule(bool, bad), Some(Rule::Boolean), "{bad}");
        }
    }

    #[test]
    fn tokens_and_lists() {
        assert_eq!(rule(Enum(Vocab::ClassType), "scheduled"), None);
        let f = check(Enum(Vocab::ClassType), "lecture").unwrap_err();
        assert_eq!(f.detail, "is not a ClassType (homeroom, scheduled)");
        assert_eq!(rule(EnumList(Vocab::Role), "student,teacher"), None);
        assert_eq!(
            rule(EnumList(Vocab::Role), "student,pupil"),
            Some(Rule::Enum)
        );
        assert_eq!(rule(EnumList(Vocab::Role), "student,"), Some(Rule::List));
        assert_eq!(rule(Status, "tobedeleted"), None);
        assert_eq!(rule(Status, "deleted"), Some(Rule::Enum));
        for good in ["09", "09,10,11", "Science, Physics"] {
            assert_eq!(rule(List, good), None, "{good}");
        }
        for bad in ["09,,10", ",09", "09,", " "] {
            assert_eq!(rule(List, bad), Some(Rule::List), "{bad:?}");
        }
        assert_eq!(rule(RefList, "t-1,t-2"), None);
        assert_eq!(rule(Ref, "t-1,t-2"), Some(Rule::List));
        assert_eq!(items(" a, b,,c ").collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn user_ids_are_type_identifier_entries() {
        for good in [
            "{LDAP:jdoe}",
            "{LDAP:jdoe},{LTI:12345}",
            "{LDAP:jdoe}, {LTI:12345}",
            "{URN:urn:x:1}",
            "{SIS:a,b}",
        ] {
            assert_eq!(rule(UserIds, good), None, "{good}");
        }
        for (bad, says) in [
            ("LDAP:jdoe", "does not start with `{`"),
            ("{LDAP:jdoe", "without its closing `}`"),
            ("{jdoe}", "without `:`"),
            ("{:jdoe}", "without a type"),
            ("{LDAP:}", "without an identifier"),
            ("{LDAP:a}{LTI:b}", "text after"),
            ("{LDAP:a},", "does not start with `{`"),
        ] {
            let f = check(UserIds, bad).unwrap_err();
            assert_eq!(f.rule, Rule::List);
            assert!(f.detail.contains(says), "{bad}: {}", f.detail);
        }
    }

    #[test]
    fn values_are_shown_short_and_on_one_line() {
        assert_eq!(shown("a\r\nb"), "a\\r\\nb");
        assert_eq!(shown(&"x".repeat(70)).chars().count(), 61);
    }
}
