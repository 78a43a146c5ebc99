//! A page of records as the server sent it: the body bytes, parsed once, with each record kept as
//! its raw JSON text. JSON and NDJSON pass records through; CSV reads them through borrowed views.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use oneroster::{Collection, CollectionId};

mod split;
use split::{Cuts, IdAt};

/// Why a 200 body could not be read as a page of the collection.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    #[error("the body has no `{key}` array (members: {members})")]
    MissingKey { key: &'static str, members: String },
    #[error("`{key}` is not an array of records: {source}")]
    NotAnArray {
        key: String,
        source: serde_json::Error,
    },
    #[error("record {index} has no sourcedId")]
    MissingSourcedId { index: usize },
    #[error("record {index} is not a JSON object")]
    NotAnObject { index: usize },
    #[error(
        "record {index} is {bytes} bytes, more than the {MAX_RECORD_BYTES}-byte cap on one record"
    )]
    RecordTooLarge { index: usize, bytes: usize },
}

/// The largest single record accepted. Real records are a few hundred bytes; a megabyte means
/// a broken or hostile server.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One page: where it started, the raw body, and where each record sits in it.
#[derive(Debug, Clone)]
pub struct Page {
    pub collection: CollectionId,
    pub offset: u64,
    body: Bytes,
    records: Vec<Range<usize>>,
    /// Each record's sourcedId, trimmed (hosts pad them), for de-duplication.
    ids: Vec<Range<usize>>,
    /// The member the records were found under when it was not the documented key.
    pub found_under: Option<String>,
    /// Known to have no line breaks between tokens, so each record is one line as it is.
    single_lines: bool,
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(rename = "sourcedId", borrow)]
    sourced_id: Option<&'a RawValue>,
}

impl Page {
    /// Splits a 200 body into records in one pass: the member holding them is split into raw
    /// records as it is read, every other member skipped. The documented response key comes
    /// first, then the alternates real servers use; a body with neither is an error, never an
    /// empty page.
    pub fn parse(collection: &Collection, offset: u64, body: Bytes) -> Result<Page, PageError> {
        // The body is checked to be UTF-8 whole, once, so the records cut from it need no
        // further check; a body that the quick pass found to be ASCII needs none at all.
        let utf8 = || {
            std::str::from_utf8(&body).map_err(|e| {
                PageError::InvalidJson(serde::de::Error::custom(format!("not UTF-8: {e}")))
            })
        };
        let (key, items, single_lines) = match split::split(&body, collection) {
            Some(s) => {
                if !s.ascii {
                    utf8()?;
                }
                (s.key, s.records, s.single_lines)
            }
            None => {
                let (key, items) = parse_with_serde(collection, utf8()?)?;
                (key, items, false)
            }
        };
        let mut records = Vec::with_capacity(items.len());
        let mut ids = Vec::with_capacity(items.len());
        for (index, (record, id)) in items.into_iter().enumerate() {
            let text = slice(&body, &record);
            if text.len() > MAX_RECORD_BYTES {
                return Err(PageError::RecordTooLarge {
                    index,
                    bytes: text.len(),
                });
            }
            if !text.starts_with('{') {
                return Err(PageError::NotAnObject { index });
            }
            let id = match id {
                IdAt::Found(at) => Some(trimmed(slice(&body, &at))).filter(|t| !t.is_empty()),
                IdAt::Absent => None,
                IdAt::Unsure => sourced_id(text).map_err(|()| PageError::NotAnObject { index })?,
            };
            // Not `ok_or`: the error it builds for every record is dropped by a call.
            let Some(id) = id else {
                return Err(PageError::MissingSourcedId { index });
            };
            let start = id.as_ptr() as usize - body.as_ptr() as usize;
            records.push(record);
            ids.push(start..start + id.len());
        }
        let found_under = (key != 0).then(|| {
            collection
                .alternate_keys
                .get(key - 1)
                .copied()
                .unwrap_or_default()
                .to_string()
        });
        Ok(Page {
            collection: collection.id,
            offset,
            body,
            records,
            ids,
            found_under,
            single_lines,
        })
    }

    /// The size of the body it was cut from, in bytes.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Whether every record is known to be on one line as sent (no line breaks between its
    /// tokens; inside strings there can be none), so it needs no compacting.
    pub fn single_lines(&self) -> bool {
        self.single_lines
    }

    /// Number of records on the page (before de-duplication).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `i`'s raw JSON text.
    pub fn record(&self, i: usize) -> &str {
        self.text(&self.records[i])
    }

