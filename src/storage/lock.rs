//! The lock that keeps two runs from writing the same output at once. It is a file in the user's
//! runtime folder named by a hash of the output's canonical path or URL, so nothing is left beside
//! the output; the lock is the kernel's (flock), released when the process ends however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::StorageError;
use super::folders::{key_hash, lock_folder};

/// An exclusive lock on one output, held until dropped.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the lock of the output named by `key` (see `Location::key`). `Ok(Err(lock file))`
    /// when another run holds it. The lock file stays (removing it would race a waiting run) but
    /// is tiny and lives in the runtime folder, which the system empties at logout or reboot.
    pub fn try_acquire(key: &str) -> Result<Result<OutputLock, PathBuf>, StorageError> {
        let path = lock_folder()?.join(format!("{}.lock", key_hash(key)));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(StorageError::io("opening the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Err(path)),
            Err(TryLockError::Error(e)) => return Err(StorageError::io("locking", &path)(e)),
        }
        // Say whose lock it is, for whoever finds it; failing to is no reason to stop.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{key}\npid {}", std::process::id()));
        Ok(Ok(OutputLock { _file: file, path }))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_output_is_refused_until_the_first_is_dropped() {
        let key = format!("file:///test/lock-{}", std::process::id());
        let first = OutputLock::try_acquire(&key).unwrap().unwrap();
        let busy = OutputLock::try_acquire(&key).unwrap().unwrap_err();
        assert_eq!(busy, first.path());
        let other = OutputLock::try_acquire(&format!("{key}-other")).unwrap();
        assert!(other.is_ok(), "another output has its own lock");
        drop(first);
        assert!(OutputLock::try_acquire(&key).unwrap().is_ok());
    }
}
