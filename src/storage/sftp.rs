//! SFTP outputs through russh and russh-sftp (pure Rust, the same aws-lc-rs crypto as the rest of
//! the tool). Key authentication only; the server's host key must be listed in known_hosts (or,
//! when asked, a new one is recorded there). A finished file is uploaded to a temporary name in
//! the target folder, fsynced, and renamed over the target with `posix-rename@openssh.com`, so the
//! target is the old file or the whole new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Disconnect, client};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{HEAD_BYTES, HostKeyProblem, RemoteOptions, RemoteUrl, StorageError};

/// Bytes per SFTP read or write request; every server takes this much (OpenSSH up to 255 KiB).
const CHUNK: usize = 32 * 1024;
/// Requests in flight at once, so a distant server is not one round trip per chunk.
const IN_FLIGHT: usize = 16;
/// How long one SFTP request may take.
const REQUEST_TIMEOUT_SECS: u64 = 60;

const POSIX_RENAME: &str = "posix-rename@openssh.com";
const FSYNC: &str = "fsync@openssh.com";

/// Creates a new file readable by its owner only (0600), failing if the name is taken.
pub(super) async fn create_private(path: &Path) -> Result<tokio::fs::File, StorageError> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(StorageError::io("creating", path))
}

/// The parts of an SFTP URL.
struct Parts<'a> {
    user: &'a str,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parts(url: &RemoteUrl) -> Result<Parts<'_>, StorageError> {
    match url {
        RemoteUrl::Sftp {
            user,
            host,
            port,
            path,
        } => Ok(Parts {
            user,
            host,
            port: *port,
            path,
        }),
        _ => Err(StorageError::Internal(format!("{url} is not an SFTP URL"))),
    }
}

/// An open SFTP session, and the SSH connection under it.
struct Session {
    ssh: client::Handle<HostKeyCheck>,
    sftp: RawSftpSession,
    extensions: std::collections::HashMap<String, String>,
}

impl Session {
    async fn close(self) {
        let _ = self.sftp.close_session();
        let _ = self
            .ssh
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }

    fn offers(&self, extension: &str) -> bool {
        self.extensions.contains_key(extension)
    }
}

/// Checks the server's host key against known_hosts while connecting, and keeps what went wrong.
struct HostKeyCheck {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    accept_new: bool,
    problem: Arc<Mutex<Option<StorageError>>>,
}

impl HostKeyCheck {
    fn refuse(&self, offered: &PublicKey, problem: HostKeyProblem) -> bool {
        *self.problem.lock().expect("not poisoned") = Some(StorageError::HostKey {
            host: self.host.clone(),
            port: self.port,
            offered: describe(offered),
            known_hosts: self.known_hosts.clone(),
            problem,
        });
        false
    }
}

/// A key as `ssh-keygen -l` names it: type and SHA-256 fingerprint.
fn describe(key: &PublicKey) -> String {
    format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256))
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        let (host, port, file) = (&self.host, self.port, &self.known_hosts);
        match russh::keys::check_known_hosts_path(host, port, &key, file) {
            Ok(true) => Ok(true),
            Ok(false) if self.accept_new => {
                match russh::keys::known_hosts::learn_known_hosts_path(host, port, &key, file) {
                    Ok(()) => {
                        tracing::warn!(
                            "trusted the new host key {} of {host}:{port} (--sftp-accept-new-host-key) \
                             and recorded it in {}",
                            describe(&key),
                            file.display()
                        );
                        Ok(true)
                    }
                    Err(e) => {
                        *self.problem.lock().expect("not poisoned") =
                            Some(StorageError::io("recording the host key in", file)(
                                std::io::Error::other(e.to_string()),
                            ));
                        Ok(false)
                    }
                }
            }
            Ok(false) => Ok(self.refuse(&key, HostKeyProblem::Unknown)),
            Err(russh::keys::Error::KeyChanged { line }) => {
                Ok(self.refuse(&key, HostKeyProblem::Changed { line }))
            }
            Err(e) => {
                *self.problem.lock().expect("not poisoned") =
                    Some(StorageError::io("reading", file)(std::io::Error::other(
                        e.to_string(),
                    )));
                Ok(false)
            }
        }
    }
}

