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

/// [`members`] for a small object whose members are all plain strings, as a GUIDRef is
/// (`{"href":"…","sourcedId":"…","type":"…"}`), read from where its quotes are. The object is
/// checked JSON, so its quotes settle its shape: if nothing but whitespace, `:` and `,` stands
/// between its strings, no member can hold anything but a string, and each member is four
/// quotes apart. A reference read through [`members`] cost several hundred instructions, and a CSV
/// bundle has millions.
/// [`Unusual`] for anything else (an escape, a value that is not a string, no members or more
/// than eight, more than [`FLAT_MAX`] bytes), which [`members`] reads; `visit` is then not
/// called at all.
pub(crate) fn string_members<'a>(
    object: &'a str,
    mut visit: impl FnMut(&'a str, &'a str),
) -> Result<(), Unusual> {
    let b = object.as_bytes();
    if b.len() > FLAT_MAX || b.first() != Some(&b'{') || b.last() != Some(&b'}') {
        return Err(Unusual);
    }
    let mut quotes = [0u8; MAX_QUOTES];
    let n = flat_quotes(b, &mut quotes).ok_or(Unusual)?;
    if n == 0 || n % 4 != 0 {
        return Err(Unusual);
    }
    for m in quotes[..n].chunks_exact(4) {
        let [name_open, name_close, open, close] = [0, 1, 2, 3].map(|i| usize::from(m[i]));
        let (name, value) = (&object[name_open + 1..name_close], &object[open..close + 1]);
        visit(name, value);
    }
    Ok(())
}

/// The most bytes [`string_members`] reads.
pub(crate) const FLAT_MAX: usize = 255;

/// The most quotes [`string_members`] reads: eight members.
const MAX_QUOTES: usize = 32;

/// Puts where the quotes of the object `b` (at most [`FLAT_MAX`] bytes, `{` first and `}`
/// last) are into `quotes`, and says how many there are; `None` when `b` holds a backslash, more
/// quotes than fit, or anything but whitespace, `:` and `,` between its braces and strings.
fn flat_quotes(b: &[u8], quotes: &mut [u8; MAX_QUOTES]) -> Option<usize> {
    let mut n = 0;
    let mut at = 0;
    while at < b.len() {
        // The last few bytes are copied into a block padded with spaces.
        let block: [u8; 16] = match b.get(at..at + 16) {
            Some(full) => full.try_into().expect("16 bytes"),
            None => {
                let mut block = [b' '; 16];
                block[..b.len() - at].copy_from_slice(&b[at..]);
                block
            }
        };
        let (mut quote, backslash) = quotes_and_backslashes(&block);
        if backslash != 0 {
            return None;
        }
        while quote != 0 {
            *quotes.get_mut(n)? = (at + quote.trailing_zeros() as usize) as u8;
            n += 1;
            quote &= quote - 1;
        }
        at += 16;
    }
    // Checked JSON: with nothing but these bytes between its strings, every value is a string
    // (a number, a literal or a nested value would show between them).
    let plain = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b':' | b','))
    };
    let q = |i: usize| usize::from(quotes[i]);
    let Some(last) = n.checked_sub(1) else {
        return Some(0);
    };
    // The caller saw `{` first and `}` last, so these ranges are in order.
    let between = (1..last).step_by(2).all(|i| plain(q(i) + 1, q(i + 1)));
    (plain(1, q(0)) && between && plain(q(last) + 1, b.len() - 1)).then_some(n)
}

/// Where a 16-byte block holds `"` and `\`, bit `i` for byte `i`.
#[inline]
fn quotes_and_backslashes(block: &[u8; 16]) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; the load reads the block's 16 bytes.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let is = |c: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u32;
            (is(b'"'), is(b'\\'))
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let is =
            |c: u8| (block.iter().enumerate()).fold(0, |m, (i, &x)| m | (u32::from(x == c) << i));
        (is(b'"'), is(b'\\'))
    }
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
        let found = quote_or_backslash(b, at).ok_or(Unusual)?;
        if b[found] == b'"' {
            return Ok((found + 1, escaped));
        }
        // An escape: the next byte is escaped whatever it is (`\"`, `\\`, `\u…`).
        escaped = true;
        at = found + 2;
    }
}

/// Where the first `"` or `\` at or after `from` is.
#[inline]
fn quote_or_backslash(b: &[u8], from: usize) -> Option<usize> {
    either(b, from, b'"', b'\\')
}

