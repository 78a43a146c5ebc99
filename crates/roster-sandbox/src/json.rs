//! JSON writing for the sandbox's hot path: bytes pushed into one reused buffer, no `Value` trees;
//! and objects read and rewritten with their members in the order written.

use std::borrow::Cow;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// Appends `s` as a JSON string literal, quotes included.
pub(crate) fn push_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    push_escaped(buf, s.as_bytes());
    buf.push(b'"');
}

/// Appends the inside of a JSON string literal: `"` and `\` escaped, control characters as escapes.
pub(crate) fn push_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        } else {
            buf.extend_from_slice(escape);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Appends `n` in decimal.
pub(crate) fn push_u64(buf: &mut Vec<u8>, n: u64) {
    push_padded(buf, n, 1);
}

/// Appends `n` in decimal, left-padded with zeros to at least `width` digits.
pub(crate) fn push_padded(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (digits.len() - i)..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&digits[i..]);
}

/// A JSON object's members in the order written, values kept as their raw text.
pub(crate) type Members = Vec<(String, Box<RawValue>)>;

/// Reads a JSON object, keeping its members' order (serde_json's maps sort them).
pub(crate) fn object_members(raw: &[u8]) -> Result<Members, serde_json::Error> {
    struct Ordered(Members);
    impl<'de> Deserialize<'de> for Ordered {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
            struct Visit;
            impl<'de> Visitor<'de> for Visit {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                    let mut members = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                        members.push(entry);
                    }
                    Ok(Ordered(members))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<Ordered>(raw).map(|o| o.0)
}

/// The members of the JSON object `raw` named in `wanted`, parsed; the others are skipped unparsed.
pub(crate) fn pick_members(raw: &[u8], wanted: &[&str]) -> serde_json::Map<String, Value> {
    struct Pick<'w>(&'w [&'w str]);
    impl<'de> DeserializeSeed<'de> for Pick<'_> {
        type Value = serde_json::Map<String, Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Pick<'_> {
        type Value = serde_json::Map<String, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut picked = serde_json::Map::new();
            while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                if self.0.contains(&key.as_ref()) {
                    picked.insert(key.into_owned(), map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(picked)
        }
    }
    /// A member name, borrowed from the input unless it holds escapes.
    struct Key<'de>(Cow<'de, str>);
    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> Visitor<'de> for Visit {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a member name")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(s)))
                }
                fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(s.to_string())))
                }
            }
            d.deserialize_str(Visit)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    Pick(wanted).deserialize(&mut de).unwrap_or_default()
}

/// Writes members as a compact JSON object.
pub(crate) fn push_object(buf: &mut Vec<u8>, members: &Members) {
    buf.push(b'{');
    for (n, (key, value)) in members.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        push_str(buf, key);
        buf.push(b':');
        buf.extend_from_slice(&minify(value.get()));
    }
    buf.push(b'}');
}

/// Appends the record `raw` with only the members named in `fields`, in the record's order.
pub(crate) fn push_selected(buf: &mut Vec<u8>, raw: &[u8], fields: &[String]) {
    match object_members(raw) {
        Ok(mut members) => {
            members.retain(|(key, _)| fields.iter().any(|f| f == key));
            push_object(buf, &members);
        }
        Err(_) => buf.extend_from_slice(raw),
    }
}

/// Removes the whitespace between JSON tokens, keeping strings (escapes included) and key order
/// exactly as written.
pub(crate) fn minify(json: &str) -> Vec<u8> {
    #[derive(Clone, Copy)]
    enum At {
        Between,
        InString,
        AfterBackslash,
    }
    let mut at = At::Between;
    let mut out = Vec::with_capacity(json.len());
    for &b in json.as_bytes() {
        at = match (at, b) {
            (At::Between, b' ' | b'\t' | b'\n' | b'\r') => continue,
            (At::Between, b'"') => At::InString,
            (At::Between, _) => At::Between,
            (At::InString, b'\\') => At::AfterBackslash,
            (At::InString, b'"') => At::Between,
            (At::InString, _) | (At::AfterBackslash, _) => At::InString,
        };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_serde() {
        for s in [
            "plain",
            "Smith, Jr.",
            "Robert \"Bobby\"",
            "back\\slash",
            "two\nlines\ttab\r",
            "bell\u{7}",
            "Zoë Łukasz Nguyễn 王",
        ] {
            let mut buf = Vec::new();
            push_str(&mut buf, s);
            let back: String = serde_json::from_slice(&buf).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn numbers_pad() {
        let mut buf = Vec::new();
        push_padded(&mut buf, 42, 5);
        buf.push(b' ');
        push_u64(&mut buf, 0);
        buf.push(b' ');
        push_padded(&mut buf, 123456, 3);
        buf.push(b' ');
        push_u64(&mut buf, u64::MAX);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "00042 0 123456 18446744073709551615"
        );
    }

    #[test]
    fn objects_keep_their_order_and_select_fields() {
        let raw = br#"{"b": 1, "a": {"x": [1, 2]}, "c": "z"}"#;
        let members = object_members(raw).unwrap();
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let mut out = Vec::new();
        push_object(&mut out, &members);
        assert_eq!(out, br#"{"b":1,"a":{"x":[1,2]},"c":"z"}"#);
        out.clear();
        push_selected(&mut out, raw, &["c".to_string(), "b".to_string()]);
        assert_eq!(out, br#"{"b":1,"c":"z"}"#);
        assert!(object_members(b"[1]").is_err());
        let picked = pick_members(raw, &["c", "a", "z"]);
        assert_eq!(
            Value::Object(picked),
            serde_json::json!({"a": {"x": [1, 2]}, "c": "z"})
        );
    }

    #[test]
    fn minify_keeps_strings_and_order() {
        let pretty = "{\n  \"b\": \"a \\\" b\",\n  \"a\": [1, 2,\n 3]\n}";
        let min = minify(pretty);
        assert_eq!(min, br#"{"b":"a \" b","a":[1,2,3]}"#);
    }
}