/// The user's key: the one given, else the first of the usual `~/.ssh/id_*` that exists.
fn key_path(options: &RemoteOptions, url: &RemoteUrl) -> Result<PathBuf, StorageError> {
    if let Some(path) = &options.sftp_key {
        return Ok(path.clone());
    }
    let ssh = dirs::home_dir().map(|h| h.join(".ssh"));
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .filter_map(|name| ssh.as_ref().map(|s| s.join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| StorageError::Config {
            url: url.to_string(),
            message: "no SSH key: give one with --sftp-key (or ROSTER_EXPORT_SFTP_KEY), or create \
                      ~/.ssh/id_ed25519"
                .into(),
        })
}

fn known_hosts_path(options: &RemoteOptions, url: &RemoteUrl) -> Result<PathBuf, StorageError> {
    if let Some(path) = &options.known_hosts {
        return Ok(path.clone());
    }
    dirs::home_dir()
        .map(|h| h.join(".ssh").join("known_hosts"))
        .ok_or_else(|| StorageError::Config {
            url: url.to_string(),
            message: "no home folder for ~/.ssh/known_hosts; give --sftp-known-hosts".into(),
        })
}

/// Connects, checks the host key, logs in with the key and starts SFTP.
async fn connect(url: &RemoteUrl, options: &RemoteOptions) -> Result<Session, StorageError> {
    let p = parts(url)?;
    let key_file = key_path(options, url)?;
    // The key is read before connecting, so a bad path fails without touching the network. Its
    // error names the file, never its content.
    let key = russh::keys::load_secret_key(&key_file, None).map_err(|e| StorageError::Config {
        url: url.to_string(),
        message: format!(
            "cannot use the SSH key {}: {}",
            key_file.display(),
            key_error(&e)
        ),
    })?;
    let problem = Arc::new(Mutex::new(None));
    let check = HostKeyCheck {
        host: p.host.to_string(),
        port: p.port,
        known_hosts: known_hosts_path(options, url)?,
        accept_new: options.accept_new_host_key,
        problem: problem.clone(),
    };
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(std::time::Duration::from_secs(REQUEST_TIMEOUT_SECS)),
        ..Default::default()
    });
    let connecting = client::connect(config, (p.host, p.port), check);
    let mut ssh = match tokio::time::timeout(
        std::time::Duration::from_secs(REQUEST_TIMEOUT_SECS),
        connecting,
    )
    .await
    {
        Ok(Ok(ssh)) => ssh,
        Ok(Err(e)) => {
            let kept = problem.lock().expect("not poisoned").take();
            return Err(
                kept.unwrap_or_else(|| StorageError::remote("connecting to", url)(e.to_string()))
            );
        }
        Err(_) => {
            return Err(StorageError::remote("connecting to", url)(
                "no answer within a minute".into(),
            ));
        }
    };
    let login = |e: russh::Error| StorageError::remote("logging in to", url)(e.to_string());
    let hash = ssh
        .best_supported_rsa_hash()
        .await
        .map_err(login)?
        .flatten();
    let auth = ssh
        .authenticate_publickey(p.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
        .await
        .map_err(login)?;
    if !auth.success() {
        return Err(StorageError::remote("logging in to", url)(format!(
            "the server refused the key {} for user {}",
            key_file.display(),
            p.user
        )));
    }
    let start = |e: russh::Error| StorageError::remote("starting SFTP on", url)(e.to_string());
    let channel = ssh.channel_open_session().await.map_err(start)?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(start)?;
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.set_timeout(REQUEST_TIMEOUT_SECS);
    let version = sftp
        .init()
        .await
        .map_err(|e| StorageError::remote("starting SFTP on", url)(e.to_string()))?;
    Ok(Session {
        ssh,
        sftp,
        extensions: version.extensions,
    })
}

/// A key-loading error without anything of the key in it.
fn key_error(e: &russh::keys::Error) -> String {
    match e {
        russh::keys::Error::IO(io) => format!("{io}; give the key file with --sftp-key"),
        russh::keys::Error::KeyIsEncrypted => "it has a passphrase, which is not supported; use a \
                                               dedicated key without one, readable only by this \
                                               account (0600)"
            .into(),
        _ => "it is not a private key this tool can read (OpenSSH or PEM format)".into(),
    }
}