    /// The records' raw JSON text, in server order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.records.iter().map(|r| self.text(r))
    }

    /// The sourcedId of record `i` as it appears in the JSON (escapes left as sent).
    pub fn sourced_id(&self, i: usize) -> &str {
        self.text(&self.ids[i])
    }

    /// Every record's sourcedId, in server order.
    pub fn sourced_ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.ids.iter().map(|r| self.text(r))
    }

    /// Drops the records for which `keep` says no, asking of each sourcedId in server order; used
    /// by the pager to de-duplicate.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let mut kept_ids = Vec::with_capacity(self.ids.len());
        let mut kept = Vec::with_capacity(self.records.len());
        for (rec, id) in self.records.iter().zip(&self.ids) {
            if keep(slice(&self.body, id)) {
                kept.push(rec.clone());
                kept_ids.push(id.clone());
            }
        }
        self.records = kept;
        self.ids = kept_ids;
    }

    fn text(&self, r: &Range<usize>) -> &str {
        slice(&self.body, r)
    }
}

/// `s.trim()`, without its look at each end for Unicode whitespace when the end bytes are
/// visible ASCII (most ids and tokens). (Not `!is_ascii_whitespace`: `trim` also takes the
/// vertical tab.)
pub(crate) fn trimmed(s: &str) -> &str {
    let plain = |b: u8| b.is_ascii_graphic();
    match s.as_bytes() {
        [first, .., last] if plain(*first) && plain(*last) => s,
        [only] if plain(*only) => s,
        _ => s.trim(),
    }
}

/// The records of a body that the quick pass left to serde_json (invalid JSON, or a shape it does
/// not handle): which key they were under (0 the documented one, then the alternates) and their
/// spans, or the error that names what is wrong.
fn parse_with_serde(collection: &Collection, text: &str) -> Result<(usize, Cuts), PageError> {
    let mut top = Top {
        keys: collection,
        found: None,
        members: Vec::new(),
        reading: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let read = serde::Deserializer::deserialize_map(&mut de, &mut top).and_then(|()| de.end());
    if let Err(e) = read {
        return Err(match (top.reading, e.classify()) {
            (Some(key), serde_json::error::Category::Data) => {
                PageError::NotAnArray { key, source: e }
            }
            _ => PageError::InvalidJson(e),
        });
    }
    let Some((key, items)) = top.found else {
        let mut members = top.members;
        members.sort_unstable();
        return Err(PageError::MissingKey {
            key: collection.response_key,
            members: if members.is_empty() {
                "none".to_string()
            } else {
                members.join(", ")
            },
        });
    };
    let base = text.as_ptr() as usize;
    let key = std::iter::once(collection.response_key)
        .chain(collection.alternate_keys.iter().copied())
        .position(|k| k == key)
        .unwrap_or(0);
    let items = items
        .iter()
        .map(|item| {
            let start = item.get().as_ptr() as usize - base;
            (start..start + item.get().len(), IdAt::Unsure)
        })
        .collect();
    Ok((key, items))
}

/// The top of a page body, read as a map: the records of the first wanted member, and the names
/// of all members (for the message when none is wanted).
struct Top<'a, 'c> {
    keys: &'c Collection,
    found: Option<(&'c str, Vec<&'a RawValue>)>,
    members: Vec<String>,
    /// The member being split, for a message when it is not an array.
    reading: Option<String>,
}

impl<'de: 'a, 'a, 'c> Visitor<'de> for &mut Top<'a, 'c> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object holding an array of records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let c = self.keys;
            let wanted = std::iter::once(c.response_key)
                .chain(c.alternate_keys.iter().copied())
                .position(|k| k == name);
            // The documented key wins over an alternate met earlier.
            let better = match (&self.found, wanted) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some((k, _)), Some(w)) => *k != c.response_key && w == 0,
            };
            if better {
                let key = std::iter::once(c.response_key)
                    .chain(c.alternate_keys.iter().copied())
                    .nth(wanted.unwrap_or(0))
                    .unwrap_or(c.response_key);
                self.reading = Some(key.to_string());
                let mut items = Vec::new();
                map.next_value_seed(Elements(&mut items))?;
                self.reading = None;
                self.found = Some((key, items));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            self.members.push(name.into_owned());
        }
        Ok(())
    }
}

/// Appends the raw elements of a JSON array.
struct Elements<'v, 'a>(&'v mut Vec<&'a RawValue>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for Elements<'_, 'a> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Elements<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(e) = seq.next_element::<&'de RawValue>()? {
            self.0.push(e);
        }
        Ok(())
    }
}

/// The top-level sourcedId of a record's JSON (trimmed, escapes as written), if it has one.
pub fn top_level_sourced_id(record: &str) -> Option<&str> {
    sourced_id(record).ok().flatten()
}

/// A top-level string member of a record's JSON, as written (escapes left in); `None` when it is
/// absent, not a string, or behind a member name with escapes (rare enough to go without).
pub fn member<'a>(record: &'a str, key: &str) -> Option<&'a str> {
    match scan_member(record, key) {
        Scan::Found(value) => Some(value),
        Scan::Absent | Scan::Unsure => None,
    }
}

