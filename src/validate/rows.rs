//! One CSV file of a bundle read record by record, with the line each record starts on (quoted
//! cells may span lines). A UTF-8 BOM, LF or CRLF line ends and blank lines are accepted, as
//! consumers accept them (docs/oneroster-notes.md §7.2).
//!
//! The line comes from the csv crate's record position, corrected: the crate takes a record's
//! position before it skips what separates it from the previous record, i.e. the `\n` of a
//! `\r\n` and any blank lines, so its line lags behind in CRLF files. The `\r` and `\n` bytes
//! read but not yet parsed are noted as they stream past, and those skipped are added back.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::PathBuf;
use std::rc::Rc;

use csv::{ByteRecord, StringRecord};

use super::source::{Source, ValidateError};

const BUFFER: usize = 256 * 1024;

/// A record as read: its text, or the raw bytes and the first field that is not UTF-8.
pub(super) enum Record {
    Text(StringRecord),
    NotUtf8(usize, ByteRecord),
}

/// The offsets of the `\r` and `\n` bytes the parser has not passed yet (whether each is `\n`):
/// at most its buffer's worth.
type Breaks = Rc<RefCell<VecDeque<(u64, bool)>>>;

/// A reader that notes the line-break bytes it hands on.
struct Noting<R> {
    inner: R,
    offset: u64,
    breaks: Breaks,
}

impl<R: Read> Read for Noting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut breaks = self.breaks.borrow_mut();
        for i in memchr::memchr2_iter(b'\r', b'\n', &buf[..n]) {
            breaks.push_back((self.offset + i as u64, buf[i] == b'\n'));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

pub(super) struct Rows<'s> {
    reader: csv::Reader<Noting<Box<dyn Read + 's>>>,
    breaks: Breaks,
    shown: PathBuf,
    /// The last record; its buffers are reused for the next one.
    record: Option<Record>,
}

impl<'s> Rows<'s> {
    pub fn open(source: &'s mut Source, name: &str) -> Result<Rows<'s>, ValidateError> {
        let shown = source.shown(name);
        let breaks = Breaks::default();
        let noting = Noting {
            inner: source.read(name)?,
            offset: 0,
            breaks: breaks.clone(),
        };
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(BUFFER)
            .from_reader(noting);
        Ok(Rows {
            reader,
            breaks,
            shown,
            record: None,
        })
    }

    /// Reads the next record, with the line it starts on (the first line is 1); `None` at the
    /// end of the file.
    pub fn next(&mut self) -> Result<Option<(u64, &Record)>, ValidateError> {
        let mut bytes = match self.record.take() {
            Some(Record::Text(text)) => text.into_byte_record(),
            Some(Record::NotUtf8(_, bytes)) => bytes,
            None => ByteRecord::new(),
        };
        let more = self
            .reader
            .read_byte_record(&mut bytes)
            .map_err(|e| ValidateError::Read {
                path: self.shown.clone(),
                source: e.into(),
            })?;
        if !more {
            return Ok(None);
        }
        let line = bytes
            .position()
            .map_or(0, |p| self.first_line(p.byte(), p.line()));
        let record = match StringRecord::from_byte_record(bytes) {
            Ok(text) => Record::Text(text),
            Err(e) => Record::NotUtf8(e.utf8_error().field(), e.into_byte_record()),
        };
        Ok(Some((line, self.record.insert(record))))
    }

    /// The line a record starts on, given where the parser says it starts: the line breaks right
    /// at that offset were skipped before the record's first byte.
    fn first_line(&self, start: u64, line: u64) -> u64 {
        let mut breaks = self.breaks.borrow_mut();
        while breaks.front().is_some_and(|(at, _)| *at < start) {
            breaks.pop_front();
        }
        let (mut line, mut at) = (line, start);
        while let Some(&(offset, newline)) = breaks.front()
            && offset == at
        {
            breaks.pop_front();
            line += u64::from(newline);
            at += 1;
        }
        line
    }
}

impl Record {
    /// The raw bytes of field `i`, if the record has that many.
    pub fn bytes(&self, i: usize) -> Option<&[u8]> {
        match self {
            Record::Text(text) => text.get(i).map(str::as_bytes),
            Record::NotUtf8(_, bytes) => bytes.get(i),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Record::Text(text) => text.len(),
            Record::NotUtf8(_, bytes) => bytes.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first field and starting line of every record of `text`, read from a folder bundle.
    fn lines(text: &str) -> Vec<(String, u64)> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.csv"), text).unwrap();
        let mut source = Source::dir(dir.path()).unwrap();
        let mut rows = Rows::open(&mut source, "f.csv").unwrap();
        let mut out = Vec::new();
        while let Some((line, record)) = rows.next().unwrap() {
            let first = String::from_utf8_lossy(record.bytes(0).unwrap()).into_owned();
            out.push((first, line));
        }
        out
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
        assert_eq!(lines("h,x\r\na,b\r\nc,d\r\n"), plain);
        assert_eq!(lines("h,x\na,b\nc,d"), plain);
        assert_eq!(lines("\u{feff}h,x\na,b\r\nc,d\n"), plain);
        assert_eq!(
            lines("h,x\r\n\"a\r\nb\nc\",b\r\n\r\n\r\nc,d\r\n"),
            expected(&[("h", 1), ("a\r\nb\nc", 2), ("c", 7)])
        );
        assert_eq!(lines("h,x\n\na,b\n\n"), expected(&[("h", 1), ("a", 3)]));
    }
}
