//! Lenient readers for the JSON shapes real OneRoster servers send (docs/oneroster-notes.md §6.1): each one
//! renders a member's raw JSON text into one CSV cell, borrowing from the page and reusing buffers,
//! never building `serde_json::Value` trees.

use super::scan;
use crate::records::{compact_into, trimmed};
use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

/// Why a member could not be read; the caller adds the collection, record and field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FieldError(pub String);

impl FieldError {
    fn expected(what: &str, found: &Json<'_>) -> FieldError {
        FieldError(format!("expected {what}, found {}", found.describe()))
    }
}

pub(crate) type FieldResult = Result<(), FieldError>;

/// A JSON value seen through its raw text, strings unescaped only when they contain escapes.
#[derive(Debug)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text exactly as sent.
    Number(&'a str),
    Str(Cow<'a, str>),
    /// The array's raw text, `[` … `]`.
    Array(&'a str),
    /// The object's raw text, `{` … `}`.
    Object(&'a str),
}

impl Json<'_> {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Looks at a raw value's first byte to tell its type; unescapes strings only when needed.
pub(crate) fn classify(raw: &str) -> Result<Json<'_>, FieldError> {
    let text = raw.trim_ascii();
    Ok(match text.as_bytes().first() {
        None | Some(b'n') => Json::Null,
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'[') => Json::Array(text),
        Some(b'{') => Json::Object(text),
        Some(b'"') => {
            let inner = &text[1..text.len() - 1];
            if scan::has_backslash(inner.as_bytes()) {
                Json::Str(Cow::Owned(
                    serde_json::from_str::<String>(text).map_err(|e| FieldError(e.to_string()))?,
                ))
            } else {
                Json::Str(Cow::Borrowed(inner))
            }
        }
        Some(_) => Json::Number(text),
    })
}

/// Appends one list item, comma-separated, skipping blanks.
fn push_item(out: &mut String, item: &str) {
    let item = trimmed(item);
    if item.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(item);
}

/// Appends each comma-separated part of `s`, trimmed, so `"a, b"` becomes `a,b`.
fn push_split(out: &mut String, s: &str) {
    for part in s.split(',') {
        push_item(out, part);
    }
}

/// A string member: strings as sent, numbers and booleans as their text.
pub(crate) fn text(v: Option<&str>, out: &mut String) -> FieldResult {
    let Some(v) = v else { return Ok(()) };
    match classify(v)? {
        Json::Null => {}
        Json::Str(s) => out.push_str(&s),
        Json::Number(n) => out.push_str(n),
        Json::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        other => return Err(FieldError::expected("a string", &other)),
    }
    Ok(())
}

/// An identifier, year or enumeration value: like [`text`], trimmed (hosts pad sourcedIds).
pub(crate) fn token(v: Option<&str>, out: &mut String) -> FieldResult {
    let Some(v) = v else { return Ok(()) };
    match classify(v)? {
        Json::Null => {}
        Json::Str(s) => out.push_str(trimmed(&s)),
        Json::Number(n) => out.push_str(n),
        other => return Err(FieldError::expected("a string", &other)),
    }
    Ok(())
}

/// An enumeration written lower-case (`demographics.sex`: `Female` → `female`).
pub(crate) fn lower(v: Option<&str>, out: &mut String) -> FieldResult {
    let start = out.len();
    token(v, out)?;
    if out[start..].chars().any(char::is_uppercase) {
        let lowered = out[start..].to_lowercase();
        out.truncate(start);
        out.push_str(&lowered);
    }
    Ok(())
}

/// The members of a GUIDRef object that matter: its id (or the `sourceId` typo) and a title.
pub(crate) struct RefParts<'a> {
    pub id: Option<&'a str>,
    pub title: Option<&'a str>,
}

const REF_KEYS: [&str; 3] = ["sourcedId", "sourceId", "title"];

/// Splits a GUIDRef object into its id and title.
pub(crate) fn ref_parts(object: &str) -> Result<RefParts<'_>, FieldError> {
    let mut slots = [None; REF_KEYS.len()];
    // Most references are a few string members: read from their quotes, names told apart by
    // their length first.
    let quick = scan::string_members(object, |name, value| {
        let i = match name.len() {
            9 if name == REF_KEYS[0] => 0,
            8 if name == REF_KEYS[1] => 1,
            5 if name == REF_KEYS[2] => 2,
            _ => return,
        };
        slots[i].get_or_insert(value);
    });
    if quick.is_err() {
        slots = [None; REF_KEYS.len()];
        pick(object, &REF_KEYS, &mut slots).map_err(|e| FieldError(e.to_string()))?;
    }
    Ok(RefParts {
        id: slots[0].or(slots[1]),
        title: slots[2],
    })
}