/// Whether a record's `status` says it is gone (`tobedeleted`, or 1.0's `inactive`).
pub fn is_deleted(record: &str) -> bool {
    member(record, "status").is_some_and(is_deleted_status)
}

/// Whether a `status` value says the record is gone.
pub fn is_deleted_status(status: &str) -> bool {
    let s = status.trim();
    s.eq_ignore_ascii_case("tobedeleted") || s.eq_ignore_ascii_case("inactive")
}

/// The sourcedId of a record, found by a byte scan or, when names have escapes, by the parser;
/// `Err` when the parser finds no object.
fn sourced_id(record: &str) -> Result<Option<&str>, ()> {
    let id = match scan_member(record, "sourcedId") {
        Scan::Found(id) => Some(id),
        Scan::Absent => None,
        Scan::Unsure => {
            let id: IdOnly = serde_json::from_str(record).map_err(|_| ())?;
            id.sourced_id
                .map(|raw| raw.get())
                .and_then(|t| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
        }
    };
    Ok(id.map(str::trim).filter(|t| !t.is_empty()))
}

/// What a quick look for a record's top-level member found.
#[derive(Debug, PartialEq)]
enum Scan<'a> {
    /// Its string value as written (escapes left in).
    Found(&'a str),
    /// No such member with a string value.
    Absent,
    /// A member name has escapes: let the JSON parser decide.
    Unsure,
}

/// Finds a top-level member of a record that has already been read as valid JSON, without parsing
/// it again: members are skipped byte-wise (hosts usually put `sourcedId` first).
fn scan_member<'a>(record: &'a str, wanted: &str) -> Scan<'a> {
    let b = record.as_bytes();
    let ws = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut i = ws(0) + 1; // past `{`
    loop {
        i = ws(i);
        if b.get(i) != Some(&b'"') {
            return Scan::Absent; // `}`: no more members
        }
        let key_end = string_end(b, i);
        let Some(key) = b.get(i + 1..key_end.saturating_sub(1)) else {
            return Scan::Unsure;
        };
        if key.contains(&b'\\') {
            return Scan::Unsure;
        }
        i = ws(ws(key_end) + 1); // past `:`
        if key == wanted.as_bytes() {
            return match b.get(i) {
                Some(b'"') => record
                    .get(i + 1..string_end(b, i).saturating_sub(1))
                    .map_or(Scan::Unsure, Scan::Found),
                _ => Scan::Absent,
            };
        }
        i = ws(value_end(b, i));
        if b.get(i) != Some(&b',') {
            return Scan::Absent;
        }
        i += 1;
    }
}

/// The index just past the string starting at `b[i]` (a quote).
fn string_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(k) = memchr::memchr2(b'"', b'\\', &b[j..]) {
        if b[j + k] == b'\\' {
            j += k + 2;
        } else {
            return j + k + 1;
        }
    }
    b.len()
}

/// The index just past the value starting at `b[i]`.
fn value_end(b: &[u8], mut i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        _ => {
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                i += 1;
            }
            i
        }
    }
}

/// A record or id cut from a page body. The body parsed as JSON, so it is UTF-8, and the ranges
/// fall on the parser's boundaries.
fn slice<'a>(body: &'a [u8], r: &Range<usize>) -> &'a str {
    let bytes = &body[r.clone()];
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: a page's body never changes after `Page::parse` checked it is UTF-8 (or found it
    // all ASCII), and every range was cut from a `&str` slice of it, so it starts and ends on
    // character boundaries. Checking again cost several per cent of an export's CPU.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// Appends `json` with the whitespace between tokens removed (strings are kept byte for byte), so
