//! The token store: the one file that keeps a refresh token between runs.
//!
//! A host that rotates refresh tokens invalidates the old one the moment it hands out the new
//! one, so the store is written the way a crash cannot tear: a private temporary file beside it,
//! synced, then renamed over it (and the folder synced). Runs that share a store take a lock
//! first, so two overlapping cron jobs never spend the same refresh token.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long a run waits for another run holding the store's lock.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("token store {path}: could not {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("token store {path} is not a token store this tool wrote ({reason}); move it aside")]
    Corrupt { path: PathBuf, reason: String },
    #[error("token store {path}: another run has held its lock for {} s", LOCK_WAIT.as_secs())]
    Busy { path: PathBuf },
}

/// A refresh token and where it belongs. `Debug` never shows the token.
pub struct StoredToken {
    pub refresh_token: SecretString,
    /// When this token was received (or imported).
    pub issued_at: Timestamp,
    pub token_url: String,
    pub client_id: String,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("refresh_token", &"[REDACTED]")
            .field("issued_at", &self.issued_at)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// The file format (JSON, so a person can read the dates).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    token_url: String,
    client_id: String,
    issued_at: Timestamp,
    refresh_token: String,
}

/// The store at one path.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

/// Held while a run reads, spends and replaces the refresh token; released on drop.
pub struct StoreLock {
    _file: File,
}

impl TokenStore {
    pub fn new(path: PathBuf) -> TokenStore {
        TokenStore { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "token-store".into())
    }

    /// The stored token, or `None` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<StoredToken>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("read it")(e)),
        };
        let disk: OnDisk = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            reason: format!("line {}, column {}: {}", e.line(), e.column(), category(&e)),
        })?;
        if disk.version != 1 || disk.refresh_token.is_empty() {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("version {} with an empty or unknown token", disk.version),
            });
        }
        Ok(Some(StoredToken {
            refresh_token: SecretString::from(disk.refresh_token),
            issued_at: disk.issued_at,
            token_url: disk.token_url,
            client_id: disk.client_id,
        }))
    }

    /// Temporary files beside the store are named `.NAME.XXXXXX.tmp`, so a sweep finds them.
    fn temp_prefix(&self) -> String {
        format!(".{}.", self.file_name())
    }

    /// A new private (0600) temporary file beside the store.
    fn temp_file(&self) -> std::io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(&self.temp_prefix())
            .suffix(".tmp")
            .tempfile_in(self.dir())
    }

    /// Fails now if the store's folder cannot take a new file, before a host rotates the token.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.temp_file()
            .map(drop)
            .map_err(self.io("create a file in its folder"))
    }

    /// Replaces the store with `token`: the old file or the new one survives any crash, never a
    /// torn mix. Created readable by the owner only.
    pub fn save(&self, token: &StoredToken) -> Result<(), StoreError> {
        let disk = OnDisk {
            version: 1,
            token_url: token.token_url.clone(),
            client_id: token.client_id.clone(),
            issued_at: token.issued_at,
            refresh_token: token.refresh_token.expose_secret().to_string(),
        };
        let mut text = serde_json::to_string_pretty(&disk).expect("plain struct serializes");
        text.push('\n');
        std::fs::create_dir_all(self.dir()).map_err(self.io("create its folder"))?;
        let mut temp = self
            .temp_file()
            .map_err(self.io("create a temporary file beside it"))?;
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .map_err(self.io("write the temporary file"))?;
        temp.persist(&self.path)
            .map_err(|e| self.io("rename the temporary file over it")(e.error))?;
        // The rename itself must reach the disk before the token is used.
        File::open(self.dir())
            .and_then(|d| d.sync_all())
            .map_err(self.io("sync its folder"))?;
        Ok(())
    }

    /// Takes the store's lock (a `.NAME.lock` file beside it), waiting for another run to finish.
    pub async fn lock(&self) -> Result<StoreLock, StoreError> {
        std::fs::create_dir_all(self.dir()).map_err(self.io("create its folder"))?;
        let lock_path = self.dir().join(format!(".{}.lock", self.file_name()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(self.io("open its lock file"))?;
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut announced = false;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StoreError::Busy {
                            path: self.path.clone(),
                        });
                    }
                    if !announced {
                        tracing::info!(
                            store = %self.path.display(),
                            "another run is using the token store; waiting for it"
                        );
                        announced = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(self.io("lock it")(e.into())),
            }
        }
    }

    /// Removes temporary files a killed run left beside the store (call with the lock held).
    pub fn sweep_leftovers(&self) {
        let prefix = self.temp_prefix();
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// serde_json's error kind without the offending text (which could be the token itself).
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "could not be read",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "missing or unexpected fields",
        serde_json::error::Category::Eof => "the file ends early",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn token(value: &str) -> StoredToken {
        StoredToken {
            refresh_token: SecretString::from(value.to_string()),
            issued_at: Timestamp::from_second(1_700_000_000).unwrap(),
            token_url: "https://auth.example/token".into(),
            client_id: "key".into(),
        }
    }

    #[tokio::test]
    async fn saves_privately_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("sub/store.json"));
        assert!(store.load().unwrap().is_none());
        let _lock = store.lock().await.unwrap();
        store.check_writable().unwrap();
        store.save(&token("first")).unwrap();
        store.save(&token("second")).unwrap();
        let back = store.load().unwrap().unwrap();
        assert_eq!(back.refresh_token.expose_secret(), "second");
        assert_eq!(back.client_id, "key");
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{back:?}").contains("second"));
        // Only the store and its lock remain: no temporary files.
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".store.json.lock", "store.json"]);
    }

    #[test]
    fn a_damaged_store_is_an_error_that_does_not_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        std::fs::write(&path, "{\"refresh_token\": \"tok-secret-value\"").unwrap();
        let err = TokenStore::new(path).load().unwrap_err().to_string();
        assert!(
            err.contains("store.json") && err.contains("line 1"),
            "{err}"
        );
        assert!(!err.contains("tok-secret-value"), "{err}");
    }

    #[tokio::test]
    async fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("store.json"));
        let first = store.lock().await.unwrap();
        let other = store.clone();
        let waiter = tokio::spawn(async move { other.lock().await.map(drop) });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "the second lock must wait");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