/// Appends one list item read with [`token`], comma-separated; a blank item adds nothing.
fn push_token_item(v: Option<&str>, out: &mut String) -> FieldResult {
    let before = out.len();
    if before > 0 {
        out.push(',');
    }
    let start = out.len();
    token(v, out)?;
    if out.len() == start {
        out.truncate(before);
    }
    Ok(())
}

/// Appends the sourcedId of a GUIDRef object; `{}` is no reference, other objects need an id.
fn push_ref_object(object: &str, out: &mut String) -> FieldResult {
    let parts = ref_parts(object)?;
    match parts.id {
        Some(id) => push_token_item(Some(id), out)
            .map_err(|FieldError(d)| FieldError(format!("its sourcedId: {d}"))),
        None if object[1..object.len() - 1].trim().is_empty() => Ok(()),
        None => Err(FieldError("is a reference without a sourcedId".to_string())),
    }
}

/// A GUIDRef: the object form, the `sourceId` typo, or a bare string id.
pub(crate) fn reference(v: Option<&str>, out: &mut String) -> FieldResult {
    let Some(v) = v else { return Ok(()) };
    match classify(v)? {
        Json::Null => Ok(()),
        Json::Str(s) => {
            out.push_str(trimmed(&s));
            Ok(())
        }
        Json::Number(n) => {
            out.push_str(n);
            Ok(())
        }
        Json::Object(o) => push_ref_object(o, out),
        other => Err(FieldError::expected("a reference", &other)),
    }
}

/// What a list's elements may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elements {
    Strings,
    Refs,
    UserIds,
}

/// Appends every element of a list that arrived as a JSON array or a comma string.
fn list_of<'a>(
    v: Option<&'a str>,
    out: &mut String,
    elems: &mut Vec<&'a str>,
    kind: Elements,
) -> FieldResult {
    let Some(v) = v else { return Ok(()) };
    match classify(v)? {
        Json::Null => Ok(()),
        Json::Str(s) => {
            push_split(out, &s);
            Ok(())
        }
        Json::Number(n) if kind == Elements::Strings => {
            push_item(out, n);
            Ok(())
        }
        // One object where a list of references belongs: read it as a list of one.
        Json::Object(o) if kind == Elements::Refs => push_ref_object(o, out),
        Json::Object(o) if kind == Elements::UserIds => push_user_id(o, out),
        Json::Array(a) => {
            elems.clear();
            elements(a, elems).map_err(|e| FieldError(e.to_string()))?;
            for (i, e) in elems.iter().enumerate() {
                let at = |FieldError(d): FieldError| FieldError(format!("item {i}: {d}"));
                match classify(e).map_err(at)? {
                    Json::Null => {}
                    Json::Str(s) => push_split(out, &s),
                    Json::Number(n) if kind != Elements::UserIds => push_item(out, n),
                    Json::Object(o) if kind == Elements::Refs => {
                        push_ref_object(o, out).map_err(at)?
                    }
                    Json::Object(o) if kind == Elements::UserIds => {
                        push_user_id(o, out).map_err(at)?
                    }
                    other => {
                        let what = match kind {
                            Elements::Strings => "a string",
                            Elements::Refs => "a reference",
                            Elements::UserIds => "a {type, identifier} object",
                        };
                        return Err(at(FieldError::expected(what, &other)));
                    }
                }
            }
            Ok(())
        }
        other => Err(FieldError::expected("a list", &other)),
    }
}

/// A list of strings (`grades`, `subjects`, `periods`, …), comma-joined without spaces.
pub(crate) fn string_list<'a>(
    v: Option<&'a str>,
    out: &mut String,
    elems: &mut Vec<&'a str>,
) -> FieldResult {
    list_of(v, out, elems, Elements::Strings)
}

/// A list of GUIDRefs (`orgs`, `agents`, `terms`), their sourcedIds comma-joined.
pub(crate) fn ref_list<'a>(
    v: Option<&'a str>,
    out: &mut String,
    elems: &mut Vec<&'a str>,
) -> FieldResult {
    list_of(v, out, elems, Elements::Refs)
}

