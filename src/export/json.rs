//! JSON and NDJSON: records passed through as the server sent them, one per line (compacted only
//! when the server pretty-printed them).

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use oneroster::CollectionId;

use super::error::ExportError;
use super::fields::push_record;
use super::staging::create_private;
use super::{CollectionOutput, FileRows};
use crate::records::Page;

const CHUNK: usize = 64 * 1024;
/// Records handed to the kernel in one `writev`: two slices each, under Linux's 1024.
const LINES_PER_WRITE: usize = 500;

/// Writes the NDJSON lines of a page of one-line records to `file`; returns how many bytes. The
/// records go to the kernel straight from the page, between the text that joins them, a few
/// hundred to a system call (`writev`), not copied into a buffer first: for a 200k-user export
/// that saved copying 2 GB, and the larger writes cost the kernel less.
fn write_lines_vectored(file: &mut File, head: &str, page: &Page) -> io::Result<u64> {
    // What ends one line and starts the next.
    let join = format!("}}\n{head}");
    let mut slices = Vec::with_capacity(2 * LINES_PER_WRITE + 1);
    let mut records = page.records().peekable();
    let mut written = 0;
    while records.peek().is_some() {
        slices.clear();
        slices.push(io::IoSlice::new(head.as_bytes()));
        for (i, record) in records.by_ref().take(LINES_PER_WRITE).enumerate() {
            if i > 0 {
                slices.push(io::IoSlice::new(join.as_bytes()));
            }
            slices.push(io::IoSlice::new(record.as_bytes()));
        }
        slices.push(io::IoSlice::new(b"}\n"));
        written += write_all_vectored(file, &mut slices)?;
    }
    Ok(written)
}

