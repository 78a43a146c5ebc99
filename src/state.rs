//! The state an incremental run leaves for the next one: per collection, how far its changes have
//! been read (the high-water mark), how many rows the output holds and which records the host
//! still serves marked `tobedeleted`; and what the run was made with, so that a state that does
//! not fit the next run is noticed rather than trusted.
//!
//! The file lives outside the published output (the platform's state folder, keyed by the output,
//! or `--state FILE`), is 0600 (it names records) and is replaced atomically, and only after a
//! successful publish: a run that fails leaves the previous state beside the previous output.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Records seen twice are harmless, records missed are not: the next run asks for changes from
/// this long before the last read began, to cover records changed while it was paged and clocks
/// that disagree between a host's servers.
pub const OVERLAP: SignedDuration = SignedDuration::from_mins(15);

/// The state file's layout version; another version is not read (a full pull writes a new one).
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} the incremental state {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "no folder for the incremental state on this system (no XDG_STATE_HOME or home folder); \
         give one with --state FILE"
    )]
    NoStateFolder,
}

/// What a run was made with: a state made under other settings does not describe the output
/// this run would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// The API base URL.
    pub host: String,
    /// The output, as given (a path made absolute, a URL, or `-`).
    pub output: String,
    pub format: String,
    /// The collections exported, in export order.
    pub collections: Vec<String>,
    pub include_passwords: bool,
}

impl Made {
    /// Why `self` (this run) cannot build on a state made as `earlier`, if it cannot.
    pub fn mismatch(&self, earlier: &Made) -> Option<String> {
        if self.host != earlier.host {
            return Some(format!(
                "it was made against another host ({})",
                earlier.host
            ));
        }
        if self.output != earlier.output {
            return Some(format!(
                "it was made for another output ({})",
                earlier.output
            ));
        }
        if self.format != earlier.format {
            return Some(format!("it was made for --format {}", earlier.format));
        }
        if self.collections != earlier.collections {
            return Some(format!(
                "it was made for other collections ({})",
                earlier.collections.join(", ")
            ));
        }
        if self.include_passwords != earlier.include_passwords {
            return Some("it was made with another --include-passwords".to_string());
        }
        None
    }
}

/// One collection's part of the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionState {
    /// The newest `dateLastModified` seen in the collection, if any record had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<Timestamp>,
    /// When the last read of the collection began (the host's clock where it said, else ours):
    /// anything changed after it is newer than this.
    pub read_from: Timestamp,
    /// Rows (CSV) or records (JSON, NDJSON) the published output holds.
    pub rows: u64,
    /// Records the host still serves marked `tobedeleted` (left out of a CSV bundle): with `rows`
    /// they make up the total the host reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
}

impl CollectionState {
    /// Where the next run's filter starts (records changed strictly after it): the newest change
    /// seen, but never later than [`OVERLAP`] before the last read began. A change made during or
    /// after that read is stamped after its start (give or take a skew the overlap covers), so
    /// it is after the mark; a newest change long before the read needs no overlap of its own,
    /// and asking from it exactly leaves out the records stamped with it, which were all seen
    /// (a district imported at one instant would otherwise come back whole every night).
    pub fn mark(&self) -> Timestamp {
        let before_read = self
            .read_from
            .checked_sub(OVERLAP)
            .unwrap_or(Timestamp::MIN);
        self.newest.map_or(before_read, |n| n.min(before_read))
    }
}

/// The state file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub made: Made,
    /// A hash of the published output, to notice an output changed by hand; `None` where the
    /// output cannot be read back (standard output).
    pub fingerprint: Option<String>,
    /// When the last full pull was published.
    pub last_full: Timestamp,
    /// When this state was written.
    pub written: Timestamp,
    pub collections: BTreeMap<String, CollectionState>,
}

impl State {
    pub fn new(made: Made, last_full: Timestamp) -> State {
        State {
            version: VERSION,
            made,
            fingerprint: None,
            last_full,
            written: Timestamp::now(),
            collections: BTreeMap::new(),
        }
    }