/// `user.userIds` as `{type:identifier}` entries, comma-joined.
pub(crate) fn user_ids<'a>(
    v: Option<&'a str>,
    out: &mut String,
    elems: &mut Vec<&'a str>,
) -> FieldResult {
    list_of(v, out, elems, Elements::UserIds)
}

fn push_user_id(object: &str, out: &mut String) -> FieldResult {
    const KEYS: [&str; 2] = ["type", "identifier"];
    let mut slots = [None; 2];
    pick(object, &KEYS, &mut slots).map_err(|e| FieldError(e.to_string()))?;
    let mut probe = String::new();
    token(slots[1], &mut probe)
        .map_err(|FieldError(d)| FieldError(format!("its identifier: {d}")))?;
    if probe.is_empty() {
        return Err(FieldError("is a userId without an identifier".to_string()));
    }
    if !out.is_empty() {
        out.push(',');
    }
    out.push('{');
    token(slots[0], out).map_err(|FieldError(d)| FieldError(format!("its type: {d}")))?;
    out.push(':');
    out.push_str(&probe);
    out.push('}');
    Ok(())
}

/// Reads a lenient boolean: `true`, `"true"`, `"True"`, `"t"`, `"1"`, `"yes"`, `1` and their
/// opposites. `None` means no value (absent, null or an empty string).
pub(crate) fn boolean_value(v: Option<&str>) -> Result<Option<bool>, FieldError> {
    let Some(v) = v else { return Ok(None) };
    let json = classify(v)?;
    let word = match &json {
        Json::Null => return Ok(None),
        Json::Bool(b) => return Ok(Some(*b)),
        Json::Number(n) => *n,
        Json::Str(s) => trimmed(s),
        _ => return Err(FieldError::expected("a boolean", &json)),
    };
    const TRUE: [&str; 5] = ["true", "t", "1", "yes", "y"];
    const FALSE: [&str; 5] = ["false", "f", "0", "no", "n"];
    if word.is_empty() {
        Ok(None)
    } else if TRUE.iter().any(|t| t.eq_ignore_ascii_case(word)) {
        Ok(Some(true))
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(word)) {
        Ok(Some(false))
    } else {
        Err(FieldError(format!("expected a boolean, found `{word}`")))
    }
}

/// A boolean cell, `true`/`false` lower-case; `default` fills a missing value.
pub(crate) fn boolean(v: Option<&str>, default: Option<bool>, out: &mut String) -> FieldResult {
    if let Some(b) = boolean_value(v)?.or(default) {
        out.push_str(if b { "true" } else { "false" });
    }
    Ok(())
}

/// A CSV date: `YYYY-MM-DD`; a datetime is cut to its date part, anything else is kept as sent.
pub(crate) fn date(v: Option<&str>, out: &mut String) -> FieldResult {
    let start = out.len();
    token(v, out)?;
    let b = &out.as_bytes()[start..];
    let is_date = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if is_date && (b.len() == 10 || matches!(b[10], b'T' | b't' | b' ')) {
        out.truncate(start + 10);
    }
    Ok(())
}

/// A float: numbers and numeric strings as sent; exponent forms become plain decimals.
pub(crate) fn number(v: Option<&str>, out: &mut String) -> FieldResult {
    let start = out.len();
    token(v, out)?;
    let t = &out[start..];
    if t.contains(['e', 'E'])
        && let Ok(x) = t.parse::<f64>()
        && x.is_finite()
    {
        let plain = x.to_string();
        out.truncate(start);
        out.push_str(&plain);
    }
    Ok(())
}

/// Collects the raw values of the members named in `keys` into `slots` (same order; the first
/// occurrence of a name wins), skipping every other member without allocating. Records come from
/// pages `Page::parse` has checked, so a quick scan reads them; serde_json reads what the scan
/// does not expect, and words the error if there is one.
pub(crate) fn pick<'a>(
    object: &'a str,
    keys: &[&str],
    slots: &mut [Option<&'a str>],
) -> Result<(), serde_json::Error> {
    debug_assert!(slots.len() >= keys.len());
    pick_by(object, slots, |name| keys.iter().position(|k| *k == name))
}

/// Member names to pick from many records, with a table that finds a name's place in one
/// comparison, not one per name (a users row reads 18).
#[derive(Debug)]
pub(crate) struct Names {
    keys: Vec<&'static str>,
    /// By [`Names::bucket`]: the index of the one key there, or `NONE` or `MANY`.
    table: [u8; 256],
}

