//! Where output is kept beyond the local disk, and what guards it: output URLs (`s3://`, `gs://`,
//! `az://`, `sftp://`), the atomic upload of a finished file, reading the previous output back,
//! and the per-output lock and private work folders kept in the user's own folders (never beside
//! the output). A foundation layer: it knows nothing of bundles or formats.

mod error;
mod folders;
mod lock;
mod object;
mod sftp;
mod url;

use std::future::Future;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

pub use error::{HostKeyProblem, StorageError};
pub use folders::{private_folder, work_folder};
pub use lock::OutputLock;
pub use url::{ObjectScheme, RemoteUrl};

/// Where an output goes: a local path, or a remote URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(RemoteUrl),
}

impl Location {
    /// Reads `--out` (or a profile's `out`): a URL with a supported scheme, or a local path.
    pub fn parse(out: &Path) -> Result<Location, StorageError> {
        match out.to_str().map(RemoteUrl::parse).transpose()?.flatten() {
            Some(url) => Ok(Location::Remote(url)),
            None => Ok(Location::Local(out.to_path_buf())),
        }
    }

    /// The key its lock and work folder are named by: the canonical path (the folder resolved,
    /// the name as given) or the URL.
    pub fn key(&self) -> String {
        match self {
            Location::Local(path) => {
                let name = path.file_name().unwrap_or_default();
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
                format!("file://{}", parent.join(name).display())
            }
            Location::Remote(url) => url.to_string(),
        }
    }
}

/// Whether `text` is an output URL rather than a path (so a profile leaves it as written).
pub fn is_url(text: &Path) -> bool {
    text.to_str().is_some_and(|t| t.contains("://"))
}

/// How to reach remote outputs: SFTP's key and host-key policy. The object stores take their
/// credentials from each platform's usual chain (environment, instance metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// The private key for SFTP; default the first of `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`.
    pub sftp_key: Option<PathBuf>,
    /// The known_hosts file; default `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Trust and record a host key that known_hosts does not list yet (never a changed one).
    pub accept_new_host_key: bool,
}

/// A remote output: what is there now, and the atomic replacement of it.
#[derive(Debug, Clone)]
pub struct Remote {
    url: RemoteUrl,
    options: RemoteOptions,
}

/// The first bytes of an existing remote output, read to tell what it is.
pub const HEAD_BYTES: usize = 16;

impl Remote {
    /// Checks the settings that can be checked without the network (e.g. a plain-http S3
    /// endpoint off loopback is refused here).
    pub fn new(url: RemoteUrl, options: RemoteOptions) -> Result<Remote, StorageError> {
        if let RemoteUrl::Object { .. } = &url {
            object::check_endpoint(&url)?;
        }
        Ok(Remote { url, options })
    }

    pub fn url(&self) -> &RemoteUrl {
        &self.url
    }

    /// The first [`HEAD_BYTES`] bytes (fewer for a shorter object) of what is at the URL now;
    /// `None` when nothing is. Refuses a folder (SFTP).
    pub fn head(&self) -> Result<Option<Vec<u8>>, StorageError> {
        block_on(async {
            match &self.url {
                RemoteUrl::Object { .. } => object::head(&self.url).await,
                RemoteUrl::Sftp { .. } => sftp::head(&self.url, &self.options).await,
            }
        })?
    }

    /// Copies what is at the URL into a new private (0600) file `to`; `false` when nothing is
    /// there.
    pub fn download(&self, to: &Path) -> Result<bool, StorageError> {
        block_on(async {
            match &self.url {
                RemoteUrl::Object { .. } => object::download(&self.url, to).await,
                RemoteUrl::Sftp { .. } => sftp::download(&self.url, &self.options, to).await,
            }
        })?
    }

    /// What is at the URL now, downloaded into a new private folder in `work` (removed with the
    /// returned value); `None` when nothing is there.
    pub fn previous(&self, work: &Path) -> Result<Option<PreviousOutput>, StorageError> {
        let folder = private_folder(work, ".previous-")?;
        let path = folder.path().join(self.url.name());
        Ok(self.download(&path)?.then(|| PreviousOutput {
            path,
            _copy: Some(folder),
        }))
    }

    /// Puts the finished file `from` at the URL so that readers see the old object or the whole
    /// new one, never a part: one PUT or a completed multipart upload (object stores), or a
    /// temporary name in the target folder renamed over the target (SFTP). On failure what was
    /// there stays as it was.
    pub fn upload(&self, from: &Path) -> Result<(), StorageError> {
        block_on(async {
            match &self.url {
                RemoteUrl::Object { .. } => object::upload(&self.url, from).await,
                RemoteUrl::Sftp { .. } => sftp::upload(&self.url, &self.options, from).await,
            }
        })?
    }
}

/// The previous output as a local path, for comparing against or building on.
#[derive(Debug)]
pub struct PreviousOutput {
    path: PathBuf,
    /// The private folder of a downloaded copy, removed on drop; `None` for a local output.
    _copy: Option<TempDir>,
}

impl PreviousOutput {
    /// The local path of the previous output (the output itself when it is local).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The previous output at `location`, if there is one, as a local path: the output itself when
/// it is local, else a private copy (a 0700 folder in the user's cache or temp folder, the file
/// 0600) that is removed when the returned value is dropped.
pub fn previous_output(
    location: &Location,
    options: &RemoteOptions,
) -> Result<Option<PreviousOutput>, StorageError> {
    match location {
        Location::Local(path) => {
            Ok(std::fs::symlink_metadata(path)
                .is_ok()
                .then(|| PreviousOutput {
                    path: path.clone(),
                    _copy: None,
                }))
        }
        Location::Remote(url) => {
            Remote::new(url.clone(), options.clone())?.previous(&work_folder(&location.key())?)
        }
    }
}

/// Runs a storage future to completion from blocking code (the writer thread, or set-up code on
/// the run's runtime), on a thread and runtime of its own so it never blocks or nests inside the
/// caller's runtime.
fn block_on<T: Send>(future: impl Future<Output = T> + Send) -> Result<T, StorageError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| StorageError::Io {
                        action: "starting the storage runtime",
                        path: PathBuf::new(),
                        source,
                    })?;
                Ok(runtime.block_on(future))
            })
            .join()
            .unwrap_or_else(|_| Err(StorageError::Internal("the storage thread panicked".into())))
    })
}