/// a pretty-printed record fits on one line.
pub fn compact_into(json: &str, out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    in_string = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_is_trim() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a",
            "a\u{3000}",
            "ab",
            "a b",
            "\ta\n",
            "é",
            "aé",
            "éa",
            "\u{2003}",
            "x\u{85}",
            "\u{b}a",
            "a\u{b}",
            "\u{1f}a",
            "\u{c}",
        ] {
            assert_eq!(trimmed(s), s.trim(), "{s:?}");
        }
    }

    fn users() -> &'static Collection {
        CollectionId::Users.info()
    }

    #[test]
    fn splits_records_and_ids() {
        let body = Bytes::from_static(
            br#"{"users":[{"sourcedId":" u1 ","givenName":"A"},{"givenName":"B","sourcedId":"u2"}]}"#,
        );
        let page = Page::parse(users(), 0, body).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page.sourced_id(0), "u1");
        assert_eq!(page.sourced_id(1), "u2");
        assert_eq!(
            page.records().next().unwrap(),
            r#"{"sourcedId":" u1 ","givenName":"A"}"#
        );
    }

    #[test]
    fn accepts_alternate_keys_and_refuses_missing_ones() {
        let page = Page::parse(
            users(),
            0,
            Bytes::from_static(br#"{"students":[{"sourcedId":"s"}]}"#),
        )
        .unwrap();
        assert_eq!(page.found_under.as_deref(), Some("students"));
        let err =
            Page::parse(users(), 0, Bytes::from_static(br#"{"statusInfoSet":[]}"#)).unwrap_err();
        assert!(err.to_string().contains("`users`"), "{err}");
    }

    #[test]
    fn a_record_without_an_id_is_an_error() {
        let err = Page::parse(
            users(),
            0,
            Bytes::from_static(br#"{"users":[{"givenName":"x"}]}"#),
        )
        .unwrap_err();
        assert!(matches!(err, PageError::MissingSourcedId { index: 0 }));
    }

    #[test]
    fn oversized_records_and_non_objects_are_errors() {
        let huge = format!(
            r#"{{"users":[{{"sourcedId":"a","givenName":"{}"}}]}}"#,
            "x".repeat(MAX_RECORD_BYTES)
        );
        let err = Page::parse(users(), 0, Bytes::from(huge)).unwrap_err();
        assert!(
            matches!(err, PageError::RecordTooLarge { index: 0, .. }),
            "{err}"
        );
        let err = Page::parse(users(), 0, Bytes::from_static(br#"{"users":["a"]}"#)).unwrap_err();
        assert!(matches!(err, PageError::NotAnObject { index: 0 }));
        let err = Page::parse(
            users(),
            0,
            Bytes::from_static(br#"{"users":{"sourcedId":"a"}}"#),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not an array"), "{err}");
        // Unknown members and odd types elsewhere are kept as sent.
        let page = Page::parse(
            users(),
            0,
            Bytes::from_static(br#"{"users":[{"sourcedId":"a","x":{"y":[1]},"enabledUser":"t"}]}"#),
        )
        .unwrap();
        assert_eq!(
            page.records().next().unwrap(),
            r#"{"sourcedId":"a","x":{"y":[1]},"enabledUser":"t"}"#
        );
    }

    #[test]
    fn the_sourced_id_is_found_wherever_it_stands() {
        for (record, want) in [
            (r#"{"sourcedId":"a1","x":1}"#, Scan::Found("a1")),
            (
                r#"{ "user" : {"sourcedId":"nested"}, "tags":["}",{"a":"]"}], "n": -1.5e3, "sourcedId" : "top\"1" }"#,
                Scan::Found(r#"top\"1"#),
            ),
            (r#"{"a":"\"sourcedId\":\"no\""}"#, Scan::Absent),
            (r#"{"sourcedId":null}"#, Scan::Absent),
            ("{}", Scan::Absent),
            (r#"{"source\u0064Id":"esc"}"#, Scan::Unsure),
        ] {
            assert_eq!(scan_member(record, "sourcedId"), want, "{record}");
        }
        // The escaped name still counts, through the full parser.
        let page = Page::parse(
            users(),
            0,
            Bytes::from_static(br#"{"users":[{"source\u0064Id":"esc"}]}"#),
        )
        .unwrap();
        assert_eq!(page.sourced_id(0), "esc");
    }

    #[test]
    fn one_pass_finds_the_documented_key_before_an_alternate() {
        let page = Page::parse(
            users(),
            0,
            Bytes::from_static(
                br#"{"statusInfoSet":[],"students":[{"sourcedId":"s"}],"users":[{"sourcedId":"u"}]}"#,
            ),
        )
        .unwrap();
        assert_eq!(
            (page.sourced_id(0), page.found_under.as_deref()),
            ("u", None)
        );
        let err = Page::parse(users(), 0, Bytes::from_static(br#"{"users":[1,"#)).unwrap_err();
        assert!(matches!(err, PageError::InvalidJson(_)), "{err}");
    }

    #[test]
    fn bodies_beyond_ascii_are_checked_as_utf8() {
        let page = Page::parse(
            users(),
            0,
            Bytes::from("{\"users\":[{\"sourcedId\":\"zoë\"}]}"),
        )
        .unwrap();
        assert_eq!(page.sourced_id(0), "zoë");
        let err = Page::parse(
            users(),
            0,
            Bytes::from_static(b"{\"users\":[{\"sourcedId\":\"zo\xeb\"}]}"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn retain_drops_records() {
        let body = Bytes::from_static(br#"{"users":[{"sourcedId":"a"},{"sourcedId":"b"}]}"#);
        let mut page = Page::parse(users(), 0, body).unwrap();
        page.retain(|id| id != "a");
        assert_eq!(page.len(), 1);
        assert_eq!(page.sourced_id(0), "b");
    }
}
