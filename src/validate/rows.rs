//! One CSV file of a bundle read record by record, with the line each record starts on (quoted
//! cells may span lines). A UTF-8 BOM, LF, CRLF or CR line ends and blank lines are accepted, as
//! consumers accept them (docs/oneroster-notes.md §7.2).
//!
//! The fields are always those the csv crate reads (RFC 4180, a quote doubled inside quotes).
//! Records of plain fields and cleanly quoted ones, nearly every record of a real bundle, are
//! split here: the plain ones a line at a time by a search for commas, where the csv crate's
//! parser stepped through each byte and copied it (a tenth of checking an export's bundle).
//! Anything else (a quote inside a field, text after a closing quote, an unclosed quote) is
//! handed to that parser, `csv_core`, which reads it as the csv crate would.
//!
//! A record's line is one more than the `\n` bytes before its first byte.

use std::io::{self, Read};
use std::ops::Index;
use std::path::PathBuf;

use csv_core::ReadRecordResult;
use memchr::memchr;

use super::source::{Source, ValidateError};

const BUFFER: usize = 256 * 1024;
const BOM: &[u8] = b"\xef\xbb\xbf";

pub(super) struct Rows<'s> {
    input: Box<dyn Read + 's>,
    shown: PathBuf,
    /// Read but not yet passed: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Whether the first bytes were read and a BOM skipped.
    begun: bool,
    /// `\n` bytes before `buf[start]`.
    newlines: u64,
    /// The last record's fields, as spans of its bytes: a span of `buf` for a record of plain
    /// fields, else `out`, which holds its fields unquoted and back to back.
    fields: Vec<(usize, usize)>,
    /// The span of `buf` the last record was, when its fields index it.
    line_at: Option<(usize, usize)>,
    out: Vec<u8>,
    /// Where `csv_core` ended each field of the last record it read.
    ends: Vec<usize>,
    core: csv_core::Reader,
}

/// How far a record reaches in the text at hand.
enum Cut {
    /// Plain fields, a line of this many bytes; `fields` index that line.
    Plain(usize),
    /// Cleanly quoted fields, this many bytes; `fields` index `out`.
    Quoted(usize),
    /// It may go on past the text at hand.
    More,
    /// Not read here: for `csv_core`.
    Odd,
}

/// A record as read.
#[derive(Clone, Copy)]
pub(super) struct Record<'r> {
    bytes: &'r [u8],
    fields: &'r [(usize, usize)],
    /// The first field that is not UTF-8.
    not_utf8: Option<usize>,
}

/// A record whose fields are all UTF-8.
pub(super) struct Text<'r>(Record<'r>);