fn is_missing(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

/// Runs `work` on a fresh session and closes it whatever happened.
async fn with_session<T>(
    url: &RemoteUrl,
    options: &RemoteOptions,
    work: impl AsyncFnOnce(&Session, &str) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let session = connect(url, options).await?;
    let result = work(&session, parts(url)?.path).await;
    session.close().await;
    result
}

pub(super) async fn head(
    url: &RemoteUrl,
    options: &RemoteOptions,
) -> Result<Option<Vec<u8>>, StorageError> {
    with_session(url, options, async |s, path| {
        let reading = |e: SftpError| StorageError::remote("reading", url)(e.to_string());
        let Some((size, handle)) = open_to_read(s, url, path, reading).await? else {
            return Ok(None);
        };
        let want = size.min(HEAD_BYTES as u64) as u32;
        let data = if want == 0 {
            Ok(Vec::new())
        } else {
            s.sftp.read(handle.as_str(), 0, want).await.map(|d| d.data)
        };
        let _ = s.sftp.close(handle).await;
        data.map(Some).map_err(reading)
    })
    .await
}

/// The regular file at `path` opened for reading, with its size; `None` when nothing is there.
async fn open_to_read(
    s: &Session,
    url: &RemoteUrl,
    path: &str,
    failed: impl Fn(SftpError) -> StorageError,
) -> Result<Option<(u64, String)>, StorageError> {
    let Some(size) = regular_file_size(s, url, path).await? else {
        return Ok(None);
    };
    let opened = s
        .sftp
        .open(path, OpenFlags::READ, FileAttributes::empty())
        .await
        .map_err(failed)?;
    Ok(Some((size, opened.handle)))
}

/// The size of the regular file at `path`; `None` when nothing is there; an error for a folder.
async fn regular_file_size(
    s: &Session,
    url: &RemoteUrl,
    path: &str,
) -> Result<Option<u64>, StorageError> {
    match s.sftp.lstat(path).await {
        Ok(attrs) if attrs.attrs.is_dir() => Err(StorageError::Remote {
            action: "replacing",
            url: url.to_string(),
            message: "it is a folder, and this output is a single file".into(),
        }),
        Ok(attrs) if attrs.attrs.is_symlink() => Err(StorageError::Remote {
            action: "replacing",
            url: url.to_string(),
            message: "it is a symbolic link; give the path it points to".into(),
        }),
        Ok(attrs) => Ok(Some(attrs.attrs.size.unwrap_or(0))),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(StorageError::remote("inspecting", url)(e.to_string())),
    }
}

pub(super) async fn download(
    url: &RemoteUrl,
    options: &RemoteOptions,
    to: &Path,
) -> Result<bool, StorageError> {
    with_session(url, options, async |s, path| {
        let reading = |e: SftpError| StorageError::remote("downloading", url)(e.to_string());
        let Some((size, handle)) = open_to_read(s, url, path, reading).await? else {
            return Ok(false);
        };
        let mut file = create_private(to).await?;
        let copied = copy_down(s, &handle, size, &mut file, to).await;
        let _ = s.sftp.close(handle).await;
        copied.map_err(|e| match e {
            Transfer::Sftp(e) => reading(e),
            Transfer::Local(e) => e,
        })?;
        file.sync_all()
            .await
            .map_err(StorageError::io("syncing", to))?;
        Ok(true)
    })
    .await
}

/// What failed while moving a file's bytes: the SFTP side or the local file.
enum Transfer {
    Sftp(SftpError),
    Local(StorageError),
}

/// Reads `size` bytes of the open remote file into `file`, several requests in flight.
async fn copy_down(
    s: &Session,
    handle: &str,
    size: u64,
    file: &mut tokio::fs::File,
    to: &Path,
) -> Result<(), Transfer> {
    let offsets = (0..size).step_by(CHUNK);
    let mut chunks = futures::stream::iter(offsets)
        .map(|offset| async move {
            let want = (size - offset).min(CHUNK as u64) as u32;
            read_exact(s, handle, offset, want)
                .await
                .map(|d| (offset, d))
        })
        .buffered(IN_FLIGHT);
    while let Some(chunk) = chunks.next().await {
        let (_, data) = chunk.map_err(Transfer::Sftp)?;
        file.write_all(&data)
            .await
            .map_err(|e| Transfer::Local(StorageError::io("writing", to)(e)))?;
    }
    Ok(())
}

/// Reads `want` bytes at `offset`, asking again where a server sends fewer.
async fn read_exact(
    s: &Session,
    handle: &str,
    offset: u64,
    want: u32,
) -> Result<Vec<u8>, SftpError> {
    let mut data = Vec::with_capacity(want as usize);
    while data.len() < want as usize {
        let at = offset + data.len() as u64;
        let got = s
            .sftp
            .read(handle, at, want - data.len() as u32)
            .await?
            .data;
        if got.is_empty() {
            return Err(SftpError::UnexpectedBehavior(
                "the file ended early (changed while being read?)".into(),
            ));
        }
        data.extend_from_slice(&got);
    }
    Ok(data)
}

pub(super) async fn upload(
    url: &RemoteUrl,
    options: &RemoteOptions,
    from: &Path,
) -> Result<(), StorageError> {
    with_session(url, options, async |s, path| {
        // Refuses a folder or a link at the target before anything is written.
        regular_file_size(s, url, path).await?;
        let (folder, name) = match path.rsplit_once('/') {
            Some((folder, name)) => (format!("{folder}/"), name),
            None => (String::new(), path),
        };
        let temp = format!("{folder}.{name}.upload-{:016x}", rand::random::<u64>());
        let result = upload_as(s, url, from, &temp, path).await;
        if result.is_err() {
            // Whatever failed, the target was not touched; the partial upload goes.
            let _ = s.sftp.remove(temp.as_str()).await;
        }
        result
    })
    .await
}

/// Writes `from` to the new file `temp`, then renames it over `path`.
async fn upload_as(
    s: &Session,
    url: &RemoteUrl,
    from: &Path,
    temp: &str,
    path: &str,
) -> Result<(), StorageError> {
    let uploading = |e: SftpError| StorageError::remote("uploading to", url)(e.to_string());
    let attrs = FileAttributes {
        permissions: Some(0o600),
        ..FileAttributes::empty()
    };
    let flags = OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE;
    let handle = s
        .sftp
        .open(temp, flags, attrs)
        .await
        .map_err(uploading)?
        .handle;
    let written = copy_up(s, &handle, from).await;
    let synced = match written {
        Ok(()) if s.offers(FSYNC) => s.sftp.fsync(handle.as_str()).await.map(drop),
        other => other.map_err(|e| match e {
            Transfer::Sftp(e) => e,
            Transfer::Local(e) => SftpError::UnexpectedBehavior(e.to_string()),
        }),
    };
    let closed = s.sftp.close(handle).await.map(drop);
    synced.and(closed).map_err(uploading)?;
    rename_over(s, url, temp, path).await
}

/// Sends the local file in chunks, several writes in flight.
async fn copy_up(s: &Session, handle: &str, from: &Path) -> Result<(), Transfer> {
    let mut file = tokio::fs::File::open(from)
        .await
        .map_err(|e| Transfer::Local(StorageError::io("reading", from)(e)))?;
    let mut offset = 0u64;
    loop {
        // Read a batch of chunks, then send them together.
        let mut batch = Vec::with_capacity(IN_FLIGHT);
        for _ in 0..IN_FLIGHT {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                let n = file
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| Transfer::Local(StorageError::io("reading", from)(e)))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            batch.push((offset, buf));
            offset += filled as u64;
        }
        if batch.is_empty() {
            return Ok(());
        }
        let writes = batch
            .into_iter()
            .map(|(at, data)| s.sftp.write(handle, at, data));
        for result in futures::future::join_all(writes).await {
            result.map_err(Transfer::Sftp)?;
        }
    }
}

