//! The user's own private folders for what must not sit beside the output: lock files (the
//! runtime folder) and the work folders where remote outputs are staged and read back (the cache
//! folder, which is on disk and can hold a large bundle). Each falls back to a per-user folder in
//! the temp folder. Every folder made here is 0700 and must belong to the user.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::StorageError;

const APP: &str = "roster-export";

/// The folder for lock files: `<runtime>/roster-export`, else `<cache>/roster-export/locks`, else
/// `<temp>/roster-export-<uid>/locks`.
pub(super) fn lock_folder() -> Result<PathBuf, StorageError> {
    first_private([
        dirs::runtime_dir().map(|d| d.join(APP)),
        dirs::cache_dir().map(|d| d.join(APP).join("locks")),
        Some(temp_base().join("locks")),
    ])
}

/// The private work folder of the output named by `key` (see `Location::key`):
/// `<cache>/roster-export/work/<hash>`, else `<temp>/roster-export-<uid>/work/<hash>`.
pub fn work_folder(key: &str) -> Result<PathBuf, StorageError> {
    let name = key_hash(key);
    first_private([
        dirs::cache_dir().map(|d| d.join(APP).join("work").join(&name)),
        Some(temp_base().join("work").join(&name)),
    ])
}

/// A new private (0700) folder in `parent`, named `<prefix>XXXXXX`, removed when dropped.
pub fn private_folder(parent: &Path, prefix: &str) -> Result<TempDir, StorageError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(StorageError::io("creating a private folder in", parent))
}

/// A short, stable name for `key`: 32 hex digits of its SHA-256.
pub(super) fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<temp>/roster-export-<uid>`: the temp folder is shared, so the user's own subfolder.
fn temp_base() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::env::temp_dir().join(format!("{APP}-{uid}"))
}

/// The first candidate that is (or can be made) a private folder of ours.
fn first_private<const N: usize>(
    candidates: [Option<PathBuf>; N],
) -> Result<PathBuf, StorageError> {
    let mut last = None;
    for path in candidates.into_iter().flatten() {
        match ensure_private(&path) {
            Ok(()) => return Ok(path),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| StorageError::Internal("no folder for private files".into())))
}

/// Creates `path` (and missing parents) and makes sure it is a real folder of ours, 0700.
fn ensure_private(path: &Path) -> Result<(), StorageError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(StorageError::io("creating", parent))?;
        // A per-user base in the shared temp folder must be ours and closed too.
        if parent.starts_with(temp_base()) {
            check_ours(&temp_base())?;
        }
    }
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => check_ours(path),
        Err(e) => Err(StorageError::io("creating", path)(e)),
    }
}

/// Refuses anything but a folder owned by this user (not a symbolic link); closes it to 0700.
fn check_ours(path: &Path) -> Result<(), StorageError> {
    let meta = fs::symlink_metadata(path).map_err(StorageError::io("inspecting", path))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid {
        return Err(StorageError::Io {
            action: "using",
            path: path.to_path_buf(),
            source: io::Error::other("it is not a folder of this user (refusing to use it)"),
        });
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(0o700))
            .map_err(StorageError::io("closing", path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_to_stable_short_names() {
        assert_eq!(key_hash("s3://b/k.zip"), key_hash("s3://b/k.zip"));
        assert_ne!(key_hash("s3://b/k.zip"), key_hash("s3://b/k2.zip"));
        assert_eq!(key_hash("x").len(), 32);
    }

    #[test]
    fn private_folders_are_closed_and_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        ensure_private(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(ensure_private(&link).is_err(), "a symbolic link is refused");
    }
}
