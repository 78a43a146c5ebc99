//! NDJSON when several collections are written at once: the output is one stream in plan order,
//! so the first unfinished collection writes straight into it and the others into part files
//! (in the staging folder, or a private temporary folder when the stream is stdout) that join the
//! stream, in order, as their turn comes. The same data gives the same bytes however the pages of
//! the collections interleave.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use oneroster::CollectionId;
use tempfile::TempDir;

use super::error::ExportError;
use super::json::Ndjson;
use crate::records::Page;

/// Where one collection's lines are.
enum Lane {
    /// In the stream, from byte `mark` on.
    Direct {
        mark: u64,
        records: u64,
        finished: bool,
    },
    /// In a part file, waiting for the collections before it.
    Part {
        out: Ndjson,
        path: PathBuf,
        records: u64,
        finished: bool,
    },
    /// In the stream and finished: done.
    Flushed,
    /// Given up (its lines removed); it holds back the collections after it until it is begun
    /// again or the output is finished.
    Abandoned,
}

/// The NDJSON stream and the collections writing into it.
pub(super) struct Lines {
    stream: Ndjson,
    /// Where part files go: the staging folder (a file output), or a folder made on first use.
    parts_in: Option<PathBuf>,
    own_parts: Option<TempDir>,
    order: Vec<CollectionId>,
    lanes: HashMap<CollectionId, Lane>,
}

impl Lines {
    /// `order`: the plan's collections, the order their lines take in the stream.
    pub fn new(stream: Ndjson, parts_in: Option<PathBuf>, order: &[CollectionId]) -> Lines {
        Lines {
            stream,
            parts_in,
            own_parts: None,
            order: order.to_vec(),
            lanes: HashMap::new(),
        }
    }

    pub fn is_open(&self, c: CollectionId) -> bool {
        matches!(
            self.lanes.get(&c),
            Some(
                Lane::Direct {
                    finished: false,
                    ..
                } | Lane::Part {
                    finished: false,
                    ..
                }
            )
        )
    }

    /// The collection whose lines come next in the stream.
    fn head(&self) -> Option<CollectionId> {
        self.order
            .iter()
            .copied()
            .find(|c| !matches!(self.lanes.get(c), Some(Lane::Flushed)))
    }

    fn parts_dir(&mut self) -> Result<PathBuf, ExportError> {
        if let Some(dir) = &self.parts_in {
            return Ok(dir.clone());
        }
        let dir = tempfile::Builder::new()
            .prefix("roster-export-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(ExportError::io(
                "creating a private folder in",
                std::env::temp_dir(),
            ))?;
        let path = dir.path().to_path_buf();
        self.own_parts = Some(dir);
        self.parts_in = Some(path.clone());
        Ok(path)
    }

    pub fn begin(&mut self, c: CollectionId) -> Result<(), ExportError> {
        let lane = if self.head() == Some(c) {
            Lane::Direct {
                mark: self.stream.mark(),
                records: 0,
                finished: false,
            }
        } else {
            let path = self.parts_dir()?.join(format!(".{}.ndjson.part", c.name()));
            Lane::Part {
                out: Ndjson::file(path.clone())?,
                path,
                records: 0,
                finished: false,
            }
        };
        self.lanes.insert(c, lane);
        Ok(())
    }

    /// Adds `c` as finished, its lines already written to the part file at `path` (the result of
    /// applying its changes), and moves every collection whose turn has come into the stream.
    pub fn add_finished(
        &mut self,
        c: CollectionId,
        out: Ndjson,
        path: PathBuf,
    ) -> Result<(), ExportError> {
        let records = out.lines;
        self.lanes.insert(
            c,
            Lane::Part {
                out,
                path,
                records,
                finished: true,
            },
        );
        self.advance()
    }

    pub fn write_page(&mut self, c: CollectionId, page: &Page) -> Result<(), ExportError> {
        match self.lanes.get_mut(&c) {
            Some(Lane::Direct { records, .. }) => *records += self.stream.write_page(c, page)?,
            Some(Lane::Part { out, records, .. }) => *records += out.write_page(c, page)?,
            _ => {}
        }
        Ok(())
    }

    /// Finishes `c` and moves every collection whose turn has come into the stream. Returns the
    /// records written for `c`.
    pub fn finish(&mut self, c: CollectionId) -> Result<u64, ExportError> {
        let records = match self.lanes.get_mut(&c) {
            Some(Lane::Direct {
                records, finished, ..
            })
            | Some(Lane::Part {
                records, finished, ..
            }) => {
                *finished = true;
                *records
            }
            _ => 0,
        };
        self.advance()?;
        Ok(records)
    }

    /// Takes `c`'s lines back: a part file is removed; lines in the stream are truncated away,
    /// which stdout cannot do.
    pub fn abandon(&mut self, c: CollectionId) -> Result<bool, ExportError> {
        let taken_back = match self.lanes.remove(&c) {
            Some(Lane::Direct { mark, records, .. }) => self.stream.rollback(mark, records)?,
            Some(Lane::Part { path, .. }) => {
                fs::remove_file(&path).map_err(ExportError::io("removing", &path))?;
                true
            }
            Some(Lane::Flushed) => false,
            _ => true,
        };
        self.lanes.insert(c, Lane::Abandoned);
        Ok(taken_back)
    }

    /// Moves finished collections at the head into the stream, and lets the first unfinished one
    /// write there directly from now on.
    fn advance(&mut self) -> Result<(), ExportError> {
        while let Some(head) = self.head() {
            match self.lanes.remove(&head) {
                Some(Lane::Direct { finished: true, .. }) => {}
                Some(Lane::Part {
                    mut out,
                    path,
                    records,
                    finished,
                }) => {
                    out.flush_part()?;
                    drop(out);
                    let mark = self.stream.mark();
                    self.join(&path, records)?;
                    if !finished {
                        // Its lines so far are in the stream; a rollback goes back before them.
                        self.lanes.insert(
                            head,
                            Lane::Direct {
                                mark,
                                records,
                                finished: false,
                            },
                        );
                        return Ok(());
                    }
                }
                other => {
                    // Not begun, still writing directly, or given up: it holds the line.
                    if let Some(lane) = other {
                        self.lanes.insert(head, lane);
                    }
                    return Ok(());
                }
            }
            self.lanes.insert(head, Lane::Flushed);
        }
        Ok(())
    }

    fn join(&mut self, part: &Path, records: u64) -> Result<(), ExportError> {
        self.stream.append_file(part, records)?;
        fs::remove_file(part).map_err(ExportError::io("removing", part))
    }

    /// Writes what is still waiting, in order (collections given up are left out), and closes
    /// the stream. Returns it with the lines it holds.
    pub fn finish_all(mut self) -> Result<Ndjson, ExportError> {
        for c in self.order.clone() {
            match self.lanes.remove(&c) {
                Some(Lane::Part {
                    mut out,
                    path,
                    records,
                    ..
                }) => {
                    out.flush_part()?;
                    drop(out);
                    self.join(&path, records)?;
                }
                Some(Lane::Direct { .. } | Lane::Flushed | Lane::Abandoned) | None => {}
            }
        }
        self.stream.finish()?;
        Ok(self.stream)
    }
}