/// Renames `temp` over `path`: `posix-rename@openssh.com` where offered (one atomic step);
/// otherwise the old file is moved aside first (SFTP's own rename will not replace a file), and
/// moved back if the new one cannot take its place.
async fn rename_over(
    s: &Session,
    url: &RemoteUrl,
    temp: &str,
    path: &str,
) -> Result<(), StorageError> {
    let renaming =
        |e: SftpError| StorageError::remote("moving the upload into place at", url)(e.to_string());
    if s.offers(POSIX_RENAME) {
        let mut data = Vec::new();
        for text in [temp, path] {
            data.extend_from_slice(&(text.len() as u32).to_be_bytes());
            data.extend_from_slice(text.as_bytes());
        }
        return match s
            .sftp
            .extended(POSIX_RENAME, data)
            .await
            .map_err(renaming)?
        {
            Packet::Status(status) if status.status_code == StatusCode::Ok => Ok(()),
            Packet::Status(status) => Err(renaming(SftpError::Status(status))),
            _ => Err(renaming(SftpError::UnexpectedPacket)),
        };
    }
    let aside = format!("{temp}.previous");
    let moved_aside = match s.sftp.rename(path, aside.as_str()).await {
        Ok(_) => true,
        Err(e) if is_missing(&e) => false,
        Err(e) => return Err(renaming(e)),
    };
    if let Err(e) = s.sftp.rename(temp, path).await {
        if moved_aside {
            let _ = s.sftp.rename(aside.as_str(), path).await;
        }
        return Err(renaming(e));
    }
    if moved_aside {
        let _ = s.sftp.remove(aside.as_str()).await;
    }
    Ok(())
}
