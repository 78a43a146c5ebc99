//! A quick walk over JSON that `Page::parse` has already checked: the members of an object and
//! the items of an array, found by their delimiters alone. The checked parse has proved the text
//! well-formed, so this need not check it again, and it is several times faster than a second
//! serde pass over every record.
//!
//! It never panics and never loops on any input; on anything it does not expect (a member name
//! with escapes, or text that is not well-formed after all) it answers [`Unusual`] and the caller
//! reads the text with serde_json instead, which also words any error.

/// The text needs serde_json's reading.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unusual;

/// Calls `visit(name, value)` for each member of `object`, in order; `value` is the member's raw
/// JSON text.
pub(crate) fn members<'a>(
    object: &'a str,
    mut visit: impl FnMut(&'a str, &'a str),
) -> Result<(), Unusual> {
    let b = object.as_bytes();
    list(b, b'{', b'}', |i| {
        if b.get(i) != Some(&b'"') {
            return Err(Unusual);
        }
        let (close, escaped) = string_span(b, i)?;
        if escaped {
            return Err(Unusual);
        }
        let name = &object[i + 1..close - 1];
        let colon = skip_ws(b, close);
        if b.get(colon) != Some(&b':') {
            return Err(Unusual);
        }
        let start = skip_ws(b, colon + 1);
        let stop = value_end(b, start)?;
        visit(name, &object[start..stop]);
        Ok(stop)
    })
}

/// Appends the raw JSON text of each item of `array` to `into`.
pub(crate) fn items<'a>(array: &'a str, into: &mut Vec<&'a str>) -> Result<(), Unusual> {
    let b = array.as_bytes();
    list(b, b'[', b']', |i| {
        let stop = value_end(b, i)?;
        into.push(&array[i..stop]);
        Ok(stop)
    })
}

/// Walks a comma-separated list between `open` and `close`: `element(i)` reads the element that
/// starts at `i` and returns the index just past it.
fn list(
    b: &[u8],
    open: u8,
    close: u8,
    mut element: impl FnMut(usize) -> Result<usize, Unusual>,
) -> Result<(), Unusual> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&open) {
        return Err(Unusual);
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&close) {
        return end(b, i + 1);
    }
    loop {
        i = skip_ws(b, element(i)?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(&c) if c == close => return end(b, i + 1),
            _ => return Err(Unusual),
        }
    }
}

/// Only whitespace may follow the closing bracket at `i`.
fn end(b: &[u8], i: usize) -> Result<(), Unusual> {
    if skip_ws(b, i) == b.len() {
        Ok(())
    } else {
        Err(Unusual)
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the string that opens at `i` (which holds `"`).
fn string_end(b: &[u8], i: usize) -> Result<usize, Unusual> {
    string_span(b, i).map(|(end, _)| end)
}

/// The index just past the string that opens at `i`, and whether it holds an escape (found on
/// the way, so a member name need not be searched again).
fn string_span(b: &[u8], i: usize) -> Result<(usize, bool), Unusual> {
    let mut at = i + 1;
    let mut escaped = false;
    loop {
        let rest = b.get(at..).ok_or(Unusual)?;
        let found = at + memchr::memchr2(b'"', b'\\', rest).ok_or(Unusual)?;
        if b[found] == b'"' {
            return Ok((found + 1, escaped));
        }
        // An escape: the next byte is escaped whatever it is (`\"`, `\\`, `\u…`).
        escaped = true;
        at = found + 2;
    }
}

/// The index just past the value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> Result<usize, Unusual> {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut at = i;
            while let Some(&c) = b.get(at) {
                match c {
                    b'"' => {
                        at = string_end(b, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            Err(Unusual)
        }
        Some(_) => {
            let stop = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(b.len(), |n| i + n);
            if stop == i { Err(Unusual) } else { Ok(stop) }
        }
        None => Err(Unusual),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(object: &str) -> Result<Vec<(&str, &str)>, Unusual> {
        let mut out = Vec::new();
        members(object, |k, v| out.push((k, v)))?;
        Ok(out)
    }

    #[test]
    fn members_and_their_raw_values() {
        let obj =
            r#" { "a" : 1 , "s":"x\"}y", "o":{"k":[1,{"z":"]"}]}, "l":[ ], "n":null,"t":true } "#;
        assert_eq!(
            all(obj).unwrap(),
            vec![
                ("a", "1"),
                ("s", r#""x\"}y""#),
                ("o", r#"{"k":[1,{"z":"]"}]}"#),
                ("l", "[ ]"),
                ("n", "null"),
                ("t", "true"),
            ]
        );
        assert_eq!(all("{}").unwrap(), vec![]);
        assert_eq!(all(r#"{"e":"\\"}"#).unwrap(), vec![("e", r#""\\""#)]);
    }

    #[test]
    fn the_unexpected_goes_to_serde() {
        for bad in [
            "",
            "[]",
            r#"{"na\u006De":1}"#,
            r#"{"a":1"#,
            r#"{"a":"open}"#,
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":1} x"#,
            r#"{"a":"\"#,
        ] {
            assert_eq!(all(bad), Err(Unusual), "{bad}");
        }
    }

    #[test]
    fn items_of_an_array() {
        let mut out = Vec::new();
        items(r#"[ "a,b", {"x":[1]} ,3, [] ]"#, &mut out).unwrap();
        assert_eq!(out, vec![r#""a,b""#, r#"{"x":[1]}"#, "3", "[]"]);
        out.clear();
        items("[]", &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(items("[1,", &mut out), Err(Unusual));
        assert_eq!(items("[1 2]", &mut out), Err(Unusual));
    }

    #[test]
    fn agrees_with_serde_on_what_serde_reads() {
        // Every member serde_json finds, with the same raw text.
        let obj = r#"{"sourcedId":"u1","orgs":[{"href":"h","sourcedId":"o1","type":"org"}],
            "userIds":[{"type":"LDAP","identifier":"x\u00e9"}],"grades":"09, 10","n":-1.5e3}"#;
        let theirs: serde_json::Map<String, serde_json::Value> = serde_json::from_str(obj).unwrap();
        let ours = all(obj).unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (k, v) in ours {
            let parsed: serde_json::Value = serde_json::from_str(v).unwrap();
            assert_eq!(&parsed, &theirs[k], "{k}");
        }
    }
}
