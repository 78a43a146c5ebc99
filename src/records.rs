//! A page of records as the server sent it: the body bytes, parsed once, with each record kept as
//! its raw JSON text. JSON and NDJSON pass records through; CSV reads them through borrowed views.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

use oneroster::{Collection, CollectionId};

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
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(rename = "sourcedId", borrow)]
    sourced_id: Option<&'a RawValue>,
}

impl Page {
    /// Splits a 200 body into records. The documented response key comes first, then the
    /// alternates real servers use; a body with neither is an error, never an empty page.
    pub fn parse(collection: &Collection, offset: u64, body: Bytes) -> Result<Page, PageError> {
        let (records, ids, found_under) = {
            let top: HashMap<&str, &RawValue> =
                serde_json::from_slice(&body).map_err(PageError::InvalidJson)?;
            let (key, raw) = match top.get(collection.response_key) {
                Some(raw) => (None, *raw),
                None => collection
                    .alternate_keys
                    .iter()
                    .find_map(|k| top.get(k).map(|raw| (Some(k.to_string()), *raw)))
                    .ok_or_else(|| {
                        let mut members: Vec<&str> = top.keys().copied().collect();
                        members.sort_unstable();
                        PageError::MissingKey {
                            key: collection.response_key,
                            members: if members.is_empty() {
                                "none".to_string()
                            } else {
                                members.join(", ")
                            },
                        }
                    })?,
            };
            let items: Vec<&RawValue> =
                serde_json::from_str(raw.get()).map_err(|source| PageError::NotAnArray {
                    key: key
                        .clone()
                        .unwrap_or_else(|| collection.response_key.to_string()),
                    source,
                })?;
            let base = body.as_ptr() as usize;
            let span = |s: &str| {
                let start = s.as_ptr() as usize - base;
                start..start + s.len()
            };
            let mut records = Vec::with_capacity(items.len());
            let mut ids = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let text = item.get();
                if text.len() > MAX_RECORD_BYTES {
                    return Err(PageError::RecordTooLarge {
                        index,
                        bytes: text.len(),
                    });
                }
                if !text.starts_with('{') {
                    return Err(PageError::NotAnObject { index });
                }
                let id: IdOnly =
                    serde_json::from_str(text).map_err(|_| PageError::NotAnObject { index })?;
                let id = id
                    .sourced_id
                    .map(|raw| raw.get())
                    .and_then(|t| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or(PageError::MissingSourcedId { index })?;
                records.push(span(text));
                ids.push(span(id));
            }
            (records, ids, key)
        };
        Ok(Page {
            collection: collection.id,
            offset,
            body,
            records,
            ids,
            found_under,
        })
    }

    /// The size of the body it was cut from, in bytes.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Number of records on the page (before de-duplication).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records' raw JSON text, in server order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.records.iter().map(|r| self.text(r))
    }

    /// The sourcedId of record `i` as it appears in the JSON (escapes left as sent).
    pub fn sourced_id(&self, i: usize) -> &str {
        self.text(&self.ids[i])
    }

    /// Drops the records for which `keep` says no; used by the pager to de-duplicate.
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

/// A record or id cut from a page body. The body parsed as JSON, so it is UTF-8, and the ranges
/// fall on the parser's boundaries.
fn slice<'a>(body: &'a [u8], r: &Range<usize>) -> &'a str {
    std::str::from_utf8(&body[r.clone()]).expect("ranges were cut from a parsed str")
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
    fn retain_drops_records() {
        let body = Bytes::from_static(br#"{"users":[{"sourcedId":"a"},{"sourcedId":"b"}]}"#);
        let mut page = Page::parse(users(), 0, body).unwrap();
        page.retain(|id| id != "a");
        assert_eq!(page.len(), 1);
        assert_eq!(page.sourced_id(0), "b");
    }
}