/// Writes every byte of `slices` (a `writev` may take only part); returns how many.
fn write_all_vectored(file: &mut File, mut slices: &mut [io::IoSlice<'_>]) -> io::Result<u64> {
    let mut total = 0;
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                total += n as u64;
                io::IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// `<collection>.json`: a JSON array with one record per line.
pub(super) struct JsonFile {
    pub collection: CollectionId,
    pub path: PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
    pub rows: u64,
}

impl JsonFile {
    pub fn file_name(c: CollectionId) -> String {
        format!("{}.json", c.name())
    }

    pub fn create(dir: &Path, collection: CollectionId) -> Result<JsonFile, ExportError> {
        let path = dir.join(JsonFile::file_name(collection));
        let mut out = BufWriter::with_capacity(CHUNK, create_private(&path)?);
        out.write_all(b"[")
            .map_err(ExportError::io("writing", &path))?;
        Ok(JsonFile {
            collection,
            path,
            out,
            buf: Vec::new(),
            rows: 0,
        })
    }

    /// Writes one record (compacted if it is not).
    pub fn write_record(&mut self, text: &str) -> Result<(), ExportError> {
        self.buf.clear();
        self.push(text, false);
        self.flush_buf()
    }

    pub fn write_page(&mut self, page: &Page) -> Result<(), ExportError> {
        self.buf.clear();
        for text in page.records() {
            self.push(text, page.single_lines());
        }
        self.flush_buf()
    }

    /// Adds a record, after the separator, to the buffer; `one_line`: known to be one already.
    fn push(&mut self, text: &str, one_line: bool) {
        self.buf
            .extend_from_slice(if self.rows == 0 { b"\n" } else { b",\n" });
        push_record(text, one_line, &mut self.buf);
        self.rows += 1;
    }

    fn flush_buf(&mut self) -> Result<(), ExportError> {
        self.out
            .write_all(&self.buf)
            .map_err(ExportError::io("writing", &self.path))
    }

    /// Closes the array, flushes and fsyncs.
    pub fn finish(mut self) -> Result<CollectionOutput, ExportError> {
        let err = ExportError::io("writing", &self.path);
        self.out
            .write_all(b"\n]\n")
            .map_err(ExportError::io("writing", &self.path))?;
        let file = self.out.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all()
            .map_err(ExportError::io("syncing", &self.path))?;
        Ok(CollectionOutput {
            collection: self.collection,
            records: self.rows,
            rows: self.rows,
            dropped_deleted: 0,
            files: vec![FileRows {
                name: JsonFile::file_name(self.collection),
                rows: self.rows,
            }],
        })
    }
}

/// Where NDJSON lines go.
enum LineSink {
    Stdout(io::Stdout),
    File {
        file: File,
        path: PathBuf,
        /// Bytes written so far (the file's length).
        len: u64,
    },
}

/// NDJSON: `{"collection":"users","record":{…}}` per line, to stdout or one staged file.
pub(super) struct Ndjson {
    sink: LineSink,
    buf: Vec<u8>,
    pub lines: u64,
}

impl Ndjson {
    pub fn stdout() -> Ndjson {
        Ndjson {
            sink: LineSink::Stdout(io::stdout()),
            buf: Vec::with_capacity(CHUNK),
            lines: 0,
        }
    }

    pub fn file(path: PathBuf) -> Result<Ndjson, ExportError> {
        Ok(Ndjson {
            sink: LineSink::File {
                file: create_private(&path)?,
                path,
                len: 0,
            },
            buf: Vec::with_capacity(CHUNK),
            lines: 0,
        })
    }

    /// Writes the page's records, then flushes (stdout readers see whole pages promptly).
    pub fn write_page(
        &mut self,
        collection: CollectionId,
        page: &Page,
    ) -> Result<u64, ExportError> {
        let one_line = page.single_lines();
        // Each line is `{"collection":"users","record":{…}}`.
        let head = format!("{{\"collection\":\"{}\",\"record\":", collection.name());
        if one_line && matches!(self.sink, LineSink::File { .. }) {
            // Lines written line by line so far go first.
            self.drain()?;
            if let LineSink::File { file, path, len } = &mut self.sink {
                *len += write_lines_vectored(file, &head, page)
                    .map_err(ExportError::io("writing", path.as_path()))?;
                let n = page.len() as u64;
                self.lines += n;
                return Ok(n);
            }
        }
        let mut n = 0;
        for text in page.records() {
            self.buf.extend_from_slice(head.as_bytes());
            push_record(text, one_line, &mut self.buf);
            self.buf.extend_from_slice(b"}\n");
            n += 1;
            if self.buf.len() >= CHUNK {
                self.drain()?;
            }
        }
        self.drain()?;
        if let LineSink::Stdout(out) = &mut self.sink {
            out.flush()
                .map_err(|source| ExportError::Stdout { source })?;
        }
        self.lines += n;
        Ok(n)
    }

    /// Writes one line as it is (without its newline), as `write_page` wrote it.
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), ExportError> {
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.lines += 1;
        if self.buf.len() >= CHUNK {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), ExportError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            LineSink::Stdout(out) => out
                .lock()
                .write_all(&self.buf)
                .map_err(|source| ExportError::Stdout { source })?,
            LineSink::File { file, path, len } => {
                file.write_all(&self.buf)
                    .map_err(ExportError::io("writing", path.as_path()))?;
                *len += self.buf.len() as u64;
            }
        }
        self.buf.clear();
        Ok(())
    }

    /// Where the next line will start; `rollback` returns there.
    pub fn mark(&self) -> u64 {
        match &self.sink {
            LineSink::Stdout(_) => 0,
            LineSink::File { len, .. } => *len,
        }
    }

    /// Drops what was written since `mark` (a file only: lines on stdout are gone). Returns
    /// whether it could.
    pub fn rollback(&mut self, mark: u64, lines: u64) -> Result<bool, ExportError> {
        self.buf.clear();
        match &mut self.sink {
            LineSink::Stdout(_) => Ok(false),
            LineSink::File { file, path, len } => {
                file.set_len(mark)
                    .and_then(|()| file.seek(SeekFrom::Start(mark)).map(drop))
                    .map_err(ExportError::io("truncating", path.as_path()))?;
                *len = mark;
                self.lines -= lines;
                Ok(true)
            }
        }
    }

    /// Appends the lines of the NDJSON file at `path` (`lines` of them), as written by another
    /// `Ndjson`: a collection that waited its turn.
    pub fn append_file(&mut self, path: &Path, lines: u64) -> Result<(), ExportError> {
        self.drain()?;
        let mut part = File::open(path).map_err(ExportError::io("reading", path))?;
        match &mut self.sink {
            LineSink::Stdout(out) => {
                let mut out = out.lock();
                io::copy(&mut part, &mut out)
                    .and_then(|_| out.flush())
                    .map_err(|source| ExportError::Stdout { source })?;
            }
            LineSink::File {
                file,
                path: to,
                len,
            } => {
                // File to file: the kernel copies (copy_file_range), no bytes pass through here.
                *len +=
                    io::copy(&mut part, file).map_err(ExportError::io("writing", to.as_path()))?;
            }
        }
        self.lines += lines;
        Ok(())
    }

    /// Writes out what is buffered, without an fsync: for a part file about to be copied into
    /// the stream, which is synced when it is finished (syncing the part too wrote its lines to
    /// the disk twice).
    pub fn flush_part(&mut self) -> Result<(), ExportError> {
        self.drain()
    }

    /// Flushes; a file is also fsynced.
    pub fn finish(&mut self) -> Result<(), ExportError> {
        self.drain()?;
        match &mut self.sink {
            LineSink::Stdout(out) => out.flush().map_err(|source| ExportError::Stdout { source }),
            LineSink::File { file, path, .. } => file
                .sync_all()
                .map_err(ExportError::io("syncing", path.as_path())),
        }
    }
}