    /// Reads the state at `path`; `Ok(None)` when there is none or it cannot be used (an older
    /// layout, or not ours: logged, and the run pulls in full and writes a new one).
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        match serde_json::from_str::<State>(&text) {
            Ok(state) if state.version == VERSION => Ok(Some(state)),
            Ok(state) => {
                tracing::warn!(
                    path = %path.display(),
                    "the incremental state has layout version {}, not {VERSION}; it is replaced",
                    state.version
                );
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(
                    path = %path.display(),
                    "the incremental state cannot be read ({e}); it is replaced"
                );
                Ok(None)
            }
        }
    }

    /// Writes the state to `path` atomically (a private temporary file beside it, fsynced, then
    /// renamed over it), creating its folder (0700) if needed.
    pub fn save(&mut self, path: &Path) -> Result<(), StateError> {
        self.written = Timestamp::now();
        let io = |action| {
            let path = path.to_path_buf();
            move |source| StateError::Io {
                action,
                path,
                source,
            }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        create_private_dir(dir).map_err(io("create the folder of"))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".state-")
            .tempfile_in(dir)
            .map_err(io("write"))?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| io("write")(e.into()))?;
        tmp.write_all(&text).map_err(io("write"))?;
        tmp.as_file().sync_all().map_err(io("write"))?;
        tmp.persist(path).map_err(|e| io("write")(e.error))?;
        // The rename is durable once the folder is.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("write"))
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The default state file of an output: `<state folder>/roster-export/<name>-<hash>.json`, the
/// name for people, the hash of `output` and `host` so two outputs never share a file.
pub fn default_path(output: &str, host: &str) -> Result<PathBuf, StateError> {
    let base = dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .ok_or(StateError::NoStateFolder)?;
    let name: String = Path::new(output)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("stdout")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = xxhash_rust::xxh3::xxh3_64(format!("{output}\n{host}").as_bytes());
    Ok(base
        .join("roster-export")
        .join(format!("{name}-{hash:016x}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn made() -> Made {
        Made {
            host: "https://h.example/ims/oneroster/v1p1".into(),
            output: "/srv/out.zip".into(),
            format: "csv".into(),
            collections: vec!["orgs".into(), "users".into()],
            include_passwords: false,
        }
    }

    #[test]
    fn a_state_round_trips_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        let mut state = State::new(made(), Timestamp::UNIX_EPOCH);
        state.collections.insert(
            "users".into(),
            CollectionState {
                newest: Some("2026-11-30T10:00:00Z".parse().unwrap()),
                read_from: "2026-12-01T02:00:00Z".parse().unwrap(),
                rows: 3,
                deleted: vec!["u9".into()],
            },
        );
        state.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(State::load(&path).unwrap(), Some(state));
        // Nothing else is left in the folder.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_foreign_or_older_state_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        assert_eq!(State::load(&path).unwrap(), None);
        fs::write(&path, "not json").unwrap();
        assert_eq!(State::load(&path).unwrap(), None);
        let mut old = serde_json::to_value(State::new(made(), Timestamp::UNIX_EPOCH)).unwrap();
        old["version"] = 0.into();
        fs::write(&path, old.to_string()).unwrap();
        assert_eq!(State::load(&path).unwrap(), None);
    }

    #[test]
    fn the_mark_is_the_newest_change_but_never_after_the_overlap_before_the_read() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut c = CollectionState {
            newest: Some(at("2026-11-30T10:00:00Z")),
            read_from: at("2026-12-01T02:00:00Z"),
            ..Default::default()
        };
        // Nothing changed for hours before the read: from the newest change exactly.
        assert_eq!(c.mark(), at("2026-11-30T10:00:00Z"));
        // A change just before the read, or a host clock ahead of it: the overlap before the read.
        c.newest = Some(at("2026-12-01T01:55:00Z"));
        assert_eq!(c.mark(), at("2026-12-01T01:45:00Z"));
        c.newest = Some(at("2026-12-01T03:00:00Z"));
        assert_eq!(c.mark(), at("2026-12-01T01:45:00Z"));
        c.newest = None;
        assert_eq!(c.mark(), at("2026-12-01T01:45:00Z"));
    }

    #[test]
    fn a_mismatch_names_what_differs() {
        let mut other = made();
        assert_eq!(made().mismatch(&other), None);
        other.format = "json".into();
        assert!(made().mismatch(&other).unwrap().contains("--format json"));
        other = made();
        other.host = "https://other.example".into();
        assert!(made().mismatch(&other).unwrap().contains("another host"));
    }

    #[test]
    fn default_paths_differ_by_output_and_host() {
        let a = default_path("/srv/a.zip", "https://h").unwrap();
        let b = default_path("/srv/b.zip", "https://h").unwrap();
        let c = default_path("/srv/a.zip", "https://g").unwrap();
        assert!(
            a.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("a_zip-")
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