impl<'s> Rows<'s> {
    pub fn open(source: &'s mut Source, name: &str) -> Result<Rows<'s>, ValidateError> {
        let shown = source.shown(name);
        Ok(Rows::new(source.read(name)?, shown, BUFFER))
    }

    fn new(input: Box<dyn Read + 's>, shown: PathBuf, capacity: usize) -> Rows<'s> {
        let mut core = csv_core::Reader::new();
        // A record given to the parser mid-file must not lose a BOM it starts with: the parser
        // strips one only from the first input it ever sees, so it is shown a blank line first.
        let _ = core.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
        Rows {
            input,
            shown,
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            eof: false,
            begun: false,
            newlines: 0,
            fields: Vec::new(),
            line_at: None,
            out: Vec::new(),
            ends: Vec::new(),
            core,
        }
    }

    /// Reads the next record, with the line it starts on (the first line is 1); `None` at the
    /// end of the file.
    pub fn next(&mut self) -> Result<Option<(u64, Record<'_>)>, ValidateError> {
        let line = self.read().map_err(|source| ValidateError::Read {
            path: self.shown.clone(),
            source,
        })?;
        let Some(line) = line else {
            return Ok(None);
        };
        let bytes = match self.line_at {
            Some((from, to)) => &self.buf[from..to],
            None => &self.out[..],
        };
        let not_utf8 = if self.line_at.is_some() {
            // Fields of a line are apart (by ASCII commas), so bad bytes are in one field.
            let valid = std::str::from_utf8(bytes).map_err(|e| e.valid_up_to());
            valid
                .err()
                .and_then(|at| self.fields.iter().position(|&(_, to)| to > at))
        } else if bytes.is_ascii() {
            None
        } else {
            // Fields unquoted back to back may join into valid text: each is checked alone.
            self.fields
                .iter()
                .position(|&(from, to)| std::str::from_utf8(&bytes[from..to]).is_err())
        };
        let record = Record {
            bytes,
            fields: &self.fields,
            not_utf8,
        };
        Ok(Some((line, record)))
    }

    fn read(&mut self) -> io::Result<Option<u64>> {
        if !self.begun {
            self.begun = true;
            while self.end < BOM.len() && !self.eof {
                self.fill()?;
            }
            if self.buf[..self.end].starts_with(BOM) {
                self.start = BOM.len();
            }
        }
        // What separates records: blank lines, the `\n` of a `\r\n`.
        loop {
            if self.start == self.end {
                if self.eof {
                    return Ok(None);
                }
                self.fill()?;
                continue;
            }
            match self.buf[self.start] {
                b'\n' => self.newlines += 1,
                b'\r' => {}
                _ => break,
            }
            self.start += 1;
        }
        let line = self.newlines + 1;
        loop {
            let at = self.start;
            let text = &self.buf[at..self.end];
            match cut(text, self.eof, &mut self.fields, &mut self.out) {
                Cut::Plain(len) => {
                    self.line_at = Some((at, at + len));
                    self.start += len;
                }
                Cut::Quoted(len) => {
                    self.newlines += newlines(&text[..len]);
                    self.line_at = None;
                    self.start += len;
                }
                Cut::More => {
                    self.fill()?;
                    continue;
                }
                Cut::Odd => self.by_parser()?,
            }
            return Ok(Some(line));
        }
    }

    /// Reads the record at `start` with `csv_core`.
    fn by_parser(&mut self) -> io::Result<()> {
        self.line_at = None;
        self.fields.clear();
        self.out.resize(self.out.capacity().max(1024), 0);
        self.ends.resize(self.ends.capacity().max(64), 0);
        let (mut nout, mut nend) = (0, 0);
        loop {
            // Empty input tells the parser the file has ended: given only at the end.
            let input = &self.buf[self.start..self.end];
            let (result, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            self.newlines += newlines(&input[..nin]);
            self.start += nin;
            nout += o;
            nend += e;
            match result {
                ReadRecordResult::InputEmpty => {
                    if !self.eof {
                        self.fill()?;
                    }
                }
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record | ReadRecordResult::End => break,
            }
        }
        self.out.truncate(nout);
        let mut from = 0;
        for &to in &self.ends[..nend] {
            self.fields.push((from, to));
            from = to;
        }
        Ok(())
    }

    /// Reads more after what is at hand, first moving it to the front, and growing the buffer
    /// when one record fills it.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

/// The record at the start of `text` (not a line break), if it is read here. `eof`: nothing
/// follows `text`.
fn cut(text: &[u8], eof: bool, fields: &mut Vec<(usize, usize)>, out: &mut Vec<u8>) -> Cut {
    fields.clear();
    match split_line(text, fields) {
        Some(i) if text[i] == b'"' => {
            fields.clear();
            quoted(text, eof, fields, out)
        }
        Some(i) => Cut::Plain(i),
        None if eof => Cut::Plain(text.len()),
        None => Cut::More,
    }
}

/// Pushes the fields of the line at the start of `text`, split at its commas, up to the first
/// `\r`, `\n` or `"`: where that byte is, or `None` when `text` has none (the last field then
/// ends with `text`). Sixteen bytes are looked at a time, commas and stops at once: a line's
/// fields are short, and a search for each comma cost more in setting up than in searching.
fn split_line(text: &[u8], fields: &mut Vec<(usize, usize)>) -> Option<usize> {
    let mut from = 0;
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; each load reads the 16 bytes `at..at + 16` of `text`.
        unsafe {
            let [comma, cr, lf, quote] = [b',', b'\r', b'\n', b'"'].map(|c| _mm_set1_epi8(c as i8));
            while at + 16 <= text.len() {
                let v = _mm_loadu_si128(text.as_ptr().add(at).cast::<__m128i>());
                let stops = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
                    _mm_cmpeq_epi8(v, quote),
                );
                let stops = _mm_movemask_epi8(stops) as u32;
                let mut commas = _mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u32;
                if stops != 0 {
                    commas &= (1 << stops.trailing_zeros()) - 1;
                }
                while commas != 0 {
                    let c = at + commas.trailing_zeros() as usize;
                    fields.push((from, c));
                    from = c + 1;
                    commas &= commas - 1;
                }
                if stops != 0 {
                    let stop = at + stops.trailing_zeros() as usize;
                    fields.push((from, stop));
                    return Some(stop);
                }
                at += 16;
            }
        }
    }
    for (i, &c) in text.iter().enumerate().skip(at) {
        match c {
            b',' => {
                fields.push((from, i));
                from = i + 1;
            }
            b'\r' | b'\n' | b'"' => {
                fields.push((from, i));
                return Some(i);
            }
            _ => {}
        }
    }
    fields.push((from, text.len()));
    None
}

/// A record with quotes, each field plain or wholly quoted, unquoted into `out`.
fn quoted(text: &[u8], eof: bool, fields: &mut Vec<(usize, usize)>, out: &mut Vec<u8>) -> Cut {
    out.clear();
    let mut i = 0;
    loop {
        let from = out.len();
        if text.get(i) == Some(&b'"') {
            i += 1;
            loop {
                let Some(n) = memchr(b'"', &text[i..]) else {
                    return if eof { Cut::Odd } else { Cut::More };
                };
                out.extend_from_slice(&text[i..i + n]);
                i += n + 1;
                // A doubled quote stands for one.
                if text.get(i) != Some(&b'"') {
                    break;
                }
                out.push(b'"');
                i += 1;
            }
        } else {
            let n = text[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'\r' | b'\n' | b'"'))
                .unwrap_or(text.len() - i);
            out.extend_from_slice(&text[i..i + n]);
            i += n;
        }
        fields.push((from, out.len()));
        match text.get(i) {
            Some(b',') => i += 1,
            Some(b'\r' | b'\n') => return Cut::Quoted(i),
            None if eof => return Cut::Quoted(i),
            // The next byte decides (a quote after a closing quote is a doubled one).
            None => return Cut::More,
            Some(_) => return Cut::Odd,
        }
    }
}

fn newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

impl<'r> Record<'r> {
    /// The raw bytes of field `i`, if the record has that many.
    pub fn bytes(&self, i: usize) -> Option<&'r [u8]> {
        self.fields.get(i).map(|&(from, to)| &self.bytes[from..to])
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The record as text, or the first field that is not UTF-8.
    pub fn text(self) -> Result<Text<'r>, usize> {
        match self.not_utf8 {
            None => Ok(Text(self)),
            Some(field) => Err(field),
        }
    }
}