/// Whether `b` holds a backslash (a JSON string's contents, escaped or not).
#[inline]
pub(crate) fn has_backslash(b: &[u8]) -> bool {
    either(b, 0, b'\\', b'\\').is_some()
}

/// Where the first `x` or `y` at or after `from` is. Strings in records are short (ids, names,
/// dates): sixteen bytes compared at once, in line, cost a fraction of a call into `memchr`,
/// whose set-up is made for long haystacks (it was a tenth of a CSV export's CPU).
#[inline]
fn either(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
    let mut at = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; each load reads the 16 bytes `at..at + 16` of `b`.
        unsafe {
            let (xs, ys) = (_mm_set1_epi8(x as i8), _mm_set1_epi8(y as i8));
            while at + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(at).cast::<__m128i>());
                let hits = _mm_or_si128(_mm_cmpeq_epi8(v, xs), _mm_cmpeq_epi8(v, ys));
                let mask = _mm_movemask_epi8(hits) as u32;
                if mask != 0 {
                    return Some(at + mask.trailing_zeros() as usize);
                }
                at += 16;
            }
        }
    }
    let rest = b.get(at..)?;
    rest.iter().position(|&c| c == x || c == y).map(|n| at + n)
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
    fn string_members_reads_what_members_reads() {
        // Objects of every shape a small generator makes, checked JSON as `members` expects:
        // where `string_members` reads one, it finds what `members` finds.
        let names = ["href", "sourcedId", "type", "title", "x"];
        let values = [
            r#""org-1""#,
            r#""""#,
            r#""a b,{}[]:""#,
            r#""\"q\"""#,
            "1",
            "null",
            "true",
            r#"{"k":"v"}"#,
            r#"["a"]"#,
            r#""https://h/ims/oneroster/v1p1/orgs/org-school-00008""#,
        ];
        let spaces = ["", "", "", " ", "\n  "];
        let mut rng = crate::test_rng::TestRng::new(0x0123_4567_89ab_cdef);
        let mut next = || rng.next();
        let (mut quick, mut all) = (0, 0);
        for _ in 0..20_000 {
            let mut object = format!("{{{}", spaces[next() % spaces.len()]);
            for m in 0..next() % 5 {
                let sp = |n: usize| spaces[n % spaces.len()];
                if m > 0 {
                    object.push_str(&format!(",{}", sp(next())));
                }
                let name = names[next() % names.len()];
                // Mostly strings, as references are.
                let value = values[if next() % 3 == 0 {
                    next() % values.len()
                } else {
                    next() % 3
                }];
                object.push_str(&format!(
                    "\"{name}\"{}:{}{value}{}",
                    sp(next()),
                    sp(next()),
                    sp(next())
                ));
            }
            object.push('}');
            serde_json::from_str::<serde_json::Value>(&object).expect("the generator makes JSON");
            let mut theirs = Vec::new();
            members(&object, |k, v| theirs.push((k, v))).unwrap();
            let mut ours = Vec::new();
            if string_members(&object, |k, v| ours.push((k, v))).is_ok() {
                assert_eq!(ours, theirs, "{object}");
                quick += 1;
            } else {
                assert!(ours.is_empty(), "visited before giving up: {object}");
            }
            all += 1;
        }
        assert!(quick > all / 5, "{quick} of {all} read the quick way");
        let guid = r#"{"href":"https://h/orgs/o1","sourcedId":"o1","type":"org"}"#;
        let mut found = Vec::new();
        string_members(guid, |k, v| found.push((k, v))).unwrap();
        assert_eq!(found[1], ("sourcedId", r#""o1""#));
        let long = format!(r#"{{"sourcedId":"{}"}}"#, "x".repeat(FLAT_MAX));
        assert_eq!(string_members(&long, |_, _| {}), Err(Unusual));
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
    fn quotes_and_backslashes_are_found_at_every_offset() {
        for len in 0..40 {
            for at in 0..=len {
                for c in [b'"', b'\\'] {
                    let mut b = vec![b'a'; len];
                    if at < len {
                        b[at] = c;
                    }
                    for from in 0..=len + 1 {
                        let want = (from <= at && at < len).then_some(at);
                        assert_eq!(quote_or_backslash(&b, from), want, "{len} {at} {from}");
                    }
                }
            }
        }
        assert_eq!(quote_or_backslash(b"x\\\"", 0), Some(1));
        let mut long = vec![b'a'; 50];
        assert!(!has_backslash(&long));
        long[37] = b'\\';
        assert!(has_backslash(&long));
        assert!(!has_backslash(b"a\"b"));
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
