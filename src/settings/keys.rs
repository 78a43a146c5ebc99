//! Unknown keys in the config file, all found at once: each with its line and the known key it
//! most likely stands for. serde's `deny_unknown_fields` stops at the first, and a new user's
//! file often has several.

use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The keys a `#[derive(Deserialize)]` struct takes, read from the derive itself so the list
/// cannot drift from the struct.
pub fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// One unknown key: where, what, and the likely intended key.
#[derive(Debug, PartialEq, Eq)]
pub struct Unknown {
    pub line: usize,
    pub key: String,
    /// `profile north`, or `the top level`.
    pub place: String,
    pub suggestion: Option<&'static str>,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: unknown key `{}` in {}",
            self.line, self.key, self.place
        )?;
        match self.suggestion {
            Some(s) => write!(f, " (did you mean `{s}`?)"),
            None => Ok(()),
        }
    }
}

/// The unknown keys of a config file's text, in file order: at the top level (`top`) and in each
/// `[profiles.NAME]` table (`profile`). A text that does not parse has none; the parser's own
/// message says what is wrong with it.
pub fn unknown_keys(
    text: &str,
    top: &'static [&'static str],
    profile: &'static [&'static str],
) -> Vec<Unknown> {
    let Ok(doc) = DeTable::parse(text) else {
        return Vec::new();
    };
    let line = |span: Range<usize>| text[..span.start.min(text.len())].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut check = |key: &Spanned<_>, known: &'static [&'static str], place: String| {
        let name: &str = AsRef::<str>::as_ref(key.get_ref());
        if !known.contains(&name) {
            found.push(Unknown {
                line: line(key.span()),
                key: name.to_string(),
                place,
                suggestion: crate::spelling::nearest(name, known),
            });
        }
    };
    for (key, value) in doc.get_ref().iter() {
        check(key, top, "the top level".to_string());
        if AsRef::<str>::as_ref(key.get_ref()) != "profiles" {
            continue;
        }
        let DeValue::Table(profiles) = value.get_ref() else {
            continue;
        };
        for (name, body) in profiles.iter() {
            if let DeValue::Table(body) = body.get_ref() {
                for (key, _) in body.iter() {
                    check(key, profile, format!("profile {}", name.get_ref()));
                }
            }
        }
    }
    found.sort_by_key(|u| u.line);
    found
}

/// A deserializer that only records the field list a struct asks for, then stops.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Stop {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        scopes: Vec<String>,
        base_url: String,
    }

    #[test]
    fn every_unknown_key_is_found_in_file_order() {
        assert_eq!(field_names::<Sample>(), ["scopes", "base_url"]);
        let text = "colour = 1\n[profiles.b]\nbase_ulr = \"x\"\nscopes = []\n\
                    [profiles.a]\nscope = \"roster.readonly\"\nzzz = 1\n";
        let found = unknown_keys(text, &["profiles"], field_names::<Sample>());
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 1: unknown key `colour` in the top level",
                "line 3: unknown key `base_ulr` in profile b (did you mean `base_url`?)",
                "line 6: unknown key `scope` in profile a (did you mean `scopes`?)",
                "line 7: unknown key `zzz` in profile a",
            ]
        );
    }
}