impl<'r> Text<'r> {
    pub fn get(&self, i: usize) -> Option<&'r str> {
        // SAFETY: `Rows::next` checked every field is UTF-8 before making a `Text`.
        self.0
            .bytes(i)
            .map(|b| unsafe { std::str::from_utf8_unchecked(b) })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'r str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl Index<usize> for Text<'_> {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        self.get(i).expect("a field of the record")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `text` as (line, fields, first field not UTF-8), read through a reader
    /// that hands out `chunk` bytes at a time into a buffer of `capacity` bytes (it grows).
    fn ours(text: &[u8], chunk: usize, capacity: usize) -> Vec<(u64, Vec<Vec<u8>>, Option<usize>)> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut rows = Rows::new(Box::new(Trickle(text, chunk)), "f.csv".into(), capacity);
        let mut got = Vec::new();
        while let Some((line, record)) = rows.next().unwrap() {
            let fields = (0..record.len())
                .map(|i| record.bytes(i).unwrap().to_vec())
                .collect();
            got.push((line, fields, record.not_utf8));
        }
        got
    }

    /// The same as the csv crate reads it: its fields and UTF-8 verdict, and the line of the
    /// record's first byte (the crate's position is before the breaks it skipped).
    fn theirs(text: &[u8]) -> Vec<(u64, Vec<Vec<u8>>, Option<usize>)> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut got = Vec::new();
        for record in reader.byte_records() {
            let record = record.unwrap();
            let mut at = record.position().unwrap().byte() as usize;
            if at == 0 && text.starts_with(BOM) {
                at = BOM.len();
            }
            while matches!(text.get(at), Some(b'\r' | b'\n')) {
                at += 1;
            }
            let line = 1 + newlines(&text[..at]);
            let fields = record.iter().map(<[u8]>::to_vec).collect();
            let not_utf8 = csv::StringRecord::from_byte_record(record)
                .err()
                .map(|e| e.utf8_error().field());
            got.push((line, fields, not_utf8));
        }
        got
    }

    fn firsts(text: &str) -> Vec<(String, u64)> {
        ours(text.as_bytes(), usize::MAX, 4)
            .into_iter()
            .map(|(line, fields, _)| (String::from_utf8(fields[0].clone()).unwrap(), line))
            .collect()
    }

    #[test]
    fn lines_count_from_the_header_in_any_line_end() {
        let expected = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(f, l)| (f.to_string(), *l))
                .collect::<Vec<_>>()
        };
        let plain = expected(&[("h", 1), ("a", 2), ("c", 3)]);
        assert_eq!(firsts("h,x\r\na,b\r\nc,d\r\n"), plain);
        assert_eq!(firsts("h,x\na,b\nc,d"), plain);
        assert_eq!(firsts("\u{feff}h,x\na,b\r\nc,d\n"), plain);
        assert_eq!(
            firsts("h,x\r\n\"a\r\nb\nc\",b\r\n\r\n\r\nc,d\r\n"),
            expected(&[("h", 1), ("a\r\nb\nc", 2), ("c", 7)])
        );
        assert_eq!(firsts("h,x\n\na,b\n\n"), expected(&[("h", 1), ("a", 3)]));
    }

    #[test]
    fn reads_what_the_csv_crate_reads() {
        // Texts from the bytes that matter to a CSV reader, in every order a small generator
        // makes: plain, quoted, doubled quotes, stray quotes, every line end, a BOM where it
        // counts and where it does not, and bytes that are not UTF-8 alone or together.
        let pieces: [&[u8]; 12] = [
            b"a", b"bc", b",", b"\"", b"\"\"", b"\r", b"\n", b"\r\n", BOM, b"\xc3", b"\xa9", b" ",
        ];
        let mut rng = crate::test_rng::TestRng::new(0x2545_f491_4f6c_dd1d);
        let mut checked = 0;
        for round in 0..4_000 {
            let mut text = Vec::new();
            for _ in 0..(round % 24) {
                text.extend_from_slice(pieces[rng.next() % pieces.len()]);
            }
            let want = theirs(&text);
            for (chunk, capacity) in [(usize::MAX, 64), (usize::MAX, 1), (1, 8), (2, 2), (5, 16)] {
                let got = ours(&text, chunk, capacity);
                assert_eq!(got, want, "{:?} by {chunk}/{capacity}", text.escape_ascii());
            }
            checked += want.len();
        }
        assert!(checked > 4_000, "{checked} records compared");
    }

    #[test]
    fn a_record_longer_than_the_buffer_is_read_whole() {
        let long = "x".repeat(3 * BUFFER);
        let text = format!("h\n\"{long}\r\n{long}\",{long}\nlast\n");
        let got = ours(text.as_bytes(), usize::MAX, 4);
        assert_eq!(got, theirs(text.as_bytes()));
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].0, 4);
    }
}