impl Names {
    const NONE: u8 = u8::MAX;
    const MANY: u8 = u8::MAX - 1;

    pub fn new(keys: Vec<&'static str>) -> Names {
        assert!(keys.len() < usize::from(Names::MANY), "too many names");
        let mut table = [Names::NONE; 256];
        for (i, key) in keys.iter().enumerate() {
            let b = &mut table[Names::bucket(key)];
            *b = match *b {
                Names::NONE => i as u8,
                // The same name twice: the first stands, as in `pick`.
                j if j != Names::MANY && keys[usize::from(j)] == *key => j,
                _ => Names::MANY,
            };
        }
        Names { keys, table }
    }

    pub fn keys(&self) -> &[&'static str] {
        &self.keys
    }

    /// A name's bucket: its first and last eight bytes (all of a name of up to 16) and its
    /// length, mixed by a multiplication (Fibonacci hashing).
    fn bucket(name: &str) -> usize {
        let b = name.as_bytes();
        let word = |part: &[u8]| {
            let mut w = [0u8; 8];
            w[..part.len()].copy_from_slice(part);
            u64::from_le_bytes(w)
        };
        let w = if b.len() >= 8 {
            word(&b[..8]) ^ word(&b[b.len() - 8..]) << 1
        } else {
            word(b)
        };
        ((w ^ b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
    }

    /// The place of `name` among the keys.
    #[inline]
    fn find(&self, name: &str) -> Option<usize> {
        match self.table[Names::bucket(name)] {
            Names::NONE => None,
            Names::MANY => self.keys.iter().position(|k| *k == name),
            i => (self.keys[usize::from(i)] == name).then_some(usize::from(i)),
        }
    }

    /// [`pick`] with these names.
    pub fn pick<'a>(
        &self,
        object: &'a str,
        slots: &mut [Option<&'a str>],
    ) -> Result<(), serde_json::Error> {
        debug_assert!(slots.len() >= self.keys.len());
        pick_by(object, slots, |name| self.find(name))
    }
}

fn pick_by<'a>(
    object: &'a str,
    slots: &mut [Option<&'a str>],
    find: impl Fn(&str) -> Option<usize>,
) -> Result<(), serde_json::Error> {
    let quick = scan::members(object, |name, value| {
        if let Some(i) = find(name)
            && slots[i].is_none()
        {
            slots[i] = Some(value);
        }
    });
    if quick.is_ok() {
        return Ok(());
    }
    slots.iter_mut().for_each(|s| *s = None);
    let mut de = serde_json::Deserializer::from_str(object);
    (&mut de).deserialize_map(PickVisitor { find, slots })?;
    de.end()
}

struct PickVisitor<'s, 'a, F> {
    find: F,
    slots: &'s mut [Option<&'a str>],
}

impl<'de: 'a, 'a, F: Fn(&str) -> Option<usize>> Visitor<'de> for PickVisitor<'_, 'a, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match (self.find)(key.as_str()) {
                Some(i) if self.slots[i].is_none() => {
                    self.slots[i] = Some(map.next_value::<&'de RawValue>()?.get());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A member name, borrowed unless it contains escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Appends the raw elements of a JSON array to `into`, reusing its allocation (a quick scan
/// first, as in [`pick`]).
pub(crate) fn elements<'a>(
    array: &'a str,
    into: &mut Vec<&'a str>,
) -> Result<(), serde_json::Error> {
    let before = into.len();
    if scan::items(array, into).is_ok() {
        return Ok(());
    }
    into.truncate(before);
    let mut de = serde_json::Deserializer::from_str(array);
    ExtendSeed(into).deserialize(&mut de)?;
    de.end()
}

struct ExtendSeed<'v, 'a>(&'v mut Vec<&'a str>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for ExtendSeed<'_, 'a> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for ExtendSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(e) = seq.next_element::<&'de RawValue>()? {
            self.0.push(e.get());
        }
        Ok(())
    }
}

/// Appends a record's raw text, compacted only when it spans lines; `one_line`: known not to
/// (`Page::single_lines`), so it is not searched for a line break.
pub(crate) fn push_record(json: &str, one_line: bool, out: &mut Vec<u8>) {
    if !one_line && memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_some() {
        compact_into(json, out);
    } else {
        out.extend_from_slice(json.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    fn render(
        f: impl FnOnce(Option<&str>, &mut String) -> FieldResult,
        json: &str,
    ) -> Result<String, FieldError> {
        let v = raw(json);
        let mut out = String::new();
        f(Some(v.get()), &mut out).map(|()| out)
    }

    fn render_list(
        f: for<'a> fn(Option<&'a str>, &mut String, &mut Vec<&'a str>) -> FieldResult,
        json: &str,
    ) -> Result<String, FieldError> {
        let v = raw(json);
        let mut out = String::new();
        let mut elems = Vec::new();
        f(Some(v.get()), &mut out, &mut elems).map(|()| out)
    }

    #[test]
    fn strings_unescape_only_when_needed() {
        assert_eq!(
            render(text, r#""O'Brien, \"Zoë\"""#).unwrap(),
            r#"O'Brien, "Zoë""#
        );
        assert_eq!(render(text, r#""plain""#).unwrap(), "plain");
        assert_eq!(render(text, "12").unwrap(), "12");
        assert_eq!(render(text, "null").unwrap(), "");
        assert_eq!(render(text, r#""  spaced ""#).unwrap(), "  spaced ");
        assert_eq!(render(token, r#""  padded ""#).unwrap(), "padded");
        let err = render(text, r#"{"first":"A"}"#).unwrap_err();
        assert_eq!(err.0, "expected a string, found an object");
    }

    #[test]
    fn references_accept_objects_typos_and_bare_strings() {
        assert_eq!(
            render(
                reference,
                r#"{"href":"h","sourcedId":" org-1 ","type":"org"}"#
            )
            .unwrap(),
            "org-1"
        );
        assert_eq!(
            render(reference, r#"{"sourceId":"org-2"}"#).unwrap(),
            "org-2"
        );
        assert_eq!(render(reference, r#""org-3""#).unwrap(), "org-3");
        assert_eq!(render(reference, "{}").unwrap(), "");
        assert_eq!(render(reference, "null").unwrap(), "");
        assert!(
            render(reference, r#"{"href":"h"}"#)
                .unwrap_err()
                .0
                .contains("without a sourcedId")
        );
        assert!(render(reference, r#"[1]"#).is_err());
    }

    #[test]
    fn lists_join_arrays_and_comma_strings_without_spaces() {
        assert_eq!(
            render_list(string_list, r#"["09","10", "11"]"#).unwrap(),
            "09,10,11"
        );
        assert_eq!(
            render_list(string_list, r#""Science, Physics""#).unwrap(),
            "Science,Physics"
        );
        assert_eq!(
            render_list(string_list, r#"[9, "K", null, ""]"#).unwrap(),
            "9,K"
        );
        assert_eq!(render_list(string_list, r#"[]"#).unwrap(), "");
        assert_eq!(
            render_list(ref_list, r#"[{"sourcedId":"a"},"b",{"sourceId":"c"}]"#).unwrap(),
            "a,b,c"
        );
        assert_eq!(
            render_list(ref_list, r#"{"sourcedId":"solo"}"#).unwrap(),
            "solo"
        );
        let err = render_list(string_list, r#"["a",{"x":1}]"#).unwrap_err();
        assert_eq!(err.0, "item 1: expected a string, found an object");
    }

    #[test]
    fn user_ids_become_type_identifier_pairs() {
        assert_eq!(
            render_list(
                user_ids,
                r#"[{"type":"LDAP","identifier":"jdoe"},{"type":"LTI","identifier":12345}]"#
            )
            .unwrap(),
            "{LDAP:jdoe},{LTI:12345}"
        );
        assert_eq!(
            render_list(user_ids, r#""{LDAP:jdoe}, {LTI:1}""#).unwrap(),
            "{LDAP:jdoe},{LTI:1}"
        );
        assert!(render_list(user_ids, r#"[{"type":"LDAP"}]"#).is_err());
    }

    #[test]
    fn booleans_are_lenient() {
        for (input, want) in [
            ("true", "true"),
            (r#""True""#, "true"),
            (r#""t""#, "true"),
            (r#""1""#, "true"),
            ("1", "true"),
            ("false", "false"),
            (r#""FALSE""#, "false"),
            (r#""f""#, "false"),
            ("0", "false"),
            (r#""""#, ""),
            ("null", ""),
        ] {
            assert_eq!(
                render(|v, o| boolean(v, None, o), input).unwrap(),
                want,
                "{input}"
            );
        }
        assert_eq!(
            render(|v, o| boolean(v, Some(true), o), "null").unwrap(),
            "true"
        );
        assert!(render(|v, o| boolean(v, None, o), r#""maybe""#).is_err());
    }

    #[test]
    fn dates_drop_the_time_and_numbers_keep_their_text() {
        assert_eq!(
            render(date, r#""2024-09-01T08:00:00.000Z""#).unwrap(),
            "2024-09-01"
        );
        assert_eq!(render(date, r#""2024-09-01 08:00""#).unwrap(), "2024-09-01");
        assert_eq!(render(date, r#""2024-09-01""#).unwrap(), "2024-09-01");
        assert_eq!(render(date, r#""09/01/2024""#).unwrap(), "09/01/2024");
        assert_eq!(render(number, "85.50").unwrap(), "85.50");
        assert_eq!(render(number, r#"" 7.25 ""#).unwrap(), "7.25");
        assert_eq!(render(number, "1e2").unwrap(), "100");
        assert_eq!(render(lower, r#""Female""#).unwrap(), "female");
    }

    #[test]
    fn pick_takes_named_members_and_skips_the_rest() {
        let obj = r#"{"a":1,"skip":{"deep":[1,2,{"x":"y"}]},"b":"two","a":3}"#;
        let mut slots = [None; 3];
        pick(obj, &["a", "b", "c"], &mut slots).unwrap();
        assert_eq!(slots[0].unwrap(), "1");
        assert_eq!(slots[1].unwrap(), r#""two""#);
        assert!(slots[2].is_none());
        let mut slots = [None; 1];
        pick(r#"{"na\u006De":"v"}"#, &["name"], &mut slots).unwrap();
        assert_eq!(slots[0].unwrap(), r#""v""#);
    }

    #[test]
    fn names_find_what_a_search_finds() {
        // Every file's names, and names that share a bucket with them or with each other.
        let mut all: Vec<&'static str> = oneroster::CsvFile::ALL
            .iter()
            .flat_map(|f| f.columns().iter().flat_map(|c| c.keys.iter().copied()))
            .collect();
        all.extend([
            "",
            "a",
            "ab",
            "ba",
            "sourcedId",
            "resources",
            "metadata",
            "x",
        ]);
        assert!(
            Names::new(all.clone()).table.contains(&Names::MANY),
            "a shared bucket is searched"
        );
        // Names a byte away from each: one byte changed, one more, one fewer.
        let mut near: Vec<String> = vec!["nope".into(), "sourcedid".into(), "status ".into()];
        for name in &all {
            for i in 0..name.len() {
                let mut b = name.as_bytes().to_vec();
                b[i] = if b[i] == b'x' { b'y' } else { b'x' };
                near.push(String::from_utf8(b).unwrap());
            }
            near.push(format!("{name}x"));
            near.push(format!("x{name}"));
            near.extend(name.get(1..).map(String::from));
        }
        for keys in [all.clone(), vec!["a", "a", "b"], vec![]] {
            let names = Names::new(keys.clone());
            for probe in all.iter().copied().chain(near.iter().map(String::as_str)) {
                assert_eq!(
                    names.find(probe),
                    keys.iter().position(|k| *k == probe),
                    "{probe:?} in {keys:?}"
                );
            }
        }
        let names = Names::new(vec!["a", "b"]);
        let mut slots = [None; 2];
        names
            .pick(r#"{"b":1,"a":{"b":2},"b":3,"na\u006De":4}"#, &mut slots)
            .unwrap();
        assert_eq!(slots, [Some(r#"{"b":2}"#), Some("1")]);
    }

    #[test]
    fn each_files_names_mostly_have_a_bucket_of_their_own() {
        // Speed, not correctness: a shared bucket costs a search.
        for file in oneroster::CsvFile::ALL {
            let keys: Vec<&'static str> = file
                .columns()
                .iter()
                .flat_map(|c| c.keys.iter().copied())
                .collect();
            let names = Names::new(keys);
            let shared = names.table.iter().filter(|&&b| b == Names::MANY).count();
            assert!(shared <= 1, "{file:?}: {shared} shared buckets");
        }
    }

    #[test]
    fn compaction_keeps_strings_intact() {
        let mut out = Vec::new();
        push_record(
            "{\n  \"a\": \"x  y\\\" \\n\",\n  \"b\": [1, 2]\n}",
            false,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x  y\" \n","b":[1,2]}"#
        );
        let mut out = Vec::new();
        push_record(r#"{"a": 1}"#, false, &mut out);
        assert_eq!(out, br#"{"a": 1}"#);
    }
}
